// Package droneyaml reads a .drone.yml and turns each plugin step into the
// environment Drone would give its container. It emulates Drone's documented
// rules (see shared/api/drone-env.md): settings become PLUGIN_<KEY> with the
// key upper-cased and nothing else changed; lists of scalars are
// comma-joined, objects and lists of objects are JSON; null is skipped;
// `${VAR}` in the file is substituted from the build environment first
// (a value holding a newline is inserted Go-quoted, as the Drone server does,
// so it cannot break the YAML around it) and `$$` stands for `$`. Both Drone 0.8 (settings at the step's top level,
// `secrets:` lists) and Drone 1.x (`settings:`, `from_secret`) are read.
package droneyaml

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/drone/envsubst"
	"gopkg.in/yaml.v3"
)

// Step is one step of a pipeline.
type Step struct {
	Name  string
	Image string
	// Settings are the plugin settings, as decoded from YAML.
	Settings map[string]any
	// Environment is the step's environment: map.
	Environment map[string]any
	// Secrets are Drone 0.8 secret references.
	Secrets []SecretRef
	// Commands is set for command steps.
	Commands []string
	// Volumes are Drone 0.8 host mounts, "host:container".
	Volumes []string
	// When is the step's condition, kept raw.
	When map[string]any
}

// SecretRef maps a stored secret to an environment name (Drone 0.8).
type SecretRef struct {
	Source string
	Target string
}

// Pipeline is the steps of one pipeline, in order.
type Pipeline struct {
	Name  string
	Steps []Step
}

// reserved08 returns the step keys of Drone 0.8 that are not plugin settings.
func reserved08() map[string]bool {
	return map[string]bool{
		"image": true, "commands": true, "command": true, "secrets": true, "when": true,
		"environment": true, "volumes": true, "privileged": true, "pull": true, "group": true,
		"network_mode": true, "detach": true, "entrypoint": true, "shm_size": true, "devices": true,
		"dns": true, "extra_hosts": true, "failure": true, "depends_on": true, "labels": true,
		"tmpfs": true, "ulimits": true, "mem_limit": true, "ports": true,
	}
}

// Parse substitutes build variables into text (Drone's envsubst), then reads
// every pipeline document in it.
func Parse(text string, vars map[string]string) ([]Pipeline, error) {
	subst, err := envsubst.Eval(text, func(name string) string {
		v := vars[name]
		if strings.Contains(v, "\n") {
			v = fmt.Sprintf("%q", v)
		}
		return v
	})
	if err != nil {
		return nil, fmt.Errorf("substitute: %w", err)
	}
	dec := yaml.NewDecoder(strings.NewReader(subst))
	var out []Pipeline
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parse yaml: %w", err)
		}
		p, ok, err := pipelineOf(&doc)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func pipelineOf(doc *yaml.Node) (Pipeline, bool, error) {
	var top map[string]yaml.Node
	if err := doc.Decode(&top); err != nil {
		return Pipeline{}, false, fmt.Errorf("parse yaml: %w", err)
	}
	if n, ok := top["pipeline"]; ok { // Drone 0.8: a map of steps, in file order
		steps, err := steps08(&n)
		return Pipeline{Name: "default", Steps: steps}, true, err
	}
	n, ok := top["steps"]
	if !ok {
		return Pipeline{}, false, nil // a secret, signature or other document
	}
	var name string
	if nn, ok := top["name"]; ok {
		_ = nn.Decode(&name)
	}
	steps, err := steps1x(&n)
	return Pipeline{Name: name, Steps: steps}, true, err
}

func steps08(n *yaml.Node) ([]Step, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("pipeline: want a map of steps")
	}
	var out []Step
	for i := 0; i+1 < len(n.Content); i += 2 {
		var raw map[string]any
		if err := n.Content[i+1].Decode(&raw); err != nil {
			return nil, fmt.Errorf("step %s: %w", n.Content[i].Value, err)
		}
		s, err := step08(n.Content[i].Value, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func step08(name string, raw map[string]any) (Step, error) {
	s := Step{Name: name, Settings: map[string]any{}}
	if err := common(&s, raw); err != nil {
		return s, err
	}
	for k, v := range raw {
		if !reserved08()[k] {
			s.Settings[k] = v
		}
	}
	refs, err := secretRefs(raw["secrets"])
	if err != nil {
		return s, fmt.Errorf("step %s: %w", name, err)
	}
	s.Secrets = refs
	return s, nil
}

func steps1x(n *yaml.Node) ([]Step, error) {
	var raws []map[string]any
	if err := n.Decode(&raws); err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	out := make([]Step, 0, len(raws))
	for _, raw := range raws {
		name, _ := raw["name"].(string)
		s := Step{Name: name, Settings: map[string]any{}}
		if err := common(&s, raw); err != nil {
			return nil, err
		}
		if m, ok := raw["settings"].(map[string]any); ok {
			s.Settings = m
		}
		out = append(out, s)
	}
	return out, nil
}

func common(s *Step, raw map[string]any) error {
	s.Image, _ = raw["image"].(string)
	if env, ok := raw["environment"].(map[string]any); ok {
		s.Environment = env
	}
	if w, ok := raw["when"].(map[string]any); ok {
		s.When = w
	}
	if vols, ok := raw["volumes"].([]any); ok {
		for _, v := range vols {
			if str, ok := v.(string); ok {
				s.Volumes = append(s.Volumes, str)
			}
		}
	}
	if cmds, ok := raw["commands"].([]any); ok {
		for _, c := range cmds {
			s.Commands = append(s.Commands, fmt.Sprint(c))
		}
	}
	if s.Image == "" {
		return fmt.Errorf("step %s: no image", s.Name)
	}
	return nil
}

func secretRefs(v any) ([]SecretRef, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("secrets: want a list")
	}
	var out []SecretRef
	for _, item := range list {
		switch it := item.(type) {
		case string:
			out = append(out, SecretRef{Source: it, Target: it})
		case map[string]any:
			src, _ := it["source"].(string)
			dst, _ := it["target"].(string)
			if src == "" || dst == "" {
				return nil, fmt.Errorf("secrets: want source and target")
			}
			out = append(out, SecretRef{Source: src, Target: dst})
		default:
			return nil, fmt.Errorf("secrets: unexpected %T", item)
		}
	}
	return out, nil
}

// Env returns the environment Drone gives the step's container: build
// variables, the step's environment, PLUGIN_* settings and secrets.
// Secrets are looked up by lower-cased name; a missing one is an error.
func (s Step) Env(build map[string]string, secrets map[string]string) (map[string]string, error) {
	env := map[string]string{}
	for k, v := range build {
		env[k] = v
	}
	for k, v := range s.Environment {
		ev, err := encode(v, secrets)
		if err != nil {
			return nil, fmt.Errorf("step %s: environment %s: %w", s.Name, k, err)
		}
		env[k] = ev
	}
	for k, v := range s.Settings {
		if v == nil {
			continue
		}
		ev, err := encode(v, secrets)
		if err != nil {
			return nil, fmt.Errorf("step %s: setting %s: %w", s.Name, k, err)
		}
		env["PLUGIN_"+strings.ToUpper(k)] = ev
	}
	for _, ref := range s.Secrets {
		v, ok := secrets[strings.ToLower(ref.Source)]
		if !ok {
			return nil, fmt.Errorf("step %s: no secret found for %q", s.Name, ref.Source)
		}
		env[strings.ToUpper(ref.Target)] = v
	}
	return env, nil
}

// encode turns a YAML value into an environment value.
func encode(v any, secrets map[string]string) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), nil
	case []any:
		return encodeList(t)
	case map[string]any:
		if name, ok := t["from_secret"].(string); ok && len(t) == 1 {
			s, found := secrets[strings.ToLower(name)]
			if !found {
				return "", fmt.Errorf("no secret found for %q", name)
			}
			return s, nil
		}
		b, err := json.Marshal(t) // encoding/json sorts keys: stable output
		return string(b), err
	}
	return fmt.Sprint(v), nil
}

func encodeList(list []any) (string, error) {
	parts := make([]string, 0, len(list))
	for _, item := range list {
		switch item.(type) {
		case map[string]any, []any:
			b, err := json.Marshal(list)
			return string(b), err
		}
		s, err := encode(item, nil)
		if err != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ","), nil
}
