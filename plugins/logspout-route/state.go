package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// stateStore persists, per container, the resume point: the last line every
// route confirmed, as Docker's timestamp plus the number of lines delivered
// at exactly that timestamp. On restart a reader attaches with Since = that
// time and skips that many lines, so nothing confirmed is shipped twice.
type stateStore struct {
	path string
	log  *logrus.Logger
	pump *pump

	mu     sync.Mutex
	saved  map[string]pos // from the file, for containers not attached yet
	last   []byte
	failed bool
}

type stateFile struct {
	Version    int                   `json:"version"`
	Containers map[string]stateEntry `json:"containers"`
}

type stateEntry struct {
	TS string `json:"ts"` // RFC3339Nano, Docker's own timestamp
	N  uint32 `json:"n"`  // lines delivered at exactly TS
}

// loadState reads path; a missing file is an empty state.
func loadState(path string, log *logrus.Logger) (*stateStore, error) {
	s := &stateStore{path: path, log: log, saved: map[string]pos{}}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	for id, e := range f.Containers {
		t, err := time.Parse(time.RFC3339Nano, e.TS)
		if err != nil {
			return nil, fmt.Errorf("state %s: container %.12s: %w", path, id, err)
		}
		s.saved[id] = pos{NS: t.UnixNano(), N: e.N}
	}
	return s, nil
}

func (s *stateStore) lookup(id string) (pos, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.saved[id]
	return p, ok
}

// track notes that c is attached: its live checkpoint replaces the saved one.
func (s *stateStore) track(c *container) {
	s.mu.Lock()
	delete(s.saved, c.id)
	s.mu.Unlock()
}

func (s *stateStore) forget(id string) {
	s.mu.Lock()
	delete(s.saved, id)
	s.mu.Unlock()
}

// prune drops saved containers that no longer exist.
func (s *stateStore) prune(known map[string]bool) {
	s.mu.Lock()
	for id := range s.saved {
		if !known[id] {
			delete(s.saved, id)
		}
	}
	s.mu.Unlock()
}

// run writes the state every second until ctx ends.
func (s *stateStore) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flushSoon()
			s.syncFile()
		case <-ctx.Done():
			return // Execute writes the last state once the routes have stopped
		}
	}
}

// flushSoon writes the state now, atomically (temp file + rename), without
// fsync: a rename survives our own SIGKILL at once, and the beats path
// calls this right after each ACK, where a slow fsync would widen the gap
// in which a crash makes acknowledged lines go out again.
func (s *stateStore) flushSoon() { s.flush(false) }

// syncFile makes the last write durable against a host crash (fsync of the
// file and its directory), off the ACK path, once a second.
func (s *stateStore) syncFile() {
	if s.path == "" {
		return
	}
	for _, p := range []string{s.path, filepath.Dir(s.path)} {
		if f, err := os.Open(p); err == nil {
			_ = f.Sync()
			f.Close()
		}
	}
}

func (s *stateStore) flush(sync bool) {
	if s.path == "" || s.pump == nil {
		return
	}
	f := stateFile{Version: 1, Containers: map[string]stateEntry{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.saved {
		f.Containers[id] = stateEntry{TS: string(appendRFC3339Nano(nil, p.NS)), N: p.N}
	}
	for _, c := range s.pump.containers() {
		c.mu.Lock()
		tracked := c.tracked
		c.mu.Unlock()
		if tracked {
			p := c.checkpoint()
			f.Containers[c.id] = stateEntry{TS: string(appendRFC3339Nano(nil, p.NS)), N: p.N}
		}
	}
	b, _ := json.Marshal(f)
	if string(b) == string(s.last) && !sync {
		return
	}
	if err := replaceFile(s.path, b, sync); err != nil {
		if !s.failed {
			s.log.WithError(err).Warn("state file not written; a restart will resume from older positions")
		}
		s.failed = true
		return
	}
	s.failed = false
	s.last = b
}

func writeAtomic(path string, b []byte, sync bool) error {
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
