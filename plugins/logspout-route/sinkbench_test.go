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
	"github.com/lightship-ci/lightship/pkg/testkit/elastic"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/pump"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/route"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kfake"
)

// benchToConfirm pushes canned lines (no dockerd) through a route and
// times them until the peer confirmed every one: the route's throughput
// against an in-process peer, acknowledgements included.
func benchToConfirm(b *testing.B, uri string) {
	const lines = 20000
	var in bytes.Buffer
	line := strings.Repeat("x", 99) + "\n"
	for i := 0; i < lines; i++ {
		in.Write(frame(1, string(logs.AppendRFC3339Nano(nil, int64(1e18)+int64(i)))+" "+line))
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	eng := &cannedLogs{info: logs.ContainerInfo{ID: "c0ffee", Name: "/bench", LogDriver: "json-file"}, log: in.Bytes()}
	adapters := route.Builtin()
	route.RegisterSinks(adapters, route.SinkSecrets{})
	set := metrics.NewSet()
	rt := route.New(log, route.Config{QueueSize: 10000, Batch: 1024, WriteTimeout: time.Minute,
		Formats: &route.Formats{RawFormat: route.DefaultRawFormat}}, adapters, set, logs.NewRegistry())
	defer rt.Stop()
	r, err := adapters.ParseURI(uri)
	if err != nil {
		b.Fatal(err)
	}
	if err := rt.Add(r); err != nil {
		b.Fatal(err)
	}
	shipped := set.GetOrCreateCounter(fmt.Sprintf(`logspout_route_lines_shipped_total{route=%q,adapter=%q}`, r.ID, r.Adapter))
	src := &engine.Source{API: eng}
	b.ResetTimer()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c := logs.NewContainer("c0ffee", &eng.info, logs.Pos{})
		if err := pump.ReadOnce(context.Background(), src, rt, c); err != nil {
			b.Fatal(err)
		}
	}
	want := uint64(b.N * lines)
	for shipped.Get() < want {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/line")
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkKafkaRoute: lines to an in-process Kafka (kfake), acks=all.
func BenchmarkKafkaRoute(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	benchToConfirm(b, "kafka://"+c.ListenAddrs()[0]+"/bench")
}

// BenchmarkElasticsearchRoute: lines to the _bulk fake (a data stream).
func BenchmarkElasticsearchRoute(b *testing.B) {
	es, err := elastic.Start("", elastic.Config{DataStreams: []string{"logs-*"}})
	if err != nil {
		b.Fatal(err)
	}
	defer es.Close()
	benchToConfirm(b, "elasticsearch://"+es.Host+"/?index=logs-bench-default")
}
