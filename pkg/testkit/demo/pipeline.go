package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/droneyaml"
)

// pipeline runs every step of scripts/demo/.drone.yml in order, as Drone
// would: a failed step turns the build status to failure, and later steps
// run only when their `when:` allows it.
func (r *run) pipeline(ctx context.Context, ready func() error) error {
	text, err := os.ReadFile(filepath.Join(r.opts.Root, "scripts", "demo", ".drone.yml"))
	if err != nil {
		return err
	}
	started := time.Now()
	vars := buildEnv(started, "success", nil)
	for k, v := range r.sandbox.vars() {
		vars[k] = v
	}
	ps, err := droneyaml.Parse(string(text), vars)
	if err != nil {
		return fmt.Errorf("scripts/demo/.drone.yml: %w", err)
	}
	var failed []string
	for _, p := range ps {
		for i, s := range p.Steps {
			status := "success"
			if len(failed) > 0 {
				status = "failure"
			}
			if !s.Runs(droneyaml.Build{Branch: "develop", Event: "push", Status: status}) {
				r.say("step %s: skipped by its when: conditions", s.Name)
				continue
			}
			if len(s.Commands) == 0 {
				if err := ready(); err != nil {
					return err
				}
			}
			env, err := stepEnv(s, i+1, buildEnv(started, status, failed), r.sandbox.secrets())
			if err != nil {
				return err
			}
			if err := r.step(ctx, s, env); err != nil {
				r.say("step %s FAILED: %v", s.Name, err)
				failed = append(failed, s.Name)
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed steps: %s", strings.Join(failed, ", "))
	}
	return nil
}

func (r *run) step(ctx context.Context, s droneyaml.Step, env map[string]string) error {
	own := &strings.Builder{}
	r.stepOut[s.Name] = own
	out := io.MultiWriter(indent{r.out}, &r.log, own)
	if len(s.Commands) > 0 {
		// No image can be pulled here: command steps (golang:1.26) run on
		// the host, in the workspace, with the step's environment.
		r.say("step %s (%s, run on the host): %s", s.Name, s.Image, strings.Join(s.Commands, " && "))
		for _, c := range s.Commands {
			cmd := exec.CommandContext(ctx, "sh", "-c", c)
			cmd.Dir = r.workspace
			cmd.Stdout, cmd.Stderr = out, out
			cmd.Env = os.Environ()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", c, err)
			}
		}
		return nil
	}
	r.say("step %s: docker run --network host %s", s.Name, s.Image)
	binds := map[string]string{r.workspace: "/drone/src"}
	for _, v := range s.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok {
			binds[src] = dst
		}
	}
	code, err := r.docker.run(ctx, spec{
		Name: "step-" + s.Name, Image: s.Image, Env: env, Network: "host",
		Binds: binds, WorkDir: "/drone/src",
	}, out)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit code %d", code)
	}
	return nil
}

// indent prefixes each write with two spaces, so step output stands apart.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(strings.TrimRight(string(p), "\n"), "\n", "\n    ")
	if _, err := io.WriteString(i.w, "    "+s+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}
