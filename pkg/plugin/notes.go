package plugin

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// FromNotes returns the App a plugin's notes.md describes, with the
// plugin's settings (p, whose flags are flags) and version. The file opens
// with front matter between two "---" lines that says each fact once:
//
//	---
//	name: docker-build
//	title: Docker Build
//	description: Build a Docker image ...
//	tags: [docker, harbor]
//	secrets: [password, config]
//	required: [repo]
//	example: |
//	  build_step:
//	    image: lightship/docker-build
//	---
//	## Notes ...
//
// name, title and description are required; lists are [a, b] (or a, b);
// example's lines are indented two spaces. The rest of the file is DOCS.md's
// notes. notes is embedded in the binary, so a malformed file is a bug of
// the plugin: FromNotes panics (every plugin's docs test calls it).
func FromNotes(notes, version string, p Plugin, flags []cli.Flag) App {
	a, err := parseNotes(notes)
	if err != nil {
		panic("plugin: notes.md: " + err.Error())
	}
	a.Version, a.Plugin, a.Flags = version, p, flags
	return a
}

// parseNotes reads the front matter into an App's descriptive fields.
func parseNotes(notes string) (App, error) {
	rest, ok := strings.CutPrefix(notes, "---\n")
	if !ok {
		return App{}, fmt.Errorf("no front matter (a first line ---)")
	}
	front, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		return App{}, fmt.Errorf("front matter without its closing ---")
	}
	fields, err := frontFields(front)
	if err != nil {
		return App{}, err
	}
	a := App{Notes: strings.TrimLeft(body, "\n")}
	for key, v := range fields {
		switch key {
		case "name":
			a.Name = v
		case "title":
			a.Title = v
		case "description":
			a.Description = v
		case "example":
			a.Example = v
		case "tags":
			a.Tags = frontList(v)
		case "secrets":
			a.Secrets = frontList(v)
		case "required":
			a.Required = frontList(v)
		default:
			return App{}, fmt.Errorf("unknown key %q", key)
		}
	}
	if a.Name == "" || a.Title == "" || a.Description == "" {
		return App{}, fmt.Errorf("name, title and description are required")
	}
	return a, nil
}

// frontFields splits front matter into key: value lines and "key: |" blocks
// of lines indented two spaces.
func frontFields(front string) (map[string]string, error) {
	fields := map[string]string{}
	block := ""
	for i, line := range strings.Split(front, "\n") {
		if block != "" && (strings.HasPrefix(line, "  ") || line == "") {
			fields[block] += strings.TrimPrefix(line, "  ") + "\n"
			continue
		}
		block = ""
		key, v, ok := strings.Cut(line, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: %q is not key: value", i+2, line)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("line %d: %s given twice", i+2, key)
		}
		v = strings.TrimSpace(v)
		if v == "|" {
			block = key
			v = ""
		}
		fields[key] = v
	}
	for k, v := range fields {
		fields[k] = strings.TrimRight(v, "\n")
	}
	return fields, nil
}

// frontList reads [a, b] or a, b.
func frontList(v string) []string {
	v = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(v), "["), "]")
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
