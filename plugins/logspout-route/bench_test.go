package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/pump"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/route"
	"github.com/sirupsen/logrus"
)

// cannedLogs serves one canned daemon log stream, and is the daemon of a
// single running container.
type cannedLogs struct {
	info logs.ContainerInfo
	log  []byte
}

func (c *cannedLogs) Logs(context.Context, string, engine.LogsOptions) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.log)), nil
}

// frame builds one multiplexed-stream frame.
func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

// BenchmarkPipelineToTCP measures logspout-route's own cost per line: frame
// decode, reassembly, dispatch, queue, logstash JSON and the TCP write, with
// a canned daemon stream (no dockerd) and a loopback sink.
func BenchmarkPipelineToTCP(b *testing.B) {
	for _, format := range []string{"raw+tcp", "logstash+tcp"} {
		b.Run(format, func(b *testing.B) {
			const lines = 20000
			var in bytes.Buffer
			line := strings.Repeat("x", 99) + "\n"
			for i := 0; i < lines; i++ {
				in.Write(frame(1, string(logs.AppendRFC3339Nano(nil, int64(1e18)+int64(i)))+" "+line))
			}
			sink, err := logsink.StartTCP("127.0.0.1:0", logsink.Options{CountOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			log := logrus.New()
			log.SetOutput(io.Discard)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			eng := &cannedLogs{info: logs.ContainerInfo{ID: "c", Name: "/c", LogDriver: "json-file"}, log: in.Bytes()}
			reg := logs.NewRegistry()
			adapters := route.Builtin()
			rt := route.New(log, route.Config{QueueSize: 10000, ResendTail: 1000, Batch: 1024, WriteTimeout: time.Minute,
				Formats: &route.Formats{RawFormat: route.DefaultRawFormat}}, adapters, metrics.NewSet(), reg)
			defer rt.Stop()
			r, _ := adapters.ParseURI(format + "://" + sink.Addr())
			if err := rt.Add(r); err != nil {
				b.Fatal(err)
			}
			src := &engine.Source{API: eng}
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c := logs.NewContainer("c", &eng.info, logs.Pos{})
				if err := pump.ReadOnce(ctx, src, rt, c); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N * lines)
			for sink.Count() < want {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/line")
		})
	}
}
