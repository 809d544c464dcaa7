package main

import (
	"strings"
	"testing"

	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

const image = "lightship/rancher-upgrade:latest"

// dockerRun runs the image once on the host network with the workspace
// mounted where Drone mounts it.
func dockerRun(t *testing.T, cli *client.Client, ws string, env map[string]string) (int, string) {
	t.Helper()
	env["DRONE_WORKSPACE"] = "/drone/src"
	return dockertest.Run(t, cli, dockertest.RunOptions{Image: image, Env: env, Binds: []string{ws + ":/drone/src"}})
}

func TestImageRunsTheSeedStep(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dockertest.RequireImage(t, cli, image)
	f := newFake(t)
	addWeb(t, f, "demo", "web", rancher.Service{})
	ws := t.TempDir()
	env := map[string]string{
		"PLUGIN_URL": f.URL() + "/v2-beta/projects/1a5", "RANCHER_ACCESS_KEY": akCanary, "RANCHER_SECRET_KEY": skCanary,
		"PLUGIN_SERVICE": "demo/web", "PLUGIN_DOCKER_IMAGE": "harbor.company.com/registry/test:dev",
		"PLUGIN_BATCH_SIZE": "1", "PLUGIN_TIMEOUT": "600", "PLUGIN_CONFIRM": "true",
		"PLUGIN_POLL_INTERVAL": "20ms", "PLUGIN_LOG_LEVEL": "debug",
	}
	code, out := dockerRun(t, cli, ws, env)
	for _, secret := range []string{akCanary, skCanary} {
		if strings.Contains(out, secret) {
			t.Errorf("secret in output:\n%s", out)
		}
	}
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	noRefusals(t, f)
	if st := status(t, f, "demo", "web"); st.State != "active" || st.Image != "docker:harbor.company.com/registry/test:dev" {
		t.Errorf("service: %s %s", st.State, st.Image)
	}
	if rep := readReport(t, ws); rep.Services[0].Outcome != outcomeFinished {
		t.Errorf("report: %+v", rep)
	}

	env["PLUGIN_SERVICE"] = "demo"
	if code, out = dockerRun(t, cli, ws, env); code != 2 || !strings.Contains(out, "PLUGIN_SERVICE") {
		t.Errorf("bad setting: exit %d:\n%s", code, out)
	}
}
