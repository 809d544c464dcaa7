package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
)

// TestImageBuildsAndPushes runs lightship/docker-build the way Drone runs
// it: host network, the daemon's socket mounted, settings in PLUGIN_*.
func TestImageBuildsAndPushes(t *testing.T) {
	cli := dockertest.Client(t)
	const img = "lightship/docker-build:latest"
	dockertest.RequireImage(t, cli, img)
	reg := startRegistry(t, map[string]string{robotUser: canary})
	marker := suffix()
	dir := scratchContext(t, marker)
	repo := "proj/image-" + marker
	removeRefs(t, cli, reg.Host+"/"+repo+":dev", reg.Host+"/"+repo+":1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	created, err := cli.ContainerCreate(ctx, &container.Config{
		Image:      img,
		WorkingDir: "/drone/src",
		Env: []string{
			"PLUGIN_REPO=" + reg.Host + "/" + repo,
			"PLUGIN_TAG=dev,1.0.0",
			"PLUGIN_USERNAME=" + robotUser,
			"PLUGIN_PASSWORD=" + canary,
			"PLUGIN_LOG_LEVEL=debug",
			"DRONE_WORKSPACE=/drone/src",
		},
	}, &container.HostConfig{
		NetworkMode: "host",
		Binds:       []string{"/var/run/docker.sock:/var/run/docker.sock", dir + ":/drone/src"},
	}, nil, nil, "lightship-docker-build-test-"+marker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitC:
		code = w.StatusCode
	case err := <-errC:
		t.Fatal(err)
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, logs)
	logs.Close()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if strings.Contains(out.String(), canary) {
		t.Errorf("password printed:\n%s", out.String())
	}
	got := readResult(t, dir)
	for _, tag := range []string{"dev", "1.0.0"} {
		if d, err := reg.Resolve(ctx, repo, tag); err != nil || d != got.Digest {
			t.Errorf("tag %s resolves to %q (%v), result says %q", tag, d, err, got.Digest)
		}
	}
}
