package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// StatusError is an HTTP answer outside 2xx.
type StatusError struct {
	Method string
	// URL is the request URL without user info or query.
	URL        string
	StatusCode int
	// Body is the start of the response body (at most 4 KiB).
	Body []byte
}

// HTTPStatus is the answer's status (pkg/retry's rule reads it).
func (e *StatusError) HTTPStatus() int { return e.StatusCode }

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.Method, e.URL, http.StatusText(e.StatusCode), bytes.TrimSpace(e.Body))
}

// Request describes a JSON call for DoJSON.
type Request struct {
	Method string
	URL    string
	// Header is added to the request (Accept and Content-Type are set for you).
	Header http.Header
	// In is encoded as the body when not nil; a []byte or json.RawMessage is sent as is.
	In any
	// Out receives the decoded 2xx body when not nil; a *[]byte receives it raw.
	Out any
	// Retry allows retries of a non-idempotent method.
	Retry bool
}

// DoJSON sends r and decodes a 2xx answer into r.Out. Other statuses return
// a *StatusError.
func (c *Client) DoJSON(ctx context.Context, r Request) error {
	req, err := newJSONRequest(ctx, r)
	if err != nil {
		return err
	}
	if r.Retry {
		req = Retryable(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", r.Method, cleanURL(req), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Method: r.Method, URL: cleanURL(req), StatusCode: resp.StatusCode, Body: head(body, 4096)}
	}
	return decode(body, r.Out, r.Method, cleanURL(req))
}

func newJSONRequest(ctx context.Context, r Request) (*http.Request, error) {
	var body io.Reader
	if r.In != nil {
		var b []byte
		switch v := r.In.(type) {
		case []byte:
			b = v
		case json.RawMessage:
			b = v
		default:
			var err error
			if b, err = json.Marshal(v); err != nil {
				return nil, fmt.Errorf("encode %s body: %w", r.Method, err)
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func decode(body []byte, out any, method, url string) error {
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = body
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
	}
	return nil
}

func cleanURL(req *http.Request) string {
	u := *req.URL
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
