package main

import (
	"context"
	"encoding/json"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/elastic"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

func startElastic(t *testing.T, cfg elastic.Config) *elastic.Server {
	t.Helper()
	es, err := elastic.Start("", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	return es
}

// esCounts counts, per sequence number, the stored documents of prefix.
func esCounts(es *elastic.Server, prefix string) map[int]int {
	counts := map[int]int{}
	needle := []byte(prefix + " ")
	for _, d := range es.Docs() {
		if seq, ok := logsink.SeqOf(d.Source, needle); ok {
			counts[seq]++
		}
	}
	return counts
}

func waitES(es *elastic.Server, timeout time.Duration, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

func TestElasticsearch100kLinesOnceWith429sAndAMappingError(t *testing.T) {
	r := newTestRun(t)
	const apiKey = "lsr-key-id:Q2FuYXJ5U2VjcmV0S2V5"
	es := startElastic(t, elastic.Config{
		APIKey: apiKey, DataStreams: []string{"logs-*"}, Mapping: map[string]string{"status": "long"},
		// 10 % of the items are refused with 429 the first time they come.
		ItemStatus: func(_ string, src []byte, attempt int) int {
			if attempt == 1 && crc32.ChecksumIEEE(src)%10 == 0 {
				return 429
			}
			return 0
		},
	})
	route := routeURI("elasticsearch", es.Host, r.filter()+"&index=logs-docker-default&bulk_size=2000")
	p := startInProcess(t, map[string]string{"ROUTE_URIS": route, "ELASTICSEARCH_API_KEY": apiKey})
	waitHealthy(t, p.addr)
	const n = 100000
	prefix := r.prefix("es")
	bad := r.start("esbad", []string{"LOGSTASH_FIELDS=status=not-a-number"}, "-n", "5", "-prefix", r.prefix("esbad"))
	id := r.start("es", nil, "-n", strconv.Itoa(n), "-prefix", prefix)
	for _, c := range []string{bad, id} {
		if err := loggen.Wait(context.Background(), r.cli, c); err != nil {
			t.Fatal(err)
		}
	}
	waitES(es, 8*time.Minute, func() bool { return es.Count() >= n && es.Stats().MappingErrors >= 5 })
	time.Sleep(time.Second)
	missing, dup := logsink.Check(esCounts(es, prefix), n)
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("missing %v, duplicated %v (stored %d)", missing, dup, es.Count())
	}
	st := es.Stats()
	if st.Rejected429 < n/20 {
		t.Errorf("only %d items got a 429: the test did not test resends", st.Rejected429)
	}
	// Only the refused items came again: every item was offered once, plus
	// once more per 429; the mapping errors were offered once and dropped.
	if want := n + 5 + st.Rejected429; st.Items != want {
		t.Errorf("items offered %d, want %d (lines %d + mapping errors 5 + 429s %d): more than the refused items were resent", st.Items, want, n, st.Rejected429)
	}
	if st.MappingErrors != 5 {
		t.Errorf("mapping errors at the cluster: %d, want 5 (each tried once)", st.MappingErrors)
	}
	for _, d := range es.Docs()[:1] {
		var doc map[string]any
		if err := json.Unmarshal(d.Source, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"@timestamp", "message", "docker", "stream", "container", "host", "ecs"} {
			if _, ok := doc[k]; !ok {
				t.Errorf("stored document lacks %q: %s", k, d.Source)
			}
		}
		if d.Stream != "logs-docker-default" {
			t.Errorf("document in %q, not in the data stream", d.Index)
		}
	}
	_, metrics := get(t, p.addr, "/metrics")
	for _, want := range []string{"logspout_route_lines_failed_total{", `"} 5`, `logspout_route_elasticsearch_items_total{`, `result="429"}`, `logspout_route_elasticsearch_bulk_requests_total{`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(p.out.String(), "esbad") {
		t.Errorf("the mapping error's log names no container:\n%s", p.out.String())
	}
	for _, leak := range []string{apiKey, "Q2FuYXJ5U2VjcmV0S2V5"} {
		_, routes := get(t, p.addr, "/routes")
		if strings.Contains(p.out.String(), leak) || strings.Contains(routes, leak) || strings.Contains(metrics, leak) {
			t.Errorf("the API key appears in output, /routes or /metrics")
		}
	}
}

func TestElasticsearchRefusingTenSecondsLosesNothing(t *testing.T) {
	r := newTestRun(t)
	es := startElastic(t, elastic.Config{Username: "elastic", Password: "s3cret-pw", DataStreams: []string{"logs-*"}})
	route := routeURI("elasticsearch", es.Host, r.filter()+"&index=logs-docker-default&user=elastic&linger=50ms")
	p := startInProcess(t, map[string]string{"ROUTE_URIS": route, "ELASTICSEARCH_PASSWORD": "s3cret-pw"})
	waitHealthy(t, p.addr)
	const n = 20000
	prefix := r.prefix("esdown")
	id := r.start("esdown", nil, "-n", strconv.Itoa(n), "-rate", "1000", "-prefix", prefix)
	waitES(es, 30*time.Second, func() bool { return es.Count() >= 2000 })
	es.Down(503)
	time.Sleep(10 * time.Second)
	refused := es.Stats().Refused
	es.Down(0)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitES(es, 5*time.Minute, func() bool { return es.Count() >= n })
	time.Sleep(time.Second)
	if refused == 0 {
		t.Fatal("no request was refused while the cluster was down")
	}
	missing, dup := logsink.Check(esCounts(es, prefix), n)
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("missing %v, duplicated %v", missing, dup)
	}
	if strings.Contains(p.out.String(), "s3cret-pw") {
		t.Error("the password appears in the output")
	}
}
