package route

import (
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

func TestQueueBackPressureConfirmAndRewind(t *testing.T) {
	rr := &Run{route: &logs.Route{ID: "q", Adapter: "raw"}}
	q := newQueue(3, 2)
	rr.link = &Link{q: q}
	rr.metrics = newRouteMetrics(metrics.NewSet(), "q", rr)
	c := logs.NewContainer("c", nil, logs.Pos{})
	line := func(i int64) *logs.Line {
		return &logs.Line{Pos: logs.Pos{NS: i, N: 1}, TimeNS: i, Stream: logs.StreamStdout, Data: []byte{byte('0' + i)}}
	}
	for i := 1; i <= 3; i++ {
		c.Queued(rr, logs.StreamStdout, c.Position())
		if q.push(c, line(int64(i)), true) != logs.Pushed {
			t.Fatal("push refused")
		}
		c.Read(logs.Pos{NS: int64(i), N: 1})
	}
	if q.push(c, line(4), false) != logs.QueueFull {
		t.Fatal("a non-blocking push into a full queue did not report it full")
	}
	done := make(chan bool)
	go func() {
		c.Queued(rr, logs.StreamStdout, c.Position())
		done <- q.push(c, line(4), true) == logs.Pushed
	}()
	select {
	case <-done:
		t.Fatal("a full queue accepted a line: no back-pressure")
	case <-time.After(50 * time.Millisecond):
	}
	from, to := q.take(10)
	q.done()
	if from != 0 || to != 3 {
		t.Fatalf("take %d..%d", from, to)
	}
	if got := c.Checkpoint()[logs.StreamStdout]; got != (logs.Pos{}) {
		t.Fatalf("checkpoint before confirm %+v, want the start", got)
	}
	q.confirm(rr, 2)
	if !<-done {
		t.Fatal("push after room was made failed")
	}
	c.Read(logs.Pos{NS: 4, N: 1})
	if got := c.Checkpoint()[logs.StreamStdout]; got != (logs.Pos{NS: 2, N: 1}) {
		t.Fatalf("checkpoint %+v, want {2 1}: the route holds it at its last confirmed line", got)
	}
	// A reconnect resends the unconfirmed lines and up to keep confirmed ones.
	if n := q.rewind(1); n != 2 {
		t.Fatalf("rewind resends %d, want 2 (one kept confirmed + one unconfirmed sent)", n)
	}
	from, to = q.take(10)
	q.done()
	var got []string
	for i := from; i < to; i++ {
		got = append(got, string(q.at(i).Data))
	}
	if strings.Join(got, "") != "234" {
		t.Fatalf("after rewind: %v, want 2 3 4", got)
	}
	q.confirm(rr, to)
	if got := c.Checkpoint()[logs.StreamStdout]; got != (logs.Pos{NS: 4, N: 1}) {
		t.Fatalf("checkpoint %+v, want {4 1}", got)
	}
	q.close()
	if q.push(c, line(5), true) != logs.QueueClosed {
		t.Fatal("closed queue accepted a line")
	}
}
