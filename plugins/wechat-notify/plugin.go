package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// Settings are the plugin's settings, filled by its flags. Names follow
// clem109/drone-wechat so its steps keep working.
type Settings struct {
	CorpID                 string
	CorpSecret             string
	AgentID                string
	ToUser                 string
	ToParty                string
	ToTag                  string
	MsgType                string
	Title                  string
	Description            string
	MessageText            string
	TemplateFile           string
	TemplateSuccess        string
	TemplateFailure        string
	Lang                   string
	Timezone               string
	MsgURL                 string
	BtnTxt                 string
	PicURL                 string
	Safe                   bool
	EnableDuplicateCheck   bool
	DuplicateCheckInterval int
	Webhook                cli.StringSlice
	MentionedList          cli.StringSlice
	MentionedMobileList    cli.StringSlice
	MentionAuthorOnFailure bool
	Users                  string
	Status                 string
	OnlyOn                 cli.StringSlice
	Retries                int
	RetryBackoff           time.Duration
	Timeout                time.Duration
	FailOnError            bool
	DryRun                 bool
	APIBase                string
}

// job is the checked work: the settings and their checked forms.
type job struct {
	*Settings
	cfg config
}

func (s *Settings) flags() []cli.Flag {
	ev := plugin.EnvVars
	return []cli.Flag{
		&cli.StringFlag{Name: "corpid", Usage: "WeCom corp id (app messages)", EnvVars: ev("corpid", "CORPID", "WEBHOOK_CORPID"), Destination: &s.CorpID},
		&cli.StringFlag{Name: "corp_secret", Usage: "the app's secret (app messages)", EnvVars: ev("corp_secret", "CORP_SECRET", "WEBHOOK_CORP_SECRET", "WEBHOOK_CORP_Secret"), Destination: &s.CorpSecret},
		&cli.StringFlag{Name: "agent_id", Usage: "the app's agent id, decimal (sent as a JSON integer)", EnvVars: ev("agent_id", "AGENT_ID", "WEBHOOK_AGENT_ID"), Destination: &s.AgentID},
		&cli.StringFlag{Name: "to_user", Usage: "member ids, comma or | separated; @all when to_user, to_party and to_tag are all empty", EnvVars: ev("to_user", "WEBHOOK_TO_USER"), Destination: &s.ToUser},
		&cli.StringFlag{Name: "to_party", Usage: "department ids, comma or | separated", EnvVars: ev("to_party", "WEBHOOK_TO_PARTY"), Destination: &s.ToParty},
		&cli.StringFlag{Name: "to_tag", Usage: "tag ids, comma or | separated", EnvVars: ev("to_tag", "WEBHOOK_TO_TAG"), Destination: &s.ToTag},
		&cli.StringFlag{Name: "msgtype", Usage: "app: textcard (default), text, markdown, news; robot: markdown (default), text, markdown_v2, news", EnvVars: ev("msgtype", "PLUGIN_MSG_TYPE"), Destination: &s.MsgType},
		&cli.StringFlag{Name: "title", Usage: "title template (textcard, news; first line of text/markdown)", EnvVars: ev("title", "WEBHOOK_TITLE"), Destination: &s.Title},
		&cli.StringFlag{Name: "description", Usage: "body template (textcard description, news description, text/markdown content)", EnvVars: ev("description", "WEBHOOK_DESCRIPTION"), Destination: &s.Description},
		&cli.StringFlag{Name: "message", Usage: "body template; wins over description", EnvVars: ev("message"), Destination: &s.MessageText},
		&cli.StringFlag{Name: "template_file", Usage: "body template read from this file (relative to the workspace)", EnvVars: ev("template_file"), Destination: &s.TemplateFile},
		&cli.StringFlag{Name: "template_success", Usage: "body template used when the build succeeded; wins over the others", EnvVars: ev("template_success"), Destination: &s.TemplateSuccess},
		&cli.StringFlag{Name: "template_failure", Usage: "body template used when the build failed; wins over the others", EnvVars: ev("template_failure"), Destination: &s.TemplateFailure},
		&cli.StringFlag{Name: "lang", Usage: "language of the default messages: zh or en", Value: "zh", EnvVars: ev("lang"), Destination: &s.Lang},
		&cli.StringFlag{Name: "timezone", Usage: "time zone of times in messages (datetime helper)", Value: "Asia/Shanghai", EnvVars: ev("timezone"), Destination: &s.Timezone},
		&cli.StringFlag{Name: "msg_url", Usage: "link of the card / article / text (template); default the build link", EnvVars: ev("msg_url", "WEBHOOK_MSG_URL"), Destination: &s.MsgURL},
		&cli.StringFlag{Name: "btn_txt", Usage: "textcard button text, at most 4 characters (sent as btntxt); WeCom's default 详情", EnvVars: ev("btn_txt", "PLUGIN_BTNTXT", "PLUGIN_BTN_TEXT", "WEBHOOK_BTN_TXT"), Destination: &s.BtnTxt},
		&cli.StringFlag{Name: "pic_url", Usage: "news article picture URL", EnvVars: ev("pic_url", "PLUGIN_PICURL"), Destination: &s.PicURL},
		&cli.BoolFlag{Name: "safe", Usage: "app: confidential, watermarked message (msgtype text only; ignored with a warning otherwise)", EnvVars: ev("safe", "WEBHOOK_SAFE"), Destination: &s.Safe},
		&cli.BoolFlag{Name: "enable_duplicate_check", Usage: "app: WeCom drops an identical message within duplicate_check_interval", EnvVars: ev("enable_duplicate_check"), Destination: &s.EnableDuplicateCheck},
		&cli.IntFlag{Name: "duplicate_check_interval", Usage: "seconds, 1 to 14400", Value: 1800, EnvVars: ev("duplicate_check_interval"), Destination: &s.DuplicateCheckInterval},
		&cli.StringSliceFlag{Name: "webhook", Usage: "group robot keys or full https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=... URLs", EnvVars: ev("webhook", "PLUGIN_WEBHOOK_KEY"), Destination: &s.Webhook},
		&cli.StringSliceFlag{Name: "mentioned_list", Usage: "robot text: user ids to mention (@all for everyone); markdown: written as `<@id>` in the content", EnvVars: ev("mentioned_list"), Destination: &s.MentionedList},
		&cli.StringSliceFlag{Name: "mentioned_mobile_list", Usage: "robot text: phone numbers to mention", EnvVars: ev("mentioned_mobile_list"), Destination: &s.MentionedMobileList},
		&cli.BoolFlag{Name: "mention_author_on_failure", Usage: "robot: mention the commit author (through users) when the build failed", EnvVars: ev("mention_author_on_failure"), Destination: &s.MentionAuthorOnFailure},
		&cli.StringFlag{Name: "users", Usage: "commit author e-mail to WeCom user id: JSON object or email=id list", EnvVars: ev("users"), Destination: &s.Users},
		&cli.StringFlag{Name: "status", Usage: "build status to report (success, failure); default from DRONE_BUILD_STATUS / CI_PIPELINE_STATUS and DRONE_FAILED_STEPS", EnvVars: ev("status"), Destination: &s.Status},
		&cli.StringSliceFlag{Name: "only_on", Usage: "send only for these: success, failure, changed (status differs from the previous build)", EnvVars: ev("only_on"), Destination: &s.OnlyOn},
		&cli.IntFlag{Name: "retries", Usage: "repeats after WeCom -1/45033, HTTP 5xx or network errors", Value: 3, EnvVars: ev("retries"), Destination: &s.Retries},
		&cli.DurationFlag{Name: "retry_backoff", Usage: "first wait before a failed request is repeated; it doubles, with jitter", Value: 500 * time.Millisecond, EnvVars: ev("retry_backoff"), Destination: &s.RetryBackoff},
		&cli.DurationFlag{Name: "timeout", Usage: "time limit of one HTTP attempt", Value: 15 * time.Second, EnvVars: ev("timeout"), Destination: &s.Timeout},
		&cli.BoolFlag{Name: "fail_on_error", Usage: "exit 1 when WeCom refuses a message; false: warn and exit 0", Value: true, EnvVars: ev("fail_on_error"), Destination: &s.FailOnError},
		&cli.BoolFlag{Name: "dry_run", Usage: "print the rendered messages and requests, secrets masked; send nothing", EnvVars: ev("dry_run"), Destination: &s.DryRun},
		&cli.StringFlag{Name: "api_base", Usage: "WeCom API base URL: https, or http on a loopback address (tests)", Value: defaultAPIBase, EnvVars: ev("api_base"), Destination: &s.APIBase},
	}
}

// notes is notes.md: the plugin's name, title, description, tags, secret
// and required settings and example step (front matter), then DOCS.md's
// notes.
//
//go:embed notes.md
var notes string

func newApp(version string) plugin.App {
	s := &Settings{}
	return plugin.FromNotes(notes, version, s, s.flags())
}

// Execute renders the message, then prints it (dry_run) or sends it.
func (s *job) Execute(ctx context.Context, env *plugin.Env) error {
	p, err := s.Message(env.Build, env.Lookup)
	if err != nil {
		return err
	}
	if env.Log.IsLevelEnabled(logrus.DebugLevel) {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(p)
		env.Log.Debugf("plan: %s", strings.TrimSpace(b.String()))
	}
	if p.Skip != "" {
		env.Log.Infof("nothing sent: %s", p.Skip)
		return s.writeResult(env, outcome{Status: p.Status, Skipped: p.Skip})
	}
	if s.DryRun {
		return p.print(env.Report("dry-run"), s.cfg)
	}
	c, err := s.newClient(env)
	if err != nil {
		return err // a bad ca_cert is a settings error, whatever fail_on_error says
	}
	out, err := s.send(ctx, env, c, p)
	if werr := s.writeResult(env, out); werr != nil {
		env.Log.Warnf("result file: %v", werr)
	}
	if err == nil {
		return nil
	}
	if !s.FailOnError {
		env.Log.Warnf("%v (fail_on_error is false: exit 0)", err)
		return nil
	}
	return err
}

func readTemplateFile(workspace, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if !filepath.IsAbs(name) {
		name = filepath.Join(workspace, name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", plugin.Invalid("template_file", "%v", err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// list splits a comma- or |-separated setting into trimmed ids.
func list(v string) []string { return setting.ListBy(v, "|") }

func errorf(setting, format string, args ...any) error {
	return plugin.Invalid(setting, format, args...)
}
