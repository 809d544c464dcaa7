package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

func TestSinkStoppedTenSecondsLosesNothingOnTCPAndBeats(t *testing.T) {
	forEachSource(t, testSinkStoppedTenSecondsLosesNothingOnTCPAndBeats)
}

func testSinkStoppedTenSecondsLosesNothingOnTCPAndBeats(t *testing.T) {
	r := newTestRun(t)
	tcp, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr, beatsAddr := tcp.Addr(), beats.Addr()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", tcpAddr, r.filter()) + "," + routeURI("beats", beatsAddr, r.filter())})
	waitHealthy(t, p.addr)
	const n = 4000
	r.start("steady", nil, "-n", fmt.Sprint(n), "-rate", "250", "-prefix", r.prefix("steady"))
	waitLines(tcp, 20*time.Second, func(l [][]byte) bool { return len(l) >= 300 })
	before := [][][]byte{tcp.Lines(), beats.Lines()}
	tcp.Close()
	beats.Close()
	time.Sleep(time.Second)
	if code, _ := get(t, p.addr, "/health"); code != http.StatusServiceUnavailable {
		t.Errorf("/health with both sinks down: %d, want 503", code)
	}
	time.Sleep(9 * time.Second)
	tcp2, err := logsink.StartTCP(tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp2.Close()
	beats2, err := logsink.StartLumberjack(beatsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer beats2.Close()
	for i, s := range []counted{tcp2, beats2} {
		after := waitLines(s, 60*time.Second, func(l [][]byte) bool {
			c := logsink.SeqCounts(append(append([][]byte{}, before[i]...), l...), r.prefix("steady"))
			return len(c) >= n
		})
		counts := logsink.SeqCounts(append(before[i], after...), r.prefix("steady"))
		missing, dup := logsink.Check(counts, n)
		name := []string{"tcp", "beats"}[i]
		if len(missing) > 0 {
			t.Errorf("%s: missing %v", name, missing)
		}
		if len(dup) > 0 {
			t.Logf("%s: duplicated (allowed: at-least-once) %v", name, dup)
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// routeBinary builds logspout-route once for the tests that kill it.
func routeBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lsr-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "logspout-route")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("%w: %s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type subprocess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	addr string
}

func startSubprocess(t *testing.T, env map[string]string) *subprocess {
	t.Helper()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(routeBinary(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=0", "HTTP_BIND_ADDRESS=127.0.0.1", "ROUTESPATH=" + filepath.Join(dir, "routes"), "LOGSPOUT_ROUTE_ADDR_FILE=" + addrFile}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		cmd.Env = append(cmd.Env, "DOCKER_HOST="+h)
	}
	if dir, ok := sourceEnv(t); ok {
		cmd.Env = append(cmd.Env, "CONTAINERS_DIR="+dir)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s := &subprocess{cmd: cmd, out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		checkSourceUsed(t, s.out.String())
		if t.Failed() {
			t.Logf("logspout-route output:\n%s", s.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			s.addr = string(b)
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("logspout-route did not start:\n%s", s.out.String())
	return nil
}

func TestSIGKILLRestartResumesWithoutLossOrDuplicatesOnBeats(t *testing.T) {
	forEachSource(t, testSIGKILLRestartResumesWithoutLossOrDuplicatesOnBeats)
}

func testSIGKILLRestartResumesWithoutLossOrDuplicatesOnBeats(t *testing.T) {
	r := newTestRun(t)
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	state := filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"ROUTE_URIS": routeURI("beats", beats.Addr(), r.filter()), "STATE_PATH": state}
	first := startSubprocess(t, env)
	waitHealthy(t, first.addr)
	const n = 3000
	id := r.start("resume", nil, "-n", fmt.Sprint(n), "-rate", "600", "-prefix", r.prefix("resume"))
	// Kill at a moment unrelated to the sink's traffic, as a crash is.
	time.Sleep(1200*time.Millisecond + time.Duration(rand.Int64N(int64(600*time.Millisecond))))
	if got := len(beats.Lines()); got == 0 {
		t.Fatal("nothing shipped before the kill")
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killedAt := len(beats.Lines())
	time.Sleep(time.Second) // the container keeps writing meanwhile
	second := startSubprocess(t, env)
	waitHealthy(t, second.addr)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(beats, 60*time.Second, func(l [][]byte) bool { return len(l) >= n })
	time.Sleep(500 * time.Millisecond)
	lines := beats.Lines()
	missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("resume")), n)
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("killed after %d lines: missing %v, duplicated %v (%d lines)", killedAt, missing, dup, len(lines))
	}
}

func TestRoutesAddedAndDeletedAtRuntime(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	routesDir := t.TempDir() // exists: POSTed routes persist there
	p := startInProcess(t, map[string]string{"ROUTESPATH": routesDir})
	if code, body := get(t, p.addr, "/routes"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("GET /routes: %d %q", code, body)
	}
	body := fmt.Sprintf(`{"id":"a1b2c3d4e5f6","adapter":"logstash+tcp","address":%q,"filter_labels":["%s:%s"]}`, sink.Addr(), r.label, r.suffix)
	resp, err := http.Post("http://"+p.addr+"/routes", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /routes: %d", resp.StatusCode)
	}
	if code, got := get(t, p.addr, "/routes/a1b2c3d4e5f6"); code != 200 || !strings.Contains(got, sink.Addr()) {
		t.Fatalf("GET route: %d %s", code, got)
	}
	if saved, err := os.ReadFile(filepath.Join(routesDir, "a1b2c3d4e5f6.json")); err != nil || !strings.Contains(string(saved), `"adapter":"logstash+tcp"`) {
		t.Fatalf("route not persisted under ROUTESPATH: %q %v", saved, err)
	}
	bad, _ := http.Post("http://"+p.addr+"/routes", "application/json", strings.NewReader(`{"adapter":"nope","address":"127.0.0.1:1"}`))
	var b bytes.Buffer
	b.ReadFrom(bad.Body)
	bad.Body.Close()
	if bad.StatusCode != 400 || !strings.Contains(b.String(), "Bad route: bad adapter: nope") {
		t.Fatalf("bad route: %d %q", bad.StatusCode, b.String())
	}
	waitHealthy(t, p.addr)
	r.start("one", nil, "-n", "20", "-prefix", r.prefix("one"))
	waitLines(sink, 20*time.Second, func(l [][]byte) bool { return containsPrefix(l, r.prefix("one")) >= 20 })
	req, _ := http.NewRequest(http.MethodDelete, "http://"+p.addr+"/routes/a1b2c3d4e5f6", nil)
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	if del.StatusCode != 200 {
		t.Fatalf("DELETE: %d", del.StatusCode)
	}
	if code, _ := get(t, p.addr, "/routes/a1b2c3d4e5f6"); code != 404 {
		t.Fatalf("GET deleted route: %d", code)
	}
	if _, err := os.Stat(filepath.Join(routesDir, "a1b2c3d4e5f6.json")); !os.IsNotExist(err) {
		t.Fatalf("deleted route still persisted: %v", err)
	}
	id := r.start("two", nil, "-n", "20", "-prefix", r.prefix("two"))
	loggen.Wait(context.Background(), r.cli, id)
	time.Sleep(time.Second)
	lines := sink.Lines()
	if got := containsPrefix(lines, r.prefix("one")); got != 20 {
		t.Errorf("first container: %d lines, want 20", got)
	}
	if got := containsPrefix(lines, r.prefix("two")); got != 0 {
		t.Errorf("after DELETE: %d lines still shipped", got)
	}
}

func TestHealthRedWhileSinkDownGreenWhenBack(t *testing.T) {
	// Reserve a port, then leave it closed: the route cannot connect.
	s, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	s.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", addr, "")})
	time.Sleep(300 * time.Millisecond)
	code, body := get(t, p.addr, "/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, addr) {
		t.Fatalf("/health with the sink down: %d %q", code, body)
	}
	s2, err := logsink.StartTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	waitHealthy(t, p.addr)
	code, body = get(t, p.addr, "/metrics")
	if code != 200 || !strings.Contains(body, "logspout_route_reconnects_total{route=") || !strings.Contains(body, "logspout_route_up{") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
}

func TestBadRouteURIExitsTwoNamingIt(t *testing.T) {
	t.Parallel()
	for _, uri := range []string{"nope://127.0.0.1:5000", "logstash+tcp://127.0.0.1", "syslog://host:5000?filter.sources=stdin", "beats+udp://h:1"} {
		res := plugintest.Run(t, newApp("test"), map[string]string{"ROUTE_URIS": uri, "PORT": "off", "STATE_PATH": ""})
		if res.Code != 2 || !strings.Contains(res.Output(), "PLUGIN_ROUTE_URIS") || !strings.Contains(res.Output(), uri) {
			t.Errorf("%s: exit %d, output %q", uri, res.Code, res.Output())
		}
	}
	// logspout: a route URI as the first argument replaces ROUTE_URIS.
	res := plugintest.Run(t, newApp("test"), map[string]string{"ROUTE_URIS": "logstash://h:1", "PORT": "off", "STATE_PATH": ""}, "raw+bad://h:1")
	if res.Code != 2 || !strings.Contains(res.Output(), "raw+bad://h:1") {
		t.Errorf("argument route: exit %d, output %q", res.Code, res.Output())
	}
	res = plugintest.Run(t, newApp("test"), map[string]string{"ROUTE_URIS": "logstash://h:1", "PORT": "off", "STATE_PATH": "", "PLUGIN_QUEUE_SIZE": "0"})
	if res.Code != 2 || !strings.Contains(res.Output(), "PLUGIN_QUEUE_SIZE") {
		t.Errorf("queue_size 0: exit %d, output %q", res.Code, res.Output())
	}
}

func TestUDPRouteIsBestEffortButShips(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartUDP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"PLUGIN_ROUTE_URIS": routeURI("logstash", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	r.start("udp", nil, "-n", "50", "-rate", "500", "-prefix", r.prefix("udp"))
	lines := waitLines(sink, 20*time.Second, func(l [][]byte) bool { return containsPrefix(l, r.prefix("udp")) >= 50 })
	if missing, _ := logsink.Check(logsink.SeqCounts(lines, r.prefix("udp")), 50); len(missing) > 0 {
		t.Fatalf("over loopback at 500 lines/s nothing should drop: missing %v", missing)
	}
}

func TestHealthRedWhenTheDaemonIsUnreachable(t *testing.T) {
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{
		"ROUTE_URIS":  routeURI("logstash+tcp", sink.Addr(), ""),
		"DOCKER_HOST": "unix://" + filepath.Join(t.TempDir(), "no-docker.sock"),
	})
	time.Sleep(300 * time.Millisecond)
	code, body := get(t, p.addr, "/health")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "docker daemon") || strings.Contains(body, "route ") {
		t.Fatalf("/health: %d %q (want 503 naming the daemon, the route being up)", code, body)
	}
	// The process keeps running and retrying: it does not exit.
	select {
	case c := <-p.done:
		t.Fatalf("exited %d without a daemon", c)
	default:
	}
}
