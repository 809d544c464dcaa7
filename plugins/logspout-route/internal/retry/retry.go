// Package retry is the reconnect loop's wait: exponential with jitter
// (pkg/backoff) for loops that must go on forever without hammering a peer.
package retry

import (
	"context"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
)

// Backoff counts the failures of a loop; each wait doubles (with jitter)
// up to max.
type Backoff struct {
	min, max time.Duration
	attempt  int
}

// New returns a backoff from min to max.
func New(minWait, maxWait time.Duration) *Backoff { return &Backoff{min: minWait, max: maxWait} }

// Reset starts again from min.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits the current delay or until ctx ends, then doubles it.
func (b *Backoff) Sleep(ctx context.Context) {
	_ = backoff.Sleep(ctx, backoff.Exponential(b.min, b.max, b.attempt))
	if b.attempt < 62 {
		b.attempt++
	}
}

// Sleep waits d or until ctx ends; callers look at ctx themselves.
func Sleep(ctx context.Context, d time.Duration) { _ = backoff.Sleep(ctx, d) }
