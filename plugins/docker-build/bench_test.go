package main

import (
	"context"
	"io"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	archive "github.com/moby/go-archive"
)

// BenchmarkDefaultSettingsVsBareEngineAPI measures the plugin with its
// default settings (BuildKit, login check, purge, result file) against the
// same work done by the bare Engine API: POST /build?version=2 with the
// context tar, then two pushes. Each pair builds fresh content (no cache
// hit), the order alternates, and the medians are reported with their
// ratio (issue 10's target: <= 1.05).
func BenchmarkDefaultSettingsVsBareEngineAPI(b *testing.B) {
	cli := dockertest.Client(b)
	reg := startRegistry(b, map[string]string{benchUser: canary})
	const pairs = 7
	var plugin, bare []time.Duration
	for i := 0; i < b.N; i++ {
		for j := 0; j < pairs; j++ {
			do := []func(){
				func() { plugin = append(plugin, benchPlugin(b, reg.Host)) },
				func() { bare = append(bare, benchBare(b, cli, reg.Host)) },
			}
			if j%2 == 1 {
				do[0], do[1] = do[1], do[0]
			}
			do[0]()
			do[1]()
		}
	}
	p, r := median(plugin), median(bare)
	b.ReportMetric(float64(p.Milliseconds()), "plugin-ms")
	b.ReportMetric(float64(r.Milliseconds()), "bare-ms")
	b.ReportMetric(float64(p)/float64(r), "ratio")
}

// benchUser is the registry login of the benchmark.
const benchUser = "robot$bench+ci"

func benchContext(b *testing.B) string {
	b.Helper()
	marker := suffix()
	return writeContext(b, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY . /app/\n",
		"a.txt":      "a " + marker, "b.txt": "b " + marker, "c/d.txt": "d " + marker,
	})
}

func benchPlugin(b *testing.B, host string) time.Duration {
	b.Helper()
	dir := benchContext(b)
	repo := host + "/bench/plugin-" + suffix()
	env := map[string]string{
		"PLUGIN_REPO": repo, "PLUGIN_TAGS": "one,two", "PLUGIN_CONTEXT": dir,
		"PLUGIN_DOCKERFILE": filepath.Join(dir, "Dockerfile"), "DRONE_WORKSPACE": dir,
		"PLUGIN_USERNAME": benchUser, "PLUGIN_PASSWORD": canary,
	}
	start := time.Now()
	res := plugintest.Run(b, newApp("bench"), env)
	d := time.Since(start)
	if res.Code != 0 {
		b.Fatalf("plugin: exit %d:\n%s", res.Code, res.Output())
	}
	return d
}

func benchBare(b *testing.B, cli *client.Client, host string) time.Duration {
	b.Helper()
	ctx := context.Background()
	dir := benchContext(b)
	repo := host + "/bench/bare-" + suffix()
	refs := []string{repo + ":one", repo + ":two"}
	auth, _ := registry.EncodeAuthConfig(registry.AuthConfig{Username: benchUser, Password: canary, ServerAddress: host})
	defer func() {
		for _, r := range refs {
			_, _ = cli.ImageRemove(ctx, r, image.RemoveOptions{PruneChildren: true})
		}
	}()
	start := time.Now()
	tar, err := archive.TarWithOptions(dir, &archive.TarOptions{})
	if err != nil {
		b.Fatal(err)
	}
	resp, err := cli.ImageBuild(ctx, tar, build.ImageBuildOptions{Tags: refs, Version: build.BuilderBuildKit})
	if err != nil {
		b.Fatal(err)
	}
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	tar.Close()
	for _, r := range refs {
		rc, err := cli.ImagePush(ctx, r, image.PushOptions{RegistryAuth: auth})
		if err != nil {
			b.Fatal(err)
		}
		if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
