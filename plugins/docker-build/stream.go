package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// message is one object of the daemon's build, pull or push stream
// (jsonmessage.JSONMessage, reduced to what we read).
type message struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	ID          string `json:"id"`
	Progress    string `json:"progress"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// err is the in-band error m carries, or nil.
func (m message) err() error {
	if m.ErrorDetail == nil && m.Error == "" {
		return nil
	}
	msg := m.Error
	if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
		msg = m.ErrorDetail.Message
	}
	return &streamError{msg: strings.TrimSpace(msg)}
}

// streamError is an error the daemon reported inside a 200 stream.
type streamError struct{ msg string }

func (e *streamError) Error() string { return e.msg }

// streamResult is what a stream carried besides its log text.
type streamResult struct {
	// ImageID is the build's aux {"ID":...}.
	ImageID string
	// Digest and Size are the push's aux {"Tag","Digest","Size"}.
	Digest string
	Size   int64
}

// readStream decodes a daemon stream to its end, writing log text to out
// the way the docker CLI shows it without a terminal: build output as is,
// pull/push status once per layer and state (no progress bars). The first
// in-band error ends it.
//
//nolint:gocognit // over the limit when golangci-lint came (issue 15): to be split
func readStream(r io.Reader, out io.Writer) (streamResult, error) {
	var res streamResult
	dec := json.NewDecoder(r)
	var pending bytes.Buffer // build output up to its next newline
	flush := func(all bool) {
		for {
			i := bytes.IndexByte(pending.Bytes(), '\n')
			if i < 0 {
				break
			}
			_, _ = out.Write(pending.Next(i + 1))
		}
		if all && pending.Len() > 0 {
			_, _ = fmt.Fprintf(out, "%s\n", pending.Bytes())
			pending.Reset()
		}
	}
	defer flush(true)
	lastStatus := map[string]string{}
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return res, nil
			}
			return res, fmt.Errorf("read daemon stream: %w", err)
		}
		if err := m.err(); err != nil {
			flush(true)
			return res, err
		}
		if m.Stream != "" {
			pending.WriteString(m.Stream)
			flush(false)
		}
		if m.Status != "" {
			// Progress updates repeat the same status; print each change once.
			// "Retrying in 5 seconds" counts down once a second: print it once.
			status := m.Status
			if strings.HasPrefix(status, "Retrying in ") {
				status = "Retrying"
			}
			key := m.ID
			if key == "" || lastStatus[key] != status {
				lastStatus[key] = status
				if m.ID != "" {
					fmt.Fprintf(out, "%s: %s\n", m.ID, m.Status)
				} else {
					fmt.Fprintln(out, m.Status)
				}
			}
		}
		if len(m.Aux) > 0 {
			var aux struct {
				ID     string `json:"ID"`
				Digest string `json:"Digest"`
				Size   int64  `json:"Size"`
			}
			if json.Unmarshal(m.Aux, &aux) == nil {
				if aux.ID != "" {
					res.ImageID = aux.ID
				}
				if aux.Digest != "" {
					res.Digest, res.Size = aux.Digest, aux.Size
				}
			}
		}
	}
}
