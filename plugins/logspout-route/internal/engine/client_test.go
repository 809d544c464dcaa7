package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/testcert"
)

// versionDaemon answers /_ping with the API version it speaks (none when
// empty) and records the versioned paths it is asked; it refuses a version
// newer than its own with the daemon's 400 ("client version X is too new").
type versionDaemon struct {
	version string
	mu      sync.Mutex
	paths   []string
}

func (d *versionDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d.version != "" {
		w.Header().Set("Api-Version", d.version)
	}
	if r.URL.Path == "/_ping" {
		_, _ = w.Write([]byte("OK"))
		return
	}
	d.mu.Lock()
	d.paths = append(d.paths, r.URL.Path)
	d.mu.Unlock()
	v, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v"), "/")
	if d.version != "" && versionLess(d.version, v) {
		http.Error(w, `{"message":"client version `+v+` is too new. Maximum supported API version is `+d.version+`"}`, http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte(`[]`))
}

func (d *versionDaemon) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.paths...)
}

// TestClientNegotiatesTheAPIVersionAsTheCLI: the daemon's version when it is
// older than ours, ours when it is newer, 1.24 when it names none, and
// DOCKER_API_VERSION as given.
func TestClientNegotiatesTheAPIVersionAsTheCLI(t *testing.T) {
	t.Parallel()
	cases := []struct{ daemon, env, want string }{
		{daemon: "1.41", want: "/v1.41/containers/json"},
		{daemon: "1.9", want: "/v1.9/containers/json"},
		{daemon: "1.99", want: "/v" + maxAPIVersion + "/containers/json"},
		{daemon: "", want: "/v1.24/containers/json"},
		{daemon: "1.45", env: "1.43", want: "/v1.43/containers/json"},
	}
	for _, c := range cases {
		d := &versionDaemon{version: c.daemon}
		srv := httptest.NewServer(d)
		env := map[string]string{"DOCKER_HOST": "tcp://" + srv.Listener.Addr().String(), "DOCKER_API_VERSION": c.env}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		eng, err := NewClient(ctx, envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.ListContainers(ctx); err != nil {
			t.Errorf("daemon %q, DOCKER_API_VERSION %q: %v", c.daemon, c.env, err)
		}
		if got := d.asked(); len(got) != 1 || got[0] != c.want {
			t.Errorf("daemon %q, DOCKER_API_VERSION %q: asked %v, want %s", c.daemon, c.env, got, c.want)
		}
		cancel()
		srv.Close()
	}
}

// TestClientNegotiatesWhenTheDaemonComesUpLater: a client made while the
// daemon was down negotiates at its first call.
func TestClientNegotiatesWhenTheDaemonComesUpLater(t *testing.T) {
	t.Parallel()
	d := &versionDaemon{version: "1.41"}
	srv := httptest.NewUnstartedServer(d)
	addr := srv.Listener.Addr().String()
	// Not serving yet: the ping is accepted by the kernel and never answered.
	early, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	eng, err := NewClient(early, envOf(map[string]string{"DOCKER_HOST": "tcp://" + addr}))
	if eng == nil || err == nil {
		t.Fatalf("NewClient with the daemon not answering = %v, %v: want the client and an error", eng, err)
	}
	srv.Start()
	defer srv.Close()
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := eng.ListContainers(ctx); err != nil {
		t.Fatal(err)
	}
	if got := d.asked(); len(got) != 1 || got[0] != "/v1.41/containers/json" {
		t.Errorf("asked %v, want /v1.41/containers/json", got)
	}
}

// TestUnreadableDriverIsRecognised: the daemon's 501 for a log driver that
// cannot be read back, as dockerd words it.
func TestUnreadableDriverIsRecognised(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		if r.URL.Path == "/_ping" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotImplemented)
		_, _ = w.Write([]byte(`{"message":"configured logging driver does not support reading"}` + "\n"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng, err := NewClient(ctx, envOf(map[string]string{"DOCKER_HOST": "tcp://" + srv.Listener.Addr().String()}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Logs(ctx, "abc", LogsOptions{})
	if !IsUnreadable(err) || !strings.Contains(err.Error(), "does not support reading") {
		t.Errorf("Logs of a container on driver none: %v; want IsUnreadable with the daemon's message", err)
	}
	if IsUnreadable(&APIError{Status: http.StatusInternalServerError, Message: "boom"}) {
		t.Error("a 500 taken for an unreadable driver")
	}
}

// TestClientUsesDockerCertPath: a daemon on TCP that demands a client
// certificate (dockerd --tlsverify) is reached with DOCKER_CERT_PATH's
// ca.pem, cert.pem and key.pem; DOCKER_TLS_VERIFY checks the daemon's
// certificate against ca.pem.
func TestClientUsesDockerCertPath(t *testing.T) {
	t.Parallel()
	pki, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := tlsDaemon(t, pki)
	certDir := t.TempDir()
	for from, to := range map[string]string{pki.CA: "ca.pem", pki.ClientCert: "cert.pem", pki.ClientKey: "key.pem"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, to), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host := "tcp://" + srv.Listener.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, verify := range []string{"1", ""} {
		eng, err := NewClient(ctx, envOf(map[string]string{"DOCKER_HOST": host, "DOCKER_CERT_PATH": certDir, "DOCKER_TLS_VERIFY": verify}))
		if err != nil {
			t.Fatalf("DOCKER_TLS_VERIFY=%q: %v", verify, err)
		}
		if _, err := eng.ListContainers(ctx); err != nil {
			t.Errorf("DOCKER_TLS_VERIFY=%q: list: %v", verify, err)
		}
	}
	if _, err := NewClient(ctx, envOf(map[string]string{"DOCKER_HOST": host})); err == nil {
		t.Error("a TLS daemon answered a client without DOCKER_CERT_PATH")
	}
	if _, err := NewClient(ctx, envOf(map[string]string{"DOCKER_HOST": host, "DOCKER_CERT_PATH": t.TempDir()})); err == nil || !strings.Contains(err.Error(), "DOCKER_CERT_PATH") {
		t.Errorf("DOCKER_CERT_PATH without its files: %v, want an error naming it", err)
	}
}

// tlsDaemon is an Engine API 1.41 on TLS that requires a client certificate
// signed by pki's CA.
func tlsDaemon(t *testing.T, pki testcert.Files) *httptest.Server {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	srv := httptest.NewUnstartedServer(&versionDaemon{version: "1.41"})
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
