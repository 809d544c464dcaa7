package main

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
	"github.com/moby/buildkit/client"
	"github.com/urfave/cli/v2"
)

// RemoteSettings are the settings of the remote BuildKit path.
type RemoteSettings struct {
	Host      string
	Platforms cli.StringSlice
	CacheTo   cli.StringSlice
	Cert      string
	Key       string
	Timeout   time.Duration
}

func (b *RemoteSettings) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "buildkit_host", Usage: "build on this buildkitd instead of the Docker daemon: tcp://host:1234 (TLS with ca_cert, buildkit_cert and buildkit_key) or unix:///path", EnvVars: plugin.EnvVars("buildkit_host", "BUILDKIT_HOST"), Destination: &b.Host, Category: "BuildKit"},
		&cli.StringSliceFlag{Name: "platforms", Usage: "platforms to build with buildkit_host, e.g. linux/amd64,linux/arm64: one image index pushed under every tag", EnvVars: plugin.EnvVars("platforms"), Destination: &b.Platforms, Category: "BuildKit"},
		&cli.StringSliceFlag{Name: "cache_to", Usage: "cache exports with buildkit_host in BuildKit's form, e.g. type=registry,ref=harbor.company.com/proj/app:cache,mode=max", EnvVars: plugin.EnvVars("cache_to"), Destination: &b.CacheTo, Category: "BuildKit"},
		&cli.StringFlag{Name: "buildkit_cert", Usage: "client certificate for a tcp:// buildkit_host that asks for one (mTLS): PEM text or a file path", EnvVars: plugin.EnvVars("buildkit_cert"), Destination: &b.Cert, Category: "BuildKit"},
		&cli.StringFlag{Name: "buildkit_key", Usage: "private key of buildkit_cert: PEM text or a file path", EnvVars: plugin.EnvVars("buildkit_key"), Destination: &b.Key, Category: "BuildKit"},
		&cli.DurationFlag{Name: "buildkit_timeout", Usage: "how long buildkitd has to answer before the build starts", Value: 30 * time.Second, EnvVars: plugin.EnvVars("buildkit_timeout"), Destination: &b.Timeout, Category: "BuildKit"},
	}
}

// RemotePlan is the remote BuildKit part of a plan: the build runs on
// buildkitd, which also pushes.
type RemotePlan struct {
	// Addr is tcp://host:port or unix:///path.
	Addr string
	// Platforms are normalized (linux/arm64/v8 -> linux/arm64); empty means
	// buildkitd's own platform.
	Platforms []string
	CacheFrom []client.CacheOptionsEntry
	CacheTo   []client.CacheOptionsEntry
	// ClientCert is the mTLS client certificate, nil without one.
	ClientCert *tls.Certificate
	Timeout    time.Duration
}

// planRemote fills p.Remote when buildkit_host is set, and refuses the
// BuildKit-only settings without it.
func planRemote(p *Plan, s *Settings) error {
	b := &s.Remote
	if b.Host == "" {
		switch {
		case len(b.Platforms.Value()) > 0:
			return plugin.Invalid("platforms", "needs buildkit_host: the Docker daemon's builder makes one platform")
		case len(b.CacheTo.Value()) > 0:
			return plugin.Invalid("cache_to", "needs buildkit_host: the Docker daemon's builder exports no cache")
		}
		return nil
	}
	addr, err := buildkitAddr(b.Host)
	if err != nil {
		return plugin.Invalid("buildkit_host", "%v", err)
	}
	bp := &RemotePlan{Addr: addr, Timeout: b.Timeout}
	if bp.Timeout <= 0 {
		return plugin.Invalid("buildkit_timeout", "%s must be positive", b.Timeout)
	}
	if bp.Platforms, err = parsePlatforms(b.Platforms.Value(), p.Build.Platform); err != nil {
		return err
	}
	if !s.Session.BuildKit {
		return plugin.Invalid("buildkit", "false cannot be used with buildkit_host: buildkitd is BuildKit")
	}
	if p.Build.Squash {
		return plugin.Invalid("squash", "not available with buildkit_host (BuildKit does not squash)")
	}
	if bp.CacheFrom, err = cacheEntries("cache_from", s.CacheFrom.Value(), p.Insecure); err != nil {
		return err
	}
	if bp.CacheTo, err = cacheEntries("cache_to", b.CacheTo.Value(), p.Insecure); err != nil {
		return err
	}
	if bp.ClientCert, err = plugin.ClientCertificate("buildkit_cert", "buildkit_key", b.Cert, b.Key); err != nil {
		return err
	}
	if p.Mirror != "" {
		p.Warnings = append(p.Warnings, "PLUGIN_MIRROR is ignored with buildkit_host: buildkitd pulls FROM images itself (set mirrors in its buildkitd.toml)")
		p.Mirror, p.MirrorPulls = "", nil
	}
	// Nothing is tagged locally: buildkitd pushes, the host's daemon is not used.
	p.Purge = false
	p.Remote = bp
	return nil
}

// buildkitAddr checks a tcp://host:port or unix:///path address.
func buildkitAddr(v string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return "", fmt.Errorf("%q is not an address: %w", v, err)
	}
	switch u.Scheme {
	case "tcp":
		if u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("%q must be tcp://host:port", v)
		}
		return "tcp://" + u.Host, nil
	case "unix":
		if u.Path == "" || u.Host != "" {
			return "", fmt.Errorf("%q must be unix:///absolute/path", v)
		}
		return "unix://" + u.Path, nil
	}
	return "", fmt.Errorf("%q must be tcp://host:port or unix:///path", v)
}

// parsePlatforms reads the platforms list (os/arch[/variant]); the older
// single platform setting counts as a list of one.
func parsePlatforms(items []string, single string) ([]string, error) {
	var out []string
	for _, it := range items {
		for _, v := range setting.List(it) {
			pl, err := platforms.Parse(v)
			if err != nil || pl.OS == "" || pl.Architecture == "" || !strings.Contains(v, "/") {
				return nil, plugin.Invalid("platforms", "%q is not a platform: want os/arch[/variant], e.g. linux/arm64", v)
			}
			f := platforms.Format(platforms.Normalize(pl))
			if contains(out, f) {
				return nil, plugin.Invalid("platforms", "%s is listed twice", f)
			}
			out = append(out, f)
		}
	}
	if single != "" {
		if len(out) > 0 {
			return nil, plugin.Invalid("platform", "set platform or platforms, not both")
		}
		pl, err := platforms.Parse(single)
		if err != nil {
			return nil, plugin.Invalid("platform", "%q: %v", single, err)
		}
		out = []string{platforms.Format(platforms.Normalize(pl))}
	}
	return out, nil
}

// cacheEntries reads cache_from or cache_to in BuildKit's CSV form
// (type=registry,ref=host/repo:cache,mode=max). Drone joins a YAML list
// with commas, so an item holding no type= continues the entry before it;
// a plain image name is type=registry,ref=<name>.
func cacheEntries(setting string, items []string, insecure bool) ([]client.CacheOptionsEntry, error) {
	var out []client.CacheOptionsEntry
	for _, it := range items {
		it = strings.TrimSpace(it)
		k, v, isAttr := strings.Cut(it, "=")
		switch {
		case it == "":
			continue
		case !isAttr:
			out = append(out, client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": it}})
		case k == "type":
			out = append(out, client.CacheOptionsEntry{Type: v, Attrs: map[string]string{}})
		case len(out) == 0:
			return nil, plugin.Invalid(setting, "%q: an entry starts with type=, e.g. type=registry,ref=host/repo:cache", it)
		default:
			out[len(out)-1].Attrs[k] = v
		}
	}
	for _, e := range out {
		if e.Type == "" {
			return nil, plugin.Invalid(setting, "type= is empty")
		}
		if e.Type == "registry" && e.Attrs["ref"] == "" {
			return nil, plugin.Invalid(setting, "type=registry needs ref=<image>")
		}
		if e.Type == "registry" && insecure {
			if _, set := e.Attrs["registry.insecure"]; !set {
				e.Attrs["registry.insecure"] = "true"
			}
		}
	}
	return out, nil
}
