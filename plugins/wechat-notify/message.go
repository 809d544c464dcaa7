package main

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/report"
)

// Limits in UTF-8 bytes (api/wecom.md), btntxt in characters.
const (
	limitTitle       = 128
	limitDescription = 512
	limitText        = 2048
	limitAppMarkdown = 2048
	limitBotMarkdown = 4096
	limitURL         = 2048
	limitBtnTxt      = 4
)

// Plan is what the plugin will send: a pure function of the settings and
// the build metadata.
type Plan struct {
	// Status is what the message reports: success or failure.
	Status string `json:"status"`
	// Skip, when not empty, says why nothing is sent.
	Skip string `json:"skip,omitempty"`
	// App is the message/send body, when app messages are configured.
	App *AppMessage `json:"app,omitempty"`
	// Robot is the webhook/send body for every configured robot.
	Robot *RobotMessage `json:"robot,omitempty"`
	// Notes are warnings about what could not be honoured.
	Notes []string `json:"notes,omitempty"`
}

// AppMessage is a message/send body. Field names and types are WeCom's.
type AppMessage struct {
	ToUser  string `json:"touser,omitempty"`
	ToParty string `json:"toparty,omitempty"`
	ToTag   string `json:"totag,omitempty"`
	common
	AgentID                int       `json:"agentid"`
	Safe                   int       `json:"safe,omitempty"`
	EnableDuplicateCheck   int       `json:"enable_duplicate_check,omitempty"`
	DuplicateCheckInterval int       `json:"duplicate_check_interval,omitempty"`
	Text                   *Content  `json:"text,omitempty"`
	TextCard               *TextCard `json:"textcard,omitempty"`
}

// RobotMessage is a webhook/send body.
type RobotMessage struct {
	common
	Text       *RobotText `json:"text,omitempty"`
	MarkdownV2 *Content   `json:"markdown_v2,omitempty"`
}

// common is what app and robot bodies share: the type, and the markdown
// and news bodies, which have the same shape in both.
type common struct {
	MsgType  string   `json:"msgtype"`
	Markdown *Content `json:"markdown,omitempty"`
	News     *News    `json:"news,omitempty"`
}

// Content is a text or markdown body.
type Content struct {
	Content string `json:"content"`
}

// RobotText is a robot's text body, with mentions.
type RobotText struct {
	Content             string   `json:"content"`
	MentionedList       []string `json:"mentioned_list,omitempty"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

// TextCard is an app text card. The button key is btntxt (not btntext).
type TextCard struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	BtnTxt      string `json:"btntxt,omitempty"`
}

// News is a list of articles.
type News struct {
	Articles []Article `json:"articles"`
}

// Article is one news article.
type Article struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	PicURL      string `json:"picurl,omitempty"`
}

// Message computes the plan. lookup reads ${DRONE_*}/${CI_*} references and
// the previous build's status. Template errors are settings errors (exit 2).
func (s *job) Message(m drone.Metadata, lookup func(string) (string, bool)) (Plan, error) {
	c := s.cfg
	p := Plan{Status: buildStatus(c.status, m)}
	if why := skipReason(c.onlyOn, p.Status, previousStatus(lookup)); why != "" {
		p.Skip = why
		return p, nil
	}
	rc := renderContext{status: p.Status, loc: c.loc, lookup: lookup, literals: ciLiterals(m)}
	d := templateData(m, p.Status)
	d.URL = m.Build.Link

	link, err := render("msg_url", s.MsgURL, d, rc)
	if err != nil {
		return p, err
	}
	if link = strings.TrimSpace(link); link == "" {
		link = m.Build.Link
	}
	if err := checkLink("msg_url", link); err != nil {
		return p, err
	}
	d.URL = link

	if d.Title, err = s.titleFor("text", d, rc); err != nil {
		return p, err
	}
	if c.app {
		if p.App, err = s.appMessage(d, rc, link, &p.Notes); err != nil {
			return p, err
		}
	}
	if len(c.robots) > 0 {
		if p.Robot, err = s.robotMessage(d, rc, m, &p, link); err != nil {
			return p, err
		}
	}
	return p, nil
}

// titleFor renders the title for msgtype mt, its values escaped for that
// format (text: as they are; .Title in templates is that one).
func (s *job) titleFor(mt string, d TemplateData, rc renderContext) (string, error) {
	src, setting := s.Title, "title"
	if src == "" {
		src, setting = defaults()[s.cfg.lang]["title"], "title (default)"
	}
	title, err := render(setting, src, d, rc.forType(mt))
	return strings.TrimSpace(title), err
}

// body renders the body template for msgtype mt, its values escaped for
// that format; custom reports whether it came from a setting rather than
// the defaults.
func (s *job) body(mt string, d TemplateData, rc renderContext) (text string, custom bool, err error) {
	rc = rc.forType(mt)
	setting, src := "", ""
	switch {
	case d.Status == "success" && s.TemplateSuccess != "":
		setting, src = "template_success", s.TemplateSuccess
	case d.Status == "failure" && s.TemplateFailure != "":
		setting, src = "template_failure", s.TemplateFailure
	case s.MessageText != "":
		setting, src = "message", s.MessageText
	case s.cfg.bodyFile != "":
		setting, src = "template_file", s.cfg.bodyFile
	case s.Description != "":
		setting, src = "description", s.Description
	default:
		text, err = render("default "+mt+" template", defaults()[s.cfg.lang][mt], d, rc)
		return strings.TrimSpace(text), false, err
	}
	text, err = render(setting, src, d, rc)
	return strings.TrimSpace(text), true, err
}

// withTitle puts an explicit title above a custom text or markdown body.
func (s *job) withTitle(mt, title, body string, custom bool) string {
	if !custom || s.Title == "" || title == "" {
		return body
	}
	if strings.HasPrefix(mt, "markdown") {
		return "### " + title + "\n" + body
	}
	return title + "\n" + body
}

func (s *job) appMessage(d TemplateData, rc renderContext, link string, notes *[]string) (*AppMessage, error) {
	c := s.cfg
	mt := c.appType
	title, err := s.titleFor(mt, d, rc)
	if err != nil {
		return nil, err
	}
	msg := &AppMessage{
		ToUser: strings.Join(c.toUser, "|"), ToParty: strings.Join(c.toParty, "|"), ToTag: strings.Join(c.toTag, "|"),
		common: common{MsgType: mt}, AgentID: c.agentID,
	}
	// WeCom honours safe for text only among these types (news + safe is
	// refused with 40074), so it is sent only there.
	if s.Safe && mt == "text" {
		msg.Safe = 1
	} else if s.Safe {
		*notes = append(*notes, "safe applies to text messages only; ignored for "+mt)
	}
	if s.EnableDuplicateCheck {
		msg.EnableDuplicateCheck, msg.DuplicateCheckInterval = 1, s.DuplicateCheckInterval
	}
	body, custom, err := s.body(mt, d, rc)
	if err != nil {
		return nil, err
	}
	switch mt {
	case "textcard":
		if link == "" {
			return nil, errorf("msg_url", "is required for a textcard when DRONE_BUILD_LINK is not set")
		}
		msg.TextCard = &TextCard{
			Title: truncateBytes(title, limitTitle), Description: truncateBytes(body, limitDescription),
			URL: link, BtnTxt: truncateChars(strings.TrimSpace(s.BtnTxt), limitBtnTxt),
		}
		if msg.TextCard.Title == "" {
			return nil, errorf("title", "renders empty; a textcard needs a title")
		}
		if msg.TextCard.Description == "" {
			return nil, errorf("description", "renders empty; a textcard needs a description")
		}
	case "text":
		msg.Text = &Content{Content: truncateBytes(s.withTitle(mt, title, body, custom), limitText)}
	case "markdown":
		msg.Markdown = &Content{Content: truncateBytes(s.withTitle(mt, title, body, custom), limitAppMarkdown)}
	case "news":
		a, err := s.article(title, body, link)
		if err != nil {
			return nil, err
		}
		msg.News = &News{Articles: []Article{a}}
	}
	if msg.Text != nil && msg.Text.Content == "" || msg.Markdown != nil && msg.Markdown.Content == "" {
		return nil, errorf("message", "renders empty; WeCom refuses an empty message")
	}
	return msg, nil
}

func (s *job) article(title, body, link string) (Article, error) {
	if err := checkLink("pic_url", s.PicURL); err != nil {
		return Article{}, err
	}
	a := Article{Title: truncateBytes(title, limitTitle), Description: truncateBytes(body, limitDescription), URL: link, PicURL: s.PicURL}
	if a.Title == "" {
		return a, errorf("title", "renders empty; a news article needs a title")
	}
	return a, nil
}

func (s *job) robotMessage(d TemplateData, rc renderContext, m drone.Metadata, p *Plan, link string) (*RobotMessage, error) {
	mt := s.cfg.botType
	title, err := s.titleFor(mt, d, rc)
	if err != nil {
		return nil, err
	}
	body, custom, err := s.body(mt, d, rc)
	if err != nil {
		return nil, err
	}
	mentions := slices.Clone(s.MentionedList.Value())
	if s.MentionAuthorOnFailure && p.Status == "failure" {
		email := strings.ToLower(m.Commit.Author.Email)
		if id, ok := s.cfg.users[email]; ok && email != "" {
			if !slices.Contains(mentions, id) {
				mentions = append(mentions, id)
			}
		} else {
			p.Notes = append(p.Notes, fmt.Sprintf("mention_author_on_failure: no users entry for the commit author's e-mail %q", m.Commit.Author.Email))
		}
	}
	mobiles := s.MentionedMobileList.Value()
	msg := &RobotMessage{common: common{MsgType: mt}}
	switch mt {
	case "text":
		msg.Text = &RobotText{Content: truncateBytes(s.withTitle(mt, title, body, custom), limitText), MentionedList: mentions, MentionedMobileList: mobiles}
	case "markdown":
		// Markdown mentions are <@userid> in the content; keep them whole
		// by cutting the body, not the mentions.
		var tail string
		for _, id := range mentions {
			if id == "@all" {
				p.Notes = append(p.Notes, "markdown cannot mention @all; use msgtype text")
				continue
			}
			tail += "<@" + id + ">"
		}
		if tail != "" {
			tail = "\n" + tail
		}
		if len(mobiles) > 0 {
			p.Notes = append(p.Notes, "mentioned_mobile_list works only with msgtype text")
		}
		msg.Markdown = &Content{Content: truncateBytes(s.withTitle(mt, title, body, custom), limitBotMarkdown-len(tail)) + tail}
	case "markdown_v2", "news":
		if len(mentions) > 0 || len(mobiles) > 0 {
			p.Notes = append(p.Notes, mt+" cannot mention anyone; mentions dropped (use text or markdown)")
		}
		if mt == "news" {
			a, err := s.article(title, body, link)
			if err != nil {
				return nil, err
			}
			msg.News = &News{Articles: []Article{a}}
		} else {
			msg.MarkdownV2 = &Content{Content: truncateBytes(s.withTitle(mt, title, body, custom), limitBotMarkdown)}
		}
	}
	return msg, nil
}

// checkLink refuses a link WeCom would refuse or that cannot be cut.
func checkLink(setting, v string) error {
	if v == "" {
		return nil
	}
	if !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return errorf(setting, "%q must start with http:// or https://", v)
	}
	if len(v) > limitURL {
		return errorf(setting, "is %d bytes; WeCom accepts at most %d (a cut link would be broken)", len(v), limitURL)
	}
	return nil
}

const ellipsis = "…"

// truncateBytes cuts s to at most max UTF-8 bytes on a character boundary,
// not inside an HTML tag, ending with … when it cut. Invalid UTF-8 is
// replaced first: WeCom refuses it.
func truncateBytes(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	cut := max - len(ellipsis)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	kept := s[:cut]
	if lt := strings.LastIndexByte(kept, '<'); lt >= 0 && lt > strings.LastIndexByte(kept, '>') {
		kept = kept[:lt]
	}
	// Nor inside a character reference an escaped value holds (&amp; &#91;).
	if amp := strings.LastIndexByte(kept, '&'); amp >= 0 && len(kept)-amp <= len("&#1234") &&
		strings.Trim(kept[amp+1:], "#0123456789abcdefghijklmnopqrstuvwxyz") == "" {
		kept = kept[:amp]
	}
	return kept + ellipsis
}

// truncateChars cuts s to at most n characters, the last being … when it cut.
func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + ellipsis
}

// print writes the plan and the requests it would make, secrets masked.
func (p Plan) print(w *report.Writer, c config) error {
	w.Printf("dry run: status %s, nothing is sent\n", p.Status)
	for _, n := range p.Notes {
		w.Printf("note: %s\n", n)
	}
	base := c.base.String()
	if p.App != nil {
		w.Printf("GET %s/cgi-bin/gettoken?corpid=...&corpsecret=******\n", base)
		if err := w.Document("POST "+base+"/cgi-bin/message/send?access_token=******", p.App); err != nil {
			return err
		}
	}
	for i := range c.robots {
		if err := w.Document(fmt.Sprintf("POST %s%s?key=****** (robot %d)", base, robotPath, i+1), p.Robot); err != nil {
			return err
		}
	}
	return nil
}
