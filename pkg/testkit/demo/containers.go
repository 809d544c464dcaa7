package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// runLabel marks every container the demo starts, with the run's id.
const runLabel = "io.lightship.demo"

// docker starts the demo's containers and removes exactly those, by ID.
type docker struct {
	cli   *client.Client
	runID string
	mu    sync.Mutex
	ids   []string
	// images are the images this run pulled, removed after the containers.
	images []string
}

// spec is one container to run.
type spec struct {
	Name    string
	Image   string
	Env     map[string]string
	Network string // host or none
	// Binds are host -> container bind mounts (container path ":ro": read-only).
	Binds   map[string]string
	WorkDir string
	Labels  map[string]string
}

func (d *docker) create(ctx context.Context, s spec) (string, error) {
	env := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	labels := map[string]string{runLabel: d.runID}
	for k, v := range s.Labels {
		labels[k] = v
	}
	var mounts []mount.Mount
	for src, dst := range s.Binds {
		dst, ro := strings.CutSuffix(dst, ":ro")
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: src, Target: dst, ReadOnly: ro})
	}
	resp, err := d.cli.ContainerCreate(ctx,
		&container.Config{Image: s.Image, Env: env, Labels: labels, WorkingDir: s.WorkDir},
		&container.HostConfig{NetworkMode: container.NetworkMode(s.Network), Mounts: mounts},
		nil, nil, s.Name+"-"+d.runID)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", s.Name, err)
	}
	d.mu.Lock()
	d.ids = append(d.ids, resp.ID)
	d.mu.Unlock()
	return resp.ID, nil
}

// start creates and starts a container that keeps running.
func (d *docker) start(ctx context.Context, s spec) (string, error) {
	id, err := d.create(ctx, s)
	if err != nil {
		return "", err
	}
	if err := d.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start %s: %w", s.Name, err)
	}
	return id, nil
}

// run runs a container to its end, streaming its output to out, and returns
// its exit code.
func (d *docker) run(ctx context.Context, s spec, out io.Writer) (int, error) {
	id, err := d.start(ctx, s)
	if err != nil {
		return -1, err
	}
	logs, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return -1, fmt.Errorf("logs of %s: %w", s.Name, err)
	}
	defer logs.Close()
	if _, err := stdcopy.StdCopy(out, out, logs); err != nil {
		return -1, fmt.Errorf("logs of %s: %w", s.Name, err)
	}
	waitC, errC := d.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		return int(w.StatusCode), nil
	case err := <-errC:
		return -1, fmt.Errorf("wait for %s: %w", s.Name, err)
	}
}

// pull fetches ref from a registry with Basic credentials.
func (d *docker) pull(ctx context.Context, ref, user, password string) error {
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: user, Password: password})
	if err != nil {
		return err
	}
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	if inspect, err := d.cli.ImageInspect(ctx, ref); err == nil {
		d.mu.Lock()
		d.images = append(d.images, inspect.ID)
		d.mu.Unlock()
	}
	return nil
}

// cleanup removes every container this run created, by ID.
func (d *docker) cleanup(ctx context.Context) {
	d.mu.Lock()
	ids := append([]string(nil), d.ids...)
	d.mu.Unlock()
	// In parallel: on a busy daemon each removal takes seconds.
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}()
	}
	wg.Wait()
	d.mu.Lock()
	images := append([]string(nil), d.images...)
	d.mu.Unlock()
	for _, id := range images {
		_, _ = d.cli.ImageRemove(ctx, id, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}
