// Package httpx builds the one HTTP client every Lightship plugin uses:
// timeouts, retries with backoff, custom CAs, proxy from the environment,
// and no cookie jar (Harbor's CSRF cookies must never be kept).
package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// Timeout bounds one attempt, headers and body included (default 30s).
	Timeout time.Duration
	// Retries is how many times a failed attempt is repeated (default 3; -1 for none).
	Retries int
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults 200ms, 10s).
	MinBackoff, MaxBackoff time.Duration
	// SkipVerify turns off TLS certificate checks.
	SkipVerify bool
	// CACert is a PEM bundle, or the path of one, trusted besides the system roots.
	CACert string
	// UserAgent is sent with every request (default "lightship").
	UserAgent string
}

// Client is an HTTP client with retries. Use New.
type Client struct {
	http *http.Client
	opts Options
}

// New returns a Client configured by o.
func New(o Options) (*Client, error) {
	o = o.withDefaults()
	tr, err := transport(o)
	if err != nil {
		return nil, err
	}
	return &Client{http: &http.Client{Transport: tr, Timeout: o.Timeout}, opts: o}, nil
}

// HTTP returns the underlying client (no retries) for libraries that need one.
func (c *Client) HTTP() *http.Client { return c.http }

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "lightship"
	}
	return o
}

func transport(o Options) (*http.Transport, error) {
	tlsConf, err := TLSConfig(o.SkipVerify, o.CACert)
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}, nil
}

// TLSConfig returns a TLS configuration trusting the system roots plus
// caCert (PEM text or a file path), or skipping verification.
func TLSConfig(skipVerify bool, caCert string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // the user's setting
	if caCert == "" {
		return conf, nil
	}
	pem, err := PEMOrFile(caCert)
	if err != nil {
		return nil, fmt.Errorf("ca_cert: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_cert: no PEM certificate found")
	}
	conf.RootCAs = pool
	return conf, nil
}

// PEMOrFile is v itself when it holds PEM text, else the content of the
// file v names (settings such as ca_cert take either).
func PEMOrFile(v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("neither PEM text nor a readable file: %w", err)
	}
	return b, nil
}
