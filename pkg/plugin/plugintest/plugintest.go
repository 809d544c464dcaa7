// Package plugintest runs a plugin in-process the way Drone runs its image:
// environment in, exit code and output out.
package plugintest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin"
)

// Result is what one run printed and returned.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Output is stdout and stderr together.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// Run clears every PLUGIN_*, DRONE_* and CI_* variable, sets env, and runs
// app with args (flags, without the program name). It uses t.Setenv, so the
// test must not be parallel. Runtime env files (/run/drone/env) are not read
// unless app.RuntimeEnvFiles names some.
func Run(t testing.TB, app plugin.App, env map[string]string, args ...string) Result {
	t.Helper()
	return RunContext(context.Background(), t, app, env, args...)
}

// RunContext is Run with a context.
func RunContext(ctx context.Context, t testing.TB, app plugin.App, env map[string]string, args ...string) Result {
	t.Helper()
	ClearEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	if app.RuntimeEnvFiles == nil {
		app.RuntimeEnvFiles = []string{}
	}
	var out, errOut bytes.Buffer
	code := app.Run(ctx, append([]string{app.Name}, args...), &out, &errOut)
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// ClearEnv unsets the CI variables of the test process for the test's duration.
func ClearEnv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PLUGIN_") || strings.HasPrefix(name, "DRONE_") || strings.HasPrefix(name, "CI_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// CheckDocs fails when the committed DOCS.md at path differs from what the
// app's flags generate. With LIGHTSHIP_UPDATE_DOCS=1 it rewrites the file
// instead (make docs).
func CheckDocs(t testing.TB, app plugin.App, path string) {
	t.Helper()
	want := app.Docs()
	if os.Getenv("LIGHTSHIP_UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run make docs)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run make docs", path)
	}
}
