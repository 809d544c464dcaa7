package pump

import (
	"strings"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// ExcludeLabel is one EXCLUDE_LABELS entry: key, or key:value (value
// defaults to "true"); both compared case-insensitively, as logspout does.
type ExcludeLabel struct{ key, value string }

// ParseExcludeLabels parses EXCLUDE_LABELS: ';'-separated key or key:value.
func ParseExcludeLabels(s string) []ExcludeLabel {
	var out []ExcludeLabel
	for _, e := range strings.Split(s, ";") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		k, v, ok := strings.Cut(e, ":")
		if !ok {
			v = "true"
		}
		out = append(out, ExcludeLabel{key: k, value: v})
	}
	return out
}

// skipReason says why a container is not read ("" = read it), following
// logspout's rules in order: TTY, LOGSPOUT=ignore, excluded label. Any log
// driver is attached: the daemon says itself when it cannot read one back.
func skipReason(c *logs.ContainerInfo, allowTTY bool, exclude []ExcludeLabel) string {
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
	return ""
}
