package jsonfile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDecodeDaemonLayout(t *testing.T) {
	cases := []struct {
		name, line string
		stream     byte
		log, attrs string
		ts         string
	}{
		{"plain", `{"log":"hello\n","stream":"stdout","time":"2026-12-07T10:00:00.123456789Z"}`, Stdout, "hello\n", "", "2026-12-07T10:00:00.123456789Z"},
		{"stderr, trimmed fraction", `{"log":"x\n","stream":"stderr","time":"2026-12-07T10:00:00.5Z"}`, Stderr, "x\n", "", "2026-12-07T10:00:00.5Z"},
		{"no fraction", `{"log":"x\n","stream":"stdout","time":"2026-12-07T10:00:01Z"}`, Stdout, "x\n", "", "2026-12-07T10:00:01Z"},
		{"attrs", `{"log":"a\n","stream":"stdout","attrs":{"app":"web","k":"v\"}"},"time":"2026-12-07T10:00:00Z"}`, Stdout, "a\n", `{"app":"web","k":"v\"}"}`, "2026-12-07T10:00:00Z"},
		{"escapes", `{"log":"\u003cb\u003e \u0026 \"q\" \\ \t\r\u2028 \ud83d\ude00 é\n","stream":"stdout","time":"2026-12-07T10:00:00Z"}`, Stdout, "<b> & \"q\" \\ \t\r\u2028 😀 é\n", "", "2026-12-07T10:00:00Z"},
		{"partial piece", `{"log":"abc","stream":"stdout","time":"2026-12-07T10:00:00Z"}`, Stdout, "abc", "", "2026-12-07T10:00:00Z"},
		{"empty log left out", `{"stream":"stdout","time":"2026-12-07T10:00:00Z"}`, Stdout, "", "", "2026-12-07T10:00:00Z"},
		{"other key order (slow path)", `{"time":"2026-12-07T11:00:00+01:00","stream":"stderr","log":"z\n"}`, Stderr, "z\n", "", "2026-12-07T10:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d decoder
			var r Record
			if err := d.decode([]byte(c.line), &r); err != nil {
				t.Fatal(err)
			}
			want, _ := time.Parse(time.RFC3339Nano, c.ts)
			if r.Stream != c.stream || string(r.Log) != c.log || string(r.Attrs) != c.attrs || r.TS != want.UnixNano() {
				t.Errorf("got stream %d log %q attrs %q ts %d; want %d %q %q %d", r.Stream, r.Log, r.Attrs, r.TS, c.stream, c.log, c.attrs, want.UnixNano())
			}
		})
	}
}

func TestDecodeRejectsWhatIsNotAnEntry(t *testing.T) {
	for _, line := range []string{``, `{`, `{"log":"x\n","stream":"stdout"}`, `not json`, `{"log":"x\n","stream":"stdout","time":"yesterday"}`} {
		var d decoder
		var r Record
		if err := d.decode([]byte(line), &r); err == nil {
			t.Errorf("%q decoded", line)
		}
	}
}

// readAll reads l until io.EOF and returns the lines as "stream:data".
func readAll(t *testing.T, l *Log) []string {
	t.Helper()
	var out []string
	var line Line
	for {
		err := l.Next(&line)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d:%s", line.Stream, line.Data))
	}
}

func TestReadsEveryRotationOldestFirst(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprint("compress=", compress), func(t *testing.T) {
			d := newDaemonLog(t, 1000, 4, compress)
			for i := range 100 {
				d.write("stdout", fmt.Sprintf("line %d\n", i))
			}
			l, err := Open(d.dir, d.id, Options{Keep: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got := readAll(t, l)
			// The daemon keeps 4 files of ~1000 bytes: the last lines only.
			if len(got) == 0 || got[len(got)-1] != "1:line 99" {
				t.Fatalf("got %d lines, last %q", len(got), got[len(got)-1:])
			}
			first := 100 - len(got)
			for i, g := range got {
				if want := fmt.Sprintf("1:line %d", first+i); g != want {
					t.Fatalf("line %d: %q, want %q", i, g, want)
				}
			}
			if len(got) < 40 {
				t.Errorf("only %d lines from 4 retained files", len(got))
			}
		})
	}
}

func TestJoinsSixteenKiBPiecesAndFlushesAFinalLineWithoutNewline(t *testing.T) {
	d := newDaemonLog(t, 0, 1, false)
	big := strings.Repeat("x", 40001)
	d.writeEntry(d.entry("stdout", big[:16384], "", false))
	d.writeEntry(d.entry("stderr", "err line\n", "", false)) // the other stream in between
	d.writeEntry(d.entry("stdout", big[16384:32768], "", false))
	d.writeEntry(d.entry("stdout", big[32768:]+"\n", "", false))
	d.write("stdout", "last without newline")
	l, err := Open(d.dir, d.id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var line Line
	if err := l.Next(&line); err != nil || string(line.Data) != "err line" {
		t.Fatalf("first: %v %q", err, line.Data)
	}
	if err := l.Next(&line); err != nil || string(line.Data) != big || line.Stream != Stdout || line.Partial {
		t.Fatalf("joined: %v len %d partial %v", err, len(line.Data), line.Partial)
	}
	if err := l.Next(&line); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF before flush, got %v %q", err, line.Data)
	}
	if !l.Flush(&line) || string(line.Data) != "last without newline" || !line.Partial {
		t.Fatalf("flush: %q", line.Data)
	}
	if l.Flush(&line) {
		t.Fatal("flushed twice")
	}
}

func TestAttrsAreKept(t *testing.T) {
	d := newDaemonLog(t, 0, 1, false)
	d.writeEntry(d.entry("stdout", "hi\n", `{"app":"web"}`, false))
	l, err := Open(d.dir, d.id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var line Line
	if err := l.Next(&line); err != nil || string(line.Attrs) != `{"app":"web"}` {
		t.Fatalf("%v %q", err, line.Attrs)
	}
}

func TestSeekResumesExactlyAfterRotationRenamedTheFile(t *testing.T) {
	d := newDaemonLog(t, 2000, 5, false)
	for i := range 30 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	l, err := Open(d.dir, d.id, Options{Keep: 5})
	if err != nil {
		t.Fatal(err)
	}
	var line Line
	var last Line
	for range 20 {
		if err := l.Next(&line); err != nil {
			t.Fatal(err)
		}
		last = line
	}
	if string(last.Data) != "line 19" {
		t.Fatalf("read up to %q", last.Data)
	}
	saved, ts := last.Pos, last.TS
	l.Close()
	for i := 30; i < 60; i++ { // rotations rename the saved file to .1, .2
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	l, err = Open(d.dir, d.id, Options{Keep: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	exact, err := l.Seek(saved, ts)
	if err != nil || !exact {
		t.Fatalf("seek: %v exact %v", err, exact)
	}
	got := readAll(t, l)
	if len(got) != 40 || got[0] != "1:line 20" || got[39] != "1:line 59" {
		t.Fatalf("resumed with %d lines: %v", len(got), got)
	}
}

func TestSeekRefusesAPositionWhoseEntryDoesNotMatch(t *testing.T) {
	d := newDaemonLog(t, 0, 1, false)
	for i := range 10 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	l, err := Open(d.dir, d.id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var line Line
	for range 3 {
		_ = l.Next(&line)
	}
	p := line.Pos
	// The right file and offset with another timestamp: a reused inode.
	if exact, _ := l.Seek(p, line.TS+1); exact {
		t.Error("accepted a position whose entry has another time")
	}
	// An offset inside an entry.
	if exact, _ := l.Seek(Pos{File: p.File, Off: p.Off - 3}, line.TS); exact {
		t.Error("accepted an offset inside an entry")
	}
	if exact, _ := l.Seek(Pos{File: FileID{Dev: 1, Ino: 1}, Off: p.Off}, line.TS); exact {
		t.Error("accepted another file")
	}
}

func TestSeekTimeStartsInTheFileHoldingTheTimeAndReportsAGap(t *testing.T) {
	d := newDaemonLog(t, 1000, 3, true)
	var stamps []int64
	for i := range 60 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
		stamps = append(stamps, d.ts.UnixNano())
	}
	l, err := Open(d.dir, d.id, Options{Keep: 3})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, l)
	l.Close()
	oldest := 60 - len(got)
	// A time inside the retained files: no gap, and the line at that time
	// is among those read.
	l, _ = Open(d.dir, d.id, Options{Keep: 3})
	gap, err := l.SeekTime(stamps[55])
	if err != nil || gap {
		t.Fatalf("seek: %v gap %v", err, gap)
	}
	rest := readAll(t, l)
	if len(rest) < 5 || rest[len(rest)-5] != "1:line 55" {
		t.Fatalf("from time of line 55: %v", rest)
	}
	l.Close()
	// A time before the oldest retained line: a gap.
	l, _ = Open(d.dir, d.id, Options{Keep: 3})
	defer l.Close()
	if oldest == 0 {
		t.Fatal("nothing rotated away")
	}
	if gap, _ := l.SeekTime(stamps[0]); !gap {
		t.Error("no gap reported for a time older than every retained line")
	}
}

func TestTruncationInPlaceIsNoticed(t *testing.T) {
	d := newDaemonLog(t, 500, 1, false)
	l, err := Open(d.dir, d.id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 5 {
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	got := readAll(t, l)
	for i := 5; i < 20; i++ { // max-file=1: the file is truncated and rewritten
		d.write("stdout", fmt.Sprintf("line %d\n", i))
	}
	got = append(got, readAll(t, l)...)
	got = append(got, readAll(t, l)...)
	if got[len(got)-1] != "1:line 19" {
		t.Fatalf("after truncation: %v", got)
	}
	if _, gap := l.Lost(); !gap {
		t.Error("truncation not reported")
	}
}

// An idle log lends its read buffer back (quiet containers hold none) and
// reads on from the same place when more comes.
func TestIdleLogLendsItsBufferBackAndReadsOn(t *testing.T) {
	d := newDaemonLog(t, 1<<20, 1, false)
	var pool sync.Pool
	l, err := Open(d.dir, d.id, Options{Keep: 1, Buffers: &pool})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []string
	for round := range 3 {
		for i := range 5 {
			d.write("stdout", fmt.Sprintf("line %d.%d\n", round, i))
		}
		got = append(got, readAll(t, l)...)
		l.Idle()
		if cap(l.src.buf) != 0 {
			t.Fatalf("round %d: an idle log still holds %d bytes", round, cap(l.src.buf))
		}
	}
	if len(got) != 15 || got[0] != "1:line 0.0" || got[5] != "1:line 1.0" || got[14] != "1:line 2.4" {
		t.Fatalf("read %q", got)
	}
}
