package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
	"github.com/lightship-ci/lightship/pkg/testkit/buildkitd"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/harbor"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

// Tests of the buildkit_host path against a real buildkitd (the machine's,
// from scripts/ensure-buildkitd, or fresh ones the test starts) and the
// in-process registry with Basic auth.

func remoteEnv(dir string, reg *registry.Registry, repo, addr string) map[string]string {
	env := baseEnv(dir, reg, repo)
	env["PLUGIN_BUILDKIT_HOST"] = addr
	return env
}

// archContext is a FROM scratch Dockerfile whose image holds its own arch.
func archContext(t *testing.T) string {
	return writeContext(t, map[string]string{
		"Dockerfile":     "FROM scratch\nARG TARGETARCH\nCOPY arch-${TARGETARCH}.txt /arch.txt\n",
		"arch-amd64.txt": "amd64\n",
		"arch-arm64.txt": "arm64\n",
	})
}

func TestRemoteMultiPlatformIndexUnderEveryTag(t *testing.T) {
	addr := buildkitd.Shared(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	repo := "proj/multi-" + suffix()
	dir := archContext(t)
	env := remoteEnv(dir, reg, repo, addr)
	env["PLUGIN_PLATFORMS"] = "linux/amd64,linux/arm64"
	env["PLUGIN_TAGS"] = "v1,latest"
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), canary) {
		t.Errorf("password printed:\n%s", res.Output())
	}
	ctx := context.Background()
	var indexDigest string
	for _, tag := range []string{"v1", "latest"} {
		m, err := reg.Manifest(ctx, repo, tag)
		if err != nil {
			t.Fatal(err)
		}
		if !m.IsIndex() {
			t.Fatalf("%s is a %s, want an index", tag, m.MediaType)
		}
		if indexDigest != "" && m.Digest != indexDigest {
			t.Errorf("%s -> %s, v1 -> %s: want one index under every tag", tag, m.Digest, indexDigest)
		}
		indexDigest = m.Digest
	}
	images, err := reg.Images(ctx, repo, "v1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, im := range images {
		b, err := reg.File(ctx, repo, im, "/arch.txt")
		if err != nil {
			t.Fatalf("%s: %v", im.Platform, err)
		}
		if want := "linux/" + strings.TrimSpace(string(b)); im.Platform != want {
			t.Errorf("image %s holds /arch.txt %q, config says %s", im.Digest, b, im.Platform)
		}
		got[im.Platform] = im.Digest
	}
	if len(got) != 2 || got["linux/amd64"] == "" || got["linux/arm64"] == "" {
		t.Fatalf("index holds %v, want linux/amd64 and linux/arm64", got)
	}
	var b result.Build
	if err := result.Read(dir, "docker-build", &b); err != nil {
		t.Fatal(err)
	}
	if b.Digest != indexDigest {
		t.Errorf("result digest %s, want the index's %s", b.Digest, indexDigest)
	}
	recorded := map[string]string{}
	for _, p := range b.Platforms {
		recorded[p.Platform] = p.Digest
	}
	if fmt.Sprint(recorded) != fmt.Sprint(got) {
		t.Errorf("result platforms %v, registry %v", recorded, got)
	}
	tags := append([]string(nil), b.Tags...)
	sort.Strings(tags)
	if strings.Join(tags, ",") != "latest,v1" {
		t.Errorf("result tags %v", b.Tags)
	}
}

func TestRemoteDryRunBuildsWithoutPushing(t *testing.T) {
	addr := buildkitd.Shared(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	repo := "proj/dry-" + suffix()
	dir := archContext(t)
	env := remoteEnv(dir, reg, repo, addr)
	env["PLUGIN_PLATFORMS"] = "linux/amd64,linux/arm64"
	env["PLUGIN_DRY_RUN"] = "true"
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if tags, err := reg.Tags(context.Background(), repo); err == nil && len(tags) > 0 {
		t.Errorf("dry_run pushed %v", tags)
	}
	for _, r := range reg.Requests() {
		if r.Method != "GET" && r.Method != "HEAD" {
			t.Errorf("dry_run sent %s %s", r.Method, r.Path)
		}
	}
	var b result.Build
	if err := result.Read(dir, "docker-build", &b); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Digest, "sha256:") || len(b.Tags) != 0 {
		t.Errorf("dry_run result %+v: want the built digest and no tags", b)
	}
}

func TestRemoteUnreachableBuildkitdFailsNamingTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "tcp://" + l.Addr().String()
	l.Close()
	// silent accepts connections and never answers: only the timeout ends the wait.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := silent.Accept()
			if err != nil {
				for _, h := range held {
					h.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	for _, addr := range []string{closed, "unix:///nonexistent/lightship/buildkitd.sock", "tcp://" + silent.Addr().String()} {
		t.Run(addr, func(t *testing.T) {
			reg := startRegistry(t, nil)
			dir := archContext(t)
			env := remoteEnv(dir, reg, "proj/none", addr)
			env["PLUGIN_BUILDKIT_TIMEOUT"] = "2s"
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res := plugintest.RunContext(ctx, t, newApp("test"), env)
			if ctx.Err() != nil {
				t.Fatalf("still running after a minute with buildkit_timeout 2s")
			}
			if res.Code != 1 || !strings.Contains(res.Output(), addr) {
				t.Errorf("exit %d, want 1 naming %s:\n%s", res.Code, addr, res.Output())
			}
		})
	}
}

func TestRemoteMutualTLS(t *testing.T) {
	d := buildkitd.Start(t, buildkitd.Options{TLS: true})
	reg := startRegistry(t, map[string]string{robotUser: canary})
	repo := "proj/mtls-" + suffix()
	dir := archContext(t)
	key, err := os.ReadFile(d.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		settings map[string]string
		code     int
	}{
		{"ca and client certificate", map[string]string{"PLUGIN_CA_CERT": d.CACert, "PLUGIN_BUILDKIT_CERT": d.ClientCert, "PLUGIN_BUILDKIT_KEY": string(key)}, 0},
		{"no client certificate", map[string]string{"PLUGIN_CA_CERT": d.CACert}, 1},
		{"no TLS", map[string]string{}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := remoteEnv(dir, reg, repo, d.Addr)
			env["PLUGIN_BUILDKIT_TIMEOUT"] = "10s"
			for k, v := range tc.settings {
				env[k] = v
			}
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", res.Code, tc.code, res.Output())
			}
			if strings.Contains(res.Output(), "PRIVATE KEY") {
				t.Errorf("client key printed:\n%s", res.Output())
			}
			if tc.code != 0 && !strings.Contains(res.Output(), d.Addr) {
				t.Errorf("failure does not name %s:\n%s", d.Addr, res.Output())
			}
		})
	}
}

// slowStepContext is a Dockerfile whose RUN step takes a moment (hashing
// random data) FROM a busybox base in the test registry.
func slowStepContext(t *testing.T, base string) string {
	return writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + "\n" +
			"RUN for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom bs=1M count=16 2>/dev/null | sha256sum; done > /sums\n" +
			"COPY hello.txt /hello.txt\n",
		"hello.txt": "hello\n",
	})
}

// pushBase pushes a busybox base image to reg as robotUser.
func pushBase(t *testing.T, reg *registry.Registry) string {
	t.Helper()
	return baseimage.Push(t, dockertest.Client(t), baseimage.Options{
		Host: reg.Host, Repo: "proj/base-" + suffix(), Username: robotUser, Password: canary,
	})
}

func TestRemoteRegistryCacheOnAFreshBuildkitd(t *testing.T) {
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := pushBase(t, reg)
	repo := "proj/cached-" + suffix()
	cacheRef := reg.Host + "/" + repo + ":buildcache"
	dir := slowStepContext(t, base)

	first := buildkitd.Start(t, buildkitd.Options{})
	env := remoteEnv(dir, reg, repo, first.Addr)
	env["PLUGIN_CACHE_TO"] = "type=registry,ref=" + cacheRef + ",mode=max"
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("first build: exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), "CACHED") {
		t.Fatalf("first build on a fresh buildkitd reports CACHED steps:\n%s", res.Output())
	}
	if _, err := reg.Manifest(context.Background(), repo, "buildcache"); err != nil {
		t.Fatalf("no cache pushed to %s: %v", cacheRef, err)
	}

	second := buildkitd.Start(t, buildkitd.Options{})
	env = remoteEnv(dir, reg, repo, second.Addr)
	env["PLUGIN_CACHE_FROM"] = "type=registry,ref=" + cacheRef
	res = plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("second build: exit %d:\n%s", res.Code, res.Output())
	}
	out := res.Output()
	for _, step := range []string{"RUN for i in", "COPY hello.txt"} {
		if !stepCached(out, step) {
			t.Errorf("step %q not CACHED on the second buildkitd:\n%s", step, out)
		}
	}
	if strings.Contains(out, canary) {
		t.Errorf("password printed:\n%s", out)
	}
}

// stepCached reports whether the plain progress shows the step (a line
// "#N [..] <step>...") followed by "#N CACHED".
func stepCached(out, step string) bool {
	for _, line := range strings.Split(out, "\n") {
		id, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(id, "#") || !strings.Contains(rest, step) {
			continue
		}
		if strings.Contains(out, id+" CACHED") {
			return true
		}
	}
	return false
}

func TestRemotePushRetriesTransientFailures(t *testing.T) {
	addr := buildkitd.Shared(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	repo := "proj/retry-" + suffix()
	dir := archContext(t)
	env := remoteEnv(dir, reg, repo, addr)
	env["PLUGIN_PUSH_RETRIES"] = "3"
	env["PLUGIN_PUSH_BACKOFF"] = "10ms"
	// buildkitd repeats a refused upload itself (backoff 1, 2, 4 s; five to
	// seven uploads in all here) before the solve fails; eight failures
	// outlast that, so the plugin's own repeat has to push the image.
	reg.FailPuts(registry.ManifestPut, 8)
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if reg.PendingFailures() != 0 {
		t.Fatalf("the injected failure was never hit")
	}
	if !strings.Contains(res.Output(), "attempt 2 of 4") {
		t.Errorf("retry not logged:\n%s", res.Output())
	}
	var b result.Build
	if err := result.Read(dir, "docker-build", &b); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Resolve(context.Background(), repo, "latest"); err != nil || got != b.Digest {
		t.Errorf("latest -> %s (%v), result digest %s", got, err, b.Digest)
	}
}

func TestRemotePushRefusedWithoutRetry(t *testing.T) {
	addr := buildkitd.Shared(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	dir := archContext(t)
	env := remoteEnv(dir, reg, "proj/refused-"+suffix(), addr)
	env["PLUGIN_PASSWORD"] = "wrong-" + canary
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), "attempt 2") {
		t.Errorf("a refused push was repeated:\n%s", res.Output())
	}
	if strings.Contains(res.Output(), canary) {
		t.Errorf("password printed:\n%s", res.Output())
	}
}

// TestRemoteHarborRules: the Harbor project check, creation and scan gate
// run around a multi-platform push by buildkitd as around the daemon's.
func TestRemoteHarborRules(t *testing.T) {
	addr := buildkitd.Shared(t)
	for _, tc := range []struct {
		name, project, user, password string
		create                        bool
		code                          int
		want                          string
	}{
		{"created and scanned", "fresh", "admin", adminPassword, true, 0, "no findings at or above high"},
		{"missing project explained", "absent", robotUser, canary, false, 1, "does not exist and Harbor does not create projects on push"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarbor(t, harbor.Options{Findings: map[string]int{"Medium": 1}})
			repo := tc.project + "/app-" + suffix()
			dir := archContext(t)
			env := map[string]string{
				"PLUGIN_REPO": h.Host + "/" + repo, "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
				"PLUGIN_USERNAME": tc.user, "PLUGIN_PASSWORD": tc.password, "PLUGIN_HARBOR_URL": h.URL,
				"PLUGIN_HARBOR_CREATE_PROJECT": fmt.Sprint(tc.create), "PLUGIN_HARBOR_SCAN": "true", "PLUGIN_HARBOR_SEVERITY": "high",
				"PLUGIN_HARBOR_SCAN_INTERVAL": "50ms", "DRONE_WORKSPACE": dir, "PLUGIN_PUSH_RETRIES": "0",
				"PLUGIN_BUILDKIT_HOST": addr, "PLUGIN_PLATFORMS": "linux/amd64,linux/arm64",
			}
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != tc.code || !strings.Contains(res.Output(), tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", res.Code, tc.code, tc.want, res.Output())
			}
			if strings.Contains(res.Output(), tc.password) {
				t.Errorf("password printed")
			}
			if tc.code == 0 {
				m, err := h.Registry.Manifest(context.Background(), repo, "latest")
				if err != nil || !m.IsIndex() {
					t.Errorf("latest: %v, %s: want an index", err, m.MediaType)
				}
			}
			noViolationsButOAuthPost(t, h)
		})
	}
}

// noViolationsButOAuthPost is noViolations, except that containerd's
// registry client (in buildkitd, and in the plugin reading the index back)
// first asks for a token with an OAuth2 POST /service/token, which Harbor
// refuses with 405, and then falls back to the GET Harbor serves.
func noViolationsButOAuthPost(t *testing.T, h *harbor.Harbor) {
	t.Helper()
	for _, err := range h.Violations() {
		if !strings.Contains(err.Error(), "POST /service/token") {
			t.Error(err)
		}
	}
}

// buildMode is one way the plugin builds: through the Docker daemon, or on
// a remote buildkitd (buildkit_host). The session tests (private FROM,
// secrets, ssh, failing and skipped steps) run in both.
type buildMode struct {
	buildkitHost string
}

func (m buildMode) remote() bool { return m.buildkitHost != "" }

// apply adds the mode's settings to a plugin environment.
func (m buildMode) apply(env map[string]string) {
	if m.remote() {
		env["PLUGIN_BUILDKIT_HOST"] = m.buildkitHost
	}
}

// bothModes runs f through the daemon, then on the machine's buildkitd.
func bothModes(t *testing.T, f func(*testing.T, buildMode)) {
	t.Run("daemon", func(t *testing.T) { f(t, buildMode{}) })
	t.Run("buildkitd", func(t *testing.T) { f(t, buildMode{buildkitHost: buildkitd.Shared(t)}) })
}
