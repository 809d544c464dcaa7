package jsonfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkReadEntries is the file source's own cost per 100-byte line:
// read, split, decode (no dockerd in the way).
func BenchmarkReadEntries(b *testing.B) {
	dir := b.TempDir()
	id := strings.Repeat("b", 64)
	if err := os.Mkdir(filepath.Join(dir, id), 0o755); err != nil {
		b.Fatal(err)
	}
	const lines = 100000
	var sb strings.Builder
	ts := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	msg := strings.Repeat("x", 99)
	for i := range lines {
		t, _ := ts.Add(time.Duration(i) * 1013).MarshalJSON()
		sb.WriteString(`{"log":"` + msg + `\n","stream":"stdout","time":` + string(t) + "}\n")
	}
	if err := os.WriteFile(LogPath(dir, id), []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	src := &Source{Dir: dir}
	b.ResetTimer()
	b.ReportAllocs()
	for range b.N {
		f, err := src.Open(nil, id, Pos{}, 0, false)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, _, _, err := f.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		f.Close()
		if n != lines {
			b.Fatalf("%d lines", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
