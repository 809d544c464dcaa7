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
func readStream(r io.Reader, out io.Writer) (streamResult, error) {
	var res streamResult
	p := &streamPrinter{out: out, lastStatus: map[string]string{}}
	err := eachMessage(r, func(m message) {
		if m.Stream != "" {
			p.pending.WriteString(m.Stream)
			p.flush(false)
		}
		if m.Status != "" {
			p.status(m.ID, m.Status)
		}
		if len(m.Aux) > 0 {
			res.addAux(m.Aux)
		}
	})
	p.flush(true)
	return res, err
}

// eachMessage decodes a daemon JSON stream to its end, calling fn with each
// message; a message carrying an error (the first in-band error) or an
// undecodable stream ends it with that error.
func eachMessage(r io.Reader, fn func(m message)) error {
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read daemon stream: %w", err)
		}
		if err := m.err(); err != nil {
			return err
		}
		fn(m)
	}
}

// streamPrinter writes a stream's log text: build output by whole lines,
// statuses once per layer and state.
type streamPrinter struct {
	out        io.Writer
	pending    bytes.Buffer      // build output up to its next newline
	lastStatus map[string]string // by layer ID ("" for statuses without one)
}

// flush writes the pending complete lines; with all, also the rest as a
// line of its own.
func (p *streamPrinter) flush(all bool) {
	for {
		i := bytes.IndexByte(p.pending.Bytes(), '\n')
		if i < 0 {
			break
		}
		_, _ = p.out.Write(p.pending.Next(i + 1))
	}
	if all && p.pending.Len() > 0 {
		_, _ = fmt.Fprintf(p.out, "%s\n", p.pending.Bytes())
		p.pending.Reset()
	}
}

// status prints a pull/push status. Progress updates repeat the same
// status; each change is printed once. "Retrying in 5 seconds" counts down
// once a second: it is printed once. Statuses without a layer ID are
// always printed.
func (p *streamPrinter) status(id, text string) {
	status := text
	if strings.HasPrefix(status, "Retrying in ") {
		status = "Retrying"
	}
	if id != "" && p.lastStatus[id] == status {
		return
	}
	p.lastStatus[id] = status
	if id != "" {
		fmt.Fprintf(p.out, "%s: %s\n", id, text)
	} else {
		fmt.Fprintln(p.out, text)
	}
}

// addAux keeps what an aux object carries: the built image's ID, the
// pushed manifest's digest and size. An aux that does not decode is
// ignored.
func (res *streamResult) addAux(raw json.RawMessage) {
	var aux struct {
		ID     string `json:"ID"`
		Digest string `json:"Digest"`
		Size   int64  `json:"Size"`
	}
	if json.Unmarshal(raw, &aux) != nil {
		return
	}
	if aux.ID != "" {
		res.ImageID = aux.ID
	}
	if aux.Digest != "" {
		res.Digest, res.Size = aux.Digest, aux.Size
	}
}
