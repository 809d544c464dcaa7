// Command web is the demo's sample application: a tiny HTTP server that
// logs a line at start, a stack trace of a recovered start-up error, one line
// per request and a heartbeat, so the demo can show its lines (and the trace
// as one event) arriving at the log sinks.
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	log.Printf("web %s starting on %s", os.Getenv("APP_VERSION"), addr)
	if err := loadFeatureFlags("/etc/web/flags.yaml"); err != nil {
		// One write to stderr: the trace's lines reach the log together. The
		// next line on stderr closes the trace's multiline group at once.
		fmt.Fprint(os.Stderr, err.Error()+"\n")
		fmt.Fprintln(os.Stderr, "WARN running with the default feature flags")
	}
	go heartbeat()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("GET %s from %s", r.URL.Path, r.RemoteAddr)
		fmt.Fprintln(w, "hello from the Lightship demo")
	})
	log.Fatal(http.ListenAndServe(addr, nil))
}

// loadFeatureFlags fails (the image has no flags file) with a Java-style
// stack trace: the first line says what failed, each frame is indented, the
// way log shippers' multiline rules expect.
func loadFeatureFlags(path string) error {
	if _, err := os.Stat(path); err != nil {
		return traced(fmt.Errorf("feature flags not loaded, using defaults: %w", err))
	}
	return nil
}

// tracedError carries the stack where it was made.
type tracedError struct {
	err    error
	frames []string
}

func (e *tracedError) Error() string {
	return "ERROR " + e.err.Error() + "\n" + strings.Join(e.frames, "\n")
}

func (e *tracedError) Unwrap() error { return e.err }

func traced(err error) error {
	pc := make([]uintptr, 16)
	n := runtime.Callers(2, pc)
	frames := runtime.CallersFrames(pc[:n])
	var lines []string
	for {
		f, more := frames.Next()
		file := f.File[strings.LastIndex(f.File, "/")+1:]
		lines = append(lines, fmt.Sprintf("\tat %s (%s:%d)", f.Function, file, f.Line))
		if !more {
			break
		}
	}
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		lines = append(lines, "\tcaused by: "+pathErr.Op+" "+pathErr.Path+": "+pathErr.Err.Error())
	}
	return &tracedError{err: err, frames: lines}
}

func heartbeat() {
	for i := 1; ; i++ {
		time.Sleep(500 * time.Millisecond)
		log.Printf("heartbeat %d", i)
	}
}
