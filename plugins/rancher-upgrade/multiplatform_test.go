package main

import (
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

// TestMultiPlatformResultDeploysTheIndexDigest: docker-build's platforms
// setting records an image index and each platform's manifest; the deploy
// uses the index digest unchanged, so every host pulls its own platform.
func TestMultiPlatformResultDeploysTheIndexDigest(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	env := seedEnv(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": ""})
	for k, v := range thisBuild() {
		env[k] = v
	}
	index := "sha256:" + strings.Repeat("1d", 32)
	b := result.Build{
		Repo: "harbor.company.com/registry/test", Tags: []string{"dev"}, Digest: index,
		Platforms: []result.PlatformImage{
			{Platform: "linux/amd64", Digest: "sha256:" + strings.Repeat("a6", 32)},
			{Platform: "linux/arm64", Digest: "sha256:" + strings.Repeat("a8", 32)},
		},
	}
	if err := result.Write(env["DRONE_WORKSPACE"], "docker-build", thisOrigin(), b); err != nil {
		t.Fatal(err)
	}
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if img := status(t, f, "demo", "web").Image; img != "docker:harbor.company.com/registry/test@"+index {
		t.Errorf("image %s, want the index digest", img)
	}
}
