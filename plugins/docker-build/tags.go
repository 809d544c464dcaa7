package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/setting"
)

// tagPattern is what Docker accepts as a tag (distribution/reference).
var tagPattern = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)

// checkTag explains why Docker cannot hold tag, or returns nil.
func checkTag(tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("empty tag")
	case len(tag) > 128:
		return fmt.Errorf("tag %q is %d characters long, Docker allows 128", tag, len(tag))
	case strings.Contains(tag, "+"):
		return fmt.Errorf("tag %q contains '+', which Docker tags cannot hold (use - instead)", tag)
	case !tagPattern.MatchString(tag):
		return fmt.Errorf("tag %q is not a valid Docker tag (letters, digits, _ . -; not starting with . or -)", tag)
	}
	return nil
}

// autoTags is plugins/docker's auto_tag: the tags a build gets from its git
// ref, and whether it is pushed at all. A semver git tag gives
// major, major.minor and the full version (0.x: minor and full only; a
// pre-release: only the full string); a push to the default branch gives
// latest; anything else is built but not pushed.
func autoTags(m drone.Metadata, suffix string) (tags []string, push bool, why string, err error) {
	tag := m.Tag.Name
	if tag == "" {
		if ref, ok := strings.CutPrefix(m.Commit.Ref, "refs/tags/"); ok {
			tag = ref
		}
	}
	if tag != "" {
		tags, err := semverTags(tag)
		if err != nil {
			return nil, false, "", err
		}
		return withSuffix(tags, suffix), true, "", nil
	}
	if m.PullRequest != 0 || m.Build.Event == "pull_request" {
		return nil, false, fmt.Sprintf("auto_tag: pull request #%d is built but not pushed", m.PullRequest), nil
	}
	branch := m.Commit.Branch
	if ref, ok := strings.CutPrefix(m.Commit.Ref, "refs/heads/"); ok {
		branch = ref
	}
	def := m.Repo.DefaultBranch
	if def == "" {
		def = "master"
	}
	if branch != "" && branch == def {
		return withSuffix([]string{"latest"}, suffix), true, "", nil
	}
	return nil, false, fmt.Sprintf("auto_tag: branch %q is not the default branch %q: built but not pushed", branch, def), nil
}

// semverPattern is a semantic version as plugins/docker reads a git tag:
// leading zeros are kept (v18.06.0 gives 18, 18.06, 18.06.0).
var semverPattern = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$`)

func semverTags(tag string) ([]string, error) {
	m := semverPattern.FindStringSubmatch(tag)
	if m == nil {
		return nil, fmt.Errorf("auto_tag: git tag %q is not a semantic version (vMAJOR.MINOR.PATCH)", tag)
	}
	if m[4] != "" || m[5] != "" {
		return []string{strings.TrimPrefix(tag, "v")}, nil
	}
	major, minor, patch := m[1], m[2], m[3]
	if strings.TrimLeft(major, "0") == "" {
		return []string{major + "." + minor, major + "." + minor + "." + patch}, nil
	}
	return []string{major, major + "." + minor, major + "." + minor + "." + patch}, nil
}

// withSuffix is plugins/docker's DefaultTagSuffix: latest becomes the
// suffix itself, other tags get -suffix.
func withSuffix(tags []string, suffix string) []string {
	if suffix == "" {
		return tags
	}
	out := make([]string, len(tags))
	for i, t := range tags {
		if t == "latest" {
			out[i] = suffix
		} else {
			out[i] = t + "-" + suffix
		}
	}
	return out
}

// readTagsFile returns the tags listed in path (commas and newlines), or
// nothing when the file does not exist. A relative path is taken from dir,
// or from the working directory (the workspace, as plugins/docker does)
// when dir is empty.
func readTagsFile(dir, path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	if dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return setting.List(string(b)), nil
}

// uniq keeps the first of each value, in order.
func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
