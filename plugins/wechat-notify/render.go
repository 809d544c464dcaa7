package main

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lightship-ci/lightship/pkg/drone"

	// Messages show times in the team's zone; the image is FROM scratch.
	_ "time/tzdata"
)

// TemplateData is what title, description, message and the other templates see.
type TemplateData struct {
	// Status is success or failure: what this message reports.
	Status      string
	Repo        drone.Repo
	Build       BuildData
	Commit      CommitData
	Stage       drone.Stage
	Step        drone.Step
	Tag         drone.Tag
	System      drone.System
	PullRequest int
	// Title is the rendered title (for bodies); URL the rendered msg_url.
	Title string
	URL   string
}

// BuildData is the build with the status this message reports.
type BuildData struct {
	drone.Build
	Status string
}

// CommitData is the commit with its message's parts at hand.
type CommitData struct {
	drone.Commit
	// Title is the first line of the message, Body the rest.
	Title string
	Body  string
}

func templateData(m drone.Metadata, status string) TemplateData {
	return TemplateData{
		Status: status, Repo: m.Repo, Build: BuildData{Build: m.Build, Status: status},
		Commit: CommitData{Commit: m.Commit, Title: m.Commit.Message.Title, Body: m.Commit.Message.Body},
		Stage:  m.Stage, Step: m.Step, Tag: m.Tag, System: m.System, PullRequest: m.PullRequest,
	}
}

// renderContext is what helpers need besides the data.
type renderContext struct {
	status string
	loc    *time.Location
	lookup func(string) (string, bool)
	// literals are values a CI may already have pasted into the settings
	// (Drone substitutes ${DRONE_COMMIT_MESSAGE} before the plugin runs).
	literals []string
	// esc escapes the values the template inserts, for the message's
	// format (nil: as they are).
	esc escaper
}

// forType is rc escaping for msgtype mt.
func (rc renderContext) forType(mt string) renderContext {
	rc.esc = escaperFor(mt)
	return rc
}

// ciLiterals are the commit texts, branch and author that may reach a
// setting through the CI's own substitution (${DRONE_COMMIT_MESSAGE} and
// the like), longest first where one holds another.
func ciLiterals(m drone.Metadata) []string {
	return []string{m.Commit.Message.String(), m.Commit.Message.Title, m.Commit.Message.Body,
		m.Commit.Author.Name, m.Commit.Author.Email, m.Commit.Author.Username, m.Commit.Branch}
}

// prepare turns a setting's text into template source: each literal (of 4
// bytes or more) holding template delimiters or a character some format
// escapes becomes an action printing it as written, so "fix {{ msg }}" that
// Drone pasted into the description does not fail and "<b>" it pasted is
// escaped as a value, not kept as markup; then ${DRONE_*} references are
// expanded outside those literals. Literals without delimiters are looked
// for outside the template's actions only.
func prepare(text string, literals []string) string {
	var quoted []string
	for _, l := range literals {
		if len(l) < 4 || !strings.ContainsAny(l, literalSpecials) || !strings.Contains(text, l) {
			continue
		}
		ph := fmt.Sprintf("\x00%d\x00", len(quoted))
		if strings.Contains(l, "{{") || strings.Contains(l, "}}") {
			text = strings.ReplaceAll(text, l, ph)
		} else {
			text = outsideActions(text, func(seg string) string { return strings.ReplaceAll(seg, l, ph) })
		}
		quoted = append(quoted, "{{ "+strconv.Quote(l)+" }}")
	}
	text = expandRefs(text)
	for i, q := range quoted {
		text = strings.ReplaceAll(text, fmt.Sprintf("\x00%d\x00", i), q)
	}
	return text
}

// literalSpecials are the characters that make a pasted literal worth
// quoting: template delimiters and what textcard or markdown escape.
const literalSpecials = "{}&<>\"'[]()*`#|\\"

// outsideActions applies f to the parts of text outside {{ }} actions.
func outsideActions(text string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "{{")
		if i < 0 {
			b.WriteString(f(text))
			return b.String()
		}
		j := strings.Index(text[i:], "}}")
		if j < 0 {
			b.WriteString(f(text[:i]) + text[i:])
			return b.String()
		}
		b.WriteString(f(text[:i]) + text[i:i+j+2])
		text = text[i+j+2:]
	}
}

// ciEnvAllowed says whether ${NAME} may reach a message: CI metadata only,
// never credentials the runner puts beside it.
func ciEnvAllowed(name string) bool {
	if !strings.HasPrefix(name, "DRONE_") && !strings.HasPrefix(name, "CI_") {
		return false
	}
	for _, bad := range []string{"NETRC", "PASSWORD", "SECRET", "TOKEN", "_KEY"} {
		if strings.Contains(name, bad) {
			return false
		}
	}
	return true
}

// expandRefs turns ${DRONE_X} / ${CI_X} into template actions that insert
// the value as text, so a commit message holding "{{" or "${...}" is never
// parsed. Other ${...} stay as written; $${X} is a literal ${X}.
func expandRefs(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i+2:], '}'); end >= 0 {
				name := s[i+2 : i+2+end]
				if isVarName(name) && ciEnvAllowed(name) {
					fmt.Fprintf(&b, "{{ciEnv %q}}", name)
					i += end + 3
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r != '_' && !(r >= 'A' && r <= 'Z') && !(r >= 'a' && r <= 'z') && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func parseTemplate(setting, text string, rc renderContext) (*template.Template, error) {
	t, err := template.New(setting).Option("missingkey=error").Funcs(funcs(rc)).Parse(prepare(text, rc.literals))
	if err != nil {
		return nil, errorf(setting, "template: %v", trimTemplateErr(err))
	}
	markValues(t)
	return t, nil
}

// render executes a template setting over d; the values it inserts are
// escaped by rc.esc.
func render(setting, text string, d TemplateData, rc renderContext) (string, error) {
	if text == "" {
		return "", nil
	}
	t, err := parseTemplate(setting, text, rc)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", errorf(setting, "template: %v", trimTemplateErr(err))
	}
	return unmark(b.String(), rc.esc), nil
}

func trimTemplateErr(err error) string {
	return strings.TrimPrefix(err.Error(), "template: ")
}

func funcs(rc renderContext) template.FuncMap {
	loc := rc.loc
	if loc == nil {
		loc = time.UTC
	}
	is := func(want string) func(...any) bool {
		return func(v ...any) bool {
			if len(v) == 0 {
				return rc.status == want
			}
			return normalStatus(fmt.Sprint(v[0])) == want
		}
	}
	return template.FuncMap{
		"uppercasefirst": uppercaseFirst,
		"uppercase":      strings.ToUpper,
		"lowercase":      strings.ToLower,
		"truncate":       truncateRunes,
		"short":          shortSHA,
		"urlencode":      url.QueryEscape,
		"contains":       func(sub, s string) bool { return strings.Contains(s, sub) },
		"replace":        func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"join":           func(l []string, sep string) string { return strings.Join(l, sep) },
		"success":        is("success"),
		"failure":        is("failure"),
		"since": func(v any) string {
			t, ok := asTime(v)
			if !ok {
				return ""
			}
			return humanDuration(time.Since(t))
		},
		"duration": func(a, b any) string {
			s, ok1 := asTime(a)
			e, ok2 := asTime(b)
			if !ok1 || !ok2 {
				return ""
			}
			return humanDuration(e.Sub(s))
		},
		"datetime": func(v any, layout ...string) string {
			t, ok := asTime(v)
			if !ok {
				return ""
			}
			l := "2006-01-02 15:04"
			if len(layout) > 0 && layout[0] != "" {
				l = layout[0]
			}
			z := loc
			if len(layout) > 1 {
				if zz, err := time.LoadLocation(layout[1]); err == nil {
					z = zz
				}
			}
			return t.In(z).Format(l)
		},
		valueFunc: markValue,
		"ciEnv": func(name string) string {
			if rc.lookup == nil || !ciEnvAllowed(name) {
				return ""
			}
			v, _ := rc.lookup(name)
			return v
		},
	}
}

func uppercaseFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n <= 0 {
		return ""
	}
	return string(r[:n])
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// asTime accepts a time.Time or Unix seconds (int, int64 or a string of them).
func asTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case int:
		return time.Unix(int64(t), 0), t > 0
	case int64:
		return time.Unix(t, 0), t > 0
	case float64:
		return time.Unix(int64(t), 0), t > 0
	case string:
		n, err := strconv.ParseInt(t, 10, 64)
		return time.Unix(n, 0), err == nil && n > 0
	}
	return time.Time{}, false
}

func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	return d.Round(time.Second).String()
}
