// Package multiarch tests `make images PLATFORMS=...`: Lightship's own four
// images published as two-platform indexes through buildkitd.
package multiarch

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/testkit/buildkitd"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

func TestMakeImagesPlatformsPublishesTwoPlatformIndexes(t *testing.T) {
	addr := buildkitd.Shared(t)
	const user, password = "ci", "Multiarch-Canary-4c1e"
	ctx := context.Background()
	reg, err := registry.Start(ctx, registry.Options{Users: map[string]string{user: password}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	top, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-C", top, "--no-print-directory", "images",
		"PLATFORMS=linux/amd64,linux/arm64", "IMAGE_REGISTRY="+reg.Host, "IMAGE_TAGS=multiarch-test,latest")
	cmd.Env = append(parentEnv(), "BUILDKIT_HOST="+addr, "REGISTRY_USERNAME="+user, "REGISTRY_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make images PLATFORMS=...: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte(password)) {
		t.Errorf("the registry password was printed:\n%s", out)
	}
	plugins := []string{"docker-build", "rancher-upgrade", "wechat-notify", "logspout-route"}
	machines := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}
	for _, p := range plugins {
		repo := "lightship/" + p
		checkIndex(t, reg, repo)
		images, err := reg.Images(ctx, repo, "multiarch-test")
		if err != nil {
			t.Fatalf("%s: %v", repo, err)
		}
		if len(images) != 2 {
			t.Fatalf("%s: %d images in the index, want 2", repo, len(images))
		}
		for _, im := range images {
			want, ok := machines[im.Platform]
			if !ok {
				t.Fatalf("%s: unexpected platform %s", repo, im.Platform)
			}
			bin, err := reg.File(ctx, repo, im, "/bin/"+p)
			if err != nil {
				t.Fatalf("%s %s: %v", repo, im.Platform, err)
			}
			f, err := elf.NewFile(bytes.NewReader(bin))
			if err != nil {
				t.Fatalf("%s %s: /bin/%s is not an ELF file: %v", repo, im.Platform, p, err)
			}
			if f.Machine != want {
				t.Errorf("%s %s: /bin/%s is a %s binary, want %s", repo, im.Platform, p, f.Machine, want)
			}
			if _, err := reg.File(ctx, repo, im, "/etc/ssl/certs/ca-certificates.crt"); err != nil {
				t.Errorf("%s %s: CA bundle: %v", repo, im.Platform, err)
			}
		}
	}
}

// checkIndex: both tags name one index holding linux/amd64 and linux/arm64.
func checkIndex(t *testing.T, reg *registry.Registry, repo string) {
	t.Helper()
	ctx := context.Background()
	a, err := reg.Manifest(ctx, repo, "multiarch-test")
	if err != nil {
		t.Fatalf("%s: %v", repo, err)
	}
	b, err := reg.Manifest(ctx, repo, "latest")
	if err != nil {
		t.Fatalf("%s: %v", repo, err)
	}
	if !a.IsIndex() || a.Digest != b.Digest {
		t.Fatalf("%s: multiarch-test %s (%s), latest %s: want one index under both tags", repo, a.Digest, a.MediaType, b.Digest)
	}
	idx, err := a.Index()
	if err != nil {
		t.Fatal(err)
	}
	var pls []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			pls = append(pls, m.Platform.String())
		}
	}
	if strings.Join(pls, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("%s: index platforms %v", repo, pls)
	}
}

// parentEnv is the test's environment without the make variables of a
// `make test` that runs it (its jobserver and level belong to that make).
func parentEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PLATFORMS", "IMAGE_REGISTRY", "IMAGE_TAGS":
			continue
		}
		env = append(env, kv)
	}
	return env
}
