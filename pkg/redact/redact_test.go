package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// canary is a secret with characters that URL-escaping, base64, %q and JSON
// all change, so each form differs from the raw value.
const canary = `Ca<n>ary&s3cr"et/+= \x`

func TestScrubForms(t *testing.T) {
	r := New()
	r.Add(canary)
	quoted := fmt.Sprintf("%q", canary)
	jsonHTML, _ := json.Marshal(canary)
	var jsonPlain bytes.Buffer
	enc := json.NewEncoder(&jsonPlain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(canary)
	tests := []struct {
		name, form string
	}{
		{"raw", canary},
		{"query escaped", url.QueryEscape(canary)},
		{"path escaped", url.PathEscape(canary)},
		{"base64 std", base64.StdEncoding.EncodeToString([]byte(canary))},
		{"base64 url", base64.URLEncoding.EncodeToString([]byte(canary))},
		{"base64 raw std", base64.RawStdEncoding.EncodeToString([]byte(canary))},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString([]byte(canary))},
		{"go quoted", quoted},
		{"json html escaped", string(jsonHTML)},
		{"json plain", strings.TrimSpace(jsonPlain.String())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "before " + tt.form + " after"
			got := r.Scrub(in)
			if strings.Contains(got, tt.form) {
				t.Fatalf("Scrub(%q) = %q: form still present", in, got)
			}
			if !strings.Contains(got, Mask) || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
				t.Fatalf("Scrub(%q) = %q: want the form replaced by %s and the rest kept", in, got, Mask)
			}
		})
	}
}

func TestScrubLongestFirst(t *testing.T) {
	r := New()
	// The short secret is a prefix and a substring of the long one: masking
	// it first would leave "******-extension" behind.
	r.Add("token", "token-extension", "xtoken-extensionx")
	tests := []struct{ in, want string }{
		{"a token-extension b", "a ****** b"},
		{"a token b", "a ****** b"},
		{"xtoken-extensionx", "******"},
		{"token token-extension", "****** ******"},
	}
	for _, tt := range tests {
		if got := r.Scrub(tt.in); got != tt.want {
			t.Errorf("Scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAddIgnoresEmpty(t *testing.T) {
	r := New()
	r.Add("", "   ", "\n")
	const in = "nothing to hide here"
	if got := r.Scrub(in); got != in {
		t.Fatalf("empty secret masked something: %q", got)
	}
	r.Add("  padded  ")
	if got := r.Scrub("x padded y"); got != "x ****** y" {
		t.Fatalf("trimmed secret not masked: %q", got)
	}
}

func TestNilRedactorScrubIsIdentity(t *testing.T) {
	var r *Redactor
	if got := r.Scrub("abc"); got != "abc" {
		t.Fatalf("nil Scrub = %q", got)
	}
}

func TestMultiLineSecretMaskedPerLine(t *testing.T) {
	key := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"
	r := New()
	r.Add(key)
	if got := r.Scrub("key: " + key); strings.Contains(got, "MIIEvQ") {
		t.Fatalf("whole key not masked: %q", got)
	}
	// A printer that handles one line at a time sees only a piece.
	if got := r.Scrub("line: AQEFAASCBKcwggSjAgEAAoIB"); got != "line: ******" {
		t.Fatalf("single key line not masked: %q", got)
	}
	// Short lines of the key are not masked on their own.
	if got := r.Scrub("}"); got != "}" {
		t.Fatalf("short line masked: %q", got)
	}
}

func TestErrorWrapsChain(t *testing.T) {
	r := New()
	r.Add(canary)
	base := errors.New("backend refused")
	wrapped := fmt.Errorf("login with %s: %w", canary, base)
	wrapped = fmt.Errorf("push image: %w", wrapped)
	err := r.Error(wrapped)
	if strings.Contains(err.Error(), canary) {
		t.Fatalf("error leaks the secret: %q", err)
	}
	if want := "push image: login with ******: backend refused"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err, want)
	}
	if !errors.Is(err, base) {
		t.Fatal("errors.Is lost the chain")
	}
	if !IsScrubbed(err) || IsScrubbed(wrapped) {
		t.Fatal("IsScrubbed wrong")
	}
	if r.Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	var ue *url.Error
	uerr := r.Error(fmt.Errorf("call: %w", &url.Error{Op: "Get", URL: "http://h/?k=" + canary, Err: io.EOF}))
	if !errors.As(uerr, &ue) || !errors.Is(uerr, io.EOF) {
		t.Fatal("errors.As/Is through a scrubbed url.Error failed")
	}
}

// TestNetHTTPErrorWithSecretInQuery makes a real request whose URL carries
// the secret in its query string to a server that drops the connection:
// net/http puts the whole URL into the error.
func TestNetHTTPErrorWithSecretInQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()

	r := New()
	r.Add(canary)
	u := srv.URL + "/cgi-bin/gettoken?" + url.Values{"corpsecret": {canary}, "corpid": {"ww1"}}.Encode()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("want an error from a dropped connection")
	}
	if !strings.Contains(err.Error(), url.QueryEscape(canary)) {
		t.Fatalf("precondition: net/http error should carry the escaped secret: %v", err)
	}
	for name, out := range map[string]string{
		"Scrub":   r.Scrub(err.Error()),
		"Error":   r.Error(err).Error(),
		"wrapped": r.Error(fmt.Errorf("get token: %w", err)).Error(),
	} {
		if strings.Contains(out, url.QueryEscape(canary)) || strings.Contains(out, canary) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, "corpsecret="+Mask) {
			t.Errorf("%s: want the query value masked, got %s", name, out)
		}
	}
}

func TestWriterSecretSplitAcrossWrites(t *testing.T) {
	r := New()
	r.Add("hunter2-canary")
	var out bytes.Buffer
	w := r.Writer(&out)
	for _, p := range []string{"password is hun", "ter2-can", "ary\nnext ", "line hunter2-canary", "\n", "tail hunter2"} {
		n, err := io.WriteString(w, p)
		if err != nil || n != len(p) {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if got := out.String(); got != "password is ******\nnext line ******\n" {
		t.Fatalf("before Flush: %q", got)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "password is ******\nnext line ******\ntail hunter2" {
		t.Fatalf("after Flush: %q", got)
	}
	// Flush with nothing held writes nothing.
	if err := w.Flush(); err != nil || out.Len() != len("password is ******\nnext line ******\ntail hunter2") {
		t.Fatalf("second Flush wrote: %q, %v", out.String(), err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriterReportsWriteErrors(t *testing.T) {
	w := New().Writer(failingWriter{})
	if _, err := w.Write([]byte("line\n")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write error = %v, want os.ErrClosed", err)
	}
	_, _ = w.Write([]byte("partial"))
	if err := w.Flush(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Flush error = %v, want os.ErrClosed", err)
	}
}

type stringerSecret struct{ v string }

func (s stringerSecret) String() string { return "stringer:" + s.v }

type structSecret struct {
	User, Password string
}

// TestHookAtDebug logs the canary at debug level through message, fields of
// every kind and WithError, with both formatters, and checks the output.
func TestHookAtDebug(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			r := New()
			r.Add(canary)
			var raw bytes.Buffer
			log := logrus.New()
			log.SetOutput(&raw)
			log.SetLevel(logrus.DebugLevel)
			log.AddHook(Hook{R: r})
			if format == "json" {
				log.SetFormatter(&logrus.JSONFormatter{})
			} else {
				log.SetFormatter(&logrus.TextFormatter{DisableColors: true, DisableTimestamp: true})
			}
			log.WithFields(logrus.Fields{
				"token":    canary,
				"bytes":    []byte(canary),
				"stringer": stringerSecret{canary},
				"struct":   structSecret{"u", canary},
				"pointer":  &structSecret{"u", canary},
				"list":     []string{"a", canary},
				"count":    3,
				"ok":       true,
				"none":     nil,
			}).WithError(fmt.Errorf("auth %s: %w", canary, io.EOF)).Debugf("sending %s to %s", canary, "harbor")
			log.Debug("plain ", canary)
			log.Infof("query %s", url.QueryEscape(canary))

			out := raw.String()
			assertNoCanary(t, out)
			if !strings.Contains(out, "sending "+Mask+" to harbor") {
				t.Errorf("message not kept around the mask:\n%s", out)
			}
			if format == "json" {
				// Numbers and booleans keep their JSON types.
				line, _, _ := strings.Cut(out, "\n")
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("json line: %v\n%s", err, line)
				}
				if m["count"] != float64(3) || m["ok"] != true || m["token"] != Mask {
					t.Errorf("fields: count=%v ok=%v token=%v", m["count"], m["ok"], m["token"])
				}
				if m["error"] != "auth "+Mask+": EOF" {
					t.Errorf("error field = %v", m["error"])
				}
			}
		})
	}
}

// assertNoCanary fails when out holds the canary in any form a formatter or
// encoder may give it.
func assertNoCanary(t *testing.T, out string) {
	t.Helper()
	quoted := fmt.Sprintf("%q", canary)
	jsonForm, _ := json.Marshal(canary)
	for _, form := range []string{
		canary, quoted[1 : len(quoted)-1], string(jsonForm[1 : len(jsonForm)-1]),
		url.QueryEscape(canary), base64.StdEncoding.EncodeToString([]byte(canary)),
		"Ca<n>ary", `Ca\u003cn\u003eary`, `s3cr\"et`, "s3cr",
	} {
		if strings.Contains(out, form) {
			t.Fatalf("output holds the canary as %q:\n%s", form, out)
		}
	}
}

func TestHookConcurrentWithAdd(t *testing.T) {
	r := New()
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(Hook{R: r})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			r.Add(fmt.Sprintf("secret-%d", i))
		}
	}()
	for i := range 200 {
		log.WithField("k", fmt.Sprintf("secret-%d", i)).Info("x")
	}
	<-done
	if got := r.Scrub("secret-199"); got != Mask {
		t.Fatalf("Scrub = %q", got)
	}
}

func TestSecretInsideLongerBase64(t *testing.T) {
	r := New()
	r.Add(canary)
	basic := base64.StdEncoding.EncodeToString([]byte("admin:" + canary))
	for _, user := range []string{"a", "ab", "abc", "robot$proj+ci"} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			auth := enc.EncodeToString([]byte(`{"username":"` + user + `","password":"` + canary + `","serveraddress":"harbor"}`))
			got := r.Scrub("X-Registry-Auth: " + auth)
			if !strings.Contains(got, Mask) {
				t.Errorf("user %q: registry auth not masked: %s", user, got)
			}
			// The encoded secret is replaced, so the header changed.
			if strings.Contains(got, auth) {
				t.Errorf("user %q: header unchanged", user)
			}
		}
	}
	got := r.Scrub("Authorization: Basic " + basic)
	if strings.Contains(got, basic) || !strings.Contains(got, Mask) {
		t.Fatalf("basic auth not masked: %s", got)
	}
	// Short secrets have no core long enough to be told from chance.
	short := New()
	short.Add("abc")
	enc := base64.StdEncoding.EncodeToString([]byte("xxabcyy"))
	if got := short.Scrub(enc); got != enc {
		t.Fatalf("short secret masked a longer base64 value: %q", got)
	}
}

func TestWriterCarriageReturnEndsALine(t *testing.T) {
	r := New()
	r.Add("progress-secret")
	var out bytes.Buffer
	w := r.Writer(&out)
	_, _ = io.WriteString(w, "10% progress-secret\r20% progress-sec")
	if got := out.String(); got != "10% ******\r" {
		t.Fatalf("got %q", got)
	}
	_, _ = io.WriteString(w, "ret\r")
	if got := out.String(); got != "10% ******\r20% ******\r" {
		t.Fatalf("got %q", got)
	}
}

func TestWriterBoundsAPartialLine(t *testing.T) {
	r := New()
	const secret = "bounded-buffer-secret"
	r.Add(secret)
	var out bytes.Buffer
	w := r.Writer(&out)
	// A secret lies across the point where the held line is cut.
	chunk := strings.Repeat("x", maxHeld/2-5)
	for _, p := range []string{chunk, secret, chunk, secret[:7], secret[7:], chunk} {
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
	}
	if out.Len() == 0 {
		t.Fatal("nothing written: the partial line is unbounded")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "bounded-") || strings.Contains(got, "-secret") || strings.Count(got, Mask) != 2 {
		t.Fatalf("secret leaked or lost across the cut (%d masks)", strings.Count(got, Mask))
	}
	if want := 3*len(chunk) + 2*len(Mask); len(got) != want {
		t.Fatalf("wrote %d bytes, want %d", len(got), want)
	}
}

func TestSafeCut(t *testing.T) {
	r := New()
	r.Add("secret")
	tests := []struct {
		s    string
		c    int
		want int
	}{
		{"aaasecretbbb", 5, 3},
		{"aaasecretbbb", 3, 3},
		{"aaasecretbbb", 9, 9},
		{"aaasecretbbb", 11, 11},
		{"secretsecret", 8, 6},
		{"sesecret", 4, 2},
	}
	for _, tt := range tests {
		if got := r.safeCut(tt.s, tt.c); got != tt.want {
			t.Errorf("safeCut(%q, %d) = %d, want %d", tt.s, tt.c, got, tt.want)
		}
	}
}
