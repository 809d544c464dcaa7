package kube

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func client(t *testing.T, s *Server) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CACert())) {
		t.Fatal("bad CA")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

func call(t *testing.T, c *http.Client, method, url, token, contentType, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWritesFollowTheAPIServer(t *testing.T) {
	s := startFake(t, Options{Token: "tok"})
	addWorkloads(t, s)
	c := client(t, s)
	u := s.URL() + "/apis/apps/v1/namespaces/web/deployments/web"
	d, _ := s.Deployment("web", "web")
	smp := "application/strategic-merge-patch+json"
	for _, tc := range []struct {
		name, ct, body string
		code           int
		want           string
	}{
		{"no token", "", "", 401, "Unauthorized"},
		{"stale resourceVersion", smp, `{"metadata":{"resourceVersion":"1"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"x:2"}]}}}}`, 409, "the object has been modified"},
		{"selector is immutable", "application/merge-patch+json", `{"spec":{"selector":{"matchLabels":{"app":"other"}}}}`, 422, "field is immutable"},
		{"template must match selector", smp, `{"spec":{"template":{"metadata":{"labels":{"app":"other"}}}}}`, 422, "`selector` does not match template `labels`"},
		{"image required", "application/json-patch+json", `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":""}]`, 422, "containers[0].image: Required value"},
		{"apply is not implemented", "application/apply-patch+yaml", `{}`, 415, "unknown format"},
		{"bad JSON", smp, `{`, 400, "invalid JSON"},
	} {
		tok := "tok"
		if tc.name == "no token" {
			tok = ""
		}
		code, body := call(t, c, http.MethodPatch, u, tok, tc.ct, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	if code, body := call(t, c, http.MethodGet, s.URL()+"/apis/apps/v1/namespaces/web/deployments/nope", "tok", "", ""); code != 404 || !strings.Contains(body, `deployments.apps \"nope\" not found`) {
		t.Errorf("missing: %d %s", code, body)
	}
	// A label change outside the spec keeps the generation; a template change bumps it.
	if code, body := call(t, c, http.MethodPatch, u, "tok", "application/merge-patch+json", `{"metadata":{"labels":{"team":"a"}}}`); code != 200 {
		t.Fatalf("label patch: %d %s", code, body)
	}
	if d2, _ := s.Deployment("web", "web"); d2.Generation != d.Generation || d2.ResourceVersion == d.ResourceVersion {
		t.Errorf("label patch: generation %d -> %d, rv %s -> %s", d.Generation, d2.Generation, d.ResourceVersion, d2.ResourceVersion)
	}
	s.ConflictOnNextWrite("deployments", "web", "web", 1)
	d2, _ := s.Deployment("web", "web")
	patch := `{"metadata":{"resourceVersion":"` + d2.ResourceVersion + `"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"reg/web:9"}]}}}}`
	if code, _ := call(t, c, http.MethodPatch, u, "tok", smp, patch); code != 409 {
		t.Errorf("injected conflict: %d", code)
	}
	d3, _ := s.Deployment("web", "web")
	patch = strings.Replace(patch, d2.ResourceVersion, d3.ResourceVersion, 1)
	if code, body := call(t, c, http.MethodPatch, u, "tok", smp, patch); code != 200 {
		t.Fatalf("retry: %d %s", code, body)
	}
	if d4, _ := s.Deployment("web", "web"); d4.Generation != d.Generation+1 || d4.Spec.Template.Spec.Containers[1].Image != "reg/log:1" {
		t.Errorf("template patch: generation %d, containers %+v", d4.Generation, d4.Spec.Template.Spec.Containers)
	}
}

func TestWatchSendsChangesUntilComplete(t *testing.T) {
	s := startFake(t, Options{Token: "tok"})
	addWorkloads(t, s)
	c := client(t, s)
	d, _ := s.Deployment("web", "web")
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/apis/apps/v1/namespaces/web/deployments?watch=true&fieldSelector=metadata.name%3Dweb&resourceVersion="+d.ResourceVersion, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	code, body := call(t, c, http.MethodPatch, s.URL()+"/apis/apps/v1/namespaces/web/deployments/web", "tok", "application/strategic-merge-patch+json",
		`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"reg/web:2"}]}}}}`)
	if code != 200 {
		t.Fatalf("patch: %d %s", code, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var seen []string
	deadline := time.AfterFunc(30*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	for sc.Scan() {
		var ev struct {
			Type   string
			Object appsv1.Deployment
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		st := ev.Object.Status
		seen = append(seen, ev.Type)
		if ev.Object.Generation == 2 && st.ObservedGeneration == 2 && st.UpdatedReplicas == 3 && st.Replicas == 3 && st.AvailableReplicas == 3 {
			break
		}
	}
	if len(seen) < 4 {
		t.Errorf("watch events: %v", seen)
	}
	var complete bool
	for _, e := range s.Events() {
		complete = complete || (e.Resource == "deployments" && e.What == "complete")
	}
	if !complete {
		t.Error("no complete event")
	}
	_ = metav1.Now()
}
