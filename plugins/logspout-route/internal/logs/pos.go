package logs

import "time"

// Pos is a resume point: the last delivered line's timestamp and how many
// lines carried exactly that timestamp. A line read from the daemon's log
// file also carries where it ends in that file: the exact resume point,
// with the timestamp as the fallback when the file is gone.
type Pos struct {
	NS   int64
	N    uint32
	File FilePos
}

// FilePos is a byte offset in one log file, named by device and inode.
type FilePos struct {
	Dev, Ino uint64
	Off      int64
}

// Less orders positions by time, then count; two positions in the same
// file by offset (stdout and stderr lines are not always written in time
// order).
func (p Pos) Less(q Pos) bool {
	if p.File.Ino != 0 && p.File.Ino == q.File.Ino && p.File.Dev == q.File.Dev {
		return p.File.Off < q.File.Off
	}
	return p.NS < q.NS || (p.NS == q.NS && p.N < q.N)
}

// TimeNS is t in Unix nanoseconds, 0 for the zero time.
func TimeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
