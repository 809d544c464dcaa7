package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/testkit/kube"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

// TestTextReportLayout pins the text plan and summary table.
func TestTextReportLayout(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	env := &plugin.Env{Common: plugin.Common{LogFormat: "text"}, Stdout: &buf}
	printPlan(env, "v2-beta at http://r", []*step{{Ref: "demo/web", ID: "1s5", State: "active", OldImage: "docker:a:1", NewImage: "docker:a:2",
		Lines: []string{"labels:   +x=1"}}})
	printSummary(env, Report{Services: []Outcome{
		{Service: "demo/web", Outcome: outcomeFinished, State: "active", Seconds: 1.25, NewImage: "docker:a:2"},
		{Service: "demo/worker-long", Outcome: outcomeRolledBack, Seconds: 10, NewImage: "docker:a:2", Error: "health check failed"},
	}})
	want := "Plan: v2-beta at http://r\n" +
		"  1. demo/web (1s5, active)\n" +
		"     image:    docker:a:1 -> docker:a:2\n" +
		"     labels:   +x=1\n" +
		"Summary:\n" +
		"  SERVICE           OUTCOME      STATE   TIME   TARGET IMAGE\n" +
		"  demo/web          finished     active  1.2s   docker:a:2\n" +
		"  demo/worker-long  rolled-back  -       10.0s  docker:a:2\n" +
		"  demo/worker-long: health check failed\n"
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// jsonEntries fails unless every stdout line is a JSON object; it returns them.
func jsonEntries(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q\n%s", line, stdout)
		}
		out = append(out, e)
	}
	return out
}

// TestJSONReportIsJSONLines: an upgrade that rolls back (plan, progress,
// summary, error) and a Kubernetes dry run print only JSON lines under
// log_format json; the summary's rows are entries with fields.
func TestJSONReportIsJSONLines(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	_ = f.SetBehavior("demo", "web", rancher.Behavior{FailHealth: true})
	r := run(t, seedEnv(t, f, map[string]string{"PLUGIN_LOG_FORMAT": "json", "PLUGIN_LABELS": "key=" + skCanary}))
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	var row map[string]any
	sources := map[any]int{}
	for _, e := range jsonEntries(t, r.Stdout) {
		sources[e["source"]]++
		if e["source"] == "summary" && e["service"] != nil {
			row = e
		}
	}
	if sources["plan"] < 2 || sources["progress"] < 2 || row == nil {
		t.Fatalf("entries by source %v:\n%s", sources, r.Stdout)
	}
	if row["service"] != "demo/web" || row["outcome"] != outcomeRolledBack || row["target_image"] != "docker:harbor.company.com/registry/test:dev" || row["msg"] != "Summary" {
		t.Errorf("summary row %v", row)
	}
	if !strings.Contains(r.Stdout, `"msg":"labels:   +key=******"`) {
		t.Errorf("label line:\n%s", r.Stdout)
	}

	k := newKubeFake(t, kube.Options{})
	kr := kubeRun(t, kubeEnv(t, k, map[string]string{"PLUGIN_DRY_RUN": "true", "PLUGIN_LOG_FORMAT": "json"}))
	if kr.Code != 0 {
		t.Fatalf("exit %d:\n%s", kr.Code, kr.Output())
	}
	es := jsonEntries(t, kr.Stdout)
	if len(es) < 4 || es[len(es)-1]["msg"] != "dry run: nothing was sent" {
		t.Errorf("kubernetes dry run:\n%s", kr.Stdout)
	}
	patch, _ := es[len(es)-2]["body"].(string)
	msg, _ := es[len(es)-2]["msg"].(string)
	if !strings.HasPrefix(msg, "dry run: PATCH ") || !json.Valid([]byte(patch)) || !strings.Contains(patch, newImage) {
		t.Errorf("the patch is not one entry with its JSON as body:\n%s", kr.Stdout)
	}
}
