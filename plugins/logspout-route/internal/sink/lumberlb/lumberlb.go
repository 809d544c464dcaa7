// Package lumberlb sends lumberjack v2 (beats) windows to several Logstash
// hosts, as Filebeat's output.logstash does with hosts: [...]: with
// loadbalance each live host takes windows from one shared line, a host
// that fails is skipped (it reconnects with backoff and takes work again
// once back); without, the first host takes everything and the next ones
// in order only while it is down. A window is held by one connection at a
// time and each of its lines is reported once: what a host ACKed is
// delivered, the rest of the window goes back to the front of the line.
package lumberlb

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
	"github.com/lightship-ci/lightship/pkg/backoff"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/sirupsen/logrus"
)

// Config is one multi-host beats route.
type Config struct {
	Hosts       []string
	LoadBalance bool
	TLS         *tls.Config // nil: plain TCP
	Timeout     time.Duration
	Acker       sink.Acker
	Metrics     sink.Metrics
	Log         logrus.FieldLogger
}

// Transport is the running set of connections.
type Transport struct {
	cfg  Config
	work chan []sink.Record // new windows
	stop chan struct{}

	mu    sync.Mutex
	back  [][]sink.Record // windows a failed host gave back; taken first
	ready chan struct{}   // something is in back
	wg    sync.WaitGroup
	once  sync.Once
}

// New starts one sender per host (loadbalance) or one for the ordered list.
func New(cfg Config) (*Transport, error) {
	if len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("no host")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	t := &Transport{cfg: cfg, work: make(chan []sink.Record), ready: make(chan struct{}, 1), stop: make(chan struct{})}
	if cfg.LoadBalance {
		for _, h := range cfg.Hosts {
			t.wg.Add(1)
			go t.balance(h)
		}
	} else {
		t.wg.Add(1)
		go t.failover()
	}
	return t, nil
}

// Send queues recs as one window; it blocks until a host takes it.
func (t *Transport) Send(ctx context.Context, recs []sink.Record) error {
	w := append([]sink.Record(nil), recs...)
	select {
	case t.work <- w:
		return nil
	case <-t.stop:
	case <-ctx.Done():
	}
	t.giveUp(w)
	return ctx.Err()
}

func (t *Transport) giveUp(w []sink.Record) {
	for _, r := range w {
		t.cfg.Acker.Ack(r.Seq, sink.Retry)
	}
}

// Close stops every sender; windows not ACKed are reported Retry.
func (t *Transport) Close() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
	t.mu.Lock()
	back := t.back
	t.back = nil
	t.mu.Unlock()
	for _, w := range back {
		t.giveUp(w)
	}
}

// giveBack puts a window a failed host could not finish at the front.
func (t *Transport) giveBack(w []sink.Record) {
	if len(w) == 0 {
		return
	}
	t.mu.Lock()
	t.back = append(t.back, w)
	t.mu.Unlock()
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// next returns the next window, windows given back first; nil on stop.
func (t *Transport) next() []sink.Record {
	for {
		t.mu.Lock()
		if len(t.back) > 0 {
			w := t.back[0]
			t.back = t.back[1:]
			more := len(t.back) > 0
			t.mu.Unlock()
			if more {
				select {
				case t.ready <- struct{}{}:
				default:
				}
			}
			return w
		}
		t.mu.Unlock()
		select {
		case w := <-t.work:
			return w
		case <-t.ready:
		case <-t.stop:
			return nil
		}
	}
}

// balance is one host's sender under loadbalance.
func (t *Transport) balance(host string) {
	defer t.wg.Done()
	ctx, cancel := sink.UntilClosed(t.stop)
	defer cancel()
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 && backoff.Sleep(ctx, backoff.Exponential(100*time.Millisecond, 10*time.Second, attempt-1)) != nil {
			return
		}
		if t.session(ctx, host) {
			attempt = 0
		}
	}
}

// failover sends to the first host that works, in the given order.
func (t *Transport) failover() {
	defer t.wg.Done()
	ctx, cancel := sink.UntilClosed(t.stop)
	defer cancel()
	failures := 0
	for i := 0; ctx.Err() == nil; i = (i + 1) % len(t.cfg.Hosts) {
		if i == 0 && failures >= len(t.cfg.Hosts) {
			// every host failed in a row: wait before the next round
			if backoff.Sleep(ctx, backoff.Exponential(100*time.Millisecond, 10*time.Second, failures/len(t.cfg.Hosts)-1)) != nil {
				return
			}
		}
		if t.session(ctx, t.cfg.Hosts[i]) {
			failures = 0
			i = -1 // worked for a while: start again from the first host
			continue
		}
		failures++
	}
}

type event struct{ b []byte }

func passThrough(v interface{}) ([]byte, error) { return v.(*event).b, nil }

// session connects to host and sends windows until an error; it reports
// whether at least one window was ACKed in full.
func (t *Transport) session(ctx context.Context, host string) (worked bool) {
	up := t.cfg.Metrics("beats_host_sessions_total", fmt.Sprintf("host=%q", host))
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if t.cfg.TLS != nil {
		cfg := t.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(host)
		}
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", host)
	}
	if err != nil {
		t.cfg.Log.WithError(err).WithField("host", host).Debug("beats host down")
		return false
	}
	defer conn.Close()
	up.Inc()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	cl, err := lumber.NewWithConn(conn, lumber.JSONEncoder(passThrough), lumber.Timeout(t.cfg.Timeout))
	if err != nil {
		return false
	}
	ok := t.cfg.Metrics("beats_windows_total", fmt.Sprintf("host=%q,result=\"acked\"", host))
	var events []event
	var data []interface{}
	for {
		w := t.next()
		if w == nil {
			return worked
		}
		if cap(events) < len(w) {
			events, data = make([]event, len(w)), make([]interface{}, len(w))
		}
		for i := range w {
			events[i].b = w[i].Value
			data[i] = &events[i]
		}
		acked, err := send(cl, data[:len(w)])
		for _, r := range w[:acked] {
			t.cfg.Acker.Ack(r.Seq, sink.Delivered)
		}
		if err != nil {
			t.cfg.Metrics("beats_windows_total", fmt.Sprintf("host=%q,result=\"failed\"", host)).Inc()
			t.giveBack(w[acked:])
			t.cfg.Log.WithError(err).WithField("host", host).Warn("beats host failed; its window goes to the next host")
			return worked
		}
		ok.Inc()
		worked = true
	}
}

func send(cl *lumber.Client, data []interface{}) (int, error) {
	if err := cl.Send(data); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	seq, err := cl.AwaitACK(uint32(len(data)))
	if err != nil {
		return int(seq), fmt.Errorf("ack: %w", err)
	}
	return int(seq), nil
}
