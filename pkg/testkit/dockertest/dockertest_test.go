package dockertest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/versions"
)

func TestClientNegotiatesWithTheDaemon(t *testing.T) {
	cli := Client(t)
	ctx := context.Background()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	got := cli.ClientVersion()
	if got == "" || versions.GreaterThan(got, v.APIVersion) {
		t.Fatalf("client speaks API %q, daemon %q: negotiation failed", got, v.APIVersion)
	}
	// The daemon this project runs on (Engine 20.10) speaks 1.41.
	if versions.GreaterThan(got, "1.41") {
		t.Fatalf("negotiated API %s, want 1.41 or lower", got)
	}
	if _, err := cli.Info(ctx); err != nil {
		t.Fatalf("info at API %s: %v", got, err)
	}
	t.Logf("daemon %s, API %s (min %s), client API %s", v.Version, v.APIVersion, v.MinAPIVersion, got)
}

// fakeTB records Fatalf and Skipf and ends the goroutine like the real ones.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestUnreachableDaemonFailsInCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("CI", "true")
	f := runFake(t, func(tb testing.TB) { Client(tb) })
	if !strings.Contains(f.fatal, "Docker daemon unreachable") || f.skip != "" {
		t.Fatalf("CI=true: fatal %q skip %q", f.fatal, f.skip)
	}
	t.Setenv("CI", "")
	f = runFake(t, func(tb testing.TB) { Client(tb) })
	if !strings.Contains(f.skip, "Docker daemon unreachable") || f.fatal != "" {
		t.Fatalf("CI unset: fatal %q skip %q", f.fatal, f.skip)
	}
}

func TestRequireImage(t *testing.T) {
	cli := Client(t)
	absent := "lightship/no-such-image-" + strings.ToLower(t.Name()) + ":latest"
	t.Setenv("CI", "true")
	f := runFake(t, func(tb testing.TB) { RequireImage(tb, cli, absent) })
	if !strings.Contains(f.fatal, "make images") {
		t.Fatalf("CI=true: fatal %q skip %q", f.fatal, f.skip)
	}
	t.Setenv("CI", "")
	f = runFake(t, func(tb testing.TB) { RequireImage(tb, cli, absent) })
	if !strings.Contains(f.skip, "not built") {
		t.Fatalf("CI unset: fatal %q skip %q", f.fatal, f.skip)
	}
}
