package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
)

// Plan is everything one run will do, computed from the settings and the
// build metadata before the daemon is contacted.
type Plan struct {
	// Repo is the repository without tag: harbor.company.com/registry/test.
	Repo string
	// Registry is the host credentials are for (docker.io for Docker Hub).
	Registry string
	// Tags are pushed in order; Refs are Repo:Tag.
	Tags []string
	Refs []string
	// Push is false for dry_run and for auto_tag refs that are not released;
	// NoPush says why.
	Push   bool
	NoPush string
	Build  BuildSpec
	// Mirror is the Docker Hub mirror host, and MirrorPulls what goes through it.
	Mirror      string
	MirrorPulls []MirrorPull
	Auth        Credentials
	Harbor      *HarborPlan
	Purge       bool
	PushRetries int
	// PushBackoff is the first wait before a push is repeated; it doubles.
	PushBackoff time.Duration
	// Insecure: the registry speaks HTTP or has an untrusted certificate.
	Insecure bool
	// Remote is set when the build runs on a remote buildkitd (buildkit_host).
	Remote *RemotePlan
	// Warnings are printed before anything runs.
	Warnings []string
	SessionPlan
}

// BuildSpec is the image build request.
type BuildSpec struct {
	ContextDir string
	// Dockerfile is the Dockerfile's path on disk.
	Dockerfile string
	BuildArgs  map[string]*string
	Labels     map[string]string
	Target     string
	NoCache    bool
	Pull       bool
	Squash     bool
	Platform   string
	ExtraHosts []string
	CacheFrom  []string
}

// MirrorPull is a FROM image fetched through the mirror and tagged under
// its own name.
type MirrorPull struct {
	Image string
	From  string
}

// Credentials for the registry; never printed.
type Credentials struct {
	Username string
	Password string
	// IdentityToken comes from a config.json entry.
	IdentityToken string
	// Source says where they came from: "username", "config" or "".
	Source string
}

// HarborPlan is the optional Harbor work.
type HarborPlan struct {
	URL           string
	Project       string
	Repository    string
	CreateProject bool
	Scan          bool
	Severity      string
	ScanTimeout   time.Duration
	// ScanInterval is how often the scan status is read.
	ScanInterval time.Duration
}

// lookupFunc reads the environment (build_args_from_env).
type lookupFunc func(string) (string, bool)

func severities() []string {
	return []string{"none", "low", "medium", "high", "critical"}
}

// buildPlan validates the settings against the build metadata and returns
// the plan. Every error is a *plugin.SettingsError naming the setting.
func buildPlan(s *Settings, meta drone.Metadata, lookup lookupFunc) (*Plan, error) {
	p := &Plan{Purge: s.Purge, PushRetries: s.PushRetries, PushBackoff: s.PushBackoff, Insecure: s.Insecure}
	if s.Repo == "" {
		return nil, plugin.Required("repo")
	}
	named, err := reference.ParseNormalizedNamed(s.Repo)
	if err != nil {
		return nil, plugin.Invalid("repo", "%q is not an image repository: %v", s.Repo, err)
	}
	if _, ok := named.(reference.NamedTagged); ok {
		return nil, plugin.Invalid("repo", "%q carries a tag: set tags instead", s.Repo)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, plugin.Invalid("repo", "%q carries a digest", s.Repo)
	}
	p.Repo = strings.TrimSuffix(s.Repo, "/")
	p.Registry = reference.Domain(named)
	if s.Registry != "" {
		host, err := registryHost(s.Registry)
		if err != nil {
			return nil, plugin.Invalid("registry", "%v", err)
		}
		if d := reference.Domain(named); host != d {
			p.Warnings = append(p.Warnings, fmt.Sprintf("PLUGIN_REGISTRY %s differs from the host of PLUGIN_REPO (%s): the image is pushed to %s with the credentials of %s", host, d, d, host))
		}
		p.Registry = host
	}
	if p.PushBackoff <= 0 {
		return nil, plugin.Invalid("push_backoff", "%s must be positive", p.PushBackoff)
	}
	if p.PushRetries < 0 {
		return nil, plugin.Invalid("push_retries", "%d must be 0 or more", p.PushRetries)
	}

	if err := planBuild(p, s, meta, lookup); err != nil {
		return nil, err
	}
	if err := planTags(p, s, meta); err != nil {
		return nil, err
	}
	if err := planAuth(p, s); err != nil {
		return nil, err
	}
	if err := planSession(p, s, lookup); err != nil {
		return nil, err
	}
	if s.Mirror != "" {
		if err := planMirror(p, s.Mirror); err != nil {
			return nil, err
		}
	}
	if err := planHarbor(p, s, named); err != nil {
		return nil, err
	}
	if err := planRemote(p, s); err != nil {
		return nil, err
	}
	return p, nil
}

// registryHost accepts host[:port], a URL or a path below a host, and
// returns host[:port] (docker.io for Docker Hub's aliases).
func registryHost(v string) (string, error) {
	h := strings.TrimSpace(v)
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	h, _, _ = strings.Cut(h, "/")
	if h == "" || strings.ContainsAny(h, " \t@") {
		return "", fmt.Errorf("%q is not a registry host or URL", v)
	}
	if h == "index.docker.io" || h == "registry-1.docker.io" {
		h = "docker.io"
	}
	return h, nil
}

func planTags(p *Plan, s *Settings, meta drone.Metadata) error {
	var tags []string
	p.Push = true
	if s.AutoTag {
		auto, push, why, err := autoTags(meta, s.AutoTagSuffix)
		if err != nil {
			return plugin.Invalid("auto_tag", "%v", err)
		}
		tags, p.Push, p.NoPush = auto, push, why
		if !push {
			// Built untagged: on a shared daemon a local tag could clobber
			// another build's.
			p.Tags, p.Refs = []string{}, nil
			return nil
		}
	} else {
		tags = setting.Lists(s.Tags.Value())
		// As plugins/docker (urfave/cli's FilePath): the tags file is read
		// only when the tags setting is unset (auto_tag, above, wins over
		// both).
		if len(tags) == 0 {
			fileTags, err := readTagsFile("", s.TagsFile)
			if err != nil {
				return plugin.Invalid("tags_file", "%v", err)
			}
			tags = fileTags
		}
	}
	if len(tags) == 0 {
		tags = []string{"latest"}
	}
	tags = uniq(tags)
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			setting := "tags"
			if s.AutoTag {
				setting = "auto_tag"
			}
			return plugin.Invalid(setting, "%v", err)
		}
	}
	p.Tags = tags
	for _, t := range tags {
		p.Refs = append(p.Refs, p.Repo+":"+t)
	}
	if s.DryRun {
		p.Push, p.NoPush = false, "dry_run: built, not pushed"
	}
	return nil
}

// planBuild checks the build settings (context, dockerfile, build_args,
// labels, add_host, platform, in that order) and fills p.Build.
func planBuild(p *Plan, s *Settings, meta drone.Metadata, lookup lookupFunc) error {
	b := &p.Build
	ctxDir, err := filepath.Abs(s.Context)
	if err != nil {
		return plugin.Invalid("context", "%v", err)
	}
	if st, err := os.Stat(ctxDir); err != nil || !st.IsDir() {
		return plugin.Invalid("context", "%q is not a directory", s.Context)
	}
	b.ContextDir = ctxDir
	if b.Dockerfile, err = dockerfilePath(s.Dockerfile, ctxDir); err != nil {
		return err
	}
	if b.BuildArgs, err = buildArgs(s, lookup); err != nil {
		return err
	}
	if b.Labels, err = buildLabels(s, meta); err != nil {
		return err
	}
	if b.ExtraHosts, err = extraHosts(s.AddHost.Value()); err != nil {
		return err
	}
	if s.Platform != "" && !strings.Contains(s.Platform, "/") {
		return plugin.Invalid("platform", "%q must be os/arch[/variant], e.g. linux/amd64", s.Platform)
	}
	b.Target, b.NoCache, b.Squash, b.Platform = s.Target, s.NoCache, s.Squash, s.Platform
	b.Pull = s.PullImage && s.Mirror == ""
	b.CacheFrom = s.CacheFrom.Value()
	return nil
}

// dockerfilePath returns the dockerfile setting's file as an absolute path
// (default "Dockerfile"). As plugins/docker, a relative path is resolved
// from the working directory; "Dockerfile" in a sub-context falls back to
// the context.
func dockerfilePath(dockerfile, ctxDir string) (string, error) {
	df := dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		if _, err := os.Stat(df); err != nil {
			if alt := filepath.Join(ctxDir, df); fileExists(alt) {
				df = alt
			}
		}
		var err error
		if df, err = filepath.Abs(df); err != nil {
			return "", plugin.Invalid("dockerfile", "%v", err)
		}
	}
	if !fileExists(df) {
		return "", plugin.Invalid("dockerfile", "%q not found", dockerfile)
	}
	return df, nil
}

// buildArgs returns build_args, then the build_args_from_env variables that
// are set (they win).
func buildArgs(s *Settings, lookup lookupFunc) (map[string]*string, error) {
	out := map[string]*string{}
	args, err := keyValues("build_args", s.BuildArgs.Value())
	if err != nil {
		return nil, err
	}
	for k, v := range args {
		out[k] = &v
	}
	for _, name := range s.ArgsFromEnv.Value() {
		for _, n := range setting.List(name) {
			if v, ok := lookup(n); ok {
				out[n] = &v
			}
		}
	}
	return out, nil
}

// buildLabels returns the auto_label labels, then the labels setting's
// (they win).
func buildLabels(s *Settings, meta drone.Metadata) (map[string]string, error) {
	out := map[string]string{}
	if s.AutoLabel {
		for k, v := range autoLabels(meta) {
			out[k] = v
		}
	}
	labels, err := keyValues("labels", s.Labels.Value())
	if err != nil {
		return nil, err
	}
	for k, v := range labels {
		out[k] = v
	}
	return out, nil
}

// extraHosts checks add_host's host:ip entries.
func extraHosts(entries []string) ([]string, error) {
	var out []string
	for _, h := range entries {
		host, ip, ok := strings.Cut(h, ":")
		if !ok || host == "" || ip == "" {
			return nil, plugin.Invalid("add_host", "%q must be host:ip", h)
		}
		out = append(out, h)
	}
	return out, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// keyValues reads a map setting (pkg/setting's rule). Drone joins YAML
// lists with commas and urfave/cli splits them again: the items are joined
// back first.
func keyValues(name string, items []string) (map[string]string, error) {
	m, err := setting.MapOf(strings.Join(items, ","))
	if err != nil {
		return nil, plugin.Invalid(name, "%v", err)
	}
	return m, nil
}

// autoLabels are the OCI annotations plugins/docker sets from the build.
func autoLabels(m drone.Metadata) map[string]string {
	l := map[string]string{}
	created := m.Build.Started
	if created.IsZero() {
		created = m.Build.Created
	}
	if created.IsZero() {
		created = time.Now()
	}
	l["org.opencontainers.image.created"] = created.UTC().Format(time.RFC3339)
	if m.Commit.SHA != "" {
		l["org.opencontainers.image.revision"] = m.Commit.SHA
	}
	if m.Repo.CloneURL != "" {
		l["org.opencontainers.image.source"] = m.Repo.CloneURL
	}
	if m.Repo.Link != "" {
		l["org.opencontainers.image.url"] = m.Repo.Link
	}
	return l
}

func planMirror(p *Plan, mirror string) error {
	host, err := registryHost(mirror)
	if err != nil {
		return plugin.Invalid("mirror", "%v", err)
	}
	p.Mirror = host
	df, err := os.ReadFile(p.Build.Dockerfile)
	if err != nil {
		return plugin.Invalid("dockerfile", "%v", err)
	}
	images, err := baseImages(string(df), p.Build.BuildArgs)
	if err != nil {
		return plugin.Invalid("dockerfile", "%v", err)
	}
	for _, img := range images {
		from, ok, err := mirrorRef(img, host)
		if err != nil {
			return plugin.Invalid("dockerfile", "%v", err)
		}
		if ok {
			p.MirrorPulls = append(p.MirrorPulls, MirrorPull{Image: img, From: from})
		}
	}
	return nil
}

func planHarbor(p *Plan, s *Settings, named reference.Named) error {
	if s.HarborURL == "" && !s.HarborCreateProject && !s.HarborScan {
		return nil
	}
	sev := strings.ToLower(s.HarborSeverity)
	if sev == "" {
		sev = "critical"
	}
	if !contains(severities(), sev) {
		return plugin.Invalid("harbor_severity", "%q must be one of %s", s.HarborSeverity, strings.Join(severities(), ", "))
	}
	if s.HarborScanInterval <= 0 {
		return plugin.Invalid("harbor_scan_interval", "%s must be positive", s.HarborScanInterval)
	}
	if s.HarborScanTimeout <= 0 {
		return plugin.Invalid("harbor_scan_timeout", "%s must be positive", s.HarborScanTimeout)
	}
	base := s.HarborURL
	if base == "" {
		base = "https://" + p.Registry
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return plugin.Invalid("harbor_url", "%q must be an http(s) URL", base)
	}
	path := reference.Path(named)
	project, repo, ok := strings.Cut(path, "/")
	if !ok {
		return plugin.Invalid("repo", "%q has no Harbor project: Harbor repositories are <host>/<project>/<name>", s.Repo)
	}
	p.Harbor = &HarborPlan{
		URL: strings.TrimSuffix(base, "/"), Project: project, Repository: repo,
		CreateProject: s.HarborCreateProject, Scan: s.HarborScan, Severity: sev, ScanTimeout: s.HarborScanTimeout, ScanInterval: s.HarborScanInterval,
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Print writes the plan for the log.
func (p *Plan) Print(w io.Writer) {
	fmt.Fprintf(w, "plan: build %s (context %s, dockerfile %s)\n", p.Repo, p.Build.ContextDir, p.Build.Dockerfile)
	for _, m := range p.MirrorPulls {
		fmt.Fprintf(w, "plan: pull %s through mirror %s as %s\n", m.From, p.Mirror, m.Image)
	}
	if len(p.Build.BuildArgs) > 0 {
		fmt.Fprintf(w, "plan: build args %s\n", strings.Join(sortedKeys(p.Build.BuildArgs), ", "))
	}
	for _, k := range sortedKeys(p.Build.Labels) {
		fmt.Fprintf(w, "plan: label %s=%s\n", k, p.Build.Labels[k])
	}
	if p.Push {
		auth := "anonymous"
		if p.Auth.Source != "" {
			auth = "credentials from " + p.Auth.Source
		}
		fmt.Fprintf(w, "plan: push to %s (%s): %s\n", p.Registry, auth, strings.Join(p.Refs, ", "))
	} else {
		fmt.Fprintf(w, "plan: no push: %s\n", p.NoPush)
	}
	if h := p.Harbor; h != nil {
		fmt.Fprintf(w, "plan: harbor %s project %s (create if missing: %t), scan: %t", h.URL, h.Project, h.CreateProject, h.Scan)
		if h.Scan {
			fmt.Fprintf(w, " (fail at %s, wait %s)", h.Severity, h.ScanTimeout)
		}
		fmt.Fprintln(w)
	}
	if p.Purge {
		fmt.Fprintln(w, "plan: purge the local tags afterwards")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
