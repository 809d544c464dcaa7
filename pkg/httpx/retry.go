package httpx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
)

type retryKey struct{}

// Retryable marks a request as safe to repeat even though its method is not
// idempotent (a POST the API deduplicates, say).
func Retryable(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), retryKey{}, true))
}

func mayRetry(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	v, _ := req.Context().Value(retryKey{}).(bool)
	return v
}

// Do sends req, repeating it on network errors, 429 and 5xx while the request
// may be retried (idempotent method or Retryable) and attempts remain. The
// last response (any status) or error is returned; the caller closes the body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	// A body that cannot be produced again makes the request unrepeatable.
	retry := mayRetry(req) && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	for attempt := 0; ; attempt++ {
		r, err := rewind(req, attempt)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(r)
		if !retry || attempt >= c.opts.Retries || !transient(resp, err) || req.Context().Err() != nil {
			return resp, err
		}
		wait := c.backoff(attempt, resp)
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := backoff.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func rewind(req *http.Request, attempt int) (*http.Request, error) {
	if attempt == 0 || req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, fmt.Errorf("%s %s: body cannot be sent again", req.Method, cleanURL(req))
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

func transient(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !permanent(err)
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// permanent reports errors a repeat cannot fix: a certificate that does not
// verify, a server that does not speak TLS, an unusable URL.
func permanent(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &header) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "no Host in request URL")
}

// backoff is exponential with full jitter, capped, and honours Retry-After.
func (c *Client) backoff(attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(d, c.opts.MaxBackoff)
		}
	}
	return backoff.Exponential(c.opts.MinBackoff, c.opts.MaxBackoff, attempt)
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
