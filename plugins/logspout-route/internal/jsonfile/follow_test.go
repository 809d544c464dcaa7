package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// follow reads l until want lines arrived or the wait for a wake-up times
// out (nothing more comes).
func follow(t *testing.T, l *Log, want int) []string {
	t.Helper()
	var out []string
	var line Line
	for len(out) < want {
		err := l.Next(&line)
		if errors.Is(err, io.EOF) {
			select {
			case <-l.Wake():
			case <-time.After(5 * time.Second):
				return out
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(line.Data))
	}
	return out
}

func TestFollowsWritesAndRotationsWithoutLoss(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			w := newTestWatcher(t)
			d := newDaemonLog(t, 4000, 3, compress)
			l, err := Open(d.dir, d.id, Options{Keep: 3, Watcher: w})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			const n = 3000
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range n {
					d.write("stdout", fmt.Sprintf("line %d\n", i))
					if i%45 == 0 {
						// About one rotation: the daemon takes tens of
						// milliseconds to fill a max-size of 1m.
						time.Sleep(5 * time.Millisecond)
					}
				}
			}()
			got := follow(t, l, n)
			<-done
			if len(got) != n {
				_, gap := l.Lost()
				t.Fatalf("%d of %d lines (gap reported: %v)", len(got), n, gap)
			}
			for i, g := range got {
				if want := fmt.Sprintf("line %d", i); g != want {
					t.Fatalf("line %d: %q", i, g)
				}
			}
			if lost, gap := l.Lost(); lost != 0 || gap {
				t.Errorf("lost %d gap %v", lost, gap)
			}
		})
	}
}

func TestLaggingReaderCountsTheFilesItLetGo(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 1000, 3, true)
	l, err := Open(d.dir, d.id, Options{Keep: 3, Watcher: w})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var line Line
	d.write("stdout", "line 0\n")
	for errors.Is(l.Next(&line), io.EOF) {
		<-l.Wake()
	}
	// The reader stops here while the daemon rotates many times.
	const n = 1000
	for i := 1; i < n; i++ {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
		if i%10 == 0 {
			// ~12 lines fill a file: the daemon needs far longer for its
			// max-size than the watcher needs to see a rotation.
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond)
	got := readAll(t, l)
	lost, _ := l.Lost()
	if int64(len(got))+1+lost != n {
		t.Fatalf("read %d + lost %d + 1 != %d", len(got), lost, n)
	}
	if lost == 0 {
		t.Fatal("nothing let go: the test did not lag")
	}
	if last := got[len(got)-1]; last != fmt.Sprintf("1:line %d", n-1) {
		t.Errorf("last %q", last)
	}
	// What was read is in order and without repeats.
	prev := 0
	for _, g := range got {
		var i int
		fmt.Sscanf(g, "1:line %d", &i)
		if i <= prev {
			t.Fatalf("%q after line %d", g, prev)
		}
		prev = i
	}
}

func TestNoticesTheContainerStopping(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 0, 1, false)
	d.setRunning(true)
	l, err := Open(d.dir, d.id, Options{Watcher: w})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if run, err := l.Running(); err != nil || !run {
		t.Fatalf("running %v %v", run, err)
	}
	d.write("stdout", "last\n")
	d.setRunning(false)
	deadline := time.After(5 * time.Second)
	for !l.StateChanged() {
		select {
		case <-l.Wake():
		case <-deadline:
			t.Fatal("no state change seen")
		}
	}
	if run, err := l.Running(); err != nil || run {
		t.Fatalf("running %v %v after the stop", run, err)
	}
	if got := readAll(t, l); len(got) != 1 {
		t.Fatalf("%v", got)
	}
}
