package dockertest

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
)

// RunOptions describe one `docker run --rm` of an image in a test.
type RunOptions struct {
	Image string
	Env   map[string]string
	Args  []string
	// Binds are "host:container" mounts.
	Binds []string
	// WorkDir is the working directory in the container.
	WorkDir string
	// Network is host (the default: fakes listen on 127.0.0.1) or none.
	Network string
	// Timeout bounds the run (default 2 minutes).
	Timeout time.Duration
}

// Run runs the image once as `docker run` would, waits for it to exit, and
// returns its exit code and its output (stdout and stderr). The container
// has a unique name and is removed, by ID, when Run returns.
func Run(t testing.TB, cli *client.Client, o RunOptions) (int, string) {
	t.Helper()
	if o.Network == "" {
		o.Network = "host"
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	env := make([]string, 0, len(o.Env))
	for k, v := range o.Env {
		env = append(env, k+"="+v)
	}
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: o.Image, Env: env, Cmd: o.Args, WorkingDir: o.WorkDir},
		&container.HostConfig{NetworkMode: container.NetworkMode(o.Network), Binds: o.Binds},
		nil, nil, uniqueName(o.Image))
	if err != nil {
		t.Fatalf("create %s: %v", o.Image, err)
	}
	defer func() {
		_ = cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true})
	}()
	waitC, errC := cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start %s: %v", o.Image, err)
	}
	var code int
	select {
	case w := <-waitC:
		code = int(w.StatusCode)
	case err := <-errC:
		t.Fatalf("wait for %s: %v", o.Image, err)
	}
	logs, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs of %s: %v", o.Image, err)
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		t.Fatalf("logs of %s: %v", o.Image, err)
	}
	return code, out.String()
}

func uniqueName(image string) string {
	name, _, _ := strings.Cut(image, ":")
	name = strings.ReplaceAll(name, "/", "-")
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return name + "-test-" + hex.EncodeToString(b)
}
