package main

import (
	"context"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/image"
)

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
