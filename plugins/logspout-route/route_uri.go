package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Route is one destination, in logspout's router.Route JSON shape (the
// /routes API and ROUTESPATH files use it unchanged).
type Route struct {
	ID            string            `json:"id"`
	FilterID      string            `json:"filter_id,omitempty"`
	FilterName    string            `json:"filter_name,omitempty"`
	FilterSources []string          `json:"filter_sources,omitempty"`
	FilterLabels  []string          `json:"filter_labels,omitempty"`
	Adapter       string            `json:"adapter"`
	Address       string            `json:"address"`
	Options       map[string]string `json:"options,omitempty"`
}

// adapters lists the adapter[+transport] names a route may use; the value is
// the default transport.
var adapters = map[string]string{
	"logstash": "udp",
	"syslog":   "udp",
	"raw":      "udp",
	"beats":    "tcp",
	"tcp":      "tcp", // logspout: raw over that transport
	"udp":      "udp",
	"tls":      "tls",
}

var routeIDSeq atomic.Int64

var transports = map[string]bool{"tcp": true, "udp": true, "tls": true}

// splitAdapter returns a route's format and transport: "logstash+tcp" ->
// ("logstash", "tcp"); "tcp" -> ("raw", "tcp"); "beats" -> ("beats", "tcp").
func splitAdapter(adapter string) (format, transport string, err error) {
	name, tr, hasTr := strings.Cut(adapter, "+")
	def, ok := adapters[name]
	if !ok {
		return "", "", fmt.Errorf("bad adapter: %s", adapter)
	}
	if transports[name] && !hasTr {
		return "raw", name, nil
	}
	if !hasTr {
		return name, def, nil
	}
	if transports[name] || !transports[tr] {
		return "", "", fmt.Errorf("bad adapter: %s", adapter)
	}
	if name == "beats" && tr == "udp" {
		return "", "", fmt.Errorf("bad adapter: %s: beats needs tcp or tls", adapter)
	}
	return name, tr, nil
}

// parseRouteURIs parses logspout's comma-separated ROUTE_URIS. Each URI is
// expanded with os.ExpandEnv first, as logspout does.
func parseRouteURIs(s string) ([]*Route, error) {
	var out []*Route
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		r, err := parseRouteURI(os.ExpandEnv(u))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// parseRouteURI parses adapter[+transport]://host:port[?filter.*=..&opt=..].
func parseRouteURI(uri string) (*Route, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", uri, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("route %q: want adapter[+transport]://host:port", uri)
	}
	r := &Route{Adapter: u.Scheme, Address: u.Host}
	for key, vals := range u.Query() {
		v := ""
		if len(vals) > 0 {
			v = vals[len(vals)-1]
		}
		switch key {
		case "filter.id":
			r.FilterID = v
		case "filter.name":
			r.FilterName = v
		case "filter.labels":
			r.FilterLabels = splitList(v)
		case "filter.sources":
			r.FilterSources = splitList(v)
		default:
			if r.Options == nil {
				r.Options = map[string]string{}
			}
			r.Options[key] = v
		}
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("route %q: %w", uri, err)
	}
	r.ID = newRouteID()
	return r, nil
}

// validate refuses a route that could never work: unknown adapter, address
// without a port, bad filter glob, unknown source.
func (r *Route) validate() error {
	if _, _, err := splitAdapter(r.Adapter); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(r.Address)
	if err != nil {
		return fmt.Errorf("address %q: %w", r.Address, err)
	}
	if host == "" {
		return fmt.Errorf("address %q: no host", r.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("address %q: bad port", r.Address)
	}
	if r.FilterName != "" {
		if _, err := pathMatch(r.FilterName, ""); err != nil {
			return fmt.Errorf("filter.name %q: %w", r.FilterName, err)
		}
	}
	for _, l := range r.FilterLabels {
		_, glob, _ := strings.Cut(l, ":")
		if _, err := pathMatch(glob, ""); err != nil {
			return fmt.Errorf("filter.labels %q: %w", l, err)
		}
	}
	for _, s := range r.FilterSources {
		if s != "stdout" && s != "stderr" {
			return fmt.Errorf("filter.sources %q: want stdout or stderr", s)
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// newRouteID is logspout's id: the first 12 hex digits of sha1(UnixNano).
func newRouteID() string {
	// The counter keeps ids apart when several routes are made in one tick.
	n := routeIDSeq.Add(1)
	h := sha1.Sum([]byte(strconv.FormatInt(time.Now().UnixNano()+n, 10)))
	return hex.EncodeToString(h[:])[:12]
}
