package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/lightship-ci/lightship/pkg/retry"
)

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

// pushWithRetry repeats a push that failed transiently (pkg/retry's
// rule), with doubling jittered waits; blobs already uploaded make repeats
// cheap.
func (r *runner) pushWithRetry(ctx context.Context, ref, auth string) (streamResult, error) {
	p := retry.Policy{Retries: r.plan.PushRetries, Base: r.plan.PushBackoff, Max: 30 * time.Second,
		OnRetry: func(err error, n int, wait time.Duration) {
			r.env.Log.Warnf("push %s failed (%v): attempt %d of %d in %s", ref, err, n+1, r.plan.PushRetries+1, wait.Round(time.Millisecond))
		}}
	return retry.Do(ctx, p, func(ctx context.Context) (streamResult, error) { return r.push(ctx, ref, auth) })
}

// push pushes one tag and reads the daemon's stream to its end.
func (r *runner) push(ctx context.Context, ref, auth string) (streamResult, error) {
	rc, err := r.daemon.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return streamResult{}, err
	}
	defer rc.Close()
	return readStream(rc, r.daemonOutput())
}

// isAuthError reports a push the registry refused for credentials or
// permissions (Harbor says the same for a missing project).
func isAuthError(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "unauthorized") || strings.Contains(s, "authentication required") ||
		strings.Contains(s, "denied") || strings.Contains(s, "no basic auth credentials")
}
