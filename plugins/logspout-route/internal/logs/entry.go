package logs

import "context"

// Line is one log event a reader hands to a route: a line, or (multiline
// routes) a group of lines.
type Line struct {
	// Pos is the event's last line: what confirming it delivers.
	Pos Pos
	// TimeNS is its time (a group's first line's), Unix ns.
	TimeNS int64
	Stream byte
	Data   []byte
}

// Entry is one event waiting in a route's queue. Its data buffer belongs to
// the ring slot and is reused: no allocation per line once warm.
type Entry struct {
	Ctr    *Container
	Pos    Pos   // last line of the event (for confirmation)
	TimeNS int64 // the event's time: Docker's timestamp of its first line
	Stream byte
	Data   []byte
	End    uint64 // stream transports: connection byte offset after this entry
}

// PushResult is what a route's queue did with a line.
type PushResult int

// Push results.
const (
	Pushed PushResult = iota
	QueueFull
	QueueClosed
)

// Target is one route as a container's reader feeds it (routing implements
// it). It is also the key of a container's per-route accounting.
type Target interface {
	// ID is the route's id.
	ID() string
	// Sources is the streams the route takes: bit 1<<StreamStdout, 1<<StreamStderr.
	Sources() uint8
	// Push copies l into the route's queue; with block it waits while the
	// queue is full, else it reports QueueFull.
	Push(c *Container, l *Line, block bool) PushResult
	// Multiline reports whether the route takes grouped events (multiline+).
	Multiline() bool
	// CountRead and CountDetached feed the route's metrics.
	CountRead()
	CountDetached()
}

// Source reads containers' logs (the Engine API; a reader of json-file logs
// on disk). The pump asks its sources in order and uses the first that
// accepts a container.
type Source interface {
	// Name says which source reads a container, in the log.
	Name() string
	// Accepts reports whether this source can read the container's log.
	Accepts(info *ContainerInfo) bool
	// Open reads the container's log entries after from (every entry
	// stamped at from.NS included: the pump skips the from.N already
	// delivered). With o.Follow it waits for new entries until the
	// container stops; without, it ends at the log's current end.
	Open(ctx context.Context, info *ContainerInfo, from Pos, o ReadOptions) (EntryReader, error)
}

// ReadOptions shape a read of a container's log.
type ReadOptions struct {
	// Follow waits for new entries until the container stops.
	Follow bool
	// Tail > 0 reads only the last Tail entries, whatever from says (a
	// first attach with logspout's TAIL, no saved position).
	Tail int
}

// EntryReader yields a container's log entries in order: one per Docker log
// entry, which is a line ending in '\n' or a piece of one (Docker splits
// lines at 16 KiB; a final line may have no '\n').
type EntryReader interface {
	// Next returns the next stdout or stderr entry, its Docker timestamp in
	// Unix ns and its data (valid until the next call). io.EOF at the end.
	Next() (stream byte, ns int64, data []byte, err error)
	Close() error
}

// FileReader is an EntryReader over the daemon's log files: it knows where
// each entry ends, so its positions are exact.
type FileReader interface {
	EntryReader
	// Resume is where to read again after the last entry Next returned.
	Resume() FilePos
	// Exact reports that reading began right after the position given to
	// Open: no entry stamped at its time is read again, none is skipped.
	Exact() bool
	// CountLost sets whether the entries the reader lets go unread (the
	// daemon rotated them away first) are counted; on when opened. Off
	// while no route takes the reader's lines: each of its routes has a
	// reader of its own, which counts what it misses itself. Turning it
	// off counts what was let go until then.
	CountLost(on bool)
}
