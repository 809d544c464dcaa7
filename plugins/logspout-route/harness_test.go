package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
)

// The generator image is built once per test binary and removed by ID at
// the end (TestMain).
var (
	genOnce sync.Once
	genImg  *loggen.Image
	genErr  error
	genCli  *client.Client
)

func TestMain(m *testing.M) {
	code := m.Run()
	if genImg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := genImg.Remove(ctx, genCli); err != nil {
			fmt.Fprintln(os.Stderr, "remove loggen image:", err)
		}
		cancel()
	}
	os.Exit(code)
}

// generator returns a daemon client and the loggen image.
func generator(t *testing.T) (*client.Client, *loggen.Image) {
	t.Helper()
	cli := dockertest.Client(t)
	genOnce.Do(func() {
		genCli, genErr = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if genErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		genImg, genErr = loggen.Build(ctx, genCli)
	})
	if genErr != nil {
		t.Fatalf("loggen image: %v", genErr)
	}
	return cli, genImg
}

// testRun is one test's unique label: logspout-route routes only
// containers carrying it, so other engineers' containers never count.
type testRun struct {
	t      *testing.T
	cli    *client.Client
	img    *loggen.Image
	suffix string
	label  string // key of the label
}

func newTestRun(t *testing.T) *testRun {
	cli, img := generator(t)
	s := loggen.RandomSuffix()
	runs, _ := testRuns.LoadOrStore(t.Name(), &sync.Map{})
	runs.(*sync.Map).Store(s, true)
	return &testRun{t: t, cli: cli, img: img, suffix: s, label: "lightship.test.run"}
}

// testRuns holds, by test name, the suffixes of its runs' containers
// (a *sync.Map of suffixes): what a test may judge in a log that also
// names the shared daemon's other containers.
var testRuns sync.Map

// ownContainer reports that a container name belongs to one of t's runs.
func ownContainer(t *testing.T, name string) bool {
	runs, ok := testRuns.Load(t.Name())
	if !ok {
		return false
	}
	own := false
	runs.(*sync.Map).Range(func(s, _ any) bool {
		own = strings.HasSuffix(name, "-"+s.(string))
		return !own
	})
	return own
}

// filter is the route query selecting this run's containers.
func (r *testRun) filter() string { return "filter.labels=" + r.label + ":" + r.suffix }

// start runs a generator container with this run's label and removes it at
// the end of the test.
func (r *testRun) start(name string, env []string, args ...string) string {
	r.t.Helper()
	return r.startSpec(name, loggen.Spec{Env: env, Args: args})
}

// prefix is a generator's line prefix, unique to this run.
func (r *testRun) prefix(name string) string { return name + "-" + r.suffix }

// inProcess is logspout-route running inside the test binary.
type inProcess struct {
	once   sync.Once
	cancel context.CancelFunc
	done   chan int
	out    *syncBuffer
	addr   string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startInProcess sets env on the test goroutine (as plugintest.Run does)
// and runs the app until the test ends. PORT=0 and a fresh STATE_PATH are
// the defaults.
func startInProcess(t *testing.T, env map[string]string) *inProcess {
	t.Helper()
	plugintest.ClearEnv(t)
	dir := t.TempDir()
	base := map[string]string{
		"PORT": "0", "HTTP_BIND_ADDRESS": "127.0.0.1", "STATE_PATH": filepath.Join(dir, "state.json"),
		"ROUTESPATH": filepath.Join(dir, "routes"), "LOGSPOUT_ROUTE_ADDR_FILE": filepath.Join(dir, "addr"),
		"ROUTE_URIS": "", "EXCLUDE_LABELS": "", "EXCLUDE_LABEL": "", "BACKLOG": "", "DEBUG": "",
	}
	if dir, ok := sourceEnv(t); ok {
		base["CONTAINERS_DIR"] = dir
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &inProcess{cancel: cancel, done: make(chan int, 1), out: &syncBuffer{}}
	app := newApp("test")
	app.RuntimeEnvFiles = []string{}
	go func() { p.done <- app.Run(ctx, []string{app.Name}, p.out, p.out) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(base["LOGSPOUT_ROUTE_ADDR_FILE"]); err == nil && len(b) > 0 {
			p.addr = string(b)
			break
		}
		select {
		case code := <-p.done:
			t.Fatalf("logspout-route exited %d:\n%s", code, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if p.addr == "" {
		t.Fatalf("logspout-route did not start:\n%s", p.out.String())
	}
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *inProcess) stop(t *testing.T) {
	p.once.Do(func() { p.stopOnce(t) })
}

func (p *inProcess) stopOnce(t *testing.T) {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		var dump bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("logspout-route did not stop:\n%s\ngoroutines:\n%s", p.out.String(), dump.String())
	}
	checkSourceUsed(t, p.out.String())
	if t.Failed() {
		t.Logf("logspout-route output:\n%s", p.out.String())
	}
}

// get fetches path from the HTTP API.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// waitHealthy waits until /health is 200 (every route connected).
func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		var code int
		code, body = get(t, addr, "/health")
		if code == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("never healthy: %s", body)
}

// counted is anything that reports lines received.
type counted interface{ Lines() [][]byte }

// waitLines polls until cond holds on the sink's lines or timeout passes,
// and returns the lines.
func waitLines(sink counted, timeout time.Duration, cond func([][]byte) bool) [][]byte {
	deadline := time.Now().Add(timeout)
	for {
		lines := sink.Lines()
		if cond(lines) || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func containsPrefix(lines [][]byte, prefix string) int {
	n := 0
	for _, l := range lines {
		if bytes.Contains(l, []byte(prefix+" ")) {
			n++
		}
	}
	return n
}

func routeURI(adapter, addr, query string) string {
	if query == "" {
		return adapter + "://" + addr
	}
	return adapter + "://" + addr + "?" + strings.ReplaceAll(query, ",", "%2C")
}
