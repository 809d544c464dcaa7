package logs

import "time"

// Pos is a resume point: the last delivered line's timestamp and how many
// lines carried exactly that timestamp.
type Pos struct {
	NS int64
	N  uint32
}

// Less orders positions by time, then count.
func (p Pos) Less(q Pos) bool { return p.NS < q.NS || (p.NS == q.NS && p.N < q.N) }

// TimeNS is t in Unix nanoseconds, 0 for the zero time.
func TimeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
