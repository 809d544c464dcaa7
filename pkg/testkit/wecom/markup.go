package wecom

import (
	"fmt"
	"regexp"
	"strings"
)

// Markup the WeCom docs name for each format (doc 90236 and 91770): a
// textcard description takes <br> and <div class="gray|highlight|normal">;
// markdown takes <font color="info|comment|warning"> and, from a robot,
// <@userid> mentions. A textcard or markdown message holding another tag,
// or one of these unbalanced, is recorded as a violation: the client shows
// undocumented markup as it likes, so a sender must not emit it (a value
// with "<b>" or "</div>" must arrive escaped). Text is not checked: it is
// shown as sent (only <a href> is documented as markup there).
func markupProblem(m Message) string {
	var text string
	var allowed []*regexp.Regexp
	switch m.MsgType {
	case "textcard":
		text, allowed = m.Description, textcardTags()
		if tagRE().MatchString(m.Title) {
			return fmt.Sprintf("textcard title holds a tag: %q", m.Title)
		}
	case "markdown", "markdown_v2":
		text, allowed = m.Content, markdownTags(m.API == APIWebhookSend && m.MsgType == "markdown")
	default:
		return ""
	}
	return checkTags(m.MsgType, text, allowed)
}

func tagRE() *regexp.Regexp { return regexp.MustCompile(`</?[A-Za-z@][^<>]*>`) }

func textcardTags() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^<div class="(gray|highlight|normal)">$`), regexp.MustCompile(`^</div>$`),
		regexp.MustCompile(`^<br ?/?>$`),
	}
}

func markdownTags(mentions bool) []*regexp.Regexp {
	tags := []*regexp.Regexp{regexp.MustCompile(`^<font color="(info|comment|warning)">$`), regexp.MustCompile(`^</font>$`)}
	if mentions {
		tags = append(tags, regexp.MustCompile(`^<@[^<>\s]+>$`))
	}
	return tags
}

// checkTags reports a tag of text none of allowed matches, or an opening
// tag without its closing one (or the reverse).
func checkTags(what, text string, allowed []*regexp.Regexp) string {
	depth := map[string]int{}
	for _, tag := range tagRE().FindAllString(text, -1) {
		ok := false
		for _, a := range allowed {
			ok = ok || a.MatchString(tag)
		}
		if !ok {
			return fmt.Sprintf("%s holds undocumented markup %q", what, tag)
		}
		name := strings.Trim(strings.Fields(tag)[0], "</>")
		switch {
		case strings.HasPrefix(tag, "</"):
			depth[name]--
		case name != "br" && !strings.HasPrefix(name, "@"):
			depth[name]++
		}
		if depth[name] < 0 {
			return fmt.Sprintf("%s closes %q it did not open", what, tag)
		}
	}
	for name, d := range depth {
		if d != 0 {
			return fmt.Sprintf("%s leaves <%s> open", what, name)
		}
	}
	return ""
}
