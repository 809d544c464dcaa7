package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Why not github.com/docker/docker/client: since v28 it wraps its transport
// in OpenTelemetry (otelhttp, otel, slog, logr), 1.5 MB of this binary
// (measured: 16.3 MB stripped with it) for five GET endpoints, against an
// image budget of 12-16 MB. The calls below are the Engine API's documented
// ones; the multiplexed log stream was already decoded by our own frame.go.

// maxAPIVersion is the newest Engine API version this client knows (Docker
// 28.x). Against an older daemon the daemon's own version is used, as the
// Docker CLI negotiates; a daemon that names none gets the oldest, 1.24.
const (
	maxAPIVersion     = "1.51"
	fallbackVersion   = "1.24"
	defaultDockerHost = "unix:///var/run/docker.sock"
)

// APIError is a daemon answer outside 2xx, with the daemon's message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("Error response from daemon (%d): %s", e.Status, e.Message)
}

// Client is the daemon through its Engine API, configured as the Docker
// CLI is: DOCKER_HOST (unix:// or tcp://, default the local socket),
// DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) with DOCKER_TLS_VERIFY, and
// DOCKER_API_VERSION (otherwise negotiated with /_ping).
type Client struct {
	http *http.Client
	base string // scheme://host; API paths follow

	mu      sync.Mutex
	version string // "" until negotiated
}

// hostConfig is DOCKER_HOST and the TLS settings, parsed.
type hostConfig struct {
	network, addr string // "unix" + path, or "tcp" + host:port
	tls           *tls.Config
}

// NewClient connects to the daemon the environment names (lookup reads the
// run's environment) and pings it. A bad DOCKER_HOST or certificate
// returns no client; a daemon that does not answer yet returns the client
// and the error (callers retry).
func NewClient(ctx context.Context, lookup func(string) (string, bool)) (*Client, error) {
	get := func(name string) string { v, _ := lookup(name); return v }
	hc, err := parseHost(get("DOCKER_HOST"))
	if err != nil {
		return nil, err
	}
	if dir := get("DOCKER_CERT_PATH"); dir != "" && hc.network == "tcp" {
		if hc.tls, err = certPathTLS(dir, get("DOCKER_TLS_VERIFY") != ""); err != nil {
			return nil, err
		}
	}
	c := &Client{http: &http.Client{Transport: newTransport(hc)}, base: "http://docker"}
	if hc.network == "tcp" {
		c.base = "http://" + hc.addr
		if hc.tls != nil {
			c.base = "https://" + hc.addr
		}
	}
	if v := get("DOCKER_API_VERSION"); v != "" {
		c.version = strings.TrimPrefix(v, "v")
	}
	if err := c.Ping(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// parseHost reads DOCKER_HOST: unix:///path, tcp://host:port (http:// and
// https:// are taken as tcp://); empty is the local socket.
func parseHost(v string) (hostConfig, error) {
	if v == "" {
		v = defaultDockerHost
	}
	proto, addr, ok := strings.Cut(v, "://")
	switch {
	case !ok || addr == "":
	case proto == "unix":
		return hostConfig{network: "unix", addr: addr}, nil
	case proto == "tcp" || proto == "http" || proto == "https":
		u, err := url.Parse("tcp://" + addr)
		if err != nil || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			break
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "2375")
		}
		hc := hostConfig{network: "tcp", addr: host}
		if proto == "https" {
			hc.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return hc, nil
	}
	return hostConfig{}, fmt.Errorf("DOCKER_HOST %q: want unix:///path/to/docker.sock or tcp://host:port", v)
}

// certPathTLS is the Docker CLI's DOCKER_CERT_PATH: the daemon's CA and our
// client certificate; without DOCKER_TLS_VERIFY the daemon's certificate is
// not verified (the CLI's behaviour), the client certificate still sent.
func certPathTLS(dir string, verify bool) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify} //nolint:gosec // DOCKER_TLS_VERIFY unset, as the Docker CLI
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_CERT_PATH: %w", err)
	}
	conf.RootCAs = x509.NewCertPool()
	if !conf.RootCAs.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("DOCKER_CERT_PATH: %s holds no PEM certificate", filepath.Join(dir, "ca.pem"))
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, fmt.Errorf("DOCKER_CERT_PATH: %w", err)
	}
	conf.Certificates = []tls.Certificate{cert}
	return conf, nil
}

// newTransport dials the daemon. A unix socket on Linux goes through
// dialDockerUnix (polled while busy, parked while idle: see there).
func newTransport(hc hostConfig) *http.Transport {
	t := &http.Transport{
		DisableCompression: true,
		IdleConnTimeout:    90 * time.Second,
		TLSClientConfig:    hc.tls,
	}
	if hc.network == "tcp" {
		t.Proxy = http.ProxyFromEnvironment
		return t
	}
	path := hc.addr
	if pollUnix {
		idle := newIdleWaiter()
		t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialDockerUnix(ctx, path, idle)
		}
		return t
	}
	t.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	return t
}

// Ping checks the daemon answers, and negotiates the API version with the
// answer while it is not negotiated yet.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.ping(ctx)
	return err
}

// ping is Ping, returning the API version in use after it.
func (c *Client) ping(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	if err != nil {
		return "", fmt.Errorf("docker ping: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("docker ping: %w", err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return "", fmt.Errorf("docker ping: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version == "" {
		c.version = negotiate(resp.Header.Get("Api-Version"))
	}
	return c.version, nil
}

// apiVersion is the API version in use, negotiated first when no ping has
// answered yet.
func (c *Client) apiVersion(ctx context.Context) (string, error) {
	c.mu.Lock()
	v := c.version
	c.mu.Unlock()
	if v != "" {
		return v, nil
	}
	return c.ping(ctx)
}

// negotiate is the version both sides speak: the daemon's, at most ours.
func negotiate(daemon string) string {
	switch {
	case daemon == "":
		return fallbackVersion
	case versionLess(daemon, maxAPIVersion):
		return daemon
	default:
		return maxAPIVersion
	}
}

// versionLess compares "major.minor" versions numerically.
func versionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	return am < bm || am == bm && an < bn
}

func splitVersion(v string) (int, int) {
	major, minor, _ := strings.Cut(v, ".")
	m, _ := strconv.Atoi(major)
	n, _ := strconv.Atoi(minor)
	return m, n
}

// get sends GET /v<version><path>?query, negotiating the version first when
// no ping has answered yet. A status outside 2xx is an *APIError.
func (c *Client) get(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	v, err := c.apiVersion(ctx)
	if err != nil {
		return nil, err
	}
	u := c.base + "/v" + v + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if err := checkStatus(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// getJSON is get, decoding the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.get(ctx, path, query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// checkStatus turns a status outside 2xx into an *APIError carrying the
// daemon's {"message": ...} (or the body's first bytes).
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var m struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		msg = m.Message
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

// statusOf is the daemon's status in err, 0 when err is no *APIError.
func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}
