// Package docsgen renders a plugin's DOCS.md from its flag definitions, so
// the documentation cannot drift from the code.
package docsgen

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Owner is the image namespace and the repository the docs point to.
const (
	Owner = "lightship"
	Repo  = "lightship-ci/lightship"
)

// Param documents one setting.
type Param struct {
	Name        string
	EnvVars     []string
	Type        string
	Default     string
	Secret      bool
	Required    bool
	Description string
}

// Page is a plugin's documentation.
type Page struct {
	Name        string
	Title       string
	Description string
	Tags        []string
	Example     string
	Notes       string
	Params      []Param
}

// FromFlags documents flags; secrets and required name settings.
func FromFlags(flags []cli.Flag, secrets, required []string) []Param {
	out := make([]Param, 0, len(flags))
	for _, f := range flags {
		df, ok := f.(cli.DocGenerationFlag)
		if !ok {
			continue
		}
		if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
			continue
		}
		name := f.Names()[0]
		p := Param{
			Name:        name,
			EnvVars:     df.GetEnvVars(),
			Type:        typeOf(f),
			Default:     df.GetDefaultText(),
			Secret:      slices.Contains(secrets, name),
			Required:    slices.Contains(required, name),
			Description: df.GetUsage(),
		}
		// GetDefaultText, not GetValue: once parsed, a flag's value is what
		// the environment said, which is no default (and may be a secret).
		if p.Type == "boolean" && p.Default == "" {
			p.Default = "false"
		}
		if p.Secret {
			p.Default = ""
		}
		out = append(out, p)
	}
	return out
}

func typeOf(f cli.Flag) string {
	switch f.(type) {
	case *cli.BoolFlag:
		return "boolean"
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag, *cli.Float64Flag:
		return "number"
	case *cli.StringSliceFlag, *cli.IntSliceFlag, *cli.Int64SliceFlag:
		return "array"
	case *cli.DurationFlag:
		return "duration"
	default:
		return "string"
	}
}

// Render returns DOCS.md: front matter read by the Drone plugin index and by
// Woodpecker's, the example, then the parameter table.
func (p Page) Render() []byte {
	var b bytes.Buffer
	image := Owner + "/" + p.Name
	fmt.Fprintf(&b, "---\n")
	fmt.Fprintf(&b, "name: %s\n", yamlScalar(p.Title))
	fmt.Fprintf(&b, "title: %s\n", yamlScalar(p.Title))
	fmt.Fprintf(&b, "description: %s\n", yamlString(p.Description))
	fmt.Fprintf(&b, "author: %s\n", Owner)
	fmt.Fprintf(&b, "tags: [ %s ]\n", strings.Join(p.Tags, ", "))
	fmt.Fprintf(&b, "repo: %s\n", Repo)
	fmt.Fprintf(&b, "url: https://github.com/%s\n", Repo)
	fmt.Fprintf(&b, "image: %s\n", image)
	fmt.Fprintf(&b, "containerImage: %s\n", image)
	fmt.Fprintf(&b, "license: Apache License 2.0\n")
	fmt.Fprintf(&b, "---\n\n")
	fmt.Fprintf(&b, "%s\n\n", p.Description)
	fmt.Fprintf(&b, "## Example\n\n```yaml\n%s\n```\n\n", strings.TrimSpace(p.Example))
	fmt.Fprintf(&b, "Run it by hand: `docker run --rm -e PLUGIN_<SETTING>=... %s`.\n\n", image)
	b.WriteString("## Parameter Reference\n\n")
	b.WriteString("| Setting | Environment | Type | Default | Required | Secret | Description |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, pr := range p.Params {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n",
			pr.Name, envList(pr.EnvVars), pr.Type, cell(pr.Default), yesNo(pr.Required), yesNo(pr.Secret), cell(pr.Description))
	}
	if n := strings.TrimSpace(p.Notes); n != "" {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	return b.Bytes()
}

func envList(vars []string) string {
	q := make([]string, len(vars))
	for i, v := range vars {
		q[i] = "`" + v + "`"
	}
	return strings.Join(q, ", ")
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if s == "" {
		return ""
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// yamlScalar returns s plain when YAML reads it back as the same string, and
// quoted otherwise ("Notify: WeCom", "#1", "yes").
func yamlScalar(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[]&*!|>'\"%@`,\n") || strings.TrimSpace(s) != s || strings.ContainsAny(s[:1], "-?") {
		return yamlString(s)
	}
	switch strings.ToLower(s) {
	case "yes", "no", "true", "false", "on", "off", "null", "~", "y", "n":
		return yamlString(s)
	}
	return s
}

func yamlString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
