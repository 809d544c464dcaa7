// Package state persists, per container, the resume point every route
// confirmed (state file plus the .ack file written after each beats ACK).
package state

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/sirupsen/logrus"
)

// Store persists, per container, the resume point: the last line every
// route confirmed, as Docker's timestamp plus the number of lines delivered
// at exactly that timestamp. On restart a reader attaches with Since = that
// time and skips that many lines, so nothing confirmed is shipped twice.
type Store struct {
	path string
	log  *logrus.Logger
	reg  *logs.Registry

	mu      sync.Mutex
	saved   map[string]logs.Streams // from the files, for containers not attached yet
	ackPos  map[string]logs.Streams // last written to path.ack
	ack     *os.File
	ackBuf  []byte
	ackSize int

	durMu  sync.Mutex
	durPos map[string]logs.Streams // last written to path
	failed atomic.Bool
}

type stateFile struct {
	Version    int                   `json:"version"`
	Containers map[string]stateEntry `json:"containers"`
}

// stateEntry is one container's resume point: ts/n for both streams, or
// (when they differ: multiline groups) the earlier one in ts/n and each
// stream's own in stdout/stderr.
type stateEntry struct {
	streamPos
	Stdout *streamPos `json:"stdout,omitempty"`
	Stderr *streamPos `json:"stderr,omitempty"`
}

type streamPos struct {
	TS string `json:"ts"` // RFC3339Nano, Docker's own timestamp
	N  uint32 `json:"n"`  // lines delivered at exactly TS
	// Where the line ends in the daemon's log file (file source): device,
	// inode, byte offset. The exact resume point; TS and N are the fallback
	// (and what the Engine-API source resumes from).
	Dev uint64 `json:"dev,omitempty"`
	Ino uint64 `json:"ino,omitempty"`
	Off int64  `json:"off,omitempty"`
}

func posOf(p logs.Pos) streamPos {
	return streamPos{TS: string(logs.AppendRFC3339Nano(nil, p.NS)), N: p.N, Dev: p.File.Dev, Ino: p.File.Ino, Off: p.File.Off}
}

func encodeEntry(r logs.Streams) stateEntry {
	e := stateEntry{streamPos: posOf(r.Min())}
	if r[logs.StreamStdout] != r[logs.StreamStderr] {
		o, x := posOf(r[logs.StreamStdout]), posOf(r[logs.StreamStderr])
		e.Stdout, e.Stderr = &o, &x
	}
	return e
}

func parsePos(sp streamPos) (logs.Pos, error) {
	t, err := time.Parse(time.RFC3339Nano, sp.TS)
	if err != nil {
		return logs.Pos{}, err
	}
	return logs.Pos{NS: t.UnixNano(), N: sp.N, File: logs.FilePos{Dev: sp.Dev, Ino: sp.Ino, Off: sp.Off}}, nil
}

func decodeEntry(e stateEntry) (logs.Streams, error) {
	p, err := parsePos(e.streamPos)
	if err != nil {
		return logs.Streams{}, err
	}
	r := logs.Both(p)
	if e.Stdout != nil && e.Stderr != nil {
		if r[logs.StreamStdout], err = parsePos(*e.Stdout); err != nil {
			return r, err
		}
		if r[logs.StreamStderr], err = parsePos(*e.Stderr); err != nil {
			return r, err
		}
	}
	return r, nil
}

// later is, per stream, the later of a and b: positions only move forward.
func later(a, b logs.Streams) logs.Streams {
	for s := range a {
		if a[s].Less(b[s]) {
			a[s] = b[s]
		}
	}
	return a
}

// Load reads path; a missing file is an empty state. The store writes the
// checkpoints of reg's tracked containers.
func Load(path string, log *logrus.Logger, reg *logs.Registry) (*Store, error) {
	s := &Store{path: path, log: log, reg: reg, saved: map[string]logs.Streams{}}
	if path == "" {
		return s, nil
	}
	var files []stateFile
	b, err := os.ReadFile(path)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("state %s: %w", path, err)
	default:
		var f stateFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("state %s: %w", path, err)
		}
		files = append(files, f)
	}
	ackFile, ackOK := readAck(path)
	if ackOK {
		files = append(files, ackFile)
	}
	for _, f := range files {
		for id, e := range f.Containers {
			p, err := decodeEntry(e)
			if err != nil {
				return nil, fmt.Errorf("state %s: container %.12s: %w", path, id, err)
			}
			if old, ok := s.saved[id]; ok {
				p = later(old, p) // positions only move forward: the later one wins
			}
			s.saved[id] = p
		}
	}
	if ackOK {
		// Fold path.ack into the snapshot before this run starts rewriting it.
		f := stateFile{Version: 1, Containers: map[string]stateEntry{}}
		for id, p := range s.saved {
			f.Containers[id] = encodeEntry(p)
		}
		b, _ := json.Marshal(f)
		if err := replaceFile(path, b, true); err != nil {
			return nil, fmt.Errorf("state %s: %w", path, err)
		}
	}
	return s, nil
}

// Lookup returns id's saved resume point.
func (s *Store) Lookup(id string) (logs.Streams, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.saved[id]
	return p, ok
}

// Track notes that id is attached: its live checkpoint replaces the saved one.
func (s *Store) Track(id string) {
	s.mu.Lock()
	delete(s.saved, id)
	s.mu.Unlock()
}

// Forget drops a destroyed container.
func (s *Store) Forget(id string) {
	s.mu.Lock()
	delete(s.saved, id)
	s.mu.Unlock()
}

// Prune drops saved containers that no longer exist.
func (s *Store) Prune(known map[string]bool) {
	s.mu.Lock()
	for id := range s.saved {
		if !known[id] {
			delete(s.saved, id)
		}
	}
	s.mu.Unlock()
}

// Run writes the durable snapshot every second until ctx ends.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Flush(true)
		case <-ctx.Done():
			return // Execute writes the last state once the routes have stopped
		}
	}
}

// The state lives in two files:
//   - path: a snapshot written atomically (temp file, fsync, rename, fsync
//     of the directory) once a second: what survives the host losing power;
//   - path.ack: rewritten in place with one pwrite right after every beats
//     ACK, checksummed. A crash between an ACK and the state write makes
//     the server's lines go out again, so that gap must be short: a pwrite
//     takes microseconds where a rename-and-fsync takes milliseconds.
// On start both are read and, per container, the later position wins; a
// torn or unfinished path.ack (bad checksum) is ignored.

// FlushSoon records the positions now in path.ack (after each ACK).
func (s *Store) FlushSoon() { s.Flush(false) }

// Flush writes the current positions: durable to the snapshot, else fast to
// path.ack. Positions that have not moved since the last write of that
// kind are not encoded again (an idle host costs a map walk a second).
func (s *Store) Flush(durable bool) {
	if s.path == "" || s.reg == nil {
		return
	}
	s.mu.Lock()
	pos := s.positions()
	if !durable {
		defer s.mu.Unlock()
		if s.ackPos != nil && maps.Equal(pos, s.ackPos) {
			return
		}
		if err := s.writeAck(encodeState(pos)); err != nil {
			s.warn(err)
			return
		}
		s.ackPos = pos
		return
	}
	s.mu.Unlock()
	// The slow, durable write runs outside s.mu so ACKs never wait for it.
	s.durMu.Lock()
	defer s.durMu.Unlock()
	if s.durPos != nil && maps.Equal(pos, s.durPos) {
		return
	}
	if err := replaceFile(s.path, encodeState(pos), true); err != nil {
		s.warn(err)
		return
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	s.durPos = pos
}

// positions is every container's resume point: saved ones not attached
// yet and the live checkpoints of tracked ones (s.mu held).
func (s *Store) positions() map[string]logs.Streams {
	pos := make(map[string]logs.Streams, len(s.saved)+s.reg.Len())
	maps.Copy(pos, s.saved)
	for _, c := range s.reg.All() {
		if c.Tracked() {
			pos[c.ID] = c.Checkpoint()
		}
	}
	return pos
}

func encodeState(pos map[string]logs.Streams) []byte {
	f := stateFile{Version: 1, Containers: make(map[string]stateEntry, len(pos))}
	for id, p := range pos {
		f.Containers[id] = encodeEntry(p)
	}
	b, _ := json.Marshal(f)
	return b
}

func (s *Store) warn(err error) {
	if !s.failed.Swap(true) {
		s.log.WithError(err).Warn("state file not written; a restart will resume from older positions")
	}
}

// writeAck rewrites path.ack in place: "<crc32>\n<json>", padded with
// spaces to the previous length so no truncate is needed: one syscall.
func (s *Store) writeAck(b []byte) error {
	if s.ack == nil {
		f, err := os.OpenFile(s.path+".ack", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		s.ack = f
	}
	buf := fmt.Appendf(s.ackBuf[:0], "%08x\n", crc32.ChecksumIEEE(b))
	buf = append(buf, b...)
	for len(buf) < s.ackSize {
		buf = append(buf, ' ')
	}
	s.ackBuf = buf
	if _, err := s.ack.WriteAt(buf, 0); err != nil {
		return err
	}
	s.failed.Store(false)
	s.ackSize = len(buf)
	return nil
}

// readAck reads path.ack; ok is false when it is missing, torn or stale.
func readAck(path string) (stateFile, bool) {
	var f stateFile
	b, err := os.ReadFile(path + ".ack")
	if err != nil {
		return f, false
	}
	sum, body, found := bytes.Cut(b, []byte("\n"))
	body = bytes.TrimRight(body, " ")
	if !found || string(sum) != fmt.Sprintf("%08x", crc32.ChecksumIEEE(body)) {
		return f, false
	}
	return f, json.Unmarshal(body, &f) == nil
}

// Close releases path.ack.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ack != nil {
		s.ack.Close()
		s.ack = nil
	}
}

// WriteAtomic writes b to a temporary file beside path and renames it over
// path (fsync first with sync).
func WriteAtomic(path string, b []byte, sync bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// replaceFile writes b to path+".tmp" and renames it over path: the state
// has a single writer (s.mu), so one fixed temporary name will do, which
// saves the random-name create of os.CreateTemp on the ACK path.
func replaceFile(path string, b []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
