package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/lightship-ci/lightship/pkg/retry"
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

// Do sends req, repeating it on network errors, 429 and 5xx (the kit's
// rule, retry.Transient) while the request may be retried (idempotent
// method or Retryable) and attempts remain. The last response (any status)
// or error is returned; the caller closes the body.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	// A body that cannot be produced again makes the request unrepeatable.
	p := retry.Policy{Base: c.opts.MinBackoff, Max: c.opts.MaxBackoff, Wait: retryAfterOf}
	if mayRetry(req) && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil) {
		p.Retries = c.opts.Retries
	}
	p.OnRetry = func(err error, _ int, _ time.Duration) {
		var re *retryStatus
		if errors.As(err, &re) {
			_, _ = io.Copy(io.Discard, io.LimitReader(re.resp.Body, 64<<10))
			re.resp.Body.Close()
		}
	}
	attempt := 0
	resp, err := retry.Do(req.Context(), p, func(context.Context) (*http.Response, error) {
		r, err := rewind(req, attempt)
		attempt++
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(r)
		if err == nil && retry.TransientStatus(resp.StatusCode) {
			return resp, &retryStatus{resp: resp}
		}
		return resp, err
	})
	var re *retryStatus
	if errors.As(err, &re) {
		return re.resp, nil
	}
	if err != nil && resp != nil {
		resp.Body.Close()
	}
	return resp, err
}

// retryStatus is an answer worth repeating (429, 5xx); when the attempts
// run out its response is returned as it is.
type retryStatus struct{ resp *http.Response }

func (e *retryStatus) Error() string   { return e.resp.Status }
func (e *retryStatus) HTTPStatus() int { return e.resp.StatusCode }

// retryAfterOf honours a Retry-After header on a repeated answer.
func retryAfterOf(err error) (time.Duration, bool) {
	var re *retryStatus
	if !errors.As(err, &re) {
		return 0, false
	}
	return retryAfter(re.resp.Header.Get("Retry-After"), time.Now())
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
