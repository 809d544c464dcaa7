package route

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink/elastic"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink/kafka"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink/lumberlb"
)

// Routes whose transport reports each line on its own (issue 14: Kafka,
// Elasticsearch, beats to several hosts): lines go out in queue order,
// outcomes come back in any order, and the route confirms (moves its resume
// point over) the unbroken run of settled lines at the front. A transport
// that gives up on a line ends the session: the route reconnects and every
// unconfirmed line goes out again (at-least-once, as beats).

// SinkSecrets are the settings (Drone secrets) of the kafka and
// elasticsearch routes; never part of a route URI.
type SinkSecrets struct {
	KafkaPassword string
	ESPassword    string
	ESAPIKey      string
}

// RegisterSinks adds kafka (tcp, tls), elasticsearch (http, https) and
// multi-host beats to g.
func RegisterSinks(g *Registry, sec SinkSecrets) {
	g.RegisterTransport("http", netTransport{network: "tcp", stream: true})
	g.RegisterTransport("https", netTransport{network: "tcp", tls: true, stream: true})
	g.Register(&AdapterSpec{Name: "kafka", DefaultTransport: "tcp", Transports: []string{"tcp", "tls"},
		CheckAddress: checkHostPorts, CheckRoute: checkSinkRoute, NewEncoder: newEventEncoder, Logstash: true,
		NewAdapter: func(tr string) Adapter {
			return &sinkAdapter{kind: "kafka", transport: tr, sec: sec, hostname: ReadHostHostname()}
		}})
	g.Register(&AdapterSpec{Name: "elasticsearch", DefaultTransport: "http", Transports: []string{"http", "https"},
		CheckRoute: checkSinkRoute, NewEncoder: newEventEncoder, Logstash: true,
		NewAdapter: func(tr string) Adapter {
			return &sinkAdapter{kind: "elasticsearch", transport: tr, sec: sec, hostname: ReadHostHostname()}
		}})
	if b := g.adapters["beats"]; b != nil {
		multi := *b
		single := b.NewAdapter
		multi.CheckAddress = checkHostPorts
		multi.NewAdapter = func(tr string) Adapter {
			return &beatsHosts{single: single(tr), multi: &sinkAdapter{kind: "beats", transport: tr, sec: sec}}
		}
		g.Register(&multi)
	}
}

// newEventEncoder is the logstash JSON event, one per record (no newline).
func newEventEncoder(f *Formats, r *logs.Route, _ bool) Encoder {
	return newLogstashEncoder(f, r, false)
}

// checkHostPorts validates host:port[,host:port...].
func checkHostPorts(addr string) error {
	for _, a := range strings.Split(addr, ",") {
		if err := checkHostPort(strings.TrimSpace(a)); err != nil {
			return err
		}
	}
	return nil
}

// beatsHosts serves a beats route: one host as before, several (or
// loadbalance=true) through lumberlb.
type beatsHosts struct {
	single Adapter
	multi  Adapter
}

func (b *beatsHosts) Serve(ctx context.Context, l *Link) error {
	if strings.Contains(l.Route.Address, ",") || l.Route.Options["loadbalance"] == "true" {
		return b.multi.Serve(ctx, l)
	}
	return b.single.Serve(ctx, l)
}

// checkSinkRoute validates a kafka or elasticsearch route's options.
func checkSinkRoute(r *logs.Route) error {
	kind, tr, _ := strings.Cut(r.Adapter, "+")
	switch kind {
	case "kafka":
		c := kafkaConfig(r, tr, nil, SinkSecrets{})
		if err := c.Check(); err != nil {
			return err
		}
	case "elasticsearch":
		c := esConfig(r, tr, nil, SinkSecrets{})
		if err := c.Check(); err != nil {
			return err
		}
	}
	if v := r.Options["linger"]; v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			return fmt.Errorf("linger %q: %w", v, err)
		}
	}
	for _, k := range []string{"bulk_size", "bulk_bytes", "workers"} {
		if v := r.Options[k]; v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return fmt.Errorf("%s %q: want a positive number", k, v)
			}
		}
	}
	return nil
}

func optDuration(r *logs.Route, k string) time.Duration {
	d, _ := time.ParseDuration(r.Options[k])
	return d
}

func optInt(r *logs.Route, k string) int {
	n, _ := strconv.Atoi(r.Options[k])
	return n
}

func kafkaConfig(r *logs.Route, transport string, tlsCfg *tls.Config, s SinkSecrets) kafka.Config {
	topic := r.Options["topic"]
	if topic == "" {
		topic = strings.Trim(r.Options["path"], "/")
	}
	c := kafka.Config{
		Brokers: strings.Split(r.Address, ","), Topic: topic, SASL: r.Options["sasl"], User: r.Options["sasl_user"],
		Password: s.KafkaPassword, ClientID: r.Options["client_id"], Compression: r.Options["compression"],
		Linger: optDuration(r, "linger"),
	}
	if transport == "tls" {
		c.TLS = tlsCfg
		if c.TLS == nil {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	return c
}

func esConfig(r *logs.Route, transport string, tlsCfg *tls.Config, s SinkSecrets) elastic.Config {
	scheme := "http"
	if transport == "https" {
		scheme = "https"
	}
	c := elastic.Config{
		URL: scheme + "://" + r.Address + strings.TrimSuffix(r.Options["path"], "/"), Index: r.Options["index"],
		BatchSize: optInt(r, "bulk_size"), BatchBytes: optInt(r, "bulk_bytes"), Linger: optDuration(r, "linger"),
		Workers: optInt(r, "workers"), Username: r.Options["user"], Password: s.ESPassword, APIKey: s.ESAPIKey,
	}
	if c.Index == "" {
		c.Index = "logs-docker-default"
	}
	if c.Username != "" {
		c.APIKey = "" // a route naming a user authenticates as that user
	}
	if scheme == "https" {
		c.TLS = tlsCfg
	}
	return c
}

// sinkAdapter runs a package sink transport for one route.
type sinkAdapter struct {
	kind      string
	transport string
	sec       SinkSecrets

	mu       sync.Mutex
	made     map[string]sink.Counter
	ctrs     map[*logs.Container]*sink.Container
	failed   sink.Counter
	hostname string // /etc/host_hostname, read once: ECS host.name
}

func (s *sinkAdapter) newTransport(l *Link, a sink.Acker) (sink.Transport, error) {
	log := l.Log.WithField("route", l.Route.ID)
	m := s.metrics(l)
	switch s.kind {
	case "kafka":
		c := kafkaConfig(l.Route, s.transport, l.TLS, s.sec)
		c.Acker, c.Metrics, c.Log, c.MaxBuffered = a, m, log, len(l.q.ring)
		return kafka.New(c)
	case "elasticsearch":
		c := esConfig(l.Route, s.transport, l.TLS, s.sec)
		c.Acker, c.Metrics, c.Log, c.Timeout = a, m, log, l.WriteTimeout
		return elastic.New(c)
	}
	c := lumberlb.Config{Hosts: strings.Split(l.Route.Address, ","), LoadBalance: l.Route.Options["loadbalance"] == "true",
		Timeout: l.WriteTimeout, Acker: a, Metrics: m, Log: log}
	if s.transport == "tls" {
		c.TLS = l.TLS
		if c.TLS == nil {
			c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	return lumberlb.New(c)
}

// metrics makes the transport's counters on the route's set; they are
// unregistered with the route.
func (s *sinkAdapter) metrics(l *Link) sink.Metrics {
	m := l.run.metrics
	return func(name, labels string) sink.Counter {
		key := name + "\x00" + labels
		s.mu.Lock()
		defer s.mu.Unlock()
		if c := s.made[key]; c != nil {
			return c
		}
		if s.made == nil {
			s.made = map[string]sink.Counter{}
		}
		if labels != "" {
			labels = "," + labels
		}
		full := fmt.Sprintf(`logspout_route_%s{route=%q,adapter=%q%s}`, name, l.Route.ID, l.Route.Adapter, labels)
		c := m.set.GetOrCreateCounter(full)
		if !slices.Contains(m.names, full) {
			m.names = append(m.names, full)
		}
		s.made[key] = c
		return c
	}
}

// Serve runs one session: a transport, fed from the queue, until it gives
// up on a line or ctx ends; then every outcome is awaited before return.
func (s *sinkAdapter) Serve(ctx context.Context, l *Link) error {
	if s.failed == nil {
		s.failed = s.metrics(l)("lines_failed_total", "")
	}
	a := &acks{l: l, failed: s.failed, kick: make(chan struct{}, 1)}
	t, err := s.newTransport(l, a)
	if err != nil {
		return err
	}
	l.Connected()
	sctx, stop := context.WithCancel(ctx)
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		for {
			select {
			case <-a.kick:
				a.advance()
			case <-sctx.Done():
				return
			}
		}
	}()
	err = s.feed(ctx, l, t, a)
	t.Close()
	for ctx.Err() == nil && a.outstanding() > 0 {
		select {
		case <-a.kick:
			a.advance()
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	<-advanced
	a.advance()
	return err
}

// feed hands queued lines to t until ctx ends or t gives up on a line.
func (s *sinkAdapter) feed(ctx context.Context, l *Link, t sink.Transport, a *acks) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	recs := make([]sink.Record, 0, l.Batch)
	for {
		if a.gaveUp() {
			return errors.New("the transport gave up on a line; sending the unconfirmed lines again")
		}
		from, to := l.Take(l.Batch)
		if from == to {
			l.Done()
			// The tick re-checks a.gaveUp while lines await their
			// confirmation; with none outstanding an idle route sleeps.
			var check <-chan time.Time
			if a.outstanding() > 0 {
				check = tick.C
			}
			if err := l.Wait(ctx, check); err != nil {
				return err
			}
			continue
		}
		recs = recs[:0]
		for i := from; i < to; i++ {
			e := l.At(i)
			recs = append(recs, sink.Record{Seq: i, Container: s.container(l, e.Ctr), NS: e.Pos.NS, N: e.Pos.N, Value: l.Encode(nil, e)})
		}
		l.Done()
		a.sent(from, to)
		if err := t.Send(ctx, recs); err != nil {
			return err
		}
	}
}

// container is c as transports see it: one pointer per container.
func (s *sinkAdapter) container(l *Link, c *logs.Container) *sink.Container {
	if sc := s.ctrs[c]; sc != nil {
		return sc
	}
	if s.ctrs == nil || len(s.ctrs) > 4096 {
		s.ctrs = map[*logs.Container]*sink.Container{}
	}
	info := c.Info
	host := info.Hostname
	if h := s.hostname; h != "" {
		host = h
	}
	sc := &sink.Container{ID: info.ID, Name: info.Name, Image: info.Image, Hostname: host, Labels: info.Labels}
	s.ctrs[c] = sc
	return sc
}

// acks collects a session's outcomes: st[i] is line base+i's.
type acks struct {
	l      *Link
	failed sink.Counter
	kick   chan struct{}

	cmu     sync.Mutex // one confirm at a time
	mu      sync.Mutex
	base    uint64
	st      []uint8
	pending int
	retry   bool
}

const (
	ackWaiting uint8 = iota
	ackSettled       // delivered, or refused for good (counted, skipped)
	ackRetry
)

func (a *acks) sent(from, to uint64) {
	a.mu.Lock()
	if len(a.st) == 0 {
		a.base = from
	}
	for i := from; i < to; i++ {
		a.st = append(a.st, ackWaiting)
	}
	a.pending += int(to - from)
	a.mu.Unlock()
}

// Ack implements sink.Acker.
func (a *acks) Ack(seq uint64, o sink.Outcome) {
	a.mu.Lock()
	if seq >= a.base && seq-a.base < uint64(len(a.st)) && a.st[seq-a.base] == ackWaiting {
		a.pending--
		switch o {
		case sink.Delivered:
			a.st[seq-a.base] = ackSettled
		case sink.Failed:
			a.st[seq-a.base] = ackSettled
			a.failed.Inc()
		default:
			a.st[seq-a.base] = ackRetry
			a.retry = true
		}
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// advance confirms the settled lines at the front and writes the state.
func (a *acks) advance() {
	a.cmu.Lock()
	defer a.cmu.Unlock()
	a.mu.Lock()
	n := 0
	for n < len(a.st) && a.st[n] == ackSettled {
		n++
	}
	a.st = a.st[n:]
	a.base += uint64(n)
	upTo := a.base
	a.mu.Unlock()
	if n > 0 {
		a.l.Acked(upTo)
	}
}

func (a *acks) gaveUp() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.retry
}

func (a *acks) outstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}
