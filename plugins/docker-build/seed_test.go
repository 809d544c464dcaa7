package main

import (
	"context"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/droneyaml"
	"github.com/lightship-ci/lightship/pkg/testkit/harbor"
)

// seedStep is the 2018 blog's build step (Drone 0.8 syntax), only the
// image line changed.
const seedStep = `
pipeline:
  build_step:
    image: lightship/docker-build
    username: harbor_username
    password: harbor_password
    registry: harbor.company.com
    repo: harbor.company.com/registry/test
    mirror: 'https://registry.docker-cn.com'
    tag: [dev]
    dockerfile: Dockerfile
`

// TestSeedStepBuildsAndPushes runs the seed step as Drone would hand it to
// the plugin, with harbor.company.com and the mirror pointed at loopback
// fakes: Harbor (token auth, project "registry") and a Docker Hub mirror
// that alone holds the FROM image.
func TestSeedStepBuildsAndPushes(t *testing.T) {
	cli := dockertest.Client(t)
	h := startHarbor(t, harbor.Options{
		Projects: []string{"registry"},
		Users:    map[string]harbor.User{"harbor_username": {Password: "harbor_password", Projects: []string{"registry"}}},
	})
	mirror := startRegistry(t, nil)
	marker := suffix()
	base := "lightship-seed-base-" + marker
	seedMirror(t, mirror.Host, base, marker)

	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + base + ":1\nCOPY app.txt /app.txt\n",
		"app.txt":    "seed " + marker,
	})
	t.Chdir(dir) // Drone runs the step in the workspace
	yml := strings.NewReplacer("harbor.company.com", h.Host, "https://registry.docker-cn.com", mirror.URL).Replace(seedStep)
	ps, err := droneyaml.Parse(yml, nil)
	if err != nil {
		t.Fatal(err)
	}
	build := map[string]string{"DRONE_WORKSPACE": dir, "DRONE_COMMIT_SHA": "cafe" + marker, "DRONE_BUILD_EVENT": "push"}
	env, err := ps[0].Steps[0].Env(build, nil)
	if err != nil {
		t.Fatal(err)
	}
	removeRefs(t, cli, h.Host+"/registry/test:dev", base+":1", mirror.Host+"/library/"+base+":1")

	res := runPlugin(t, env)
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	if strings.Contains(res.Output(), "harbor_password") {
		t.Errorf("password printed:\n%s", res.Output())
	}
	got := readResult(t, dir)
	d, err := h.Registry.Resolve(context.Background(), "registry/test", "dev")
	if err != nil || d != got.Digest || got.Registry != h.Host || strings.Join(got.Tags, ",") != "dev" {
		t.Errorf("registry/test:dev = %q (%v); result %+v", d, err, got)
	}
	noViolations(t, h)
}

// seedMirror pushes a FROM scratch image to the mirror under Docker Hub's
// path library/<name>:1, and leaves nothing in the local store.
func seedMirror(t *testing.T, mirrorHost, name, marker string) {
	t.Helper()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY base.txt /base.txt\n", "base.txt": "base " + marker})
	res := runPlugin(t, map[string]string{
		"PLUGIN_REPO": mirrorHost + "/library/" + name, "PLUGIN_TAGS": "1", "PLUGIN_CONTEXT": dir,
		"PLUGIN_DOCKERFILE": dir + "/Dockerfile", "DRONE_WORKSPACE": dir,
	})
	if res.Code != 0 {
		t.Fatalf("seed the mirror: exit %d:\n%s", res.Code, res.Output())
	}
}
