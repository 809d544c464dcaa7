package main

import (
	"context"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
)

// reconnect counts the failures of a loop that must go on forever without
// hammering a peer; each wait doubles (with jitter) up to max.
type reconnect struct {
	min, max time.Duration
	attempt  int
}

func newBackoff(min, max time.Duration) *reconnect { return &reconnect{min: min, max: max} }

func (b *reconnect) reset() { b.attempt = 0 }

// sleep waits the current delay or until ctx ends, then doubles it.
func (b *reconnect) sleep(ctx context.Context) {
	_ = backoff.Sleep(ctx, backoff.Exponential(b.min, b.max, b.attempt))
	if b.attempt < 62 {
		b.attempt++
	}
}

// sleepCtx waits d or until ctx ends; callers look at ctx themselves.
func sleepCtx(ctx context.Context, d time.Duration) { _ = backoff.Sleep(ctx, d) }
