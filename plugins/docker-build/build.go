package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/build"
)

// build sends the context to the daemon, on BuildKit or the classic
// builder, streams its output, and records the image id; an in-band error
// fails the run.
func (r *runner) build(ctx context.Context) error {
	b := r.plan.Build
	opts := build.ImageBuildOptions{
		Tags:        r.plan.Refs,
		BuildArgs:   b.BuildArgs,
		Labels:      b.Labels,
		Target:      b.Target,
		NoCache:     b.NoCache,
		PullParent:  b.Pull,
		Squash:      b.Squash,
		Platform:    b.Platform,
		ExtraHosts:  b.ExtraHosts,
		CacheFrom:   b.CacheFrom,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	if len(r.plan.Refs) > 0 {
		r.env.Log.Infof("build %s", strings.Join(r.plan.Refs, ", "))
	} else {
		r.env.Log.Infof("build %s (untagged)", r.plan.Repo)
	}
	var id string
	var err error
	if r.buildKit {
		id, err = r.buildWithBuildKit(ctx, opts)
	} else {
		id, err = r.buildClassic(ctx, opts)
	}
	if err != nil {
		return err
	}
	if id == "" && len(r.plan.Refs) > 0 {
		// Older daemons print only "Successfully built"; ask for the tag.
		insp, err := r.daemon.ImageInspect(ctx, r.plan.Refs[0])
		if err != nil {
			return fmt.Errorf("build: no image id reported: %w", err)
		}
		id = insp.ID
	}
	if id == "" {
		return fmt.Errorf("build: the daemon reported no image id")
	}
	r.imageID = id
	r.tagged = append(r.tagged, r.plan.Refs...)
	r.env.Log.Infof("built %s", r.imageID)
	return nil
}

// buildClassic runs the classic builder on the context tar; registry
// logins travel as X-Registry-Config for private FROM images.
func (r *runner) buildClassic(ctx context.Context, opts build.ImageBuildOptions) (string, error) {
	bc, err := tarContext(r.plan.Build.ContextDir, r.plan.Build.Dockerfile)
	if err != nil {
		return "", err
	}
	defer bc.Tar.Close()
	opts.Dockerfile = bc.Dockerfile
	opts.AuthConfigs = r.plan.authConfigs()
	resp, err := r.daemon.ImageBuild(ctx, bc.Tar, opts)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer resp.Body.Close()
	res, err := readStream(resp.Body, io.MultiWriter(r.daemonOutput(), &r.steps))
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return res.ImageID, nil
}

// stepImages collects, from the classic builder's output, the image id
// each step created (" ---> 1a2b3c4d5e6f"), skipping cache hits and the
// base image a FROM step names.
type stepImages struct {
	ids     []string
	skip    bool // the next id is a cache hit or a base image
	partial []byte
}

var fromStepLine = regexp.MustCompile(`(?i)^Step \d+/\d+ : FROM\s`)

var stepImageLine = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)

func (s *stepImages) Write(b []byte) (int, error) {
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimRight(string(s.partial[:i]), "\r")
		s.partial = s.partial[i+1:]
		switch {
		case line == " ---> Using cache":
			s.skip = true
		case strings.HasPrefix(line, "Step "):
			s.skip = fromStepLine.MatchString(line)
		default:
			if m := stepImageLine.FindStringSubmatch(line); m != nil {
				if !s.skip {
					s.ids = append(s.ids, m[1])
				}
				s.skip = false
			}
		}
	}
}
