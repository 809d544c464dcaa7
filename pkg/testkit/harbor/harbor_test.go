package harbor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
)

const robot = "robot$proj+ci"

func start(t *testing.T, o Options) *Harbor {
	t.Helper()
	if o.Users == nil {
		o.Users = map[string]User{"admin": {Password: "adminpw", CanCreateProjects: true}, robot: {Password: "robotpw"}}
	}
	h, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

type call struct {
	method, path, user, pass, body string
	header                         map[string]string
}

func (c call) do(t *testing.T, h *Harbor) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, h.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestProjectsFollowHarborsRules(t *testing.T) {
	h := start(t, Options{Projects: []string{"registry"}})
	for _, tc := range []struct {
		name      string
		c         call
		status    int
		violation bool
	}{
		{"head existing", call{method: "HEAD", path: "/api/v2.0/projects?project_name=registry", user: robot, pass: "robotpw"}, 200, false},
		{"head missing", call{method: "HEAD", path: "/api/v2.0/projects?project_name=nope", user: robot, pass: "robotpw"}, 404, false},
		{"head anonymous", call{method: "HEAD", path: "/api/v2.0/projects?project_name=registry"}, 401, true},
		{"get by name", call{method: "GET", path: "/api/v2.0/projects/registry", user: robot, pass: "robotpw", header: map[string]string{"X-Is-Resource-Name": "true"}}, 200, false},
		{"robot cannot create", call{method: "POST", path: "/api/v2.0/projects", user: robot, pass: "robotpw", body: `{"project_name":"newp","metadata":{"public":"false"}}`}, 403, false},
		{"public as bool", call{method: "POST", path: "/api/v2.0/projects", user: "admin", pass: "adminpw", body: `{"project_name":"newp","metadata":{"public":false}}`}, 400, true},
		{"unknown field", call{method: "POST", path: "/api/v2.0/projects", user: "admin", pass: "adminpw", body: `{"name":"newp"}`}, 400, true},
		{"cookie on write", call{method: "POST", path: "/api/v2.0/projects", user: "admin", pass: "adminpw", body: `{"project_name":"newp"}`, header: map[string]string{"Cookie": "sid=abc"}}, 403, true},
		{"admin creates", call{method: "POST", path: "/api/v2.0/projects", user: "admin", pass: "adminpw", body: `{"project_name":"newp","metadata":{"public":"false"},"storage_limit":-1}`}, 201, false},
		{"exists", call{method: "POST", path: "/api/v2.0/projects", user: "admin", pass: "adminpw", body: `{"project_name":"newp"}`}, 409, false},
		{"fuzzy list refused by the fake", call{method: "GET", path: "/api/v2.0/projects?name=new", user: "admin", pass: "adminpw"}, 405, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.Violations())
			status, _, body := tc.c.do(t, h)
			if status != tc.status {
				t.Errorf("status %d, want %d: %s", status, tc.status, body)
			}
			if got := len(h.Violations()) > before; got != tc.violation {
				t.Errorf("violation recorded: %t, want %t (%v)", got, tc.violation, h.Violations())
			}
			if status >= 400 && tc.c.method != "HEAD" && !strings.Contains(body, `"errors":[{"code":`) {
				t.Errorf("error body %q is not Harbor's Errors shape", body)
			}
		})
	}
	// A client with a cookie jar keeps the sid cookie and trips the CSRF check.
	jar, _ := cookiejar.New(nil)
	jc := &http.Client{Jar: jar}
	for i, m := range []string{http.MethodHead, http.MethodPost} {
		req, _ := http.NewRequest(m, h.URL+"/api/v2.0/projects?project_name=jarred", strings.NewReader(`{"project_name":"jarred"}`))
		if m == http.MethodPost {
			req, _ = http.NewRequest(m, h.URL+"/api/v2.0/projects", strings.NewReader(`{"project_name":"jarred"}`))
			req.Header.Set("Content-Type", "application/json")
		}
		req.SetBasicAuth("admin", "adminpw")
		resp, err := jc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i == 1 && resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST with the kept cookie: %d, want 403", resp.StatusCode)
		}
	}
	if p := h.Projects(); strings.Join(p, ",") != "newp,registry" {
		t.Errorf("projects %v", p)
	}
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// pushImage stores a one-config image in the fake's registry directly.
func pushImage(t *testing.T, h *Harbor, repo, tag string) string {
	t.Helper()
	put := func(method, url, ctype string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.SetBasicAuth(robot, "robotpw")
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	resp := put(http.MethodPost, h.URL+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload %s: %d", repo, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = h.URL + loc
	}
	put(http.MethodPut, loc+"&digest="+digestOf(config), "application/octet-stream", config)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digestOf(config), "size": len(config)}, "layers": []any{}})
	if r := put(http.MethodPut, h.URL+"/v2/"+repo+"/manifests/"+tag, "application/vnd.docker.distribution.manifest.v2+json", m); r.StatusCode != http.StatusCreated {
		t.Fatalf("manifest: %d", r.StatusCode)
	}
	return digestOf(m)
}

func TestPushToMissingProjectIsUnauthorized(t *testing.T) {
	h := start(t, Options{})
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/v2/ghost/app/blobs/uploads/", nil)
	req.SetBasicAuth(robot, "robotpw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "unauthorized to access repository: ghost/app") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

func TestScanRunsPendingRunningSuccess(t *testing.T) {
	h := start(t, Options{Projects: []string{"proj"}, ScanPolls: 2, Findings: map[string]int{"High": 2}})
	digest := pushImage(t, h, "proj/team/app", "v1")
	auth := call{user: robot, pass: "robotpw"}
	art := "/api/v2.0/projects/proj/repositories/team%252Fapp/artifacts/" + digest

	single := auth
	single.method, single.path = "GET", "/api/v2.0/projects/proj/repositories/team%2Fapp/artifacts/"+digest
	if st, _, _ := single.do(t, h); st != http.StatusNotFound || len(h.Violations()) != 1 {
		t.Errorf("single-escaped repository: %d, violations %v", st, h.Violations())
	}

	scan := auth
	scan.method, scan.path, scan.body = "POST", art+"/scan", `{"scan_type":"vulnerability"}`
	if st, _, body := scan.do(t, h); st != http.StatusAccepted {
		t.Fatalf("scan: %d %s", st, body)
	}
	get := auth
	get.method, get.path = "GET", art+"?with_scan_overview=true&with_tag=true"
	var statuses []string
	var last map[string]any
	for i := 0; i < 4; i++ {
		st, _, body := get.do(t, h)
		if st != http.StatusOK {
			t.Fatalf("artifact: %d %s", st, body)
		}
		var a struct {
			Digest       string                    `json:"digest"`
			ScanOverview map[string]map[string]any `json:"scan_overview"`
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatal(err)
		}
		if a.Digest != digest {
			t.Errorf("digest %s", a.Digest)
		}
		last = a.ScanOverview[reportType]
		statuses = append(statuses, fmt.Sprint(last["scan_status"]))
	}
	if got := strings.Join(statuses, ","); got != "Pending,Running,Success,Success" {
		t.Errorf("statuses %s", got)
	}
	sum, _ := last["summary"].(map[string]any)
	counts, _ := sum["summary"].(map[string]any)
	if counts["High"] != float64(2) || sum["total"] != float64(2) || last["severity"] != "High" {
		t.Errorf("summary %v", last)
	}
	if v := h.Violations(); len(v) != 1 {
		t.Errorf("violations %v", v)
	}
}

func TestTokenServiceGrantsOnlyExistingProjects(t *testing.T) {
	h := start(t, Options{Projects: []string{"proj"}})
	st, hdr, _ := call{method: "GET", path: "/v2/"}.do(t, h)
	if st != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Bearer realm="http://`+h.Host+`/service/token",service="harbor-registry"`) {
		t.Fatalf("anonymous /v2/: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	if st, _, _ := (call{method: "GET", path: "/service/token?service=harbor-registry", user: robot, pass: "wrong"}).do(t, h); st != http.StatusUnauthorized {
		t.Errorf("token with a wrong password: %d", st)
	}
	token := func(scope string) string {
		st, _, body := call{method: "GET", path: "/service/token?service=harbor-registry&scope=" + scope, user: robot, pass: "robotpw"}.do(t, h)
		var tok struct {
			Token string `json:"token"`
		}
		if st != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
			t.Fatalf("token: %d %s", st, body)
		}
		return tok.Token
	}
	upload := func(repo, tok string) (int, string) {
		st, hdr, _ := call{method: "POST", path: "/v2/" + repo + "/blobs/uploads/", header: map[string]string{"Authorization": "Bearer " + tok}}.do(t, h)
		return st, hdr.Get("WWW-Authenticate")
	}
	if st, _ := upload("proj/app", token("repository:proj/app:pull,push")); st != http.StatusAccepted {
		t.Errorf("push with a granted token: %d", st)
	}
	st, challenge := upload("ghost/app", token("repository:ghost/app:pull,push"))
	if st != http.StatusUnauthorized || !strings.Contains(challenge, `error="insufficient_scope"`) {
		t.Errorf("push to a missing project: %d %q", st, challenge)
	}
	if v := h.Violations(); len(v) != 0 {
		t.Errorf("violations %v", v)
	}
}
