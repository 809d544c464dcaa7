package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
)

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

// exists reports whether ref is in the daemon's store.
func (r *runner) exists(ctx context.Context, ref string) bool {
	_, err := r.daemon.ImageInspect(ctx, ref)
	return err == nil
}
