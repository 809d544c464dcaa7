// Package loggen builds the FROM scratch log generator image of
// logspout-route's tests (cmd/loggen) and runs containers from it.
package loggen

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Image is a built generator image, unique to its builder.
type Image struct {
	ID  string
	Ref string
}

// RandomSuffix returns 8 hex digits for unique names on the shared daemon.
func RandomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Build compiles cmd/loggen with CGO_ENABLED=0 and turns it into a FROM
// scratch image tagged lightship-loggen:<random> through the Engine API.
func Build(ctx context.Context, cli *client.Client) (*Image, error) {
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "cmd", "loggen")
	dir, err := os.MkdirTemp("", "loggen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "loggen")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build loggen: %w: %s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	dockerfile := []byte("FROM scratch\nCOPY loggen /loggen\nENTRYPOINT [\"/loggen\"]\n")
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"loggen", 0o755, exe}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	ref := "lightship-loggen:" + RandomSuffix()
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags: []string{ref}, Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
		Version: build.BuilderV1, Labels: map[string]string{"lightship.test": "loggen"},
	})
	if err != nil {
		return nil, fmt.Errorf("build loggen image: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var id string
	for {
		var m struct {
			Error string          `json:"error"`
			Aux   json.RawMessage `json:"aux"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("build loggen image: %w", err)
		}
		if m.Error != "" {
			return nil, fmt.Errorf("build loggen image: %s", m.Error)
		}
		var aux struct{ ID string }
		if len(m.Aux) > 0 && json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
			id = aux.ID
		}
	}
	if id == "" {
		ii, err := cli.ImageInspect(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("build loggen image: %w", err)
		}
		id = ii.ID
	}
	return &Image{ID: id, Ref: ref}, nil
}

// Remove deletes this run's tag. Two test runs on one daemon build the same
// content, hence the same image ID: removing by ID (forced) would pull the
// image from under the other run, so only the tag goes, and the image with
// it once no other tag holds it.
func (im *Image) Remove(ctx context.Context, cli *client.Client) error {
	_, err := cli.ImageRemove(ctx, im.Ref, image.RemoveOptions{PruneChildren: true})
	return err
}

// Spec describes one generator container.
type Spec struct {
	Name   string            // unique on the shared daemon
	Labels map[string]string // filter.labels in tests select on these
	Env    []string
	Args   []string // loggen flags: -n, -size, -rate, -prefix, ...
	Tty    bool
	// LogDriver is the container's log driver (default json-file) and
	// LogOpts its --log-opt options (max-size, max-file, compress, ...).
	LogDriver string
	LogOpts   map[string]string
}

// Start creates and starts a container from im and returns its ID.
func (im *Image) Start(ctx context.Context, cli *client.Client, s Spec) (string, error) {
	id, err := im.Create(ctx, cli, s)
	if err != nil {
		return "", err
	}
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return id, fmt.Errorf("start %s: %w", s.Name, err)
	}
	return id, nil
}

// Create creates (without starting) a container from im.
func (im *Image) Create(ctx context.Context, cli *client.Client, s Spec) (string, error) {
	driver := s.LogDriver
	if driver == "" {
		driver = "json-file"
	}
	resp, err := cli.ContainerCreate(ctx, &container.Config{
		Image: im.Ref, Cmd: s.Args, Labels: s.Labels, Env: s.Env, Tty: s.Tty,
	}, &container.HostConfig{NetworkMode: "none", LogConfig: container.LogConfig{Type: driver, Config: s.LogOpts}}, nil, nil, s.Name)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", s.Name, err)
	}
	return resp.ID, nil
}

// RemoveContainer force-removes a container by ID.
func RemoveContainer(ctx context.Context, cli *client.Client, id string) error {
	return cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
}

// Wait blocks until the container has exited.
func Wait(ctx context.Context, cli *client.Client, id string) error {
	ch, errc := cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-ch:
		return nil
	case err := <-errc:
		if strings.Contains(err.Error(), "No such container") {
			return nil
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
