package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

type logstashEvent struct {
	Timestamp string `json:"@timestamp"`
	Message   string `json:"message"`
	Stream    string `json:"stream"`
	Tags      []string
	Docker    struct {
		Name     string
		ID       string
		Image    string
		Hostname string
		Labels   map[string]string
	}
}

func TestShipsEveryLineOfThreeContainersExactlyOnce(t *testing.T) {
	forEachSource(t, testShipsEveryLineOfThreeContainersExactlyOnce)
}

func testShipsEveryLineOfThreeContainersExactlyOnce(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	const n = 500
	ids := map[string]string{}
	start := time.Now()
	for _, name := range []string{"a", "b", "c"} {
		ids[name] = r.start(name, nil, "-n", fmt.Sprint(n), "-prefix", r.prefix(name), "-stderr-every", "7", "-rate", "2000")
	}
	waitLines(sink, 60*time.Second, func(l [][]byte) bool { return len(l) >= 3*n })
	time.Sleep(300 * time.Millisecond) // any duplicate would arrive now
	lines := sink.Lines()
	for name, id := range ids {
		counts := logsink.SeqCounts(lines, r.prefix(name))
		missing, dup := logsink.Check(counts, n)
		if len(missing) > 0 || len(dup) > 0 {
			t.Errorf("container %s: missing %v, duplicated %v (of %d lines total)", name, missing, dup, len(lines))
		}
		// Fields, as looplab emits them plus @timestamp.
		for _, l := range lines {
			var ev logstashEvent
			if err := json.Unmarshal(l, &ev); err != nil {
				t.Fatalf("not JSON: %s", l)
			}
			if !strings.HasPrefix(ev.Message, r.prefix(name)+" ") {
				continue
			}
			var seq int
			fmt.Sscanf(strings.TrimPrefix(ev.Message, r.prefix(name)+" "), "%d", &seq)
			wantStream := "stdout"
			if seq%7 == 0 {
				wantStream = "stderr"
			}
			ts, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
			switch {
			case ev.Docker.ID != id || ev.Docker.Name != "/lsr-"+name+"-"+r.suffix || ev.Docker.Image != r.img.Ref:
				t.Fatalf("docker fields: %+v", ev.Docker)
			case ev.Stream != wantStream:
				t.Fatalf("line %d: stream %q, want %q", seq, ev.Stream, wantStream)
			case err != nil || ts.Before(start.Add(-time.Second)) || ts.After(time.Now()):
				t.Fatalf("@timestamp %q: %v", ev.Timestamp, err)
			case len(ev.Message) != 100 || ev.Tags == nil || ev.Docker.Labels != nil || ev.Docker.Hostname == "":
				t.Fatalf("event: %s", l)
			}
		}
	}
}
