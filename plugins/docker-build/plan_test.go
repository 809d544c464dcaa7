package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/registry"
	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/retry"
)

func TestAutoTags(t *testing.T) {
	t.Parallel()
	tag := func(name string) drone.Metadata {
		return drone.Metadata{Tag: drone.Tag{Name: name}, Commit: drone.Commit{Ref: "refs/tags/" + name}}
	}
	branch := func(b, def string) drone.Metadata {
		return drone.Metadata{Commit: drone.Commit{Branch: b, Ref: "refs/heads/" + b}, Repo: drone.Repo{DefaultBranch: def}, Build: drone.Build{Event: "push"}}
	}
	for _, tc := range []struct {
		name   string
		meta   drone.Metadata
		suffix string
		want   []string
		push   bool
		err    string
	}{
		{"release", tag("v1.2.3"), "", []string{"1", "1.2", "1.2.3"}, true, ""},
		{"release without v", tag("2.0.1"), "", []string{"2", "2.0", "2.0.1"}, true, ""},
		{"zero major", tag("v0.9.1"), "", []string{"0.9", "0.9.1"}, true, ""},
		{"pre-release", tag("v1.2.3-rc.1"), "", []string{"1.2.3-rc.1"}, true, ""},
		{"suffix", tag("v1.2.3"), "linux", []string{"1-linux", "1.2-linux", "1.2.3-linux"}, true, ""},
		{"tag from ref only", drone.Metadata{Commit: drone.Commit{Ref: "refs/tags/v3.1.4"}}, "", []string{"3", "3.1", "3.1.4"}, true, ""},
		{"not semver", tag("release-7"), "", nil, false, "not a semantic version"},
		{"default branch", branch("main", "main"), "", []string{"latest"}, true, ""},
		{"default branch with suffix", branch("main", "main"), "arm64", []string{"arm64"}, true, ""},
		{"master when unknown", branch("master", ""), "", []string{"latest"}, true, ""},
		{"other branch", branch("feature", "main"), "", nil, false, ""},
		{"pull request", drone.Metadata{PullRequest: 7, Build: drone.Build{Event: "pull_request"}, Commit: drone.Commit{Branch: "main", Ref: "refs/pull/7/head"}, Repo: drone.Repo{DefaultBranch: "main"}}, "", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, push, why, err := autoTags(tc.meta, tc.suffix)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) || push != tc.push {
				t.Errorf("got %v push=%t, want %v push=%t", got, push, tc.want, tc.push)
			}
			if !push && why == "" {
				t.Errorf("no reason given for not pushing")
			}
		})
	}
}

func TestCheckTag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tag  string
		want string
	}{
		{"1.2.3", ""},
		{"latest", ""},
		{"dev_1-x", ""},
		{"1.2.3+build.5", "'+'"},
		{strings.Repeat("a", 129), "128"},
		{"-dash", "not a valid"},
		{".dot", "not a valid"},
		{"has space", "not a valid"},
		{"", "empty"},
	} {
		err := checkTag(tc.tag)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("checkTag(%q) = %v, want %q", tc.tag, err, tc.want)
		}
	}
}

func TestBaseImages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		dockerfile string
		args       map[string]string
		want       []string
	}{
		{"single", "FROM alpine:3.19\nRUN true\n", nil, []string{"alpine:3.19"}},
		{"multi-stage with stage reference", "FROM golang:1.22 AS build\nRUN go build\nFROM build AS test\nFROM alpine:3\nCOPY --from=build /x /x\n", nil, []string{"golang:1.22", "alpine:3"}},
		{"arg default", "ARG TAG=3.18\nFROM alpine:${TAG}\n", nil, []string{"alpine:3.18"}},
		{"arg overridden", "ARG TAG=3.18\nFROM alpine:$TAG\n", map[string]string{"TAG": "3.20"}, []string{"alpine:3.20"}},
		{"arg with fallback", "ARG REG\nFROM ${REG:-docker.io}/library/nginx\n", nil, []string{"docker.io/library/nginx"}},
		{"platform flag", "FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nFROM --platform=linux/arm64 debian:12\n", nil, []string{"golang:1.22", "debian:12"}},
		{"scratch skipped", "FROM scratch\nCOPY x /x\n", nil, nil},
		{"comments and continuation", "# syntax=docker/dockerfile:1\nFROM \\\n  busybox:1.36 \\\n  AS tiny\n", nil, []string{"busybox:1.36"}},
		{"lowercase keywords, duplicates", "from alpine:3 as a\nfrom alpine:3 as b\n", nil, []string{"alpine:3"}},
		{"arg after FROM is not global", "FROM alpine:3\nARG V=9\nFROM node:$V\n", nil, []string{"alpine:3", "node:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := map[string]*string{}
			for k, v := range tc.args {
				args[k] = &v
			}
			got, err := baseImages(tc.dockerfile, args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMirrorRef(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		image, want string
		ok          bool
	}{
		{"alpine:3", "mirror.local:5000/library/alpine:3", true},
		{"alpine", "mirror.local:5000/library/alpine:latest", true},
		{"bitnami/redis:7", "mirror.local:5000/bitnami/redis:7", true},
		{"docker.io/library/nginx", "mirror.local:5000/library/nginx:latest", true},
		{"ghcr.io/acme/tool:1", "", false},
		{"harbor.company.com/registry/base:1", "", false},
	} {
		got, ok, err := mirrorRef(tc.image, "mirror.local:5000")
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("mirrorRef(%q) = %q %t %v, want %q %t", tc.image, got, ok, err, tc.want, tc.ok)
		}
	}
}

func TestRegistryAuthIsBase64URLJSON(t *testing.T) {
	t.Parallel()
	c := Credentials{Username: "robot$proj+ci", Password: "p?>>?~~", Source: "username"}
	enc, err := registryAuth(c, "harbor.example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("not base64url: %v", err)
	}
	var got registry.AuthConfig
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Username != c.Username || got.Password != c.Password || got.ServerAddress != "harbor.example.com" {
		t.Errorf("decoded %+v", got)
	}
	if anon, _ := registryAuth(Credentials{}, "x"); anon != "" {
		t.Errorf("anonymous auth %q", anon)
	}
}

func TestConfigAuth(t *testing.T) {
	t.Parallel()
	auth := base64.StdEncoding.EncodeToString([]byte("robot$proj+ci:s3cret"))
	conf := `{"auths":{"https://harbor.example.com":{"auth":"` + auth + `"},"https://index.docker.io/v1/":{"username":"hub","password":"hubpw"}}}`
	c, ok, err := configAuth(conf, "harbor.example.com")
	if err != nil || !ok || c.Username != "robot$proj+ci" || c.Password != "s3cret" {
		t.Errorf("harbor: %+v %t %v", c, ok, err)
	}
	c, ok, err = configAuth(conf, "docker.io")
	if err != nil || !ok || c.Username != "hub" || c.Password != "hubpw" {
		t.Errorf("hub: %+v %t %v", c, ok, err)
	}
	if _, ok, _ := configAuth(conf, "other.example.com"); ok {
		t.Errorf("found credentials for an unlisted host")
	}
	if _, _, err := configAuth("{not json", "x"); err == nil {
		t.Errorf("bad JSON accepted")
	}
}

func TestKeyValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		items []string
		want  map[string]string
		err   bool
	}{
		{[]string{"A=1", "B=x=y"}, map[string]string{"A": "1", "B": "x=y"}, false},
		{[]string{"LIST=a", "b", "C=3"}, map[string]string{"LIST": "a,b", "C": "3"}, false},
		{[]string{`{"A":"1"`, `"B":"2"}`}, map[string]string{"A": "1", "B": "2"}, false},
		{[]string{"novalue"}, nil, true},
		{[]string{`{"A":`}, nil, true},
	} {
		got, err := keyValues("build_args", tc.items)
		if (err != nil) != tc.err || !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("keyValues(%q) = %v, %v; want %v err=%t", tc.items, got, err, tc.want, tc.err)
		}
	}
}

func TestReadStream(t *testing.T) {
	t.Parallel()
	in := `{"stream":"Step 1/2 : FROM scratch\n"}` + "\n" +
		`{"stream":" ---> abc"}{"stream":"\n"}` +
		`{"status":"Pushing","id":"l1","progressDetail":{"current":1}}{"status":"Pushing","id":"l1"}{"status":"Pushed","id":"l1"}` +
		`{"aux":{"ID":"sha256:feed"}}{"aux":{"Tag":"1","Digest":"sha256:d1","Size":5}}`
	var out strings.Builder
	res, err := readStream(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageID != "sha256:feed" || res.Digest != "sha256:d1" || res.Size != 5 {
		t.Errorf("result %+v", res)
	}
	want := "Step 1/2 : FROM scratch\n ---> abc\nl1: Pushing\nl1: Pushed\n"
	if out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	_, err = readStream(strings.NewReader(`{"stream":"Step 1\n"}{"errorDetail":{"code":0,"message":"COPY failed: missing.txt"},"error":"COPY failed"}{"stream":"never"}`), &out)
	var se *streamError
	if !errors.As(err, &se) || se.Error() != "COPY failed: missing.txt" {
		t.Errorf("err %v, want the errorDetail message", err)
	}
}

func TestPushFailuresTransient(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"received unexpected HTTP status: 503 Service Unavailable":          true,
		"read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer": true,
		"unauthorized: authentication required":                             false,
		"denied: requested access to the resource is denied":                false,
	} {
		if got := retry.Transient(errors.New(msg)); got != want {
			t.Errorf("retry.Transient(%q) = %t", msg, got)
		}
	}
}

func TestSettingsValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func(kv ...string) map[string]string {
		env := map[string]string{"PLUGIN_REPO": "harbor.example.com/proj/app", "PLUGIN_CONTEXT": dir,
			"PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"), "DRONE_WORKSPACE": dir, "PLUGIN_PASSWORD": canary}
		delete(env, "PLUGIN_PASSWORD")
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"repo missing", base("PLUGIN_REPO", ""), "PLUGIN_REPO is required"},
		{"repo with tag", base("PLUGIN_REPO", "harbor.example.com/proj/app:1"), "PLUGIN_REPO"},
		{"repo invalid", base("PLUGIN_REPO", "Harbor.example.com/UPPER/app"), "PLUGIN_REPO"},
		{"bad tag plus", base("PLUGIN_TAGS", "1.0,1.0+build"), "PLUGIN_TAGS: tag"}, {"bad tag plus names it", base("PLUGIN_TAGS", "1.0,1.0+build"), "1.0+build"},
		{"tag too long", base("PLUGIN_TAGS", strings.Repeat("x", 129)), "128"},
		{"bad build arg", base("PLUGIN_BUILD_ARGS", "JUSTANAME"), "PLUGIN_BUILD_ARGS"},
		{"bad severity", base("PLUGIN_HARBOR_SCAN", "true", "PLUGIN_HARBOR_SEVERITY", "severe"), "PLUGIN_HARBOR_SEVERITY"},
		{"bad scan timeout", base("PLUGIN_HARBOR_SCAN", "true", "PLUGIN_HARBOR_SCAN_TIMEOUT", "soon"), "harbor_scan_timeout"},
		{"password without user", base("PLUGIN_PASSWORD", canary), "PLUGIN_USERNAME"},
		{"user without password", base("PLUGIN_USERNAME", "bob"), "PLUGIN_PASSWORD"},
		{"missing dockerfile", base("PLUGIN_DOCKERFILE", filepath.Join(dir, "nope")), "PLUGIN_DOCKERFILE"},
		{"context not a dir", base("PLUGIN_CONTEXT", filepath.Join(dir, "Dockerfile")), "PLUGIN_CONTEXT"},
		{"add_host format", base("PLUGIN_ADD_HOST", "justahost"), "PLUGIN_ADD_HOST"},
		{"platform format", base("PLUGIN_PLATFORM", "amd64"), "PLUGIN_PLATFORM"},
		{"bad config", base("PLUGIN_CONFIG", "{nope"), "PLUGIN_CONFIG"},
		{"auto_tag non-semver tag", base("PLUGIN_AUTO_TAG", "true", "DRONE_TAG", "release-x"), "PLUGIN_AUTO_TAG"},
		{"no harbor project", base("PLUGIN_REPO", "harbor.example.com/app", "PLUGIN_HARBOR_SCAN", "true"), "Harbor project"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := plugintest.Run(t, newApp("test"), tc.env)
			if res.Code != plugin.ExitSettings {
				t.Fatalf("exit %d, want 2:\n%s", res.Code, res.Output())
			}
			if !strings.Contains(res.Output(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, res.Output())
			}
			noSecret(t, res)
		})
	}
}

func TestPlanForTheSeedStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM node:20 AS build\nFROM nginx:1.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tags"), []byte("extra1\nextra2,dev\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Settings{Repo: "harbor.company.com/registry/test", Registry: "harbor.company.com", Context: dir,
		Dockerfile: filepath.Join(dir, "Dockerfile"), TagsFile: filepath.Join(dir, ".tags"), Mirror: "https://registry.docker-cn.com",
		Username: "harbor_username", Password: "harbor_password", PullImage: true, AutoLabel: true, Purge: true, PushRetries: 3, PushBackoff: time.Second}
	_ = s.Tags.Set("from-setting")
	_ = s.ArgsFromEnv.Set("HTTP_PROXY,UNSET_VAR")
	p, err := buildPlan(s, drone.Metadata{Commit: drone.Commit{SHA: "abc"}}, func(n string) (string, bool) {
		if n == "HTTP_PROXY" {
			return "http://proxy:3128", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Registry != "harbor.company.com" || !p.Push || p.Build.Pull || len(p.Warnings) != 0 {
		t.Errorf("plan %+v", p)
	}
	// The tags setting wins over the .tags file, as in plugins/docker.
	wantRefs := []string{"harbor.company.com/registry/test:from-setting"}
	if !reflect.DeepEqual(p.Refs, wantRefs) {
		t.Errorf("refs %v, want %v", p.Refs, wantRefs)
	}
	wantPulls := []MirrorPull{
		{Image: "node:20", From: "registry.docker-cn.com/library/node:20"},
		{Image: "nginx:1.25", From: "registry.docker-cn.com/library/nginx:1.25"},
	}
	if !reflect.DeepEqual(p.MirrorPulls, wantPulls) {
		t.Errorf("mirror pulls %v", p.MirrorPulls)
	}
	if v := p.Build.BuildArgs["HTTP_PROXY"]; v == nil || *v != "http://proxy:3128" || len(p.Build.BuildArgs) != 1 {
		t.Errorf("build args %v", p.Build.BuildArgs)
	}
	if p.Build.Labels["org.opencontainers.image.revision"] != "abc" {
		t.Errorf("labels %v", p.Build.Labels)
	}
	var out strings.Builder
	p.Print(&out)
	if strings.Contains(out.String(), "harbor_password") || !strings.Contains(out.String(), "through mirror") {
		t.Errorf("plan print:\n%s", out.String())
	}
}

func TestStepImagesSkipsCacheHits(t *testing.T) {
	t.Parallel()
	var s stepImages
	out := "Step 1/4 : FROM alpine:3\n ---> 0a0a0a0a0a0a\nStep 2/4 : LABEL a=b\n ---> Using cache\n ---> 111111111111\n" +
		"Step 3/4 : COPY x /x\n ---> 222222222222\nStep 4/4 : LABEL c=d\n ---> Running in 9f9f9f9f9f9f\n" +
		"Removing intermediate container 9f9f9f9f9f9f\n ---> 333333"
	for _, chunk := range []string{out[:40], out[40:]} {
		_, _ = s.Write([]byte(chunk))
	}
	_, _ = s.Write([]byte("333333\n"))
	if got := strings.Join(s.ids, ","); got != "222222222222,333333333333" {
		t.Errorf("ids %s", got)
	}
}

func TestDaemonAllowsInsecure(t *testing.T) {
	t.Parallel()
	_, loop, _ := net.ParseCIDR("127.0.0.0/8")
	sc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: []*registry.NetIPNet{(*registry.NetIPNet)(loop)},
		IndexConfigs:          map[string]*registry.IndexInfo{"harbor.lan:5000": {Name: "harbor.lan:5000", Secure: false}, "docker.io": {Name: "docker.io", Secure: true}},
	}
	for host, want := range map[string]bool{"127.0.0.1:5000": true, "harbor.lan:5000": true, "docker.io": false, "10.0.0.1:443": false, "other.lan": false} {
		if got := daemonAllowsInsecure(sc, host); got != want {
			t.Errorf("%s: %t, want %t", host, got, want)
		}
	}
}

func TestConfigSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("robot$proj+ci:" + canary))
	res := plugintest.Run(t, newApp("test"), map[string]string{
		"DOCKER_HOST": "unix://" + filepath.Join(dir, "none.sock"),
		"PLUGIN_REPO": "127.0.0.1:5000/proj/app", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
		"DRONE_WORKSPACE": dir, "PLUGIN_LOG_LEVEL": "debug", "PLUGIN_CONFIG": `{"auths":{"127.0.0.1:5000":{"auth":"` + auth + `"}}}`,
		"PLUGIN_TAGS": canary + "x",
	})
	if res.Code != 1 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), canary) || strings.Contains(res.Output(), auth) {
		t.Errorf("config secret printed:\n%s", res.Output())
	}
	if !strings.Contains(res.Output(), "credentials from config") {
		t.Errorf("plan does not say where credentials come from:\n%s", res.Output())
	}
}

func TestBuildArgsKeepCommasAndSpaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{`{"GREETING":"hello, world","N":"1"}`, "GREETING=hello, world,N=1"} {
		env := map[string]string{"PLUGIN_REPO": "r.example.com/p/a", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"),
			"DRONE_WORKSPACE": dir, "PLUGIN_BUILD_ARGS": raw, "DOCKER_HOST": "unix://" + filepath.Join(dir, "none.sock")}
		p := planOf(t, env)
		if p == nil {
			t.Fatalf("%s: no plan", raw)
		}
		if v := p.Build.BuildArgs["GREETING"]; v == nil || *v != "hello, world" {
			t.Errorf("%s: GREETING = %v", raw, v)
		}
		if v := p.Build.BuildArgs["N"]; v == nil || *v != "1" {
			t.Errorf("%s: N = %v", raw, v)
		}
	}
}

// planOf runs the harness with env and returns the plan Validate made,
// without executing it.
func planOf(t *testing.T, env map[string]string) *Plan {
	t.Helper()
	app := newApp("test")
	c := &capturePlan{inner: app.Plugin}
	app.Plugin = c
	plugintest.Run(t, app, env)
	return c.plan
}

// capturePlan keeps the plan its inner plugin validates and runs nothing.
type capturePlan struct {
	inner plugin.Plugin
	plan  *Plan
}

func (c *capturePlan) Validate(env *plugin.Env) (plugin.Job, error) {
	j, err := c.inner.Validate(env)
	if err != nil {
		return nil, err
	}
	c.plan, _ = j.(*Plan)
	return noop{}, nil
}

type noop struct{}

func (noop) Execute(context.Context, *plugin.Env) error { return nil }
