// Package drone reads build metadata from the environment Drone gives a
// plugin step (DRONE_*), falling back to Woodpecker's CI_* names.
package drone

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Lookup returns the value of an environment variable and whether it is set.
type Lookup func(name string) (string, bool)

// env reads names in order and returns the first non-empty value.
type env struct{ lookup Lookup }

func (e env) str(names ...string) string {
	for _, n := range names {
		if v, ok := e.lookup(n); ok && v != "" {
			return v
		}
	}
	return ""
}

// woodpecker reports whether the step runs under Woodpecker (CI=woodpecker).
func (e env) woodpecker() bool {
	v, _ := e.lookup("CI")
	return v == "woodpecker"
}

func (e env) integer(names ...string) int {
	n, _ := strconv.Atoi(e.str(names...))
	return n
}

func (e env) boolean(names ...string) bool {
	b, _ := strconv.ParseBool(e.str(names...))
	return b
}

// unixTime reads Unix seconds; zero stays the zero time.
func (e env) unixTime(names ...string) time.Time {
	n, err := strconv.ParseInt(e.str(names...), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

func (e env) list(names ...string) []string {
	v := e.str(names...)
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// FromOS reads Metadata from the process environment.
func FromOS() Metadata { return FromEnv(os.LookupEnv) }

// FromEnv reads Metadata through lookup.
func FromEnv(lookup Lookup) Metadata {
	e := env{lookup}
	m := Metadata{
		System:    systemFrom(e),
		Repo:      repoFrom(e),
		Build:     buildFrom(e),
		Commit:    commitFrom(e),
		Stage:     stageFrom(e),
		Step:      stepFrom(e),
		Tag:       tagFrom(e),
		Workspace: e.str("DRONE_WORKSPACE", "CI_WORKSPACE"),
		CardPath:  e.str("DRONE_CARD_PATH"),
	}
	m.PullRequest = e.integer("DRONE_PULL_REQUEST", "CI_COMMIT_PULL_REQUEST")
	return m
}
