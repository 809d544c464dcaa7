package retry

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"
)

type status int

func (s status) Error() string   { return fmt.Sprintf("HTTP %d", int(s)) }
func (s status) HTTPStatus() int { return int(s) }

type says bool

func (s says) Error() string   { return "says" }
func (s says) Transient() bool { return bool(s) }

func TestTransientRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{says(true), true}, {fmt.Errorf("wrapped: %w", says(false)), false},
		{status(503), true}, {status(429), true}, {fmt.Errorf("x: %w", status(404)), false}, {status(401), false},
		{context.Canceled, false}, {context.DeadlineExceeded, true},
		{&url.Error{Op: "Get", URL: "https://x", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, true},
		{&url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, false},
		{&json.SyntaxError{}, false}, {io.ErrUnexpectedEOF, true}, {syscall.ECONNRESET, true},
		{errors.New("received unexpected HTTP status: 502 Bad Gateway"), true},
		{errors.New("read tcp: connection reset by peer"), true},
		{errors.New("unauthorized: authentication required"), false},
		{errors.New(`Get "ftp://x": unsupported protocol scheme "ftp"`), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %t, want %t", tc.err, got, tc.want)
		}
	}
}

func TestDoRepeatsTransientFailuresOnly(t *testing.T) {
	t.Parallel()
	p := Policy{Retries: 3, Base: time.Microsecond, Max: time.Millisecond}
	var seen []int
	p.OnRetry = func(_ error, attempt int, _ time.Duration) { seen = append(seen, attempt) }
	calls := 0
	v, err := Do(context.Background(), p, func(context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, status(503)
		}
		return 7, nil
	})
	if v != 7 || err != nil || calls != 3 || len(seen) != 2 || seen[1] != 2 {
		t.Fatalf("v=%d err=%v calls=%d seen=%v", v, err, calls, seen)
	}
	calls = 0
	if _, err := Do(context.Background(), p, func(context.Context) (int, error) { calls++; return 0, status(400) }); calls != 1 || err == nil {
		t.Fatalf("a 400 was repeated: %d calls", calls)
	}
	calls = 0
	if _, err := Do(context.Background(), p, func(context.Context) (int, error) { calls++; return 0, status(500) }); calls != 4 || err == nil {
		t.Fatalf("retries: %d calls", calls)
	}
	p.Wait = func(error) (time.Duration, bool) { return time.Hour, true }
	p.Max = time.Millisecond
	calls = 0
	if _, err := Do(context.Background(), p, func(context.Context) (int, error) { calls++; return 0, status(500) }); calls != 4 || err == nil {
		t.Fatalf("Wait is not capped at Max: %d calls", calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	if _, err := Do(ctx, p, func(context.Context) (int, error) { calls++; return 0, status(500) }); calls != 1 || err == nil {
		t.Fatalf("ended context: %d calls", calls)
	}
}
