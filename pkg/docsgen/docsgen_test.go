package docsgen

import (
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

func testFlags() []cli.Flag {
	var dest string
	return []cli.Flag{
		&cli.StringFlag{Name: "repo", Usage: "image repository", EnvVars: []string{"PLUGIN_REPO", "DOCKER_REPO"}, Destination: &dest},
		&cli.StringFlag{Name: "dockerfile", Usage: "path of the Dockerfile", Value: "Dockerfile", EnvVars: []string{"PLUGIN_DOCKERFILE"}},
		&cli.BoolFlag{Name: "dry_run", Usage: "build, do not push", EnvVars: []string{"PLUGIN_DRY_RUN"}},
		&cli.BoolFlag{Name: "purge", Usage: "remove the image after", Value: true, EnvVars: []string{"PLUGIN_PURGE"}},
		&cli.StringSliceFlag{Name: "tags", Usage: "tags to push | comma separated", Value: cli.NewStringSlice("latest", "dev"), EnvVars: []string{"PLUGIN_TAGS", "PLUGIN_TAG"}},
		&cli.IntFlag{Name: "timeout", Usage: "seconds to wait\nfor the upgrade", Value: 600, EnvVars: []string{"PLUGIN_TIMEOUT"}},
		&cli.DurationFlag{Name: "interval", Usage: "poll interval", Value: 2 * time.Second, EnvVars: []string{"PLUGIN_INTERVAL"}},
		&cli.StringFlag{Name: "password", Usage: "registry password", Value: "default-canary", EnvVars: []string{"PLUGIN_PASSWORD", "DOCKER_PASSWORD"}},
		&cli.StringSliceFlag{Name: "access_keys", Usage: "keys", Value: cli.NewStringSlice("list-canary"), EnvVars: []string{"PLUGIN_ACCESS_KEYS"}},
		&cli.StringFlag{Name: "internal", Usage: "not for users", Hidden: true, EnvVars: []string{"PLUGIN_INTERNAL"}},
	}
}

func TestFromFlags(t *testing.T) {
	params := FromFlags(testFlags(), []string{"password", "access_keys"}, []string{"repo", "password"})
	want := []Param{
		{Name: "repo", EnvVars: []string{"PLUGIN_REPO", "DOCKER_REPO"}, Type: "string", Required: true, Description: "image repository"},
		{Name: "dockerfile", EnvVars: []string{"PLUGIN_DOCKERFILE"}, Type: "string", Default: `"Dockerfile"`, Description: "path of the Dockerfile"},
		{Name: "dry_run", EnvVars: []string{"PLUGIN_DRY_RUN"}, Type: "boolean", Default: "false", Description: "build, do not push"},
		{Name: "purge", EnvVars: []string{"PLUGIN_PURGE"}, Type: "boolean", Default: "true", Description: "remove the image after"},
		{Name: "tags", EnvVars: []string{"PLUGIN_TAGS", "PLUGIN_TAG"}, Type: "array", Default: `"latest", "dev"`, Description: "tags to push | comma separated"},
		{Name: "timeout", EnvVars: []string{"PLUGIN_TIMEOUT"}, Type: "number", Default: "600", Description: "seconds to wait\nfor the upgrade"},
		{Name: "interval", EnvVars: []string{"PLUGIN_INTERVAL"}, Type: "duration", Default: "2s", Description: "poll interval"},
		{Name: "password", EnvVars: []string{"PLUGIN_PASSWORD", "DOCKER_PASSWORD"}, Type: "string", Secret: true, Required: true, Description: "registry password"},
		{Name: "access_keys", EnvVars: []string{"PLUGIN_ACCESS_KEYS"}, Type: "array", Secret: true, Description: "keys"},
	}
	if len(params) != len(want) {
		t.Fatalf("%d params, want %d (hidden flags are left out): %+v", len(params), len(want), params)
	}
	for i := range want {
		g, w := params[i], want[i]
		if g.Name != w.Name || strings.Join(g.EnvVars, ",") != strings.Join(w.EnvVars, ",") || g.Type != w.Type ||
			g.Default != w.Default || g.Secret != w.Secret || g.Required != w.Required || g.Description != w.Description {
			t.Errorf("param %d\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func testPage() Page {
	return Page{
		Name:        "docker-build",
		Title:       "Docker Build",
		Description: `Build an image and push it to "Harbor".`,
		Tags:        []string{"docker", "harbor"},
		Example:     "\nsteps:\n  - name: build\n    image: lightship/docker-build\n",
		Notes:       "## Notes\n\nMore words.",
		Params:      FromFlags(testFlags(), []string{"password", "access_keys"}, []string{"repo", "password"}),
	}
}

// frontMatter returns the key: value lines between the --- fences.
func frontMatter(t *testing.T, doc string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(doc, "---\n") {
		t.Fatalf("no front matter:\n%s", doc)
	}
	head, _, ok := strings.Cut(doc[4:], "\n---\n")
	if !ok {
		t.Fatalf("front matter not closed:\n%s", doc)
	}
	keys := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("front matter line %q is not key: value", line)
		}
		if _, dup := keys[k]; dup {
			t.Fatalf("duplicate key %q", k)
		}
		keys[k] = v
	}
	return keys
}

func TestRenderFrontMatter(t *testing.T) {
	fm := frontMatter(t, string(testPage().Render()))
	want := map[string]string{
		// Drone plugin index.
		"title":       "Docker Build",
		"author":      "lightship",
		"tags":        "[ docker, harbor ]",
		"repo":        "lightship-ci/lightship",
		"image":       "lightship/docker-build",
		"description": `"Build an image and push it to \"Harbor\"."`,
		// Woodpecker plugin index.
		"name":           "Docker Build",
		"containerImage": "lightship/docker-build",
		"url":            "https://github.com/lightship-ci/lightship",
		"license":        "Apache License 2.0",
	}
	for k, v := range want {
		if fm[k] != v {
			t.Errorf("front matter %s = %q, want %q", k, fm[k], v)
		}
	}
	if len(fm) != len(want) {
		t.Errorf("front matter has keys %v", fm)
	}
}

func TestRenderTableAndBody(t *testing.T) {
	doc := string(testPage().Render())
	for _, row := range []string{
		"| Setting | Environment | Type | Default | Required | Secret | Description |",
		"| `repo` | `PLUGIN_REPO`, `DOCKER_REPO` | string |  | yes | no | image repository |",
		"| `dockerfile` | `PLUGIN_DOCKERFILE` | string | \"Dockerfile\" | no | no | path of the Dockerfile |",
		"| `dry_run` | `PLUGIN_DRY_RUN` | boolean | false | no | no | build, do not push |",
		"| `purge` | `PLUGIN_PURGE` | boolean | true | no | no | remove the image after |",
		"| `tags` | `PLUGIN_TAGS`, `PLUGIN_TAG` | array | \"latest\", \"dev\" | no | no | tags to push \\| comma separated |",
		"| `timeout` | `PLUGIN_TIMEOUT` | number | 600 | no | no | seconds to wait for the upgrade |",
		"| `interval` | `PLUGIN_INTERVAL` | duration | 2s | no | no | poll interval |",
		"| `password` | `PLUGIN_PASSWORD`, `DOCKER_PASSWORD` | string |  | yes | yes | registry password |",
		"| `access_keys` | `PLUGIN_ACCESS_KEYS` | array |  | no | yes | keys |",
		"```yaml\nsteps:\n  - name: build\n    image: lightship/docker-build\n```",
		"docker run --rm -e PLUGIN_<SETTING>=... lightship/docker-build",
		"\n## Notes\n\nMore words.\n",
	} {
		if !strings.Contains(doc, row) {
			t.Errorf("DOCS lack %q\n%s", row, doc)
		}
	}
	for _, leak := range []string{"default-canary", "list-canary", "internal", "PLUGIN_INTERNAL"} {
		if strings.Contains(doc, leak) {
			t.Errorf("DOCS show %q", leak)
		}
	}
	// Every table row has the same number of cells (escaped pipes excluded).
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 8 {
				t.Errorf("row with %d separators: %s", n, line)
			}
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, b := testPage().Render(), testPage().Render()
	if string(a) != string(b) {
		t.Fatal("two renders differ")
	}
}

func TestTitleQuotedOnlyWhenYAMLNeedsIt(t *testing.T) {
	for title, want := range map[string]string{
		"Docker Build":        "Docker Build",
		"WeChat Work Notify":  "WeChat Work Notify",
		"Notify: WeCom":       `"Notify: WeCom"`,
		"#1 plugin":           `"#1 plugin"`,
		"yes":                 `"yes"`,
		`say "hi"`:            `"say \"hi\""`,
		"- dash":              `"- dash"`,
		"Rancher [v2]":        `"Rancher [v2]"`,
		"":                    `""`,
		"plain with-dash ok.": "plain with-dash ok.",
	} {
		p := testPage()
		p.Title = title
		fm := frontMatter(t, string(p.Render()))
		if fm["title"] != want || fm["name"] != want {
			t.Errorf("title %q rendered as %q / %q, want %q", title, fm["title"], fm["name"], want)
		}
	}
}
