// Package baseimage builds test base images without the internet: FROM
// scratch around Debian's static busybox (scripts/ensure-busybox installs
// it), built by the real daemon, pushed to a registry (usually the
// in-process one of pkg/testkit/registry, with Basic auth) and removed
// from the daemon's store, so a build that uses it has to pull it with
// credentials.
package baseimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/crypto/ssh"
)

// BusyboxPath is where Debian's busybox-static puts the binary.
const BusyboxPath = "/bin/busybox"

// Options describe a base image.
type Options struct {
	// Host is the registry's host:port; Repo the repository under it
	// (e.g. "base/busybox"); Tag defaults to "1".
	Host, Repo, Tag string
	// Username and Password log in to the registry (empty: anonymous).
	Username, Password string
	// Files are extra files in the image: path -> content, mode 0755.
	Files map[string][]byte
}

// Ref is the image reference o names.
func (o Options) Ref() string {
	tag := o.Tag
	if tag == "" {
		tag = "1"
	}
	return o.Host + "/" + o.Repo + ":" + tag
}

// Push builds the base image with the daemon's classic builder (no
// session needed), pushes it, removes it from the local store and returns
// its reference. It fails the test when busybox is missing.
func Push(t testing.TB, cli *client.Client, o Options) string {
	t.Helper()
	ctx := context.Background()
	ref := o.Ref()
	if err := Build(ctx, cli, o, ref); err != nil {
		t.Fatalf("base image %s: %v", ref, err)
	}
	defer func() {
		_, _ = cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
	}()
	if err := PushImage(ctx, cli, ref, o); err != nil {
		t.Fatalf("push base image %s: %v", ref, err)
	}
	return ref
}

// Build builds the base image o describes (busybox and o.Files, FROM
// scratch) with the daemon's classic builder and tags it ref, without
// pushing it. It fails when busybox is missing (scripts/ensure-busybox).
func Build(ctx context.Context, cli *client.Client, o Options, ref string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("busybox-static is needed for base images (scripts/ensure-busybox): %w", err)
	}
	files := map[string][]byte{"busybox": bb}
	df := "FROM scratch\nCOPY busybox /bin/busybox\n"
	names := make([]string, 0, len(o.Files))
	for p := range o.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	for i, p := range names {
		n := fmt.Sprintf("extra%d", i)
		files[n] = o.Files[p]
		df += fmt.Sprintf("COPY %s %s\n", n, p)
	}
	df += "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
	files["Dockerfile"] = []byte(df)
	return buildImage(ctx, cli, files, ref)
}

// PushImage pushes the local image ref (named under o.Host) with o's
// credentials.
func PushImage(ctx context.Context, cli *client.Client, ref string, o Options) error {
	return push(ctx, cli, ref, o)
}

func buildImage(ctx context.Context, cli *client.Client, files map[string][]byte, ref string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil)
}

func push(ctx context.Context, cli *client.Client, ref string, o Options) error {
	var auth string
	if o.Username != "" {
		var err error
		if auth, err = registry.EncodeAuthConfig(registry.AuthConfig{Username: o.Username, Password: o.Password, ServerAddress: o.Host}); err != nil {
			return err
		}
	}
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer rc.Close()
	return jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
}

// SSHSign returns a static linux binary (built once per test from
// ./sshsign with the local Go toolchain) that asks the agent at
// $SSH_AUTH_SOCK to sign its first argument and prints
// "<authorized_keys line>\n<base64 signature blob>\n": put it in a base
// image with Files to prove RUN --mount=type=ssh reaches an agent.
func SSHSign(t testing.TB) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sshsign")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./sshsign")
	cmd.Dir = sourceDir(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sshsign: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sourceDir is this package's directory, found through the go tool so it
// works from any test's working directory.
func sourceDir(t testing.TB) string {
	t.Helper()
	b, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/lightship-ci/lightship/pkg/testkit/baseimage").Output()
	if err != nil {
		t.Fatalf("locate baseimage sources: %v", err)
	}
	return string(bytes.TrimSpace(b))
}

// Unique returns a short random suffix for repository names on the shared
// daemon and registry.
func Unique() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewSSHKey returns a fresh ed25519 key: its public half and the private
// key in OpenSSH PEM form (what ssh_agent_key takes).
func NewSSHKey(t testing.TB) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, pem.EncodeToMemory(blk)
}
