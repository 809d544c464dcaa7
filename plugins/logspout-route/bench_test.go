package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
	"github.com/sirupsen/logrus"
)

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
				in.Write(frame(1, string(appendRFC3339Nano(nil, int64(1e18)+int64(i)))+" "+line))
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
			eng := &fakeEngine{info: containerInfo{ID: "c", Name: "/c", LogDriver: "json-file"}, plain: in.Bytes()}
			st := &stateStore{}
			rt := newRouter(ctx, log, routerConfig{QueueSize: 10000, ResendTail: 1000, Batch: 1024, WriteTimeout: time.Minute, Formats: &formatConfig{RawFormat: defaultRawFormat}}, metrics.NewSet(), st)
			p := newPump(eng, log, rt, st, pumpConfig{})
			rt.pump = func() *pump { return p }
			r, _ := parseRouteURI(format + "://" + sink.Addr())
			if err := rt.add(r); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c := &container{id: "c", info: &eng.info}
				c.logstashPrefix, c.logstashSuffix, _ = logstashConfig{}.containerParts(c.info)
				if err := p.stream(ctx, c, false, nil); err != nil {
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

// BenchmarkStateFlush is the gap after a beats ACK in which a crash would
// make the window go out again: one state write (100 containers).
func BenchmarkStateFlush(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	st, err := loadState(b.TempDir()+"/state.json", log)
	if err != nil {
		b.Fatal(err)
	}
	p := newPump(nil, log, nil, st, pumpConfig{})
	for i := 0; i < 100; i++ {
		id := strings.Repeat(string(rune('a'+i%26)), 60) + fmt.Sprintf("%04d", i)
		p.ctrs[id] = &container{id: id, tracked: true, readPos: pos{NS: int64(i) * 1e9, N: 1}}
	}
	st.pump = p
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.ctrs["aaaa"] = &container{id: "aaaa", tracked: true, readPos: pos{NS: int64(i), N: 1}} // a change every time
		st.flushSoon()
	}
}
