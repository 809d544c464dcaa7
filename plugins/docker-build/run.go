package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/sirupsen/logrus"
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

// pushBackoff is the first wait before a push is repeated; it doubles.
var pushBackoff = time.Second

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

// pullThroughMirror fetches each Docker Hub FROM image from the mirror and
// tags it under its Hub name, so the build finds it locally. Like the
// daemon's registry-mirror, a mirror that fails is skipped: the build then
// resolves the image as it would without one.
func (r *runner) pullThroughMirror(ctx context.Context) error {
	for _, m := range r.plan.MirrorPulls {
		r.env.Log.Infof("pull %s through mirror %s", m.Image, r.plan.Mirror)
		hadImage, hadFrom := r.exists(ctx, m.Image), r.exists(ctx, m.From)
		rc, err := r.daemon.ImagePull(ctx, m.From, image.PullOptions{})
		if err == nil {
			_, err = readStream(rc, r.daemonOutput())
			rc.Close()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.env.Log.Warnf("mirror: pull %s failed, the build resolves %s without the mirror: %v", m.From, m.Image, err)
			continue
		}
		if !hadFrom {
			r.tagged = append(r.tagged, m.From)
		}
		if err := r.daemon.ImageTag(ctx, m.From, m.Image); err != nil {
			return fmt.Errorf("tag %s as %s: %w", m.From, m.Image, err)
		}
		if !hadImage {
			r.tagged = append(r.tagged, m.Image)
		}
	}
	return nil
}

// pullCacheSources fetches the cache_from images: the classic builder only
// uses a cache source present in the local store. A source that cannot be
// pulled (the first build of a branch) only costs the cache.
func (r *runner) pullCacheSources(ctx context.Context) {
	auth, _ := registryAuth(r.plan.Auth, r.plan.Registry)
	for _, ref := range r.plan.Build.CacheFrom {
		existed := r.exists(ctx, ref)
		opts := image.PullOptions{}
		if strings.HasPrefix(ref, r.plan.Registry+"/") {
			opts.RegistryAuth = auth
		}
		rc, err := r.daemon.ImagePull(ctx, ref, opts)
		if err == nil {
			_, err = readStream(rc, io.Discard)
			rc.Close()
		}
		if err != nil {
			r.env.Log.Warnf("cache_from %s: not pulled, building without it: %v", ref, err)
			continue
		}
		r.env.Log.Infof("cache_from %s: pulled", ref)
		if !existed {
			r.tagged = append(r.tagged, ref)
		}
	}
}

func (r *runner) exists(ctx context.Context, ref string) bool {
	_, err := r.daemon.ImageInspect(ctx, ref)
	return err == nil
}

func (r *runner) build(ctx context.Context) error {
	b := r.plan.Build
	bc, err := tarContext(b.ContextDir, b.Dockerfile)
	if err != nil {
		return err
	}
	defer bc.Tar.Close()
	opts := build.ImageBuildOptions{
		Tags:        r.plan.Refs,
		Dockerfile:  bc.Dockerfile,
		BuildArgs:   b.BuildArgs,
		Labels:      b.Labels,
		Target:      b.Target,
		NoCache:     b.NoCache,
		PullParent:  b.Pull,
		Squash:      b.Squash,
		Platform:    b.Platform,
		ExtraHosts:  b.ExtraHosts,
		CacheFrom:   b.CacheFrom,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	if len(r.plan.Refs) > 0 {
		r.env.Log.Infof("build %s", strings.Join(r.plan.Refs, ", "))
	} else {
		r.env.Log.Infof("build %s (untagged)", r.plan.Repo)
	}
	resp, err := r.daemon.ImageBuild(ctx, bc.Tar, opts)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer resp.Body.Close()
	res, err := readStream(resp.Body, io.MultiWriter(r.daemonOutput(), &r.steps))
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if res.ImageID == "" && len(r.plan.Refs) > 0 {
		// Older daemons print only "Successfully built"; ask for the tag.
		insp, err := r.daemon.ImageInspect(ctx, r.plan.Refs[0])
		if err != nil {
			return fmt.Errorf("build: no image id reported: %w", err)
		}
		res.ImageID = insp.ID
	}
	if res.ImageID == "" {
		return fmt.Errorf("build: the daemon reported no image id")
	}
	r.imageID = res.ImageID
	r.tagged = append(r.tagged, r.plan.Refs...)
	r.env.Log.Infof("built %s", r.imageID)
	return nil
}

// pushAll pushes every tag, repeating a push that failed transiently.
func (r *runner) pushAll(ctx context.Context, harbor *harborClient) error {
	auth, err := registryAuth(r.plan.Auth, r.plan.Registry)
	if err != nil {
		return fmt.Errorf("encode registry auth: %w", err)
	}
	for _, ref := range r.plan.Refs {
		// The daemon pushes whatever the name points to when the push
		// starts; on a shared daemon another build may have moved it since
		// our build. Point it at our image again right before the push, and
		// check afterwards that the pushed digest is our image's.
		if err := r.daemon.ImageTag(ctx, r.imageID, ref); err != nil {
			return fmt.Errorf("tag %s: %w", ref, err)
		}
		res, err := r.pushWithRetry(ctx, ref, auth)
		if err != nil {
			if harbor != nil && isAuthError(err) {
				return harbor.explainRefusedPush(ctx, fmt.Errorf("push %s: %w", ref, err))
			}
			return fmt.Errorf("push %s: %w", ref, err)
		}
		if res.Digest == "" {
			return fmt.Errorf("push %s: the daemon reported no digest", ref)
		}
		if err := r.checkPushedOurs(ctx, res.Digest); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
		if r.digest == "" {
			r.digest = res.Digest
		} else if res.Digest != r.digest {
			r.env.Log.Warnf("push %s: digest %s differs from %s", ref, res.Digest, r.digest)
		}
		r.env.Log.Infof("pushed %s@%s", ref, res.Digest)
	}
	return nil
}

// checkPushedOurs verifies that the daemon recorded repo@digest for the
// image this run built, i.e. the tag did not move to another image mid-push.
func (r *runner) checkPushedOurs(ctx context.Context, digest string) error {
	insp, err := r.daemon.ImageInspect(ctx, r.imageID)
	if err != nil {
		return fmt.Errorf("inspect %s after push: %w", r.imageID, err)
	}
	want, err := reference.ParseNormalizedNamed(r.plan.Repo + "@" + digest)
	if err != nil {
		return fmt.Errorf("pushed digest %q: %w", digest, err)
	}
	for _, rd := range insp.RepoDigests {
		if got, err := reference.ParseNormalizedNamed(rd); err == nil && got.String() == want.String() {
			return nil
		}
	}
	return fmt.Errorf("the pushed manifest %s is not the image this run built (%s): "+
		"another build on this daemon moved the tag during the push", digest, r.imageID)
}

// login checks the credentials through the daemon, as docker login does,
// before any push: with Basic auth the daemon would otherwise retry each
// refused layer upload for about a minute before giving up.
func (r *runner) login(ctx context.Context) error {
	a := r.plan.Auth
	if a.Source == "" || a.IdentityToken != "" {
		return nil
	}
	_, err := r.daemon.RegistryLogin(ctx, registry.AuthConfig{Username: a.Username, Password: a.Password, ServerAddress: serverAddress(r.plan.Registry)})
	if err != nil {
		return fmt.Errorf("log in to %s as %q: %w", r.plan.Registry, a.Username, err)
	}
	r.env.Log.Infof("logged in to %s as %q", r.plan.Registry, a.Username)
	return nil
}

// checkInsecure says whether the daemon will let the push use plain HTTP
// or an untrusted certificate: the daemon, not the plugin, decides.
func (r *runner) checkInsecure(ctx context.Context) {
	host := r.plan.Registry
	info, err := r.daemon.Info(ctx)
	if err != nil {
		r.env.Log.Warnf("insecure: cannot read the daemon's registry settings: %v", err)
		return
	}
	if daemonAllowsInsecure(info.RegistryConfig, host) {
		r.env.Log.Infof("insecure: the daemon treats %s as an insecure registry", host)
		return
	}
	r.env.Log.Warnf("insecure: the daemon does not treat %s as insecure, so plain HTTP or an untrusted certificate will fail: "+
		"add {\"insecure-registries\": [\"%s\"]} to its /etc/docker/daemon.json and restart it, or put the CA in /etc/docker/certs.d/%s/ca.crt", host, host, host)
}

// daemonAllowsInsecure reports whether the daemon's registry settings let
// host be used without TLS verification (loopback always is).
func daemonAllowsInsecure(sc *registry.ServiceConfig, host string) bool {
	if sc == nil {
		return false
	}
	if ic, ok := sc.IndexConfigs[host]; ok && ic != nil && !ic.Secure {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	for _, n := range sc.InsecureRegistryCIDRs {
		if n != nil && (*net.IPNet)(n).Contains(ip) {
			return true
		}
	}
	return false
}

// serverAddress is the login address of a registry host (Docker Hub's is a URL).
func serverAddress(host string) string {
	if host == "docker.io" {
		return "https://index.docker.io/v1/"
	}
	return host
}

func (r *runner) pushWithRetry(ctx context.Context, ref, auth string) (streamResult, error) {
	wait := pushBackoff
	for attempt := 0; ; attempt++ {
		res, err := r.push(ctx, ref, auth)
		if err == nil || attempt >= r.plan.PushRetries || !isTransient(err) || ctx.Err() != nil {
			return res, err
		}
		d := wait/2 + rand.N(wait/2+1)
		r.env.Log.Warnf("push %s failed (%v): attempt %d of %d in %s", ref, err, attempt+2, r.plan.PushRetries+1, d.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (r *runner) push(ctx context.Context, ref, auth string) (streamResult, error) {
	rc, err := r.daemon.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return streamResult{}, err
	}
	defer rc.Close()
	return readStream(rc, r.daemonOutput())
}

// isTransient reports a push failure worth repeating: a 5xx from the
// registry, a dropped or refused connection, a timeout.
func isTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	s := strings.ToLower(err.Error())
	for _, m := range []string{
		"500 internal server error", "502 bad gateway", "503 service unavailable", "504 gateway timeout",
		"status: 50", "status 50", "connection reset", "broken pipe", "unexpected eof", "i/o timeout",
		"tls handshake timeout", "connection refused", "server misbehaving", "toomanyrequests", "429 too many requests",
	} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// isAuthError reports a push the registry refused for credentials or
// permissions (Harbor says the same for a missing project).
func isAuthError(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unauthorized") || strings.Contains(s, "authentication required") ||
		strings.Contains(s, "denied") || strings.Contains(s, "no basic auth credentials")
}

func (r *runner) writeResult() error {
	p := r.plan
	res := result.Build{Repo: p.Repo, Tags: p.Tags, Digest: r.digest, ImageID: r.imageID, Registry: p.Registry}
	if !p.Push {
		res.Tags = []string{}
	}
	if err := result.Write(r.env.Workspace, "docker-build", res); err != nil {
		return err
	}
	return result.WriteCard(r.env.Build.CardPath, r.env.Stdout, result.Card{
		Schema: "https://drone-plugins.github.io/drone-docker/card.json",
		Data: map[string]any{
			"repo": p.Repo, "tags": res.Tags, "digest": r.digest, "image_id": r.imageID,
			"registry": p.Registry, "pushed": p.Push,
		},
	})
}

// purge removes what this run tagged; removing an image's last tag with
// PruneChildren also removes its untagged build parents.
func (r *runner) purge(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, ref := range r.tagged {
		if _, err := r.daemon.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			r.env.Log.Warnf("purge %s: %v", ref, err)
		}
	}
	// The image itself, when no tag holds it any more (untagged builds); a
	// fully cached build can yield an image someone else tagged.
	if r.imageID != "" {
		if insp, err := r.daemon.ImageInspect(ctx, r.imageID); err == nil && len(insp.RepoTags) == 0 {
			_, _ = r.daemon.ImageRemove(ctx, r.imageID, image.RemoveOptions{PruneChildren: true})
		}
	}
	// Dangling parents of a failed build, newest first; those still used by
	// another image are refused by the daemon and stay.
	removed := 0
	for i := len(r.steps.ids) - 1; i >= 0; i-- {
		id := r.steps.ids[i]
		// Never an image someone tagged: removing a tagged image by id
		// would delete it.
		if insp, err := r.daemon.ImageInspect(ctx, id); err != nil || len(insp.RepoTags) > 0 {
			continue
		}
		if _, err := r.daemon.ImageRemove(ctx, id, image.RemoveOptions{PruneChildren: true}); err == nil {
			removed++
		} else if !cerrdefs.IsNotFound(err) {
			r.env.Log.Debugf("purge build step image %s: %v", id, err)
		}
	}
	switch {
	case removed > 0:
		r.env.Log.Infof("purged %d local tags and %d build step images", len(r.tagged), removed)
	case len(r.tagged) > 0:
		r.env.Log.Infof("purged %d local tags", len(r.tagged))
	}
}

// daemonOutput is where the daemon's build, pull and push lines go.
func (r *runner) daemonOutput() io.Writer { return reportWriter(r.env, "daemon") }

// reportWriter is where report text (the plan, the daemon's output, the
// scan table) goes: stdout as it is, or one JSON log entry per line when
// log_format is json, so the step log stays machine-readable.
func reportWriter(env *plugin.Env, source string) io.Writer {
	if env.Common.LogFormat != "json" {
		return env.Stdout
	}
	return &lineLogger{log: env.Log, source: source}
}

// lineLogger logs each complete line written to it.
type lineLogger struct {
	log     *logrus.Logger
	source  string
	partial []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		if line := strings.TrimRight(string(l.partial[:i]), "\r"); line != "" {
			l.log.WithField("source", l.source).Info(line)
		}
		l.partial = l.partial[i+1:]
	}
}

// stepImages collects, from the classic builder's output, the image id
// each step created (" ---> 1a2b3c4d5e6f"), skipping cache hits and the
// base image a FROM step names.
type stepImages struct {
	ids     []string
	skip    bool // the next id is a cache hit or a base image
	partial []byte
}

var fromStepLine = regexp.MustCompile(`(?i)^Step \d+/\d+ : FROM\s`)

var stepImageLine = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)

func (s *stepImages) Write(b []byte) (int, error) {
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimRight(string(s.partial[:i]), "\r")
		s.partial = s.partial[i+1:]
		switch {
		case line == " ---> Using cache":
			s.skip = true
		case strings.HasPrefix(line, "Step "):
			s.skip = fromStepLine.MatchString(line)
		default:
			if m := stepImageLine.FindStringSubmatch(line); m != nil {
				if !s.skip {
					s.ids = append(s.ids, m[1])
				}
				s.skip = false
			}
		}
	}
}
