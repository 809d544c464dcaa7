package droneyaml

import (
	"path"
	"slices"
)

// Build is what a step's `when:` conditions are checked against.
type Build struct {
	Branch string
	Event  string
	// Status is success or failure so far.
	Status string
}

// Runs reports whether the step's `when:` lets it run for b. As in Drone, a
// step without a status condition runs only while the build succeeds; branch
// patterns are globs; a condition is a value, a list, or {include, exclude}.
func (s Step) Runs(b Build) bool {
	status := condition(s.When["status"])
	if status.empty() {
		status.include = []string{"success"}
	}
	return status.match(b.Status) &&
		condition(s.When["branch"]).match(b.Branch) &&
		condition(s.When["event"]).match(b.Event)
}

type cond struct{ include, exclude []string }

func (c cond) empty() bool { return len(c.include) == 0 && len(c.exclude) == 0 }

func (c cond) match(v string) bool {
	if slices.ContainsFunc(c.exclude, func(p string) bool { return glob(p, v) }) {
		return false
	}
	return len(c.include) == 0 || slices.ContainsFunc(c.include, func(p string) bool { return glob(p, v) })
}

func glob(pattern, v string) bool {
	ok, err := path.Match(pattern, v)
	return err == nil && ok
}

func condition(v any) cond {
	switch t := v.(type) {
	case string:
		return cond{include: []string{t}}
	case []any:
		return cond{include: stringList(t)}
	case map[string]any:
		return cond{include: listOf(t["include"]), exclude: listOf(t["exclude"])}
	}
	return cond{}
}

func listOf(v any) []string {
	switch t := v.(type) {
	case string:
		return []string{t}
	case []any:
		return stringList(t)
	}
	return nil
}

func stringList(list []any) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
