// Package buildkitd gives tests a real buildkitd: the machine's shared one
// (started by scripts/ensure-buildkitd), or a fresh one with its own state
// directory, optionally serving TLS with client certificates (mTLS). With
// CI=true a test that cannot get one fails; elsewhere it skips.
package buildkitd

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/testcert"
)

// SharedSocket is where scripts/ensure-buildkitd's daemon listens.
const SharedSocket = "/run/lightship-buildkitd/buildkitd.sock"

// startWait bounds how long a fresh buildkitd may take to listen.
const startWait = 60 * time.Second

// Shared returns the address of the machine's buildkitd: BUILDKIT_HOST
// when set, else unix://SharedSocket.
func Shared(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("BUILDKIT_HOST")
	if addr == "" {
		addr = "unix://" + SharedSocket
	}
	if err := dial(addr); err != nil {
		unavailable(t, fmt.Errorf("no buildkitd at %s: %w", addr, err))
	}
	return addr
}

// Options configure a fresh daemon.
type Options struct {
	// TLS serves tcp://127.0.0.1:<port> with a fresh CA and demands a
	// client certificate signed by it; otherwise a unix socket is served.
	TLS bool
}

// Daemon is a buildkitd this test started; it is stopped and its state
// removed when the test ends.
type Daemon struct {
	// Addr is unix:///... or tcp://127.0.0.1:<port>.
	Addr string
	// Root is the state directory (its own cache: nothing is shared).
	Root string
	// CACert, ClientCert and ClientKey are PEM files (TLS only).
	CACert, ClientCert, ClientKey string
	// Log is buildkitd's output file.
	Log string
}

// Start runs a fresh buildkitd as root with the snapshotter of
// BUILDKITD_SNAPSHOTTER (default overlayfs) and waits until it listens.
func Start(t testing.TB, o Options) *Daemon {
	t.Helper()
	bin, err := binary()
	if err != nil {
		unavailable(t, err)
	}
	if os.Geteuid() != 0 {
		unavailable(t, errors.New("buildkitd needs root here"))
	}
	root, err := os.MkdirTemp("", "lightship-buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Root: root, Log: filepath.Join(root, "buildkitd.log")}
	args := []string{"--root", filepath.Join(root, "state"), "--oci-worker-snapshotter", snapshotter()}
	if o.TLS {
		tlsArgs, err := d.listenTLS()
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, tlsArgs...)
	} else {
		d.Addr = "unix://" + filepath.Join(root, "buildkitd.sock")
		args = append(args, "--addr", d.Addr)
	}
	logf, err := os.Create(d.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { d.stop(t, cmd, exited) })
	if err := waitListening(d.Addr, exited); err != nil {
		t.Fatalf("buildkitd: %v; its log:\n%s", err, tail(d.Log))
	}
	return d
}

func (d *Daemon) listenTLS() ([]string, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d.Addr = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	files, err := testcert.Write(d.Root)
	if err != nil {
		return nil, err
	}
	d.CACert, d.ClientCert, d.ClientKey = files.CA, files.ClientCert, files.ClientKey
	return []string{"--addr", d.Addr, "--tlscacert", files.CA, "--tlscert", files.ServerCert, "--tlskey", files.ServerKey}, nil
}

// stop ends the daemon (TERM, then KILL) and removes its state; mounts it
// left behind are unmounted first.
func (d *Daemon) stop(t testing.TB, cmd *exec.Cmd, exited chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	unmountUnder(d.Root)
	if err := os.RemoveAll(d.Root); err != nil {
		t.Errorf("remove buildkitd state %s: %v", d.Root, err)
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			_ = syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

func binary() (string, error) {
	if p, err := exec.LookPath("buildkitd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/local/bin/buildkitd"); err == nil {
		return "/usr/local/bin/buildkitd", nil
	}
	return "", errors.New("buildkitd not installed (scripts/ensure-buildkitd builds it)")
}

func snapshotter() string {
	if s := os.Getenv("BUILDKITD_SNAPSHOTTER"); s != "" {
		return s
	}
	return "overlayfs"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dial checks that something listens at a unix:// or tcp:// address.
func dial(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return err
	}
	network, target := "tcp", u.Host
	if u.Scheme == "unix" {
		network, target = "unix", u.Path
	}
	c, err := net.DialTimeout(network, target, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func waitListening(addr string, exited chan error) error {
	deadline := time.Now().Add(startWait)
	for {
		err := dial(addr)
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			exited <- werr
			return fmt.Errorf("exited before listening: %w", werr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening at %s after %s: %w", addr, startWait, err)
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("buildkitd unavailable (scripts/ensure-buildkitd installs and starts one): %v", err)
	}
	t.Skipf("buildkitd unavailable (scripts/ensure-buildkitd installs and starts one): %v", err)
}
