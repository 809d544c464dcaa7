// Package retry is the kit's one way to repeat a failing operation, and its
// one rule for which failures another attempt may cure.
package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
)

// Policy says how often and how patiently an operation is repeated.
type Policy struct {
	// Retries is how many times a failed attempt is repeated (0: one attempt).
	Retries int
	// Base is the first wait; it doubles per repeat up to Max, jittered in
	// its upper half (pkg/backoff).
	Base, Max time.Duration
	// Transient decides which errors are repeated; nil means Transient.
	Transient func(error) bool
	// Wait, when set, may name the wait before a repeat (a server's
	// Retry-After); it is capped at Max.
	Wait func(err error) (time.Duration, bool)
	// OnRetry, when set, is told of each repeat before its wait: the error,
	// the attempt that failed (1 for the first) and the wait.
	OnRetry func(err error, attempt int, wait time.Duration)
}

// Do runs op until it succeeds, fails with an error p does not repeat,
// p.Retries repeats are spent, or ctx ends. It returns op's last result and
// error, or ctx's error when ctx ended during a wait.
func Do[T any](ctx context.Context, p Policy, op func(context.Context) (T, error)) (T, error) {
	transient := p.Transient
	if transient == nil {
		transient = Transient
	}
	for attempt := 0; ; attempt++ {
		v, err := op(ctx)
		if err == nil || attempt >= p.Retries || ctx.Err() != nil || !transient(err) {
			return v, err
		}
		wait := backoff.Exponential(p.Base, p.Max, attempt)
		if p.Wait != nil {
			if d, ok := p.Wait(err); ok {
				wait = min(d, p.Max)
			}
		}
		if p.OnRetry != nil {
			p.OnRetry(err, attempt+1, wait)
		}
		if serr := backoff.Sleep(ctx, wait); serr != nil {
			return v, serr
		}
	}
}

// Transient is the rule: may another attempt succeed?
//
//   - An error that says so itself (a Transient() bool method) decides.
//   - An error carrying an HTTP status (an HTTPStatus() int method):
//     429 and 5xx are transient, any other status is not.
//   - A canceled context, a certificate that does not verify, a server
//     that does not speak TLS, an unusable URL, or an answer that is not
//     the JSON expected (a proxy's login page) are not.
//   - Timeouts (of one attempt: Do stops anyway when its own context ends)
//     and other network and transport errors (refused, reset, EOF) are.
//   - An error known only by its text (a Docker daemon's or buildkitd's
//     push error) is transient when it names a 5xx or 429 status (or the
//     OCI codes unavailable, toomanyrequests), a reset, refused or
//     timed-out connection, or an unexpected EOF.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var says interface{ Transient() bool }
	if errors.As(err, &says) {
		return says.Transient()
	}
	var st interface{ HTTPStatus() int }
	if errors.As(err, &st) {
		return TransientStatus(st.HTTPStatus())
	}
	if errors.Is(err, context.Canceled) || permanent(err) {
		return false
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	return transientText(err.Error())
}

// TransientStatus reports whether an HTTP status may pass when repeated.
func TransientStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// permanent reports errors a repeat cannot fix.
func permanent(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &header) || errors.As(err, &syntax) || errors.As(err, &typeErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "no Host in request URL")
}

// transientText reads an error known only by its message.
func transientText(msg string) bool {
	s := strings.ToLower(msg)
	for _, m := range []string{
		"500 internal server error", "502 bad gateway", "503 service unavailable", "504 gateway timeout",
		"status: 50", "status 50", "connection reset", "broken pipe", "unexpected eof", "i/o timeout",
		"tls handshake timeout", "connection refused", "server misbehaving", "toomanyrequests", "429 too many requests",
		"unavailable: ", // a registry's 503 as buildkitd words it (the OCI error code)
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}
