package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

type pusher struct {
	t          *testing.T
	base       string
	user, pass string
}

func (p pusher) do(method, url, ctype string, body []byte) *http.Response {
	p.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if p.user != "" {
		req.SetBasicAuth(p.user, p.pass)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// blob uploads content with a monolithic POST+PUT; it returns the PUT status.
func (p pusher) blob(repo string, content []byte) int {
	p.t.Helper()
	resp := p.do(http.MethodPost, p.base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		p.t.Fatalf("start upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = p.base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return p.do(http.MethodPut, loc+sep+"digest="+digestOf(content), "application/octet-stream", content).StatusCode
}

func (p pusher) image(repo, tag string) (string, int) {
	p.t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"a":"b"}},"rootfs":{"type":"layers","diff_ids":[]}}`)
	if st := p.blob(repo, config); st != http.StatusCreated {
		p.t.Fatalf("config blob: %d", st)
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digestOf(config), "size": len(config)},
		"layers": []any{},
	})
	st := p.do(http.MethodPut, p.base+"/v2/"+repo+"/manifests/"+tag, "application/vnd.docker.distribution.manifest.v2+json", m).StatusCode
	return digestOf(m), st
}

func TestRegistryStoresWhatIsPushedBehindBasicAuth(t *testing.T) {
	reg, err := Start(context.Background(), Options{Users: map[string]string{"robot$proj+ci": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()

	anon := pusher{t: t, base: reg.URL}
	resp := anon.do(http.MethodGet, reg.URL+"/v2/", "", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("anonymous /v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if st := (pusher{t: t, base: reg.URL, user: "robot$proj+ci", pass: "wrong"}).do(http.MethodGet, reg.URL+"/v2/", "", nil).StatusCode; st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", st)
	}

	p := pusher{t: t, base: reg.URL, user: "robot$proj+ci", pass: "pw"}
	digest, st := p.image("proj/app", "v1")
	if st != http.StatusCreated {
		t.Fatalf("manifest PUT: %d", st)
	}
	ctx := context.Background()
	tags, err := reg.Tags(ctx, "proj/app")
	if err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("tags %v %v", tags, err)
	}
	if d, err := reg.Resolve(ctx, "proj/app", "v1"); err != nil || d != digest {
		t.Errorf("resolve %q %v, want %s", d, err, digest)
	}
	m, err := reg.Manifest(ctx, "proj/app", digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := reg.Blob(ctx, "proj/app", im.Config.Digest); err != nil || !bytes.Contains(b, []byte(`"Labels":{"a":"b"}`)) {
		t.Errorf("config blob %s %v", b, err)
	}
	if _, err := reg.Tags(ctx, "proj/none"); err == nil {
		t.Errorf("tags of a missing repository: no error")
	}
	if repos, err := reg.Repositories(ctx); err != nil || len(repos) != 1 || repos[0] != "proj/app" {
		t.Errorf("catalog %v %v", repos, err)
	}
	for _, r := range reg.Requests() {
		if r.Method == http.MethodPut && r.User != "robot$proj+ci" {
			t.Errorf("PUT as %q", r.User)
		}
	}
}

func TestRegistryInjectsPutFailures(t *testing.T) {
	reg, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	p := pusher{t: t, base: reg.URL}

	reg.FailPuts(BlobPut, 1)
	if st := p.blob("x/y", []byte("one")); st != http.StatusServiceUnavailable {
		t.Errorf("first blob PUT: %d, want 503", st)
	}
	if st := p.blob("x/y", []byte("one")); st != http.StatusCreated {
		t.Errorf("second blob PUT: %d, want 201", st)
	}

	reg.FailPuts(ManifestPut, 2)
	for i := 0; i < 2; i++ {
		if _, st := p.image("x/y", "t"); st != http.StatusServiceUnavailable {
			t.Errorf("manifest PUT %d: %d, want 503", i, st)
		}
	}
	if _, st := p.image("x/y", "t"); st != http.StatusCreated {
		t.Errorf("manifest PUT after failures: %d", st)
	}
	if n := reg.PendingFailures(); n != 0 {
		t.Errorf("pending %d", n)
	}
}
