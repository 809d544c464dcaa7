package route

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// ParseURIs parses logspout's comma-separated ROUTE_URIS. Each URI's
// $VARs are expanded from getenv first, as logspout does with os.ExpandEnv.
func (g *Registry) ParseURIs(s string, getenv func(string) string) ([]*logs.Route, error) {
	var out []*logs.Route
	for _, u := range splitURIs(s) {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		r, err := g.ParseURI(os.Expand(u, getenv))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// splitURIs splits ROUTE_URIS on the commas that start a new URI: a piece
// without "://" continues the one before (kafka://b1:9092,b2:9092/topic).
func splitURIs(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if len(out) > 0 && !strings.Contains(p, "://") && strings.TrimSpace(p) != "" {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// ParseURI parses adapter[+transport]://host:port[?filter.*=..&opt=..].
func (g *Registry) ParseURI(uri string) (*logs.Route, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", uri, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("route %q: want adapter[+transport]://host:port", uri)
	}
	r := &logs.Route{Adapter: u.Scheme, Address: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		r.Options = map[string]string{"path": "/" + p} // kafka's topic, elasticsearch's URL prefix
	}
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
			r.FilterLabels = logs.SplitList(v)
		case "filter.sources":
			r.FilterSources = logs.SplitList(v)
		default:
			if r.Options == nil {
				r.Options = map[string]string{}
			}
			r.Options[key] = v
		}
	}
	if err := g.Validate(r); err != nil {
		return nil, fmt.Errorf("route %q: %w", uri, err)
	}
	r.ID = logs.NewRouteID()
	return r, nil
}
