package jsonfile

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// daemonLog writes a json-file log the way dockerd 20.10 does
// (daemon/logger/loggerutils/logfile.go): one write per entry, keys in the
// order log, stream, attrs, time; rotation when the file reached max-size:
// .N-1 -> .N ..., live -> .1, a new live file; with compress the .1 is
// gzipped (lastTime in the header's Extra) and then removed.
type daemonLog struct {
	t        *testing.T
	dir, id  string
	maxSize  int64 // 0: never rotate
	maxFile  int
	compress bool
	f        *os.File
	size     int64
	ts       time.Time
	last     time.Time
	// realTime stamps entries with the clock, as the daemon does (the
	// file times then make sense against them).
	realTime bool
}

func newDaemonLog(t *testing.T, maxSize int64, maxFile int, compress bool) *daemonLog {
	t.Helper()
	root := t.TempDir()
	id := fmt.Sprintf("%064x", time.Now().UnixNano())
	d := &daemonLog{t: t, dir: root, id: id, maxSize: maxSize, maxFile: maxFile, compress: compress,
		ts: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	if err := os.Mkdir(filepath.Join(root, id), 0o755); err != nil {
		t.Fatal(err)
	}
	hc, _ := json.Marshal(map[string]any{"LogConfig": map[string]any{"Type": "json-file", "Config": map[string]string{"max-file": fmt.Sprint(maxFile)}}})
	if err := os.WriteFile(filepath.Join(root, id, "hostconfig.json"), hc, 0o600); err != nil {
		t.Fatal(err)
	}
	d.open()
	t.Cleanup(func() { d.f.Close() })
	return d
}

// newTestWatcher is a watcher closed at the end of the test.
func newTestWatcher(t *testing.T) *Watcher {
	t.Helper()
	w, err := NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func (d *daemonLog) path() string { return LogPath(d.dir, d.id) }

func (d *daemonLog) open() {
	f, err := os.OpenFile(d.path(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		d.t.Fatal(err)
	}
	d.f, d.size = f, 0
}

// entry is the daemon's line for one message; the time advances 1 µs per
// entry unless same is set (entries sharing a nanosecond happen).
func (d *daemonLog) entry(stream, msg, attrs string, same bool) []byte {
	switch {
	case d.realTime:
		d.ts = time.Now()
	case !same:
		d.ts = d.ts.Add(time.Microsecond + 7)
	}
	var b strings.Builder
	b.WriteString("{")
	if msg != "" {
		m, _ := json.Marshal(msg)
		b.WriteString(`"log":` + string(m) + ",")
	}
	b.WriteString(`"stream":"` + stream + `",`)
	if attrs != "" {
		b.WriteString(`"attrs":` + attrs + ",")
	}
	tb, _ := d.ts.MarshalJSON()
	b.WriteString(`"time":` + string(tb) + "}\n")
	return []byte(b.String())
}

func (d *daemonLog) write(stream, msg string) { d.writeEntry(d.entry(stream, msg, "", false)) }

func (d *daemonLog) writeEntry(e []byte) {
	if d.maxSize > 0 && d.size >= d.maxSize {
		d.rotate()
	}
	n, err := d.f.Write(e)
	if err != nil {
		d.t.Fatal(err)
	}
	d.size += int64(n)
	d.last = d.ts
}

func (d *daemonLog) rotate() {
	d.f.Close()
	p := d.path()
	if d.maxFile < 2 {
		d.open() // truncates in place
		return
	}
	ext := ""
	if d.compress {
		ext = ".gz"
	}
	for i := d.maxFile - 1; i > 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d%s", p, i-1, ext), fmt.Sprintf("%s.%d%s", p, i, ext))
	}
	_ = os.Remove(fmt.Sprintf("%s.%d%s", p, d.maxFile, ext)) // the oldest, if renaming did not replace it
	if err := os.Rename(p, p+".1"); err != nil {
		d.t.Fatal(err)
	}
	d.open()
	if d.compress {
		d.gzip(p + ".1")
	}
}

func (d *daemonLog) gzip(name string) {
	in, err := os.ReadFile(name)
	if err != nil {
		d.t.Fatal(err)
	}
	out, err := os.Create(name + ".gz")
	if err != nil {
		d.t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	zw.Extra, _ = json.Marshal(map[string]time.Time{"lastTime": d.last})
	_, _ = zw.Write(in)
	_ = zw.Close()
	_ = out.Close()
	_ = os.Remove(name)
}

// setRunning records the container's state as the daemon does: a new
// config.v2.json renamed into place.
func (d *daemonLog) setRunning(running bool) {
	b, _ := json.Marshal(map[string]any{"ID": d.id, "State": map[string]any{"Running": running, "Pid": 1}})
	tmp := filepath.Join(d.dir, d.id, ".tmp-config.v2.json")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, d.id, "config.v2.json")); err != nil {
		d.t.Fatal(err)
	}
}
