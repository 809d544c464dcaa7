package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
	"golang.org/x/crypto/ssh"
)

// Acceptance tests of the BuildKit path (issue 10), against the real
// daemon and an in-process registry with Basic auth. Base images are
// FROM scratch busybox images pushed under a project that needs the
// credentials (pkg/testkit/baseimage).

// privateBase pushes a busybox base image to reg as base/busybox-<rand>:1
// and returns its reference.
func privateBase(t *testing.T, reg *registry.Registry, files map[string][]byte) string {
	t.Helper()
	cli := dockertest.Client(t)
	return baseimage.Push(t, cli, baseimage.Options{
		Host: reg.Host, Repo: "base/busybox-" + suffix(), Username: robotUser, Password: canary, Files: files,
	})
}

// imageBlobs returns every blob of an image (config and layers,
// decompressed) as one text, for secret checks.
func imageBlobs(t *testing.T, reg *registry.Registry, repo, ref string) string {
	t.Helper()
	m, err := reg.Manifest(context.Background(), repo, ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := m.Image()
	if err != nil {
		t.Fatal(err)
	}
	conf, err := reg.Blob(context.Background(), repo, im.Config.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(conf)
	b.Write(m.Body)
	for name, content := range layerFiles(t, reg, repo, ref) {
		b.WriteString(name + "\n" + content + "\n")
	}
	return b.String()
}

// noTrace fails when s or its base64 shows in any of the texts.
func noTrace(t *testing.T, s string, texts map[string]string) {
	t.Helper()
	forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
	for where, text := range texts {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("%q found in %s", f[:min(len(f), 12)]+"...", where)
			}
		}
	}
}

func daemonArch() string {
	switch runtime.GOARCH {
	case "amd64", "arm64", "386", "ppc64le", "s390x", "riscv64":
		return runtime.GOARCH
	}
	return runtime.GOARCH
}

func TestBuildKitCacheMountTargetArchAndProgress(t *testing.T) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, nil)
	marker := suffix()
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + "\nARG TARGETARCH\n" +
			"RUN --mount=type=cache,target=/cache echo \"arch=$TARGETARCH\" > /cache/x && cp /cache/x /arch.txt\n" +
			"COPY m.txt /m.txt\n",
		"m.txt": marker,
	})
	repo := "proj/bk-" + marker
	env := baseEnv(dir, reg, repo)
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	out := res.Output()
	noSecret(t, res)
	if !strings.Contains(out, "plan: builder BuildKit (") {
		t.Errorf("no builder line:\n%s", out)
	}
	// Engine 20.10's BuildKit names steps "[stage-0 2/3]", newer ones "[2/3]".
	for _, want := range []string{"1/3] FROM " + base, "2/3] RUN --mount=type=cache", "3/3] COPY m.txt /m.txt", " DONE "} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	files := layerFiles(t, reg, repo, "latest")
	if got, want := strings.TrimSpace(files["arch.txt"]), "arch="+daemonArch(); got != want {
		t.Errorf("/arch.txt = %q, want %q", got, want)
	}
	// The same build again: every step is a cache hit and says so.
	again := plugintest.Run(t, newApp("test"), env)
	if again.Code != 0 {
		t.Fatalf("second run: exit %d:\n%s", again.Code, again.Output())
	}
	if n := strings.Count(again.Output(), " CACHED"); n < 2 {
		t.Errorf("second run shows %d CACHED steps:\n%s", n, again.Output())
	}
}

func TestPrivateFromNeedsTheStepsCredentials(t *testing.T) {
	bothModes(t, testPrivateFromNeedsTheStepsCredentials)
}

func testPrivateFromNeedsTheStepsCredentials(t *testing.T, m buildMode) {
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, nil)
	config := `{"auths":{"` + reg.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(robotUser+":"+canary)) + `"}}}`
	for _, tc := range []struct {
		name string
		set  map[string]string
		ok   bool
	}{
		{"username", map[string]string{}, true},
		{"config only", map[string]string{"PLUGIN_USERNAME": "", "PLUGIN_PASSWORD": "", "PLUGIN_CONFIG": config, "PLUGIN_DRY_RUN": "true"}, true},
		{"classic with config", map[string]string{"PLUGIN_USERNAME": "", "PLUGIN_PASSWORD": "", "PLUGIN_CONFIG": config, "PLUGIN_BUILDKIT": "false"}, true},
		{"neither", map[string]string{"PLUGIN_USERNAME": "", "PLUGIN_PASSWORD": "", "PLUGIN_DRY_RUN": "true"}, false},
	} {
		if m.remote() && tc.set["PLUGIN_BUILDKIT"] == "false" {
			continue // the classic builder is the daemon's
		}
		t.Run(tc.name, func(t *testing.T) {
			marker := suffix()
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN echo " + marker + " > /m\n"})
			env := baseEnv(dir, reg, "proj/from-"+marker)
			m.apply(env)
			for k, v := range tc.set {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			res := plugintest.Run(t, newApp("test"), env)
			noSecret(t, res)
			switch {
			case tc.ok && res.Code != 0:
				t.Fatalf("exit %d:\n%s", res.Code, res.Output())
			case !tc.ok && res.Code != 1:
				t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
			case !tc.ok && !strings.Contains(res.Output(), "refused") || !tc.ok && !strings.Contains(res.Output(), reg.Host):
				t.Errorf("no clear message about the registry's refusal:\n%s", res.Output())
			}
		})
	}
}

func TestBuildSecretsReachRunAndNothingElse(t *testing.T) {
	bothModes(t, testBuildSecretsReachRunAndNothingElse)
}

func testBuildSecretsReachRunAndNothingElse(t *testing.T, m buildMode) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, nil)
	for _, tc := range []struct {
		name string
		set  func(env map[string]string, dir, value string)
	}{
		{"secrets_from_env", func(env map[string]string, _, value string) {
			env["PLUGIN_SECRETS_FROM_ENV"] = "tok=LIGHTSHIP_TEST_TOKEN"
			env["LIGHTSHIP_TEST_TOKEN"] = value
		}},
		{"secrets_from_file", func(env map[string]string, dir, value string) {
			p := filepath.Join(t.TempDir(), "tok")
			if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
			env["PLUGIN_SECRETS_FROM_FILE"] = "tok=" + p
		}},
		{"secret env", func(env map[string]string, _, value string) {
			env["PLUGIN_SECRET"] = "id=tok,env=LIGHTSHIP_TEST_TOKEN"
			env["LIGHTSHIP_TEST_TOKEN"] = value
		}},
		{"secret src", func(env map[string]string, dir, value string) {
			p := filepath.Join(t.TempDir(), "tok")
			if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
			env["PLUGIN_SECRET"] = "id=other,env=HOME,id=tok,src=" + p
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := suffix()
			value := "Secret-Canary-" + marker
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\n" +
				"RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -d' ' -f1 > /tok.sum && echo " + marker + "\n"})
			repo := "proj/secret-" + marker
			env := baseEnv(dir, reg, repo)
			m.apply(env)
			tc.set(env, dir, value)
			removeRefs(t, cli, reg.Host+"/"+repo+":latest")
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != 0 {
				t.Fatalf("exit %d:\n%s", res.Code, res.Output())
			}
			sum := sha256.Sum256([]byte(value))
			files := layerFiles(t, reg, repo, "latest")
			if got := strings.TrimSpace(files["tok.sum"]); got != hex.EncodeToString(sum[:]) {
				t.Errorf("/tok.sum = %q, want the secret's sha256", got)
			}
			result, _ := os.ReadFile(filepath.Join(dir, ".lightship", "docker-build.json"))
			noTrace(t, value, map[string]string{
				"the image": imageBlobs(t, reg, repo, "latest"), "the output": res.Output(), "the result file": string(result),
			})
		})
	}
}

func TestSSHAgentKeySignsInsideRun(t *testing.T) { bothModes(t, testSSHAgentKeySignsInsideRun) }

func testSSHAgentKeySignsInsideRun(t *testing.T, m buildMode) {
	cli := dockertest.Client(t)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, map[string][]byte{"/bin/sshsign": baseimage.SSHSign(t)})
	sshPub, key := baseimage.NewSSHKey(t)
	keyPEM := string(key)
	marker := suffix()
	challenge := "challenge-" + marker
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\n" +
		"RUN --mount=type=ssh sshsign " + challenge + " > /sig.txt\n"})
	repo := "proj/ssh-" + marker
	env := baseEnv(dir, reg, repo)
	m.apply(env)
	env["PLUGIN_SSH_AGENT_KEY"] = keyPEM
	removeRefs(t, cli, reg.Host+"/"+repo+":latest")
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	files := layerFiles(t, reg, repo, "latest")
	lines := strings.Split(strings.TrimSpace(files["sig.txt"]), "\n")
	if len(lines) != 2 {
		t.Fatalf("/sig.txt = %q", files["sig.txt"])
	}
	if !bytes.Equal(bytes.TrimSpace(ssh.MarshalAuthorizedKey(sshPub)), []byte(lines[0])) {
		t.Errorf("signed with %q, want our key", lines[0])
	}
	blob, _ := base64.StdEncoding.DecodeString(lines[1])
	var sig ssh.Signature
	if err := ssh.Unmarshal(blob, &sig); err != nil {
		t.Fatal(err)
	}
	if err := sshPub.Verify([]byte(challenge), &sig); err != nil {
		t.Errorf("signature: %v", err)
	}
	texts := map[string]string{"the image": imageBlobs(t, reg, repo, "latest"), "the output": res.Output()}
	for _, l := range strings.Split(keyPEM, "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			noTrace(t, l, texts)
		}
	}
}

func TestUnusedFailingStageIsSkipped(t *testing.T) { bothModes(t, testUnusedFailingStageIsSkipped) }

func testUnusedFailingStageIsSkipped(t *testing.T, m buildMode) {
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, nil)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + " AS broken\nRUN exit 7\n\n" +
		"FROM " + base + " AS ok\nRUN echo fine > /fine\n"})
	env := baseEnv(dir, reg, "proj/stages-"+suffix())
	m.apply(env)
	env["PLUGIN_DRY_RUN"] = "true"
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), "exit 7") {
		t.Errorf("the unused stage ran:\n%s", res.Output())
	}
}

func TestFailingRunExitsOneWithCommandAndOutput(t *testing.T) {
	bothModes(t, testFailingRunExitsOneWithCommandAndOutput)
}

func testFailingRunExitsOneWithCommandAndOutput(t *testing.T, m buildMode) {
	reg := startRegistry(t, map[string]string{robotUser: canary})
	base := privateBase(t, reg, nil)
	marker := suffix()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\n" +
		"RUN echo line-one-" + marker + " && echo boom-" + marker + " >&2 && exit 3\n"})
	env := baseEnv(dir, reg, "proj/fail-"+marker)
	m.apply(env)
	for _, builder := range []string{"true", "false"} {
		if m.remote() && builder == "false" {
			continue // the classic builder is the daemon's
		}
		t.Run("buildkit="+builder, func(t *testing.T) {
			env["PLUGIN_BUILDKIT"] = builder
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", res.Code, res.Output())
			}
			errLine := lastErrorLine(res.Output())
			for _, want := range []string{"echo line-one-" + marker, "3"} {
				if !strings.Contains(errLine, want) {
					t.Errorf("error lacks %q: %s\n(full output:\n%s)", want, errLine, res.Output())
				}
			}
			if builder == "true" && !strings.Contains(errLine, "boom-"+marker) {
				t.Errorf("error lacks the step's last output: %s", errLine)
			}
		})
	}
}

// lastErrorLine is the run's final error entry and what follows it.
func lastErrorLine(out string) string {
	i := strings.LastIndex(out, "level=error")
	if i < 0 {
		i = strings.LastIndex(out, "level=fatal")
	}
	if i < 0 {
		return ""
	}
	return out[i:]
}

func TestBuildKitFalseBuildsClassic(t *testing.T) {
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := scratchContext(t, marker)
	env := baseEnv(dir, reg, "proj/classic-"+marker)
	env["PLUGIN_BUILDKIT"] = "false"
	res := plugintest.Run(t, newApp("test"), env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	for _, want := range []string{"plan: builder classic (buildkit: false)", "Step 1/5 : FROM scratch"} {
		if !strings.Contains(res.Output(), want) {
			t.Errorf("no %q:\n%s", want, res.Output())
		}
	}
	// Secrets need BuildKit: with the classic builder they are a settings error.
	env["PLUGIN_SECRETS_FROM_ENV"] = "tok=HOME"
	if res := plugintest.Run(t, newApp("test"), env); res.Code != 2 || !strings.Contains(res.Output(), "PLUGIN_SECRETS_FROM_ENV") {
		t.Errorf("secrets with buildkit: false: exit %d:\n%s", res.Code, res.Output())
	}
}
