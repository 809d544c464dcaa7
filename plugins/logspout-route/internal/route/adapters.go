package route

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// The two extension points, after logspout's router/types.go:
//   - Transport (logspout's AdapterTransport) connects to an address: tcp,
//     udp, tls.
//   - Adapter (logspout's LogAdapter) delivers one route's queue over a
//     session it opens: lines over a stream, datagrams, lumberjack windows;
//     an adapter may also connect by itself (Kafka, Elasticsearch) and
//     ignore the transport.
// An AdapterSpec names an adapter of adapter[+transport]:// and says how
// its routes are encoded and served. New sinks add a spec (and perhaps a
// transport) to the Registry; nothing else switches on adapter names.

// Transport connects a route to its address.
type Transport interface {
	Dial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error)
	// Stream is true for byte streams (lines end in '\n'), false for
	// datagrams.
	Stream() bool
}

// Adapter delivers one route's queue. Serve opens a session (through
// l.Dial or by itself), calls l.Connected once it stands, then takes
// batches from l and confirms what the destination acknowledged, until the
// session fails (the error is returned and the route reconnects with
// backoff) or ctx ends.
type Adapter interface {
	Serve(ctx context.Context, l *Link) error
}

// AdapterSpec describes one adapter name.
type AdapterSpec struct {
	Name string
	// DefaultTransport is used without "+transport"; "" for an adapter
	// that connects by itself (then "+transport" is refused).
	DefaultTransport string
	// Transports are the names accepted after '+' (nil: tcp, udp, tls).
	Transports []string
	// RawOver makes the name itself a transport alias: tcp:// = raw+tcp://.
	RawOver bool
	// CheckAddress validates a route's address (nil: host:port).
	CheckAddress func(addr string) error
	// CheckRoute, if set, validates the route's options.
	CheckRoute func(r *logs.Route) error
	// NewEncoder makes a route's encoder; stream: the transport is a byte
	// stream, so each line ends in '\n'.
	NewEncoder func(f *Formats, r *logs.Route, stream bool) Encoder
	// NewAdapter makes a route's adapter for its transport (nil: lines over
	// a stream transport, datagrams over udp).
	NewAdapter func(transport string) Adapter
	// Logstash: INCLUDE_CONTAINERS(_REGEX) select the containers.
	Logstash bool
}

// Registry is the adapters and transports routes may name. Builtin returns
// the default set; a new sink registers its spec on it at start-up.
type Registry struct {
	adapters   map[string]*AdapterSpec
	transports map[string]Transport
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{adapters: map[string]*AdapterSpec{}, transports: map[string]Transport{}}
}

// Register adds (or replaces) an adapter.
func (g *Registry) Register(s *AdapterSpec) { g.adapters[s.Name] = s }

// RegisterTransport adds (or replaces) a transport.
func (g *Registry) RegisterTransport(name string, t Transport) { g.transports[name] = t }

// Builtin is logspout-route's own set: logstash, syslog, raw, beats; tcp,
// udp, tls (also as raw aliases).
func Builtin() *Registry {
	g := NewRegistry()
	g.RegisterTransport("tcp", netTransport{network: "tcp", stream: true})
	g.RegisterTransport("udp", netTransport{network: "udp"})
	g.RegisterTransport("tls", netTransport{network: "tcp", tls: true, stream: true})
	g.Register(&AdapterSpec{Name: "logstash", DefaultTransport: "udp", NewEncoder: newLogstashEncoder, Logstash: true})
	g.Register(&AdapterSpec{Name: "syslog", DefaultTransport: "udp", NewEncoder: newSyslogLineEncoder})
	g.Register(&AdapterSpec{Name: "raw", DefaultTransport: "udp", NewEncoder: newRawEncoder})
	g.Register(&AdapterSpec{Name: "beats", DefaultTransport: "tcp", Transports: []string{"tcp", "tls"},
		NewEncoder: newBeatsEncoder, NewAdapter: func(string) Adapter { return beatsAdapter{} }, Logstash: true})
	for _, t := range []string{"tcp", "udp", "tls"} {
		g.Register(&AdapterSpec{Name: t, DefaultTransport: t, Transports: []string{}, RawOver: true, NewEncoder: newRawEncoder})
	}
	return g
}

// Resolved is a route's adapter name split into its parts.
type Resolved struct {
	Spec      *AdapterSpec
	Format    string // the adapter's name ("raw" for a tcp:// alias)
	Transport string // "" when the adapter connects by itself
	Multiline bool   // "multiline+" prefix: the route takes grouped lines
}

// Resolve splits adapter[+transport]: "logstash+tcp" -> (logstash, tcp);
// "tcp" -> (raw, tcp); "beats" -> (beats, tcp).
func (g *Registry) Resolve(adapter string) (Resolved, error) {
	if adapter == "multiline" {
		return Resolved{}, errors.New("multiline: adapter must have a sub-adapter, eg: multiline+raw+tcp")
	}
	if rest, ok := strings.CutPrefix(adapter, "multiline+"); ok {
		res, err := g.Resolve(rest)
		if err != nil {
			return Resolved{}, fmt.Errorf("bad adapter: %s: %w", adapter, err)
		}
		if res.Multiline {
			return Resolved{}, fmt.Errorf("bad adapter: %s", adapter)
		}
		res.Multiline = true
		return res, nil
	}
	name, tr, hasTr := strings.Cut(adapter, "+")
	s := g.adapters[name]
	if s == nil {
		return Resolved{}, fmt.Errorf("bad adapter: %s", adapter)
	}
	format := s.Name
	if s.RawOver {
		format = "raw"
	}
	if !hasTr {
		return Resolved{Spec: s, Format: format, Transport: s.DefaultTransport}, nil
	}
	allowed := s.Transports
	if allowed == nil {
		allowed = []string{"tcp", "udp", "tls"}
	}
	for _, a := range allowed {
		if a == tr && g.transports[tr] != nil {
			return Resolved{Spec: s, Format: format, Transport: tr}, nil
		}
	}
	if s.Name == "beats" && tr == "udp" {
		return Resolved{}, fmt.Errorf("bad adapter: %s: beats needs tcp or tls", adapter)
	}
	return Resolved{}, fmt.Errorf("bad adapter: %s", adapter)
}

// Validate refuses a route that could never work: unknown adapter, bad
// address, bad filter glob, unknown source.
func (g *Registry) Validate(r *logs.Route) error {
	res, err := g.Resolve(r.Adapter)
	if err != nil {
		return err
	}
	check := res.Spec.CheckAddress
	if check == nil {
		check = checkHostPort
	}
	if err := check(r.Address); err != nil {
		return err
	}
	if res.Spec.CheckRoute != nil {
		if err := res.Spec.CheckRoute(r); err != nil {
			return err
		}
	}
	return r.ValidateFilters()
}

// checkHostPort is the default address check: host:port.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", addr)
	}
	return nil
}

// netTransport dials tcp, udp or tls.
type netTransport struct {
	network string
	tls     bool
	stream  bool
}

func (t netTransport) Stream() bool { return t.stream }

func (t netTransport) Dial(ctx context.Context, addr string, tlsCfg *tls.Config) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !t.tls {
		return d.DialContext(ctx, t.network, addr)
	}
	cfg := tlsCfg.Clone()
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	return td.DialContext(ctx, "tcp", addr)
}
