package main

import (
	"os"
	"testing"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
)

// builderEnv is how the daemon tests are run on the classic builder too:
// LIGHTSHIP_TEST_BUILDKIT=false go test (make unit does both).
const builderEnv = "LIGHTSHIP_TEST_BUILDKIT"

// runPlugin runs the plugin with env, on the builder LIGHTSHIP_TEST_BUILDKIT
// selects when the test does not set PLUGIN_BUILDKIT itself.
func runPlugin(t *testing.T, env map[string]string) plugintest.Result {
	t.Helper()
	if v := os.Getenv(builderEnv); v != "" {
		if _, set := env["PLUGIN_BUILDKIT"]; !set {
			env = copyEnv(env)
			env["PLUGIN_BUILDKIT"] = v
		}
	}
	return plugintest.Run(t, newApp("test"), env)
}

func copyEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for k, v := range env {
		out[k] = v
	}
	return out
}

func TestChooseBuilder(t *testing.T) {
	t.Parallel()
	on := &Plan{SessionPlan: SessionPlan{DaemonBuildKit: true}}
	off := &Plan{SessionPlan: SessionPlan{DaemonBuildKit: false}}
	squash := &Plan{SessionPlan: SessionPlan{DaemonBuildKit: true}, Build: BuildSpec{Squash: true}}
	for _, tc := range []struct {
		name string
		p    *Plan
		ping types.Ping
		bk   bool
		why  string
	}{
		{"20.10", on, types.Ping{APIVersion: "1.41", OSType: "linux"}, true, "daemon API 1.41 on linux has BuildKit"},
		{"23.0 default", on, types.Ping{APIVersion: "1.42", OSType: "linux", BuilderVersion: build.BuilderBuildKit}, true, "the daemon's default builder (Builder-Version: 2, API 1.42)"},
		{"turned off", on, types.Ping{APIVersion: "1.41", OSType: "linux", BuilderVersion: build.BuilderV1}, false, "the daemon turned BuildKit off (Builder-Version: 1)"},
		{"old API", on, types.Ping{APIVersion: "1.38", OSType: "linux"}, false, "daemon API 1.38 is older than 1.39, the first with BuildKit sessions"},
		{"windows", on, types.Ping{APIVersion: "1.41", OSType: "windows"}, false, "the daemon runs on windows, where the Engine API offers no BuildKit"},
		{"setting", off, types.Ping{APIVersion: "1.41", OSType: "linux"}, false, "buildkit: false"},
		{"squash", squash, types.Ping{APIVersion: "1.41", OSType: "linux"}, false, "squash needs the classic builder"},
	} {
		bk, why := chooseBuilder(tc.p, tc.ping)
		if bk != tc.bk || why != tc.why {
			t.Errorf("%s: %t %q, want %t %q", tc.name, bk, why, tc.bk, tc.why)
		}
	}
	needs := &Plan{SessionPlan: SessionPlan{needsBuildKit: "secret"}}
	if err := checkBuilder(needs, false, "buildkit: false"); err == nil {
		t.Error("secret on the classic builder: no error")
	}
	if err := checkBuilder(needs, true, ""); err != nil {
		t.Error(err)
	}
}
