package main

import (
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// What a template action prints (a value: commit message, author, branch,
// a ${DRONE_*} reference, a literal the CI pasted) is inserted text; the
// rest of the template is the author's markup. Each printing action gets a
// last command that wraps its output in these marks; after execution the
// marked values are escaped for the message's format, with the output
// before them as context, and the marks dropped.
const (
	valueStart = "\x1e"
	valueEnd   = "\x1f"
	// valueFunc is the template function that marks a value.
	valueFunc = "lightshipValue"
)

// escaper escapes value v for a format; before is the output so far.
type escaper func(v, before string) string

// escaperFor returns the escaping of msgtype mt: HTML for a textcard (its
// description takes <div> and <br>), markdown for markdown and markdown_v2,
// none for text and news (WeCom shows them as they are).
func escaperFor(mt string) escaper {
	switch mt {
	case "textcard":
		return escapeHTML
	case "markdown":
		return func(v, before string) string { return escapeMarkdown(v, before, false) }
	case "markdown_v2":
		return func(v, before string) string { return escapeMarkdown(v, before, true) }
	}
	return nil
}

// markValues makes every printing action of t's templates mark its output.
func markValues(t *template.Template) {
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			markList(tt.Tree, tt.Root)
		}
	}
}

func markList(tree *parse.Tree, l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 { // {{ $x := ... }} prints nothing
				id := parse.NewIdentifier(valueFunc).SetTree(tree).SetPos(n.Pos)
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
			}
		case *parse.IfNode:
			markList(tree, n.List)
			markList(tree, n.ElseList)
		case *parse.RangeNode:
			markList(tree, n.List)
			markList(tree, n.ElseList)
		case *parse.WithNode:
			markList(tree, n.List)
			markList(tree, n.ElseList)
		}
	}
}

// markValue is valueFunc: the value as text/template prints it, marked.
func markValue(args ...any) string {
	v := fmt.Sprint(args...)
	return valueStart + strings.NewReplacer(valueStart, "", valueEnd, "").Replace(v) + valueEnd
}

// unmark escapes every marked value of out with esc (none: as it is) and
// drops the marks.
func unmark(out string, esc escaper) string {
	var b strings.Builder
	for {
		i := strings.Index(out, valueStart)
		j := strings.Index(out, valueEnd)
		if i < 0 || j < i {
			b.WriteString(strings.NewReplacer(valueStart, "", valueEnd, "").Replace(out))
			return b.String()
		}
		b.WriteString(out[:i])
		v := out[i+len(valueStart) : j]
		if esc != nil {
			v = esc(v, b.String())
		}
		b.WriteString(v)
		out = out[j+len(valueEnd):]
	}
}

// escapeHTML escapes a value inserted into a textcard: & < > " ' as
// character references, so it cannot open or close a tag.
func escapeHTML(v, _ string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(v)
}

// escapeMarkdown escapes a value inserted into WeCom markdown: characters
// markdown or WeCom's tags would read as structure are written as HTML
// character references, which markdown shows as the character and never
// reads as syntax. Always: & < [ ] * ` (and | in markdown_v2, for tables);
// at the start of a line (after spaces or quote marks): # > - + =; ( right
// after a ] and ) inside a link's (url).
func escapeMarkdown(v, before string, v2 bool) string {
	line := before[strings.LastIndexByte(before, '\n')+1:]
	st := mdState{
		atStart: strings.TrimLeft(line, " \t>") == "",
		inDest:  linkDestinationOpen(line),
		prev:    lastByte(line),
	}
	var b strings.Builder
	for _, r := range v {
		if ref := st.reference(r, v2); ref != "" {
			b.WriteString(ref)
			st.prev = ';'
		} else {
			b.WriteRune(r)
			st.prev = byte(r)
		}
		st.next(r)
	}
	return b.String()
}

// mdState is where a markdown value's next character stands.
type mdState struct {
	atStart bool // only spaces or quote marks since the line began
	inDest  bool // inside the (url) of a link
	prev    byte // the character written before (';' after a reference)
}

// reference is the character reference r is written as, or "".
func (st *mdState) reference(r rune, v2 bool) string {
	switch {
	case strings.ContainsRune("&<[]*`", r), r == '|' && v2:
		return namedOrNumeric(r)
	case st.atStart && strings.ContainsRune("#>-+=", r):
		return namedOrNumeric(r)
	case r == '(' && st.prev == ']', r == ')' && st.inDest:
		return namedOrNumeric(r)
	}
	return ""
}

func (st *mdState) next(r rune) {
	switch {
	case r == '\n':
		st.atStart, st.inDest = true, false
	case r != ' ' && r != '\t':
		st.atStart = false
	}
}

func namedOrNumeric(r rune) string {
	switch r {
	case '&':
		return "&amp;"
	case '<':
		return "&lt;"
	case '>':
		return "&gt;"
	}
	return fmt.Sprintf("&#%d;", r)
}

// linkDestinationOpen says whether line ends inside a link's (url): a "]("
// with no ")" after it.
func linkDestinationOpen(line string) bool {
	i := strings.LastIndex(line, "](")
	return i >= 0 && !strings.Contains(line[i+2:], ")")
}

func lastByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}
