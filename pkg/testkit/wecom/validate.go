package wecom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// object is a JSON object whose fields are read with strict types.
type object map[string]json.RawMessage

func decodeObject(raw []byte, what string) (object, error) {
	var o object
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil || o == nil {
		return nil, bad(82004, "%s is not a JSON object", what)
	}
	return o, nil
}

// only refuses keys outside allowed: the client misspelled a field (the
// real server ignores it silently, which is how btntext bugs hide).
func (o object) only(what string, allowed ...string) error {
	for k := range o {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
			}
		}
		if !ok {
			return bad(82004, "%s: unknown field %q (allowed: %s)", what, k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (o object) str(key string) (string, bool, error) {
	raw, ok := o[key]
	if !ok {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, bad(82004, "field %q must be a JSON string, got %s", key, raw)
	}
	if !utf8.ValidString(s) {
		return "", true, bad(82004, "field %q is not valid UTF-8", key)
	}
	return s, true, nil
}

func (o object) integer(key string, code int) (int, bool, error) {
	raw, ok := o[key]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, true, bad(code, "field %q must be a JSON integer, got %s", key, raw)
	}
	return n, true, nil
}

func (o object) flag(key string) (int, error) {
	n, ok, err := o.integer(key, 82004)
	if err != nil {
		return 0, err
	}
	if ok && n != 0 && n != 1 {
		return 0, bad(82004, "field %q must be 0 or 1, got %d", key, n)
	}
	return n, nil
}

func (o object) strings(key string) ([]string, error) {
	raw, ok := o[key]
	if !ok {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, bad(82004, "field %q must be a JSON array of strings, got %s", key, raw)
	}
	return l, nil
}

// text reads a string field with byte limits; required empties answer emptyCode.
func (o object) text(key string, limit, emptyCode int) (string, error) {
	s, _, err := o.str(key)
	if err != nil {
		return "", err
	}
	if s == "" && emptyCode != 0 {
		return "", bad(emptyCode, "field %q is empty", key)
	}
	if len(s) > limit {
		return "", bad(45002, "field %q is %d bytes, limit %d", key, len(s), limit)
	}
	return s, nil
}

func (s *Server) messageSend(r *http.Request, body []byte) reply {
	if r.Method != http.MethodPost {
		return s.refuse(APIMessageSend, 43004, "method %s, want POST", r.Method)
	}
	if code := s.checkToken(r); code != 0 {
		// A stale token is normal life, not a client bug: no violation.
		return reply{"errcode": code, "errmsg": Meaning(code)}
	}
	m, err := s.decodeAppMessage(body)
	if err != nil {
		return s.refuseErr(APIMessageSend, err)
	}
	invalid, code := s.recipients(m)
	if code != 0 {
		return s.refuse(APIMessageSend, code, "no valid recipient in touser=%q toparty=%q totag=%q", m.ToUser, m.ToParty, m.ToTag)
	}
	if p := markupProblem(m); p != "" {
		s.violatef("%s: %s", APIMessageSend, p)
	}
	s.msgSeq++
	m.MsgID = fmt.Sprintf("msg-%d", s.msgSeq)
	m.InvalidUser = invalid
	s.messages = append(s.messages, m)
	return reply{"errcode": 0, "errmsg": "ok", "invaliduser": invalid, "invalidparty": "", "invalidtag": "",
		"unlicenseduser": "", "msgid": m.MsgID, "response_code": "rc-" + m.MsgID}
}

func appTypes() []string {
	return []string{"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown", "miniprogram_notice", "template_card"}
}

// decodeAppMessage checks a message/send body as WeCom does, in WeCom's
// order: msgtype, fields, agentid, recipients, options, then the content.
func (s *Server) decodeAppMessage(body []byte) (Message, error) {
	m := Message{API: APIMessageSend, Raw: append(json.RawMessage(nil), body...)}
	o, err := decodeObject(body, "message/send body")
	if err != nil {
		return m, err
	}
	if m.MsgType, err = appMsgType(o); err != nil {
		return m, err
	}
	if err := o.only("message/send body", "touser", "toparty", "totag", "msgtype", "agentid", "safe",
		"enable_id_trans", "enable_duplicate_check", "duplicate_check_interval", m.MsgType); err != nil {
		return m, err
	}
	if m.AgentID, err = s.agentID(o); err != nil {
		return m, err
	}
	if err := decodeRecipients(o, &m); err != nil {
		return m, err
	}
	if m.Safe, err = decodeOptions(o); err != nil {
		return m, err
	}
	return m, decodeContent(o, &m)
}

// appMsgType returns the body's msgtype, refusing one the application
// message API does not have.
func appMsgType(o object) (string, error) {
	mt, _, err := o.str("msgtype")
	if err != nil {
		return "", err
	}
	known := false
	for _, t := range appTypes() {
		known = known || t == mt
	}
	if !known {
		return "", bad(40008, "msgtype %q", mt)
	}
	return mt, nil
}

// agentID returns the body's agentid: present and the fake's application.
func (s *Server) agentID(o object) (int, error) {
	agent, ok, err := o.integer("agentid", 40056)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, bad(41011, "agentid missing")
	}
	if agent != s.opts.AgentID {
		return 0, bad(40056, "agentid %d unknown", agent)
	}
	return agent, nil
}

// decodeRecipients sets touser, toparty and totag: strings of at most
// 1000, 100 and 100 "|"-separated ids, not all three empty.
func decodeRecipients(o object, m *Message) error {
	for _, f := range []struct {
		key string
		dst *string
		max int
	}{{"touser", &m.ToUser, 1000}, {"toparty", &m.ToParty, 100}, {"totag", &m.ToTag, 100}} {
		v, _, err := o.str(f.key)
		if err != nil {
			return err
		}
		if v != "" && len(strings.Split(v, "|")) > f.max {
			return bad(40031, "%s has more than %d ids", f.key, f.max)
		}
		*f.dst = v
	}
	if m.ToUser == "" && m.ToParty == "" && m.ToTag == "" {
		return bad(82001, "touser, toparty and totag all empty")
	}
	return nil
}

// decodeOptions checks the 0/1 flags and duplicate_check_interval
// (1..14400 seconds) and returns safe.
func decodeOptions(o object) (int, error) {
	safe, err := o.flag("safe")
	if err != nil {
		return safe, err
	}
	for _, k := range []string{"enable_id_trans", "enable_duplicate_check"} {
		if _, err := o.flag(k); err != nil {
			return safe, err
		}
	}
	if iv, ok, err := o.integer("duplicate_check_interval", 82004); err != nil {
		return safe, err
	} else if ok && (iv <= 0 || iv > 4*3600) {
		return safe, bad(82004, "duplicate_check_interval %d outside 1..14400", iv)
	}
	return safe, nil
}

// decodeContent decodes the object named by msgtype into m; the fake
// simulates text, markdown, textcard and news.
func decodeContent(o object, m *Message) error {
	mt := m.MsgType
	inner, ok := o[mt]
	if !ok {
		return bad(82004, "msgtype %s without a %q object", mt, mt)
	}
	c, err := decodeObject(inner, mt)
	if err != nil {
		return err
	}
	switch mt {
	case "text", "markdown":
		if err := c.only(mt, "content"); err != nil {
			return err
		}
		m.Content, err = c.text("content", 2048, 44004)
	case "textcard":
		err = decodeTextcard(c, m)
	case "news":
		if m.Safe == 1 {
			return bad(40074, "news with safe=1")
		}
		if err := c.only("news", "articles"); err != nil {
			return err
		}
		m.Articles, err = decodeArticles(c)
	default:
		return bad(40008, "msgtype %q is not simulated", mt)
	}
	return err
}

func decodeTextcard(c object, m *Message) error {
	if err := c.only("textcard", "title", "description", "url", "btntxt"); err != nil {
		return err
	}
	var err error
	if m.Title, err = c.text("title", 128, 41016); err != nil {
		return err
	}
	if m.Description, err = c.text("description", 512, 41033); err != nil {
		return err
	}
	if m.URL, err = c.text("url", 2048, 82004); err != nil {
		return err
	}
	if !strings.HasPrefix(m.URL, "http://") && !strings.HasPrefix(m.URL, "https://") {
		return bad(82004, "textcard url %q must start with http:// or https://", m.URL)
	}
	if m.BtnTxt, _, err = c.str("btntxt"); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(m.BtnTxt); n > 4 {
		return bad(45002, "btntxt is %d characters, limit 4", n)
	}
	return nil
}

func decodeArticles(c object) ([]Article, error) {
	raw, ok := c["articles"]
	if !ok {
		return nil, bad(82004, "news without articles")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, bad(82004, "articles must be an array")
	}
	if len(list) < 1 || len(list) > 8 {
		return nil, bad(82004, "%d articles, want 1 to 8", len(list))
	}
	out := make([]Article, 0, len(list))
	for i, r := range list {
		a, err := decodeObject(r, fmt.Sprintf("article %d", i))
		if err != nil {
			return nil, err
		}
		if err := a.only(fmt.Sprintf("article %d", i), "title", "description", "url", "picurl", "appid", "pagepath"); err != nil {
			return nil, err
		}
		var art Article
		for _, f := range []struct {
			key   string
			dst   *string
			limit int
			empty int
		}{{"title", &art.Title, 128, 41016}, {"description", &art.Description, 512, 0}, {"url", &art.URL, 2048, 0},
			{"picurl", &art.PicURL, 2048, 0}, {"appid", &art.AppID, 128, 0}, {"pagepath", &art.PagePath, 128, 0}} {
			if *f.dst, err = a.text(f.key, f.limit, f.empty); err != nil {
				return nil, err
			}
		}
		out = append(out, art)
	}
	return out, nil
}

// recipients returns the invalid user ids (lower-cased, |-joined) and 81013
// when no recipient at all is valid. Without Options.Users everyone is valid.
func (s *Server) recipients(m Message) (string, int) {
	if len(s.opts.Users) == 0 || m.ToUser == "@all" || m.ToUser == "" {
		return "", 0
	}
	var valid, invalid []string
	for _, u := range strings.Split(m.ToUser, "|") {
		found := false
		for _, k := range s.opts.Users {
			found = found || strings.EqualFold(k, u)
		}
		if found {
			valid = append(valid, u)
		} else {
			invalid = append(invalid, strings.ToLower(u))
		}
	}
	if len(valid) == 0 && m.ToParty == "" && m.ToTag == "" {
		return strings.Join(invalid, "|"), 81013
	}
	return strings.Join(invalid, "|"), 0
}

func (s *Server) webhookSend(r *http.Request, body []byte) reply {
	if r.Method != http.MethodPost {
		return s.refuse(APIWebhookSend, 43004, "method %s, want POST", r.Method)
	}
	key := r.URL.Query().Get("key")
	robot := -1
	for i, k := range s.opts.WebhookKeys {
		if k != "" && k == key {
			robot = i
		}
	}
	if robot < 0 {
		return s.refuse(APIWebhookSend, 93000, "unknown robot key (%d bytes)", len(key))
	}
	m, err := decodeRobotMessage(body)
	if err != nil {
		return s.refuseErr(APIWebhookSend, err)
	}
	now := s.opts.Now()
	recent := s.robotSends[key][:0]
	for _, t := range s.robotSends[key] {
		if now.Sub(t) < 60e9 {
			recent = append(recent, t)
		}
	}
	if len(recent) >= s.opts.RobotPerMinute {
		s.robotSends[key] = recent
		return reply{"errcode": 45009, "errmsg": Meaning(45009)}
	}
	s.robotSends[key] = append(recent, now)
	m.Robot = robot
	if p := markupProblem(m); p != "" {
		s.violatef("%s: %s", APIWebhookSend, p)
	}
	s.messages = append(s.messages, m)
	return reply{"errcode": 0, "errmsg": "ok"}
}

func decodeRobotMessage(body []byte) (Message, error) {
	m := Message{API: APIWebhookSend, Raw: append(json.RawMessage(nil), body...)}
	o, err := decodeObject(body, "webhook/send body")
	if err != nil {
		return m, err
	}
	mt, _, err := o.str("msgtype")
	if err != nil {
		return m, err
	}
	switch mt {
	case "text", "markdown", "markdown_v2", "news":
	case "image", "file", "voice", "template_card":
		return m, bad(40008, "robot msgtype %q is not simulated", mt)
	default:
		return m, bad(40008, "robot msgtype %q", mt)
	}
	m.MsgType = mt
	if err := o.only("webhook/send body", "msgtype", mt); err != nil {
		return m, err
	}
	inner, ok := o[mt]
	if !ok {
		return m, bad(82004, "msgtype %s without a %q object", mt, mt)
	}
	c, err := decodeObject(inner, mt)
	if err != nil {
		return m, err
	}
	switch mt {
	case "text":
		if err := c.only("text", "content", "mentioned_list", "mentioned_mobile_list"); err != nil {
			return m, err
		}
		if m.Content, err = c.text("content", 2048, 44004); err != nil {
			return m, err
		}
		if m.MentionedList, err = c.strings("mentioned_list"); err != nil {
			return m, err
		}
		m.MentionedMobileList, err = c.strings("mentioned_mobile_list")
	case "markdown", "markdown_v2":
		if err := c.only(mt, "content"); err != nil {
			return m, err
		}
		m.Content, err = c.text("content", 4096, 44004)
	case "news":
		if err := c.only("news", "articles"); err != nil {
			return m, err
		}
		m.Articles, err = decodeArticles(c)
	}
	return m, err
}
