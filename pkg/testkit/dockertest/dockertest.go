// Package dockertest gives tests a client of the real Docker daemon. With
// CI=true a test that cannot reach the daemon fails; elsewhere it skips.
package dockertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Client returns a client of the daemon (DOCKER_HOST or the default socket),
// API version negotiated, closed when the test ends.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		unavailable(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		unavailable(t, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// RequireImage fails (or skips outside CI) when ref is not in the daemon's
// store: image-level tests need `make images` first.
func RequireImage(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	if _, err := cli.ImageInspect(context.Background(), ref); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("image %s: %v (make images builds it)", ref, err)
		}
		t.Skipf("image %s not built (make images): %v", ref, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("Docker daemon unreachable (scripts/ensure-docker starts one): %v", err)
	}
	t.Skipf("Docker daemon unreachable (scripts/ensure-docker starts one): %v", err)
}
