package main

import (
	"context"
	_ "embed"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/urfave/cli/v2"
)

// Settings are the plugin's settings, filled by its flags. Names and
// meanings are plugins/docker's.
type Settings struct {
	Repo          string
	Registry      string
	Tags          cli.StringSlice
	TagsFile      string
	AutoTag       bool
	AutoTagSuffix string
	Dockerfile    string
	Context       string
	BuildArgs     cli.StringSlice
	ArgsFromEnv   cli.StringSlice
	CacheFrom     cli.StringSlice
	Labels        cli.StringSlice
	AutoLabel     bool
	Target        string
	NoCache       bool
	PullImage     bool
	Squash        bool
	Platform      string
	AddHost       cli.StringSlice
	Username      string
	Password      string
	Email         string
	Config        string
	Insecure      bool
	Mirror        string
	DryRun        bool
	Purge         bool
	PushRetries   int
	PushBackoff   time.Duration

	HarborURL           string
	HarborCreateProject bool
	HarborScan          bool
	HarborSeverity      string
	HarborScanTimeout   time.Duration
	HarborScanInterval  time.Duration

	Remote  RemoteSettings
	Session SessionSettings
}

func (s *Settings) flags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "repo", Usage: "image repository with its registry host, e.g. harbor.company.com/registry/test", EnvVars: plugin.EnvVars("repo"), Destination: &s.Repo},
		&cli.StringFlag{Name: "registry", Usage: "registry to log in to (default: the host of repo)", EnvVars: plugin.EnvVars("registry", "DOCKER_REGISTRY"), Destination: &s.Registry},
		&cli.StringSliceFlag{Name: "tags", Aliases: []string{"tag"}, Usage: "tags to push (default latest)", EnvVars: plugin.EnvVars("tags", "PLUGIN_TAG"), Destination: &s.Tags},
		&cli.StringFlag{Name: "tags_file", Usage: "file of tags, comma or newline separated, read when tags is unset (as plugins/docker; auto_tag wins over both)", Value: ".tags", EnvVars: plugin.EnvVars("tags_file"), Destination: &s.TagsFile},
		&cli.BoolFlag{Name: "auto_tag", Usage: "derive tags from the git tag (v1.2.3 -> 1, 1.2, 1.2.3) or latest on the default branch; other refs build without pushing", EnvVars: plugin.EnvVars("auto_tag", "PLUGIN_DEFAULT_TAGS", "PLUGIN_DEFAULT_TAG"), Destination: &s.AutoTag},
		&cli.StringFlag{Name: "auto_tag_suffix", Usage: "suffix added to auto tags (1.2-suffix; latest becomes the suffix)", EnvVars: plugin.EnvVars("auto_tag_suffix", "PLUGIN_DEFAULT_SUFFIX"), Destination: &s.AutoTagSuffix},
		&cli.StringFlag{Name: "dockerfile", Usage: "Dockerfile path, relative to the working directory", Value: "Dockerfile", EnvVars: plugin.EnvVars("dockerfile"), Destination: &s.Dockerfile},
		&cli.StringFlag{Name: "context", Usage: "build context directory", Value: ".", EnvVars: plugin.EnvVars("context"), Destination: &s.Context},
		&cli.StringSliceFlag{Name: "build_args", Usage: "build arguments: KEY=VALUE list or a JSON object", EnvVars: plugin.EnvVars("build_args"), Destination: &s.BuildArgs, KeepSpace: true},
		&cli.StringSliceFlag{Name: "build_args_from_env", Usage: "names of environment variables passed as build arguments", EnvVars: plugin.EnvVars("build_args_from_env"), Destination: &s.ArgsFromEnv},
		&cli.StringSliceFlag{Name: "cache_from", Usage: "images to use as cache sources", EnvVars: plugin.EnvVars("cache_from"), Destination: &s.CacheFrom},
		&cli.StringSliceFlag{Name: "labels", Usage: "image labels: KEY=VALUE list or a JSON object", EnvVars: plugin.EnvVars("labels", "PLUGIN_CUSTOM_LABELS"), Destination: &s.Labels, KeepSpace: true},
		&cli.BoolFlag{Name: "auto_label", Usage: "add org.opencontainers.image.created/revision/source/url labels from the build", Value: true, EnvVars: plugin.EnvVars("auto_label"), Destination: &s.AutoLabel},
		&cli.StringFlag{Name: "target", Usage: "build stage to stop at", EnvVars: plugin.EnvVars("target"), Destination: &s.Target},
		&cli.BoolFlag{Name: "no_cache", Usage: "do not use the build cache", EnvVars: plugin.EnvVars("no_cache"), Destination: &s.NoCache},
		&cli.BoolFlag{Name: "pull_image", Usage: "always contact the registry for FROM images (off when mirror is set: the mirror pulls them)", Value: true, EnvVars: plugin.EnvVars("pull_image"), Destination: &s.PullImage},
		&cli.BoolFlag{Name: "squash", Usage: "squash the layers (needs an experimental daemon)", EnvVars: plugin.EnvVars("squash"), Destination: &s.Squash},
		&cli.StringFlag{Name: "platform", Usage: "target platform, e.g. linux/amd64", EnvVars: plugin.EnvVars("platform"), Destination: &s.Platform},
		&cli.StringSliceFlag{Name: "add_host", Usage: "extra /etc/hosts entries for RUN steps: host:ip", EnvVars: plugin.EnvVars("add_host"), Destination: &s.AddHost},
		&cli.StringFlag{Name: "username", Usage: "registry user (Harbor robot accounts like robot$proj+ci work as they are)", EnvVars: plugin.EnvVars("username", "DOCKER_USERNAME"), Destination: &s.Username},
		&cli.StringFlag{Name: "password", Usage: "registry password; also used for the Harbor API", EnvVars: plugin.EnvVars("password", "DOCKER_PASSWORD"), Destination: &s.Password},
		&cli.StringFlag{Name: "email", Usage: "ignored (docker login no longer uses it); a warning is printed", EnvVars: plugin.EnvVars("email", "DOCKER_EMAIL"), Destination: &s.Email},
		&cli.StringFlag{Name: "config", Usage: "docker config.json content; its auths entry for the registry is used when username is empty", EnvVars: plugin.EnvVars("config", "DOCKER_PLUGIN_CONFIG"), Destination: &s.Config},
		&cli.BoolFlag{Name: "insecure", Usage: "the registry speaks plain HTTP or has an untrusted certificate (the daemon must list it in insecure-registries unless it is on 127.0.0.0/8)", EnvVars: plugin.EnvVars("insecure"), Destination: &s.Insecure},
		&cli.StringFlag{Name: "mirror", Usage: "Docker Hub mirror: FROM images of Docker Hub are pulled through it before the build", EnvVars: plugin.EnvVars("mirror", "DOCKER_PLUGIN_MIRROR"), Destination: &s.Mirror},
		&cli.BoolFlag{Name: "dry_run", Usage: "build only, push nothing", EnvVars: plugin.EnvVars("dry_run"), Destination: &s.DryRun},
		&cli.BoolFlag{Name: "purge", Usage: "remove the tags this run created and dangling build parents when done", Value: true, EnvVars: plugin.EnvVars("purge"), Destination: &s.Purge},
		&cli.IntFlag{Name: "push_retries", Usage: "times a push failing with a transient error (5xx, connection reset) is repeated", Value: 3, EnvVars: plugin.EnvVars("push_retries"), Destination: &s.PushRetries},
		&cli.DurationFlag{Name: "push_backoff", Usage: "first wait before a failed push is repeated; it doubles, with jitter", Value: time.Second, EnvVars: plugin.EnvVars("push_backoff"), Destination: &s.PushBackoff},
		&cli.StringFlag{Name: "harbor_url", Usage: "Harbor base URL for the project and scan APIs (default https://<registry>)", EnvVars: plugin.EnvVars("harbor_url"), Destination: &s.HarborURL, Category: "Harbor"},
		&cli.BoolFlag{Name: "harbor_create_project", Usage: "create the Harbor project of repo when it is missing (needs a system robot or an admin)", EnvVars: plugin.EnvVars("harbor_create_project"), Destination: &s.HarborCreateProject, Category: "Harbor"},
		&cli.BoolFlag{Name: "harbor_scan", Usage: "scan the pushed image with Harbor and fail on findings at or above harbor_severity", EnvVars: plugin.EnvVars("harbor_scan"), Destination: &s.HarborScan, Category: "Harbor"},
		&cli.StringFlag{Name: "harbor_severity", Usage: "lowest severity that fails the build: none, low, medium, high or critical (none: report only)", Value: "critical", EnvVars: plugin.EnvVars("harbor_severity"), Destination: &s.HarborSeverity, Category: "Harbor"},
		&cli.DurationFlag{Name: "harbor_scan_timeout", Usage: "how long to wait for the scan", Value: 5 * time.Minute, EnvVars: plugin.EnvVars("harbor_scan_timeout"), Destination: &s.HarborScanTimeout, Category: "Harbor"},
		&cli.DurationFlag{Name: "harbor_scan_interval", Usage: "how often the scan status is read", Value: 2 * time.Second, EnvVars: plugin.EnvVars("harbor_scan_interval"), Destination: &s.HarborScanInterval, Category: "Harbor"},
	}, append(s.Remote.flags(), s.Session.flags()...)...)
}

// notes is notes.md: the plugin's name, title, description, tags, secret
// and required settings and example step (front matter), then DOCS.md's
// notes.
//
//go:embed notes.md
var notes string

func newApp(version string) plugin.App {
	s := &Settings{}
	return plugin.FromNotes(notes, version, s, s.flags())
}

// Validate checks the settings and returns the plan, the job Execute
// carries out.
func (s *Settings) Validate(env *plugin.Env) (plugin.Job, error) {
	if s.Email != "" {
		env.Log.Warn("PLUGIN_EMAIL is ignored: registries no longer use an e-mail address to log in")
	}
	p, err := buildPlan(s, env.Build, env.Lookup)
	if err != nil {
		return nil, err
	}
	for _, w := range p.Warnings {
		env.Log.Warn(w)
	}
	env.Redactor.Add(p.Auth.secrets()...)
	env.Redactor.Add(p.SessionPlan.secrets()...)
	env.Redactor.Add(s.Config)
	return p, nil
}

// Execute prints the plan and carries it out.
func (p *Plan) Execute(ctx context.Context, env *plugin.Env) error {
	p.Print(env.Report("plan"))
	if p.Remote != nil {
		return runRemote(ctx, env, p)
	}
	d, ping, err := connectDaemon(ctx, env)
	if err != nil {
		return err
	}
	defer d.Close()
	r := &runner{plan: p, env: env, daemon: d, ping: ping}
	return r.run(ctx)
}
