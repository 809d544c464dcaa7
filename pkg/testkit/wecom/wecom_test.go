package wecom

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func call(t *testing.T, method, u string, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return map[string]any{"http": resp.StatusCode}
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func errcode(m map[string]any) int {
	f, _ := m["errcode"].(float64)
	return int(f)
}

const secret = "s3c+r/e&t=1"

func getToken(t *testing.T, s *Server) string {
	t.Helper()
	q := url.Values{"corpid": {"ww1"}, "corpsecret": {secret}}
	r := call(t, "GET", s.URL+"/cgi-bin/gettoken?"+q.Encode(), "")
	if errcode(r) != 0 {
		t.Fatalf("gettoken: %v", r)
	}
	return r["access_token"].(string)
}

func TestGetTokenChecksCredentialsAndEscaping(t *testing.T) {
	s := start(t, Options{CorpID: "ww1", CorpSecret: secret, AgentID: 1000002})
	raw := call(t, "GET", s.URL+"/cgi-bin/gettoken?corpid=ww1&corpsecret="+secret, "")
	if errcode(raw) != 40001 {
		t.Fatalf("unescaped secret: want 40001, got %v", raw)
	}
	if r := call(t, "GET", s.URL+"/cgi-bin/gettoken?corpid=ww2&corpsecret=x", ""); errcode(r) != 40013 {
		t.Fatalf("wrong corpid: want 40013, got %v", r)
	}
	a, b := getToken(t, s), getToken(t, s)
	if a != b || len(a) > 512 {
		t.Fatalf("want the same token inside its validity, got %q and %q", a, b)
	}
	if len(s.Violations()) != 3 { // the raw & also made an unknown parameter
		t.Fatalf("want 3 violations, got %q", s.Violations())
	}
}

func TestMessageSendStrictFields(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := start(t, Options{CorpID: "ww1", CorpSecret: secret, AgentID: 1000002, Users: []string{"alice"}, TokenTTL: time.Hour,
		Now: func() time.Time { return now }})
	tok := getToken(t, s)
	send := s.URL + "/cgi-bin/message/send?access_token=" + tok
	card := func(extra string) string {
		return `{"touser":"@all","msgtype":"textcard","agentid":1000002,"textcard":{"title":"t","description":"d","url":"https://x"` + extra + `}}`
	}
	long := strings.Repeat("界", 43) // 129 bytes
	tests := []struct {
		name string
		body string
		want int
	}{
		{"ok", card(`,"btntxt":"点击前往"`), 0},
		{"btntext misspelled", card(`,"btntext":"go"`), 82004},
		{"btntxt over 4 runes", card(`,"btntxt":"Details"`), 45002},
		{"agentid as string", `{"touser":"@all","msgtype":"text","agentid":"1000002","text":{"content":"x"}}`, 40056},
		{"agentid missing", `{"touser":"@all","msgtype":"text","text":{"content":"x"}}`, 41011},
		{"no recipients", `{"msgtype":"text","agentid":1000002,"text":{"content":"x"}}`, 82001},
		{"title over 128 bytes", `{"touser":"@all","msgtype":"textcard","agentid":1000002,"textcard":{"title":"` + long + `","description":"d","url":"https://x"}}`, 45002},
		{"url not http", `{"touser":"@all","msgtype":"textcard","agentid":1000002,"textcard":{"title":"t","description":"d","url":"ftp://x"}}`, 82004},
		{"empty text", `{"touser":"@all","msgtype":"text","agentid":1000002,"text":{"content":""}}`, 44004},
		{"news with safe", `{"touser":"@all","msgtype":"news","agentid":1000002,"safe":1,"news":{"articles":[{"title":"a"}]}}`, 40074},
		{"unknown users only", `{"touser":"Bob","msgtype":"text","agentid":1000002,"text":{"content":"x"}}`, 81013},
		{"bad msgtype", `{"touser":"@all","msgtype":"card","agentid":1000002}`, 40008},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errcode(call(t, "POST", send, tc.body)); got != tc.want {
				t.Fatalf("errcode %d, want %d", got, tc.want)
			}
		})
	}
	if n := len(s.Violations()); n != len(tests)-1 {
		t.Fatalf("want %d violations, got %q", len(tests)-1, s.Violations())
	}
	r := call(t, "POST", send, `{"touser":"alice|Bob","msgtype":"text","agentid":1000002,"text":{"content":"hi"}}`)
	if errcode(r) != 0 || r["invaliduser"] != "bob" || r["msgid"] == "" {
		t.Fatalf("partial recipients: %v", r)
	}
	if got := len(s.Messages()); got != 2 {
		t.Fatalf("want 2 accepted messages, got %d", got)
	}
}

func TestTokenExpiryAndQueuedFaults(t *testing.T) {
	s := start(t, Options{CorpID: "ww1", CorpSecret: secret, AgentID: 7})
	tok := getToken(t, s)
	body := `{"touser":"@all","msgtype":"text","agentid":7,"text":{"content":"x"}}`
	s.ExpireTokens()
	if r := call(t, "POST", s.URL+"/cgi-bin/message/send?access_token="+tok, body); errcode(r) != 42001 {
		t.Fatalf("expired: %v", r)
	}
	if r := call(t, "POST", s.URL+"/cgi-bin/message/send?access_token=nope", body); errcode(r) != 40014 {
		t.Fatalf("unknown token: %v", r)
	}
	if r := call(t, "POST", s.URL+"/cgi-bin/message/send", body); errcode(r) != 41001 {
		t.Fatalf("no token: %v", r)
	}
	tok2 := getToken(t, s)
	if tok2 == tok {
		t.Fatal("want a new token after expiry")
	}
	s.QueueErrcode(APIMessageSend, -1, 1)
	s.Queue(APIMessageSend, Fault{HTTPStatus: 502})
	u := s.URL + "/cgi-bin/message/send?access_token=" + tok2
	if r := call(t, "POST", u, body); errcode(r) != -1 {
		t.Fatalf("queued -1: %v", r)
	}
	if r := call(t, "POST", u, body); r["http"] != 502 {
		t.Fatalf("queued 502: %v", r)
	}
	if r := call(t, "POST", u, body); errcode(r) != 0 {
		t.Fatalf("after faults: %v", r)
	}
	if v := s.Violations(); len(v) != 0 {
		t.Fatalf("violations: %q", v)
	}
}

func TestRobotMessagesAndRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := start(t, Options{WebhookKeys: []string{"k1", "k2"}, RobotPerMinute: 2, Now: func() time.Time { return now }})
	u := s.URL + "/cgi-bin/webhook/send?key=k2"
	md := `{"msgtype":"markdown","markdown":{"content":"### Build <font color=\"warning\">failure</font>\n<@alice>"}}`
	if r := call(t, "POST", u, md); errcode(r) != 0 {
		t.Fatalf("markdown: %v", r)
	}
	if r := call(t, "POST", u, `{"msgtype":"text","text":{"content":"x","mentioned_list":["alice","@all"]}}`); errcode(r) != 0 {
		t.Fatalf("text: %v", r)
	}
	if r := call(t, "POST", u, md); errcode(r) != 45009 {
		t.Fatalf("third in a minute: %v", r)
	}
	if r := call(t, "POST", s.URL+"/cgi-bin/webhook/send?key=nope", md); errcode(r) != 93000 {
		t.Fatalf("unknown key: %v", r)
	}
	if r := call(t, "POST", s.URL+"/cgi-bin/webhook/send?key=k1", `{"msgtype":"markdown","markdown":{"content":"x"},"mentioned_list":["a"]}`); errcode(r) != 82004 {
		t.Fatalf("mentions outside text: %v", r)
	}
	ms := s.Messages()
	if len(ms) != 2 || ms[0].Robot != 1 || ms[1].MentionedList[0] != "alice" {
		t.Fatalf("messages: %+v", ms)
	}
	out := Render(ms[0])
	if !strings.Contains(out, "Build failure") || !strings.Contains(out, "group robot #1") {
		t.Fatalf("render: %s", out)
	}
}

func TestRenderTextcard(t *testing.T) {
	got := Render(Message{API: APIMessageSend, AgentID: 1000002, ToUser: "@all", MsgType: "textcard", Title: "test",
		Description: `<div class="gray">2024-05-01</div><div class="highlight">failure</div>by alice`, URL: "https://d/1"})
	want := "┌─ app 1000002 → @all · textcard\n│ 【test】\n│ 2024-05-01\n│ » failure\n│ by alice\n│ [详情] https://d/1\n└─\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTokensExpireAfterTheirTTL(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1_700_000_000)
	s := start(t, Options{CorpID: "ww1", CorpSecret: secret, AgentID: 7, TokenTTL: time.Hour,
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	q := url.Values{"corpid": {"ww1"}, "corpsecret": {secret}}
	r := call(t, "GET", s.URL+"/cgi-bin/gettoken?"+q.Encode(), "")
	if r["expires_in"] != float64(3600) {
		t.Fatalf("expires_in: %v", r)
	}
	tok := r["access_token"].(string)
	body := `{"touser":"@all","msgtype":"text","agentid":7,"text":{"content":"x"}}`
	clock.Add(3599)
	if r := call(t, "POST", s.URL+"/cgi-bin/message/send?access_token="+tok, body); errcode(r) != 0 {
		t.Fatalf("inside the TTL: %v", r)
	}
	clock.Add(1)
	if r := call(t, "POST", s.URL+"/cgi-bin/message/send?access_token="+tok, body); errcode(r) != 42001 {
		t.Fatalf("at the TTL: %v", r)
	}
	if getToken(t, s) == tok {
		t.Fatal("an expired token was issued again")
	}
}

func TestUndocumentedMarkupIsAViolation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		m    Message
		want string // "" for none
	}{
		{Message{MsgType: "textcard", Title: "t", Description: `<div class="gray">a</div><br>b &lt;b&gt;`}, ""},
		{Message{MsgType: "textcard", Title: "t", Description: `<div class="gray">a</div></div>`}, "closes"},
		{Message{MsgType: "textcard", Title: "t", Description: `<b>x</b>`}, `undocumented markup "<b>"`},
		{Message{MsgType: "textcard", Title: "<b>t</b>", Description: "d"}, "title holds a tag"},
		{Message{MsgType: "markdown", Content: `<font color="info">ok</font> &lt;b>`}, ""},
		{Message{MsgType: "markdown", Content: `<font color="red">x</font>`}, "undocumented"},
		{Message{MsgType: "markdown", Content: `<font color="info">x`}, "open"},
		{Message{API: APIWebhookSend, MsgType: "markdown", Content: "hi <@alice>"}, ""},
		{Message{API: APIMessageSend, MsgType: "markdown", Content: "hi <@alice>"}, "undocumented"},
		{Message{API: APIWebhookSend, MsgType: "markdown_v2", Content: "hi <@alice>"}, "undocumented"},
		{Message{MsgType: "text", Content: "<b>as sent</b>"}, ""},
	} {
		got := markupProblem(tc.m)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
	}
}
