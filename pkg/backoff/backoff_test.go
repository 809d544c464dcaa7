package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestExponentialStaysInItsJitteredBand(t *testing.T) {
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{0, 50 * time.Millisecond, 100 * time.Millisecond},
		{1, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, 500 * time.Millisecond, time.Second},  // capped at max
		{200, 500 * time.Millisecond, time.Second}, // no overflow
	}
	for _, tt := range tests {
		for range 200 {
			d := Exponential(100*time.Millisecond, time.Second, tt.attempt)
			if d < tt.lo || d > tt.hi {
				t.Fatalf("attempt %d: %s outside [%s, %s]", tt.attempt, d, tt.lo, tt.hi)
			}
		}
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}
