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

// Run runs app with args (flags, without the program name) in the
// environment Env(env) builds. The process environment is not changed, so
// tests may be parallel. Runtime env files (/run/drone/env) are not read
// unless app.RuntimeEnvFiles names some.
func Run(t testing.TB, app plugin.App, env map[string]string, args ...string) Result {
	t.Helper()
	return RunContext(context.Background(), t, app, env, args...)
}

// RunContext is Run with a context.
func RunContext(ctx context.Context, t testing.TB, app plugin.App, env map[string]string, args ...string) Result {
	t.Helper()
	if app.RuntimeEnvFiles == nil {
		app.RuntimeEnvFiles = []string{}
	}
	var out, errOut bytes.Buffer
	code := app.RunEnv(ctx, Env(env), append([]string{app.Name}, args...), &out, &errOut)
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// Env is the test process's environment without its PLUGIN_*, DRONE_* and
// CI_* variables, with env on top.
func Env(env map[string]string) plugin.Environ {
	e := plugin.Environ{}
	for _, kv := range os.Environ() {
		name, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PLUGIN_") || strings.HasPrefix(name, "DRONE_") || strings.HasPrefix(name, "CI_") {
			continue
		}
		e[name] = v
	}
	for k, v := range env {
		e[k] = v
	}
	return e
}

// ClearEnv unsets the CI variables of the test process for the test's
// duration, for tests that run App.Run with the process environment (they
// cannot be parallel); Run does not need it.
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

// CheckDocs fails when a name in app.Secrets or app.Required is not a
// flag (App.CheckNames), or when the committed DOCS.md at path differs from what the
// app's flags generate. With LIGHTSHIP_UPDATE_DOCS=1 it rewrites the file
// instead (make docs).
func CheckDocs(t testing.TB, app plugin.App, path string) {
	t.Helper()
	if err := app.CheckNames(); err != nil {
		t.Fatal(err)
	}
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
