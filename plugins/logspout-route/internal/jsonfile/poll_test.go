package jsonfile

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// watchOf returns the mask of the watch on dir and how many of its logs
// poll (0, 0 when there is no watch).
func watchOf(w *Watcher, dir string) (uint32, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.wds[w.dirs[dir]]; wt != nil {
		return wt.mask, len(wt.polling)
	}
	return 0, 0
}

// waitWatch waits up to 2 s until ok holds for the watch on dir.
func waitWatch(t *testing.T, w *Watcher, dir, why string, ok func(mask uint32, polling int) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		mask, polling := watchOf(w, dir)
		if ok(mask, polling) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: watch mask %#x, %d logs polling", why, mask, polling)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitMask waits up to 2 s for the watch on dir to have mask.
func waitMask(t *testing.T, w *Watcher, dir string, mask uint32, why string) {
	t.Helper()
	waitWatch(t, w, dir, why, func(m uint32, _ int) bool { return m == mask })
}

// followRunning opens a follower of a running container's log on w and
// reads it in the background: its entries come on lines. At the end of
// the test the reader is stopped and the follower closed.
func followRunning(t *testing.T, w *Watcher) (d *daemonLog, src *Source, lines <-chan string) {
	t.Helper()
	d = newDaemonLog(t, 0, 1, false)
	d.setRunning(true)
	src = &Source{Dir: d.dir, Watcher: w}
	done := make(chan struct{})
	f, err := src.Open(done, d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string, 100000)
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
			if err != nil {
				return
			}
			out <- string(data)
		}
	}()
	return d, src, out
}

// expectLines reads n entries "line 0".."line n-1" from lines, in order.
func expectLines(t *testing.T, lines <-chan string, n int) {
	t.Helper()
	for i := range n {
		select {
		case got := <-lines:
			if want := fmt.Sprintf("line %d\n", i); got != want {
				t.Fatalf("entry %d: %q, want %q", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d lines arrived", i, n)
		}
	}
}

// TestBusyLogIsPolledWithoutWriteEvents: a follower reading a burst polls,
// and the directory's watch stops taking IN_MODIFY (each write would cost
// the daemon an event); when the log goes quiet the watch takes writes
// again and a single later line still wakes the follower. No line is lost
// across either switch.
func TestBusyLogIsPolledWithoutWriteEvents(t *testing.T) {
	w := newTestWatcher(t)
	d, _, lines := followRunning(t, w)
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
	burst(1) // woken by its write event, or lost
	expectLines(t, lines, n)
}

// TestWatchKeepsWritesWhileAnotherReaderWaits: two readers of one
// container share the directory's watch; while one polls, the other waits
// for wake-ups, so the watch keeps IN_MODIFY until the waiting one goes.
func TestWatchKeepsWritesWhileAnotherReaderWaits(t *testing.T) {
	w := newTestWatcher(t)
	d, src, lines := followRunning(t, w)
	dir := filepath.Join(d.dir, d.id)
	waiting, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	// The writer keeps the first reader busy (polling) throughout.
	stop, wrote := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				wrote <- n
				return
			default:
			}
			for range 100 {
				d.write("stdout", fmt.Sprintf("line %d\n", n))
				n++
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stopWriter := sync.OnceValue(func() int { close(stop); return <-wrote })
	defer stopWriter()
	waitWatch(t, w, dir, "the busy reader polls", func(_ uint32, polling int) bool { return polling == 1 })
	if mask, _ := watchOf(w, dir); mask != watchMask {
		t.Errorf("watch mask %#x while a reader waits for writes, want %#x", mask, watchMask)
	}
	if err := waiting.Close(); err != nil {
		t.Fatal(err)
	}
	waitMask(t, w, dir, pollingMask, "the only reader left polls")
	expectLines(t, lines, stopWriter())
}
