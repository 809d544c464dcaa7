package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startRsyslog runs Debian's rsyslogd in the foreground with its own config
// and pid file, receiving on a 127.0.0.1 TCP port, writing
// "app-name|hostname|procid|msg" per message to the returned file.
func startRsyslog(t *testing.T) (addr, out string) {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsyslogd not installed (scripts/ensure-rsyslog installs it)")
		}
		t.Skip("rsyslogd not installed (scripts/ensure-rsyslog installs it)")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	out = filepath.Join(dir, "out.log")
	conf := filepath.Join(dir, "rsyslog.conf")
	cfg := fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
template(name="t" type="string" string="%%app-name%%|%%hostname%%|%%procid%%|%%msg%%\n")
ruleset(name="r") { action(type="omfile" file=%q template="t" flushOnTXEnd="on" asyncWriting="off") }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="r")
`, dir, out, port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd:\n%s", logs.String())
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, out
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSyslogRFC5424ToRsyslog(t *testing.T) {
	r := newTestRun(t)
	addr, out := startRsyslog(t)
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("syslog+tcp", addr, r.filter()+"&append_tag=.web")})
	waitHealthy(t, p.addr)
	const n = 100
	r.start("sys", nil, "-n", fmt.Sprint(n), "-prefix", r.prefix("sys"), "-stderr-every", "10")
	var lines []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if strings.Count(string(b), r.prefix("sys")+" ") >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	seen := map[string]bool{}
	tag := "lsr-sys-" + r.suffix + ".web"
	for _, l := range lines {
		parts := strings.SplitN(l, "|", 4)
		if len(parts) != 4 || !strings.HasPrefix(parts[3], r.prefix("sys")+" ") {
			continue
		}
		if parts[0] != tag || parts[1] == "" || parts[2] == "" {
			t.Fatalf("rsyslog parsed %q: want app-name %q, a hostname and a procid", l, tag)
		}
		if seen[parts[3]] {
			t.Fatalf("duplicate: %q", parts[3])
		}
		seen[parts[3]] = true
	}
	if len(seen) != n {
		t.Fatalf("rsyslog got %d of %d messages", len(seen), n)
	}
}
