package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/platforms"
	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/result"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxIndexSize bounds the index read back from the registry.
const maxIndexSize = 4 << 20

// platformImages reads the index buildkitd pushed (repo@digest) with the
// step's credentials and returns each platform's manifest digest, in the
// index's order; attestation manifests (platform unknown/unknown) are left out.
func (r *remoteRunner) platformImages(ctx context.Context) ([]result.PlatformImage, error) {
	hc, err := r.env.HTTP(httpx.Options{})
	if err != nil {
		return nil, err
	}
	p := r.plan
	creds := func(host string) (string, string, error) {
		if registryHostMatches(host, p.Registry) {
			if p.Auth.IdentityToken != "" {
				return "", p.Auth.IdentityToken, nil
			}
			return p.Auth.Username, p.Auth.Password, nil
		}
		return "", "", nil
	}
	hosts := docker.ConfigureDefaultRegistries(
		docker.WithClient(hc.HTTP()),
		docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthClient(hc.HTTP()), docker.WithAuthCreds(creds))),
		docker.WithPlainHTTP(func(host string) (bool, error) {
			if p.Insecure && registryHostMatches(host, p.Registry) {
				return true, nil
			}
			return docker.MatchLocalhost(host)
		}),
	)
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
	name, desc, err := resolver.Resolve(ctx, p.Repo+"@"+r.digest)
	if err != nil {
		return nil, err
	}
	f, err := resolver.Fetcher(ctx, name)
	if err != nil {
		return nil, err
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var idx ocispec.Index
	if err := json.NewDecoder(io.LimitReader(rc, maxIndexSize)).Decode(&idx); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var out []result.PlatformImage
	for _, m := range idx.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" {
			continue
		}
		out = append(out, result.PlatformImage{Platform: platforms.Format(*m.Platform), Digest: m.Digest.String()})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is not a multi-platform index (%s)", r.digest, desc.MediaType)
	}
	return out, nil
}

// registryHostMatches compares the host the resolver talks to with the
// plan's registry (Docker Hub is docker.io in plans, registry-1.docker.io
// on the wire).
func registryHostMatches(host, registry string) bool {
	if registry == "docker.io" {
		return host == "registry-1.docker.io" || host == "docker.io"
	}
	return host == registry
}
