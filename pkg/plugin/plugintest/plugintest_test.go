package plugintest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/urfave/cli/v2"
)

type echo struct{ Msg string }

func (e *echo) Validate(*plugin.Env) (plugin.Job, error) { return e, nil }
func (e *echo) Execute(_ context.Context, env *plugin.Env) error {
	fmt.Fprintf(env.Stdout, "msg=%s drone=%s ci=%s\n", e.Msg, env.Environ.Get("DRONE_REPO"), env.Environ.Get("CI_REPO"))
	if e.Msg == "fail" {
		return fmt.Errorf("asked to fail")
	}
	return nil
}

func newEcho() plugin.App {
	e := &echo{}
	return plugin.App{
		Name: "echo", Title: "Echo", Description: "Echoes.", Version: "0",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "msg", Usage: "what to say", EnvVars: plugin.EnvVars("msg"), Destination: &e.Msg}},
		Plugin: e,
	}
}

func TestRunClearsTheCIEnvironment(t *testing.T) {
	t.Setenv("PLUGIN_MSG", "leaked from the test process")
	t.Setenv("DRONE_REPO", "leaked/drone")
	t.Setenv("CI_REPO", "leaked/ci")
	res := plugintest.Run(t, newEcho(), map[string]string{"DRONE_REPO": "acme/web"})
	if res.Code != 0 || res.Stdout != "msg= drone=acme/web ci=\n" {
		t.Fatalf("exit %d stdout %q", res.Code, res.Stdout)
	}
	res = plugintest.Run(t, newEcho(), map[string]string{"PLUGIN_MSG": "fail"})
	if res.Code != 1 || !strings.Contains(res.Output(), "asked to fail") || res.Output() != res.Stdout+res.Stderr {
		t.Fatalf("exit %d output %q", res.Code, res.Output())
	}
	res = plugintest.Run(t, newEcho(), nil, "--msg", "hi")
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, "msg=hi ") {
		t.Fatalf("args: exit %d stdout %q", res.Code, res.Stdout)
	}
}

type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func checkDocs(t *testing.T, path string) string {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		plugintest.CheckDocs(f, newEcho(), path)
	}()
	<-done
	return f.fatal
}

func TestCheckDocs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "DOCS.md")
	t.Setenv("LIGHTSHIP_UPDATE_DOCS", "")
	if msg := checkDocs(t, path); !strings.Contains(msg, "run make docs") {
		t.Fatalf("missing DOCS.md: %q", msg)
	}
	t.Setenv("LIGHTSHIP_UPDATE_DOCS", "1")
	if msg := checkDocs(t, path); msg != "" {
		t.Fatalf("update: %q", msg)
	}
	t.Setenv("LIGHTSHIP_UPDATE_DOCS", "")
	if msg := checkDocs(t, path); msg != "" {
		t.Fatalf("fresh DOCS.md reported: %q", msg)
	}
	if err := os.WriteFile(path, []byte("old docs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := checkDocs(t, path); !strings.Contains(msg, "stale") {
		t.Fatalf("stale DOCS.md not reported: %q", msg)
	}
}
