package demo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
)

// What the sample app's Dockerfile promises, as BuildKit prints it.
const (
	cacheMountID     = "demo-web-assets"
	cacheMountTarget = "/var/cache/assets"
	assetsFetched    = "assets: fetched"
	assetsReused     = "assets: reused from the build cache"
	buildStepName    = "build_step"
	copyAppVertex    = "COPY web /web"
	secretMountArg   = "--mount=type=secret"
	cacheMountArg    = "--mount=type=cache"
)

// vertex is one step of BuildKit's plain progress output (#N ...).
type vertex struct {
	n      int
	name   string
	lines  []string
	status string // DONE, CACHED, ERROR or "" (never ended)
}

// parseProgress reads BuildKit's plain progress lines out of a step's output.
func parseProgress(out string) []*vertex {
	progressLine := regexp.MustCompile(`^#(\d+) (.*)$`)
	byN := map[int]*vertex{}
	var order []*vertex
	for _, line := range strings.Split(out, "\n") {
		m := progressLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		v := byN[n]
		if v == nil {
			v = &vertex{n: n, name: m[2]}
			byN[n] = v
			order = append(order, v)
			continue
		}
		switch text := m[2]; {
		case text == "CACHED":
			v.status = "CACHED"
		case strings.HasPrefix(text, "DONE"):
			v.status = "DONE"
		case strings.HasPrefix(text, "ERROR"):
			v.status = "ERROR"
		case text == "..." || text == v.name:
			// BuildKit interleaves vertices: "#7 ..." leaves one, its name resumes it.
		default:
			v.lines = append(v.lines, text)
		}
	}
	return order
}

// find returns the first vertex whose name contains s.
func find(vs []*vertex, s string) *vertex {
	for _, v := range vs {
		if strings.Contains(v.name, s) {
			return v
		}
	}
	return nil
}

// cacheMountRecord returns the daemon's build cache record of the sample
// app's cache mount, if it has one.
func (r *run) cacheMountRecord(ctx context.Context) (*build.CacheRecord, error) {
	du, err := r.docker.cli.DiskUsage(ctx, types.DiskUsageOptions{Types: []types.DiskUsageObject{types.BuildCacheObject}})
	if err != nil {
		return nil, fmt.Errorf("daemon build cache: %w", err)
	}
	for _, c := range du.BuildCache {
		// BuildKit describes it by target and command, not by id.
		if c.Type == "exec.cachemount" && strings.HasPrefix(c.Description, "cached mount "+cacheMountTarget+" from exec") &&
			strings.Contains(c.Description, assetsReused) {
			return c, nil
		}
	}
	return nil, nil
}

// reportBuildKit prints the build step's BuildKit steps and fails unless
// they show what the Dockerfile promises: every step DONE or CACHED, the
// cache mount used (and, when this daemon built the app before, its
// content reused and the app's layer CACHED), the secret step run.
func (r *run) reportBuildKit(ctx context.Context) error {
	out := r.stepOut[buildStepName]
	if out == nil {
		return errors.New("buildkit: the build step did not run")
	}
	vs := parseProgress(out.String())
	var done, cached []string
	var errs []error
	for _, v := range vs {
		switch v.status {
		case "DONE":
			done = append(done, fmt.Sprintf("#%d", v.n))
		case "CACHED":
			cached = append(cached, fmt.Sprintf("#%d %s", v.n, v.name))
		default:
			errs = append(errs, fmt.Errorf("buildkit: step #%d %s ended %q, not DONE or CACHED", v.n, v.name, v.status))
		}
	}
	fmt.Fprintf(r.out, "\n[BuildKit] %d steps in the build step's progress: %d DONE, %d CACHED\n", len(vs), len(done), len(cached))
	for _, c := range cached {
		fmt.Fprintf(r.out, "  CACHED %s\n", c)
	}
	if len(vs) == 0 || len(done) == 0 {
		return errors.New("buildkit: no BuildKit progress (#N ... DONE) in the build step's output: the classic builder ran")
	}
	errs = append(errs, r.checkCacheMount(ctx, vs), r.checkSecretStep(vs))
	return errors.Join(errs...)
}

func (r *run) checkCacheMount(ctx context.Context, vs []*vertex) error {
	v := find(vs, cacheMountArg)
	if v == nil {
		return errors.New("buildkit: no RUN --mount=type=cache step in the progress")
	}
	said := ""
	for _, l := range v.lines {
		if strings.Contains(l, assetsReused) {
			said = assetsReused
		} else if strings.Contains(l, assetsFetched) && said == "" {
			said = assetsFetched
		}
	}
	rec, err := r.cacheMountRecord(ctx)
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("buildkit: the daemon's build cache holds no cache mount %s after the build", cacheMountID)
	}
	fmt.Fprintf(r.out, "  cache mount %s: %q; the daemon's build cache holds it (%d bytes, used %d times)\n",
		cacheMountID, said, rec.Size, rec.UsageCount)
	if said == "" {
		return fmt.Errorf("buildkit: the cache-mount step printed neither %q nor %q", assetsFetched, assetsReused)
	}
	if !r.warmCache {
		fmt.Fprintln(r.out, "  (the app's first BuildKit build on this daemon: nothing to reuse yet; the next run shows CACHED and reuse)")
		return nil
	}
	var errs []error
	if said != assetsReused {
		errs = append(errs, fmt.Errorf("buildkit: the cache mount existed before the build, yet the step said %q", said))
	}
	// FROM or COPY web /web (when the app did not change) comes from the cache.
	cached := false
	for _, v := range vs {
		cached = cached || (v.status == "CACHED" && strings.HasPrefix(v.name, "[stage-"))
	}
	if !cached {
		errs = append(errs, errors.New("buildkit: this daemon built the app before, yet no Dockerfile step is CACHED"))
	}
	return errors.Join(errs...)
}

func (r *run) checkSecretStep(vs []*vertex) error {
	v := find(vs, secretMountArg)
	if v == nil {
		return errors.New("buildkit: no RUN --mount=type=secret step in the progress")
	}
	if v.status != "DONE" {
		return fmt.Errorf("buildkit: the secret step is %s: a rotated secret must re-run it", v.status)
	}
	return nil
}
