package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/moby/buildkit/client"
)

// TestRemoteSettingsErrorsExit2 runs the plugin with bad BuildKit
// settings: each exits 2 naming the setting, before any buildkitd is asked.
func TestRemoteSettingsErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"platform without arch", map[string]string{"PLUGIN_PLATFORMS": "linux/amd64,linux"}, "PLUGIN_PLATFORMS"},
		{"platform nonsense", map[string]string{"PLUGIN_PLATFORMS": "linux/amd64,not a platform"}, "PLUGIN_PLATFORMS"},
		{"platform twice", map[string]string{"PLUGIN_PLATFORMS": "linux/arm64,linux/arm64/v8"}, "PLUGIN_PLATFORMS"},
		{"platform and platforms", map[string]string{"PLUGIN_PLATFORMS": "linux/arm64", "PLUGIN_PLATFORM": "linux/amd64"}, "PLUGIN_PLATFORM"},
		{"http address", map[string]string{"PLUGIN_BUILDKIT_HOST": "http://127.0.0.1:1234"}, "PLUGIN_BUILDKIT_HOST"},
		{"tcp without port", map[string]string{"PLUGIN_BUILDKIT_HOST": "tcp://buildkitd"}, "PLUGIN_BUILDKIT_HOST"},
		{"cache_to without type", map[string]string{"PLUGIN_CACHE_TO": "ref=x/y:cache,mode=max"}, "PLUGIN_CACHE_TO"},
		{"registry cache without ref", map[string]string{"PLUGIN_CACHE_FROM": "type=registry,mode=max"}, "PLUGIN_CACHE_FROM"},
		{"cert without key", map[string]string{"PLUGIN_BUILDKIT_CERT": "-----BEGIN CERTIFICATE-----\n"}, "PLUGIN_BUILDKIT_KEY"},
		{"squash", map[string]string{"PLUGIN_SQUASH": "true"}, "PLUGIN_SQUASH"},
		{"classic builder", map[string]string{"PLUGIN_BUILDKIT": "false"}, "PLUGIN_BUILDKIT"},
		{"zero timeout", map[string]string{"PLUGIN_BUILDKIT_TIMEOUT": "0s"}, "PLUGIN_BUILDKIT_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := archContext(t)
			env := map[string]string{
				"PLUGIN_REPO": "127.0.0.1:1/proj/app", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": dir + "/Dockerfile",
				"DRONE_WORKSPACE": dir, "PLUGIN_BUILDKIT_HOST": "unix:///nonexistent/buildkitd.sock",
			}
			for k, v := range tc.settings {
				env[k] = v
			}
			res := plugintest.Run(t, newApp("test"), env)
			if res.Code != 2 || !strings.Contains(res.Output(), tc.want) {
				t.Errorf("exit %d, want 2 naming %s:\n%s", res.Code, tc.want, res.Output())
			}
		})
	}
}

// TestRemoteOnlySettingsNeedBuildkitHost: platforms and cache_to are
// refused on the daemon path rather than ignored.
func TestRemoteOnlySettingsNeedBuildkitHost(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"PLUGIN_PLATFORMS", "PLUGIN_CACHE_TO"} {
		dir := archContext(t)
		env := map[string]string{
			"PLUGIN_REPO": "127.0.0.1:1/proj/app", "PLUGIN_CONTEXT": dir, "PLUGIN_DOCKERFILE": dir + "/Dockerfile",
			"DRONE_WORKSPACE": dir, name: "type=registry,ref=127.0.0.1:1/proj/app:cache",
		}
		if name == "PLUGIN_PLATFORMS" {
			env[name] = "linux/amd64,linux/arm64"
		}
		res := plugintest.Run(t, newApp("test"), env)
		if res.Code != 2 || !strings.Contains(res.Output(), name+": needs buildkit_host") {
			t.Errorf("%s without buildkit_host: exit %d:\n%s", name, res.Code, res.Output())
		}
	}
}

func TestCacheEntries(t *testing.T) {
	t.Parallel()
	reg := func(attrs map[string]string) client.CacheOptionsEntry {
		return client.CacheOptionsEntry{Type: "registry", Attrs: attrs}
	}
	for _, tc := range []struct {
		name     string
		items    []string
		insecure bool
		want     []client.CacheOptionsEntry
	}{
		{"drone-split CSV", []string{"type=registry", "ref=h/p/app:cache", "mode=max"}, false,
			[]client.CacheOptionsEntry{reg(map[string]string{"ref": "h/p/app:cache", "mode": "max"})}},
		{"two entries", []string{"type=registry", "ref=h/p/a:c", "type=inline"}, false,
			[]client.CacheOptionsEntry{reg(map[string]string{"ref": "h/p/a:c"}), {Type: "inline", Attrs: map[string]string{}}}},
		{"plain image (plugins/docker's cache_from)", []string{"h/p/app:latest"}, false,
			[]client.CacheOptionsEntry{reg(map[string]string{"ref": "h/p/app:latest"})}},
		{"insecure registry", []string{"type=registry", "ref=h/p/a:c"}, true,
			[]client.CacheOptionsEntry{reg(map[string]string{"ref": "h/p/a:c", "registry.insecure": "true"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cacheEntries("cache_to", tc.items, tc.insecure)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFrontendAttrs(t *testing.T) {
	t.Parallel()
	v := "1"
	got := frontendAttrs(BuildSpec{
		BuildArgs: map[string]*string{"A": &v}, Labels: map[string]string{"l": "x"}, Target: "final",
		NoCache: true, Pull: true, ExtraHosts: []string{"db:10.0.0.2", "v6:fe80::1"},
	}, []string{"linux/amd64", "linux/arm64"}, "Dockerfile.ci")
	want := map[string]string{
		"filename": "Dockerfile.ci", "platform": "linux/amd64,linux/arm64", "build-arg:A": "1", "label:l": "x",
		"target": "final", "no-cache": "", "image-resolve-mode": "pull", "add-hosts": "db=10.0.0.2,v6=fe80::1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
