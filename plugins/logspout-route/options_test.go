package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// A container on the local driver ships its lines, so does one on gelf
// (read back through the daemon's dual-logging cache); one on none is
// logged once at info, counted in /metrics, and never retried.
func TestEveryReadableLogDriverShippedNoneCountedOnce(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	ctx := context.Background()
	opts := map[string]map[string]string{"gelf": {"gelf-address": "udp://127.0.0.1:12201"}}
	ids := map[string]string{}
	for _, driver := range []string{"local", "none", "gelf"} {
		id, err := r.img.Start(ctx, r.cli, loggen.Spec{Name: "lsr-" + driver + "-" + r.suffix, Labels: map[string]string{r.label: r.suffix},
			LogDriver: driver, LogOpts: opts[driver], Args: []string{"-n", "100", "-prefix", r.prefix(driver), "-linger", "2s"}})
		if id != "" {
			t.Cleanup(func() { _ = loggen.RemoveContainer(ctx, r.cli, id) })
		}
		if err != nil {
			t.Fatal(err)
		}
		ids[driver] = id
	}
	lines := waitLines(sink, 30*time.Second, func(l [][]byte) bool { return containsPrefix(l, r.prefix("local")) >= 100 })
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("local")), 100); len(missing)+len(dup) > 0 {
		t.Errorf("local driver: missing %v duplicated %v", missing, dup)
	}
	// gelf: dockerd 20.10's dual-logging cache does not give back every line
	// (docker logs itself shows about half here); every line it gives back
	// is shipped, once.
	if err := loggen.Wait(ctx, r.cli, ids["gelf"]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	daemon := dockerTimes(t, r, ids["gelf"])
	shipped := logsink.SeqCounts(sink.Lines(), r.prefix("gelf"))
	for text := range daemon {
		var seq int
		if _, err := fmt.Sscanf(strings.TrimPrefix(text, r.prefix("gelf")+" "), "%d", &seq); err != nil {
			continue
		}
		if shipped[seq] != 1 {
			t.Errorf("gelf driver: line %d (read back by the daemon) shipped %d times", seq, shipped[seq])
		}
	}
	if len(daemon) == 0 {
		t.Error("gelf driver: the daemon gave nothing back (dual logging off?)")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), "cannot read this container's log back") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // the container lingers, stops: no second notice
	out := p.out.String()
	notice := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "lsr-none-"+r.suffix) && strings.Contains(l, "cannot read") {
			if notice != "" {
				t.Errorf("none driver: a second notice: %s", l)
			}
			notice = l
		}
	}
	if !strings.Contains(notice, "level=info") || !strings.Contains(notice, "does not support reading") {
		t.Errorf("none driver: notice %q, want one at info with the daemon's reason", notice)
	}
	// The shared daemon may hold other none-driver containers: ours is one of them.
	_, metrics := get(t, p.addr, "/metrics")
	var n int
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "logspout_route_unreadable_containers_total "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	if n < 1 {
		t.Errorf("/metrics does not count it:\n%s", metrics)
	}
}

// TAIL=10 ships the last 10 lines of a container that already has 1,000,
// however old.
func TestTailShipsTheLastLinesOfAContainerSeenFirst(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	prefix := r.prefix("tail")
	r.start("tail", nil, "-n", "1000", "-prefix", prefix, "-linger", "60s")
	time.Sleep(2 * time.Second) // all written before we start
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()), "TAIL": "10"})
	waitHealthy(t, p.addr)
	waitLines(sink, 20*time.Second, func(l [][]byte) bool { return containsPrefix(l, prefix) >= 10 })
	time.Sleep(time.Second)
	lines := sink.Lines()
	counts := logsink.SeqCounts(lines, prefix)
	if len(counts) != 10 {
		t.Fatalf("%d lines, want the last 10: %v", len(counts), counts)
	}
	for i := 991; i <= 1000; i++ {
		if counts[i] != 1 {
			t.Fatalf("line %d shipped %d times; got %v", i, counts[i], counts)
		}
	}
}

// certPair is a self-signed certificate (also its own CA) in PEM.
func certPair(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM string, cert tls.Certificate, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(parsed)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// A TLS sink that demands a client certificate: a route with
// LOGSPOUT_TLS_CLIENT_CERT/_KEY ships; without them it is down with the
// TLS error in /health.
func TestMutualTLSRoute(t *testing.T) {
	r := newTestRun(t)
	clientCert, clientKey, _, clientPool := certPair(t, "logspout-route", x509.ExtKeyUsageClientAuth)
	sink, caPEM := startTLSSinkConfig(t, func(c *tls.Config) {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, clientPool
	})
	uri := routeURI("logstash+tls", sink.ln.Addr().String(), r.filter())
	dir := t.TempDir()
	keyFile := dir + "/client.key"
	if err := writeFile(keyFile, clientKey); err != nil {
		t.Fatal(err)
	}
	p := startInProcess(t, map[string]string{"ROUTE_URIS": uri, "PLUGIN_CA_CERT": caPEM,
		"LOGSPOUT_TLS_CLIENT_CERT": clientCert, "LOGSPOUT_TLS_CLIENT_KEY": keyFile}) // PEM text and a path
	waitHealthy(t, p.addr)
	r.start("mtls", nil, "-n", "50", "-prefix", r.prefix("mtls"))
	lines := waitLines(sink, 30*time.Second, func(l [][]byte) bool { return len(l) >= 50 })
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("mtls")), 50); len(missing)+len(dup) > 0 {
		t.Fatalf("missing %v duplicated %v", missing, dup)
	}
	if strings.Contains(p.out.String(), "PRIVATE KEY") {
		t.Fatal("the client key appeared in the output")
	}
	p.stop(t)

	without := startInProcess(t, map[string]string{"ROUTE_URIS": uri, "PLUGIN_CA_CERT": caPEM, "LOGSPOUT_TLS_CLIENT_CERT": "", "LOGSPOUT_TLS_CLIENT_KEY": ""})
	deadline := time.Now().Add(20 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		if _, body = get(t, without.addr, "/health"); strings.Contains(body, "certificate") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "route") || !strings.Contains(body, "certificate") {
		t.Fatalf("without a client certificate /health says %q, want the route down for want of a certificate", body)
	}
}

// Bad new settings exit 2 naming the setting, with logspout's messages.
func TestNewSettingsRefusedNamingThem(t *testing.T) {
	t.Parallel()
	cert, _, _, _ := certPair(t, "x", x509.ExtKeyUsageClientAuth)
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LOGSPOUT_TLS_CLIENT_CERT": cert}, "PLUGIN_TLS_CLIENT_KEY"},
		{map[string]string{"TAIL": "ten"}, "PLUGIN_TAIL"},
		{map[string]string{"MULTILINE_MATCH": "middle"}, "multiline: invalid value for MULTILINE_MATCH (must be one of first|last|nonfirst|nonlast): middle"},
		{map[string]string{"MULTILINE_PATTERN": "("}, "PLUGIN_MULTILINE_PATTERN"},
		{map[string]string{"MULTILINE_FLUSH_AFTER": "1s"}, "PLUGIN_MULTILINE_FLUSH_AFTER"},
		{map[string]string{"ROUTE_URIS": "multiline://h:1"}, "multiline: adapter must have a sub-adapter, eg: multiline+raw+tcp"},
		{map[string]string{"SYSLOG_TIMESTAMP": "{{"}, "PLUGIN_SYSLOG_TIMESTAMP"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"ROUTE_URIS": "logstash://h:1", "PORT": "off", "STATE_PATH": ""}
			for k, v := range tt.env {
				env[k] = v
			}
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != 2 || !strings.Contains(res.Output(), tt.want) {
				t.Errorf("%v: exit %d, output %q", tt.env, res.Code, res.Output())
			}
		})
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

// INACTIVITY_TIMEOUT re-attaches a silent stream from its position: every
// line once, none lost, although the stream was dropped several times.
func TestInactivityTimeoutReattachesWithoutLossOrDuplicate(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()), "INACTIVITY_TIMEOUT": "700ms", "DEBUG": "1"})
	waitHealthy(t, p.addr)
	const n = 5
	prefix := r.prefix("quiet")
	// The local driver: read through the Engine API, whose follow the
	// watchdog guards (json-file containers are read from their files).
	id, err := r.img.Start(context.Background(), r.cli, loggen.Spec{Name: "lsr-quiet-" + r.suffix, Labels: map[string]string{r.label: r.suffix},
		LogDriver: "local", Args: []string{"-n", "5", "-rate", "0.6", "-prefix", prefix, "-linger", "3s"}})
	if id != "" {
		t.Cleanup(func() { _ = loggen.RemoveContainer(context.Background(), r.cli, id) })
	}
	if err != nil {
		t.Fatal(err)
	}
	waitLines(sink, 30*time.Second, func(l [][]byte) bool { return containsPrefix(l, prefix) >= n })
	time.Sleep(2 * time.Second)
	lines := sink.Lines()
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, prefix), n); len(missing)+len(dup) > 0 {
		t.Fatalf("missing %v duplicated %v", missing, dup)
	}
	if c := strings.Count(p.out.String(), "inactivity timeout: attaching again"); c < 3 {
		t.Fatalf("%d re-attaches, want several (a line every 1.7 s, timeout 0.7 s)", c)
	}
}

// readLogs streams GET path for a while and returns the lines that contain
// want, stopping once n arrived.
func readLogs(t *testing.T, addr, path string, want string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	var got []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && len(got) < n {
		if strings.Contains(sc.Text(), want) {
			got = append(got, sc.Text())
		}
	}
	return got
}

// curl /logs streams the lines of running containers, as logspout's
// httpstream: name|line for all, the bare line for one id, name globs.
func TestLogsStreamsRunningContainers(t *testing.T) {
	r := newTestRun(t)
	p := startInProcess(t, map[string]string{"ROUTE_URIS": ""})
	waitHealthy(t, p.addr)
	prefix := r.prefix("live")
	name := "lsr-live-" + r.suffix
	id := r.start("live", nil, "-n", "400", "-rate", "20", "-prefix", prefix)
	got := readLogs(t, p.addr, "/logs?colors=off", prefix, 3)
	if len(got) < 3 || !strings.HasPrefix(strings.TrimSpace(got[0]), name+"|"+prefix+" ") {
		t.Fatalf("/logs: %q", got)
	}
	got = readLogs(t, p.addr, "/logs/id:"+id[:12], prefix, 2)
	if len(got) < 2 || !strings.HasPrefix(got[0], prefix+" ") {
		t.Fatalf("/logs/id: %q", got)
	}
	got = readLogs(t, p.addr, "/logs/name:lsr-live-*", prefix, 2)
	if len(got) < 2 || !strings.Contains(got[0], "\x1b[") {
		t.Fatalf("/logs/name (coloured): %q", got)
	}
	if code, _ := get(t, p.addr, "/logs/bogus:x"); code != 404 {
		t.Fatalf("/logs/bogus:x: %d", code)
	}
}

// The WebSocket form of /logs (logspout's websocketStreamer), read with a
// real client (gorilla/websocket): each line one JSON text message, the
// source= filter, and a clean close.
func TestLogsOverWebSocketSendsJSONMessages(t *testing.T) {
	r := newTestRun(t)
	p := startInProcess(t, map[string]string{"ROUTE_URIS": ""})
	waitHealthy(t, p.addr)
	prefix := r.prefix("ws")
	name := "lsr-ws-" + r.suffix
	id := r.start("ws", nil, "-n", "400", "-rate", "20", "-stderr-every", "2", "-prefix", prefix)
	for _, tc := range []struct{ path, source string }{{"/logs/id:" + id[:12], ""}, {"/logs/name:lsr-ws-*?source=stderr", "stderr"}} {
		msgs := readWebSocket(t, "ws://"+p.addr+tc.path, prefix, 4)
		for _, m := range msgs {
			if m.Container.ID != id || m.Container.Name != "/"+name || !strings.HasPrefix(m.Data, prefix+" ") || m.Time.IsZero() {
				t.Fatalf("%s: message %+v", tc.path, m)
			}
			if tc.source != "" && m.Source != tc.source {
				t.Fatalf("%s: source %q", tc.path, m.Source)
			}
		}
	}
}

type wsMessage struct {
	Container struct{ ID, Name string }
	Source    string
	Data      string
	Time      time.Time
}

// readWebSocket reads n JSON messages holding want, then closes cleanly.
func readWebSocket(t *testing.T, url, want string, n int) []wsMessage {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer conn.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%s: status %d", url, resp.StatusCode)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []wsMessage
	for len(got) < n {
		typ, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("%s: after %d messages: %v", url, len(got), err)
		}
		var m wsMessage
		if typ != websocket.TextMessage || json.Unmarshal(b, &m) != nil {
			t.Fatalf("%s: message type %d %q is not a JSON text message", url, typ, b)
		}
		if strings.Contains(m.Data, want) {
			got = append(got, m)
		}
	}
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("%s: close: %v", url, err)
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Fatalf("%s: the server did not answer the close: %v", url, err)
			}
			return got
		}
	}
}
