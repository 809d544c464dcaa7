package demo

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/image"
	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
)

// The sample app's private base image: busybox, FROM scratch, built once per
// daemon under baseLocal (so every run pushes the same digest and BuildKit
// can reuse its cache across runs) and pushed by the platform team's account
// to each run's registry as <registry>/base/busybox:1, where only
// credentials can pull it.
const (
	baseLocal = "lightship-demo/busybox-base:1"
	baseRepo  = "base/busybox"
	baseTag   = "1"
)

// pushBase pushes the base image to the sandbox's registry and returns its
// reference there.
func (r *run) pushBase(ctx context.Context) (string, error) {
	cli := r.docker.cli
	if _, err := cli.ImageInspect(ctx, baseLocal); err != nil {
		if err := baseimage.Build(ctx, cli, baseimage.Options{}, baseLocal); err != nil {
			return "", fmt.Errorf("build the base image: %w", err)
		}
	}
	o := baseimage.Options{
		Host: r.sandbox.harbor.Host, Repo: baseRepo, Tag: baseTag,
		Username: r.creds.AdminUser, Password: r.creds.AdminPassword,
	}
	ref := o.Ref()
	if err := cli.ImageTag(ctx, baseLocal, ref); err != nil {
		return "", fmt.Errorf("tag the base image: %w", err)
	}
	// Only this run's tag goes; the image stays for the next run.
	defer func() { _, _ = cli.ImageRemove(context.WithoutCancel(ctx), ref, image.RemoveOptions{}) }()
	if err := baseimage.PushImage(ctx, cli, ref, o); err != nil {
		return "", fmt.Errorf("push the base image: %w", err)
	}
	return ref, nil
}
