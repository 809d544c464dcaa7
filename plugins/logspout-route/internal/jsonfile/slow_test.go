package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// A reader slower than the writer: what it reads plus what it counts as
// let go is every line written, for plain and compressed rotations.
func TestSlowFollowerReadsOrCountsEveryLine(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			w := newTestWatcher(t)
			d := newDaemonLog(t, 4000, 3, compress)
			d.setRunning(true)
			src := &Source{Dir: d.dir, Watcher: w}
			var lost int64
			var gap bool
			src.OnLost = func(_ string, n int64, g bool) {
				lost += n
				gap = gap || g
			}
			f, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			const n = 8000
			go func() {
				for i := range n {
					d.write("stdout", fmt.Sprintf("line %d\n", i))
					if i%45 == 0 {
						// About one rotation: the daemon needs tens of
						// milliseconds for a max-size of 1m.
						time.Sleep(10 * time.Millisecond)
					}
				}
				d.setRunning(false)
			}()
			got := readSlowly(t, f)
			f.Close()
			// A file the watcher could not open before the daemon deleted it
			// is reported as a gap: then some lines are lost uncounted, never
			// silently.
			if int64(got)+lost != n && !(gap && int64(got)+lost < n) {
				t.Fatalf("read %d + lost %d != %d (gap reported: %v)", got, lost, n, gap)
			}
			t.Logf("read %d, lost %d, gap %v", got, lost, gap)
		})
	}
}

// readSlowly reads f to its end, slower than the writer, and checks that
// lines come in order; it returns how many it read.
func readSlowly(t *testing.T, f *Follower) int {
	t.Helper()
	got, prev := 0, -1
	for {
		_, _, data, err := f.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(string(data), "line %d", &i)
		if i <= prev {
			t.Fatalf("line %d after %d", i, prev)
		}
		prev = i
		got++
		if got%3 == 0 {
			time.Sleep(time.Millisecond) // slower than the writer
		}
	}
}
