package plugin_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/report"
	"github.com/urfave/cli/v2"
)

// canary is a secret value that must never appear in any output.
const canary = "Canary-7f3a9e-s3cr3t"

// testSettings is a tiny plugin: its hooks decide what Validate and Execute do.
type testSettings struct {
	Repo     string
	Password string
	PIN      int
	Count    int
	Tokens   cli.StringSlice
	Verbose  bool

	validate func(s *testSettings, env *plugin.Env) error
	execute  func(s *testSettings, env *plugin.Env) error
	// seen is what Execute saw, for the test to check.
	seen *testSettings
	env  **plugin.Env
}

func (s *testSettings) Validate(env *plugin.Env) (plugin.Job, error) {
	if s.validate != nil {
		if err := s.validate(s, env); err != nil {
			return nil, err
		}
		return s, nil
	}
	if s.Repo == "" {
		return nil, plugin.Required("repo")
	}
	return s, nil
}

func (s *testSettings) Execute(_ context.Context, env *plugin.Env) error {
	if s.seen != nil {
		*s.seen = *s
	}
	if s.env != nil {
		*s.env = env
	}
	if s.execute != nil {
		return s.execute(s, env)
	}
	return nil
}

func newTestApp(s *testSettings) plugin.App {
	if s == nil {
		s = &testSettings{}
	}
	return plugin.App{
		Name:        "test-plugin",
		Title:       "Test Plugin",
		Description: "A plugin for testing the harness.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "repo", Usage: "image repository", EnvVars: plugin.EnvVars("repo", "DOCKER_REPO"), Destination: &s.Repo},
			&cli.StringFlag{Name: "password", Usage: "registry password", EnvVars: plugin.EnvVars("password", "DOCKER_PASSWORD"), Destination: &s.Password},
			&cli.IntFlag{Name: "pin", Usage: "a secret number", EnvVars: plugin.EnvVars("pin"), Destination: &s.PIN},
			&cli.IntFlag{Name: "count", Usage: "how many", Value: 1, EnvVars: plugin.EnvVars("count"), Destination: &s.Count},
			&cli.StringSliceFlag{Name: "tokens", Usage: "API tokens", EnvVars: plugin.EnvVars("tokens", "API_TOKENS"), Destination: &s.Tokens},
			&cli.BoolFlag{Name: "verbose", Usage: "say more", EnvVars: plugin.EnvVars("verbose"), Destination: &s.Verbose},
		},
		Secrets:  []string{"password", "pin", "tokens"},
		Required: []string{"repo"},
		Example:  "steps:\n  - name: test\n    image: lightship/test-plugin",
		Version:  "1.2.3",
		Plugin:   s,
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		validate func(*testSettings, *plugin.Env) error
		execute  func(*testSettings, *plugin.Env) error
		wantCode int
		wantOut  string
	}{
		{name: "done", env: map[string]string{"PLUGIN_REPO": "r"}, wantCode: 0},
		{name: "required setting missing", wantCode: 2, wantOut: "PLUGIN_REPO is required"},
		{
			name: "invalid setting", env: map[string]string{"PLUGIN_REPO": "r"},
			validate: func(*testSettings, *plugin.Env) error {
				return plugin.Invalid("service", "%q must be stack/service", "web")
			},
			wantCode: 2, wantOut: `PLUGIN_SERVICE: \"web\" must be stack/service`,
		},
		{
			name: "plain validate error", env: map[string]string{"PLUGIN_REPO": "r"},
			validate: func(*testSettings, *plugin.Env) error { return errors.New("repo and tag disagree") },
			wantCode: 2, wantOut: "repo and tag disagree",
		},
		{
			name: "execute error", env: map[string]string{"PLUGIN_REPO": "r"},
			execute:  func(*testSettings, *plugin.Env) error { return errors.New("push refused") },
			wantCode: 1, wantOut: "push refused",
		},
		{
			name: "wrapped settings error from execute", env: map[string]string{"PLUGIN_REPO": "r"},
			execute: func(*testSettings, *plugin.Env) error {
				return fmt.Errorf("resolve: %w", plugin.Invalid("repo", "%q not found", "r"))
			},
			wantCode: 2, wantOut: `PLUGIN_REPO: \"r\" not found`,
		},
		{name: "bad int in env", env: map[string]string{"PLUGIN_REPO": "r", "PLUGIN_COUNT": "abc"}, wantCode: 2, wantOut: "PLUGIN_COUNT"},
		{name: "bad bool in env", env: map[string]string{"PLUGIN_REPO": "r", "PLUGIN_VERBOSE": "maybe"}, wantCode: 2, wantOut: "PLUGIN_VERBOSE"},
		{name: "unknown flag", env: map[string]string{"PLUGIN_REPO": "r"}, args: []string{"--no-such-flag"}, wantCode: 2, wantOut: "no-such-flag"},
		{name: "bad log level", env: map[string]string{"PLUGIN_REPO": "r", "PLUGIN_LOG_LEVEL": "loud"}, wantCode: 2, wantOut: "PLUGIN_LOG_LEVEL"},
		{name: "bad log format", env: map[string]string{"PLUGIN_REPO": "r", "PLUGIN_LOG_FORMAT": "xml"}, wantCode: 2, wantOut: "PLUGIN_LOG_FORMAT"},
		{name: "missing env file", env: map[string]string{"PLUGIN_REPO": "r", "PLUGIN_ENV_FILE": "/nonexistent/.env"}, wantCode: 2, wantOut: "PLUGIN_ENV_FILE"},
		{name: "flag instead of env", args: []string{"--repo", "r", "--count=3"}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSettings{validate: tt.validate, execute: tt.execute}
			res := plugintest.Run(t, newTestApp(s), tt.env, tt.args...)
			if res.Code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", res.Code, tt.wantCode, res.Stdout, res.Stderr)
			}
			if tt.wantOut != "" && !strings.Contains(res.Output(), tt.wantOut) {
				t.Fatalf("output lacks %q:\n%s", tt.wantOut, res.Output())
			}
			if tt.wantCode == 0 && strings.Contains(res.Output(), "error") {
				t.Fatalf("successful run printed an error:\n%s", res.Output())
			}
		})
	}
}

func TestSettingsReachPluginThroughDestination(t *testing.T) {
	t.Parallel()
	var seen testSettings
	res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen}), map[string]string{
		"PLUGIN_REPO":    "registry/app",
		"PLUGIN_COUNT":   "7",
		"PLUGIN_TOKENS":  "a, b,c",
		"PLUGIN_VERBOSE": "true",
	})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if seen.Repo != "registry/app" || seen.Count != 7 || !seen.Verbose || strings.Join(seen.Tokens.Value(), "|") != "a|b|c" {
		t.Fatalf("settings = repo %q count %d verbose %v tokens %q", seen.Repo, seen.Count, seen.Verbose, seen.Tokens.Value())
	}
}

func TestDefaultsApplyWhenUnset(t *testing.T) {
	t.Parallel()
	var seen testSettings
	res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen}), map[string]string{"PLUGIN_REPO": "r", "PLUGIN_COUNT": ""})
	if res.Code != 0 || seen.Count != 1 {
		t.Fatalf("exit %d, count %d (want default 1): %s", res.Code, seen.Count, res.Output())
	}
}

func TestEmptyPluginVarDoesNotHideAlias(t *testing.T) {
	t.Parallel()
	var seen testSettings
	res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen}), map[string]string{
		"PLUGIN_REPO":     "",
		"DOCKER_REPO":     "from-alias",
		"PLUGIN_PASSWORD": " ",
		"DOCKER_PASSWORD": "alias-pass",
	})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if seen.Repo != "from-alias" || seen.Password != "alias-pass" {
		t.Fatalf("repo %q password %q: the empty PLUGIN_* hid the alias", seen.Repo, seen.Password)
	}
}

func TestPluginVarWinsOverAlias(t *testing.T) {
	t.Parallel()
	var seen testSettings
	res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen}), map[string]string{"PLUGIN_REPO": "plugin", "DOCKER_REPO": "alias"})
	if res.Code != 0 || seen.Repo != "plugin" {
		t.Fatalf("exit %d repo %q, want plugin", res.Code, seen.Repo)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnvFileLoadsSettingsWithoutOverriding(t *testing.T) {
	t.Parallel()
	f := writeFile(t, "build.env", "PLUGIN_REPO=from-file\nPLUGIN_COUNT=5\n# comment\nPLUGIN_TOKENS=\"x,y\"\n")
	for _, how := range []string{"env", "flag", "flag="} {
		t.Run(how, func(t *testing.T) {
			var seen testSettings
			env := map[string]string{"PLUGIN_COUNT": "9"}
			var args []string
			switch how {
			case "env":
				env["PLUGIN_ENV_FILE"] = f
			case "flag":
				args = []string{"--env_file", f}
			case "flag=":
				args = []string{"--env_file=" + f}
			}
			res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen}), env, args...)
			if res.Code != 0 {
				t.Fatalf("exit %d: %s", res.Code, res.Output())
			}
			if seen.Repo != "from-file" {
				t.Errorf("repo %q, want from-file", seen.Repo)
			}
			if seen.Count != 9 {
				t.Errorf("count %d: the env file overrode a set variable (want 9)", seen.Count)
			}
			if strings.Join(seen.Tokens.Value(), "|") != "x|y" {
				t.Errorf("tokens %q", seen.Tokens.Value())
			}
		})
	}
}

func TestEnvFileFillsEmptySettings(t *testing.T) {
	t.Parallel()
	f := writeFile(t, "build.env", "PLUGIN_REPO=from-file\nPLUGIN_COUNT=\nPLUGIN_PASSWORD="+canary+"\n")
	var seen testSettings
	execute := func(s *testSettings, env *plugin.Env) error {
		env.Log.Infof("password %s", s.Password)
		return nil
	}
	res := plugintest.Run(t, newTestApp(&testSettings{seen: &seen, execute: execute}), map[string]string{
		"PLUGIN_REPO": "", "PLUGIN_COUNT": "", "PLUGIN_ENV_FILE": f,
	})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if seen.Repo != "from-file" || seen.Count != 1 || seen.Password != canary {
		t.Fatalf("repo %q count %d password set %v: an empty variable kept the file's value out", seen.Repo, seen.Count, seen.Password == canary)
	}
	assertNoSecrets(t, res.Output())
}

func TestRuntimeEnvFileOverrides(t *testing.T) {
	t.Parallel()
	envFile := writeFile(t, "build.env", "PLUGIN_COUNT=5\n")
	runtime := writeFile(t, "env", "PLUGIN_COUNT=11\nPLUGIN_REPO=runtime\n")
	var seen testSettings
	app := newTestApp(&testSettings{seen: &seen})
	app.RuntimeEnvFiles = []string{filepath.Join(t.TempDir(), "absent"), runtime}
	res := plugintest.Run(t, app, map[string]string{"PLUGIN_REPO": "set", "PLUGIN_ENV_FILE": envFile})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if seen.Count != 11 || seen.Repo != "runtime" {
		t.Fatalf("count %d repo %q: the runtime file must override (want 11, runtime)", seen.Count, seen.Repo)
	}
}

func TestRuntimeEnvFileCarriesBuildStatus(t *testing.T) {
	t.Parallel()
	runtime := writeFile(t, "env", "DRONE_BUILD_STATUS=failure\n")
	var env *plugin.Env
	app := newTestApp(&testSettings{env: &env})
	app.RuntimeEnvFiles = []string{runtime}
	res := plugintest.Run(t, app, map[string]string{"PLUGIN_REPO": "r", "DRONE_BUILD_STATUS": "success", "DRONE_REPO": "acme/web"})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if env.Build.Build.Status != "failure" || env.Build.Repo.Slug != "acme/web" {
		t.Fatalf("build status %q repo %q", env.Build.Build.Status, env.Build.Repo.Slug)
	}
}

// TestSecretCanaryNeverPrinted sets the canary in every secret setting and
// has the plugin log it in a message, a field and an error, at debug level,
// with both formats, on success, on failure and on bad settings.
func TestSecretCanaryNeverPrinted(t *testing.T) {
	t.Parallel()
	logAll := func(s *testSettings, env *plugin.Env) error {
		env.Log.Debugf("logging in with %s", s.Password)
		env.Log.WithField("password", s.Password).WithField("tokens", s.Tokens.Value()).Debug("fields")
		env.Log.WithError(fmt.Errorf("auth %s failed", s.Password)).Info("error field")
		env.Log.Infof("pin %d", s.PIN)
		for _, tok := range s.Tokens.Value() {
			env.Log.Infof("token %s", tok)
		}
		fmt.Fprintf(env.Stdout, "plan: login %s tokens %s\n", s.Password, strings.Join(s.Tokens.Value(), " "))
		return nil
	}
	fail := func(s *testSettings, env *plugin.Env) error {
		_ = logAll(s, env)
		return fmt.Errorf("login with %q: %w", s.Password, errors.New("denied "+s.Tokens.Value()[1]))
	}
	badSetting := func(s *testSettings, _ *plugin.Env) error {
		return plugin.Invalid("password", "%q is too short", s.Password)
	}
	secrets := map[string]string{
		"PLUGIN_REPO":      "r",
		"PLUGIN_PASSWORD":  canary,
		"PLUGIN_PIN":       "918273645",
		"PLUGIN_TOKENS":    "alpha-" + canary + ",beta-" + canary,
		"PLUGIN_LOG_LEVEL": "debug",
	}
	tests := []struct {
		name     string
		format   string
		validate func(*testSettings, *plugin.Env) error
		execute  func(*testSettings, *plugin.Env) error
		wantCode int
	}{
		{"text success", "text", nil, logAll, 0},
		{"json success", "json", nil, logAll, 0},
		{"text failure", "text", nil, fail, 1},
		{"json failure", "json", nil, fail, 1},
		{"bad setting", "text", badSetting, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"PLUGIN_LOG_FORMAT": tt.format}
			for k, v := range secrets {
				env[k] = v
			}
			res := plugintest.Run(t, newTestApp(&testSettings{validate: tt.validate, execute: tt.execute}), env)
			if res.Code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", res.Code, tt.wantCode, res.Output())
			}
			assertNoSecrets(t, res.Output())
			if !strings.Contains(res.Output(), "******") {
				t.Fatalf("nothing was masked, so nothing was logged:\n%s", res.Output())
			}
		})
	}
}

func assertNoSecrets(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{canary, "Canary-7f3a9e", "918273645", "alpha-", "beta-"} {
		if strings.Contains(out, s) {
			t.Fatalf("output holds secret %q:\n%s", s, out)
		}
	}
}

func TestSecretListItemsMasked(t *testing.T) {
	t.Parallel()
	execute := func(s *testSettings, env *plugin.Env) error {
		for i, tok := range s.Tokens.Value() {
			env.Log.Infof("token %d is %s", i, tok)
		}
		return nil
	}
	for _, name := range []string{"PLUGIN_TOKENS", "API_TOKENS"} {
		t.Run(name, func(t *testing.T) {
			res := plugintest.Run(t, newTestApp(&testSettings{execute: execute}), map[string]string{
				"PLUGIN_REPO": "r", name: "alpha-one, beta-two ,gamma-three",
			})
			if res.Code != 0 {
				t.Fatalf("exit %d: %s", res.Code, res.Output())
			}
			for _, s := range []string{"alpha-one", "beta-two", "gamma-three"} {
				if strings.Contains(res.Output(), s) {
					t.Fatalf("list item %q printed:\n%s", s, res.Output())
				}
			}
			if strings.Count(res.Output(), "******") != 3 {
				t.Fatalf("want three masked items:\n%s", res.Output())
			}
		})
	}
}

// TestSecretWithBadValueNotLeaked: urfave/cli quotes a value it cannot parse;
// a secret setting's value must be masked in that error too.
func TestSecretWithBadValueNotLeaked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"env", map[string]string{"PLUGIN_PIN": "12-" + canary}, nil},
		{"flag", nil, []string{"--pin=12-" + canary}},
		{"flag with space", nil, []string{"--pin", "12-" + canary}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"PLUGIN_REPO": "r"}
			for k, v := range tt.env {
				env[k] = v
			}
			res := plugintest.Run(t, newTestApp(nil), env, tt.args...)
			if res.Code != 2 {
				t.Fatalf("exit %d, want 2: %s", res.Code, res.Output())
			}
			assertNoSecrets(t, res.Output())
			if !strings.Contains(res.Output(), "pin") {
				t.Fatalf("error does not name the setting:\n%s", res.Output())
			}
		})
	}
}

func TestBadEnvFileDoesNotQuoteItsContent(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"unterminated quote": "PLUGIN_PASSWORD='" + canary + "\n",
		"bad line":           "PLUGIN_REPO=r\nNOT A LINE " + canary + "\nPLUGIN_PASSWORD=" + canary + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			f := writeFile(t, "bad.env", content)
			res := plugintest.Run(t, newTestApp(nil), map[string]string{"PLUGIN_REPO": "r", "PLUGIN_ENV_FILE": f})
			if res.Code != 2 {
				t.Fatalf("exit %d, want 2: %s", res.Code, res.Output())
			}
			assertNoSecrets(t, res.Output())
			if !strings.Contains(res.Output(), "PLUGIN_ENV_FILE") || !strings.Contains(res.Output(), f) {
				t.Fatalf("error should name the setting and file:\n%s", res.Output())
			}
		})
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h"} {
		res := plugintest.Run(t, newTestApp(nil), nil, arg)
		if res.Code != 0 {
			t.Fatalf("%s: exit %d: %s", arg, res.Code, res.Output())
		}
		for _, name := range []string{
			"PLUGIN_REPO", "DOCKER_REPO", "PLUGIN_PASSWORD", "DOCKER_PASSWORD", "PLUGIN_PIN", "PLUGIN_COUNT",
			"PLUGIN_TOKENS", "API_TOKENS", "PLUGIN_VERBOSE", "PLUGIN_ENV_FILE", "PLUGIN_LOG_LEVEL",
			"PLUGIN_LOG_FORMAT", "PLUGIN_SKIP_VERIFY", "PLUGIN_CA_CERT",
		} {
			if !strings.Contains(res.Stdout, name) {
				t.Errorf("%s output lacks %s:\n%s", arg, name, res.Stdout)
			}
		}
	}
}

func TestHelpDoesNotPrintSecretValues(t *testing.T) {
	t.Parallel()
	res := plugintest.Run(t, newTestApp(nil), map[string]string{"PLUGIN_PASSWORD": canary}, "--help")
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	assertNoSecrets(t, res.Output())
}

func TestVersion(t *testing.T) {
	t.Parallel()
	res := plugintest.Run(t, newTestApp(nil), nil, "--version")
	if res.Code != 0 || !strings.Contains(res.Stdout, "1.2.3") {
		t.Fatalf("exit %d: %q", res.Code, res.Stdout)
	}
}

func TestEnvGivesMetadataWorkspaceAndArgs(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	var env *plugin.Env
	res := plugintest.Run(t, newTestApp(&testSettings{env: &env}), map[string]string{
		"PLUGIN_REPO": "r", "DRONE_WORKSPACE": ws, "DRONE_BUILD_NUMBER": "42", "CI_COMMIT_MESSAGE": "title\n\nbody",
	}, "--count", "2", "extra")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if env.Workspace != ws || env.Build.Build.Number != 42 || env.Build.Commit.Message.Title != "title" {
		t.Fatalf("workspace %q number %d title %q", env.Workspace, env.Build.Build.Number, env.Build.Commit.Message.Title)
	}
	if env.Name != "test-plugin" || env.Version != "1.2.3" || strings.Join(env.Args, " ") != "extra" {
		t.Fatalf("name %q version %q args %q", env.Name, env.Version, env.Args)
	}
	if env.Common.LogLevel != "info" || env.Common.LogFormat != "text" {
		t.Fatalf("common defaults %+v", env.Common)
	}
}

func TestEnvHTTP(t *testing.T) {
	t.Parallel()
	var env *plugin.Env
	res := plugintest.Run(t, newTestApp(&testSettings{env: &env}), map[string]string{
		"PLUGIN_REPO": "r", "PLUGIN_CA_CERT": "/nonexistent/ca.pem",
	})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	_, err := env.HTTP(httpx.Options{})
	var se *plugin.SettingsError
	if !errors.As(err, &se) || se.Setting != "PLUGIN_CA_CERT" || plugin.ExitCode(err) != 2 {
		t.Fatalf("bad ca_cert: err %v, want a PLUGIN_CA_CERT settings error", err)
	}
	env.Common.CACert = ""
	if c, err := env.HTTP(httpx.Options{}); err != nil || c == nil {
		t.Fatalf("HTTP() = %v, %v", c, err)
	}
}

func TestErrorsAndNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
		code int
	}{
		{plugin.Required("repo"), "PLUGIN_REPO is required", 2},
		{plugin.Required("corp_secret"), "PLUGIN_CORP_SECRET is required", 2},
		{plugin.Invalid("service", "%q must be stack/service", "web"), `PLUGIN_SERVICE: "web" must be stack/service`, 2},
		{fmt.Errorf("wrap: %w", plugin.Required("x")), "wrap: PLUGIN_X is required", 2},
		{errors.New("boom"), "boom", 1},
	}
	for _, tt := range tests {
		if tt.err.Error() != tt.want || plugin.ExitCode(tt.err) != tt.code {
			t.Errorf("%v: got %q code %d, want %q code %d", tt.err, tt.err.Error(), plugin.ExitCode(tt.err), tt.want, tt.code)
		}
	}
	if plugin.ExitCode(nil) != 0 {
		t.Error("ExitCode(nil) != 0")
	}
	for in, want := range map[string]string{"repo": "PLUGIN_REPO", "ssh-key": "PLUGIN_SSH_KEY", "a.b": "PLUGIN_A_B"} {
		if got := plugin.EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := strings.Join(plugin.EnvVars("url", "RANCHER_URL"), ","); got != "PLUGIN_URL,RANCHER_URL" {
		t.Errorf("EnvVars = %s", got)
	}
}

func TestDocsListsPluginAndCommonSettings(t *testing.T) {
	t.Parallel()
	doc := string(newTestApp(nil).Docs())
	for _, want := range []string{"| `repo` | `PLUGIN_REPO`, `DOCKER_REPO` |", "| `password` |", "| `log_level` |", "image: lightship/test-plugin"} {
		if !strings.Contains(doc, want) {
			t.Errorf("DOCS lack %q:\n%s", want, doc)
		}
	}
}

func TestPanicIsAnErrorNotACrash(t *testing.T) {
	t.Parallel()
	boom := func(s *testSettings, _ *plugin.Env) error {
		panic("nil map while using " + s.Password)
	}
	for _, where := range []string{"validate", "execute"} {
		t.Run(where, func(t *testing.T) {
			s := &testSettings{}
			if where == "validate" {
				s.validate = boom
			} else {
				s.execute = boom
			}
			res := plugintest.Run(t, newTestApp(s), map[string]string{"PLUGIN_REPO": "r", "PLUGIN_PASSWORD": canary, "PLUGIN_LOG_LEVEL": "debug"})
			if res.Code != 1 {
				t.Fatalf("exit %d, want 1: %s", res.Code, res.Output())
			}
			if !strings.Contains(res.Output(), "internal error") || !strings.Contains(res.Output(), "goroutine") {
				t.Fatalf("want the error and, at debug, the stack:\n%s", res.Output())
			}
			assertNoSecrets(t, res.Output())
		})
	}
}

func TestCloneCredentialsMasked(t *testing.T) {
	t.Parallel()
	execute := func(_ *testSettings, env *plugin.Env) error {
		env.Log.Infof("netrc %s / %s", env.Environ.Get("DRONE_NETRC_PASSWORD"), env.Environ.Get("CI_NETRC_PASSWORD"))
		return nil
	}
	res := plugintest.Run(t, newTestApp(&testSettings{execute: execute}), map[string]string{
		"PLUGIN_REPO": "r", "DRONE_NETRC_PASSWORD": "alpha-netrc", "CI_NETRC_PASSWORD": "beta-netrc",
	})
	if res.Code != 0 || strings.Contains(res.Output(), "alpha-netrc") || strings.Contains(res.Output(), "beta-netrc") {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), "netrc ****** / ******") {
		t.Fatalf("netrc passwords not masked:\n%s", res.Output())
	}
}

func TestJSONSecretValuesMasked(t *testing.T) {
	t.Parallel()
	execute := func(s *testSettings, env *plugin.Env) error {
		env.Log.Infof("user %s", "json-leaf-one")
		env.Log.Infof("key %s", "json-leaf-two")
		return nil
	}
	res := plugintest.Run(t, newTestApp(&testSettings{execute: execute}), map[string]string{
		"PLUGIN_REPO": "r", "PLUGIN_PASSWORD": `{"registry":{"user":"json-leaf-one"},"keys":["json-leaf-two"]}`,
	})
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), "json-leaf") {
		t.Fatalf("a string inside a JSON secret was printed:\n%s", res.Output())
	}
}

// TestCommonTLSSettingsReachTheHTTPClient runs the harness with ca_cert (PEM
// text) or skip_verify against a TLS server and calls it through env.HTTP.
func TestCommonTLSSettingsReachTheHTTPClient(t *testing.T) {
	t.Parallel()
	uas := make(chan string, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uas <- r.UserAgent()
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	call := func(_ *testSettings, env *plugin.Env) error {
		c, err := env.HTTP(httpx.Options{Retries: -1})
		if err != nil {
			return err
		}
		var out struct{ OK bool }
		if err := c.DoJSON(context.Background(), httpx.Request{Method: http.MethodGet, URL: srv.URL, Out: &out}); err != nil {
			return err
		}
		if !out.OK {
			return errors.New("bad answer")
		}
		return nil
	}
	tests := []struct {
		name string
		env  map[string]string
		code int
	}{
		{"ca_cert PEM", map[string]string{"PLUGIN_CA_CERT": caPEM}, 0},
		{"skip_verify", map[string]string{"PLUGIN_SKIP_VERIFY": "true"}, 0},
		{"neither", map[string]string{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"PLUGIN_REPO": "r"}
			for k, v := range tt.env {
				env[k] = v
			}
			res := plugintest.Run(t, newTestApp(&testSettings{execute: call}), env)
			if res.Code != tt.code {
				t.Fatalf("exit %d, want %d: %s", res.Code, tt.code, res.Output())
			}
			if tt.code != 0 {
				if !strings.Contains(res.Output(), "certificate") {
					t.Fatalf("want a certificate error: %s", res.Output())
				}
				return
			}
			if ua := <-uas; ua != "lightship-test-plugin/1.2.3" {
				t.Fatalf("User-Agent %q", ua)
			}
		})
	}
}

func TestSecretsAndRequiredNameFlags(t *testing.T) {
	t.Parallel()
	app := newTestApp(nil)
	if err := app.CheckNames(); err != nil {
		t.Fatal(err)
	}
	app.Secrets = append(app.Secrets, "passwd")
	app.Required = []string{"repo", "log_level", "repository"}
	err := app.CheckNames()
	if err == nil || !strings.Contains(err.Error(), `Secrets names "passwd"`) || !strings.Contains(err.Error(), `Required names "repository"`) || strings.Contains(err.Error(), "log_level") {
		t.Fatalf("err = %v", err)
	}
}

func TestReportFollowsLogFormatAndIsScrubbed(t *testing.T) {
	t.Parallel()
	write := func(s *testSettings, env *plugin.Env) error {
		w := env.Report("plan")
		w.Printf("plan: login %s\n", s.Password)
		tb := report.Table{Columns: []string{"USER", "PASSWORD"}}
		tb.Row("ci", s.Password)
		w.Table(&tb)
		return w.Document("POST /login", map[string]string{"password": s.Password})
	}
	for _, format := range []string{"text", "json"} {
		res := plugintest.Run(t, newTestApp(&testSettings{execute: write}), map[string]string{
			"PLUGIN_REPO": "r", "PLUGIN_PASSWORD": canary, "PLUGIN_LOG_FORMAT": format,
		})
		if res.Code != 0 {
			t.Fatalf("%s: exit %d: %s", format, res.Code, res.Output())
		}
		assertNoSecrets(t, res.Output())
		if strings.Count(res.Stdout, "******") != 3 {
			t.Errorf("%s: want 3 masked values:\n%s", format, res.Stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
			if isJSON := json.Valid([]byte(line)); isJSON != (format == "json") {
				t.Errorf("%s: line %q (JSON: %v)", format, line, isJSON)
			}
		}
	}
}
