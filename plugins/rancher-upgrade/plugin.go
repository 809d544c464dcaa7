package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/setting"
	"github.com/urfave/cli/v2"
)

// Settings are the plugin's settings, filled by its flags.
type Settings struct {
	URL            string
	AccessKey      string
	SecretKey      string
	Token          string
	Environment    string
	Project        string
	Service        string
	Services       string
	Container      string
	DockerImage    string
	Sidekick       string
	BatchSize      int
	Interval       string
	StartFirst     bool
	Timeout        string
	Confirm        bool
	Rollback       bool
	FinishPrevious bool
	Labels         string
	PullImage      bool
	Traefik        Traefik
	API            string
	PollInterval   string
	RequestTimeout string
	Kube           KubeSettings
}

// job is the checked work Validate derives from the settings.
type job struct {
	*Settings
	apiVersion     string // v2-beta or v3
	endpoint       *url.URL
	projectV3      string
	token          string // v3 bearer token
	targets        []target
	image          string
	sidekicks      []sidekick
	labels         []label
	intervalMS     int64
	rolloutTimeout time.Duration
	poll           time.Duration
	reqTimeout     time.Duration
}

// target is one stack/service (v2-beta) or namespace/workload (v3).
type target struct{ Group, Name string }

func (t target) String() string { return t.Group + "/" + t.Name }

func (s *Settings) flags() []cli.Flag {
	return append(s.rancherFlags(), s.Kube.flags()...)
}

func (s *Settings) rancherFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "url", Usage: "Rancher API URL: http://rancher:8080/v2-beta/projects/1a5 (1.6) or https://rancher/v3 (2.x)", EnvVars: plugin.EnvVars("url", "RANCHER_URL"), Destination: &s.URL},
		&cli.StringFlag{Name: "access_key", Usage: "API access key", EnvVars: plugin.EnvVars("access_key", "RANCHER_ACCESS_KEY"), Destination: &s.AccessKey},
		&cli.StringFlag{Name: "secret_key", Usage: "API secret key", EnvVars: plugin.EnvVars("secret_key", "RANCHER_SECRET_KEY"), Destination: &s.SecretKey},
		&cli.StringFlag{Name: "token", Usage: "Rancher 2.x bearer token (token-xxxxx:secret); default access_key:secret_key", EnvVars: plugin.EnvVars("token", "RANCHER_TOKEN"), Destination: &s.Token},
		&cli.StringFlag{Name: "environment", Usage: "Rancher 1.6 environment name, when the url names no project", EnvVars: plugin.EnvVars("environment"), Destination: &s.Environment},
		&cli.StringFlag{Name: "project", Usage: "Rancher 2.x project id c-xxxxx:p-xxxxx, when the url names none", EnvVars: plugin.EnvVars("project"), Destination: &s.Project},
		&cli.StringFlag{Name: "service", Usage: "stack/service (1.6) or namespace/workload (2.x) to upgrade", EnvVars: plugin.EnvVars("service"), Destination: &s.Service},
		&cli.StringFlag{Name: "services", Usage: "several services, comma or newline separated, upgraded one after another", EnvVars: plugin.EnvVars("services"), Destination: &s.Services},
		&cli.StringFlag{Name: "container", Usage: "2.x: the container whose image changes (default: the only or first one)", EnvVars: plugin.EnvVars("container"), Destination: &s.Container},
		&cli.StringFlag{Name: "docker_image", Usage: "image to deploy (default: repo@digest from .lightship/docker-build.json)", EnvVars: plugin.EnvVars("docker_image"), Destination: &s.DockerImage},
		&cli.StringFlag{Name: "sidekick", Usage: "1.6 sidekick images: `name image` pairs, comma separated", EnvVars: plugin.EnvVars("sidekick"), Destination: &s.Sidekick},
		&cli.IntFlag{Name: "batch_size", Usage: "containers upgraded at a time", Value: 1, EnvVars: plugin.EnvVars("batch_size"), Destination: &s.BatchSize},
		&cli.StringFlag{Name: "interval_millis", Usage: "pause between batches: milliseconds or a duration (2s); alias interval", Value: "2000", EnvVars: plugin.EnvVars("interval_millis", "PLUGIN_INTERVAL"), Destination: &s.Interval},
		&cli.BoolFlag{Name: "start_first", Usage: "start new containers before stopping old ones (turned off, with a warning, for services with retainIp)", Value: true, EnvVars: plugin.EnvVars("start_first"), Destination: &s.StartFirst},
		&cli.StringFlag{Name: "timeout", Usage: "how long a rollout may take: seconds or a duration (10m)", Value: "5m", EnvVars: plugin.EnvVars("timeout"), Destination: &s.Timeout},
		&cli.BoolFlag{Name: "confirm", Usage: "finish the upgrade (finishupgrade) and wait for active; false leaves it upgraded", Value: true, EnvVars: plugin.EnvVars("confirm"), Destination: &s.Confirm},
		&cli.BoolFlag{Name: "rollback", Usage: "roll back when the upgrade fails or times out", Value: true, EnvVars: plugin.EnvVars("rollback"), Destination: &s.Rollback},
		&cli.BoolFlag{Name: "finish_previous", Usage: "finish an upgrade an earlier run left upgraded (roll back one left canceled) before upgrading", Value: true, EnvVars: plugin.EnvVars("finish_previous"), Destination: &s.FinishPrevious},
		&cli.StringFlag{Name: "labels", Usage: "labels merged into the launchConfig (2.x: pod template): JSON object or k=v list", EnvVars: plugin.EnvVars("labels"), Destination: &s.Labels},
		&cli.BoolFlag{Name: "pull_image", Usage: "always pull the image (io.rancher.container.pull_image=always; 2.x imagePullPolicy Always)", EnvVars: plugin.EnvVars("pull_image"), Destination: &s.PullImage},
		&cli.StringFlag{Name: "traefik_enable", Usage: "label traefik.enable: true, stack or false (rancher-traefik)", EnvVars: plugin.EnvVars("traefik_enable"), Destination: &s.Traefik.Enable},
		&cli.StringFlag{Name: "traefik_domain", Usage: "label traefik.domain: comma list of domains", EnvVars: plugin.EnvVars("traefik_domain"), Destination: &s.Traefik.Domain},
		&cli.StringFlag{Name: "traefik_alias", Usage: "label traefik.alias: comma list of host aliases", EnvVars: plugin.EnvVars("traefik_alias"), Destination: &s.Traefik.Alias},
		&cli.StringFlag{Name: "traefik_port", Usage: "label traefik.port: backend port (Traefik's default 80)", EnvVars: plugin.EnvVars("traefik_port"), Destination: &s.Traefik.Port},
		&cli.StringFlag{Name: "traefik_protocol", Usage: "label traefik.protocol: http or https", EnvVars: plugin.EnvVars("traefik_protocol"), Destination: &s.Traefik.Protocol},
		&cli.StringFlag{Name: "api", Usage: "auto, v2-beta, v3 or kubernetes (auto: kubernetes when a Kubernetes setting is given, else from the url)", Value: "auto", EnvVars: plugin.EnvVars("api"), Destination: &s.API},
		&cli.StringFlag{Name: "poll_interval", Usage: "how often the state is read while waiting: a duration, or milliseconds", Value: "1s", EnvVars: plugin.EnvVars("poll_interval"), Destination: &s.PollInterval},
		&cli.StringFlag{Name: "request_timeout", Usage: "timeout of one API request: a duration, or seconds", Value: "30s", EnvVars: plugin.EnvVars("request_timeout"), Destination: &s.RequestTimeout},
	}
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

// Validate checks the settings and derives the job.
func (s *Settings) Validate(env *plugin.Env) (plugin.Job, error) {
	if s.kubeMode() {
		kj, err := s.validateKube(env)
		if err != nil {
			return nil, err
		}
		return kj, nil
	}
	if s.URL == "" {
		return nil, plugin.Required("url")
	}
	u, err := url.Parse(strings.TrimSpace(s.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, plugin.Invalid("url", "%q must be an http(s) URL of the Rancher API", s.URL)
	}
	if u.User != nil {
		return nil, plugin.Invalid("url", "must not hold credentials: use access_key and secret_key")
	}
	u.RawQuery, u.Fragment = "", ""
	j := &job{Settings: s}
	switch s.API {
	case "", "auto":
		j.apiVersion = "v2-beta"
		if strings.HasPrefix(u.Path, "/v3") {
			j.apiVersion = "v3"
		}
	case "v2-beta", "v3":
		j.apiVersion = s.API
	default:
		return nil, plugin.Invalid("api", "%q must be auto, v2-beta, v3 or kubernetes", s.API)
	}
	if err := j.checkAPI(u, env); err != nil {
		return nil, err
	}
	if j.targets, err = parseTargets(s.Service, s.Services, j.apiVersion); err != nil {
		return nil, err
	}
	if err := j.checkTimings(); err != nil {
		return nil, err
	}
	if err := j.checkLabels(); err != nil {
		return nil, err
	}
	if err := j.resolveImage(env); err != nil {
		return nil, err
	}
	return j, nil
}

// checkTimings reads batch_size and the durations.
func (j *job) checkTimings() error {
	s := j.Settings
	if s.BatchSize < 1 {
		return plugin.Invalid("batch_size", "%d must be 1 or more", s.BatchSize)
	}
	interval, err := setting.Duration(s.Interval, time.Millisecond)
	if err != nil {
		return plugin.Invalid("interval_millis", "%q must be milliseconds or a duration such as 2s", s.Interval)
	}
	j.intervalMS = interval.Milliseconds()
	if j.rolloutTimeout, err = setting.Duration(s.Timeout, time.Second); err != nil || j.rolloutTimeout <= 0 {
		return plugin.Invalid("timeout", "%q must be seconds or a duration such as 10m", s.Timeout)
	}
	if j.poll, err = setting.Duration(s.PollInterval, time.Millisecond); err != nil || j.poll <= 0 {
		return plugin.Invalid("poll_interval", "%q must be a duration such as 1s", s.PollInterval)
	}
	if j.reqTimeout, err = setting.Duration(s.RequestTimeout, time.Second); err != nil || j.reqTimeout <= 0 {
		return plugin.Invalid("request_timeout", "%q must be a duration such as 30s", s.RequestTimeout)
	}
	return nil
}

// checkLabels reads labels, traefik_* and sidekick.
func (j *job) checkLabels() error {
	var err error
	if j.labels, err = j.Settings.buildLabels(j.apiVersion); err != nil {
		return err
	}
	if j.sidekicks, err = parseSidekicks(j.Sidekick); err != nil {
		return err
	}
	if j.apiVersion == "v3" {
		if len(j.sidekicks) > 0 {
			return plugin.Invalid("sidekick", "sidekicks exist only on Rancher 1.6 (v2-beta)")
		}
		if j.Traefik.any() {
			return plugin.Invalid("traefik_enable", "traefik_* labels are read by rancher-traefik on Rancher 1.6 (v2-beta) only")
		}
	}
	return nil
}

func (j *job) checkAPI(u *url.URL, env *plugin.Env) error {
	s := j.Settings
	if j.apiVersion == "v3" {
		root, project := splitV3(u)
		j.endpoint = root
		j.projectV3 = s.Project
		if j.projectV3 == "" {
			j.projectV3 = project
		}
		if j.projectV3 == "" {
			return plugin.Required("project")
		}
		cluster, proj, _ := strings.Cut(j.projectV3, ":")
		if (cluster != "local" && !strings.HasPrefix(cluster, "c-")) || !strings.HasPrefix(proj, "p-") {
			return plugin.Invalid("project", "%q must be a project id such as c-xxxxx:p-xxxxx", j.projectV3)
		}
		j.token = s.Token
		if j.token == "" {
			if s.AccessKey == "" || s.SecretKey == "" {
				return &plugin.SettingsError{Setting: plugin.EnvName("token"), Msg: "is required on Rancher 2.x (or access_key and secret_key)"}
			}
			j.token = s.AccessKey + ":" + s.SecretKey
			env.Redactor.Add(j.token)
		}
		if !strings.Contains(j.token, ":") {
			return plugin.Invalid("token", "must be access key and secret joined by ':' (token-xxxxx:secret)")
		}
		return nil
	}
	if s.AccessKey == "" {
		return plugin.Required("access_key")
	}
	if s.SecretKey == "" {
		return plugin.Required("secret_key")
	}
	// The Basic auth header carries both keys together.
	env.Redactor.Add(s.AccessKey + ":" + s.SecretKey)
	j.endpoint = normalizeV2(u)
	return nil
}

// normalizeV2 maps a URL to its v2-beta base the way go-rancher does: an
// empty path is /v2-beta, /v1... is /v2-beta...
func normalizeV2(u *url.URL) *url.URL {
	n := *u
	p := strings.TrimRight(n.Path, "/")
	switch {
	case p == "":
		p = "/v2-beta"
	case p == "/v1" || strings.HasPrefix(p, "/v1/"):
		p = "/v2-beta" + strings.TrimPrefix(p, "/v1")
	}
	n.Path = p
	return &n
}

// splitV3 returns the URL up to /v3 and the project id the URL names, if any.
func splitV3(u *url.URL) (*url.URL, string) {
	n := *u
	p := strings.TrimRight(n.Path, "/")
	project := ""
	if i := strings.Index(p, "/v3"); i >= 0 {
		rest := strings.Split(strings.Trim(p[i+3:], "/"), "/")
		if len(rest) >= 2 && (rest[0] == "project" || rest[0] == "projects") {
			project = rest[1]
		}
		p = p[:i+3]
	} else {
		p += "/v3"
	}
	n.Path = p
	return &n, project
}

func parseTargets(service, services, api string) ([]target, error) {
	what := "stack/service"
	if api == "v3" {
		what = "namespace/workload"
	}
	var out []target
	seen := map[string]bool{}
	for _, src := range []struct{ setting, value string }{{"service", service}, {"services", services}} {
		for _, item := range setting.List(src.value) {
			group, name, ok := strings.Cut(item, "/")
			if !ok || group == "" || name == "" || strings.Contains(name, "/") || strings.ContainsAny(item, " \t") {
				return nil, plugin.Invalid(src.setting, "%q must be %s", item, what)
			}
			if !seen[item] {
				seen[item] = true
				out = append(out, target{Group: group, Name: name})
			}
		}
	}
	if len(out) == 0 {
		return nil, plugin.Required("service")
	}
	return out, nil
}

// resolveImage fills the image to deploy: the setting, or repo@digest of
// what docker-build pushed (never a tag that may have moved).
func (j *job) resolveImage(env *plugin.Env) error {
	img := strings.TrimSpace(j.DockerImage)
	if img == "" {
		var b result.Build
		if err := env.ReadResult("docker-build", &b); err != nil {
			var foreign *result.ForeignError
			switch {
			case errors.Is(err, os.ErrNotExist):
				return plugin.Invalid("docker_image", "is required: no %s from a docker-build step", result.Path(env.Workspace, "docker-build"))
			case errors.As(err, &foreign):
				return plugin.Invalid("docker_image", "is unset, and %v. Set docker_image to the image to deploy to go on without this file", err)
			}
			return plugin.Invalid("docker_image", "is required: %v", err)
		}
		if b.Repo == "" || b.Digest == "" {
			return plugin.Invalid("docker_image", "is required: %s has no repo and digest", result.Path(env.Workspace, "docker-build"))
		}
		img = b.Repo + "@" + b.Digest
	}
	img = strings.TrimPrefix(img, "docker:")
	if strings.ContainsAny(img, " \t\n") || img == "" {
		return plugin.Invalid("docker_image", "%q is not an image reference", img)
	}
	j.image = img
	return nil
}

// Execute plans every service, prints the plan, then upgrades them one
// after another and reports.
func (j *job) Execute(ctx context.Context, env *plugin.Env) error {
	client, err := env.HTTP(httpx.Options{Timeout: j.reqTimeout})
	if err != nil {
		return err
	}
	var be backend
	if j.apiVersion == "v3" {
		be = newV3(j, env, client)
	} else {
		be = newV2(j, env, client)
	}
	start := time.Now()
	steps := make([]*step, 0, len(j.targets))
	for i, t := range j.targets {
		st, err := be.prepare(ctx, t)
		if err != nil {
			err = fmt.Errorf("%s: %w", t, err)
			j.reportUnplanned(env, i, err)
			return err
		}
		steps = append(steps, st)
	}
	if err := be.checkPlan(); err != nil {
		return err
	}
	printPlan(env, be.describe(), steps)

	var failed error
	outcomes := make([]Outcome, 0, len(steps))
	for _, st := range steps {
		if failed != nil {
			outcomes = append(outcomes, st.outcome(outcomeSkipped, "", nil, 0))
			continue
		}
		t0 := time.Now()
		o := st.run(ctx)
		o.Seconds = time.Since(t0).Seconds()
		if o.err != nil {
			failed = fmt.Errorf("%s: %w", st.Ref, o.err)
			o.Error = env.Redactor.Scrub(o.err.Error())
		}
		outcomes = append(outcomes, o)
	}
	return finish(env, Report{API: j.apiVersion, URL: j.endpoint.String(), Image: j.image, Services: outcomes, Seconds: time.Since(start).Seconds()}, failed)
}

// reportUnplanned writes the result file when planning failed at target i:
// nothing was changed; that target failed and the others were skipped.
func (j *job) reportUnplanned(env *plugin.Env, i int, err error) {
	rep := Report{API: j.apiVersion, URL: j.endpoint.String(), Image: j.image}
	for k, t := range j.targets {
		o := Outcome{Service: t.String(), NewImage: j.image, Outcome: outcomeSkipped}
		if k == i {
			o.Outcome, o.Error = outcomeFailed, env.Redactor.Scrub(err.Error())
		}
		rep.Services = append(rep.Services, o)
	}
	if werr := writeReport(env, rep); werr != nil {
		env.Log.Warn(werr.Error())
	}
}
