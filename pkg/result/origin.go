package result

import (
	"fmt"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/drone"
)

// Origin is the build that wrote a result file: the repository, build
// number, commit and, where the CI gives it, the pipeline's start time
// (DRONE_BUILD_STARTED, CI_PIPELINE_STARTED).
type Origin struct {
	Repo    string    `json:"repo"`
	Build   int       `json:"build"`
	Commit  string    `json:"commit"`
	Started time.Time `json:"started,omitzero"`
}

// OriginOf is the Origin of the build m describes.
func OriginOf(m drone.Metadata) Origin {
	o := Origin{Repo: m.Repo.Slug, Build: m.Build.Number, Commit: m.Commit.SHA}
	if !m.Build.Started.IsZero() {
		o.Started = m.Build.Started.UTC()
	}
	return o
}

// IsZero reports whether o holds no build metadata at all (a plain docker
// run, outside any CI).
func (o Origin) IsZero() bool {
	return o.Repo == "" && o.Build == 0 && o.Commit == "" && o.Started.IsZero()
}

// String describes o: "build 42 of acme/web at commit 0123456789ab, started 2026-12-07T09:00:00Z".
func (o Origin) String() string {
	if o.IsZero() {
		return "no build (no CI metadata)"
	}
	var parts []string
	switch {
	case o.Build != 0 && o.Repo != "":
		parts = append(parts, fmt.Sprintf("build %d of %s", o.Build, o.Repo))
	case o.Build != 0:
		parts = append(parts, fmt.Sprintf("build %d", o.Build))
	case o.Repo != "":
		parts = append(parts, "a build of "+o.Repo)
	default:
		parts = append(parts, "a build")
	}
	if o.Commit != "" {
		parts = append(parts, "at commit "+o.Commit)
	}
	s := strings.Join(parts, " ")
	if !o.Started.IsZero() {
		s += ", started " + o.Started.UTC().Format(time.RFC3339)
	}
	return s
}

// differs names the first field of the current build's record that the
// file's record contradicts, or "" when it matches. A field the current
// build does not know is not compared; the start time only when both have it.
func (o Origin) differs(current Origin) string {
	switch {
	case current.Repo != "" && o.Repo != current.Repo:
		return "repository"
	case current.Build != 0 && o.Build != current.Build:
		return "build number"
	case current.Commit != "" && o.Commit != current.Commit:
		return "commit"
	case !current.Started.IsZero() && !o.Started.IsZero() && !o.Started.Equal(current.Started):
		return "pipeline start time"
	}
	return ""
}

// ForeignError is a result file another build wrote, or one without a
// record of its build.
type ForeignError struct {
	Path string
	// Wrote is the record in the file; nil when the file has none.
	Wrote *Origin
	// Current is the build reading it.
	Current Origin
	// Field is what differs ("build number", ...); "" when there is no record.
	Field string
}

func (e *ForeignError) Error() string {
	if e.Wrote == nil {
		return fmt.Sprintf("%s does not record which build wrote it (left from an older Lightship, committed, or restored from a cache); this is %s", e.Path, e.Current)
	}
	return fmt.Sprintf("%s was written by %s, but this is %s (the %s differs): it may describe an image this build never made", e.Path, *e.Wrote, e.Current, e.Field)
}

// ReadFrom loads plugin's result under workspace into v and accepts it only
// when its record matches current, the build reading it: a mismatch or a
// file without a record is a *ForeignError. When current holds no build
// metadata at all (a plain docker run) the file is accepted and warning
// says it was not checked. The error wraps os.ErrNotExist when the file is
// missing.
func ReadFrom(workspace, plugin string, current Origin, v any) (warning string, err error) {
	wrote, err := read(workspace, plugin, v)
	if err != nil {
		return "", err
	}
	p := Path(workspace, plugin)
	if current.IsZero() {
		return fmt.Sprintf("no CI build metadata (DRONE_* / CI_*): %s accepted without checking which build wrote it", p), nil
	}
	if wrote == nil {
		return "", &ForeignError{Path: p, Current: current}
	}
	if f := wrote.differs(current); f != "" {
		return "", &ForeignError{Path: p, Wrote: wrote, Current: current, Field: f}
	}
	return "", nil
}
