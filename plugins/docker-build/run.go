package main

import (
	"context"
	"fmt"
	"time"

	"net/http"
	"path/filepath"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/result"
)

// connectDaemon returns a client of the Docker daemon (DOCKER_HOST or the
// default socket) that answered a ping.
func connectDaemon(ctx context.Context, env *plugin.Env) (*client.Client, types.Ping, error) {
	opts, err := daemonOptions(env)
	if err != nil {
		return nil, types.Ping{}, fmt.Errorf("docker client: %w", err)
	}
	cli, err := client.NewClientWithOpts(append(opts, client.WithAPIVersionNegotiation())...)
	if err != nil {
		return nil, types.Ping{}, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ping, err := cli.Ping(pctx)
	if err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, ping, fmt.Errorf("no Docker daemon answers at %s: %v: mount the host's socket "+
			"(docker run -v /var/run/docker.sock:/var/run/docker.sock, or a Drone volume) or set DOCKER_HOST", host, err)
	}
	// Negotiate now, from this ping, not on the first real call.
	cli.NegotiateAPIVersionPing(ping)
	return cli, ping, nil
}

// daemonOptions is the Docker client's FromEnv (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) read from the
// run's environment instead of the process's.
func daemonOptions(env *plugin.Env) ([]client.Opt, error) {
	var opts []client.Opt
	if certs := env.Environ.Get("DOCKER_CERT_PATH"); certs != "" {
		tlsc, err := tlsconfig.Client(tlsconfig.Options{
			CAFile:             filepath.Join(certs, "ca.pem"),
			CertFile:           filepath.Join(certs, "cert.pem"),
			KeyFile:            filepath.Join(certs, "key.pem"),
			InsecureSkipVerify: env.Environ.Get("DOCKER_TLS_VERIFY") == "",
		})
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHTTPClient(&http.Client{
			Transport: &http.Transport{TLSClientConfig: tlsc}, CheckRedirect: client.CheckRedirect,
		}))
	}
	if host := env.Environ.Get("DOCKER_HOST"); host != "" {
		opts = append(opts, client.WithHost(host))
	}
	if v := env.Environ.Get("DOCKER_API_VERSION"); v != "" {
		opts = append(opts, client.WithVersion(v))
	}
	return opts, nil
}

// runner carries out a plan against the daemon.
type runner struct {
	plan   *Plan
	env    *plugin.Env
	daemon *client.Client
	// ping is the daemon's answer to the first ping; buildKit says which
	// builder runs.
	ping     types.Ping
	buildKit bool

	// tagged are references this run created, removed by purge.
	tagged []string
	// steps are the images the build's steps created (not cache hits),
	// removed by purge even when the build failed.
	steps   stepImages
	imageID string
	digest  string
	// platforms are the manifests of a multi-platform index (buildkit_host).
	platforms []result.PlatformImage
}

// run carries out the plan: builder choice, then the registry login and
// Harbor project checks beside the mirror pulls and the build (a failed
// check cancels the build), pushes, result file, scan; purge last,
// whatever happened.
func (r *runner) run(ctx context.Context) (err error) {
	p := r.plan
	if p.Purge {
		defer func() { r.purge(context.WithoutCancel(ctx)) }()
	}
	bk, why := chooseBuilder(p, r.ping)
	r.buildKit = bk
	name := "classic"
	if bk {
		name = "BuildKit"
	}
	r.env.Report("plan").Printf("plan: builder %s (%s)\n", name, why)
	if err := checkBuilder(p, bk, why); err != nil {
		return err
	}
	if p.Build.Squash && !r.ping.Experimental {
		return plugin.Invalid("squash", "the daemon does not run with experimental features, which --squash needs")
	}
	if p.Push && p.Insecure {
		r.checkInsecure(ctx)
	}
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	checked := r.preflight(bctx, cancel)
	if err := r.pullThroughMirror(bctx); err != nil {
		return firstError(checked, err)
	}
	if !bk {
		// BuildKit pulls cache_from images itself, with the session's logins.
		r.pullCacheSources(bctx)
	}
	if err := r.build(bctx); err != nil {
		return firstError(checked, err)
	}
	c := <-checked
	if c.err != nil {
		return c.err
	}
	if p.Push {
		if err := r.pushAll(ctx, c.harbor); err != nil {
			return err
		}
	} else {
		r.env.Log.Warnf("not pushed: %s", p.NoPush)
	}
	if err := r.writeResult(); err != nil {
		return err
	}
	if c.harbor != nil && p.Harbor.Scan {
		return c.harbor.scan(ctx, r.digest)
	}
	return nil
}

// checks is the outcome of the checks made beside the build.
type checks struct {
	harbor *harborClient
	err    error
}

// preflight checks the credentials through the daemon and the Harbor
// project in the background: bad credentials or a missing project cancel
// the build and are the run's error.
func (r *runner) preflight(ctx context.Context, cancel context.CancelCauseFunc) <-chan checks {
	out := make(chan checks, 1)
	if !r.plan.Push {
		out <- checks{}
		return out
	}
	go func() {
		c := checks{}
		c.err = r.login(ctx)
		if c.err == nil && r.plan.Harbor != nil {
			if c.harbor, c.err = newHarborClient(r.env, r.plan); c.err == nil {
				c.err = c.harbor.ensureProject(ctx)
			}
		}
		if c.err != nil {
			cancel(c.err)
		}
		out <- c
	}()
	return out
}

// firstError prefers a failed check (which cancelled the build) to the
// build error it caused.
func firstError(checked <-chan checks, err error) error {
	if c := <-checked; c.err != nil {
		return c.err
	}
	return err
}
