package pump

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// groupTarget is a multiline+ route that keeps the events it is given.
type groupTarget struct {
	sinkTarget
	mu     sync.Mutex
	events []logs.Line
}

func (g *groupTarget) Multiline() bool { return true }
func (g *groupTarget) Push(c *logs.Container, l *logs.Line, block bool) logs.PushResult {
	g.mu.Lock()
	e := *l
	e.Data = append([]byte(nil), l.Data...)
	g.events = append(g.events, e)
	g.mu.Unlock()
	return g.sinkTarget.Push(c, l, block)
}

func TestParseMultilineAsLogspout(t *testing.T) {
	m, _, err := ParseMultiline("", "", "", "", "", 1<<20)
	if err != nil || !m.EnableDefault || m.Pattern.String() != `^\s` || !m.MatchFirst || !m.Negate || m.Separator != "\n" || m.FlushAfter != 500*time.Millisecond {
		t.Fatalf("defaults: %+v %v", m, err)
	}
	for _, tt := range []struct{ enable, pattern, match, flush, setting, msg string }{
		{enable: "yes", setting: "multiline_enable_default", msg: "multiline: invalid value for MULTILINE_ENABLE_DEFAULT (must be true|false): yes"},
		{pattern: "(", setting: "multiline_pattern", msg: "multiline: invalid value for MULTILINE_PATTERN (must be regexp): ("},
		{match: "Middle", setting: "multiline_match", msg: "multiline: invalid value for MULTILINE_MATCH (must be one of first|last|nonfirst|nonlast): middle"},
		{flush: "1s", setting: "multiline_flush_after", msg: "multiline: invalid value for multiline_timeout (must be number): 1s"},
	} {
		_, setting, err := ParseMultiline(tt.enable, tt.pattern, tt.match, "", tt.flush, 1<<20)
		if err == nil || err.Error() != tt.msg || setting != tt.setting {
			t.Errorf("%+v: %q %v", tt, setting, err)
		}
	}
}

// groups runs the grouper over lines "o:<text>" (stdout) / "e:<text>"
// (stderr) and returns the events as "stream:data".
func groups(t *testing.T, match string, lines ...string) ([]string, *groupTarget) {
	t.Helper()
	var in bytes.Buffer
	for i, l := range lines {
		s := byte(logs.StreamStdout)
		if l[0] == 'e' {
			s = logs.StreamStderr
		}
		in.Write(frame(s, string(logs.AppendRFC3339Nano(nil, int64(i+1)*1e6))+" "+l[2:]+"\n"))
	}
	eng := &fakeEngine{info: logs.ContainerInfo{ID: "c"}, plain: in.Bytes()}
	ml, _, err := ParseMultiline("", "", match, " | ", "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	g := &groupTarget{}
	p := New(eng, quiet(), oneRoute{g}, nullState{}, logs.NewRegistry(), Config{
		Sources: []logs.Source{&engine.Source{API: eng}}, Multiline: ml,
	})
	r := &reader{c: logs.NewContainer("c", &eng.info, logs.Pos{})}
	if err := p.stream(context.Background(), r, false, nil); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range g.events {
		out = append(out, fmt.Sprintf("%s@%d:%s", logs.StreamName(e.Stream)[3:], e.TimeNS/1e6, e.Data))
	}
	return out, g
}

func TestMultilineGroupsPerStreamWithFirstLineTime(t *testing.T) {
	got, _ := groups(t, "", "o:Exception in main", "o:\tat a", "e:warn", "o:\tat b", "o:next", "e:\tcaused", "o:last")
	// stdout's first group ends at "next" (not indented), "next" at "last";
	// stderr's group and stdout's "last" are shipped when the stream ends.
	want := []string{"out@1:Exception in main | \tat a | \tat b", "out@5:next", "out@7:last", "err@3:warn | \tcaused"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("nonfirst:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got, _ = groups(t, "last", "o:a", "o:b", "o: end", "o:c", "o: end")
	if want := []string{"out@1:a | b |  end", "out@4:c |  end"}; !reflect.DeepEqual(got, want) {
		t.Errorf("last: %q", got)
	}
	got, _ = groups(t, "first", "o: start", "o:x", "o: start", "o:y")
	if want := []string{"out@1: start | x", "out@3: start | y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("first: %q", got)
	}
	got, _ = groups(t, "nonlast", "o: a", "o: b", "o:end", "o: c")
	if want := []string{"out@1: a |  b | end", "out@4: c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("nonlast: %q", got)
	}
}

// While a group is gathered its first line holds the resume point back;
// once queued, the route's own accounting does.
func TestMultilineGroupHoldsTheResumePoint(t *testing.T) {
	c := logs.NewContainer("c", &logs.ContainerInfo{ID: "c"}, logs.Pos{})
	ml, _, _ := ParseMultiline("", "", "", "", "", 1<<20)
	ml.FlushAfter = time.Hour
	g := &groupTarget{}
	p := New(nil, quiet(), oneRoute{g}, nullState{}, logs.NewRegistry(), Config{Multiline: ml})
	d := &dispatcher{p: p, r: &reader{c: c}}
	ctx := context.Background()
	d.emit(ctx, 10, logs.StreamStdout, []byte("Exception"))
	d.emit(ctx, 11, logs.StreamStdout, []byte("\tat x"))
	d.emit(ctx, 12, logs.StreamStderr, []byte("plain"))
	if got := c.Checkpoint(); got[logs.StreamStdout] != (logs.Pos{NS: 10}) {
		t.Fatalf("stdout checkpoint %+v while its group is open: want just before its first line", got)
	}
	d.emit(ctx, 13, logs.StreamStdout, []byte("next"))
	if len(g.events) != 1 || string(g.events[0].Data) != "Exception\n\tat x" || g.events[0].Pos != (logs.Pos{NS: 11, N: 1}) || g.events[0].TimeNS != 10 {
		t.Fatalf("events %+v", g.events)
	}
	if got := c.Checkpoint(); got[logs.StreamStdout] != (logs.Pos{NS: 10}) {
		t.Fatalf("stdout checkpoint %+v with the group queued, unconfirmed", got)
	}
	d.flush(ctx)
}

func TestMultilineFlushAfterQuiet(t *testing.T) {
	c := logs.NewContainer("c", &logs.ContainerInfo{ID: "c"}, logs.Pos{})
	ml, _, _ := ParseMultiline("", "", "", "", "40", 1<<20)
	g := &groupTarget{}
	p := New(nil, quiet(), oneRoute{g}, nullState{}, logs.NewRegistry(), Config{Multiline: ml})
	d := &dispatcher{p: p, r: &reader{c: c}}
	d.emit(context.Background(), 10, logs.StreamStdout, []byte("Exception"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		n := len(g.events)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a quiet group was never shipped")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stack trace on stderr followed by nothing more on stderr is shipped
// after MULTILINE_FLUSH_AFTER even while stdout keeps printing (quiet is
// judged per stream).
func TestMultilineFlushAfterQuietWhileTheOtherStreamTalks(t *testing.T) {
	c := logs.NewContainer("c", &logs.ContainerInfo{ID: "c"}, logs.Pos{})
	ml, _, _ := ParseMultiline("", "", "", "", "40", 1<<20)
	g := &groupTarget{}
	p := New(nil, quiet(), oneRoute{g}, nullState{}, logs.NewRegistry(), Config{Multiline: ml})
	d := &dispatcher{p: p, r: &reader{c: c}}
	ctx := context.Background()
	d.emit(ctx, 10, logs.StreamStderr, []byte("ERROR trace"))
	d.emit(ctx, 11, logs.StreamStderr, []byte("\tat a"))
	ns := int64(12)
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		var trace bool
		for _, e := range g.events {
			trace = trace || e.Stream == logs.StreamStderr && string(e.Data) == "ERROR trace\n\tat a"
		}
		g.mu.Unlock()
		if trace {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stderr's quiet group was never shipped while stdout talked")
		}
		// stdout prints a line every 10 ms: far more often than the 40 ms
		// flush, so a quiet check shared by both streams never fires.
		d.emit(ctx, ns, logs.StreamStdout, []byte("hb"))
		ns++
		time.Sleep(10 * time.Millisecond)
	}
	d.flush(ctx)
}

func TestMultilineCutAtMaxBytes(t *testing.T) {
	c := logs.NewContainer("c", &logs.ContainerInfo{ID: "c"}, logs.Pos{})
	ml, _, _ := ParseMultiline("", "", "", "", "", 10)
	cuts := 0
	ml.OnCut = func() { cuts++ }
	ml.FlushAfter = time.Hour
	g := &groupTarget{}
	p := New(nil, quiet(), oneRoute{g}, nullState{}, logs.NewRegistry(), Config{Multiline: ml})
	d := &dispatcher{p: p, r: &reader{c: c}}
	ctx := context.Background()
	d.emit(ctx, 1, logs.StreamStdout, []byte("E1234"))
	d.emit(ctx, 2, logs.StreamStdout, []byte(" 12345")) // 5+1+6 > 10: cut
	d.flush(ctx)
	if cuts != 1 || len(g.events) != 2 || string(g.events[0].Data) != "E1234" {
		t.Fatalf("cuts %d, events %+v", cuts, g.events)
	}
}

func TestPerContainerMultilineSwitch(t *testing.T) {
	ml, _, _ := ParseMultiline("false", "", "", "", "", 1<<20)
	for _, tt := range []struct {
		info logs.ContainerInfo
		want bool
	}{
		{logs.ContainerInfo{}, false},
		{logs.ContainerInfo{Env: []string{"LOGSPOUT_MULTILINE=TRUE"}}, true},
		{logs.ContainerInfo{Labels: map[string]string{"LOGSPOUT_MULTILINE": "true"}}, true},
	} {
		if got := ml.enabled(&tt.info); got != tt.want {
			t.Errorf("%+v: %v", tt.info, got)
		}
	}
}
