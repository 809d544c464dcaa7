package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/retry"
	"github.com/lightship-ci/lightship/plugins/docker-build/buildsession"
	"github.com/lightship-ci/lightship/plugins/docker-build/progress"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// remoteRunner carries out a plan on a buildkitd (buildkit_host): one solve
// with the Dockerfile frontend whose image exporter pushes every tag, so
// no Docker daemon is involved.
type remoteRunner struct {
	runner
	bk *client.Client
}

// runRemote connects to the plan's buildkitd and carries the plan out.
func runRemote(ctx context.Context, env *plugin.Env, p *Plan) error {
	c, err := connectBuildkit(ctx, env, p.Remote)
	if err != nil {
		return err
	}
	defer c.Close()
	pls := "buildkitd's own"
	if len(p.Remote.Platforms) > 0 {
		pls = strings.Join(p.Remote.Platforms, ", ")
	}
	env.Report("plan").Printf("plan: builder BuildKit on %s (buildkit_host), platforms %s; buildkitd pushes\n", p.Remote.Addr, pls)
	r := &remoteRunner{runner: runner{plan: p, env: env}, bk: c}
	return r.run(ctx)
}

// connectBuildkit returns a client of the buildkitd at bp.Addr that
// listed its workers within bp.Timeout. A tcp:// address speaks TLS when
// ca_cert, skip_verify or a client certificate is set.
func connectBuildkit(ctx context.Context, env *plugin.Env, bp *RemotePlan) (*client.Client, error) {
	var opts []client.ClientOpt
	if strings.HasPrefix(bp.Addr, "tcp://") && (env.Common.CACert != "" || env.Common.SkipVerify || bp.ClientCert != nil) {
		cfg, err := httpx.TLSConfig(env.Common.SkipVerify, env.Common.CACert)
		if err != nil {
			return nil, plugin.Invalid("ca_cert", "%v", err)
		}
		if bp.ClientCert != nil {
			cfg.Certificates = []tls.Certificate{*bp.ClientCert}
		}
		opts = append(opts, client.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(cfg))))
	}
	c, err := client.New(ctx, bp.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("buildkitd at %s: %w", bp.Addr, err)
	}
	tctx, cancel := context.WithTimeout(ctx, bp.Timeout)
	defer cancel()
	workers, err := c.ListWorkers(tctx)
	if err == nil && len(workers) == 0 {
		err = errors.New("it has no workers")
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("no buildkitd answers at %s within %s: %w", bp.Addr, bp.Timeout, err)
	}
	warnForeignPlatforms(env, bp.Platforms, workers)
	return c, nil
}

// warnForeignPlatforms says which platforms buildkitd cannot run natively:
// FROM scratch and COPY work for any platform, RUN needs emulation there.
func warnForeignPlatforms(env *plugin.Env, want []string, workers []*client.WorkerInfo) {
	var native []string
	for _, w := range workers {
		for _, pl := range w.Platforms {
			native = append(native, platforms.Format(platforms.Normalize(pl)))
		}
	}
	for _, pl := range want {
		if !contains(native, pl) {
			env.Log.Infof("buildkitd runs %s natively, not %s: RUN steps for %s need QEMU (binfmt_misc) on the buildkitd host", strings.Join(native, ", "), pl, pl)
		}
	}
}

// run: Harbor project, build and push (repeated on transient push
// errors), platform digests, result file, scan.
func (r *remoteRunner) run(ctx context.Context) error {
	p := r.plan
	var harbor *harborClient
	if p.Push && p.Harbor != nil {
		var err error
		if harbor, err = newHarborClient(r.env, p); err != nil {
			return err
		}
		if err := harbor.ensureProject(ctx); err != nil {
			return err
		}
	}
	resp, err := r.solveWithRetry(ctx)
	if err != nil {
		if harbor != nil && isAuthError(err) {
			return harbor.explainRefusedPush(ctx, err)
		}
		return err
	}
	r.digest = resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	r.imageID = resp.ExporterResponse[exptypes.ExporterImageConfigDigestKey]
	if p.Push {
		if err := r.afterPush(ctx); err != nil {
			return err
		}
	} else {
		r.env.Log.Warnf("not pushed: %s", p.NoPush)
	}
	if err := r.writeResult(); err != nil {
		return err
	}
	if harbor != nil && p.Harbor.Scan {
		return r.scan(ctx, harbor)
	}
	return nil
}

// scan has Harbor scan the pushed image; an index is scanned per platform
// (Harbor answers 422 for an index itself) and fails when any platform does.
func (r *remoteRunner) scan(ctx context.Context, harbor *harborClient) error {
	if len(r.platforms) == 0 {
		return harbor.scan(ctx, r.digest)
	}
	var errs []error
	for _, im := range r.platforms {
		if err := harbor.scan(ctx, im.Digest); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", im.Platform, err))
		}
	}
	return errors.Join(errs...)
}

// afterPush logs what buildkitd pushed and reads each platform's manifest
// digest from the pushed index.
func (r *remoteRunner) afterPush(ctx context.Context) error {
	if r.digest == "" {
		return fmt.Errorf("push %s: buildkitd reported no digest", strings.Join(r.plan.Refs, ", "))
	}
	for _, ref := range r.plan.Refs {
		r.env.Log.Infof("pushed %s@%s", ref, r.digest)
	}
	if len(r.plan.Remote.Platforms) < 2 {
		return nil
	}
	imgs, err := r.platformImages(ctx)
	if err != nil {
		return fmt.Errorf("read the pushed index %s@%s: %w", r.plan.Repo, r.digest, err)
	}
	for _, im := range imgs {
		r.env.Log.Infof("%s: %s@%s", im.Platform, r.plan.Repo, im.Digest)
	}
	r.platforms = imgs
	return nil
}

// solveWithRetry runs the solve, again when pushing failed transiently
// (pkg/retry's rule, which knows buildkitd's "unavailable: " and
// "toomanyrequests: " codes): buildkitd keeps the built layers, so a repeat
// only pushes.
func (r *remoteRunner) solveWithRetry(ctx context.Context) (*client.SolveResponse, error) {
	p := retry.Policy{Base: r.plan.PushBackoff, Max: 30 * time.Second,
		OnRetry: func(err error, n int, wait time.Duration) {
			r.env.Log.Warnf("build and push failed (%v): attempt %d of %d in %s", err, n+1, r.plan.PushRetries+1, wait.Round(time.Millisecond))
		}}
	if r.plan.Push {
		p.Retries = r.plan.PushRetries
	}
	return retry.Do(ctx, p, r.solve)
}

// solve runs one build on buildkitd and prints its progress.
func (r *remoteRunner) solve(ctx context.Context) (*client.SolveResponse, error) {
	opt, err := r.solveOpt()
	if err != nil {
		return nil, err
	}
	// Solve closes ch when it returns; every status also goes to f, which
	// explains a failed step with its command and last output lines, as on
	// the daemon path.
	ch := make(chan *client.SolveStatus)
	toPrinter := make(chan *client.SolveStatus)
	printed := make(chan error, 1)
	forwarded := make(chan struct{})
	var f failures
	go func() {
		defer close(forwarded)
		defer close(toPrinter)
		for st := range ch {
			f.add(st)
			toPrinter <- st
		}
	}()
	go func() { printed <- r.printProgress(context.WithoutCancel(ctx), toPrinter) }()
	resp, err := r.bk.Solve(ctx, nil, opt, ch)
	<-forwarded
	if perr := <-printed; perr != nil && err == nil {
		r.env.Log.Warnf("build progress: %v", perr)
	}
	if err != nil {
		return nil, fmt.Errorf("build on %s: %w", r.plan.Remote.Addr, r.explainAuth(f.explain(err)))
	}
	return resp, nil
}

// solveOpt is the build request: the Dockerfile frontend by name, the
// context and Dockerfile directories shared through the session, the image
// exporter pushing every tag.
func (r *remoteRunner) solveOpt() (client.SolveOpt, error) {
	p := r.plan
	ctxFS, err := fsutil.NewFS(p.Build.ContextDir)
	if err != nil {
		return client.SolveOpt{}, fmt.Errorf("context %s: %w", p.Build.ContextDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(p.Build.Dockerfile))
	if err != nil {
		return client.SolveOpt{}, fmt.Errorf("dockerfile %s: %w", p.Build.Dockerfile, err)
	}
	atts, err := r.attachables()
	if err != nil {
		return client.SolveOpt{}, err
	}
	exp := map[string]string{string(exptypes.OptKeyPush): strconv.FormatBool(p.Push)}
	if len(p.Refs) > 0 {
		exp[string(exptypes.OptKeyName)] = strings.Join(p.Refs, ",")
	}
	if p.Insecure {
		exp[string(exptypes.OptKeyInsecure)] = "true"
	}
	return client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: frontendAttrs(p.Build, p.Remote.Platforms, filepath.Base(p.Build.Dockerfile)),
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:       []client.ExportEntry{{Type: client.ExporterImage, Attrs: exp}},
		CacheImports:  p.Remote.CacheFrom,
		CacheExports:  p.Remote.CacheTo,
		Session:       atts,
	}, nil
}

// frontendAttrs are the Dockerfile frontend's options, as buildx sends them.
func frontendAttrs(b BuildSpec, pls []string, filename string) map[string]string {
	a := map[string]string{"filename": filename}
	if len(pls) > 0 {
		a["platform"] = strings.Join(pls, ",")
	}
	for k, v := range b.BuildArgs {
		if v != nil {
			a["build-arg:"+k] = *v
		}
	}
	for k, v := range b.Labels {
		a["label:"+k] = v
	}
	if b.Target != "" {
		a["target"] = b.Target
	}
	if b.NoCache {
		a["no-cache"] = ""
	}
	if b.Pull {
		a["image-resolve-mode"] = "pull"
	}
	var hosts []string
	for _, h := range b.ExtraHosts {
		host, ip, _ := strings.Cut(h, ":")
		hosts = append(hosts, host+"="+ip)
	}
	if len(hosts) > 0 {
		a["add-hosts"] = strings.Join(hosts, ",")
	}
	return a
}

// attachables are the session services buildkitd calls back: registry
// credentials, build secrets, ssh agents.
func (r *remoteRunner) attachables() ([]session.Attachable, error) {
	// The same session as on the daemon path: every login of the step
	// (username/password and each config entry), secrets and ssh agents.
	return buildsession.Attachables(r.plan.sessionOptions())
}

// printProgress prints buildkitd's progress as `docker buildx
// --progress=plain` does, or as JSON lines with log_format json.
func (r *remoteRunner) printProgress(ctx context.Context, ch chan *client.SolveStatus) error {
	mode := progress.Plain
	if r.env.Common.LogFormat == "json" {
		mode = progress.RawJSON
	}
	_, err := progress.Print(ctx, ch, r.env.Report("build"), mode)
	return err
}
