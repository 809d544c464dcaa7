package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"
)

// maskOf is the mask of the watch on dir (0 when none).
func maskOf(w *Watcher, dir string) uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.wds[w.dirs[dir]]; wt != nil {
		return wt.mask
	}
	return 0
}

// waitMask waits up to 2 s for the watch on dir to have mask.
func waitMask(t *testing.T, w *Watcher, dir string, mask uint32, why string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for maskOf(w, dir) != mask {
		if time.Now().After(deadline) {
			t.Fatalf("%s: watch mask %#x, want %#x", why, maskOf(w, dir), mask)
		}
		time.Sleep(time.Millisecond)
	}
}

// readInto reads f's entries into a channel until f ends; at the end of
// the test it stops the reader (done), waits for it, and closes f.
func readInto(t *testing.T, f *Follower, done chan struct{}) <-chan string {
	out := make(chan string, 10000)
	ended := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		<-ended
		f.Close()
	})
	go func() {
		defer close(ended)
		defer close(out)
		for {
			_, _, data, err := f.Next()
			if errors.Is(err, io.EOF) || errors.Is(err, ErrDone) || err != nil {
				return
			}
			out <- string(data)
		}
	}()
	return out
}

// TestBusyLogIsPolledWithoutWriteEvents: a follower reading a burst polls,
// and the directory's watch stops taking IN_MODIFY (each write would cost
// the daemon an event); when the log goes quiet the watch takes writes
// again and a single later line still wakes the follower. No line is lost
// across either switch.
func TestBusyLogIsPolledWithoutWriteEvents(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d := newDaemonLog(t, 0, 1, false)
	d.setRunning(true)
	src := &Source{Dir: d.dir, Watcher: w}
	done := make(chan struct{})
	f, err := src.Open(done, d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	lines := readInto(t, f, done)
	dir := filepath.Join(d.dir, d.id)
	waitMask(t, w, dir, watchMask, "before any write")
	n := 0
	burst := func(k int) {
		for range k {
			d.write("stdout", fmt.Sprintf("line %d\n", n))
			n++
		}
	}
	burst(200)
	waitMask(t, w, dir, pollingMask, "reading a burst")
	for range 10 {
		burst(100)
		time.Sleep(2 * time.Millisecond)
	}
	waitMask(t, w, dir, watchMask, "quiet again")
	time.Sleep(20 * time.Millisecond)
	burst(1)
	for i := range n {
		select {
		case got := <-lines:
			if want := fmt.Sprintf("line %d\n", i); got != want {
				t.Fatalf("entry %d: %q, want %q", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d lines arrived (the last one written after the log went quiet)", i, n)
		}
	}
}

// TestWatchKeepsWritesWhileAnotherReaderWaits: two readers of one
// container share the directory's watch; while one polls, the other waits
// for wake-ups, so the watch keeps IN_MODIFY.
func TestWatchKeepsWritesWhileAnotherReaderWaits(t *testing.T) {
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d := newDaemonLog(t, 0, 1, false)
	d.setRunning(true)
	src := &Source{Dir: d.dir, Watcher: w}
	done := make(chan struct{})
	busy, err := src.Open(done, d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	lines := readInto(t, busy, done)
	waiting, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	for range 500 {
		select {
		case <-lines:
		case <-time.After(5 * time.Second):
			t.Fatal("the busy reader stalled")
		}
	}
	dir := filepath.Join(d.dir, d.id)
	if m := maskOf(w, dir); m != watchMask {
		t.Errorf("watch mask %#x while a reader waits for writes, want %#x", m, watchMask)
	}
	// The waiting reader goes: the busy one's polling may drop writes now.
	if err := waiting.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		d.write("stdout", fmt.Sprintf("more %d\n", i))
	}
	waitMask(t, w, dir, pollingMask, "the only reader left polls")
}
