package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fast keeps retry waits short so tests stay quick.
var fast = Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 5 * time.Second}

// recorder is a test server that answers from a script and records what it
// received; the test goroutine reads the records after the call.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
	answer   func(n int, w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	Method, Path, Query, UserAgent, Cookie, ContentType, Accept string
	Body                                                        []byte
}

func newRecorder(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{answer: answer}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.requests = append(rec.requests, recorded{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, UserAgent: r.UserAgent(),
		Cookie: r.Header.Get("Cookie"), ContentType: r.Header.Get("Content-Type"), Accept: r.Header.Get("Accept"), Body: body,
	})
	n := len(rec.requests)
	rec.mu.Unlock()
	rec.answer(n, w, r)
}

func (rec *recorder) got() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.requests...)
}

func mustNew(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failTimes answers status for the first n requests, then 200 with body.
func failTimes(n, status int, body string) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i <= n {
			http.Error(w, "try again", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	for _, status := range []int{500, 502, 503, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			rec, srv := newRecorder(t, failTimes(2, status, `{"ok":true}`))
			var out struct{ OK bool }
			err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL + "/v", Out: &out})
			if err != nil || !out.OK {
				t.Fatalf("DoJSON = %v, out %+v", err, out)
			}
			if n := len(rec.got()); n != 3 {
				t.Fatalf("%d requests, want 3", n)
			}
		})
	}
}

func TestGivesUpAfterRetries(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(100, 503, ""))
	o := fast
	o.Retries = 2
	err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("err = %v, want a 503 StatusError", err)
	}
	if n := len(rec.got()); n != 3 {
		t.Fatalf("%d requests, want 1 + 2 retries", n)
	}
}

func TestNoRetriesWhenDisabled(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(100, 500, ""))
	o := fast
	o.Retries = -1
	if err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL}); err == nil {
		t.Fatal("want an error")
	}
	if n := len(rec.got()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409} {
		rec, srv := newRecorder(t, failTimes(100, status, ""))
		err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL})
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != status {
			t.Fatalf("%d: err = %v", status, err)
		}
		if n := len(rec.got()); n != 1 {
			t.Fatalf("%d: %d requests, want 1", status, n)
		}
	}
}

func TestPostNotRetriedUnlessAllowed(t *testing.T) {
	payload := map[string]any{"msgtype": "text", "text": map[string]string{"content": "héllo"}}
	tests := []struct {
		name      string
		call      func(c *Client, url string) error
		wantCount int
	}{
		{"DoJSON POST", func(c *Client, url string) error {
			return c.DoJSON(context.Background(), Request{Method: http.MethodPost, URL: url, In: payload})
		}, 1},
		{"DoJSON POST Retry", func(c *Client, url string) error {
			return c.DoJSON(context.Background(), Request{Method: http.MethodPost, URL: url, In: payload, Retry: true})
		}, 3},
		{"DoJSON PATCH", func(c *Client, url string) error {
			return c.DoJSON(context.Background(), Request{Method: http.MethodPatch, URL: url, In: payload})
		}, 1},
		{"DoJSON PUT", func(c *Client, url string) error {
			return c.DoJSON(context.Background(), Request{Method: http.MethodPut, URL: url, In: payload})
		}, 3},
		{"Do POST Retryable", func(c *Client, url string) error {
			b, _ := json.Marshal(payload)
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
			if err != nil {
				return err
			}
			resp, err := c.Do(Retryable(req))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorder(t, failTimes(2, 500, `{}`))
			err := tt.call(mustNew(t, fast), srv.URL+"/send?key=k")
			got := rec.got()
			if len(got) != tt.wantCount {
				t.Fatalf("%d requests, want %d (err %v)", len(got), tt.wantCount, err)
			}
			if (tt.wantCount == 3) != (err == nil) {
				t.Fatalf("err = %v with %d requests", err, len(got))
			}
			want, _ := json.Marshal(payload)
			for i, r := range got {
				if !bytes.Equal(r.Body, want) {
					t.Errorf("request %d body %q, want %q (re-sent identically)", i, r.Body, want)
				}
			}
		})
	}
}

func TestUnrewindableBodyIsNotRetried(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(100, 503, ""))
	req, err := http.NewRequest(http.MethodPut, srv.URL, io.NopCloser(strings.NewReader("once")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := mustNew(t, fast).Do(req)
	if err != nil {
		t.Fatalf("Do = %v, want the 503 answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || len(rec.got()) != 1 {
		t.Fatalf("status %d after %d requests, want 503 after 1", resp.StatusCode, len(rec.got()))
	}
}

func TestRetriesDroppedConnection(t *testing.T) {
	rec, srv := newRecorder(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		_, _ = io.WriteString(w, `"fine"`)
	})
	var out string
	if err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL, Out: &out}); err != nil || out != "fine" {
		t.Fatalf("DoJSON = %v, %q", err, out)
	}
	if n := len(rec.got()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{"-4", 0, true},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(tt.header, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
	resp := &http.Response{Header: http.Header{"Retry-After": {"4"}}}
	if d, ok := retryAfterOf(&retryStatus{resp: resp}); d != 4*time.Second || !ok {
		t.Errorf("wait with Retry-After 4 = %v", d)
	}
	if _, ok := retryAfterOf(errors.New("x")); ok {
		t.Error("a wait from an error without an answer")
	}
}

func Test429WithRetryAfterThenSuccess(t *testing.T) {
	rec, srv := newRecorder(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	// MaxBackoff caps the one-second Retry-After so the test stays fast.
	if err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.got()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestStallTimesOutBounded(t *testing.T) {
	release := make(chan struct{})
	rec, srv := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	o := fast
	o.Timeout = 100 * time.Millisecond
	o.Retries = 1
	start := time.Now()
	err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL})
	elapsed := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := len(rec.got()); n != 2 {
		t.Fatalf("%d requests, want 2 (one retry)", n)
	}
	// Generous bound: two 100ms attempts, not the server's forever.
	if elapsed > 10*time.Second {
		t.Fatalf("stalled call took %v", elapsed)
	}
}

func TestStallThenRecover(t *testing.T) {
	rec, srv := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, `{"v":1}`)
	})
	o := fast
	o.Timeout = 100 * time.Millisecond
	var out struct{ V int }
	if err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL, Out: &out}); err != nil || out.V != 1 {
		t.Fatalf("DoJSON = %v, %+v", err, out)
	}
	if n := len(rec.got()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	first := make(chan struct{}, 1)
	rec, srv := newRecorder(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		select {
		case first <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-first
		cancel()
	}()
	// Long waits between attempts: only the cancel can end this call soon.
	c := mustNew(t, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour, Retries: 5})
	err := c.DoJSON(ctx, Request{Method: http.MethodGet, URL: srv.URL})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(rec.got()); n != 1 {
		t.Fatalf("%d requests after cancel, want 1", n)
	}
}

func TestCancelledContextBeforeCall(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(0, 200, `{}`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mustNew(t, fast).DoJSON(ctx, Request{Method: http.MethodGet, URL: srv.URL})
	if !errors.Is(err, context.Canceled) || len(rec.got()) != 0 {
		t.Fatalf("err %v after %d requests", err, len(rec.got()))
	}
}

func TestNoCookieJar(t *testing.T) {
	rec, srv := newRecorder(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "_gorilla_csrf", Value: "tok", Path: "/"})
		w.Header().Set("X-Harbor-Csrf-Token", "tok")
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	})
	c := mustNew(t, fast)
	for range 2 {
		if err := c.DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL + "/api/v2.0/projects"}); err != nil {
			t.Fatal(err)
		}
	}
	got := rec.got()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, r := range got {
		if r.Cookie != "" {
			t.Errorf("request %d sent Cookie %q: the client keeps cookies", i, r.Cookie)
		}
	}
	if c.HTTP().Jar != nil {
		t.Error("HTTP() has a cookie jar")
	}
}

func TestUserAgentAndJSONHeaders(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(0, 200, `{}`))
	for _, ua := range []string{"", "lightship-wechat-notify/1.0.0"} {
		o := fast
		o.UserAgent = ua
		if err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodPost, URL: srv.URL, In: map[string]int{"a": 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL, Header: http.Header{"X-Extra": {"1"}}}); err != nil {
		t.Fatal(err)
	}
	got := rec.got()
	if got[0].UserAgent != "lightship" || got[1].UserAgent != "lightship-wechat-notify/1.0.0" {
		t.Fatalf("User-Agents %q, %q", got[0].UserAgent, got[1].UserAgent)
	}
	if got[0].ContentType != "application/json" || got[0].Accept != "application/json" {
		t.Fatalf("POST headers: content-type %q accept %q", got[0].ContentType, got[0].Accept)
	}
	if got[2].ContentType != "" || got[2].Accept != "application/json" || len(got[2].Body) != 0 {
		t.Fatalf("GET without body: content-type %q accept %q body %q", got[2].ContentType, got[2].Accept, got[2].Body)
	}
}

func TestStatusErrorCarriesStatusBodyAndCleanURL(t *testing.T) {
	long := strings.Repeat("x", 5000)
	_, srv := newRecorder(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"errcode":60020,"errmsg":"not allow to access from your ip"}`+long)
	})
	u := strings.Replace(srv.URL, "http://", "http://user:pw@", 1) + "/cgi-bin/message/send?access_token=TOKEN-canary"
	err := mustNew(t, fast).DoJSON(context.Background(), Request{Method: http.MethodPost, URL: u, In: []byte(`{}`)})
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *StatusError", err)
	}
	if se.StatusCode != 403 || se.Method != http.MethodPost {
		t.Fatalf("status %d method %s", se.StatusCode, se.Method)
	}
	if se.URL != srv.URL+"/cgi-bin/message/send" {
		t.Fatalf("URL %q: want no query and no user info", se.URL)
	}
	if !bytes.HasPrefix(se.Body, []byte(`{"errcode":60020`)) || len(se.Body) != 4096 {
		t.Fatalf("body (%d bytes) %.60q", len(se.Body), se.Body)
	}
	msg := err.Error()
	if strings.Contains(msg, "TOKEN-canary") || strings.Contains(msg, "pw@") {
		t.Fatalf("error leaks the query or password: %s", msg)
	}
	if !strings.Contains(msg, "Forbidden") || !strings.Contains(msg, "60020") {
		t.Fatalf("error lacks status or body: %s", msg)
	}
}

func TestDoJSONBodies(t *testing.T) {
	_, srv := newRecorder(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/bad":
			_, _ = io.WriteString(w, `{"id":`)
		default:
			_, _ = io.WriteString(w, `{"id":"1s42","state":"active"}`)
		}
	})
	c := mustNew(t, fast)
	ctx := context.Background()
	var raw []byte
	if err := c.DoJSON(ctx, Request{Method: http.MethodGet, URL: srv.URL + "/x", Out: &raw}); err != nil || string(raw) != `{"id":"1s42","state":"active"}` {
		t.Fatalf("raw: %v %q", err, raw)
	}
	var v struct{ ID, State string }
	if err := c.DoJSON(ctx, Request{Method: http.MethodGet, URL: srv.URL + "/empty", Out: &v}); err != nil || v.ID != "" {
		t.Fatalf("empty: %v %+v", err, v)
	}
	err := c.DoJSON(ctx, Request{Method: http.MethodGet, URL: srv.URL + "/bad?token=q", Out: &v})
	if err == nil || !strings.Contains(err.Error(), "decode answer") || strings.Contains(err.Error(), "token=q") {
		t.Fatalf("bad JSON: %v", err)
	}
	if err := c.DoJSON(ctx, Request{Method: http.MethodPost, URL: srv.URL, In: func() {}}); err == nil || !strings.Contains(err.Error(), "encode POST body") {
		t.Fatalf("unencodable body: %v", err)
	}
	if err := c.DoJSON(ctx, Request{Method: "BAD METHOD", URL: srv.URL}); err == nil {
		t.Fatal("bad method accepted")
	}
}

func TestDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Timeout != 30*time.Second || o.Retries != 3 || o.MinBackoff != 200*time.Millisecond || o.MaxBackoff != 10*time.Second || o.UserAgent != "lightship" {
		t.Fatalf("defaults %+v", o)
	}
	if (Options{Retries: -1}).withDefaults().Retries != 0 {
		t.Fatal("Retries -1 should mean none")
	}
	c := mustNew(t, Options{})
	tr := c.HTTP().Transport.(*http.Transport)
	if tr.Proxy == nil {
		t.Fatal("no proxy from the environment")
	}
	if c.HTTP().Timeout != 30*time.Second {
		t.Fatalf("client timeout %v", c.HTTP().Timeout)
	}
}

// tlsServer is an httptest TLS server whose handshake errors are not logged
// to the test output; conns counts accepted connections.
func tlsServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"tls":true}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func certPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

func TestTLS(t *testing.T) {
	srv, conns := tlsServer(t)
	pemText := certPEM(srv)
	pemPath := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(pemPath, []byte(pemText), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		skipVerify bool
		ca         string
		wantErr    bool
	}{
		{"ca_cert as PEM text", false, pemText, false},
		{"ca_cert as path", false, pemPath, false},
		{"skip_verify", true, "", false},
		{"untrusted", false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := conns.Load()
			o := fast
			o.SkipVerify, o.CACert = tt.skipVerify, tt.ca
			var out struct{ TLS bool }
			err := mustNew(t, o).DoJSON(context.Background(), Request{Method: http.MethodGet, URL: srv.URL, Out: &out})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("err = %v, want a certificate error", err)
				}
				// A certificate that does not verify is not retried.
				if n := conns.Load() - before; n != 1 {
					t.Fatalf("%d connections, want 1", n)
				}
				return
			}
			if err != nil || !out.TLS {
				t.Fatalf("DoJSON = %v, %+v", err, out)
			}
		})
	}
}

func TestBadCACert(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string]string{
		"missing path":       filepath.Join(dir, "absent.pem"),
		"file without PEM":   notPEM,
		"broken PEM text":    "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
		"PEM of another key": "-----BEGIN GARBAGE-----\n-----END GARBAGE-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(Options{CACert: ca}); err == nil || !strings.Contains(err.Error(), "ca_cert") {
				t.Fatalf("New = %v, want a ca_cert error", err)
			}
		})
	}
	if _, err := New(Options{CACert: filepath.Join(dir, "absent.pem")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file error %v should wrap os.ErrNotExist", err)
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	c := mustNew(t, Options{MinBackoff: time.Hour, MaxBackoff: time.Hour})
	// Would wait an hour between attempts if it retried.
	err := c.DoJSON(context.Background(), Request{Method: http.MethodGet, URL: "ftp://127.0.0.1/x"})
	if err == nil || !strings.Contains(err.Error(), "unsupported protocol scheme") {
		t.Fatalf("err = %v", err)
	}
}

func TestCallerUserAgentKept(t *testing.T) {
	rec, srv := newRecorder(t, failTimes(0, 200, `{}`))
	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "docker/20.10 (lightship)")
	resp, err := mustNew(t, fast).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ua := rec.got()[0].UserAgent; ua != "docker/20.10 (lightship)" {
		t.Fatalf("User-Agent %q: the caller's was replaced", ua)
	}
}
