package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// frame builds one multiplexed-stream frame.
func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

const ts1, ts2, ts3 = "2026-11-26T05:20:08.000000001Z ", "2026-11-26T05:20:08.000000002Z ", "2026-11-26T05:20:08.000000003Z "

func TestFrameReader(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "2026-11-26T05:20:08.500539012Z hello\n"))
	in.Write(frame(2, "2026-11-26T05:20:08.500539013Z oops\n"))
	fr := newFrameReader(&in)
	for _, want := range []struct {
		s byte
		p string
	}{{1, "hello\n"}, {2, "oops\n"}} {
		s, p, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		_, _, data, err := logs.SplitTimestamp(p)
		if err != nil || s != want.s || string(data) != want.p {
			t.Fatalf("got %d %q %v", s, data, err)
		}
	}
	if _, _, err := fr.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v, want EOF", err)
	}
	cut := frame(1, "2026-11-26T05:20:08.500539012Z hello\n")
	if _, _, err := newFrameReader(bytes.NewReader(cut[:20])).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v, want ErrUnexpectedEOF (stdcopy would drop it silently)", err)
	}
	var de ErrDaemon
	if _, _, err := newFrameReader(bytes.NewReader(frame(3, "Error grabbing logs: x"))).Next(); !errors.As(err, &de) {
		t.Fatalf("stream 3: %v", err)
	}
	if _, _, err := newFrameReader(bytes.NewReader([]byte{7, 0, 0, 0, 0, 0, 0, 1, 'x'})).Next(); err == nil {
		t.Fatal("bad stream byte accepted")
	}
}

func FuzzFrameDecoder(f *testing.F) {
	f.Add(frame(1, ts1+"one\n"), false)
	f.Add(append(frame(2, ts2+"x"), frame(1, ts3+"y\n")...), false)
	f.Add(frame(3, "Error grabbing logs"), false)
	f.Add([]byte(ts1+"tty line\n"+ts2+"more"), true)
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, data []byte, tty bool) {
		var next func() (byte, []byte, error)
		if tty {
			next = newTTYReader(bytes.NewReader(data)).Next
		} else {
			next = newFrameReader(bytes.NewReader(data)).Next
		}
		total := 0
		for i := 0; i < 10000; i++ {
			s, p, err := next()
			if err != nil {
				return
			}
			if s > logs.StreamSystem {
				t.Fatalf("stream %d", s)
			}
			total += len(p)
			if total > len(data) {
				t.Fatalf("decoded %d payload bytes from %d input bytes", total, len(data))
			}
			_, _, _, _ = logs.SplitTimestamp(p)
		}
	})
}

// tailEngine serves the last Tail frames of a canned log, as dockerd does
// (tail first, then since).
type tailEngine struct {
	mu     sync.Mutex
	frames [][]byte
	tails  []string
}

func (f *tailEngine) Logs(_ context.Context, _ string, o LogsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.tails = append(f.tails, o.Tail)
	f.mu.Unlock()
	fr := f.frames
	if n, err := strconv.Atoi(o.Tail); err == nil && n < len(fr) {
		fr = fr[len(fr)-n:]
	}
	var b bytes.Buffer
	for _, x := range fr {
		ns, _, _, _ := logs.SplitTimestamp(x[8:])
		if ns >= o.Since.UnixNano() {
			b.Write(x)
		}
	}
	return io.NopCloser(&b), nil
}

// readAll opens the source at start and returns every entry's data,
// skipping the start.N lines at start.NS as the pump does.
func readAll(t *testing.T, src *Source, start logs.Pos) []string {
	t.Helper()
	r, err := src.Open(context.Background(), &logs.ContainerInfo{ID: "c"}, start, logs.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	var last logs.Pos
	for {
		_, ns, data, err := r.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		n := uint32(1)
		if ns == last.NS {
			n = last.N + 1
		}
		last = logs.Pos{NS: ns, N: n}
		if ns < start.NS || (ns == start.NS && n <= start.N) {
			continue
		}
		got = append(got, string(bytes.TrimSuffix(data, []byte("\n"))))
	}
}

func TestResumeReadsOnlyTheLogTailWhenItReachesTheResumePoint(t *testing.T) {
	var frames [][]byte
	for i := 1; i <= 10; i++ {
		frames = append(frames, frame(1, string(logs.AppendRFC3339Nano(nil, int64(i)*1e9))+fmt.Sprintf(" line%d\n", i)))
	}
	for _, tt := range []struct {
		at    int // resume after line at
		tails []string
	}{
		{at: 9, tails: []string{"3"}},             // the last 3 (8..10) start before line 9: one cheap read
		{at: 7, tails: []string{"3", "6"}},        // needs a 6-entry window to start before line 7
		{at: 5, tails: []string{"3", "6", "all"}}, // no window starts before line 5 within a second
		{at: 2, tails: []string{"3", "6", "all"}}, // beyond every window
	} {
		eng := &tailEngine{frames: frames}
		got := readAll(t, &Source{API: eng, TailSteps: []string{"3", "6"}}, logs.Pos{NS: int64(tt.at) * 1e9, N: 1})
		var want []string
		for i := tt.at + 1; i <= 10; i++ {
			want = append(want, fmt.Sprintf("line%d", i))
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(eng.tails, tt.tails) {
			t.Errorf("resume after %d: lines %v, tails %v; want %v, %v", tt.at, got, eng.tails, want, tt.tails)
		}
	}
	// Two lines in the same nanosecond, the first delivered: a window that
	// starts at the second would skip it; only a window reaching an older
	// line is trusted.
	same := append(append([][]byte{}, frames...), frame(1, string(logs.AppendRFC3339Nano(nil, 10e9))+" line10b\n"))
	eng := &tailEngine{frames: same}
	got := readAll(t, &Source{API: eng, TailSteps: []string{"2", "3"}}, logs.Pos{NS: 10e9, N: 1})
	if !reflect.DeepEqual(got, []string{"line10b"}) || !reflect.DeepEqual(eng.tails, []string{"2", "3"}) {
		t.Fatalf("same-nanosecond resume: %v, tails %v; want line10b via tail 3", got, eng.tails)
	}
}
