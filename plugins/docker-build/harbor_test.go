package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/harbor"
)

const adminPassword = "Admin-Canary-55e1"

func startHarbor(t *testing.T, o harbor.Options) *harbor.Harbor {
	t.Helper()
	if o.Users == nil {
		o.Users = map[string]harbor.User{
			"admin":   {Password: adminPassword, CanCreateProjects: true},
			robotUser: {Password: canary},
		}
	}
	h, err := harbor.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func harborEnv(t *testing.T, h *harbor.Harbor, project, user, password string) (map[string]string, string) {
	t.Helper()
	cli := dockertest.Client(t)
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := project + "/app-" + marker
	removeRefs(t, cli, h.Host+"/"+repo+":latest")
	return map[string]string{
		"PLUGIN_REPO":                 h.Host + "/" + repo,
		"PLUGIN_CONTEXT":              dir,
		"PLUGIN_DOCKERFILE":           filepath.Join(dir, "Dockerfile"),
		"PLUGIN_USERNAME":             user,
		"PLUGIN_PASSWORD":             password,
		"PLUGIN_HARBOR_URL":           h.URL,
		"PLUGIN_LOG_LEVEL":            "debug",
		"DRONE_WORKSPACE":             dir,
		"PLUGIN_PUSH_RETRIES":         "0",
		"PLUGIN_HARBOR_SCAN_INTERVAL": "50ms",
	}, repo
}

func noViolations(t *testing.T, h *harbor.Harbor) {
	t.Helper()
	for _, err := range h.Violations() {
		t.Error(err)
	}
}

func TestHarborMissingProjectIsCreatedWhenAllowed(t *testing.T) {
	h := startHarbor(t, harbor.Options{})
	env, repo := harborEnv(t, h, "fresh", "admin", adminPassword)
	env["PLUGIN_HARBOR_CREATE_PROJECT"] = "true"
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), adminPassword) {
		t.Errorf("password printed")
	}
	if p := h.Projects(); len(p) != 1 || p[0] != "fresh" {
		t.Errorf("projects %v, want [fresh]", p)
	}
	got := readResult(t, env["DRONE_WORKSPACE"])
	if d, err := h.Registry.Resolve(context.Background(), repo, "latest"); err != nil || d != got.Digest {
		t.Errorf("latest resolves to %q (%v), want %s", d, err, got.Digest)
	}
	noViolations(t, h)
}

func TestHarborProjectRobotCannotCreateProject(t *testing.T) {
	h := startHarbor(t, harbor.Options{})
	env, repo := harborEnv(t, h, "fresh", robotUser, canary)
	env["PLUGIN_HARBOR_CREATE_PROJECT"] = "true"
	res := runPlugin(t, env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	noSecret(t, res)
	for _, want := range []string{"fresh", "does not exist", "403", "Project robot accounts", "system robot"} {
		if !strings.Contains(res.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, res.Output())
		}
	}
	if len(h.Projects()) != 0 {
		t.Errorf("projects %v", h.Projects())
	}
	if tags, _ := h.Registry.Tags(context.Background(), repo); len(tags) != 0 {
		t.Errorf("pushed %v", tags)
	}
	noViolations(t, h)
}

func TestHarborMissingProjectWithoutCreateIsExplained(t *testing.T) {
	h := startHarbor(t, harbor.Options{})
	env, _ := harborEnv(t, h, "absent", robotUser, canary)
	res := runPlugin(t, env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), "does not exist and Harbor does not create projects on push") {
		t.Errorf("unclear message:\n%s", res.Output())
	}
	noViolations(t, h)
}

func TestHarborScanGate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		findings map[string]int
		severity string
		code     int
		want     string
	}{
		{"findings at threshold fail", map[string]int{"High": 2, "Medium": 3}, "high", 1, "has findings at or above high: 2 High"},
		{"findings under threshold pass", map[string]int{"Medium": 3, "Low": 1}, "high", 0, "no findings at or above high"},
		{"critical over a low threshold fail", map[string]int{"Critical": 1}, "low", 1, "1 Critical"},
		{"none only reports", map[string]int{"Critical": 4}, "none", 0, "Critical  4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarbor(t, harbor.Options{Projects: []string{"proj"}, Findings: tc.findings})
			env, _ := harborEnv(t, h, "proj", robotUser, canary)
			env["PLUGIN_HARBOR_SCAN"] = "true"
			env["PLUGIN_HARBOR_SEVERITY"] = tc.severity
			res := runPlugin(t, env)
			if res.Code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.Code, tc.code, res.Output())
			}
			if !strings.Contains(res.Output(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, res.Output())
			}
			if !strings.Contains(res.Output(), "SEVERITY") {
				t.Errorf("no summary table:\n%s", res.Output())
			}
			noSecret(t, res)
			noViolations(t, h)
		})
	}
}

func TestHarborScanThatNeverFinishesTimesOut(t *testing.T) {
	h := startHarbor(t, harbor.Options{Projects: []string{"proj"}, ScanNeverFinishes: true})
	env, _ := harborEnv(t, h, "proj", robotUser, canary)
	env["PLUGIN_HARBOR_SCAN"] = "true"
	env["PLUGIN_HARBOR_SCAN_TIMEOUT"] = "600ms"
	res := runPlugin(t, env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), "did not finish within 600ms") || !strings.Contains(res.Output(), "Running") {
		t.Errorf("output:\n%s", res.Output())
	}
	noViolations(t, h)
}

func TestHarborRefusedPushToExistingProjectNamesMissingRights(t *testing.T) {
	h := startHarbor(t, harbor.Options{
		Projects: []string{"proj", "other"},
		Users:    map[string]harbor.User{robotUser: {Password: canary, Projects: []string{"proj"}}},
	})
	env, repo := harborEnv(t, h, "other", robotUser, canary)
	start := time.Now()
	res := runPlugin(t, env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	t.Logf("refused push took %s", time.Since(start))
	for _, want := range []string{"denied", "exists", "lacks push rights"} {
		if !strings.Contains(res.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, res.Output())
		}
	}
	if tags, _ := h.Registry.Tags(context.Background(), repo); len(tags) != 0 {
		t.Errorf("pushed %v", tags)
	}
	noSecret(t, res)
	noViolations(t, h)
}
