package rancher

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const webLC = `{"imageUuid":"docker:registry/test:1","labels":{"a":"1"},"secrets":[{"type":"secretReference","secretId":"1se1","name":"api-key"}],"x-unknown":{"keep":[1,2]}}`

func newFake(t *testing.T) (*Server, *clock, *httptest.Server) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := New(Options{AccessKey: "ak", SecretKey: "sk", Transition: time.Second, Now: c.now})
	if _, err := f.AddService("demo", "web", Service{LaunchConfig: json.RawMessage(webLC)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddService("demo", "db", Service{LaunchConfig: json.RawMessage(`{"imageUuid":"docker:db:1"}`), RetainIP: true}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, c, srv
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func call(t *testing.T, method, url, user, pass, body string) answer {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return answer{resp.StatusCode, m, resp.Header}
}

func actionsOf(a answer) []string {
	var out []string
	for k := range a.body["actions"].(map[string]any) {
		out = append(out, k)
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestAuthIsRequired(t *testing.T) {
	f, _, srv := newFake(t)
	for _, tc := range []struct{ user, pass string }{{"", ""}, {"ak", "wrong"}, {"nope", "sk"}} {
		a := call(t, "GET", srv.URL+"/v2-beta/projects/1a5/services", tc.user, tc.pass, "")
		if a.status != 401 || a.body["code"] != "Unauthorized" || a.body["type"] != "error" {
			t.Errorf("%s/%s: got %d %v", tc.user, tc.pass, a.status, a.body)
		}
		if a.header.Get("X-Api-Schemas") == "" {
			t.Error("X-Api-Schemas missing")
		}
	}
	if n := len(f.Refusals()); n != 3 {
		t.Errorf("refusals = %d, want 3", n)
	}
	a := call(t, "GET", srv.URL+"/v3/project/c-abcde:p-fghij/workloads", "ak", "wrong", "")
	if a.status != 401 {
		t.Errorf("v3 wrong key: %d", a.status)
	}
}

func TestFindByFiltersBothScopes(t *testing.T) {
	_, _, srv := newFake(t)
	st := call(t, "GET", srv.URL+"/v2-beta/projects/1a5/stacks?name=demo", "ak", "sk", "")
	data := st.body["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("stacks: %v", st.body)
	}
	stackID := data[0].(map[string]any)["id"].(string)
	for _, prefix := range []string{"/v2-beta/projects/1a5", "/v2-beta"} {
		a := call(t, "GET", srv.URL+prefix+"/services?name=web&stackId="+stackID, "ak", "sk", "")
		if d := a.body["data"].([]any); len(d) != 1 || d[0].(map[string]any)["name"] != "web" {
			t.Errorf("%s: %v", prefix, a.body)
		}
		if a.body["filters"].(map[string]any)["name"] == nil {
			t.Errorf("filters not echoed: %v", a.body["filters"])
		}
	}
	a := call(t, "GET", srv.URL+"/v2-beta/projects?name=Default", "ak", "sk", "")
	if d := a.body["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != "1a5" {
		t.Errorf("projects: %v", a.body)
	}
	a = call(t, "GET", srv.URL+"/v2-beta/projects/1a5/services?limit=1", "ak", "sk", "")
	if next, _ := a.body["pagination"].(map[string]any)["next"].(string); !strings.Contains(next, "marker=m1") {
		t.Errorf("pagination: %v", a.body["pagination"])
	}
}

func TestUpgradeStateMachine(t *testing.T) {
	f, c, srv := newFake(t)
	st, _ := f.ServiceStatus("demo", "web")
	svc := srv.URL + "/v2-beta/projects/1a5/services/" + st.ID

	a := call(t, "POST", svc+"/?action=finishupgrade", "ak", "sk", "{}")
	if a.status != 422 || a.body["code"] != "ActionNotAvailable" || a.body["fieldName"] != "action" {
		t.Fatalf("finishupgrade while active: %d %v", a.status, a.body)
	}
	a = call(t, "GET", svc, "ak", "sk", "")
	if acts := actionsOf(a); !has(acts, "upgrade") || has(acts, "finishupgrade") {
		t.Errorf("active actions: %v", acts)
	}
	lc := strings.Replace(webLC, "registry/test:1", "registry/test:2", 1)
	a = call(t, "POST", svc+"/?action=upgrade", "ak", "sk", `{"inServiceStrategy":{"launchConfig":`+lc+`,"batchSize":1,"intervalMillis":2000,"startFirst":true},"toServiceStrategy":null}`)
	if a.status != 202 || a.body["state"] != "upgrading" || a.body["transitioning"] != "yes" {
		t.Fatalf("upgrade: %d %v", a.status, a.body)
	}
	if acts := actionsOf(a); !has(acts, "cancelupgrade") || has(acts, "upgrade") {
		t.Errorf("upgrading actions: %v", acts)
	}
	c.add(999 * time.Millisecond)
	if a = call(t, "GET", svc, "ak", "sk", ""); a.body["state"] != "upgrading" {
		t.Errorf("before the transition: %v", a.body["state"])
	}
	c.add(time.Millisecond)
	a = call(t, "GET", svc, "ak", "sk", "")
	if a.body["state"] != "upgraded" || !has(actionsOf(a), "finishupgrade") || !has(actionsOf(a), "rollback") {
		t.Fatalf("after: %v %v", a.body["state"], actionsOf(a))
	}
	got, _ := f.ServiceStatus("demo", "web")
	if !bytes.Equal(got.LaunchConfig, compact(json.RawMessage(lc))) {
		t.Errorf("launchConfig not kept as sent:\n%s\n%s", got.LaunchConfig, lc)
	}
	if !strings.Contains(string(got.Upgrade), "previousLaunchConfig") {
		t.Errorf("upgrade field: %s", got.Upgrade)
	}
	call(t, "POST", svc+"/?action=finishupgrade", "ak", "sk", "{}")
	if s, _ := f.ServiceStatus("demo", "web"); s.State != "finishing-upgrade" {
		t.Errorf("finish: %s", s.State)
	}
	c.add(time.Second)
	if s, _ := f.ServiceStatus("demo", "web"); s.State != "active" || s.Image != "docker:registry/test:2" {
		t.Errorf("finished: %+v", s)
	}
	ev := f.Events()
	var states []string
	for _, e := range ev {
		states = append(states, e.State)
	}
	if strings.Join(states, ",") != "upgrading,upgraded,finishing-upgrade,active" {
		t.Errorf("events: %v", states)
	}
	if len(f.Refusals()) != 1 {
		t.Errorf("refusals: %v", f.Refusals())
	}
}

func TestFailHealthThenCancelAndRollback(t *testing.T) {
	f, c, srv := newFake(t)
	st, _ := f.ServiceStatus("demo", "web")
	svc := srv.URL + "/v2-beta/services/" + st.ID
	if err := f.SetBehavior("demo", "web", Behavior{FailHealth: true}); err != nil {
		t.Fatal(err)
	}
	call(t, "POST", svc+"/?action=upgrade", "ak", "sk", `{"inServiceStrategy":{"launchConfig":{"imageUuid":"docker:bad:1"}}}`)
	c.add(time.Second)
	a := call(t, "GET", svc, "ak", "sk", "")
	if a.body["state"] != "upgrading" || a.body["transitioning"] != "error" || a.body["healthState"] != "unhealthy" {
		t.Fatalf("failed health: %v", a.body)
	}
	if a = call(t, "POST", svc+"/?action=rollback", "ak", "sk", "{}"); a.status != 422 {
		t.Errorf("rollback while upgrading should be refused: %d", a.status)
	}
	call(t, "POST", svc+"/?action=cancelupgrade", "ak", "sk", "{}")
	c.add(time.Second)
	a = call(t, "POST", svc+"/?action=rollback", "ak", "sk", "{}")
	if a.status != 202 || a.body["state"] != "rolling-back" {
		t.Fatalf("rollback: %v", a.body)
	}
	c.add(time.Second)
	s, _ := f.ServiceStatus("demo", "web")
	if s.State != "active" || !bytes.Equal(s.LaunchConfig, compact(json.RawMessage(webLC))) {
		t.Errorf("after rollback: %+v", s)
	}
}

func TestHangNeverFinishes(t *testing.T) {
	f, c, srv := newFake(t)
	st, _ := f.ServiceStatus("demo", "web")
	_ = f.SetBehavior("demo", "web", Behavior{Hang: true})
	call(t, "POST", srv.URL+"/v2-beta/services/"+st.ID+"/?action=upgrade", "ak", "sk", `{"inServiceStrategy":{"launchConfig":{"imageUuid":"docker:x:1"}}}`)
	c.add(time.Hour)
	if s, _ := f.ServiceStatus("demo", "web"); s.State != "upgrading" || s.Transitioning != "yes" {
		t.Errorf("hang: %+v", s)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	f, _, srv := newFake(t)
	web, _ := f.ServiceStatus("demo", "web")
	db, _ := f.ServiceStatus("demo", "db")
	for _, tc := range []struct {
		name, id, body, code string
	}{
		{"no strategy", web.ID, `{"inServiceStrategy":null,"toServiceStrategy":null}`, "MissingRequired"},
		{"image without docker:", web.ID, `{"inServiceStrategy":{"launchConfig":{"imageUuid":"registry/test:2"}}}`, "InvalidReference"},
		{"labels not strings", web.ID, `{"inServiceStrategy":{"launchConfig":{"imageUuid":"docker:a","labels":{"a":1}}}}`, "InvalidType"},
		{"batchSize string", web.ID, `{"inServiceStrategy":{"batchSize":"1"}}`, "InvalidType"},
		{"startFirst with retainIp", db.ID, `{"inServiceStrategy":{"startFirst":true,"launchConfig":{"imageUuid":"docker:db:2"}}}`, "InvalidOption"},
		{"unknown sidekick", web.ID, `{"inServiceStrategy":{"secondaryLaunchConfigs":[{"name":"nope","imageUuid":"docker:a"}]}}`, "InvalidReference"},
	} {
		a := call(t, "POST", srv.URL+"/v2-beta/services/"+tc.id+"/?action=upgrade", "ak", "sk", tc.body)
		if a.status != 422 || a.body["code"] != tc.code {
			t.Errorf("%s: %d %v", tc.name, a.status, a.body)
		}
	}
	if s, _ := f.ServiceStatus("demo", "web"); s.State != "active" {
		t.Errorf("a refused upgrade changed state: %s", s.State)
	}
}

func TestV3Rollout(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := New(Options{AccessKey: "token-x", SecretKey: "s3", Transition: time.Second, Now: c.now})
	if _, err := f.AddWorkload("web", "api", Workload{Object: json.RawMessage(`{"scale":2,"containers":[{"name":"api","image":"reg/api:1","x-keep":true}],"x-extra":{"a":1}}`)}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	url := srv.URL + "/v3/project/c-abcde:p-fghij/workloads/deployment:web:api"
	do := func(method, body string) answer {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-x:s3")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return answer{resp.StatusCode, m, resp.Header}
	}
	a := do("GET", "")
	if a.status != 200 || a.body["state"] != "active" {
		t.Fatalf("get: %v", a.body)
	}
	a.body["containers"].([]any)[0].(map[string]any)["image"] = "reg/api:2"
	b, _ := json.Marshal(a.body)
	if a = do("PUT", string(b)); a.status != 200 || a.body["state"] != "updating" {
		t.Fatalf("put: %d %v", a.status, a.body)
	}
	ds := a.body["deploymentStatus"].(map[string]any)
	if ds["observedGeneration"].(float64) != 1 {
		t.Errorf("observed too early: %v", ds)
	}
	c.add(time.Second)
	st, _ := f.WorkloadStatus("web", "api")
	if st.State != "active" || st.ObservedGeneration != 2 || st.UpdatedReplicas != 2 || st.Images[0] != "reg/api:2" {
		t.Errorf("after: %+v", st)
	}
	if string(st.Object["x-extra"]) != `{"a":1}` || !strings.Contains(string(st.Object["containers"]), `"x-keep":true`) {
		t.Errorf("unknown fields lost: %v", st.Object)
	}
	_ = f.SetWorkloadBehavior("web", "api", Behavior{FailHealth: true})
	if a = do("POST", ""); a.status != 405 {
		t.Errorf("POST without action: %d", a.status)
	}
	req, _ := http.NewRequest("POST", url+"?action=redeploy", nil)
	req.Header.Set("Authorization", "Bearer token-x:s3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.add(time.Second)
	st, _ = f.WorkloadStatus("web", "api")
	if !st.ProgressDeadlineExceeded || st.Transitioning != "error" || st.Generation != 3 {
		t.Errorf("failed rollout: %+v", st)
	}
}

func TestOnUpgradeGetsTheLaunchConfigInForce(t *testing.T) {
	type upgradeCall struct{ stack, service, image string }
	var mu sync.Mutex
	var calls []upgradeCall
	f := New(Options{AccessKey: "ak", SecretKey: "sk", Transition: time.Millisecond, OnUpgrade: func(stack, service string, lc json.RawMessage) {
		var x struct {
			ImageUUID string `json:"imageUuid"`
		}
		_ = json.Unmarshal(lc, &x)
		mu.Lock()
		calls = append(calls, upgradeCall{stack, service, x.ImageUUID})
		mu.Unlock()
	}})
	if _, err := f.AddService("demo", "web", Service{LaunchConfig: json.RawMessage(webLC)}); err != nil {
		t.Fatal(err)
	}
	url, err := f.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.ServiceStatus("demo", "web")
	svc := url + "/v2-beta/projects/1a5/services/" + st.ID
	call(t, "POST", svc+"/?action=upgrade", "ak", "sk", `{"inServiceStrategy":{"launchConfig":{"imageUuid":"docker:new:2"}}}`)
	time.Sleep(5 * time.Millisecond)
	call(t, "POST", svc+"/?action=rollback", "ak", "sk", "{}")
	mu.Lock()
	defer mu.Unlock()
	want := []upgradeCall{{"demo", "web", "docker:new:2"}, {"demo", "web", "docker:registry/test:1"}}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Errorf("calls: %v", calls)
	}
	if f.RequestCount() != 2 || f.Addr() == "" {
		t.Errorf("requests %d addr %q", f.RequestCount(), f.Addr())
	}
}
