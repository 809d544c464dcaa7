package main

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
)

const (
	defaultAPIBase = "https://qyapi.weixin.qq.com"
	robotHost      = "qyapi.weixin.qq.com"
	robotPath      = "/cgi-bin/webhook/send"
)

// config is the checked form of the settings.
type config struct {
	base     *url.URL
	app      bool
	agentID  int
	toUser   []string
	toParty  []string
	toTag    []string
	appType  string
	robots   []string // keys
	botType  string
	users    map[string]string
	loc      *time.Location
	lang     string
	status   string // "" = from the environment
	onlyOn   []string
	bodyFile string
}

// appTypes and robotTypes are the message types of each target, the
// default first.
func appTypes() []string   { return []string{"textcard", "text", "markdown", "news"} }
func robotTypes() []string { return []string{"markdown", "text", "markdown_v2", "news"} }

// Validate checks the settings and returns the job; every error names its
// setting and exits 2.
func (s *Settings) Validate(env *plugin.Env) (plugin.Job, error) {
	c, err := s.check(env)
	if err != nil {
		return nil, err
	}
	j := &job{Settings: s, cfg: c}
	// Parse every template now, so a typo exits 2 before anything is sent.
	for _, t := range j.templates() {
		if t.text == "" {
			continue
		}
		if _, err := parseTemplate(t.setting, t.text, renderContext{literals: ciLiterals(env.Build)}); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// check reads the settings into their checked forms.
func (s *Settings) check(env *plugin.Env) (config, error) {
	c := config{}
	var err error
	if c.base, err = checkAPIBase(s.APIBase); err != nil {
		return c, err
	}
	if err := s.checkApp(&c); err != nil {
		return c, err
	}
	for i, w := range s.Webhook.Value() {
		key, err := robotKey(w, i)
		if err != nil {
			return c, err
		}
		// The harness masks the setting's value; a key cut out of a URL is a
		// new string and must be masked too.
		env.Redactor.Add(key)
		c.robots = append(c.robots, key)
	}
	if !c.app && len(c.robots) == 0 {
		return c, &plugin.SettingsError{Setting: plugin.EnvName("corpid"),
			Msg: "is required (with PLUGIN_CORP_SECRET and PLUGIN_AGENT_ID), or set PLUGIN_WEBHOOK for a group robot"}
	}
	if err := s.checkTypes(&c); err != nil {
		return c, err
	}
	if c.users, err = parseUsers(s.Users); err != nil {
		return c, err
	}
	switch l := strings.ToLower(s.Lang); {
	case l == "" || strings.HasPrefix(l, "zh"):
		c.lang = "zh"
	case strings.HasPrefix(l, "en"):
		c.lang = "en"
	default:
		return c, errorf("lang", "%q must be zh or en", s.Lang)
	}
	if c.loc, err = time.LoadLocation(s.Timezone); err != nil {
		return c, errorf("timezone", "%q is not a time zone name (Asia/Shanghai, UTC, ...)", s.Timezone)
	}
	if s.Status != "" {
		if c.status = normalStatus(s.Status); c.status == "" {
			return c, errorf("status", "%q must be success or failure", s.Status)
		}
	}
	for _, o := range s.OnlyOn.Value() {
		o = strings.ToLower(strings.TrimSpace(o))
		switch o {
		case "success", "failure", "changed":
			c.onlyOn = append(c.onlyOn, o)
		case "":
		default:
			return c, errorf("only_on", "%q must be success, failure or changed", o)
		}
	}
	if s.Retries < 0 || s.Retries > 10 {
		return c, errorf("retries", "%d must be 0 to 10", s.Retries)
	}
	if s.RetryBackoff <= 0 {
		return c, errorf("retry_backoff", "%s must be positive", s.RetryBackoff)
	}
	if s.Timeout <= 0 {
		return c, errorf("timeout", "%s must be positive", s.Timeout)
	}
	if c.bodyFile, err = readTemplateFile(env.Workspace, s.TemplateFile); err != nil {
		return c, err
	}
	return c, nil
}

// checkAPIBase accepts https, or http only on a loopback address: the corp
// secret, token and robot keys go to this host.
func checkAPIBase(v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(v), "/"))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Path != "" {
		return nil, errorf("api_base", "%q must be a bare base URL such as %s", v, defaultAPIBase)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, errorf("api_base", "%q: plain http is allowed only on a loopback address; credentials would travel in clear", v)
		}
	default:
		return nil, errorf("api_base", "%q must be https", v)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Settings) checkApp(c *config) error {
	set := map[string]bool{"corpid": s.CorpID != "", "corp_secret": s.CorpSecret != "", "agent_id": s.AgentID != ""}
	if !set["corpid"] && !set["corp_secret"] && !set["agent_id"] {
		return nil
	}
	for _, k := range []string{"corpid", "corp_secret", "agent_id"} {
		if !set[k] {
			return &plugin.SettingsError{Setting: plugin.EnvName(k), Msg: "is required for app messages (corpid, corp_secret and agent_id go together)"}
		}
	}
	// Decimal only: clem109 parsed with base 0, so 01000002 became octal.
	v := strings.TrimSpace(s.AgentID)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > 1<<31-1 || strings.HasPrefix(v, "+") {
		return errorf("agent_id", "%q must be a positive decimal number such as 1000002", s.AgentID)
	}
	c.app, c.agentID = true, int(n)
	c.toUser, c.toParty, c.toTag = list(s.ToUser), list(s.ToParty), list(s.ToTag)
	if len(c.toUser)+len(c.toParty)+len(c.toTag) == 0 {
		c.toUser = []string{"@all"}
	}
	for _, l := range []struct {
		setting string
		ids     []string
		max     int
	}{{"to_user", c.toUser, 1000}, {"to_party", c.toParty, 100}, {"to_tag", c.toTag, 100}} {
		if len(l.ids) > l.max {
			return errorf(l.setting, "%d ids; WeCom accepts at most %d", len(l.ids), l.max)
		}
	}
	return nil
}

// robotKey accepts a bare key or WeCom's own robot URL, nothing else: a
// key must never travel to another host.
func robotKey(v string, i int) (string, error) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "/") && !strings.Contains(v, ":") {
		if v == "" || strings.ContainsAny(v, "?&=# ") {
			return "", errorf("webhook", "item %d is not a robot key", i+1)
		}
		return v, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host != robotHost || u.Path != robotPath || u.User != nil {
		return "", errorf("webhook", "item %d must be a key or https://%s%s?key=...; other hosts are refused", i+1, robotHost, robotPath)
	}
	q := u.Query()
	key := q.Get("key")
	if key == "" || len(q) != 1 {
		return "", errorf("webhook", "item %d: the URL must carry key= and nothing else", i+1)
	}
	return key, nil
}

func (s *Settings) checkTypes(c *config) error {
	mt := strings.ToLower(strings.TrimSpace(s.MsgType))
	if c.app {
		c.appType = pick(mt, appTypes())
		if c.appType == "" {
			return errorf("msgtype", "%q is not an app message type (%s)", s.MsgType, strings.Join(appTypes(), ", "))
		}
	}
	if len(c.robots) > 0 {
		c.botType = pick(mt, robotTypes())
		if c.botType == "" {
			return errorf("msgtype", "%q is not a group robot message type (%s)", s.MsgType, strings.Join(robotTypes(), ", "))
		}
	}
	if s.EnableDuplicateCheck && (s.DuplicateCheckInterval < 1 || s.DuplicateCheckInterval > 4*3600) {
		return errorf("duplicate_check_interval", "%d must be 1 to 14400 seconds", s.DuplicateCheckInterval)
	}
	return nil
}

// pick returns v when it is in types, the first (default) type when v is
// empty, and "" otherwise.
func pick(v string, types []string) string {
	if v == "" {
		return types[0]
	}
	for _, t := range types {
		if t == v {
			return v
		}
	}
	return ""
}

// parseUsers reads the users map (pkg/setting's map rule). E-mail
// addresses match without case: keys are lowered.
func parseUsers(v string) (map[string]string, error) {
	pairs, err := setting.Map(v)
	if err != nil {
		return nil, errorf("users", "%v", err)
	}
	out := map[string]string{}
	for _, p := range pairs {
		if p.Value == "" {
			return nil, errorf("users", "%q must be email=userid", p.Key+"=")
		}
		out[strings.ToLower(p.Key)] = p.Value
	}
	return out, nil
}

type templateSetting struct{ setting, text string }

// templates lists every template setting with its text.
func (s *job) templates() []templateSetting {
	return []templateSetting{
		{"title", s.Title}, {"description", s.Description}, {"message", s.MessageText},
		{"template_file", s.cfg.bodyFile}, {"template_success", s.TemplateSuccess},
		{"template_failure", s.TemplateFailure}, {"msg_url", s.MsgURL},
	}
}
