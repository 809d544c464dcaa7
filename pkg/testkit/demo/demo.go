// Package demo runs the seed's pipeline end to end on one machine: a sandbox
// of simulators (a real registry behind a Harbor API simulator, Rancher
// v2-beta, WeCom, a Logstash-style JSON sink and a lumberjack sink), then
// every step of scripts/demo/.drone.yml as Drone would run it, with
// `docker run --network host` and the environment Drone would give it.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/testkit/droneyaml"
)

// Options configure a demo run.
type Options struct {
	// Root is the repository root (scripts/demo lives under it).
	Root string
	// Out receives the story of the run.
	Out io.Writer
}

// Run runs the demo and returns the first failure.
func Run(ctx context.Context, o Options) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("no Docker daemon answers (run scripts/ensure-docker): %w", err)
	}
	r := &run{opts: o, out: o.Out, docker: &docker{cli: cli, runID: randomHex(4)}, creds: newCredentials(), stepOut: map[string]*strings.Builder{}, began: time.Now()}
	defer r.docker.cleanup(context.WithoutCancel(ctx))
	return r.all(ctx)
}

// run is the state of one demo run.
type run struct {
	opts      Options
	out       io.Writer
	docker    *docker
	creds     credentials
	sandbox   *sandbox
	workspace string
	app       *deployment
	// began is when the run started.
	began time.Time
	// log collects every step's output, to check that no secret leaked.
	log strings.Builder
	// logspoutID is logspout-route's container.
	logspoutID string
	// warmCache: the daemon's build cache held the app's cache mount
	// before the build (it built the app before), so BuildKit must reuse.
	warmCache bool
	// stepOut is each step's own output, by step name.
	stepOut map[string]*strings.Builder
}

func (r *run) all(ctx context.Context) error {
	if err := r.checkImages(ctx); err != nil {
		return err
	}
	r.app = &deployment{docker: r.docker, creds: r.creds}
	sb, err := startSandbox(ctx, r.creds, r.app.onUpgrade(ctx))
	if err != nil {
		return err
	}
	r.sandbox = sb
	defer sb.close()
	r.app.registry = sb.harbor.Host
	r.say("sandbox: registry+harbor %s, rancher %s, kubernetes %s, wecom %s, json sink %s, lumberjack sink %s",
		sb.harbor.URL, sb.rancher.URL(), sb.kube.URL(), sb.wecom.URL, sb.json.Addr(), sb.beats.Addr())
	r.say("kubernetes: deployment %s/%s (%d replicas) runs %s",
		kubeNamespace, kubeDeployment, kubeReplicas, sb.harbor.Host+"/demo/web:8c1d0e2a")
	ws, err := r.prepareWorkspace()
	if err != nil {
		return err
	}
	r.workspace = ws
	defer os.RemoveAll(ws)

	// The base image, logspout-route and the build-cache probe get ready
	// while the host compiles the app (the pipeline's first step).
	ready := r.background(ctx)
	stepErr := r.pipeline(ctx, ready)
	if err := ready(); err != nil {
		return errors.Join(stepErr, err)
	}
	reportErr := r.report(ctx)
	return errors.Join(stepErr, reportErr, r.checkNoSecrets())
}

// background starts what the plugin steps need and returns the wait for it.
func (r *run) background(ctx context.Context) func() error {
	errs := make(chan error, 3)
	go func() {
		base, err := r.pushBase(ctx)
		if err == nil {
			r.say("base image: %s pushed as %s (private: pulling it takes credentials)", base, r.creds.AdminUser)
		}
		errs <- err
	}()
	go func() { errs <- r.startLogspout(ctx) }()
	go func() {
		rec, err := r.cacheMountRecord(ctx)
		r.warmCache = rec != nil
		errs <- err
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = errors.Join(<-errs, <-errs, <-errs) })
		return err
	}
}

func (r *run) checkImages(ctx context.Context) error {
	for _, p := range []string{"docker-build", "rancher-upgrade", "wechat-notify", "logspout-route"} {
		if _, err := r.docker.cli.ImageInspect(ctx, "lightship/"+p+":latest"); err != nil {
			return fmt.Errorf("image lightship/%s:latest missing (make images): %w", p, err)
		}
	}
	return nil
}

// prepareWorkspace copies the sample app into a fresh workspace, as Drone's
// clone step would.
func (r *run) prepareWorkspace() (string, error) {
	ws, err := os.MkdirTemp("", "lightship-demo-ws-")
	if err != nil {
		return "", err
	}
	src := filepath.Join(r.opts.Root, "scripts", "demo", "app")
	if err := os.CopyFS(ws, os.DirFS(src)); err != nil {
		os.RemoveAll(ws)
		return "", fmt.Errorf("copy sample app: %w", err)
	}
	return ws, nil
}

// say prints one line of the story with the time since the run started.
func (r *run) say(format string, args ...any) {
	fmt.Fprintf(r.out, "==> [%4.1fs] "+format+"\n", append([]any{time.Since(r.began).Seconds()}, args...)...)
}

func newCredentials() credentials {
	return credentials{
		RobotUser: "robot$demo+ci", RobotPassword: "Rp-" + randomHex(12),
		AdminUser: "platform-admin", AdminPassword: "Ap-" + randomHex(12),
		KubeToken: "kt-" + randomHex(16), AssetsToken: "at-" + randomHex(16),
		AccessKey: "AK" + strings.ToUpper(randomHex(8)), SecretKey: "sk-" + randomHex(16),
		CorpID: "ww" + randomHex(8), CorpSecret: "cs-" + randomHex(16), AgentID: 1000002,
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return cond()
}

// buildEnv is the DRONE_* metadata of the demo build (a push to develop),
// started at started: every step of one build sees the same start time.
func buildEnv(started time.Time, status string, failed []string) map[string]string {
	now := fmt.Sprint(started.Unix())
	return map[string]string{
		"CI": "true", "DRONE": "true",
		"DRONE_SYSTEM_PROTO": "https", "DRONE_SYSTEM_HOST": "drone.company.com", "DRONE_SYSTEM_HOSTNAME": "drone.company.com",
		"DRONE_REPO": "company/test", "DRONE_REPO_OWNER": "company", "DRONE_REPO_NAME": "test",
		"DRONE_REPO_LINK": "https://github.com/company/test", "DRONE_REPO_BRANCH": "master",
		"DRONE_BRANCH": "develop", "DRONE_COMMIT_BRANCH": "develop", "DRONE_SOURCE_BRANCH": "develop", "DRONE_TARGET_BRANCH": "develop",
		"DRONE_COMMIT": "9f2c1e7ab4d35c60e8f1a2b3c4d5e6f708192a3b", "DRONE_COMMIT_SHA": "9f2c1e7ab4d35c60e8f1a2b3c4d5e6f708192a3b",
		"DRONE_COMMIT_REF": "refs/heads/develop", "DRONE_COMMIT_MESSAGE": "首页加载提速 (cache the index page)",
		"DRONE_COMMIT_AUTHOR": "xiaoming", "DRONE_COMMIT_AUTHOR_NAME": "Xiao Ming", "DRONE_COMMIT_AUTHOR_EMAIL": "xiaoming@company.com",
		"DRONE_COMMIT_LINK":  "https://github.com/company/test/commit/9f2c1e7",
		"DRONE_BUILD_NUMBER": "42", "DRONE_BUILD_EVENT": "push", "DRONE_BUILD_STATUS": status,
		"DRONE_BUILD_LINK":    "https://drone.company.com/company/test/42",
		"DRONE_BUILD_CREATED": now, "DRONE_BUILD_STARTED": now,
		"DRONE_STAGE_NAME": "default", "DRONE_STAGE_STATUS": status, "DRONE_FAILED_STEPS": strings.Join(failed, ","),
		"DRONE_WORKSPACE": "/drone/src",
	}
}

// stepEnv is the whole environment of one step, as Drone would set it.
func stepEnv(s droneyaml.Step, number int, build map[string]string, secrets map[string]string) (map[string]string, error) {
	env, err := s.Env(build, secrets)
	if err != nil {
		return nil, err
	}
	env["DRONE_STEP_NAME"] = s.Name
	env["DRONE_STEP_NUMBER"] = fmt.Sprint(number)
	return env, nil
}
