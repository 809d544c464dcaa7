package droneyaml

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// settingRow matches a parameter row of a generated DOCS.md: | `name` | ...
var settingRow = regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|")

// pluginSettings reads the settings a plugin accepts from its DOCS.md, which
// is generated from its flags and checked for staleness by the plugin's tests.
func pluginSettings(t *testing.T, root, plugin string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "plugins", plugin, "DOCS.md"))
	if err != nil {
		t.Fatalf("plugin %s: %v", plugin, err)
	}
	out := map[string]bool{}
	for _, m := range settingRow.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

// TestLightshipPipelineMatchesPluginFlags keeps the root .drone.yml honest:
// every lightship/* step names an existing plugin and only settings it has.
func TestLightshipPipelineMatchesPluginFlags(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	text, err := os.ReadFile(filepath.Join(root, ".drone.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Parse(string(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatal(".drone.yml has no pipeline")
	}
	checked := 0
	for _, p := range ps {
		for _, s := range p.Steps {
			name, ok := strings.CutPrefix(s.Image, "lightship/")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, ":")
			known := pluginSettings(t, root, name)
			for k := range s.Settings {
				if !known[k] {
					t.Errorf("step %s: %s has no setting %q", s.Name, s.Image, k)
				}
			}
			checked++
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d lightship steps, want the 4 image builds and the notification", checked)
	}
}
