package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/droneyaml"
	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// Canary secrets: characters that must be URL-escaped, so raw and escaped
// forms both get checked.
const (
	canaryCorp  = "CANARY-corp+sec/ret&x=1"
	canaryKey   = "CANARY-robot-key-7f3a"
	canaryKey2  = "CANARY-robot-key-second"
	corpID      = "ww0123456789abcdef"
	agentID     = 1000002
	agentIDText = "1000002"
)

func startFake(t *testing.T, o wecom.Options) *wecom.Server {
	t.Helper()
	if o.CorpID == "" {
		o.CorpID, o.CorpSecret, o.AgentID = corpID, canaryCorp, agentID
	}
	if o.WebhookKeys == nil {
		o.WebhookKeys = []string{canaryKey, canaryKey2}
	}
	s, err := wecom.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func appEnv(fake *wecom.Server, kv ...string) map[string]string {
	env := map[string]string{
		"PLUGIN_CORPID": corpID, "PLUGIN_CORP_SECRET": canaryCorp, "PLUGIN_AGENT_ID": agentIDText,
		"PLUGIN_API_BASE": fake.URL,
		"DRONE_REPO":      "registry/test", "DRONE_REPO_NAME": "test", "DRONE_BUILD_NUMBER": "42",
		"DRONE_BUILD_LINK": "https://drone.example.com/registry/test/42", "DRONE_BUILD_STATUS": "success",
		"DRONE_COMMIT_SHA": "0123456789abcdef", "DRONE_BRANCH": "develop", "DRONE_COMMIT_AUTHOR": "alice",
		"DRONE_COMMIT_AUTHOR_EMAIL": "alice@example.com", "DRONE_COMMIT_MESSAGE": "修复登录\n\n详情",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func run(t *testing.T, env map[string]string) plugintest.Result {
	t.Helper()
	if _, ok := env["DRONE_WORKSPACE"]; !ok {
		env["DRONE_WORKSPACE"] = t.TempDir()
	}
	if _, ok := env["PLUGIN_RETRY_BACKOFF"]; !ok {
		env["PLUGIN_RETRY_BACKOFF"] = "5ms"
	}
	r := plugintest.Run(t, newApp("test"), env)
	assertNoSecrets(t, r.Output(), env)
	return r
}

// assertNoSecrets fails when any form of a secret appears in out.
func assertNoSecrets(t *testing.T, out string, extra map[string]string) {
	t.Helper()
	for _, s := range []string{canaryCorp, url.QueryEscape(canaryCorp), url.PathEscape(canaryCorp), "CANARY-robot-key", "tok-"} {
		if strings.Contains(out, s) {
			t.Fatalf("output holds secret %q:\n%s", s, out)
		}
	}
}

func violations(t *testing.T, fake *wecom.Server) {
	t.Helper()
	if v := fake.Violations(); len(v) != 0 {
		t.Fatalf("the fake WeCom saw requests the real one refuses: %q", v)
	}
}

func only(t *testing.T, fake *wecom.Server) wecom.Message {
	t.Helper()
	ms := fake.Messages()
	if len(ms) != 1 {
		t.Fatalf("want 1 message delivered, got %d: %+v", len(ms), ms)
	}
	return ms[0]
}

// seed is the 2018 blog's step, verbatim but for the image.
const seed = `
pipeline:
  report-deploy:
    image: lightship/wechat-notify
    secrets: [plugin_corp_secret, plugin_corpid, plugin_agent_id]
    title: '${DRONE_REPO_NAME}'
    description: |
      构建序列: ${DRONE_BUILD_NUMBER} 部署成功，干得好${DRONE_COMMIT_AUTHOR} ！
      更新内容: ${DRONE_COMMIT_MESSAGE}
    msg_url: 'http://project.company.com'
    btn_txt: 点击前往
    when:
      branch: develop
      status: [success]
`

func TestSeedStepSendsTheTextcard(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	build := map[string]string{"DRONE_REPO_NAME": "test", "DRONE_REPO": "registry/test", "DRONE_BUILD_NUMBER": "42",
		"DRONE_COMMIT_AUTHOR": "alice", "DRONE_COMMIT_MESSAGE": "update login page", "DRONE_BUILD_STATUS": "success",
		"DRONE_BUILD_LINK": "https://drone.example.com/registry/test/42"}
	ps, err := droneyaml.Parse(seed, build)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ps[0].Steps[0].Env(build, map[string]string{"plugin_corp_secret": canaryCorp, "plugin_corpid": corpID, "plugin_agent_id": agentIDText})
	if err != nil {
		t.Fatal(err)
	}
	env["PLUGIN_API_BASE"] = fake.URL // the one change: WeCom is the fake
	ws := t.TempDir()
	env["DRONE_WORKSPACE"] = ws
	env["DRONE_CARD_PATH"] = filepath.Join(ws, "card.json")
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	m := only(t, fake)
	want := wecom.Message{API: wecom.APIMessageSend, AgentID: agentID, ToUser: "@all", MsgType: "textcard",
		Title: "test", Description: "构建序列: 42 部署成功，干得好alice ！\n更新内容: update login page",
		URL: "http://project.company.com", BtnTxt: "点击前往", MsgID: m.MsgID}
	m.Raw = nil
	if m.MsgID == "" || !equalMessage(m, want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}
	if fake.Calls(wecom.APIGetToken) != 1 {
		t.Fatalf("want one gettoken, got %d", fake.Calls(wecom.APIGetToken))
	}
	var res outcome
	b, err := os.ReadFile(filepath.Join(ws, ".lightship", "wechat-notify.json"))
	if err != nil || json.Unmarshal(b, &res) != nil || len(res.Sent) != 1 || res.Sent[0].MsgID != m.MsgID {
		t.Fatalf("result file: %v %s", err, b)
	}
	if card, err := os.ReadFile(filepath.Join(ws, "card.json")); err != nil || !strings.Contains(string(card), m.MsgID) {
		t.Fatalf("card: %v %s", err, card)
	}
}

func equalMessage(a, b wecom.Message) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestDockerRunExpandsDroneRefs(t *testing.T) {
	t.Parallel()
	// Without a CI substituting them, ${DRONE_*} reach the plugin as written.
	fake := startFake(t, wecom.Options{})
	r := run(t, appEnv(fake, "PLUGIN_TITLE", "${DRONE_REPO_NAME}", "PLUGIN_DESCRIPTION", "#${DRONE_BUILD_NUMBER} ${HOME} ${DRONE_NETRC_PASSWORD}",
		"DRONE_NETRC_PASSWORD", "netrc-canary", "HOME", "/root"))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	m := only(t, fake)
	if m.Title != "test" || m.Description != "#42 ${HOME} ${DRONE_NETRC_PASSWORD}" {
		t.Fatalf("title %q description %q", m.Title, m.Description)
	}
}

func TestCommitMessageWithBracesPastedByDrone(t *testing.T) {
	t.Parallel()
	// Drone 0.8 substituted ${DRONE_COMMIT_MESSAGE} into the description
	// before the plugin runs: the braces are the commit's, not a template.
	fake := startFake(t, wecom.Options{})
	msg := "fix {{ msg }} binding ${DRONE_REPO}"
	r := run(t, appEnv(fake, "DRONE_COMMIT_MESSAGE", msg, "PLUGIN_DESCRIPTION", "更新内容: "+msg+" by {{ .Commit.Author }}"))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if d := only(t, fake).Description; d != "更新内容: "+msg+" by alice" {
		t.Fatalf("description %q", d)
	}
}

func TestRobotMarkdownWithMentions(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{CorpID: "unused"})
	env := map[string]string{
		"PLUGIN_WEBHOOK": canaryKey + ",https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + canaryKey2, "PLUGIN_API_BASE": fake.URL,
		"PLUGIN_MENTION_AUTHOR_ON_FAILURE": "true", "PLUGIN_USERS": `{"Alice@Example.com":"alice"}`, "PLUGIN_MENTIONED_LIST": "ops",
		"DRONE_REPO": "registry/test", "DRONE_BUILD_NUMBER": "43", "DRONE_BUILD_STATUS": "failure", "DRONE_FAILED_STEPS": "test,deploy",
		"DRONE_COMMIT_AUTHOR_EMAIL": "alice@example.com", "DRONE_BUILD_LINK": "https://drone.example.com/registry/test/43",
		"PLUGIN_LOG_LEVEL": "debug",
	}
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	ms := fake.Messages()
	if len(ms) != 2 || ms[0].Robot != 0 || ms[1].Robot != 1 {
		t.Fatalf("want one message to each robot, got %+v", ms)
	}
	c := ms[0].Content
	for _, want := range []string{"### registry/test #43 构建失败", `<font color="warning">test、deploy</font>`, "<@ops><@alice>"} {
		if !strings.Contains(c, want) {
			t.Errorf("markdown lacks %q:\n%s", want, c)
		}
	}
	t.Log("\n" + wecom.Render(ms[0]))
}

func TestChineseTextOverEveryLimitIsAccepted(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("部署成功，干得好！", 300)
	for _, mt := range []string{"textcard", "text", "markdown", "news"} {
		t.Run(mt, func(t *testing.T) {
			fake := startFake(t, wecom.Options{})
			r := run(t, appEnv(fake, "PLUGIN_MSGTYPE", mt, "PLUGIN_TITLE", long, "PLUGIN_DESCRIPTION", long, "PLUGIN_BTN_TXT", "点击前往查看"))
			if r.Code != 0 {
				t.Fatalf("exit %d:\n%s", r.Code, r.Output())
			}
			violations(t, fake) // the fake answers 45002 to anything over a limit
			only(t, fake)
		})
	}
	fake := startFake(t, wecom.Options{})
	r := run(t, map[string]string{"PLUGIN_WEBHOOK": canaryKey, "PLUGIN_API_BASE": fake.URL, "PLUGIN_MSGTYPE": "text", "PLUGIN_MESSAGE": long, "PLUGIN_MENTIONED_LIST": "@all"})
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	if m := only(t, fake); len(m.Content) > 2048 || m.MentionedList[0] != "@all" {
		t.Fatalf("robot text %d bytes, mentions %v", len(m.Content), m.MentionedList)
	}
}

func TestBusyTwiceThenSuccess(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	fake.QueueErrcode(wecom.APIMessageSend, -1, 2)
	r := run(t, appEnv(fake))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if n := fake.Calls(wecom.APIMessageSend); n != 3 {
		t.Fatalf("want 3 message/send calls, got %d", n)
	}
	only(t, fake)
	if !strings.Contains(r.Output(), "errcode -1") {
		t.Fatalf("retries not reported:\n%s", r.Output())
	}
}

func TestServerErrorsAndBusyExhaustRetries(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	fake.Queue(wecom.APIMessageSend, wecom.Fault{HTTPStatus: 502}, wecom.Fault{Errcode: 45033})
	fake.QueueErrcode(wecom.APIMessageSend, -1, 5)
	r := run(t, appEnv(fake, "PLUGIN_RETRIES", "3"))
	if r.Code != 1 || fake.Calls(wecom.APIMessageSend) != 4 || !strings.Contains(r.Output(), "busy") {
		t.Fatalf("exit %d after %d calls:\n%s", r.Code, fake.Calls(wecom.APIMessageSend), r.Output())
	}
}

func TestExpiredTokenIsFetchedOnce(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	// WeCom may invalidate a token early: expire it right after it is issued.
	var once sync.Once
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fake.ServeHTTP(w, r)
		if r.URL.Path == "/cgi-bin/gettoken" {
			once.Do(fake.ExpireTokens)
		}
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := run(t, appEnv(fake, "PLUGIN_API_BASE", srv.URL))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	only(t, fake)
	codes := []int{}
	for _, q := range fake.Requests() {
		codes = append(codes, q.Errcode)
	}
	if fake.Calls(wecom.APIGetToken) != 2 || len(codes) != 4 || codes[1] != 42001 {
		t.Fatalf("want gettoken, 42001, gettoken, ok; got errcodes %v", codes)
	}

	// Refused again after the new token: no loop, exit 1.
	fake2 := startFake(t, wecom.Options{})
	fake2.QueueErrcode(wecom.APIMessageSend, 42001, 2)
	r = run(t, appEnv(fake2))
	if r.Code != 1 || fake2.Calls(wecom.APIGetToken) != 2 || !strings.Contains(r.Output(), "42001") {
		t.Fatalf("exit %d, %d gettoken:\n%s", r.Code, fake2.Calls(wecom.APIGetToken), r.Output())
	}
}

func TestIPNotAllowedFailsWithItsMeaning(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	fake.QueueErrcode(wecom.APIGetToken, 60020, 1)
	r := run(t, appEnv(fake))
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	t.Log("\n" + r.Output())
	for _, want := range []string{"60020", "trusted-IP", "from ip: 203.0.113.7"} {
		if !strings.Contains(r.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, r.Output())
		}
	}
	if fake.Calls(wecom.APIMessageSend) != 0 {
		t.Fatal("sent without a token")
	}
}

func TestFailOnErrorFalseWarnsAndExitsZero(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	fake.QueueErrcode(wecom.APIGetToken, 60020, 1)
	r := run(t, appEnv(fake, "PLUGIN_FAIL_ON_ERROR", "false"))
	if r.Code != 0 || !strings.Contains(r.Output(), "level=warning") || !strings.Contains(r.Output(), "60020") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestBadCACertExits2EvenWithoutFailOnError(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	r := run(t, appEnv(fake, "PLUGIN_CA_CERT", "-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----", "PLUGIN_FAIL_ON_ERROR", "false"))
	if r.Code != 2 || !strings.Contains(r.Output(), "PLUGIN_CA_CERT") || len(fake.Requests()) != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestNoValidRecipientAndPartialRecipients(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{Users: []string{"zhangsan"}})
	r := run(t, appEnv(fake, "PLUGIN_TO_USER", "ghost"))
	if r.Code != 1 || !strings.Contains(r.Output(), "81013") || !strings.Contains(r.Output(), "no valid recipient") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	fake2 := startFake(t, wecom.Options{Users: []string{"zhangsan"}})
	r = run(t, appEnv(fake2, "PLUGIN_TO_USER", "zhangsan,Ghost"))
	t.Log("\n" + r.Output())
	if r.Code != 0 || !strings.Contains(r.Output(), "level=warning") || !strings.Contains(r.Output(), "ghost") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestOnlyOnFailureSkipsASuccessfulBuild(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	r := run(t, appEnv(fake, "PLUGIN_ONLY_ON", "failure"))
	if r.Code != 0 || len(fake.Requests()) != 0 || !strings.Contains(r.Output(), "nothing sent") {
		t.Fatalf("exit %d, %d requests:\n%s", r.Code, len(fake.Requests()), r.Output())
	}
	r = run(t, appEnv(fake, "PLUGIN_ONLY_ON", "failure", "DRONE_STAGE_STATUS", "failure", "DRONE_FAILED_STEPS", "test"))
	if r.Code != 0 || len(fake.Messages()) != 1 {
		t.Fatalf("failing stage not reported: exit %d:\n%s", r.Code, r.Output())
	}
}

func TestWoodpeckerEnvironment(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	env := map[string]string{
		"PLUGIN_WEBHOOK": canaryKey, "PLUGIN_API_BASE": fake.URL, "PLUGIN_MSGTYPE": "text", "PLUGIN_LANG": "en",
		"CI_REPO": "org/app", "CI_REPO_NAME": "app", "CI_PIPELINE_NUMBER": "7", "CI_PIPELINE_URL": "https://ci.example.com/repos/1/pipeline/7",
		"CI_COMMIT_SHA": "fedcba9876543210", "CI_COMMIT_BRANCH": "main", "CI_COMMIT_AUTHOR": "bob", "CI_COMMIT_MESSAGE": "Add cache",
		"CI_PIPELINE_STATUS": "success", "PLUGIN_STATUS": "failure", // Woodpecker's status may read success: the setting wins
	}
	r := run(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	c := only(t, fake).Content
	for _, want := range []string{"org/app #7 failed", "Branch: main", "fedcba98", "bob", "Add cache", `<a href="https://ci.example.com/repos/1/pipeline/7">`} {
		if !strings.Contains(c, want) {
			t.Errorf("text lacks %q:\n%s", want, c)
		}
	}
}

func TestTemplateErrorsExit2NamingTheSetting(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	for setting, tpl := range map[string]string{"PLUGIN_TITLE": "{{ .Build.Number ", "PLUGIN_DESCRIPTION": "{{ .Build.Nope }}", "PLUGIN_MSG_URL": "{{ nope }}"} {
		r := run(t, appEnv(fake, setting, tpl))
		if r.Code != 2 || !strings.Contains(r.Output(), setting) {
			t.Errorf("%s=%q: exit %d:\n%s", setting, tpl, r.Code, r.Output())
		}
	}
	if len(fake.Requests()) != 0 {
		t.Fatalf("requests sent despite bad templates: %d", len(fake.Requests()))
	}
}

func TestDryRunPrintsRequestsWithSecretsMasked(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	r := run(t, appEnv(fake, "PLUGIN_DRY_RUN", "true", "PLUGIN_WEBHOOK", canaryKey))
	if r.Code != 0 || len(fake.Requests()) != 0 {
		t.Fatalf("exit %d, %d requests:\n%s", r.Code, len(fake.Requests()), r.Output())
	}
	for _, want := range []string{"message/send?access_token=******", "webhook/send?key=******", `"agentid": 1000002`, `"msgtype": "textcard"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// listener accepts connections on 127.0.0.1 and counts them: a host that
// must never hear from the plugin.
func listener(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), &n
}

func TestSecretsGoNowhereElse(t *testing.T) {
	t.Parallel()
	other, hits := listener(t)
	fake := startFake(t, wecom.Options{})
	// Links in the message point at the other host: they are content, never fetched.
	r := run(t, appEnv(fake, "PLUGIN_MSGTYPE", "news", "PLUGIN_MSG_URL", "http://"+other+"/x", "PLUGIN_PIC_URL", "http://"+other+"/p.png",
		"PLUGIN_WEBHOOK", canaryKey, "PLUGIN_LOG_LEVEL", "debug"))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	violations(t, fake)
	// A robot URL on another host, an http api_base off loopback: refused.
	for _, env := range []map[string]string{
		{"PLUGIN_WEBHOOK": "https://" + other + "/cgi-bin/webhook/send?key=" + canaryKey},
		{"PLUGIN_WEBHOOK": "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + canaryKey},
		{"PLUGIN_CORPID": corpID, "PLUGIN_CORP_SECRET": canaryCorp, "PLUGIN_AGENT_ID": agentIDText, "PLUGIN_API_BASE": "http://192.0.2.1"},
	} {
		r := run(t, env)
		if r.Code != 2 {
			t.Fatalf("%v: exit %d:\n%s", env, r.Code, r.Output())
		}
	}
	// A redirect from api_base to the other host is not followed.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+other+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	r = run(t, appEnv(fake, "PLUGIN_API_BASE", redirect.URL, "PLUGIN_RETRIES", "0"))
	if r.Code != 1 {
		t.Fatalf("redirect: exit %d:\n%s", r.Code, r.Output())
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the other host received %d connections", n)
	}
	// Everything the fake received used the escaped secret; the token never
	// left the fake's host.
	for _, q := range fake.Requests() {
		if strings.Contains(q.Query, canaryCorp) {
			t.Fatalf("unescaped secret in query %q", q.Query)
		}
	}
}

func TestTransportErrorsDoNotPrintURLs(t *testing.T) {
	t.Parallel()
	// A server that hangs up after gettoken: the send fails at transport level.
	fake := startFake(t, wecom.Options{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/message/send" {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
			return
		}
		fake.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	r := run(t, appEnv(fake, "PLUGIN_API_BASE", srv.URL, "PLUGIN_RETRIES", "1", "PLUGIN_LOG_LEVEL", "debug"))
	t.Log("\n" + r.Output())
	if r.Code != 1 || strings.Contains(r.Output(), "access_token=") || !strings.Contains(r.Output(), "message/send") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if strings.Contains(r.Output(), fake.Token()) {
		t.Fatal("token printed")
	}
}

func TestNotWeComJSONIsNotRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>login</html>"))
	}))
	defer proxy.Close()
	r := run(t, map[string]string{"PLUGIN_WEBHOOK": canaryKey, "PLUGIN_API_BASE": proxy.URL, "DRONE_BUILD_LINK": "https://d/1"})
	if r.Code != 1 || calls.Load() != 1 || !strings.Contains(r.Output(), "decode answer") {
		t.Fatalf("exit %d after %d calls:\n%s", r.Code, calls.Load(), r.Output())
	}
}

func TestUnreachableWeComIsRetriedThenFails(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r := run(t, map[string]string{"PLUGIN_WEBHOOK": canaryKey, "PLUGIN_API_BASE": "http://" + addr, "PLUGIN_RETRIES": "2"})
	if r.Code != 1 || strings.Count(r.Output(), "again in") != 2 || !strings.Contains(r.Output(), "connection refused") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestHTTPSWithCACertAndUntrustedCertificate(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	tlsSrv := httptest.NewUnstartedServer(fake)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	r := run(t, appEnv(fake, "PLUGIN_API_BASE", tlsSrv.URL, "PLUGIN_CA_CERT", string(pemCert)))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	only(t, fake)
	before := len(fake.Requests())
	r = run(t, appEnv(fake, "PLUGIN_API_BASE", tlsSrv.URL))
	if r.Code != 1 || !strings.Contains(r.Output(), "certificate") || strings.Contains(r.Output(), "again in") {
		t.Fatalf("untrusted certificate: exit %d:\n%s", r.Code, r.Output())
	}
	if len(fake.Requests()) != before {
		t.Fatal("a request passed an untrusted certificate")
	}
}

func TestTemplateFileAndOnlyOnChanged(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "notify.tmpl"), []byte("{{ .Repo.Slug }} is back: {{ .Status }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(prev string) map[string]string {
		return appEnv(fake, "PLUGIN_MSGTYPE", "text", "PLUGIN_TEMPLATE_FILE", "notify.tmpl", "PLUGIN_ONLY_ON", "failure,changed",
			"DRONE_PREV_BUILD_STATUS", prev, "DRONE_WORKSPACE", ws)
	}
	if r := run(t, env("success")); r.Code != 0 || len(fake.Requests()) != 0 {
		t.Fatalf("unchanged success sent: exit %d:\n%s", r.Code, r.Output())
	}
	var res outcome
	b, _ := os.ReadFile(filepath.Join(ws, ".lightship", "wechat-notify.json"))
	if json.Unmarshal(b, &res) != nil || res.Skipped == "" {
		t.Fatalf("result of a skipped run: %s", b)
	}
	if r := run(t, env("failure")); r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if c := only(t, fake).Content; c != "registry/test is back: success" {
		t.Fatalf("content %q", c)
	}
}

// TestLightshipOwnPipelineStep runs the wechat-notify step of the
// repository's own .drone.yml, as Drone would set its environment.
func TestLightshipOwnPipelineStep(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(filepath.Join("..", "..", ".drone.yml"))
	if err != nil {
		t.Fatal(err)
	}
	build := map[string]string{"DRONE_REPO": "lightship-ci/lightship", "DRONE_BUILD_NUMBER": "9", "DRONE_BUILD_STATUS": "failure",
		"DRONE_FAILED_STEPS": "test", "DRONE_BUILD_LINK": "https://drone.example.com/lightship-ci/lightship/9"}
	ps, err := droneyaml.Parse(string(text), build)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, p := range ps {
		for _, st := range p.Steps {
			if !strings.HasPrefix(st.Image, "lightship/wechat-notify") {
				continue
			}
			steps++
			fake := startFake(t, wecom.Options{})
			secrets := map[string]string{"wecom_webhook": canaryKey, "corp_secret": canaryCorp, "corpid": corpID, "agent_id": agentIDText}
			env, err := st.Env(build, secrets)
			if err != nil {
				t.Fatal(err)
			}
			env["PLUGIN_API_BASE"] = fake.URL
			r := run(t, env)
			if r.Code != 0 {
				t.Fatalf("step %s: exit %d:\n%s", st.Name, r.Code, r.Output())
			}
			violations(t, fake)
			t.Logf("step %s:\n%s", st.Name, wecom.Render(only(t, fake)))
		}
	}
	if steps == 0 {
		t.Fatal("no lightship/wechat-notify step in .drone.yml")
	}
}
