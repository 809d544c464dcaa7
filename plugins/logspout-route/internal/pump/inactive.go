package pump

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// errInactive ends a followed stream that stayed silent for
// INACTIVITY_TIMEOUT: the reader attaches again from its position.
var errInactive = errors.New("inactivity timeout")

// watchdog closes a followed stream that yields nothing for timeout (what
// logspout's INACTIVITY_TIMEOUT is for: a follow hung by the daemon).
type watchdog struct {
	logs.EntryReader
	timer *time.Timer
	fired atomic.Bool
	after time.Duration
}

func newWatchdog(er logs.EntryReader, after time.Duration) *watchdog {
	w := &watchdog{EntryReader: er, after: after}
	w.timer = time.AfterFunc(after, func() {
		w.fired.Store(true)
		_ = er.Close()
	})
	return w
}

func (w *watchdog) Next() (byte, int64, []byte, error) {
	s, ns, data, err := w.EntryReader.Next()
	if w.fired.Load() {
		return 0, 0, nil, errInactive
	}
	if err == nil {
		w.timer.Reset(w.after)
	}
	return s, ns, data, err
}

func (w *watchdog) Close() error {
	w.timer.Stop()
	if w.fired.Load() {
		return nil // closed already
	}
	return w.EntryReader.Close()
}
