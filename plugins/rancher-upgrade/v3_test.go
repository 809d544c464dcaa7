package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

const project = "c-abcde:p-fghij"

func newV3Fake(t *testing.T) *rancher.Server {
	t.Helper()
	f := rancher.New(rancher.Options{AccessKey: "token-canary", SecretKey: skCanary, Transition: 80 * time.Millisecond})
	if _, err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	obj := `{"scale":2,"containers":[{"name":"api","image":"reg/api:1","imagePullPolicy":"IfNotPresent","x-keep":true},{"name":"side","image":"reg/side:1"}],
	  "labels":{"app":"api"},"annotations":{"note":"kept"},"workloadLabels":{"tier":"web"},"x-extra":{"a":[1,2]}}`
	if _, err := f.AddWorkload("web", "api", rancher.Workload{Object: json.RawMessage(obj)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func v3Env(t *testing.T, f *rancher.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"PLUGIN_URL":           f.URL() + "/v3",
		"PLUGIN_PROJECT":       project,
		"PLUGIN_TOKEN":         "token-canary:" + skCanary,
		"PLUGIN_SERVICE":       "web/api",
		"PLUGIN_DOCKER_IMAGE":  "reg/api:2",
		"PLUGIN_POLL_INTERVAL": "10ms",
		"PLUGIN_TIMEOUT":       "5s",
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

func workload(t *testing.T, f *rancher.Server) rancher.WorkloadStatus {
	t.Helper()
	st, err := f.WorkloadStatus("web", "api")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestV3RolloutSucceedsAndKeepsFields(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	env := v3Env(t, f, map[string]string{"PLUGIN_LABELS": "release=42"})
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	st := workload(t, f)
	if strings.Join(st.Images, ",") != "reg/api:2,reg/side:1" || st.State != "active" || st.ObservedGeneration != 2 {
		t.Errorf("workload: %+v", st)
	}
	for k, want := range map[string]string{
		"x-extra": `{"a":[1,2]}`, "annotations": `{"note":"kept"}`, "workloadLabels": `{"tier":"web"}`,
		"labels": `{"app":"api","release":"42"}`,
	} {
		if got := string(st.Object[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	if !strings.Contains(string(st.Object["containers"]), `"x-keep":true`) || !strings.Contains(string(st.Object["containers"]), `"imagePullPolicy":"IfNotPresent"`) {
		t.Errorf("containers: %s", st.Object["containers"])
	}
	if !strings.Contains(r.Stdout, "reg/api:1 -> reg/api:2") || !strings.Contains(r.Stdout, "updated 2, available 2") {
		t.Errorf("output:\n%s", r.Stdout)
	}
	if rep := readReport(t, env["DRONE_WORKSPACE"]); rep.API != "v3" || rep.Services[0].Outcome != outcomeFinished {
		t.Errorf("report: %+v", rep)
	}
}

func TestV3FailedRolloutRestoresPreviousImage(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	_ = f.SetWorkloadBehavior("web", "api", rancher.Behavior{FailHealth: true})
	env := v3Env(t, f, map[string]string{"PLUGIN_PULL_IMAGE": "true"})
	r := run(t, env)
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	st := workload(t, f)
	if strings.Join(st.Images, ",") != "reg/api:1,reg/side:1" || st.State != "active" || st.Rollouts != 2 {
		t.Errorf("workload: %+v", st)
	}
	if !strings.Contains(string(st.Object["containers"]), `"imagePullPolicy":"IfNotPresent"`) {
		t.Errorf("pull policy not restored: %s", st.Object["containers"])
	}
	if !strings.Contains(text(r), "has timed out progressing") || !strings.Contains(text(r), "restored reg/api:1") {
		t.Errorf("output:\n%s", r.Output())
	}
	if rep := readReport(t, env["DRONE_WORKSPACE"]); rep.Services[0].Outcome != outcomeRolledBack {
		t.Errorf("report: %+v", rep.Services[0])
	}
}

func TestV3HangingRolloutTimesOutAndRestores(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	_ = f.SetWorkloadBehavior("web", "api", rancher.Behavior{Hang: true})
	r := run(t, v3Env(t, f, map[string]string{"PLUGIN_TIMEOUT": "300ms"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "timed out after") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if st := workload(t, f); st.Images[0] != "reg/api:1" || st.State != "active" {
		t.Errorf("workload: %+v", st)
	}
}

func TestV3SameImageIsRedeployed(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	r := run(t, v3Env(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": "reg/api:1"}))
	if r.Code != 0 || !strings.Contains(r.Stdout, "redeploy") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	noRefusals(t, f)
	st := workload(t, f)
	if st.Rollouts != 1 || !strings.Contains(string(st.Object["annotations"]), "cattle.io/timestamp") {
		t.Errorf("workload: %+v", st)
	}
}

func TestV3KeysAndProjectFromURL(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	r := run(t, v3Env(t, f, map[string]string{
		"PLUGIN_URL": f.URL() + "/v3/project/" + project, "PLUGIN_PROJECT": "", "PLUGIN_TOKEN": "",
		"PLUGIN_ACCESS_KEY": "token-canary", "PLUGIN_SECRET_KEY": skCanary, "PLUGIN_CONTAINER": "side",
	}))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if st := workload(t, f); strings.Join(st.Images, ",") != "reg/api:1,reg/api:2" {
		t.Errorf("images: %v", st.Images)
	}
}

func TestV3NotFoundNamesWorkloads(t *testing.T) {
	t.Parallel()
	f := newV3Fake(t)
	r := run(t, v3Env(t, f, map[string]string{"PLUGIN_SERVICE": "web/nope"}))
	if r.Code != 1 || !strings.Contains(text(r), `deployment "nope" not found in namespace web of project c-abcde:p-fghij; workloads: api`) {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	r = run(t, v3Env(t, f, map[string]string{"PLUGIN_TOKEN": "token-canary:wrong"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "401 Unauthorized") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}
