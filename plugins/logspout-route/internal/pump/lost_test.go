package pump

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// fileSource serves n entries through file readers, which note what the
// pump tells them about counting the lines they let go.
type fileSource struct {
	n      int
	mu     sync.Mutex
	opened []*fileReader
}

func (s *fileSource) Name() string                     { return "files" }
func (s *fileSource) Accepts(*logs.ContainerInfo) bool { return true }
func (s *fileSource) Open(context.Context, *logs.ContainerInfo, logs.Pos, logs.ReadOptions) (logs.EntryReader, error) {
	r := &fileReader{n: s.n}
	s.mu.Lock()
	s.opened = append(s.opened, r)
	s.mu.Unlock()
	return r, nil
}

func (s *fileSource) readers() []*fileReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fileReader(nil), s.opened...)
}

type fileReader struct {
	n, i     int
	mu       sync.Mutex
	counting []bool
}

func (r *fileReader) Next() (byte, int64, []byte, error) {
	if r.i == r.n {
		return 0, 0, nil, io.EOF
	}
	r.i++
	return logs.StreamStdout, int64(r.i), fmt.Appendf(nil, "line %d\n", r.i), nil
}
func (r *fileReader) Close() error         { return nil }
func (r *fileReader) Resume() logs.FilePos { return logs.FilePos{Ino: 1, Off: int64(r.i)} }
func (r *fileReader) Exact() bool          { return false }
func (r *fileReader) CountLost(on bool) {
	r.mu.Lock()
	r.counting = append(r.counting, on)
	r.mu.Unlock()
}

func (r *fileReader) told() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counting
}

// slowTarget is a route whose queue is always full for a reader that does
// not wait (the main reader): it gets a reader of its own.
type slowTarget struct{ sinkTarget }

func (s *slowTarget) Push(c *logs.Container, l *logs.Line, block bool) logs.PushResult {
	if !block {
		return logs.QueueFull
	}
	return s.sinkTarget.Push(c, l, block)
}

// Once its only route reads on its own, the main reader does not count
// the lines it lets go: the route's reader counts what the route misses,
// and both counting made the rotated-away count exceed what was written
// (issue 16). The route's own reader counts.
func TestMainReaderFeedingNoRouteDoesNotCountLostLines(t *testing.T) {
	src := &fileSource{n: 50}
	eng := &fakeEngine{info: logs.ContainerInfo{ID: "c", LogDriver: "json-file"}}
	route := &slowTarget{}
	p := New(eng, quiet(), oneRoute{route}, nullState{}, logs.NewRegistry(), Config{
		Sources: []logs.Source{src}, DetachAfter: time.Millisecond,
	})
	r := &reader{c: logs.NewContainer("c", &eng.info, logs.Pos{})}
	if err := p.stream(context.Background(), r, false, nil); err != nil {
		t.Fatal(err)
	}
	p.wg.Wait() // the route's own reader
	opened := src.readers()
	if len(opened) != 2 {
		t.Fatalf("%d readers, want the main one and the route's", len(opened))
	}
	if got := opened[0].told(); !reflect.DeepEqual(got, []bool{false}) {
		t.Errorf("main reader told %v, want counting off once its route read on its own", got)
	}
	if got := opened[1].told(); len(got) != 0 {
		t.Errorf("the route's reader told %v, want it left counting", got)
	}
	if len(route.lines) != 50 {
		t.Errorf("route got %d lines, want 50", len(route.lines))
	}
}
