package route

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// routeMetrics are one route's Prometheus series.
type routeMetrics struct {
	set        *metrics.Set
	names      []string
	read       *metrics.Counter
	shipped    *metrics.Counter
	resent     *metrics.Counter
	reconnects *metrics.Counter
	connects   *metrics.Counter
	detached   *metrics.Counter
}

func newRouteMetrics(set *metrics.Set, id string, rr *Run) *routeMetrics {
	m := &routeMetrics{set: set}
	name := func(n string) string {
		s := fmt.Sprintf(`logspout_route_%s{route=%q,adapter=%q}`, n, id, rr.route.Adapter)
		m.names = append(m.names, s)
		return s
	}
	m.read = set.GetOrCreateCounter(name("lines_read_total"))
	m.shipped = set.GetOrCreateCounter(name("lines_shipped_total"))
	m.resent = set.GetOrCreateCounter(name("lines_resent_total"))
	m.reconnects = set.GetOrCreateCounter(name("reconnects_total"))
	m.connects = set.GetOrCreateCounter(name("connects_total"))
	m.detached = set.GetOrCreateCounter(name("detached_readers_total"))
	set.GetOrCreateGauge(name("queue_depth"), func() float64 { return float64(rr.link.q.depth()) })
	set.GetOrCreateGauge(name("lag_seconds"), func() float64 { return rr.link.q.lag(time.Now()).Seconds() })
	set.GetOrCreateGauge(name("up"), func() float64 {
		if rr.up.Load() {
			return 1
		}
		return 0
	})
	return m
}

func (m *routeMetrics) unregister() {
	for _, n := range m.names {
		m.set.UnregisterMetric(n)
	}
}
