package main

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/redact"
	"github.com/urfave/cli/v2"
)

func TestTruncateBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"fits", "abc", 3, "abc"},
		{"ascii cut", "abcdefgh", 6, "abc…"},
		{"never mid-character", strings.Repeat("界", 10), 10, "界界…"},         // 3+3+3 bytes of marker
		{"not inside a tag", `ab<div class="highlight">x</div>`, 12, "ab…"}, // cut would fall in the tag
		{"invalid utf-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"too small for the marker", "abcdef", 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncateBytes(tc.in, tc.max)
			if got != tc.want {
				t.Fatalf("truncateBytes(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
			if len(got) > tc.max || !utf8.ValidString(got) {
				t.Fatalf("result %q is %d bytes or invalid UTF-8", got, len(got))
			}
		})
	}
	if got := truncateChars("Details", 4); got != "Det…" {
		t.Fatalf("truncateChars = %q", got)
	}
	if got := truncateChars("点击前往", 4); got != "点击前往" {
		t.Fatalf("truncateChars = %q", got)
	}
}

func TestExpandRefs(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"${DRONE_REPO_NAME}", `{{ciEnv "DRONE_REPO_NAME"}}`},
		{"a ${CI_REPO} b", `a {{ciEnv "CI_REPO"}} b`},
		{"${HOME} ${PATH}", "${HOME} ${PATH}"},
		{"${DRONE_NETRC_PASSWORD}", "${DRONE_NETRC_PASSWORD}"},
		{"$${DRONE_REPO}", "${DRONE_REPO}"},
		{"${DRONE_REPO", "${DRONE_REPO"},
		{"cost $5", "cost $5"},
	}
	for _, tc := range tests {
		if got := expandRefs(tc.in); got != tc.want {
			t.Errorf("expandRefs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBuildStatusAndSkip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setting string
		meta    drone.Metadata
		want    string
	}{
		{"nothing set", "", drone.Metadata{}, "success"},
		{"build failure", "", drone.Metadata{Build: drone.Build{Status: "failure"}}, "failure"},
		{"snapshot says success, stage failing", "", drone.Metadata{Build: drone.Build{Status: "success"}, Stage: drone.Stage{Status: "failure"}}, "failure"},
		{"failed steps", "", drone.Metadata{Build: drone.Build{Status: "success", FailedSteps: []string{"test"}}}, "failure"},
		{"setting wins", "success", drone.Metadata{Build: drone.Build{Status: "failure"}}, "success"},
	}
	for _, tc := range tests {
		if got := buildStatus(tc.setting, tc.meta); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	skips := []struct {
		onlyOn       []string
		status, prev string
		skip         bool
	}{
		{nil, "success", "", false},
		{[]string{"failure"}, "success", "", true},
		{[]string{"failure"}, "failure", "", false},
		{[]string{"changed"}, "success", "success", true},
		{[]string{"changed"}, "success", "failure", false},
		{[]string{"changed"}, "success", "", false},
		{[]string{"failure", "changed"}, "failure", "failure", false},
	}
	for _, tc := range skips {
		if got := skipReason(tc.onlyOn, tc.status, tc.prev) != ""; got != tc.skip {
			t.Errorf("only_on %v status %s prev %q: skip %v, want %v", tc.onlyOn, tc.status, tc.prev, got, tc.skip)
		}
	}
}

// settings returns the job validated from kv (setting name → value).
func settings(t testing.TB, kv map[string]string) (*job, error) {
	t.Helper()
	s := &Settings{}
	flags := s.flags()
	set := map[string]bool{}
	for _, f := range flags {
		set[f.Names()[0]] = true
	}
	args := []string{"x"}
	for k, v := range kv {
		if !set[k] {
			t.Fatalf("no setting %s", k)
		}
		args = append(args, "--"+k+"="+v)
	}
	// HideHelp/HideVersion: urfave/cli's default help and version flags are
	// package-level values every App writes to (a race in parallel tests).
	app := &cli.App{Flags: flags, HideHelp: true, HideVersion: true, Action: func(*cli.Context) error { return nil }}
	if err := app.Run(args); err != nil {
		t.Fatal(err)
	}
	j, err := s.Validate(&plugin.Env{Redactor: redact.New(), Workspace: t.TempDir()})
	if err != nil {
		return &job{Settings: s}, err
	}
	return j.(*job), nil
}

func meta() drone.Metadata {
	return drone.Metadata{
		Repo:   drone.Repo{Slug: "registry/test", Name: "test"},
		Build:  drone.Build{Number: 42, Status: "success", Link: "https://drone.example.com/registry/test/42", Started: time.Unix(1714528800, 0)},
		Commit: drone.Commit{SHA: "0123456789abcdef", Branch: "develop", Message: drone.Message{Title: "修复登录", Body: "详情"}, Author: drone.Author{Username: "alice", Email: "Alice@Example.com"}},
	}
}

func noEnv(string) (string, bool) { return "", false }

// planCase is one TestMessagePlans case: the settings, the build, and the
// checks of the plan made from them.
type planCase struct {
	name  string
	kv    map[string]string
	meta  drone.Metadata
	check func(t *testing.T, p Plan)
}

func TestMessagePlans(t *testing.T) {
	t.Parallel()
	for _, tc := range append(textcardPlanCases(), msgtypePlanCases()...) {
		t.Run(tc.name, func(t *testing.T) {
			s, err := settings(t, tc.kv)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Message(tc.meta, noEnv)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

// appSettings are an application message's settings.
func appSettings() map[string]string {
	return map[string]string{"corpid": "ww1", "corp_secret": "s", "agent_id": "1000002"}
}

// withSettings returns base with the pairs kv (name, value, ...) set.
func withSettings(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// failingMeta is meta() of a build whose step "test" failed.
func failingMeta() drone.Metadata {
	failing := meta()
	failing.Build.Status = "failure"
	failing.Build.FailedSteps = []string{"test"}
	return failing
}

// textcardPlanCases: the default textcard, its recipients, and commit text
// kept as data.
func textcardPlanCases() []planCase {
	app, failing := appSettings(), failingMeta()
	return []planCase{
		{"default textcard zh", app, meta(), func(t *testing.T, p Plan) {
			c := p.App.TextCard
			if p.App.ToUser != "@all" || p.App.AgentID != 1000002 || c.Title != "registry/test #42 构建成功" || c.URL != "https://drone.example.com/registry/test/42" {
				t.Fatalf("%+v %+v", p.App, c)
			}
			if !strings.Contains(c.Description, `<div class="gray">2024-05-01 10:00</div>`) || !strings.Contains(c.Description, "修复登录") {
				t.Fatalf("description %q", c.Description)
			}
		}},
		{"failure textcard names failed steps in highlight", app, failing, func(t *testing.T, p Plan) {
			if !strings.Contains(p.App.TextCard.Description, `<div class="highlight">构建失败：test</div>`) {
				t.Fatalf("description %q", p.App.TextCard.Description)
			}
		}},
		{"to_party alone does not add @all", withSettings(app, "to_party", "2|3", "to_user", ""), meta(), func(t *testing.T, p Plan) {
			if p.App.ToUser != "" || p.App.ToParty != "2|3" {
				t.Fatalf("%+v", p.App)
			}
		}},
		{"to_user list joined with |", withSettings(app, "to_user", "zhangsan,lisi"), meta(), func(t *testing.T, p Plan) {
			if p.App.ToUser != "zhangsan|lisi" {
				t.Fatalf("%+v", p.App)
			}
		}},
		{"commit text is data, never template", withSettings(app, "description", "{{ .Commit.Title }}"), func() drone.Metadata {
			m := meta()
			m.Commit.Message.Title = "{{ .Repo.Slug }} ${DRONE_NETRC_PASSWORD}"
			return m
		}(), func(t *testing.T, p Plan) {
			if p.App.TextCard.Description != "{{ .Repo.Slug }} ${DRONE_NETRC_PASSWORD}" {
				t.Fatalf("%q", p.App.TextCard.Description)
			}
		}},
	}
}

// msgtypePlanCases: text, markdown and news application messages, robot
// messages with mentions, safe and only_on.
func msgtypePlanCases() []planCase {
	app, failing := appSettings(), failingMeta()
	return []planCase{
		{"text with explicit title and message", withSettings(app, "msgtype", "text", "title", "T {{ .Build.Number }}", "message", "by {{ .Commit.Author }}"), meta(), func(t *testing.T, p Plan) {
			if p.App.Text.Content != "T 42\nby alice" {
				t.Fatalf("%q", p.App.Text.Content)
			}
		}},
		{"template_failure wins on failure", withSettings(app, "msgtype", "markdown", "message", "ok", "template_failure", "**{{ .Status }}** {{ if failure }}bad{{ end }}"), failing, func(t *testing.T, p Plan) {
			if p.App.Markdown.Content != "**failure** bad" {
				t.Fatalf("%q", p.App.Markdown.Content)
			}
		}},
		{"robot markdown mentions author on failure", map[string]string{"webhook": "k1", "mention_author_on_failure": "true", "users": `{"alice@example.com":"alice"}`, "mentioned_list": "bob"}, failing, func(t *testing.T, p Plan) {
			c := p.Robot.Markdown.Content
			if !strings.HasSuffix(c, "\n<@bob><@alice>") || !strings.Contains(c, `<font color="warning">构建失败</font>`) {
				t.Fatalf("%q", c)
			}
		}},
		{"robot text mentions in the list", map[string]string{"webhook": "k1", "msgtype": "text", "mention_author_on_failure": "true", "users": "alice@example.com=alice"}, failing, func(t *testing.T, p Plan) {
			if got := strings.Join(p.Robot.Text.MentionedList, ","); got != "alice" {
				t.Fatalf("%q", got)
			}
		}},
		{"english news", withSettings(app, "msgtype", "news", "lang", "en", "pic_url", "https://example.com/p.png", "safe", "true"), meta(), func(t *testing.T, p Plan) {
			a := p.App.News.Articles[0]
			if a.Title != "registry/test #42 succeeded" || !strings.HasPrefix(a.Description, "Build succeeded") || a.PicURL == "" {
				t.Fatalf("%+v", a)
			}
			if p.App.Safe != 0 || len(p.Notes) != 1 {
				t.Fatalf("news must not be sent safe: safe %d, notes %q", p.App.Safe, p.Notes)
			}
		}},
		{"safe text", withSettings(app, "msgtype", "text", "safe", "true"), meta(), func(t *testing.T, p Plan) {
			if p.App.Safe != 1 {
				t.Fatalf("safe %d", p.App.Safe)
			}
		}},
		{"only_on failure skips a success", withSettings(app, "only_on", "failure"), meta(), func(t *testing.T, p Plan) {
			if p.Skip == "" || p.App != nil {
				t.Fatalf("%+v", p)
			}
		}},
	}
}

func TestChineseOverEveryLimit(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("部署成功干得好", 400) // 8400 bytes
	kv := map[string]string{"corpid": "ww1", "corp_secret": "s", "agent_id": "1", "title": long, "description": long, "btn_txt": "点击前往查看"}
	limits := map[string]int{"textcard": 0, "text": limitText, "markdown": limitAppMarkdown, "news": 0}
	for mt := range limits {
		kv["msgtype"] = mt
		s, err := settings(t, kv)
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Message(meta(), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]int
		switch mt {
		case "textcard":
			c := p.App.TextCard
			fields = map[string]int{c.Title: limitTitle, c.Description: limitDescription}
			if c.BtnTxt != "点击前…" {
				t.Errorf("btntxt %q", c.BtnTxt)
			}
		case "text":
			fields = map[string]int{p.App.Text.Content: limitText}
		case "markdown":
			fields = map[string]int{p.App.Markdown.Content: limitAppMarkdown}
		case "news":
			a := p.App.News.Articles[0]
			fields = map[string]int{a.Title: limitTitle, a.Description: limitDescription}
		}
		for v, max := range fields {
			if len(v) > max || len(v) < max-6 || !utf8.ValidString(v) || !strings.HasSuffix(v, "…") {
				t.Errorf("%s: %d bytes (limit %d), valid %v: %q…", mt, len(v), max, utf8.ValidString(v), v[:20])
			}
		}
	}
	s, err := settings(t, map[string]string{"webhook": "k", "message": long + long})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Message(meta(), noEnv)
	if n := len(p.Robot.Markdown.Content); n > limitBotMarkdown || n < limitBotMarkdown-6 {
		t.Errorf("robot markdown %d bytes", n)
	}
}

func TestSettingsErrors(t *testing.T) {
	t.Parallel()
	app := func(kv ...string) map[string]string {
		m := map[string]string{"corpid": "ww1", "corp_secret": "s", "agent_id": "1000002"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"no target", map[string]string{}, "PLUGIN_CORPID is required"},
		{"secret missing", map[string]string{"corpid": "ww1", "agent_id": "1"}, "PLUGIN_CORP_SECRET is required"},
		{"octal agent id", app("agent_id", "0x10"), "PLUGIN_AGENT_ID"},
		{"agent id text", app("agent_id", "abc"), "PLUGIN_AGENT_ID"},
		{"app msgtype for robot", map[string]string{"webhook": "k", "msgtype": "textcard"}, "PLUGIN_MSGTYPE"},
		{"robot msgtype for app", app("msgtype", "markdown_v2"), "PLUGIN_MSGTYPE"},
		{"http api_base off loopback", app("api_base", "http://10.0.0.1:8080"), "PLUGIN_API_BASE"},
		{"api_base with path", app("api_base", "https://qyapi.weixin.qq.com/x"), "PLUGIN_API_BASE"},
		{"webhook other host", map[string]string{"webhook": "https://evil.example.com/cgi-bin/webhook/send?key=k"}, "PLUGIN_WEBHOOK"},
		{"webhook http", map[string]string{"webhook": "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}, "PLUGIN_WEBHOOK"},
		{"bad template", app("title", "{{ .Build.Number "), "PLUGIN_TITLE: template"},
		{"bad status", app("status", "meh"), "PLUGIN_STATUS"},
		{"bad only_on", app("only_on", "sometimes"), "PLUGIN_ONLY_ON"},
		{"bad users", app("users", "alice"), "PLUGIN_USERS"},
		{"bad lang", app("lang", "fr"), "PLUGIN_LANG"},
		{"too many parties", app("to_party", strings.Repeat("1|", 101)), "PLUGIN_TO_PARTY"},
		{"missing template file", app("template_file", "nope.tmpl"), "PLUGIN_TEMPLATE_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings(t, tc.kv)
			var se *plugin.SettingsError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a settings error containing %q", err, tc.want)
			}
		})
	}
	// Template execution errors are settings errors too.
	s, err := settings(t, app("description", "{{ .Build.Nope }}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Message(meta(), noEnv)
	var se *plugin.SettingsError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "PLUGIN_DESCRIPTION") {
		t.Fatalf("got %v", err)
	}
	if _, err := robotKey("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", 0); err != nil {
		t.Fatal(err)
	}
}

func TestTemplateHelpers(t *testing.T) {
	t.Parallel()
	rc := renderContext{status: "failure", loc: time.UTC, lookup: func(n string) (string, bool) {
		return map[string]string{"DRONE_REPO_NAME": "test", "DRONE_NETRC_PASSWORD": "pw"}[n], true
	}}
	d := templateData(meta(), "failure")
	tests := []struct{ tpl, want string }{
		{`{{ uppercasefirst "abc" }} {{ uppercase "a" }} {{ lowercase "B" }}`, "Abc A b"},
		{`{{ truncate "部署成功" 2 }}`, "部署"},
		{`{{ short .Commit.SHA }}`, "01234567"},
		{`{{ if failure }}F{{ end }}{{ if success }}S{{ end }}{{ if success "passed" }}s{{ end }}`, "Fs"},
		{`{{ datetime .Build.Started "15:04" "Asia/Shanghai" }} {{ datetime 1714528800 "2006-01-02" }}`, "10:00 2024-05-01"},
		{`{{ duration 100 160 }}`, "1m0s"},
		{`{{ .Commit.Author }} {{ .Commit.Title }} {{ .Build.Status }}`, "alice 修复登录 failure"},
		{`${DRONE_REPO_NAME}/${DRONE_NETRC_PASSWORD}`, "test/${DRONE_NETRC_PASSWORD}"},
		{`{{ urlencode "a b" }}`, "a+b"},
	}
	for _, tc := range tests {
		got, err := render("message", tc.tpl, d, rc)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.tpl, got, err, tc.want)
		}
	}
}
