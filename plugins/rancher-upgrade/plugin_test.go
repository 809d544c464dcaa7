package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

// Canary credentials: they must never appear in any output.
const (
	akCanary = "AKCANARY7f3e"
	skCanary = "SKCANARYsecret9b1d"
)

const webLaunchConfig = `{
  "imageUuid": "docker:registry/test:1", "kind": "container", "networkMode": "managed",
  "labels": {"io.rancher.container.pull_image": "always", "traefik.enable": "true", "a": "1"},
  "environment": {"DB_HOST": "db"}, "ports": ["8080:80/tcp"],
  "secrets": [{"type": "secretReference", "secretId": "1se1", "name": "api-key", "uid": "0", "gid": "0", "mode": "444"}],
  "healthCheck": {"port": 80, "interval": 2000, "healthyThreshold": 2, "requestLine": "GET /health HTTP/1.0", "strategy": "recreate"},
  "x-future-field": {"nested": [1, 2.50, null, false]}, "startFirst": false, "memory": 0
}`

func newFake(t *testing.T) *rancher.Server {
	t.Helper()
	f := rancher.New(rancher.Options{AccessKey: akCanary, SecretKey: skCanary, Transition: 60 * time.Millisecond})
	if _, err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

func addWeb(t *testing.T, f *rancher.Server, stack, name string, sv rancher.Service) {
	t.Helper()
	if sv.LaunchConfig == nil {
		sv.LaunchConfig = json.RawMessage(webLaunchConfig)
	}
	if _, err := f.AddService(stack, name, sv); err != nil {
		t.Fatal(err)
	}
}

// seedEnv is the blog's step (Drone 0.8 names), fast timings for tests.
func seedEnv(t *testing.T, f *rancher.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"PLUGIN_URL":           f.URL() + "/v2-beta/projects/1a5",
		"RANCHER_ACCESS_KEY":   akCanary,
		"RANCHER_SECRET_KEY":   skCanary,
		"PLUGIN_SERVICE":       "demo/web",
		"PLUGIN_DOCKER_IMAGE":  "harbor.company.com/registry/test:dev",
		"PLUGIN_BATCH_SIZE":    "1",
		"PLUGIN_TIMEOUT":       "10",
		"PLUGIN_CONFIRM":       "true",
		"PLUGIN_POLL_INTERVAL": "10ms",
		"PLUGIN_LOG_LEVEL":     "debug",
		"DRONE_WORKSPACE":      t.TempDir(),
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// run runs the plugin and checks no secret leaked, in any encoding.
func run(t testing.TB, env map[string]string) plugintest.Result {
	t.Helper()
	r := plugintest.Run(t, newApp("test"), env)
	out := r.Output()
	for _, secret := range []string{akCanary, skCanary, base64.StdEncoding.EncodeToString([]byte(akCanary + ":" + skCanary)), "token-canary:" + skCanary} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q in output:\n%s", secret, out)
		}
	}
	return r
}

// text is the run's output with logrus's quoting of messages undone.
func text(r plugintest.Result) string {
	return strings.ReplaceAll(r.Output(), `\"`, `"`)
}

func noRefusals(t *testing.T, f *rancher.Server) {
	t.Helper()
	for _, r := range f.Refusals() {
		t.Errorf("fake refused: %s", r)
	}
}

func readReport(t *testing.T, ws string) Report {
	t.Helper()
	var r Report
	if err := result.Read(ws, "rancher-upgrade", &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func status(t *testing.T, f *rancher.Server, stack, name string) rancher.ServiceStatus {
	t.Helper()
	st, err := f.ServiceStatus(stack, name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func fields(t *testing.T, raw json.RawMessage) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			t.Fatal(err)
		}
		out[k] = b.String()
	}
	return out
}

func TestSeedStepUpgradesFinishesAndKeepsEveryField(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{Scale: 2})
	env := seedEnv(t, f, nil)
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	st := status(t, f, "demo", "web")
	if st.State != "active" || st.Image != "docker:harbor.company.com/registry/test:dev" {
		t.Errorf("service: %s %s", st.State, st.Image)
	}
	before, after := fields(t, json.RawMessage(webLaunchConfig)), fields(t, st.LaunchConfig)
	for k, v := range before {
		if k != "imageUuid" && after[k] != v {
			t.Errorf("launchConfig.%s changed:\n was %s\n now %s", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("launchConfig fields: %d, want %d", len(after), len(before))
	}
	var up struct {
		In map[string]json.RawMessage `json:"inServiceStrategy"`
	}
	if err := json.Unmarshal(st.Upgrade, &up); err != nil {
		t.Fatal(err)
	}
	if string(up.In["batchSize"]) != "1" || string(up.In["intervalMillis"]) != "2000" || string(up.In["startFirst"]) != "true" {
		t.Errorf("strategy: %s", st.Upgrade)
	}
	out := r.Stdout
	plan, upgrade, summary := strings.Index(out, "Plan:"), strings.Index(out, "demo/web: upgrade -> upgrading"), strings.Index(out, "Summary:")
	if plan < 0 || upgrade < plan || summary < upgrade {
		t.Errorf("want plan, then upgrade, then summary:\n%s", out)
	}
	for _, want := range []string{"docker:registry/test:1 -> docker:harbor.company.com/registry/test:dev", "batch 1, interval 2000ms, start new first", "upgraded (transitioning=no", "active (transitioning=no"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rep := readReport(t, env["DRONE_WORKSPACE"])
	if len(rep.Services) != 1 || rep.Services[0].Outcome != outcomeFinished || rep.Services[0].State != "active" ||
		rep.Services[0].OldImage != "docker:registry/test:1" || rep.API != "v2-beta" {
		t.Errorf("report: %+v", rep)
	}
}

func TestConfirmFalseLeavesUpgradedAndSucceeds(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	env := seedEnv(t, f, map[string]string{"PLUGIN_CONFIRM": "false"})
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	if st := status(t, f, "demo", "web"); st.State != "upgraded" {
		t.Errorf("state %s, want upgraded", st.State)
	}
	if rep := readReport(t, env["DRONE_WORKSPACE"]); rep.Services[0].Outcome != outcomeUpgraded {
		t.Errorf("outcome %s", rep.Services[0].Outcome)
	}
}

func TestServiceLeftUpgradedIsFinishedFirst(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{State: "upgraded"})
	r := run(t, seedEnv(t, f, nil))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	var states []string
	for _, e := range f.Events() {
		states = append(states, e.State)
	}
	if got := strings.Join(states, ","); got != "finishing-upgrade,active,upgrading,upgraded,finishing-upgrade,active" {
		t.Errorf("transitions: %s", got)
	}
	if !strings.Contains(r.Stdout, "finishing the upgrade an earlier run left upgraded") {
		t.Errorf("output:\n%s", r.Stdout)
	}
}

func TestUpgradesFromEveryStartingState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ state, first string }{
		{"active", "upgrading"},
		{"inactive", "upgrading"},
		{"activating", "upgrading"},
		{"upgrading", "upgraded"},
		{"canceled-upgrade", "rolling-back"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			f := newFake(t)
			addWeb(t, f, "demo", "web", rancher.Service{State: tc.state})
			r := run(t, seedEnv(t, f, nil))
			if r.Code != 0 {
				t.Fatalf("exit %d:\n%s", r.Code, r.Output())
			}
			noRefusals(t, f)
			if st := status(t, f, "demo", "web"); st.State != "active" || st.Image != "docker:harbor.company.com/registry/test:dev" {
				t.Errorf("service: %s %s", st.State, st.Image)
			}
			ev := f.Events()
			if tc.state == "activating" && len(ev) > 0 && ev[0].State == "active" {
				// The fake's activating ended before the plugin acted (a
				// loaded machine): the upgrade then starts from active.
				ev = ev[1:]
			}
			if len(ev) == 0 || ev[0].State != tc.first {
				t.Errorf("first transition: %v", ev)
			}
		})
	}
}

func TestUpgradeInterruptedByCancelIsNotRolledBack(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the plugin is waiting on the accepted upgrade, as Drone
	// does when a build is stopped mid-step (not after a fixed delay: a
	// loaded machine may not have reached the upgrade by then).
	go func() {
		for ctx.Err() == nil {
			if waitingOnUpgrade(f.Requests()) {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	r := plugintest.RunContext(ctx, t, newApp("test"), seedEnv(t, f, nil))
	if r.Code != 1 || !strings.Contains(r.Output(), "upgrade interrupted") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if st := status(t, f, "demo", "web"); st.State != "upgrading" {
		t.Errorf("state %s", st.State)
	}
}

// waitingOnUpgrade reports whether a GET answered with the service upgrading.
func waitingOnUpgrade(reqs []rancher.Request) bool {
	for _, r := range reqs {
		if r.Method == http.MethodGet && r.State == "upgrading" {
			return true
		}
	}
	return false
}

func TestServiceLeftUpgradedFailsWithoutFinishPrevious(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{State: "upgraded"})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_FINISH_PREVIOUS": "false"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "finish_previous") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	if st := status(t, f, "demo", "web"); st.State != "upgraded" {
		t.Errorf("state %s changed", st.State)
	}
}

func TestUpgradeThatNeverCompletesIsRolledBack(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	if err := f.SetBehavior("demo", "web", rancher.Behavior{Hang: true}); err != nil {
		t.Fatal(err)
	}
	env := seedEnv(t, f, map[string]string{"PLUGIN_TIMEOUT": "300ms"})
	r := run(t, env)
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	st := status(t, f, "demo", "web")
	if st.State != "active" || st.Image != "docker:registry/test:1" {
		t.Errorf("after rollback: %s %s", st.State, st.Image)
	}
	for _, want := range []string{"timed out after", "rolled back to docker:registry/test:1", "canceled-upgrade"} {
		if !strings.Contains(r.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, r.Output())
		}
	}
	if rep := readReport(t, env["DRONE_WORKSPACE"]); rep.Services[0].Outcome != outcomeRolledBack || rep.Services[0].Error == "" {
		t.Errorf("report: %+v", rep.Services[0])
	}
}

func TestFinishThatHangsIsCanceledAndRolledBack(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{HangFinish: true})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_TIMEOUT": "400ms"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "timed out after") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	var states []string
	for _, e := range f.Events() {
		states = append(states, e.State)
	}
	if got := strings.Join(states, ","); got != "upgrading,upgraded,finishing-upgrade,canceled-upgrade,rolling-back,active" {
		t.Errorf("transitions: %s", got)
	}
	if st := status(t, f, "demo", "web"); st.Image != "docker:registry/test:1" {
		t.Errorf("image %s", st.Image)
	}
}

func TestFailedHealthCheckIsRolledBack(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	if err := f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true}); err != nil {
		t.Fatal(err)
	}
	r := run(t, seedEnv(t, f, nil))
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	if st := status(t, f, "demo", "web"); st.State != "active" || st.Image != "docker:registry/test:1" {
		t.Errorf("after rollback: %s %s", st.State, st.Image)
	}
	if !strings.Contains(r.Output(), "health check failed") || !strings.Contains(r.Output(), "rolled back") {
		t.Errorf("output:\n%s", r.Output())
	}
}

func TestNoRollbackLeavesTheFailedUpgrade(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_ROLLBACK": "false"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "rollback=false") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if st := status(t, f, "demo", "web"); st.State != "upgrading" {
		t.Errorf("state %s", st.State)
	}
}

func TestTransientGetFailuresAreRetried(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	f.FailGets(2, 503)
	r := run(t, seedEnv(t, f, nil))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	refs := f.Refusals()
	if len(refs) != 2 || refs[0].Status != 503 || refs[1].Status != 503 {
		t.Errorf("refusals: %v", refs)
	}
	if st := status(t, f, "demo", "web"); st.State != "active" || st.Image != "docker:harbor.company.com/registry/test:dev" {
		t.Errorf("service: %+v", st)
	}
}

func TestPollFailuresDoNotStopTheRollout(t *testing.T) {
	t.Parallel()
	var f *rancher.Server
	// A proxy in front of Rancher answers 502 to the next 5 GETs once the upgrade starts.
	f = rancher.New(rancher.Options{AccessKey: akCanary, SecretKey: skCanary, Transition: 60 * time.Millisecond,
		OnUpgrade: func(_, _ string, _ json.RawMessage) { f.FailGets(5, 502) }})
	if _, err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addWeb(t, f, "demo", "web", rancher.Service{})
	r := run(t, seedEnv(t, f, nil))
	if r.Code != 0 || !strings.Contains(r.Output(), "poll failed, trying again") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	for _, ref := range f.Refusals() {
		if ref.Status != 502 {
			t.Errorf("refused: %s", ref)
		}
	}
	if st := status(t, f, "demo", "web"); st.State != "active" {
		t.Errorf("state %s", st.State)
	}
}

func TestNotFoundNamesWhatExists(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	addWeb(t, f, "demo", "api", rancher.Service{})
	for _, tc := range []struct{ service, want string }{
		{"nope/web", `stack "nope" not found; stacks: demo`},
		{"demo/nope", `service "nope" not found in stack demo; services: api, web`},
	} {
		env := seedEnv(t, f, map[string]string{"PLUGIN_SERVICE": tc.service})
		r := run(t, env)
		if r.Code != 1 || !strings.Contains(text(r), tc.want) {
			t.Errorf("%s: exit %d:\n%s", tc.service, r.Code, r.Output())
		}
		if rep := readReport(t, env["DRONE_WORKSPACE"]); rep.Services[0].Outcome != outcomeFailed || !strings.Contains(rep.Services[0].Error, tc.want) {
			t.Errorf("report: %+v", rep.Services)
		}
	}
	noRefusals(t, f)
}

func TestNotFoundListFollowsPagination(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for i := range 130 {
		addWeb(t, f, "big", fmt.Sprintf("svc-%03d", i), rancher.Service{LaunchConfig: json.RawMessage(`{"imageUuid":"docker:a:1"}`)})
	}
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_SERVICE": "big/nope"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "svc-000, svc-001") || !strings.Contains(r.Output(), "svc-129") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
}

func TestSecretsStayOutOfJSONDebugOutput(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_LOG_FORMAT": "json", "PLUGIN_LABELS": "key=" + skCanary}))
	if r.Code != 1 || !strings.Contains(r.Output(), `"level":"error"`) || !strings.Contains(r.Output(), "key=******") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestWrongKeysFailWith401(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	r := run(t, seedEnv(t, f, map[string]string{"RANCHER_SECRET_KEY": "wrong-" + skCanary}))
	if r.Code != 1 || !strings.Contains(r.Output(), "401 Unauthorized") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	refs := f.Refusals()
	if len(refs) != 1 || refs[0].Status != 401 {
		t.Errorf("refusals: %v", refs)
	}
	if strings.Contains(r.Output(), "wrong-") {
		t.Errorf("secret in output:\n%s", r.Output())
	}
}

func TestLabelsAndTraefikLabelsAreMerged(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	r := run(t, seedEnv(t, f, map[string]string{
		"PLUGIN_LABELS":         "a=2,team=core",
		"PLUGIN_PULL_IMAGE":     "true",
		"PLUGIN_TRAEFIK_ENABLE": "true", "PLUGIN_TRAEFIK_DOMAIN": "company.com", "PLUGIN_TRAEFIK_ALIAS": "drone,ci",
		"PLUGIN_TRAEFIK_PORT": "8000", "PLUGIN_TRAEFIK_PROTOCOL": "http",
	}))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	want := map[string]string{
		"io.rancher.container.pull_image": "always", "traefik.enable": "true", "a": "2", "team": "core",
		"traefik.domain": "company.com", "traefik.alias": "drone,ci", "traefik.port": "8000", "traefik.protocol": "http",
	}
	got := status(t, f, "demo", "web").Labels
	if len(got) != len(want) {
		t.Errorf("labels %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s=%q, want %q", k, got[k], v)
		}
	}
	if !strings.Contains(r.Stdout, "~a=1->2") || !strings.Contains(r.Stdout, "+team=core") {
		t.Errorf("plan lacks label changes:\n%s", r.Stdout)
	}
}

func TestIntervalSettingsAreHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"interval millis", map[string]string{"PLUGIN_INTERVAL": "2500"}, "2500"},
		{"interval_millis", map[string]string{"PLUGIN_INTERVAL_MILLIS": "1500"}, "1500"},
		{"interval duration", map[string]string{"PLUGIN_INTERVAL": "3s"}, "3000"},
		{"interval_millis wins", map[string]string{"PLUGIN_INTERVAL_MILLIS": "700", "PLUGIN_INTERVAL": "3s"}, "700"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			addWeb(t, f, "demo", "web", rancher.Service{})
			tc.env["PLUGIN_CONFIRM"] = "false"
			if r := run(t, seedEnv(t, f, tc.env)); r.Code != 0 {
				t.Fatalf("exit %d:\n%s", r.Code, r.Output())
			}
			var up struct {
				In map[string]json.RawMessage `json:"inServiceStrategy"`
			}
			_ = json.Unmarshal(status(t, f, "demo", "web").Upgrade, &up)
			if got := string(up.In["intervalMillis"]); got != tc.want {
				t.Errorf("intervalMillis %s, want %s", got, tc.want)
			}
		})
	}
}

func TestStartFirstIsTurnedOffForRetainIP(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{RetainIP: true})
	r := run(t, seedEnv(t, f, nil))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	if !strings.Contains(r.Stdout, "start_first turned off: the service has retainIp") {
		t.Errorf("no warning:\n%s", r.Stdout)
	}
	if !strings.Contains(string(status(t, f, "demo", "web").Upgrade), `"startFirst":false`) {
		t.Errorf("startFirst sent: %s", status(t, f, "demo", "web").Upgrade)
	}
}

func TestTwoServicesOneAfterAnother(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	addWeb(t, f, "demo", "worker", rancher.Service{
		LaunchConfig:           json.RawMessage(`{"imageUuid":"docker:registry/worker:1"}`),
		SecondaryLaunchConfigs: json.RawMessage(`[{"name":"log","imageUuid":"docker:registry/log:1","x-keep":1}]`),
	})
	env := seedEnv(t, f, map[string]string{"PLUGIN_SERVICE": "", "PLUGIN_SERVICES": "demo/web,demo/worker", "PLUGIN_SIDEKICK": "log registry/log:2"})
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	rep := readReport(t, env["DRONE_WORKSPACE"])
	if len(rep.Services) != 2 || rep.Services[0].Outcome != outcomeFinished || rep.Services[1].Outcome != outcomeFinished {
		t.Errorf("report: %+v", rep)
	}
	if sec := string(status(t, f, "demo", "worker").SecondaryLaunchConfigs); sec != `[{"imageUuid":"docker:registry/log:2","name":"log","x-keep":1}]` {
		t.Errorf("sidekick: %s", sec)
	}
	// One after another: web was active again before worker started upgrading.
	var order []string
	for _, e := range f.Events() {
		if e.State == "active" || e.State == "upgrading" {
			order = append(order, e.Resource+":"+e.State)
		}
	}
	if got := strings.Join(order, ","); got != "demo/web:upgrading,demo/web:active,demo/worker:upgrading,demo/worker:active" {
		t.Errorf("order: %s", got)
	}
	if !strings.Contains(r.Stdout, "demo/web ") || strings.Count(r.Stdout, "finished") < 2 {
		t.Errorf("summary:\n%s", r.Stdout)
	}
}

func TestSidekickNoServiceHasIsASettingsError(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	addWeb(t, f, "demo", "api", rancher.Service{})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_SERVICES": "demo/api", "PLUGIN_SIDEKICK": "log=registry/log:2"}))
	if r.Code != 2 || !strings.Contains(text(r), `PLUGIN_SIDEKICK: no service has a sidekick "log"`) {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if n := len(f.Events()); n != 0 {
		t.Errorf("%d state changes before the settings error", n)
	}
}

func TestFailureSkipsTheServicesAfter(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	addWeb(t, f, "demo", "api", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true})
	env := seedEnv(t, f, map[string]string{"PLUGIN_SERVICE": "", "PLUGIN_SERVICES": "demo/web\ndemo/api"})
	if r := run(t, env); r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	rep := readReport(t, env["DRONE_WORKSPACE"])
	if rep.Services[0].Outcome != outcomeRolledBack || rep.Services[1].Outcome != outcomeSkipped {
		t.Errorf("report: %+v", rep.Services)
	}
	if st := status(t, f, "demo", "api"); st.Image != "docker:registry/test:1" || st.State != "active" {
		t.Errorf("api touched: %+v", st)
	}
}

// thisBuild is the CI metadata of the build the deploy step runs in.
func thisBuild() map[string]string {
	return map[string]string{"DRONE_REPO": "acme/web", "DRONE_BUILD_NUMBER": "42", "DRONE_COMMIT_SHA": "0123456789abcdef", "DRONE_BUILD_STARTED": "1714528800"}
}

func thisOrigin() result.Origin {
	return result.Origin{Repo: "acme/web", Build: 42, Commit: "0123456789abcdef", Started: time.Unix(1714528800, 0).UTC()}
}

// writeBuildResult leaves docker-build's result in ws as written by by
// (no record at all when by is nil, as before results were stamped).
func writeBuildResult(t *testing.T, ws string, by *result.Origin, digest string) {
	t.Helper()
	b := result.Build{Repo: "harbor.company.com/registry/test", Tags: []string{"dev"}, Digest: digest}
	if by != nil {
		if err := result.Write(ws, "docker-build", *by, b); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, _ := json.Marshal(b)
	if err := os.MkdirAll(filepath.Join(ws, result.DirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(result.Path(ws, "docker-build"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImageComesFromThisBuildsDockerBuildResult(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	env := seedEnv(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": ""})
	for k, v := range thisBuild() {
		env[k] = v
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	by := thisOrigin()
	writeBuildResult(t, env["DRONE_WORKSPACE"], &by, digest)
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if img := status(t, f, "demo", "web").Image; img != "docker:harbor.company.com/registry/test@"+digest {
		t.Errorf("image %s", img)
	}
	if strings.Contains(r.Output(), "level=warn") {
		t.Errorf("a warning for this build's own result:\n%s", r.Output())
	}
}

func TestDockerBuildResultWithoutCIMetadataWarnsAndDeploys(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	env := seedEnv(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": ""})
	digest := "sha256:" + strings.Repeat("cd", 32)
	writeBuildResult(t, env["DRONE_WORKSPACE"], nil, digest)
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if !strings.Contains(r.Output(), "level=warning") || !strings.Contains(r.Output(), "no CI build metadata") {
		t.Errorf("no warning that the file was not checked:\n%s", r.Output())
	}
	if img := status(t, f, "demo", "web").Image; img != "docker:harbor.company.com/registry/test@"+digest {
		t.Errorf("image %s", img)
	}
}

func TestDockerBuildResultOfAnotherBuildExit2(t *testing.T) {
	t.Parallel()
	other := func(change func(o *result.Origin)) *result.Origin {
		o := thisOrigin()
		change(&o)
		return &o
	}
	for _, tc := range []struct {
		name  string
		by    *result.Origin
		wrote string
	}{
		{"another build number", other(func(o *result.Origin) { o.Build = 41 }), "written by build 41 of acme/web at commit 0123456789abcdef"},
		{"another commit", other(func(o *result.Origin) { o.Commit = "fedcba9876543210" }), "written by build 42 of acme/web at commit fedcba9876543210"},
		{"another repo", other(func(o *result.Origin) { o.Repo = "acme/api" }), "written by build 42 of acme/api"},
		{"no record", nil, "does not record which build wrote it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			addWeb(t, f, "demo", "web", rancher.Service{})
			env := seedEnv(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": ""})
			for k, v := range thisBuild() {
				env[k] = v
			}
			writeBuildResult(t, env["DRONE_WORKSPACE"], tc.by, "sha256:"+strings.Repeat("ef", 32))
			r := run(t, env)
			out := text(r)
			if r.Code != 2 {
				t.Fatalf("exit %d:\n%s", r.Code, out)
			}
			for _, want := range []string{"PLUGIN_DOCKER_IMAGE", tc.wrote, "build 42 of acme/web at commit 0123456789abcdef", "Set docker_image"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if n := len(f.Requests()); n != 0 {
				t.Errorf("the Rancher API was contacted %d times", n)
			}
		})
	}
}

func TestEnvironmentByName(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_URL": f.URL(), "PLUGIN_ENVIRONMENT": "Default", "PLUGIN_CONFIRM": "false"}))
	if r.Code != 0 || !strings.Contains(r.Stdout, "/v2-beta/projects/1a5") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	// An environment API key: the URL names no project and none is looked up.
	r = run(t, seedEnv(t, f, map[string]string{"RANCHER_URL": f.URL() + "/", "PLUGIN_URL": "", "PLUGIN_CONFIRM": "false", "PLUGIN_FINISH_PREVIOUS": "true"}))
	if r.Code != 0 || !strings.Contains(r.Stdout, "at "+f.URL()+"/v2-beta\n") {
		t.Fatalf("environment key: exit %d:\n%s", r.Code, r.Output())
	}
	for _, req := range f.Requests() {
		if strings.HasPrefix(req.Path, "/v2-beta/projects?") && !strings.Contains(req.Path, "Default") {
			t.Errorf("unexpected lookup %s", req.Path)
		}
	}
	noRefusals(t, f)
	r = run(t, seedEnv(t, f, map[string]string{"PLUGIN_URL": f.URL() + "/v1", "PLUGIN_ENVIRONMENT": "Prod"}))
	if r.Code != 1 || !strings.Contains(text(r), `environment "Prod": 0 found; environments: Default`) {
		t.Errorf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestBadSettingsExit2(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PLUGIN_URL": ""}, "PLUGIN_URL is required"},
		{map[string]string{"PLUGIN_URL": "rancher:8080"}, "PLUGIN_URL:"},
		{map[string]string{"PLUGIN_SERVICE": "web"}, `PLUGIN_SERVICE: "web" must be stack/service`},
		{map[string]string{"PLUGIN_SERVICE": ""}, "PLUGIN_SERVICE is required"},
		{map[string]string{"RANCHER_SECRET_KEY": ""}, "PLUGIN_SECRET_KEY is required"},
		{map[string]string{"PLUGIN_TIMEOUT": "soon"}, "PLUGIN_TIMEOUT:"},
		{map[string]string{"PLUGIN_INTERVAL": "fast"}, "PLUGIN_INTERVAL_MILLIS:"},
		{map[string]string{"PLUGIN_BATCH_SIZE": "0"}, "PLUGIN_BATCH_SIZE:"},
		{map[string]string{"PLUGIN_TRAEFIK_PORT": "http"}, "PLUGIN_TRAEFIK_PORT:"},
		{map[string]string{"PLUGIN_TRAEFIK_ENABLE": "yes"}, "PLUGIN_TRAEFIK_ENABLE:"},
		{map[string]string{"PLUGIN_TRAEFIK_DOMAIN": "a.com, b.com"}, "PLUGIN_TRAEFIK_DOMAIN:"},
		{map[string]string{"PLUGIN_LABELS": "novalue"}, "PLUGIN_LABELS:"},
		{map[string]string{"PLUGIN_LABELS": "a=1", "PLUGIN_TRAEFIK_PORT": "80", "PLUGIN_SERVICES": "x/y/z"}, "PLUGIN_SERVICES:"},
		{map[string]string{"PLUGIN_DOCKER_IMAGE": ""}, "PLUGIN_DOCKER_IMAGE is required: no "},
		{map[string]string{"PLUGIN_API": "v4"}, "PLUGIN_API:"},
		{map[string]string{"PLUGIN_URL": f.URL() + "/v3"}, "PLUGIN_PROJECT is required"},
		{map[string]string{"PLUGIN_SIDEKICK": "onlyname"}, "PLUGIN_SIDEKICK:"},
		{map[string]string{"PLUGIN_URL": f.URL() + "/v3", "PLUGIN_PROJECT": "p-abc"}, "PLUGIN_PROJECT:"},
		{map[string]string{"PLUGIN_URL": f.URL() + "/v3", "PLUGIN_PROJECT": "c-a:p-b", "RANCHER_ACCESS_KEY": ""}, "PLUGIN_TOKEN is required on Rancher 2.x"},
		{map[string]string{"PLUGIN_URL": f.URL() + "/v3", "PLUGIN_PROJECT": "c-a:p-b", "PLUGIN_TOKEN": "nocolon"}, "PLUGIN_TOKEN: must be"},
		{map[string]string{"PLUGIN_URL": f.URL() + "/v3/project/c-a:p-b", "PLUGIN_SIDEKICK": "a b"}, "PLUGIN_SIDEKICK: sidekicks exist only"},
		{map[string]string{"PLUGIN_URL": "http://user:pw@rancher:8080"}, "PLUGIN_URL: must not hold credentials"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			r := run(t, seedEnv(t, f, tc.env))
			if r.Code != 2 || !strings.Contains(text(r), tc.want) {
				t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.env, r.Code, tc.want, r.Output())
			}
		})
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("bad settings still sent %d requests", n)
	}
}

func TestUnknownSidekickIsRefusedBeforeAnyChange(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_SIDEKICK": "nginx registry/nginx:2"}))
	if r.Code != 2 || !strings.Contains(text(r), `PLUGIN_SIDEKICK: service web has no sidekick "nginx"; sidekicks: none`) {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if st := status(t, f, "demo", "web"); st.State != "active" || st.Image != "docker:registry/test:1" {
		t.Errorf("changed: %+v", st)
	}
}

func TestResultFileWrittenEvenOnFailure(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true})
	env := seedEnv(t, f, map[string]string{"DRONE_CARD_PATH": filepath.Join(t.TempDir(), "card.json")})
	if r := run(t, env); r.Code != 1 {
		t.Fatalf("exit %d", r.Code)
	}
	b, err := os.ReadFile(env["DRONE_CARD_PATH"])
	if err != nil || !strings.Contains(string(b), "rolled-back") {
		t.Errorf("card: %s %v", b, err)
	}
}
