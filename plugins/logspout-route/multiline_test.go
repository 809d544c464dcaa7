package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// traceText is what loggen writes for line i with a trace of n lines,
// joined by sep, without the line's x padding (compared by prefix).
func traceFrames(prefix string, i, n int, sep string) string {
	var b strings.Builder
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&b, "%s\tat %s.Trace%d.frame%d(Main.java:%d)", sep, prefix, i, k, k)
	}
	return b.String()
}

// dockerTimes returns each line's Docker timestamp, by its text.
func dockerTimes(t *testing.T, r *testRun, id string) map[string]string {
	t.Helper()
	rc, err := r.cli.ContainerLogs(context.Background(), id, dcontainer.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out, errOut strings.Builder
	if _, err := stdcopy.StdCopy(&out, &errOut, rc); err != nil {
		t.Fatal(err)
	}
	times := map[string]string{}
	for _, s := range []string{out.String(), errOut.String()} {
		sc := bufio.NewScanner(strings.NewReader(s))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ts, text, _ := strings.Cut(sc.Text(), " ")
			times[text] = ts
		}
	}
	return times
}

// eventsOf parses the logstash events carrying prefix.
func eventsOf(t *testing.T, lines [][]byte, prefix string) map[int][]logstashEvent {
	t.Helper()
	got := map[int][]logstashEvent{}
	for _, l := range lines {
		var ev logstashEvent
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if !strings.HasPrefix(ev.Message, prefix+" ") && !strings.Contains(ev.Message, "at "+prefix+".") {
			continue
		}
		seq, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(ev.Message, prefix+" "))[0])
		if err != nil || !strings.HasPrefix(ev.Message, prefix+" ") {
			t.Fatalf("an event that is a piece of a trace: %.120q", ev.Message)
		}
		got[seq] = append(got[seq], ev)
	}
	return got
}

// A container prints 40-line stack traces between ordinary lines, on stdout
// and stderr interleaved; the last one is still open when it exits. Over
// beats and TCP each trace is one event (lines joined by the separator,
// the first line's Docker timestamp), ordinary lines stay alone.
func TestMultilineStackTracesArriveAsOneEventOverBeatsAndTCP(t *testing.T) {
	r := newTestRun(t)
	tcp, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("multiline+logstash+tcp", tcp.Addr(), r.filter()) + "," +
		routeURI("multiline+beats", beats.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	const n, every, depth = 40, 4, 40
	prefix := r.prefix("trace")
	id := r.start("trace", nil, "-n", fmt.Sprint(n), "-rate", "200", "-trace-every", fmt.Sprint(every), "-trace-lines", fmt.Sprint(depth),
		"-stderr-every", "3", "-size", "20", "-prefix", prefix)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	times := dockerTimes(t, r, id)
	for name, sink := range map[string]counted{"tcp": tcp, "beats": beats} {
		lines := waitLines(sink, 30*time.Second, func(l [][]byte) bool { return len(l) >= n })
		time.Sleep(time.Second) // nothing more may come
		got := eventsOf(t, sink.Lines(), prefix)
		for i := 1; i <= n; i++ {
			evs := got[i]
			if len(evs) != 1 {
				t.Errorf("%s: line %d in %d events, want 1 (%d lines in all)", name, i, len(evs), len(lines))
				continue
			}
			ev := evs[0]
			head, _, _ := strings.Cut(ev.Message, "\n")
			wantStream := "stdout"
			if i%3 == 0 {
				wantStream = "stderr"
			}
			wantRest := ""
			if i%every == 0 {
				wantRest = traceFrames(prefix, i, depth, "\n")
			}
			if rest := strings.TrimPrefix(ev.Message, head); rest != wantRest || ev.Stream != wantStream {
				t.Errorf("%s: line %d (%s): %d lines after the first, want %d, stream %s", name, i, ev.Stream,
					strings.Count(rest, "\n"), strings.Count(wantRest, "\n"), wantStream)
			}
			if ts := times[head]; ts == "" || ts != ev.Timestamp {
				t.Errorf("%s: line %d @timestamp %s, want its first line's %q", name, i, ev.Timestamp, ts)
			}
		}
	}
}

// SIGKILL in the middle of a stream of traces, restart: every trace arrives
// whole, none is lost or cut.
func TestSIGKILLMidTracesEveryTraceArrivesWhole(t *testing.T) {
	r := newTestRun(t)
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	state := filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"ROUTE_URIS": routeURI("multiline+beats", beats.Addr(), r.filter()), "STATE_PATH": state, "MULTILINE_FLUSH_AFTER": "300"}
	first := startSubprocess(t, env)
	waitHealthy(t, first.addr)
	const n, depth = 600, 12
	prefix := r.prefix("kill")
	id := r.start("kill", nil, "-n", fmt.Sprint(n), "-rate", "200", "-trace-every", "2", "-trace-lines", fmt.Sprint(depth),
		"-stderr-every", "5", "-size", "20", "-prefix", prefix)
	time.Sleep(1200*time.Millisecond + time.Duration(rand.Int64N(int64(600*time.Millisecond))))
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killedAt := len(beats.Lines())
	if killedAt == 0 {
		t.Fatal("nothing shipped before the kill")
	}
	time.Sleep(time.Second)
	second := startSubprocess(t, env)
	waitHealthy(t, second.addr)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(beats, 60*time.Second, func(l [][]byte) bool { return len(eventsOf(t, l, prefix)) >= n })
	time.Sleep(time.Second)
	got := eventsOf(t, beats.Lines(), prefix)
	var missing, dup []int
	for i := 1; i <= n; i++ {
		evs := got[i]
		switch {
		case len(evs) == 0:
			missing = append(missing, i)
		case len(evs) > 1:
			dup = append(dup, i)
		}
		for _, ev := range evs {
			want := 0
			if i%2 == 0 {
				want = depth
			}
			if c := strings.Count(ev.Message, "\n"); c != want {
				t.Errorf("line %d: an event with %d trace lines, want %d", i, c, want)
			}
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("killed after %d events: missing %v, duplicated %v", killedAt, missing, dup)
	}
}

// MULTILINE_MATCH=first and last on a real container: the pattern marks
// the line that starts (first) or ends (last) a group.
func TestMultilineMatchFirstAndLast(t *testing.T) {
	for _, tt := range []struct{ match, pattern string }{
		{"first", `^[a-z]`},      // a line starting with a letter starts a group
		{"last", `frame3\(Main`}, // the third frame ends it
	} {
		t.Run(tt.match, func(t *testing.T) {
			r := newTestRun(t)
			tcp, err := logsink.StartTCP("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer tcp.Close()
			p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("multiline+logstash+tcp", tcp.Addr(), r.filter()),
				"MULTILINE_MATCH": tt.match, "MULTILINE_PATTERN": tt.pattern, "MULTILINE_SEPARATOR": " | "})
			waitHealthy(t, p.addr)
			prefix := r.prefix("m" + tt.match)
			const n = 10
			r.start("m"+tt.match, nil, "-n", fmt.Sprint(n), "-rate", "100", "-trace-every", "1", "-trace-lines", "3", "-size", "10", "-prefix", prefix)
			waitLines(tcp, 30*time.Second, func(l [][]byte) bool { return len(l) >= n })
			time.Sleep(time.Second)
			got := map[int]string{}
			for _, l := range tcp.Lines() {
				var ev logstashEvent
				if err := json.Unmarshal(l, &ev); err != nil {
					t.Fatal(err)
				}
				seq, err := strconv.Atoi(strings.Fields(strings.TrimPrefix(ev.Message, prefix+" "))[0])
				if err != nil || got[seq] != "" {
					t.Fatalf("event %q: not one per line", ev.Message)
				}
				got[seq] = ev.Message
			}
			for i := 1; i <= n; i++ {
				if want := traceFrames(prefix, i, 3, " | "); !strings.HasSuffix(got[i], want) {
					t.Errorf("line %d: %q, want it followed by its 3 frames", i, got[i])
				}
			}
		})
	}
}
