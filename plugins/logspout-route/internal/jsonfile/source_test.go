package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// drain reads f to io.EOF and returns the entries' text.
func drain(t *testing.T, f *Follower) []string {
	t.Helper()
	var out []string
	for {
		_, _, data, err := f.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(data))
	}
}

func TestFollowerEndsWhenTheContainerStopsAndResumesExactly(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 1500, 3, false) // ~20 lines a file: line 30's file is renamed, not deleted
	d.setRunning(true)
	var lost []string
	src := &Source{Dir: d.dir, Watcher: w, OnLost: func(id string, n int64, gap bool) { lost = append(lost, fmt.Sprint(n, gap)) }}
	if !src.Readable(d.id) || src.Readable("nope") {
		t.Fatal("Readable")
	}
	f, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range 50 {
			d.write("stdout", fmt.Sprintf("line %d\n", i))
			time.Sleep(time.Millisecond)
		}
		d.setRunning(false)
	}()
	var got []string
	var resume Pos
	var resumeNS int64
	for {
		_, ns, data, err := f.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(data))
		if len(got) == 30 {
			resume, resumeNS = f.Resume(), ns
		}
	}
	f.Close()
	if len(got) != 50 || got[49] != "line 49\n" {
		t.Fatalf("%d lines, last %q", len(got), got[len(got)-1])
	}
	// A restart at line 30's position: exact, even though rotations renamed
	// its file meanwhile.
	f, err = src.Open(make(chan struct{}), d.id, resume, resumeNS, false)
	if err != nil {
		t.Fatal(err)
	}
	rest := drain(t, f)
	f.Close()
	if !f.Exact() || len(rest) != 20 || rest[0] != "line 30\n" {
		t.Fatalf("exact %v, %d lines from %q", f.Exact(), len(rest), rest[:1])
	}
	if len(lost) != 0 {
		t.Errorf("lost reported: %v", lost)
	}
}

func TestFollowerFallsBackToTheTimeWhenTheFileIsGone(t *testing.T) {
	d := newDaemonLog(t, 600, 2, true)
	var stamps []int64
	for i := range 60 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
		stamps = append(stamps, d.ts.UnixNano())
	}
	src := &Source{Dir: d.dir}
	gone := Pos{File: FileID{Dev: 1, Ino: 12345}, Off: 100}
	f, err := src.Open(nil, d.id, gone, stamps[55], false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rest := drain(t, f)
	if f.Exact() || len(rest) < 5 || rest[len(rest)-5] != "line 55\n" {
		t.Fatalf("exact %v, %v", f.Exact(), rest)
	}
}

func TestFollowerStopsWhenDoneCloses(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 0, 1, false)
	d.setRunning(true)
	done := make(chan struct{})
	f, err := (&Source{Dir: d.dir, Watcher: w}).Open(done, d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	close(done)
	if _, _, _, err := f.Next(); !errors.Is(err, ErrDone) {
		t.Fatalf("%v", err)
	}
	if w.Watched() != 1 {
		t.Fatalf("watched %d", w.Watched())
	}
	f.Close()
	if w.Watched() != 0 {
		t.Fatalf("watch kept after Close")
	}
}

// A lagging route's reader starts where the main reader is, in a file the
// daemon deleted meanwhile: it gets the main reader's copy, exactly.
func TestSecondReaderSharesTheFilesTheFirstHolds(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 1000, 2, false)
	d.setRunning(true)
	src := &Source{Dir: d.dir, Watcher: w}
	first, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	d.write("stdout", "line 0\n")
	d.write("stdout", "line 1\n")
	var ns int64
	for i := 0; i < 2; {
		_, ts, _, err := first.Next()
		if errors.Is(err, io.EOF) {
			<-first.l.Wake()
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ns = ts
		i++
	}
	at := first.Resume()
	for i := 2; i < 100; i++ { // many rotations: the file of line 1 is deleted
		d.write("stdout", fmt.Sprintf("line %d\n", i))
		if i%5 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	second, err := src.Open(make(chan struct{}), d.id, at, ns, false)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	rest := drain(t, second)
	if !second.Exact() || len(rest) == 0 || rest[0] != "line 2\n" {
		t.Fatalf("exact %v, from %q", second.Exact(), rest[:min(1, len(rest))])
	}
}

// A container created and never started has its directory but no log
// file: read without follow, it has nothing, like the Engine API says
// (an error here made the pump retry it forever).
func TestNeverStartedContainerReadsEmpty(t *testing.T) {
	d := newDaemonLog(t, 4000, 1, false)
	if err := os.Remove(d.path()); err != nil {
		t.Fatal(err)
	}
	src := &Source{Dir: d.dir}
	if !src.Readable(d.id) {
		t.Fatal("a container directory without a log file yet is not taken by the file source")
	}
	f, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, data, err := f.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %q, %v; want io.EOF", data, err)
	}
}

// A first read (from the container's creation, no saved position) that
// opens the log after the daemon rotated files away: their lines cannot be
// counted, and that is reported as a gap (issue 16: a reader attached late
// on a loaded machine found lines neither read nor counted). Before the
// daemon deleted a file there is no gap: while it has fewer than max-file
// files, or while the oldest is still the one it opened at the start.
func TestFirstReadReportsFilesRotatedAwayBeforeTheOpen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    int // 12 a file
		compress bool
		gap      bool
	}{
		{"files deleted", 100, false, true},
		{"files deleted, compressed", 100, true, true},
		{"max-file files, none deleted yet", 30, false, false},
		{"fewer than max-file files", 20, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemonLog(t, 1000, 3, tc.compress)
			d.realTime = true
			created := time.Now().UnixNano()
			time.Sleep(2 * startSlack) // the container starts, then logs
			for i := range tc.lines {
				d.write("stdout", fmt.Sprintf("line %d\n", i))
			}
			var lost int64
			var gap bool
			src := &Source{Dir: d.dir, OnLost: func(_ string, n int64, g bool) { lost, gap = lost+n, gap || g }}
			f, err := src.Open(make(chan struct{}), d.id, Pos{}, created, false)
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, f)
			f.Close()
			if gap != tc.gap || lost != 0 {
				t.Fatalf("read %d of %d, reported lost %d, gap %v; want gap %v", len(got), tc.lines, lost, gap, tc.gap)
			}
			if !gap && len(got) != tc.lines {
				t.Fatalf("no gap reported, yet read %d of %d", len(got), tc.lines)
			}
		})
	}
}

// A reader whose lines no route takes any more (each has a reader of its
// own) does not count the lines it lets go: the other readers read or count
// them (issue 16: rotated away counted 491574 of 500000 while 57487
// arrived). What it let go before it was turned off is counted then.
func TestCountLostOffCountsWhatWasLetGoAndNothingAfter(t *testing.T) {
	w := newTestWatcher(t)
	d := newDaemonLog(t, 1000, 3, false) // ~12 lines a file
	d.setRunning(true)
	var reports []int64
	src := &Source{Dir: d.dir, Watcher: w, OnLost: func(_ string, n int64, _ bool) { reports = append(reports, n) }}
	f, err := src.Open(make(chan struct{}), d.id, Pos{}, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The reader stays in the first file while the daemon rotates on.
	lag := func(from, to int) {
		for i := from; i < to; i++ {
			d.write("stdout", fmt.Sprintf("line %d\n", i))
			if i%6 == 0 {
				time.Sleep(2 * time.Millisecond) // the watcher sees each rotation
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	lag(0, 100)
	f.CountLost(false)
	if len(reports) != 1 || reports[0] == 0 {
		t.Fatalf("turned off after files were let go: reported %v, want them once", reports)
	}
	lag(100, 200)
	f.CountLost(true) // what was let go while off is nobody's
	f.CountLost(false)
	lag(200, 300)
	d.setRunning(false)
	got := drain(t, f) // off: its ends report nothing
	f.Close()
	if len(reports) != 1 {
		t.Fatalf("reported %v: what was let go while off was counted", reports)
	}
	if len(got) == 0 || got[len(got)-1] != "line 299\n" {
		t.Fatalf("read %d lines, last %q", len(got), got[len(got)-1:])
	}
}
