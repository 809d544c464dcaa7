package logs

import (
	"crypto/sha1" //nolint:gosec // logspout's route id form, not security
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path"
	"strconv"
	"strings"
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

// NewRouteID is logspout's id form: the first 12 hex digits of a sha1 of
// the time (plus a random number, so that routes made in one tick differ).
func NewRouteID() string {
	h := sha1.Sum([]byte(strconv.FormatInt(time.Now().UnixNano(), 10) + "." + strconv.FormatUint(rand.Uint64(), 10))) //nolint:gosec // an id, not security
	return hex.EncodeToString(h[:])[:12]
}

// ValidateFilters refuses a bad filter glob or an unknown source.
func (r *Route) ValidateFilters() error {
	if r.FilterName != "" {
		if _, err := path.Match(r.FilterName, ""); err != nil {
			return fmt.Errorf("filter.name %q: %w", r.FilterName, err)
		}
	}
	for _, l := range r.FilterLabels {
		_, glob, _ := strings.Cut(l, ":")
		if _, err := path.Match(glob, ""); err != nil {
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

// MatchContainer is logspout's Route.MatchContainer: id prefix, name glob
// (without the leading '/'), and every key:glob label entry.
func (r *Route) MatchContainer(c *ContainerInfo) bool {
	if r.FilterID != "" && !strings.HasPrefix(c.ID, r.FilterID) {
		return false
	}
	if r.FilterName != "" {
		if ok, _ := path.Match(r.FilterName, strings.TrimPrefix(c.Name, "/")); !ok {
			return false
		}
	}
	for _, l := range r.FilterLabels {
		k, glob, _ := strings.Cut(l, ":")
		v, ok := c.Labels[k]
		if !ok {
			return false
		}
		if glob == "" {
			continue
		}
		if m, _ := path.Match(glob, v); !m {
			return false
		}
	}
	return true
}

// SourceMask returns which streams the route takes: bit 1 stdout, bit 2 stderr.
func (r *Route) SourceMask() uint8 {
	if len(r.FilterSources) == 0 {
		return 1<<StreamStdout | 1<<StreamStderr
	}
	var m uint8
	for _, s := range r.FilterSources {
		switch s {
		case "stdout":
			m |= 1 << StreamStdout
		case "stderr":
			m |= 1 << StreamStderr
		}
	}
	return m
}

// SplitList splits a comma list, dropping empty items.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
