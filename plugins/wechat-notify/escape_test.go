package main

import (
	"testing"

	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// Values that would change a card if inserted as they are: tags, a closing
// </div>, a markdown link, bold, code, a heading, a quote, a table cell.
const (
	evilTitle  = "fix <b>x</b> </div> **loud** [a](http://evil)"
	evilBody   = "# not a heading\n> not a quote\n`tick` | pipe & amp"
	evilBranch = "feat(ui)<i>"
	evilAuthor = "Eve <eve@evil>"
	buildLink  = "https://drone.example.com/registry/test/42"
)

// The same values as each format must carry them, written out by hand.
const (
	htmlTitle  = "fix &lt;b&gt;x&lt;/b&gt; &lt;/div&gt; **loud** [a](http://evil)"
	htmlBody   = "# not a heading\n&gt; not a quote\n`tick` | pipe &amp; amp"
	htmlBranch = "feat(ui)&lt;i&gt;"
	htmlAuthor = "Eve &lt;eve@evil&gt;"
	mdTitle    = "fix &lt;b>x&lt;/b> &lt;/div> &#42;&#42;loud&#42;&#42; &#91;a&#93;(http://evil)"
	mdBody     = "&#35; not a heading\n&gt; not a quote\n&#96;tick&#96; | pipe &amp; amp"
	mdV2Body   = "&#35; not a heading\n&gt; not a quote\n&#96;tick&#96; &#124; pipe &amp; amp"
)

func evilEnv(fake *wecom.Server, kv ...string) map[string]string {
	env := appEnv(fake, append([]string{
		"DRONE_COMMIT_MESSAGE", evilTitle + "\n\n" + evilBody, "DRONE_BRANCH", evilBranch,
		"DRONE_COMMIT_AUTHOR_NAME", evilAuthor,
	}, kv...)...)
	return env
}

// robotOnly drops the app settings: the message goes to the robot only.
func robotOnly(env map[string]string) map[string]string {
	for _, k := range []string{"PLUGIN_CORPID", "PLUGIN_CORP_SECRET", "PLUGIN_AGENT_ID"} {
		delete(env, k)
	}
	env["PLUGIN_WEBHOOK"] = canaryKey
	return env
}

// TestInsertedValuesAreEscapedForTheFormat sends commit messages, branches
// and authors holding markup through the strict fake, for each msgtype, and
// checks the exact content WeCom receives: the template's own markup stays
// markup, inserted values cannot open, close or add any.
func TestInsertedValuesAreEscapedForTheFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		robot bool
		kv    []string
		check func(t *testing.T, m wecom.Message)
	}{
		{"textcard", false, []string{"PLUGIN_MSGTYPE", "textcard", "PLUGIN_TITLE", "{{ .Commit.Title }}",
			"PLUGIN_DESCRIPTION", `<div class="gray">{{ .Commit.Branch }}</div><div class="highlight">{{ .Commit.Author }}</div>{{ .Commit.Body }}`},
			func(t *testing.T, m wecom.Message) {
				want(t, "title", m.Title, htmlTitle)
				want(t, "description", m.Description, `<div class="gray">`+htmlBranch+`</div><div class="highlight">`+htmlAuthor+`</div>`+htmlBody)
			}},
		{"textcard, text Drone 0.8 pasted into the setting", false, []string{"PLUGIN_MSGTYPE", "textcard", "PLUGIN_TITLE", "${DRONE_REPO_NAME}",
			"PLUGIN_DESCRIPTION", "<div class=\"gray\">分支: ${DRONE_BRANCH}</div>更新内容: " + evilTitle + "\n\n" + evilBody},
			func(t *testing.T, m wecom.Message) {
				want(t, "title", m.Title, "test")
				want(t, "description", m.Description, `<div class="gray">分支: `+htmlBranch+`</div>更新内容: `+htmlTitle+"\n\n"+htmlBody)
			}},
		{"textcard, default template", false, []string{"PLUGIN_MSGTYPE", "textcard"},
			func(t *testing.T, m wecom.Message) {
				want(t, "title", m.Title, "registry/test #42 构建成功")
				want(t, "description", m.Description, `<div class="normal">构建成功</div><div class="normal">分支 `+htmlBranch+` · 01234567 · `+htmlAuthor+`</div>`+htmlTitle)
			}},
		{"markdown", false, []string{"PLUGIN_MSGTYPE", "markdown", "PLUGIN_TITLE", "{{ .Commit.Title }}",
			"PLUGIN_MESSAGE", "> 分支: <font color=\"info\">{{ .Commit.Branch }}</font>\n{{ .Commit.Body }}\n[查看]({{ .URL }})"},
			func(t *testing.T, m wecom.Message) {
				want(t, "content", m.Content, "### "+mdTitle+"\n> 分支: <font color=\"info\">feat(ui)&lt;i></font>\n"+mdBody+"\n[查看]("+buildLink+")")
			}},
		{"robot markdown", true, []string{"PLUGIN_MSGTYPE", "markdown", "PLUGIN_MESSAGE", "**{{ .Commit.Author }}**: {{ .Commit.Title }}"},
			func(t *testing.T, m wecom.Message) {
				want(t, "content", m.Content, "**Eve &lt;eve@evil>**: "+mdTitle)
			}},
		{"robot markdown_v2", true, []string{"PLUGIN_MSGTYPE", "markdown_v2", "PLUGIN_MESSAGE", "{{ .Commit.Body }}\n- 作者: {{ .Commit.Author }}"},
			func(t *testing.T, m wecom.Message) {
				want(t, "content", m.Content, mdV2Body+"\n- 作者: Eve &lt;eve@evil>")
			}},
		{"text stays raw", false, []string{"PLUGIN_MSGTYPE", "text", "PLUGIN_MESSAGE", "{{ .Commit.Message }} ({{ .Commit.Branch }})"},
			func(t *testing.T, m wecom.Message) {
				want(t, "content", m.Content, evilTitle+"\n\n"+evilBody+" ("+evilBranch+")")
			}},
		{"robot news stays raw", true, []string{"PLUGIN_MSGTYPE", "news", "PLUGIN_TITLE", "{{ .Commit.Title }}", "PLUGIN_DESCRIPTION", "{{ .Commit.Author }}"},
			func(t *testing.T, m wecom.Message) {
				if len(m.Articles) != 1 {
					t.Fatalf("articles %+v", m.Articles)
				}
				want(t, "title", m.Articles[0].Title, evilTitle)
				want(t, "description", m.Articles[0].Description, evilAuthor)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := startFake(t, wecom.Options{})
			env := evilEnv(fake, tc.kv...)
			if tc.robot {
				env = robotOnly(env)
			}
			if r := run(t, env); r.Code != 0 {
				t.Fatalf("exit %d:\n%s", r.Code, r.Output())
			}
			violations(t, fake)
			tc.check(t, only(t, fake))
		})
	}
}

func want(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %q\nwant %q", field, got, want)
	}
}

// TestMarkdownEscapingByPlace: what counts as structure depends on where
// the value lands.
func TestMarkdownEscapingByPlace(t *testing.T) {
	t.Parallel()
	byContext := map[string][][2]string{ // output before the value: {value, escaped}
		"":              {{"# x", "&#35; x"}, {"a -> b", "a -> b"}, {"<@alice>", "&lt;@alice>"}, {"a_b ~c~ 1. d", "a_b ~c~ 1. d"}},
		"text ":         {{"# x", "# x"}},
		"> ":            {{"- x\n+ y\n= z", "&#45; x\n&#43; y\n&#61; z"}},
		"[click]":       {{"(http://evil)", "&#40;http://evil)"}},
		"[a](http://a/": {{"x) [y](z", "x&#41; &#91;y&#93;(z"}},
	}
	for before, pairs := range byContext {
		for _, p := range pairs {
			if got := escapeMarkdown(p[0], before, false); got != p[1] {
				t.Errorf("escapeMarkdown(%q after %q) = %q, want %q", p[0], before, got, p[1])
			}
		}
	}
}
