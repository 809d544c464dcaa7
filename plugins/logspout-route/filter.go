package main

import (
	"path"
	"strings"
)

// pathMatch is path.Match, logspout's glob for names and label values.
func pathMatch(pattern, name string) (bool, error) { return path.Match(pattern, name) }

// excludeLabel is one EXCLUDE_LABELS entry: key, or key:value (value
// defaults to "true"); both compared case-insensitively, as logspout does.
type excludeLabel struct{ key, value string }

// parseExcludeLabels parses EXCLUDE_LABELS: ';'-separated key or key:value.
func parseExcludeLabels(s string) []excludeLabel {
	var out []excludeLabel
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		k, v, ok := strings.Cut(e, ":")
		if !ok {
			v = "true"
		}
		out = append(out, excludeLabel{key: k, value: v})
	}
	return out
}

// skipReason says why a container is not read ("" = read it), following
// logspout's rules in order: TTY, LOGSPOUT=ignore, excluded label, log driver.
func skipReason(c *containerInfo, allowTTY bool, exclude []excludeLabel) string {
	if c.Tty && !allowTTY {
		return "tty (set ALLOW_TTY=true)"
	}
	for _, kv := range c.Env {
		if k, v, _ := strings.Cut(kv, "="); k == "LOGSPOUT" && strings.EqualFold(v, "ignore") {
			return "LOGSPOUT=ignore"
		}
	}
	for _, ex := range exclude {
		for k, v := range c.Labels {
			if strings.EqualFold(k, ex.key) && strings.EqualFold(v, ex.value) {
				return "label " + ex.key
			}
		}
	}
	switch c.LogDriver {
	case "json-file", "journald", "db", "":
	default:
		return "log driver " + c.LogDriver
	}
	return ""
}

// matchContainer is logspout's Route.MatchContainer: id prefix, name glob
// (without the leading '/'), and every key:glob label entry.
func (r *Route) matchContainer(c *containerInfo) bool {
	if r.FilterID != "" && !strings.HasPrefix(c.ID, r.FilterID) {
		return false
	}
	if r.FilterName != "" {
		if ok, _ := pathMatch(r.FilterName, strings.TrimPrefix(c.Name, "/")); !ok {
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
		if m, _ := pathMatch(glob, v); !m {
			return false
		}
	}
	return true
}

// sourceMask returns which streams the route takes: bit 1 stdout, bit 2 stderr.
func (r *Route) sourceMask() uint8 {
	if len(r.FilterSources) == 0 {
		return 1<<streamStdout | 1<<streamStderr
	}
	var m uint8
	for _, s := range r.FilterSources {
		switch s {
		case "stdout":
			m |= 1 << streamStdout
		case "stderr":
			m |= 1 << streamStderr
		}
	}
	return m
}
