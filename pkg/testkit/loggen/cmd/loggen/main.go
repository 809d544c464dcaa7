// Command loggen writes numbered log lines for logspout-route's tests and
// benchmarks. It runs FROM scratch: no shell, no libc.
//
// Each line is "<prefix> <seq> " padded with 'x' to -size bytes (seq from 1),
// so a sink can count every line by sequence number.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	n := flag.Int("n", 10, "lines to write")
	size := flag.Int("size", 100, "bytes per line, without the newline")
	rate := flag.Float64("rate", 0, "lines per second; 0 = as fast as possible")
	prefix := flag.String("prefix", "", "first word of every line (default: the hostname)")
	longEvery := flag.Int("long-every", 0, "every k-th line is -long-size bytes")
	longSize := flag.Int("long-size", 40000, "size of the long lines")
	stderrEvery := flag.Int("stderr-every", 0, "every k-th line goes to stderr")
	noFinalNewline := flag.Bool("no-final-newline", false, "write the last line without '\\n'")
	delay := flag.Duration("delay", 0, "wait before the first line")
	linger := flag.Duration("linger", 0, "wait after the last line before exiting")
	traceEvery := flag.Int("trace-every", 0, "after every k-th line, a stack trace (-trace-lines lines starting with a tab) on the same stream")
	traceLines := flag.Int("trace-lines", 40, "lines of each stack trace")
	flag.Parse()
	if *prefix == "" {
		*prefix, _ = os.Hostname()
	}
	time.Sleep(*delay)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	errOut := bufio.NewWriterSize(os.Stderr, 64<<10)
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) / *rate)
	}
	start := time.Now()
	line := make([]byte, 0, *longSize+64)
	for i := 1; i <= *n; i++ {
		sz := *size
		if *longEvery > 0 && i%*longEvery == 0 {
			sz = *longSize
		}
		line = append(line[:0], *prefix...)
		line = append(line, ' ')
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ' ')
		for len(line) < sz {
			line = append(line, 'x')
		}
		if !(*noFinalNewline && i == *n) {
			line = append(line, '\n')
		}
		w := out
		if *stderrEvery > 0 && i%*stderrEvery == 0 {
			w = errOut
		}
		if *traceEvery > 0 && i%*traceEvery == 0 {
			line = appendTrace(line, *prefix, i, *traceLines)
		}
		if _, err := w.Write(line); err != nil {
			fmt.Fprintln(os.Stderr, "loggen:", err)
			os.Exit(1)
		}
		if interval > 0 {
			out.Flush()
			errOut.Flush()
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
	}
	out.Flush()
	errOut.Flush()
	time.Sleep(*linger)
}

// appendTrace appends a Java-style stack trace of n lines for line i: each
// starts with a tab, so MULTILINE_PATTERN's default (^\s) joins it to line i.
func appendTrace(b []byte, prefix string, i, n int) []byte {
	for k := 1; k <= n; k++ {
		b = append(b, "\tat "...)
		b = append(b, prefix...)
		b = append(b, ".Trace"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ".frame"...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, "(Main.java:"...)
		b = strconv.AppendInt(b, int64(k), 10)
		b = append(b, ")\n"...)
	}
	return b
}
