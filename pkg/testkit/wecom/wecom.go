// Package wecom is a strict in-process fake of the WeCom (WeChat Work) APIs
// wechat-notify uses: gettoken, message/send and the group robot's
// webhook/send, as described in shared/api/wecom.md. It answers the way the
// real server does (errcode in the JSON body of an HTTP 200), records every
// request and every accepted message, and notes as a violation anything the
// real server would refuse, so tests can assert on their own goroutine.
// It also serves `make demo` as a simulator: New needs no *testing.T.
package wecom

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/serve"
)

// API names used in records and fault queues.
const (
	APIGetToken    = "gettoken"
	APIMessageSend = "message/send"
	APIWebhookSend = "webhook/send"
)

// Options configure a fake WeCom tenant.
type Options struct {
	// CorpID and CorpSecret are the credentials gettoken accepts.
	CorpID     string
	CorpSecret string
	// AgentID is the application message/send accepts.
	AgentID int
	// WebhookKeys are the group robots webhook/send accepts.
	WebhookKeys []string
	// TokenTTL is the lifetime of an access token (default 7200s, as WeCom).
	TokenTTL time.Duration
	// Users, when not empty, are the member ids visible to the app; other
	// touser ids come back in invaliduser (81013 when none is valid).
	Users []string
	// RobotPerMinute is the robot rate limit (default 20, as WeCom); over it
	// webhook/send answers 45009.
	RobotPerMinute int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Fault is a queued answer: an errcode in a normal reply, or an HTTP status.
type Fault struct {
	// Errcode and Errmsg are returned in an HTTP 200 JSON body.
	Errcode int
	Errmsg  string
	// HTTPStatus, when not zero, answers with that status and no JSON.
	HTTPStatus int
}

// Request is one recorded HTTP request.
type Request struct {
	API    string
	Method string
	Path   string
	// Query is the raw query string as received (it holds credentials).
	Query string
	Body  []byte
	// Errcode is what the fake answered (-2 for an HTTP-status fault).
	Errcode int
	Time    time.Time
}

// Message is an accepted message, decoded.
type Message struct {
	// API is APIMessageSend or APIWebhookSend.
	API string
	// Robot is the index, in Options.WebhookKeys, of the robot that received it.
	Robot   int
	AgentID int
	ToUser  string
	ToParty string
	ToTag   string
	MsgType string
	Safe    int
	// Title, Description, URL and BtnTxt are a textcard's fields.
	Title       string
	Description string
	URL         string
	BtnTxt      string
	// Content is the text, markdown or markdown_v2 content.
	Content             string
	MentionedList       []string
	MentionedMobileList []string
	Articles            []Article
	// InvalidUser lists the recipients WeCom could not reach.
	InvalidUser string
	MsgID       string
	// Raw is the request body.
	Raw json.RawMessage
}

// Article is one news article.
type Article struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	PicURL      string `json:"picurl,omitempty"`
	AppID       string `json:"appid,omitempty"`
	PagePath    string `json:"pagepath,omitempty"`
}

type token struct {
	value   string
	expires time.Time
}

// Server is a fake WeCom. It is an http.Handler; Start also serves it on
// 127.0.0.1.
type Server struct {
	opts Options

	mu         sync.Mutex
	tokens     map[string]token // value -> token
	current    string
	faults     map[string][]Fault
	requests   []Request
	messages   []Message
	violations []string
	robotSends map[string][]time.Time
	msgSeq     int

	srv *serve.Server
	// URL is the base URL when started (http://127.0.0.1:port), else "".
	URL string
}

// New returns a fake that is not listening; use it as an http.Handler.
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = 7200 * time.Second
	}
	if o.RobotPerMinute <= 0 {
		o.RobotPerMinute = 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{opts: o, tokens: map[string]token{}, faults: map[string][]Fault{}, robotSends: map[string][]time.Time{}}
}

// Start returns a fake serving on a fresh 127.0.0.1 port.
func Start(o Options) (*Server, error) {
	s := New(o)
	srv, err := serve.Start("", s)
	if err != nil {
		return nil, fmt.Errorf("wecom fake: %w", err)
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

// Close stops a started server.
func (s *Server) Close() {
	_ = s.srv.Close()
}

// Queue makes the next calls of api (APIGetToken, ...) answer faults, in order,
// before normal service resumes.
func (s *Server) Queue(api string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[api] = append(s.faults[api], faults...)
}

// QueueErrcode queues n answers of errcode on api, with WeCom's message for it.
func (s *Server) QueueErrcode(api string, errcode, n int) {
	f := Fault{Errcode: errcode, Errmsg: Meaning(errcode)}
	if errcode == 60020 {
		f.Errmsg = "not allow to access from your ip, hint: [1700000000_1_abcdef], from ip: 203.0.113.7, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"
	}
	for range n {
		s.Queue(api, f)
	}
}

// ExpireTokens invalidates every issued token, as WeCom may do early: the next
// message/send with one answers 42001 and gettoken issues a new token.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.opts.Now().Add(-time.Second)
	for k, t := range s.tokens {
		t.expires = past
		s.tokens[k] = t
	}
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls returns how many requests api received.
func (s *Server) Calls(api string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.API == api {
			n++
		}
	}
	return n
}

// Messages returns the messages accepted (errcode 0), in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Violations returns what the real server would have refused, in order. A
// well-behaved client causes none; queued faults are not violations.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Token returns the current access token ("" before the first gettoken).
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

type reply map[string]any

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	api := ""
	switch r.URL.Path {
	case "/cgi-bin/gettoken":
		api = APIGetToken
	case "/cgi-bin/message/send":
		api = APIMessageSend
	case "/cgi-bin/webhook/send":
		api = APIWebhookSend
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{API: api, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, Time: s.opts.Now()}
	if api == "" {
		s.violatef("%s %s: no such API", r.Method, r.URL.Path)
		rec.Errcode = -2
		s.requests = append(s.requests, rec)
		http.NotFound(w, r)
		return
	}
	var out reply
	if q := s.faults[api]; len(q) > 0 {
		f := q[0]
		s.faults[api] = q[1:]
		if f.HTTPStatus != 0 {
			rec.Errcode = -2
			s.requests = append(s.requests, rec)
			http.Error(w, http.StatusText(f.HTTPStatus), f.HTTPStatus)
			return
		}
		msg := f.Errmsg
		if msg == "" {
			msg = Meaning(f.Errcode)
		}
		out = reply{"errcode": f.Errcode, "errmsg": msg}
	} else {
		switch api {
		case APIGetToken:
			out = s.getToken(r)
		case APIMessageSend:
			out = s.messageSend(r, body)
		case APIWebhookSend:
			out = s.webhookSend(r, body)
		}
	}
	rec.Errcode, _ = out["errcode"].(int)
	s.requests = append(s.requests, rec)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(out)
}

// refuse records a violation and builds the error reply.
func (s *Server) refuse(api string, code int, format string, args ...any) reply {
	s.violatef("%s: errcode %d: %s", api, code, fmt.Sprintf(format, args...))
	return reply{"errcode": code, "errmsg": Meaning(code)}
}

func (s *Server) violatef(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

func (s *Server) getToken(r *http.Request) reply {
	if r.Method != http.MethodGet {
		return s.refuse(APIGetToken, 43001, "method %s, want GET", r.Method)
	}
	q := r.URL.Query()
	for k := range q {
		if k != "corpid" && k != "corpsecret" {
			s.violatef("gettoken: unknown query parameter %q", k)
		}
	}
	switch {
	case q.Get("corpid") == "":
		return s.refuse(APIGetToken, 41002, "corpid missing")
	case q.Get("corpid") != s.opts.CorpID:
		return s.refuse(APIGetToken, 40013, "corpid %q unknown", q.Get("corpid"))
	case q.Get("corpsecret") == "":
		return s.refuse(APIGetToken, 41004, "corpsecret missing")
	case q.Get("corpsecret") != s.opts.CorpSecret:
		return s.refuse(APIGetToken, 40001, "corpsecret does not match (raw query %d bytes; was it URL-escaped?)", len(r.URL.RawQuery))
	}
	now := s.opts.Now()
	t, ok := s.tokens[s.current]
	if !ok || !now.Before(t.expires) {
		// A new token only when the old one is gone; inside its validity
		// WeCom answers the same token again.
		t = token{value: randomToken(), expires: now.Add(s.opts.TokenTTL)}
		s.tokens[t.value] = t
		s.current = t.value
	}
	return reply{"errcode": 0, "errmsg": "ok", "access_token": t.value, "expires_in": int(t.expires.Sub(now).Seconds())}
}

func randomToken() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return "tok-" + hex.EncodeToString(b)
}

// checkToken returns the errcode for the request's access_token (0 if valid).
func (s *Server) checkToken(r *http.Request) int {
	v := r.URL.Query().Get("access_token")
	if v == "" {
		return 41001
	}
	t, ok := s.tokens[v]
	if !ok {
		return 40014
	}
	if !s.opts.Now().Before(t.expires) {
		return 42001
	}
	return 0
}

// Meaning returns WeCom's meaning of an errcode (api/wecom.md §3).
func Meaning(code int) string {
	if m, ok := meanings()[code]; ok {
		return m
	}
	return fmt.Sprintf("errcode %d", code)
}

func meanings() map[int]string {
	return map[int]string{
		-1:    "system busy",
		0:     "ok",
		40001: "invalid credential (secret)",
		40008: "invalid message type",
		40013: "invalid corpid",
		40014: "invalid access_token",
		40031: "invalid user list",
		40056: "invalid agentid",
		40074: "news message not support safe",
		41001: "access_token missing",
		41002: "corpid missing",
		41004: "corpsecret missing",
		41011: "agentid missing",
		41016: "title missing",
		41033: "description missing",
		42001: "access_token expired",
		43001: "require GET method",
		43004: "require POST method",
		44004: "text content is empty",
		45002: "content size out of limit",
		45009: "api freq out of limit",
		45033: "api concurrent out of limit",
		48002: "api forbidden",
		50002: "user out of range",
		60020: "not allow to access from your ip",
		81013: "user & party & tag all invalid",
		82001: "party, user, tag all empty",
		82004: "invalid message content",
		93000: "invalid webhook url",
		93004: "robot disabled",
		93008: "robot not in group",
	}
}

// errBad is a refusal found while decoding a body.
type errBad struct {
	code int
	msg  string
}

func (e *errBad) Error() string { return e.msg }

func bad(code int, format string, args ...any) error {
	return &errBad{code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) refuseErr(api string, err error) reply {
	var b *errBad
	if errors.As(err, &b) {
		return s.refuse(api, b.code, "%s", b.msg)
	}
	return s.refuse(api, 82004, "%v", err)
}

// Render returns m as a user would read it in the WeCom client.
func Render(m Message) string {
	var b strings.Builder
	if m.API == APIWebhookSend {
		fmt.Fprintf(&b, "┌─ group robot #%d · %s\n", m.Robot, m.MsgType)
	} else {
		to := strings.Trim(strings.Join([]string{m.ToUser, m.ToParty, m.ToTag}, " "), " ")
		fmt.Fprintf(&b, "┌─ app %d → %s · %s\n", m.AgentID, to, m.MsgType)
	}
	line := func(s string) {
		for _, l := range strings.Split(s, "\n") {
			fmt.Fprintf(&b, "│ %s\n", l)
		}
	}
	switch m.MsgType {
	case "textcard":
		line("【" + html.UnescapeString(m.Title) + "】")
		line(renderHTML(m.Description))
		btn := m.BtnTxt
		if btn == "" {
			btn = "详情"
		}
		line("[" + btn + "] " + m.URL)
	case "text":
		line(renderHTML(m.Content))
	case "markdown", "markdown_v2":
		line(renderMarkdown(m.Content))
	case "news":
		for _, a := range m.Articles {
			line("▣ " + a.Title)
			if a.Description != "" {
				line("  " + a.Description)
			}
			if a.URL != "" {
				line("  → " + a.URL)
			}
		}
	}
	if len(m.MentionedList) > 0 || len(m.MentionedMobileList) > 0 {
		line("@ " + strings.Join(append(append([]string{}, m.MentionedList...), m.MentionedMobileList...), " @"))
	}
	if m.InvalidUser != "" {
		line("(not delivered to: " + m.InvalidUser + ")")
	}
	b.WriteString("└─\n")
	return b.String()
}

func htmlText() *strings.Replacer {
	return strings.NewReplacer(
		`<div class="gray">`, "", `<div class="highlight">`, "» ", `<div class="normal">`, "",
		"</div>", "\n", "<br>", "\n", "<br/>", "\n", "<br />", "\n",
	)
}

func renderHTML(s string) string {
	s = htmlText().Replace(s)
	// <a href="u">t</a> reads as "t (u)".
	for {
		i := strings.Index(s, `<a href="`)
		if i < 0 {
			break
		}
		rest := s[i+len(`<a href="`):]
		j := strings.Index(rest, `">`)
		k := strings.Index(rest, "</a>")
		if j < 0 || k < j {
			break
		}
		s = s[:i] + rest[j+2:k] + " (" + rest[:j] + ")" + rest[k+len("</a>"):]
	}
	// Character references read as the characters they stand for.
	return strings.TrimRight(html.UnescapeString(s), "\n")
}

var mention = regexp.MustCompile(`<@([^>]+)>`)

func renderMarkdown(s string) string {
	for _, c := range []string{"info", "comment", "warning"} {
		s = strings.ReplaceAll(s, `<font color="`+c+`">`, "")
	}
	// <@userid> reads as a mention: @userid.
	return html.UnescapeString(mention.ReplaceAllString(strings.ReplaceAll(s, "</font>", ""), "@$1 "))
}
