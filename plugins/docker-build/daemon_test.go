package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

// Helpers shared by the tests that use the real daemon.

const (
	robotUser = "robot$proj+ci"
	// canary is the password; it must never appear in any output.
	canary = "Canary-Pw-7f3a91"
)

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func startRegistry(t testing.TB, users map[string]string) *registry.Registry {
	t.Helper()
	r, err := registry.Start(context.Background(), registry.Options{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// writeContext creates a build context from name -> content.
func writeContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// scratchContext is a FROM scratch context with an ARG, a LABEL and a
// .dockerignored secret.
func scratchContext(t *testing.T, marker string) string {
	return writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nARG GREETING=hello\nLABEL com.example.greeting=$GREETING\n" +
			"COPY . /ctx/\n",
		".dockerignore": "secret.txt\n",
		"hello.txt":     "hello " + marker + "\n",
		"secret.txt":    "do not ship me\n",
	})
}

// removeRefs deletes images the test may have left (purge off or failure).
func removeRefs(t *testing.T, cli *client.Client, refs ...string) {
	t.Helper()
	t.Cleanup(func() {
		for _, ref := range refs {
			_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
		}
	})
}

func baseEnv(dir string, reg *registry.Registry, repo string) map[string]string {
	return map[string]string{
		"PLUGIN_REPO":         reg.Host + "/" + repo,
		"PLUGIN_CONTEXT":      dir,
		"PLUGIN_DOCKERFILE":   filepath.Join(dir, "Dockerfile"),
		"PLUGIN_USERNAME":     robotUser,
		"PLUGIN_PASSWORD":     canary,
		"DRONE_WORKSPACE":     dir,
		"PLUGIN_PUSH_RETRIES": "1",
	}
}

// layerFiles lists the file names in an image's layers in the registry.
func layerFiles(t *testing.T, reg *registry.Registry, repo, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	m, err := reg.Manifest(ctx, repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range im.Layers {
		blob, err := reg.Blob(ctx, repo, l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = bytes.NewReader(blob)
		if gz, err := gzip.NewReader(bytes.NewReader(blob)); err == nil {
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
	return files
}

// imageLabels reads the labels from the image config in the registry.
func imageLabels(t *testing.T, reg *registry.Registry, repo, ref string) map[string]string {
	t.Helper()
	ctx := context.Background()
	m, err := reg.Manifest(ctx, repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := reg.Blob(ctx, repo, im.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Config struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if err := json.Unmarshal(blob, &conf); err != nil {
		t.Fatal(err)
	}
	return conf.Config.Labels
}

func readResult(t *testing.T, dir string) result.Build {
	t.Helper()
	var b result.Build
	if err := result.Read(dir, "docker-build", &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func noSecret(t *testing.T, res plugintest.Result) {
	t.Helper()
	if strings.Contains(res.Output(), canary) {
		t.Errorf("password printed:\n%s", res.Output())
	}
}

func TestBuildPushesEveryTagWithOneDigest(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/app-" + marker
	env := baseEnv(dir, reg, repo)
	env["PLUGIN_TAGS"] = "1.2.3,1.2,latest"
	env["PLUGIN_BUILD_ARGS"] = "GREETING=bonjour"
	env["PLUGIN_LABELS"] = "com.example.team=core"
	env["PLUGIN_LOG_LEVEL"] = "debug"
	env["DRONE_COMMIT_SHA"] = "0123456789abcdef"
	env["DRONE_GIT_HTTP_URL"] = "https://git.example.com/acme/app.git"
	removeRefs(t, cli, reg.Host+"/"+repo+":1.2.3", reg.Host+"/"+repo+":1.2", reg.Host+"/"+repo+":latest")

	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	noSecret(t, res)
	got := readResult(t, dir)
	if got.Digest == "" || got.ImageID == "" || got.Registry != reg.Host || got.Repo != reg.Host+"/"+repo {
		t.Fatalf("result %+v", got)
	}
	if strings.Join(got.Tags, ",") != "1.2.3,1.2,latest" {
		t.Errorf("result tags %v", got.Tags)
	}
	ctx := context.Background()
	tags, err := reg.Tags(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 3 {
		t.Errorf("registry tags %v, want 3", tags)
	}
	for _, tag := range []string{"1.2.3", "1.2", "latest"} {
		d, err := reg.Resolve(ctx, repo, tag)
		if err != nil || d != got.Digest {
			t.Errorf("tag %s resolves to %q (%v), want %s", tag, d, err, got.Digest)
		}
	}
	files := layerFiles(t, reg, repo, "latest")
	if !strings.Contains(files["ctx/hello.txt"], marker) {
		t.Errorf("ctx/hello.txt missing from the image: %v", keys(files))
	}
	if _, ok := files["ctx/secret.txt"]; ok {
		t.Errorf(".dockerignored secret.txt shipped in the image")
	}
	labels := imageLabels(t, reg, repo, "latest")
	for k, v := range map[string]string{
		"com.example.greeting":              "bonjour",
		"com.example.team":                  "core",
		"org.opencontainers.image.revision": "0123456789abcdef",
		"org.opencontainers.image.source":   "https://git.example.com/acme/app.git",
	} {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, labels[k], v, labels)
		}
	}
	if labels["org.opencontainers.image.created"] == "" {
		t.Errorf("no created label: %v", labels)
	}
	// purge (default) removed the local tags and the image itself.
	if _, err := cli.ImageInspect(ctx, reg.Host+"/"+repo+":latest"); err == nil {
		t.Errorf("purge left %s:latest", repo)
	}
	if _, err := cli.ImageInspect(ctx, got.ImageID); err == nil {
		t.Errorf("purge left image %s", got.ImageID)
	}
	for _, r := range reg.Requests() {
		if r.Method == "PUT" && r.User != robotUser {
			t.Errorf("PUT %s as %q, want %q", r.Path, r.User, robotUser)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestWrongPasswordFailsWithDaemonMessage(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: "the-right-one"})
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/denied-" + marker
	env := baseEnv(dir, reg, repo)
	env["PLUGIN_LOG_LEVEL"] = "debug"
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")

	res := runPlugin(t, env)
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
	}
	noSecret(t, res)
	out := strings.ToLower(res.Output())
	if !strings.Contains(out, "unauthorized") && !strings.Contains(out, "authentication required") {
		t.Errorf("no daemon auth message:\n%s", res.Output())
	}
	if tags, _ := reg.Tags(context.Background(), repo); len(tags) != 0 {
		t.Errorf("tags pushed: %v", tags)
	}
}

func TestBuildErrorsExitOneWithDaemonText(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"parse error", "FROM scratch\nRUNX nothing\n", "unknown instruction"},
		{"missing COPY source", "FROM scratch\nLABEL lightship.test=MARKER\nCOPY missing.txt /x\n", "missing.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := suffix()
			dir := writeContext(t, map[string]string{"Dockerfile": strings.ReplaceAll(tc.dockerfile, "MARKER", marker)})
			repo := "proj/broken-" + marker
			removeRefs(t, cli, reg.Host+"/"+repo+":latest")
			env := baseEnv(dir, reg, repo)
			delete(env, "PLUGIN_USERNAME")
			delete(env, "PLUGIN_PASSWORD")
			res := runPlugin(t, env)
			if res.Code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
			}
			if !strings.Contains(strings.ToLower(res.Output()), strings.ToLower(tc.want)) {
				t.Errorf("output lacks %q:\n%s", tc.want, res.Output())
			}
			// purge removed the step images the failed build left.
			left, err := cli.ImageList(context.Background(), image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "lightship.test="+marker))})
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("failed build left %d step images", len(left))
			}
		})
	}
}

func TestPushSurvivesTwoRegistry503s(t *testing.T) {
	cli := dockertest.Client(t)
	for _, tc := range []struct {
		name string
		kind registry.PutKind
		// who retries: the plugin repeats the push after a refused
		// manifest; the daemon itself retries a refused layer (after 5 s, 10 s).
		want string
	}{
		{"manifest PUT", registry.ManifestPut, "503"},
		{"blob PUT", registry.BlobPut, "Retrying"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := startRegistry(t, map[string]string{robotUser: canary})
			marker := suffix()
			dir := scratchContext(t, marker)
			repo := "proj/flaky-" + marker
			env := baseEnv(dir, reg, repo)
			env["PLUGIN_PUSH_RETRIES"] = "3"
			env["PLUGIN_PUSH_BACKOFF"] = "100ms"
			env["PLUGIN_INSECURE"] = "true"
			removeRefs(t, cli, reg.Host+"/"+repo+":latest")
			reg.FailPuts(tc.kind, 2)

			res := runPlugin(t, env)
			if res.Code != 0 {
				t.Fatalf("exit %d:\n%s", res.Code, res.Output())
			}
			if n := reg.PendingFailures(); n != 0 {
				t.Errorf("%d injected failures never happened", n)
			}
			got := readResult(t, dir)
			if d, err := reg.Resolve(context.Background(), repo, "latest"); err != nil || d != got.Digest {
				t.Errorf("latest resolves to %q (%v), result says %s", d, err, got.Digest)
			}
			if !strings.Contains(res.Output(), tc.want) {
				t.Errorf("retries not logged (%q):\n%s", tc.want, res.Output())
			}
			if !strings.Contains(res.Output(), "treats "+reg.Host+" as an insecure registry") {
				t.Errorf("insecure: the daemon's view of a loopback registry not reported:\n%s", res.Output())
			}
		})
	}
}

func TestDryRunBuildsWithoutPushing(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/dry-" + marker
	env := baseEnv(dir, reg, repo)
	env["PLUGIN_DRY_RUN"] = "true"
	env["PLUGIN_LOG_FORMAT"] = "json"
	card := filepath.Join(dir, "card.json")
	env["DRONE_CARD_PATH"] = card
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if repos, _ := reg.Repositories(context.Background()); len(repos) != 0 {
		t.Errorf("dry run pushed %v", repos)
	}
	got := readResult(t, dir)
	if got.ImageID == "" || got.Digest != "" || len(got.Tags) != 0 {
		t.Errorf("result %+v", got)
	}
	if !strings.Contains(res.Output(), "not pushed") {
		t.Errorf("no word about not pushing:\n%s", res.Output())
	}
	// log_format json: every line, the daemon's build output included, is JSON.
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("not a JSON log line: %q", line)
		}
	}
	if !strings.Contains(res.Stdout, `"msg":"Step 1/`) && !strings.Contains(res.Stdout, `"msg":"#1 `) {
		t.Errorf("build output not logged as JSON:\n%s", res.Stdout)
	}
	b, err := os.ReadFile(card)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Schema string         `json:"schema"`
		Data   map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Schema == "" || c.Data["image_id"] != got.ImageID || c.Data["pushed"] != false {
		t.Errorf("card %s (%v)", b, err)
	}
}

func TestSquashNeedsAnExperimentalDaemon(t *testing.T) {
	cli := dockertest.Client(t)
	ping, err := cli.Ping(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ping.Experimental {
		t.Skip("this daemon is experimental: squash works")
	}
	reg := startRegistry(t, nil)
	dir := scratchContext(t, suffix())
	env := baseEnv(dir, reg, "proj/squash-"+suffix())
	delete(env, "PLUGIN_USERNAME")
	delete(env, "PLUGIN_PASSWORD")
	env["PLUGIN_SQUASH"] = "true"
	res := runPlugin(t, env)
	if res.Code != 2 || !strings.Contains(res.Output(), "PLUGIN_SQUASH") || !strings.Contains(res.Output(), "experimental") {
		t.Errorf("exit %d:\n%s", res.Code, res.Output())
	}
}

func TestNoDaemonHintsAtTheSocket(t *testing.T) {
	dir := scratchContext(t, "x")
	res := runPlugin(t, map[string]string{
		"DOCKER_HOST": "unix://" + filepath.Join(dir, "no-docker.sock"),
		"PLUGIN_REPO": "127.0.0.1:5000/proj/app", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"), "DRONE_WORKSPACE": dir,
	})
	if res.Code != 1 || !strings.Contains(res.Output(), "/var/run/docker.sock") {
		t.Errorf("exit %d:\n%s", res.Code, res.Output())
	}
}

func TestAutoTagOnFeatureBranchSaysItDoesNotPush(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/feature-" + marker
	env := baseEnv(dir, reg, repo)
	delete(env, "PLUGIN_USERNAME")
	delete(env, "PLUGIN_PASSWORD")
	env["PLUGIN_AUTO_TAG"] = "true"
	env["DRONE_BRANCH"] = "feature/x"
	env["DRONE_COMMIT_REF"] = "refs/heads/feature/x"
	env["DRONE_REPO_BRANCH"] = "main"
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), `branch "feature/x" is not the default branch "main"`) {
		t.Errorf("no clear word about the skipped push:\n%s", res.Output())
	}
	if repos, _ := reg.Repositories(context.Background()); len(repos) != 0 {
		t.Errorf("pushed %v", repos)
	}
}

func TestMirrorServesDockerHubBaseImage(t *testing.T) {
	cli := dockertest.Client(t)
	ctx := context.Background()
	mirror := startRegistry(t, nil)
	reg := startRegistry(t, nil)
	marker := suffix()
	// A base image that exists only on the mirror, under Docker Hub's path.
	base := "lightship-mirror-base-" + marker
	baseDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY base.txt /base.txt\n", "base.txt": "base " + marker})
	baseEnvs := map[string]string{
		"PLUGIN_REPO": mirror.Host + "/library/" + base, "PLUGIN_TAGS": "1.0", "PLUGIN_CONTEXT": baseDir,
		"PLUGIN_DOCKERFILE": filepath.Join(baseDir, "Dockerfile"), "DRONE_WORKSPACE": baseDir,
	}
	removeRefs(t, cli, mirror.Host+"/library/"+base+":1.0", base+":1.0", "docker.io/library/"+base+":1.0")
	if res := runPlugin(t, baseEnvs); res.Code != 0 {
		t.Fatalf("seed the mirror: exit %d:\n%s", res.Code, res.Output())
	}
	if _, err := cli.ImageInspect(ctx, base+":1.0"); err == nil {
		t.Fatalf("%s:1.0 is in the local store: the test would not prove anything", base)
	}

	dir := writeContext(t, map[string]string{
		"Dockerfile": "ARG BASE_TAG=0.0\nFROM --platform=linux/amd64 " + base + ":${BASE_TAG} AS first\nCOPY app.txt /app.txt\n",
		"app.txt":    "app",
	})
	repo := "proj/mirrored-" + marker
	env := map[string]string{
		"PLUGIN_REPO": reg.Host + "/" + repo, "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
		"DRONE_WORKSPACE": dir, "PLUGIN_BUILD_ARGS": "BASE_TAG=1.0",
	}
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")

	without := runPlugin(t, env)
	if without.Code == 0 {
		t.Fatalf("built without the mirror: the base image must be unreachable:\n%s", without.Output())
	}
	env["PLUGIN_MIRROR"] = mirror.URL
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	files := layerFiles(t, reg, repo, "latest")
	if files["base.txt"] != "base "+marker || files["app.txt"] != "app" {
		t.Errorf("image files %v", keys(files))
	}
	// purge removed the tags the mirror pull created.
	if _, err := cli.ImageInspect(ctx, base+":1.0"); err == nil {
		t.Errorf("purge left %s:1.0", base)
	}
}

func TestCacheFromIsPulledAndUsed(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\nLABEL step=two\n",
		"a.txt":      "cache " + marker,
	})
	repo := "proj/cache-" + marker
	env := baseEnv(dir, reg, repo)
	env["PLUGIN_TAGS"] = "cache"
	env["PLUGIN_AUTO_LABEL"] = "false"
	removeRefs(t, cli, reg.Host+"/"+repo+":cache", reg.Host+"/"+repo+":next")
	if res := runPlugin(t, env); res.Code != 0 {
		t.Fatalf("first build: exit %d:\n%s", res.Code, res.Output())
	}
	env["PLUGIN_TAGS"] = "next"
	env["PLUGIN_CACHE_FROM"] = reg.Host + "/" + repo + ":cache"
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("second build: exit %d:\n%s", res.Code, res.Output())
	}
	// Classic: "Using cache"; BuildKit: the step CACHED (inline cache).
	if !strings.Contains(res.Output(), "Using cache") && !strings.Contains(res.Output(), " CACHED") {
		t.Errorf("cache_from not used:\n%s", res.Output())
	}
	first, _ := reg.Resolve(context.Background(), repo, "cache")
	if next, _ := reg.Resolve(context.Background(), repo, "next"); next == "" || next != first {
		t.Errorf("cached build gave %s, first build %s", next, first)
	}
	if _, err := cli.ImageInspect(context.Background(), reg.Host+"/"+repo+":cache"); err == nil {
		t.Errorf("purge left the pulled cache source")
	}
}

func TestPushOfAMovedTagIsCaught(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := reg.Host + "/proj/moved-" + marker
	env := baseEnv(dir, reg, "proj/moved-"+marker)
	delete(env, "PLUGIN_USERNAME")
	delete(env, "PLUGIN_PASSWORD")
	env["PLUGIN_PURGE"] = "false"
	removeRefs(t, cli, repo+":latest")
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	got := readResult(t, dir)
	r := &runner{plan: &Plan{Repo: repo}, daemon: cli, imageID: got.ImageID}
	if err := r.checkPushedOurs(context.Background(), got.Digest); err != nil {
		t.Errorf("our own push refused: %v", err)
	}
	other := "sha256:" + strings.Repeat("0", 64)
	if err := r.checkPushedOurs(context.Background(), other); err == nil || !strings.Contains(err.Error(), "moved the tag") {
		t.Errorf("a digest of another image accepted: %v", err)
	}
}

func TestTargetArgsFromEnvAndLabelsReachTheImage(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	marker := suffix()
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM scratch AS first\nARG LIGHTSHIP_TEST_FROM_ENV\nLABEL stage=first fromenv=$LIGHTSHIP_TEST_FROM_ENV\n" +
			"FROM scratch AS second\nLABEL stage=second\n",
	})
	env := baseEnv(dir, reg, "proj/target-"+marker)
	delete(env, "PLUGIN_USERNAME")
	delete(env, "PLUGIN_PASSWORD")
	env["PLUGIN_TARGET"] = "first"
	env["PLUGIN_DRY_RUN"] = "true"
	env["PLUGIN_PURGE"] = "false"
	env["PLUGIN_EMAIL"] = "ci@example.com"
	env["PLUGIN_BUILD_ARGS_FROM_ENV"] = "LIGHTSHIP_TEST_FROM_ENV"
	env["PLUGIN_LABELS"] = `{"com.example.json":"yes"}`
	env["LIGHTSHIP_TEST_FROM_ENV"] = "env-" + marker
	removeRefs(t, cli, reg.Host+"/proj/target-"+marker+":latest")
	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), "PLUGIN_EMAIL is ignored") {
		t.Errorf("no warning about email:\n%s", res.Output())
	}
	got := readResult(t, dir)
	insp, err := cli.ImageInspect(context.Background(), got.ImageID)
	if err != nil {
		t.Fatal(err)
	}
	l := insp.Config.Labels
	if l["stage"] != "first" || l["fromenv"] != "env-"+marker || l["com.example.json"] != "yes" {
		t.Errorf("labels %v\n%s", l, res.Output())
	}
}

func TestDockerfileOutsideTheContext(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	for _, withIgnore := range []bool{true, false} {
		t.Run(fmt.Sprintf("dockerignore=%t", withIgnore), func(t *testing.T) {
			marker := suffix()
			files := map[string]string{
				"docker/Dockerfile": "FROM scratch\nCOPY . /app/\n",
				"app/main.txt":      "main " + marker,
			}
			if withIgnore {
				files["app/.dockerignore"] = "*.log\n"
				files["app/debug.log"] = "noise"
			}
			dir := writeContext(t, files)
			repo := "proj/outside-" + marker
			removeRefs(t, cli, reg.Host+"/"+repo+":latest")
			res := runPlugin(t, map[string]string{
				"PLUGIN_REPO": reg.Host + "/" + repo, "PLUGIN_CONTEXT": filepath.Join(dir, "app"),
				"PLUGIN_DOCKERFILE": filepath.Join(dir, "docker/Dockerfile"), "DRONE_WORKSPACE": dir,
			})
			if res.Code != 0 {
				t.Fatalf("exit %d:\n%s", res.Code, res.Output())
			}
			shipped := layerFiles(t, reg, repo, "latest")
			if shipped["app/main.txt"] != "main "+marker {
				t.Errorf("app/main.txt missing: %v", keys(shipped))
			}
			for name := range shipped {
				if strings.HasSuffix(name, ".log") || strings.Contains(name, ".dockerfile.") || (!withIgnore && strings.HasSuffix(name, ".dockerignore")) {
					t.Errorf("%s shipped in the image", name)
				}
			}
		})
	}
}

func TestMirrorWithoutTheImageFallsBackToTheLocalStore(t *testing.T) {
	cli := dockertest.Client(t)
	mirror := startRegistry(t, nil) // empty
	reg := startRegistry(t, nil)
	marker := suffix()
	base := "lightship-local-base-" + marker
	baseDir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY b.txt /b.txt\n", "b.txt": marker})
	removeRefs(t, cli, base+":1")
	if res := runPlugin(t, map[string]string{
		"PLUGIN_REPO": base, "PLUGIN_TAGS": "1", "PLUGIN_CONTEXT": baseDir, "PLUGIN_DOCKERFILE": filepath.Join(baseDir, "Dockerfile"),
		"DRONE_WORKSPACE": baseDir, "PLUGIN_DRY_RUN": "true", "PLUGIN_PURGE": "false",
	}); res.Code != 0 {
		t.Fatalf("local base: exit %d:\n%s", res.Code, res.Output())
	}
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + ":1\nCOPY a.txt /a.txt\n", "a.txt": "a"})
	repo := "proj/fallback-" + marker
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := runPlugin(t, map[string]string{
		"PLUGIN_REPO": reg.Host + "/" + repo, "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
		"DRONE_WORKSPACE": dir, "PLUGIN_MIRROR": mirror.URL,
	})
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if !strings.Contains(res.Output(), "without the mirror") {
		t.Errorf("mirror failure not reported:\n%s", res.Output())
	}
	if _, err := cli.ImageInspect(context.Background(), base+":1"); err != nil {
		t.Errorf("purge removed the pre-existing %s:1: %v", base, err)
	}
}

func TestPurgeKeepsAnIdenticalImageSomeoneElseTagged(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, nil)
	marker := suffix()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL same=" + marker + "\n"})
	theirs := "lightship-theirs-" + marker
	removeRefs(t, cli, theirs+":1")
	if res := runPlugin(t, map[string]string{
		"PLUGIN_REPO": theirs, "PLUGIN_TAGS": "1", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
		"DRONE_WORKSPACE": dir, "PLUGIN_DRY_RUN": "true", "PLUGIN_PURGE": "false", "PLUGIN_AUTO_LABEL": "false",
	}); res.Code != 0 {
		t.Fatalf("their build: exit %d:\n%s", res.Code, res.Output())
	}
	// The same Dockerfile again: fully cached, the very same image id.
	repo := "proj/same-" + marker
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := runPlugin(t, map[string]string{
		"PLUGIN_REPO": reg.Host + "/" + repo, "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
		"DRONE_WORKSPACE": dir, "PLUGIN_AUTO_LABEL": "false",
	})
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if _, err := cli.ImageInspect(context.Background(), theirs+":1"); err != nil {
		t.Errorf("purge removed %s:1, which this run did not create: %v", theirs, err)
	}
}
