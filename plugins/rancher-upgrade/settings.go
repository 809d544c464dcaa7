package main

import (
	"sort"
	"strconv"
	"strings"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
)

// Traefik is the traefik_* group: labels as rawmind0's rancher-traefik reads them.
type Traefik struct {
	Enable, Domain, Alias, Port, Protocol string
}

func (t Traefik) any() bool {
	return t.Enable != "" || t.Domain != "" || t.Alias != "" || t.Port != "" || t.Protocol != ""
}

// label is one label to merge, in a stable order.
type label struct{ Key, Value string }

// sidekick is a v2-beta secondary launchConfig and its new image.
type sidekick struct{ Name, Image string }

// buildLabels merges the labels setting, pull_image and the traefik_* group.
// The same key given twice with different values is a settings error.
func (s *Settings) buildLabels(apiVersion string) ([]label, error) {
	m := map[string]string{}
	from := map[string]string{}
	set := func(setting, k, v string) error {
		if old, ok := m[k]; ok && old != v {
			return plugin.Invalid(setting, "label %s=%q conflicts with %s=%q from %s", k, v, k, old, plugin.EnvName(from[k]))
		}
		m[k], from[k] = v, setting
		return nil
	}
	parsed, err := parseLabels(s.Labels)
	if err != nil {
		return nil, err
	}
	for _, l := range parsed {
		if err := set("labels", l.Key, l.Value); err != nil {
			return nil, err
		}
	}
	if s.PullImage && apiVersion == "v2-beta" {
		if err := set("pull_image", "io.rancher.container.pull_image", "always"); err != nil {
			return nil, err
		}
	}
	tl, err := s.Traefik.labels()
	if err != nil {
		return nil, err
	}
	for _, l := range tl {
		if err := set("traefik_"+strings.TrimPrefix(l.Key, "traefik."), l.Key, l.Value); err != nil {
			return nil, err
		}
	}
	out := make([]label, 0, len(m))
	for k, v := range m {
		out = append(out, label{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// parseLabels reads the labels setting: a JSON object or a k=v list
// (pkg/setting's map rule).
func parseLabels(s string) ([]label, error) {
	pairs, err := setting.Map(s)
	if err != nil {
		return nil, plugin.Invalid("labels", "%v", err)
	}
	out := make([]label, 0, len(pairs))
	for _, p := range pairs {
		if strings.ContainsAny(p.Key, " \t") {
			return nil, plugin.Invalid("labels", "label key %q has spaces", p.Key)
		}
		out = append(out, label{p.Key, p.Value})
	}
	return out, nil
}

// labels renders the traefik_* group; rancher-traefik splits lists on ","
// and does not trim, so spaces are refused rather than silently broken.
func (t Traefik) labels() ([]label, error) {
	var out []label
	if t.Enable != "" {
		switch t.Enable {
		case "true", "stack", "false":
		default:
			return nil, plugin.Invalid("traefik_enable", "%q must be true, stack or false", t.Enable)
		}
		out = append(out, label{"traefik.enable", t.Enable})
	}
	for _, l := range []struct{ setting, key, value string }{
		{"traefik_domain", "traefik.domain", t.Domain}, {"traefik_alias", "traefik.alias", t.Alias},
	} {
		if l.value == "" {
			continue
		}
		if strings.ContainsAny(l.value, " \t") {
			return nil, plugin.Invalid(l.setting, "%q: a comma list without spaces", l.value)
		}
		out = append(out, label{l.key, l.value})
	}
	if t.Port != "" {
		n, err := strconv.Atoi(t.Port)
		if err != nil || n < 1 || n > 65535 {
			return nil, plugin.Invalid("traefik_port", "%q must be a port number", t.Port)
		}
		out = append(out, label{"traefik.port", t.Port})
	}
	if t.Protocol != "" {
		if t.Protocol != "http" && t.Protocol != "https" {
			return nil, plugin.Invalid("traefik_protocol", "%q must be http or https", t.Protocol)
		}
		out = append(out, label{"traefik.protocol", t.Protocol})
	}
	return out, nil
}

// parseSidekicks reads "name image" (or name=image) pairs, comma separated.
func parseSidekicks(s string) ([]sidekick, error) {
	var out []sidekick
	for _, item := range setting.List(s) {
		f := strings.Fields(strings.Replace(item, "=", " ", 1))
		if len(f) != 2 {
			return nil, plugin.Invalid("sidekick", "%q must be `name image`", item)
		}
		out = append(out, sidekick{Name: f[0], Image: strings.TrimPrefix(f[1], "docker:")})
	}
	return out, nil
}
