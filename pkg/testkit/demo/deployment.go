package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// appLabel marks the sample app's containers; logspout-route ships only them.
const appLabel = "io.lightship.demo.app"

// deployment plays Rancher's agent: when the simulator accepts an upgrade of
// demo/web to an image of the demo registry, it pulls that image and starts
// it as a real container, whose log lines logspout-route then ships.
type deployment struct {
	docker   *docker
	creds    credentials
	registry string

	mu      sync.Mutex
	started map[string]string // image -> container id
	errs    []error
	wg      sync.WaitGroup
}

func (d *deployment) onUpgrade(ctx context.Context) func(stack, service string, lc json.RawMessage) {
	return func(stack, service string, lc json.RawMessage) {
		var cfg struct {
			ImageUUID string `json:"imageUuid"`
		}
		if json.Unmarshal(lc, &cfg) != nil {
			return
		}
		ref := strings.TrimPrefix(cfg.ImageUUID, "docker:")
		if !strings.HasPrefix(ref, d.registry+"/") {
			return // the old image (rollback): nothing of ours to run
		}
		d.mu.Lock()
		if d.started == nil {
			d.started = map[string]string{}
		}
		if _, ok := d.started[ref]; ok {
			d.mu.Unlock()
			return
		}
		d.started[ref] = ""
		d.mu.Unlock()
		// Outside the simulator's request: pulling takes a moment.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			id, err := d.launch(ctx, stack+"-"+service, ref)
			d.mu.Lock()
			defer d.mu.Unlock()
			d.started[ref] = id
			if err != nil {
				d.errs = append(d.errs, err)
			}
		}()
	}
}

func (d *deployment) launch(ctx context.Context, name, ref string) (string, error) {
	if err := d.docker.pull(ctx, ref, d.creds.RobotUser, d.creds.RobotPassword); err != nil {
		return "", err
	}
	return d.docker.start(ctx, spec{
		Name: name, Image: ref, Network: "none",
		Env:    map[string]string{"LISTEN": "127.0.0.1:8080"},
		Labels: map[string]string{appLabel: d.docker.runID},
	})
}

// result waits for launches under way and returns the running app.
func (d *deployment) result() (ref, id string, err error) {
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) > 0 {
		return "", "", fmt.Errorf("run the deployed image: %w", d.errs[0])
	}
	for r, i := range d.started {
		return r, i, nil
	}
	return "", "", fmt.Errorf("rancher simulator never received an upgrade to an image of %s", d.registry)
}

// startLogspout runs logspout-route as every Rancher host would (a global
// service), routing the sample app's lines to both sinks.
func (r *run) startLogspout(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	// Both routes are multiline+ (logspout's MULTILINE_* defaults: indented
	// lines continue a group), and json-file logs are read from the daemon's
	// containers directory, mounted read-only.
	filter := "filter.labels=" + appLabel + ":" + r.docker.runID
	routes := "multiline+logstash+tcp://" + r.sandbox.json.Addr() + "?" + filter + ",multiline+beats://" + r.sandbox.beats.Addr() + "?" + filter
	dir, err := r.containersDir(ctx)
	if err != nil {
		return err
	}
	env := map[string]string{"ROUTE_URIS": routes, "PORT": strconv.Itoa(port), "HTTP_BIND_ADDRESS": "127.0.0.1", "CONTAINERS_DIR": containersMount}
	binds := map[string]string{"/var/run/docker.sock": "/var/run/docker.sock", dir: containersMount + ":ro"}
	mounts := " -v " + dir + ":" + containersMount + ":ro -e CONTAINERS_DIR=" + containersMount
	r.say("logspout-route: docker run -d --network host%s -e ROUTE_URIS=%s lightship/logspout-route", mounts, routes)
	r.logspoutID, err = r.docker.start(ctx, spec{
		Name: "logspout-route", Image: "lightship/logspout-route:latest", Network: "host",
		Env: env, Binds: binds,
	})
	return err
}

// containersMount is where logspout-route sees the daemon's containers directory.
const containersMount = "/var/lib/docker/containers"

// containersDir is the daemon's <DockerRootDir>/containers.
func (r *run) containersDir(ctx context.Context) (string, error) {
	info, err := r.docker.cli.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker info: %w", err)
	}
	return info.DockerRootDir + "/containers", nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
