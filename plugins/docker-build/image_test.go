package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
)

// TestImageBuildsAndPushes runs lightship/docker-build the way Drone runs
// it: host network, the daemon's socket mounted, settings in PLUGIN_*.
func TestImageBuildsAndPushes(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	const img = "lightship/docker-build:latest"
	dockertest.RequireImage(t, cli, img)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/image-" + marker
	removeRefs(t, cli, reg.Host+"/"+repo+":dev", reg.Host+"/"+repo+":1.0.0")
	code, out := dockertest.Run(t, cli, dockertest.RunOptions{
		Image:   img,
		WorkDir: "/drone/src",
		Env: map[string]string{
			"PLUGIN_REPO":      reg.Host + "/" + repo,
			"PLUGIN_TAG":       "dev,1.0.0",
			"PLUGIN_USERNAME":  robotUser,
			"PLUGIN_PASSWORD":  canary,
			"PLUGIN_LOG_LEVEL": "debug",
			"DRONE_WORKSPACE":  "/drone/src",
		},
		Binds:   []string{"/var/run/docker.sock:/var/run/docker.sock", dir + ":/drone/src"},
		Timeout: 3 * time.Minute,
	})
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, canary) {
		t.Errorf("password printed:\n%s", out)
	}
	got := readResult(t, dir)
	for _, tag := range []string{"dev", "1.0.0"} {
		if d, err := reg.Resolve(context.Background(), repo, tag); err != nil || d != got.Digest {
			t.Errorf("tag %s resolves to %q (%v), result says %q", tag, d, err, got.Digest)
		}
	}
}
