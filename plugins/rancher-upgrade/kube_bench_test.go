package main

import (
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/kube"
)

// BenchmarkKubeRolloutNotice rolls deployment/web out against the fake
// (100 ms controller ticks), with watches and, where the API does not
// watch, by polling every second, and reports how long after the fake
// completed the rollout the plugin had finished (notice-ms) and how many
// requests it sent after its patch (requests/op). Figures, not pass/fail.
func BenchmarkKubeRolloutNotice(b *testing.B) {
	for _, noWatch := range []bool{false, true} {
		name := "watch"
		if noWatch {
			name = "poll=1s"
		}
		b.Run(name, func(b *testing.B) {
			var delay time.Duration
			requests := 0
			for range b.N {
				d, n := kubeRolloutNotice(b, noWatch)
				delay += d
				requests += n
			}
			b.ReportMetric(float64(delay.Milliseconds())/float64(b.N), "notice-ms")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}

// kubeRolloutNotice runs one rollout against a fresh fake and returns how
// long after the fake completed it the plugin had finished, and how many
// requests the plugin sent after its patch.
func kubeRolloutNotice(b *testing.B, noWatch bool) (time.Duration, int) {
	f := newKubeFake(b, kube.Options{NoWatch: noWatch, Tick: 100 * time.Millisecond})
	defer func() { _ = f.Close() }()
	r := plugintest.Run(b, newApp("bench"), kubeEnv(b, f, nil))
	end := time.Now()
	if r.Code != 0 {
		b.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	var patched, complete time.Time
	requests := 0
	for _, req := range f.Requests() {
		if req.Method == "PATCH" {
			patched = req.Time
		}
		if !patched.IsZero() && req.Time.After(patched) {
			requests++
		}
	}
	for _, e := range f.Events() {
		if e.What == "complete" && e.Time.After(patched) {
			complete = e.Time
		}
	}
	return end.Sub(complete), requests
}
