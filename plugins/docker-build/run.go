package main

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/plugin"
)

// connectDaemon returns a client of the Docker daemon (DOCKER_HOST or the
// default socket) that answered a ping.
func connectDaemon(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, fmt.Errorf("no Docker daemon answers at %s: %v: mount the host's socket "+
			"(docker run -v /var/run/docker.sock:/var/run/docker.sock, or a Drone volume) or set DOCKER_HOST", host, err)
	}
	return cli, nil
}

// runner carries out a plan against the daemon.
type runner struct {
	plan   *Plan
	env    *plugin.Env
	daemon *client.Client

	// tagged are references this run created, removed by purge.
	tagged []string
	// steps are the images the build's steps created (not cache hits),
	// removed by purge even when the build failed.
	steps   stepImages
	imageID string
	digest  string
}

// run carries out the plan: checks, mirror and cache pulls, build, Harbor
// project, pushes, result file, scan; purge last, whatever happened.
func (r *runner) run(ctx context.Context) (err error) {
	p := r.plan
	if p.Purge {
		defer func() { r.purge(context.WithoutCancel(ctx)) }()
	}
	if p.Build.Squash {
		ping, err := r.daemon.Ping(ctx)
		if err != nil {
			return fmt.Errorf("ping daemon: %w", err)
		}
		if !ping.Experimental {
			return plugin.Invalid("squash", "the daemon does not run with experimental features, which --squash needs")
		}
	}
	if p.Push && p.Insecure {
		r.checkInsecure(ctx)
	}
	var harbor *harborClient
	if p.Push {
		// Fail on bad credentials or a missing Harbor project before
		// spending time on the build.
		if err := r.login(ctx); err != nil {
			return err
		}
		if p.Harbor != nil {
			if harbor, err = newHarborClient(r.env, p); err != nil {
				return err
			}
			if err := harbor.ensureProject(ctx); err != nil {
				return err
			}
		}
	}
	if err := r.pullThroughMirror(ctx); err != nil {
		return err
	}
	r.pullCacheSources(ctx)
	if err := r.build(ctx); err != nil {
		return err
	}
	if p.Push {
		if err := r.pushAll(ctx, harbor); err != nil {
			return err
		}
	} else {
		r.env.Log.Warnf("not pushed: %s", p.NoPush)
	}
	if err := r.writeResult(); err != nil {
		return err
	}
	if harbor != nil && p.Harbor.Scan {
		return harbor.scan(ctx, r.digest)
	}
	return nil
}
