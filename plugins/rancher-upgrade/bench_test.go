package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

// BenchmarkUpgradeNotice upgrades two services against the fake with 2 s
// transitions (plus up to 1 s of jitter, so that polls are not in phase with
// them, as they are not with a real Rancher) and reports how long after the fake reached upgraded / active
// the plugin saw it (target: at most the poll interval) and how many API
// requests one service's upgrade took. Figures, not pass/fail.
func BenchmarkUpgradeNotice(b *testing.B) {
	for _, poll := range []time.Duration{time.Second, 250 * time.Millisecond} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			var delays []time.Duration
			requests := 0
			services := 0
			for i := 0; i < b.N; i++ {
				f := rancher.New(rancher.Options{AccessKey: akCanary, SecretKey: skCanary, Transition: 2 * time.Second, Jitter: time.Second})
				if _, err := f.Start("127.0.0.1:0"); err != nil {
					b.Fatal(err)
				}
				for _, name := range []string{"web", "api"} {
					if _, err := f.AddService("demo", name, rancher.Service{LaunchConfig: []byte(webLaunchConfig)}); err != nil {
						b.Fatal(err)
					}
				}
				env := map[string]string{
					"PLUGIN_URL": f.URL() + "/v2-beta/projects/1a5", "PLUGIN_ACCESS_KEY": akCanary, "PLUGIN_SECRET_KEY": skCanary,
					"PLUGIN_SERVICES": "demo/web,demo/api", "PLUGIN_DOCKER_IMAGE": "registry/test:2",
					"PLUGIN_POLL_INTERVAL": poll.String(), "DRONE_WORKSPACE": b.TempDir(),
				}
				r := run(b, env)
				if r.Code != 0 {
					b.Fatalf("exit %d:\n%s", r.Code, r.Output())
				}
				delays = append(delays, noticeDelays(f)...)
				requests += len(f.Requests())
				services += 2
				_ = f.Close()
			}
			var sum, worst time.Duration
			for _, d := range delays {
				sum += d
				worst = max(worst, d)
			}
			if len(delays) > 0 {
				b.ReportMetric(float64(sum.Milliseconds())/float64(len(delays)), "notice-mean-ms")
				b.ReportMetric(float64(worst.Milliseconds()), "notice-max-ms")
			}
			b.ReportMetric(float64(requests)/float64(services), "requests/service")
			b.ReportMetric(float64(poll.Milliseconds()), "poll-ms")
			fmt.Printf("rancher-upgrade poll=%s: %d state changes, notice delay mean %s max %s; %.1f API requests per service upgrade\n",
				poll, len(delays), (sum / time.Duration(max(len(delays), 1))).Round(time.Millisecond), worst.Round(time.Millisecond), float64(requests)/float64(services))
		})
	}
}

// noticeDelays pairs each upgraded/active the fake reached with the first
// later answer that showed that state to the plugin.
func noticeDelays(f *rancher.Server) []time.Duration {
	reqs := f.Requests()
	var out []time.Duration
	for _, e := range f.Events() {
		if e.State != "upgraded" && e.State != "active" {
			continue
		}
		for _, r := range reqs {
			if r.Resource == e.Resource && r.State == e.State && !r.At.Before(e.At) {
				out = append(out, r.At.Sub(e.At))
				break
			}
		}
	}
	return out
}
