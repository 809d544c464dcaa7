package main

import (
	"context"
	"fmt"
	"time"

	"net/http"
	"path/filepath"

	"github.com/docker/docker/client"
	"github.com/docker/go-connections/tlsconfig"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/result"
)

// connectDaemon returns a client of the Docker daemon (DOCKER_HOST or the
// default socket) that answered a ping.
func connectDaemon(ctx context.Context, env *plugin.Env) (*client.Client, error) {
	opts, err := daemonOptions(env)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	cli, err := client.NewClientWithOpts(append(opts, client.WithAPIVersionNegotiation())...)
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
