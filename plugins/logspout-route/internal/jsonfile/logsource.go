package jsonfile

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// LogsSource is the file source as the pump sees it (logs.Source): it
// reads the containers on the json-file driver whose log it can open, and
// leaves the others to the next source (the Engine API).
type LogsSource struct {
	*Source
}

// Name is how the log names this source.
func (s LogsSource) Name() string { return "json-file" }

// Accepts takes json-file containers whose live log file can be opened,
// and keeps those it read once when their directory is gone (the
// container was removed: the Engine API has nothing more to give either).
func (s LogsSource) Accepts(info *logs.ContainerInfo) bool {
	if info.LogDriver != "json-file" {
		return false
	}
	if s.Readable(info.ID) {
		s.read.Store(info.ID, true)
		return true
	}
	_, seen := s.read.LoadAndDelete(info.ID)
	_, err := os.Stat(filepath.Join(s.Dir, info.ID))
	return seen && errors.Is(err, fs.ErrNotExist)
}

// Open reads info's log after from: exactly from its file position when
// the file is still there, else from its time (see Source.Open).
func (s LogsSource) Open(ctx context.Context, info *logs.ContainerInfo, from logs.Pos, o logs.ReadOptions) (logs.EntryReader, error) {
	p := Pos{File: FileID{Dev: from.File.Dev, Ino: from.File.Ino}, Off: from.File.Off}
	if o.Tail > 0 {
		p, from.NS = Pos{}, 0 // the last entries, whatever from says
	}
	f, err := s.Source.Open(ctx.Done(), info.ID, p, from.NS, o.Follow)
	if err != nil {
		return nil, err
	}
	if o.Tail > 0 {
		f.keepLast(o.Tail)
	}
	return entryReader{f}, nil
}

// entryReader is a Follower as a logs.FileReader.
type entryReader struct {
	*Follower
}

func (e entryReader) Resume() logs.FilePos {
	p := e.Follower.Resume()
	return logs.FilePos{Dev: p.File.Dev, Ino: p.File.Ino, Off: p.Off}
}

// entryReader is what the pump needs for exact positions.
var _ logs.FileReader = entryReader{}
