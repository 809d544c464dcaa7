package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
)

const image = "lightship/rancher-upgrade:latest"

// dockerRun runs the image once on the host network (the fake listens on
// 127.0.0.1) with ws mounted as the workspace; it returns exit code and output.
func dockerRun(t *testing.T, cli *client.Client, ws string, env map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list := []string{"DRONE_WORKSPACE=/drone/src"}
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: image, Env: list},
		&container.HostConfig{NetworkMode: "host", Binds: []string{ws + ":/drone/src"}}, nil, nil, "rancher-upgrade-test-"+hex.EncodeToString(suffix))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	}()
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	var code int
	select {
	case w := <-waitC:
		code = int(w.StatusCode)
	case err := <-errC:
		t.Fatal(err)
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func TestImageRunsTheSeedStep(t *testing.T) {
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
