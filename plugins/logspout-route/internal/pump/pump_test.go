package pump

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/sirupsen/logrus"
)

// fakeEngine serves canned log streams: one for follow, one without.
type fakeEngine struct {
	mu     sync.Mutex
	info   logs.ContainerInfo
	follow []byte
	plain  []byte
	since  []time.Time
}

func (f *fakeEngine) Events(ctx context.Context, _ time.Time, ready func(), _ func(engine.Event)) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}
func (f *fakeEngine) ListContainers(context.Context) ([]string, error) { return nil, nil }
func (f *fakeEngine) Inspect(context.Context, string) (*logs.ContainerInfo, error) {
	i := f.info
	return &i, nil
}
func (f *fakeEngine) Logs(_ context.Context, _ string, o engine.LogsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.since = append(f.since, o.Since)
	f.mu.Unlock()
	if o.Follow {
		return io.NopCloser(bytes.NewReader(f.follow)), nil
	}
	return io.NopCloser(bytes.NewReader(f.plain)), nil
}

// sinkTarget is a route that keeps what it is given.
type sinkTarget struct {
	mu    sync.Mutex
	lines []string
}

func (s *sinkTarget) ID() string      { return "x" }
func (s *sinkTarget) Sources() uint8  { return 1<<logs.StreamStdout | 1<<logs.StreamStderr }
func (s *sinkTarget) Multiline() bool { return false }
func (s *sinkTarget) CountRead()      {}
func (s *sinkTarget) CountDetached()  {}
func (s *sinkTarget) Push(_ *logs.Container, l *logs.Line, _ bool) logs.PushResult {
	s.mu.Lock()
	s.lines = append(s.lines, logs.StreamName(l.Stream)+":"+string(l.Data))
	s.mu.Unlock()
	return logs.Pushed
}

// oneRoute routes everything to its target.
type oneRoute struct{ t logs.Target }

func (o oneRoute) Version() uint64 { return 1 }
func (o oneRoute) Targets(_ *logs.Container, buf []logs.Target) []logs.Target {
	return append(buf, o.t)
}

// nullState remembers nothing.
type nullState struct{}

func (nullState) Lookup(string) (logs.Streams, bool) { return logs.Streams{}, false }
func (nullState) Track(string)                       {}
func (nullState) Forget(string)                      {}
func (nullState) Prune(map[string]bool)              {}

func quiet() *logrus.Logger {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return log
}

func newTestPump(eng *fakeEngine, rt Router, st State) *Pump {
	return New(eng, quiet(), rt, st, logs.NewRegistry(), Config{
		Sources: []logs.Source{&engine.Source{API: eng, TailSteps: engine.DefaultTailSteps()}},
	})
}

// collect runs stream() over canned bytes and returns the lines queued.
func collect(t *testing.T, eng *fakeEngine, start logs.Pos, follow bool) []string {
	t.Helper()
	sink := &sinkTarget{}
	p := newTestPump(eng, oneRoute{sink}, nullState{})
	r := &reader{c: logs.NewContainer("c", &eng.info, start)}
	if err := p.stream(context.Background(), r, follow, nil); err != nil {
		t.Fatal(err)
	}
	return sink.lines
}

// frame builds one multiplexed-stream frame.
func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

const ts1, ts2, ts3 = "2026-11-26T05:20:08.000000001Z ", "2026-11-26T05:20:08.000000002Z ", "2026-11-26T05:20:08.000000003Z "

func mustNS(ts string) int64 {
	ns, _, _, err := logs.SplitTimestamp([]byte(ts + "x"))
	if err != nil {
		panic(err)
	}
	return ns
}

func TestStreamReassemblesSplitLinesAndSkipsDeliveredOnes(t *testing.T) {
	long := strings.Repeat("a", 16384) + strings.Repeat("b", 16384) + "c"
	var in bytes.Buffer
	in.Write(frame(1, ts1+"one\n"))
	in.Write(frame(1, ts2+"two\n"))
	in.Write(frame(1, ts2+long[:16384]))
	in.Write(frame(2, ts2+"err line\n")) // another stream interleaved
	in.Write(frame(1, ts2+long[16384:32768]))
	in.Write(frame(1, ts2+long[32768:]+"\n"))
	in.Write(frame(1, ts3+"last without newline"))
	eng := &fakeEngine{info: logs.ContainerInfo{ID: "c"}, follow: in.Bytes(), plain: in.Bytes()}

	got := collect(t, eng, logs.Pos{}, true)
	want := []string{"stdout:one", "stdout:two", "stderr:err line", "stdout:" + long}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("follow: got %d lines %.80q", len(got), got)
	}
	// Without follow (the container stopped) the unterminated last line is a line.
	got = collect(t, eng, logs.Pos{}, false)
	if len(got) != 5 || got[4] != "stdout:last without newline" {
		t.Fatalf("plain read: %.80q", got)
	}
	// Resume after "two" and "err line" were delivered (2 lines at ts2):
	// the long line (3rd at ts2) and the last one remain.
	got = collect(t, eng, logs.Pos{NS: mustNS(ts2), N: 2}, false)
	if len(got) != 2 || got[0] != "stdout:"+long || got[1] != "stdout:last without newline" {
		t.Fatalf("resume: %.80q", got)
	}
	// The read starts a second before the checkpoint (windowed resume) and
	// keeps its nanoseconds: never whole seconds rounded past it.
	if last := eng.since[len(eng.since)-1]; last.UnixNano() != mustNS(ts2)-1e9 {
		t.Fatalf("since %v, want the checkpoint minus 1 s, to the nanosecond", last)
	}
}

// flakyEvents is a daemon whose first events subscription fails.
type flakyEvents struct {
	fakeEngine
	mu    sync.Mutex
	calls int
	up    chan struct{}
}

func (f *flakyEvents) Events(ctx context.Context, _ time.Time, ready func(), fn func(engine.Event)) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == 1 {
		return errors.New("connection refused")
	}
	ready()
	fn(engine.Event{ID: "started-late", Action: "start", TimeNano: time.Now().UnixNano()})
	close(f.up)
	<-ctx.Done()
	return ctx.Err()
}

func (f *flakyEvents) ListContainers(context.Context) ([]string, error) {
	return []string{"listed"}, nil
}

func TestEventsResubscribeAndListAgainAfterDaemonError(t *testing.T) {
	eng := &flakyEvents{fakeEngine: fakeEngine{info: logs.ContainerInfo{ID: "x", Created: time.Now().Add(time.Hour)}}, up: make(chan struct{})}
	reg := logs.NewRegistry()
	p := New(eng, quiet(), oneRoute{&sinkTarget{}}, nullState{}, reg, Config{
		Sources: []logs.Source{&engine.Source{API: eng}},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	select {
	case <-eng.up:
	case <-time.After(10 * time.Second):
		t.Fatal("never resubscribed after the events error")
	}
	if !p.DaemonUp() {
		t.Error("daemon not reported up after resubscribing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for reg.Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	ids := map[string]bool{}
	for _, c := range reg.All() {
		ids[c.ID] = true
	}
	if !ids["listed"] || !ids["started-late"] {
		t.Fatalf("containers seen %v: want the listed one and the one from the start event", ids)
	}
}
