package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
)

// apiClient sends authenticated JSON requests to one Rancher API and turns
// its error bodies into apiErrors.
type apiClient struct {
	http *httpx.Client
	// auth is the Authorization header value (never printed).
	auth     string
	requests atomic.Int64
}

// apiError is Rancher's error body: type "error", status, code, fieldName.
type apiError struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Detail    string `json:"detail"`
	FieldName string `json:"fieldName"`
}

// HTTPStatus is the answer's status (pkg/retry's rule reads it).
func (e *apiError) HTTPStatus() int { return e.Status }

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%d %s", e.Status, e.Code)
	for _, s := range []string{e.FieldName, e.Message, e.Detail} {
		if s != "" && s != e.Code {
			msg += ": " + s
		}
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (check the API keys or token)"
	case http.StatusForbidden:
		msg += " (the API key may not change this resource)"
	}
	return msg
}

// call sends in (nil, or a JSON value) and decodes the answer into out.
func (c *apiClient) call(ctx context.Context, method, url string, in, out any) error {
	c.requests.Add(1)
	var raw []byte
	err := c.http.DoJSON(ctx, httpx.Request{
		Method: method, URL: url, Header: http.Header{"Authorization": {c.auth}}, In: in, Out: &raw,
	})
	var se *httpx.StatusError
	if errors.As(err, &se) {
		ae := &apiError{}
		if json.Unmarshal(se.Body, ae) != nil || ae.Code == "" {
			ae = &apiError{Status: se.StatusCode, Code: http.StatusText(se.StatusCode), Message: strings.TrimSpace(string(se.Body))}
			if len(ae.Message) > 200 {
				ae.Message = ae.Message[:200] + "..."
			}
		}
		if ae.Status == 0 {
			ae.Status = se.StatusCode
		}
		return ae
	}
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("answer is not Rancher API JSON (is the url the API endpoint?): %w", err)
	}
	return nil
}

// isStatus reports whether err is a Rancher error with that HTTP status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// errTimeout is a wait that ran out of time.
type errTimeout struct {
	what  string
	after time.Duration
	last  string
}

func (e *errTimeout) Error() string {
	return fmt.Sprintf("timed out after %s waiting for %s (last: %s)", e.after.Round(time.Second), e.what, e.last)
}
