package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// fakeDaemon is a strict Engine API 1.41 on 127.0.0.1: exact methods and
// versioned paths; anything else is answered 400 and recorded as an error
// the test checks on its own goroutine.
type fakeDaemon struct {
	srv     *httptest.Server
	release chan struct{} // ends the events stream
	logs    []byte

	mu      sync.Mutex
	queries map[string][]url.Values // by path
	errs    []string
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d := &fakeDaemon{release: make(chan struct{}), queries: map[string][]url.Values{}}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serve))
	t.Cleanup(d.srv.Close)
	return d
}

// env is the environment pointing a client at d.
func (d *fakeDaemon) env() func(string) (string, bool) {
	return envOf(map[string]string{"DOCKER_HOST": "tcp://" + d.srv.Listener.Addr().String()})
}

// envOf looks names up in m, as plugin.Env.Lookup does in the run's environment.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func (d *fakeDaemon) fail(format string, args ...any) {
	d.mu.Lock()
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
	d.mu.Unlock()
}

func (d *fakeDaemon) query(path string) []url.Values {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]url.Values(nil), d.queries[path]...)
}

func (d *fakeDaemon) check(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.errs {
		t.Error("fake daemon:", e)
	}
}

func (d *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" && (r.Method == http.MethodHead || r.Method == http.MethodGet) {
		w.Header().Set("API-Version", "1.41")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodGet {
			io.WriteString(w, "OK")
		}
		return
	}
	if r.Method != http.MethodGet {
		d.fail("%s %s: only GET is expected", r.Method, r.URL.Path)
		http.Error(w, `{"message":"bad method"}`, http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	d.queries[r.URL.Path] = append(d.queries[r.URL.Path], r.URL.Query())
	d.mu.Unlock()
	w.Header().Set("Api-Version", "1.41")
	switch r.URL.Path {
	case "/v1.41/containers/json":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `[{"Id":"abc","Names":["/web"]},{"Id":"def","Names":["/db"]}]`)
	case "/v1.41/containers/abc/json":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"Id":"abc","Name":"/web","Created":"2026-11-26T05:20:08.500539012Z",
			"Config":{"Image":"lightship/loggen:x","Hostname":"h1","Env":["A=1"],"Labels":{"app":"web"},"Tty":true},
			"State":{"Running":true,"Pid":42},"HostConfig":{"LogConfig":{"Type":"json-file","Config":{}}}}`)
	case "/v1.41/containers/gone/json":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message":"No such container: gone"}`)
	case "/v1.41/containers/abc/logs":
		w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		w.Write(d.logs)
	case "/v1.41/events":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		enc := json.NewEncoder(w)
		enc.Encode(map[string]any{"Type": "network", "Action": "connect", "Actor": map[string]any{"ID": "net1"}, "timeNano": 1})
		enc.Encode(map[string]any{"Type": "container", "Action": "start", "Actor": map[string]any{"ID": "abc"}, "timeNano": 1764134408000000007})
		w.(http.Flusher).Flush()
		select {
		case <-d.release:
		case <-r.Context().Done():
		}
	default:
		d.fail("GET %s: not an Engine API 1.41 path we use", r.URL.Path)
		http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
	}
}

func TestEngineClientSpeaksTheEngineAPI(t *testing.T) {
	t.Parallel()
	d := newFakeDaemon(t)
	d.logs = append(frame(1, "2026-11-26T05:20:08.500539012Z a\n"), frame(2, "2026-11-26T05:20:08.500539013Z b\n")...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := NewClient(ctx, d.env())
	if err != nil {
		t.Fatal(err)
	}

	ids, err := eng.ListContainers(ctx)
	if err != nil || !reflect.DeepEqual(ids, []string{"abc", "def"}) {
		t.Fatalf("ListContainers = %v, %v", ids, err)
	}
	if q := d.query("/v1.41/containers/json"); len(q) != 1 || q[0].Get("all") != "1" {
		t.Errorf("list query %v, want all=1", q)
	}

	info, err := eng.Inspect(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	want := logs.ContainerInfo{ID: "abc", Name: "/web", Image: "lightship/loggen:x", Hostname: "h1", Env: []string{"A=1"},
		Labels: map[string]string{"app": "web"}, Tty: true, LogDriver: "json-file", Running: true,
		Created: time.Date(2026, 11, 26, 5, 20, 8, 500539012, time.UTC), Pid: 42}
	if !reflect.DeepEqual(*info, want) {
		t.Errorf("Inspect = %+v\nwant %+v", *info, want)
	}
	_, err = eng.Inspect(ctx, "gone")
	var nf ErrNotFound
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "No such container: gone") {
		t.Errorf("Inspect of a removed container: %v, want ErrNotFound with the daemon's message", err)
	}

	// The exact resume: nanoseconds reach the daemon, tail as given.
	since := time.Unix(1764134408, 500539012).In(time.FixedZone("x", 3600))
	rc, err := eng.Logs(ctx, "abc", LogsOptions{Follow: true, Since: since, Tail: "16384"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(b) != string(d.logs) {
		t.Errorf("log stream %q, %v: want the raw multiplexed bytes %q", b, err, d.logs)
	}
	rc, err = eng.Logs(ctx, "abc", LogsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	q := d.query("/v1.41/containers/abc/logs")
	wantQ := []url.Values{
		{"stdout": {"1"}, "stderr": {"1"}, "timestamps": {"1"}, "follow": {"1"}, "since": {"1764134408.500539012"}, "tail": {"16384"}},
		{"stdout": {"1"}, "stderr": {"1"}, "timestamps": {"1"}, "tail": {"all"}},
	}
	if !reflect.DeepEqual(q, wantQ) {
		t.Errorf("logs queries\n%v\nwant\n%v", q, wantQ)
	}

	var (
		readyAt = -1
		got     []Event
	)
	err = eng.Events(ctx, time.Unix(0, 1764134408000000001), func() { readyAt = len(got) }, func(ev Event) {
		got = append(got, ev)
		close(d.release)
	})
	if err == nil || ctx.Err() != nil {
		t.Errorf("Events returned %v after the stream ended; want an error", err)
	}
	if readyAt != 0 {
		t.Errorf("ready called after %d events, want before the first", readyAt)
	}
	if want := []Event{{ID: "abc", Action: "start", TimeNano: 1764134408000000007}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events %+v, want %+v (container events only)", got, want)
	}
	eq := d.query("/v1.41/events")
	if len(eq) != 1 {
		t.Fatalf("events requests %v", eq)
	}
	if s := eq[0].Get("since"); s != "1764134408.000000001" {
		t.Errorf("events since=%q, want 1764134408.000000001", s)
	}
	var f map[string]map[string]bool
	if err := json.Unmarshal([]byte(eq[0].Get("filters")), &f); err != nil {
		t.Fatalf("events filters %q: %v", eq[0].Get("filters"), err)
	}
	wantF := map[string]map[string]bool{"type": {"container": true}, "event": {"start": true, "die": true, "destroy": true}}
	if !reflect.DeepEqual(f, wantF) {
		t.Errorf("events filters %v, want %v", f, wantF)
	}
	if err := eng.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	d.check(t)
}

func TestEngineEventsWithoutDaemonNeverReady(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eng, err := NewClient(ctx, env)
	if eng == nil || err == nil {
		t.Fatalf("NewClient without a daemon = %v, %v: want the client and an error", eng, err)
	}
	for i := 0; i < 5; i++ {
		ready := false
		err := eng.Events(ctx, time.Now(), func() { ready = true }, func(Event) {})
		if err == nil || ready {
			t.Fatalf("Events without a daemon: err %v, ready %v; want an error and no ready", err, ready)
		}
	}
	if err := eng.Ping(ctx); err == nil {
		t.Error("Ping without a daemon succeeded")
	}
}

func TestBadDockerHostIsRefused(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"not a host", "tcp://", "ssh://user@host", "tcp://host:2375/path"} {
		eng, err := NewClient(context.Background(), envOf(map[string]string{"DOCKER_HOST": host}))
		if eng != nil || err == nil || !strings.Contains(err.Error(), "DOCKER_HOST") {
			t.Errorf("NewClient(DOCKER_HOST=%s) = %v, %v: want no client and an error naming DOCKER_HOST", host, eng, err)
		}
	}
}
