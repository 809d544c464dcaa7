package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
)

// TestPlanReportFollowsLogFormat runs up to the daemon (none answers): the
// plan is printed, then the run fails. Under json every stdout line is a
// JSON entry, the plan's with source "plan"; under text the plan lines are
// as before. The password stays masked either way.
func TestPlanReportFollowsLogFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"text", "json"} {
		res := plugintest.Run(t, newApp("test"), map[string]string{
			"DOCKER_HOST": "unix://" + filepath.Join(dir, "none.sock"),
			"PLUGIN_REPO": "127.0.0.1:5000/proj/app", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
			"DRONE_WORKSPACE": dir, "PLUGIN_USERNAME": "ci", "PLUGIN_PASSWORD": canary, "PLUGIN_LOG_FORMAT": format,
			"PLUGIN_BUILD_ARGS": "TOKEN=" + canary, "PLUGIN_LABELS": "leak=" + canary,
		})
		if res.Code != 1 || strings.Contains(res.Output(), canary) {
			t.Fatalf("%s: exit %d:\n%s", format, res.Code, res.Output())
		}
		lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
		if format == "text" {
			if !strings.HasPrefix(lines[0], "plan: build 127.0.0.1:5000/proj/app (context ") || !strings.Contains(res.Stdout, "plan: label leak=******\n") {
				t.Errorf("text plan:\n%s", res.Stdout)
			}
			continue
		}
		plan := 0
		for _, line := range lines {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			if e["source"] == "plan" {
				plan++
			}
		}
		if plan < 3 || !strings.Contains(res.Stdout, `"msg":"plan: label leak=******"`) {
			t.Errorf("%d plan entries:\n%s", plan, res.Stdout)
		}
	}
}
