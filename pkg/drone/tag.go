package drone

import (
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Tag is a git tag and, when it parses as one, its semantic version.
type Tag struct {
	// Name is the tag without refs/tags/.
	Name string
	// SemVer is set when Name is a strict semantic version (a leading v allowed).
	SemVer *semver.Version
}

func tagFrom(e env) Tag {
	name := e.str("DRONE_TAG", "CI_COMMIT_TAG")
	if name == "" {
		if ref := e.str("DRONE_COMMIT_REF", "CI_COMMIT_REF"); strings.HasPrefix(ref, "refs/tags/") {
			name = strings.TrimPrefix(ref, "refs/tags/")
		}
	}
	return Tag{Name: name, SemVer: ParseSemVer(name)}
}

// ParseSemVer parses MAJOR.MINOR.PATCH[-PRE][+BUILD] with an optional leading
// v, and returns nil for anything else (1.2 is not a version here).
func ParseSemVer(s string) *semver.Version {
	v, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v"))
	if err != nil {
		return nil
	}
	return v
}

func splitMessage(s string) Message {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	title, body, _ := strings.Cut(s, "\n")
	return Message{Title: strings.TrimSpace(title), Body: strings.TrimSpace(body)}
}
