package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
	"github.com/lightship-ci/lightship/pkg/testkit/buildkitd"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

// BenchmarkRemoteRegistryCache builds the same Dockerfile (a busybox base,
// a RUN step hashing 128 MiB of random data, a COPY) on two freshly started
// buildkitds: the first exports its cache to the registry (cache_to
// type=registry,mode=max), the second imports it (cache_from). It reports
// both wall times of the plugin: cold-s and cached-s.
func BenchmarkRemoteRegistryCache(b *testing.B) {
	reg, err := registry.Start(b.Context(), registry.Options{Users: map[string]string{robotUser: canary}})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	base := baseimage.Push(b, dockertest.Client(b), baseimage.Options{Host: reg.Host, Repo: "proj/base-" + suffix(), Username: robotUser, Password: canary})
	var cold, cached time.Duration
	for i := 0; i < b.N; i++ {
		repo := "proj/bench-" + suffix()
		cacheRef := "type=registry,ref=" + reg.Host + "/" + repo + ":buildcache"
		dir := b.TempDir()
		for name, content := range map[string]string{
			"Dockerfile": "FROM " + base + "\n" +
				"RUN for i in 1 2 3 4 5 6 7 8; do dd if=/dev/urandom bs=1M count=16 2>/dev/null | sha256sum; done > /sums\n" +
				"COPY hello.txt /hello.txt\n",
			"hello.txt": "hello " + repo + "\n",
		} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		cold += timedRemoteBuild(b, dir, reg, repo, map[string]string{"PLUGIN_CACHE_TO": cacheRef + ",mode=max"})
		cached += timedRemoteBuild(b, dir, reg, repo, map[string]string{"PLUGIN_CACHE_FROM": cacheRef})
	}
	b.ReportMetric(cold.Seconds()/float64(b.N), "cold-s")
	b.ReportMetric(cached.Seconds()/float64(b.N), "cached-s")
}

// timedRemoteBuild runs the plugin on a fresh buildkitd (started before the
// clock starts) and returns its wall time.
func timedRemoteBuild(b *testing.B, dir string, reg *registry.Registry, repo string, extra map[string]string) time.Duration {
	d := buildkitd.Start(b, buildkitd.Options{})
	env := remoteEnv(dir, reg, repo, d.Addr)
	for k, v := range extra {
		env[k] = v
	}
	start := time.Now()
	res := plugintest.Run(b, newApp("bench"), env)
	took := time.Since(start)
	if res.Code != 0 {
		b.Fatalf("exit %d:\n%s", res.Code, res.Output())
	}
	return took
}
