package main

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff doubles a delay up to max, with jitter, for reconnect loops that
// must go on forever without hammering a peer.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max, cur: min} }

func (b *backoff) reset() { b.cur = b.min }

// sleep waits the current delay (±20%) or until ctx ends, then doubles it.
func (b *backoff) sleep(ctx context.Context) {
	d := b.cur + time.Duration(rand.Int64N(int64(b.cur)/5+1)) - b.cur/10
	sleepCtx(ctx, d)
	b.cur *= 2
	if b.cur > b.max {
		b.cur = b.max
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
