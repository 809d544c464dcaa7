package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// baseImages returns the images the FROM lines of a Dockerfile name, in
// order, without duplicates, with global ARGs (defaults overridden by
// buildArgs) substituted. Stage names (FROM build AS x ... FROM x) and
// scratch are left out: there is nothing to pull for them.
func baseImages(dockerfile string, buildArgs map[string]*string) ([]string, error) {
	args := map[string]string{}
	stages := map[string]bool{}
	var out []string
	seen := map[string]bool{}
	sawFrom := false
	for _, l := range logicalLines(dockerfile) {
		fields := strings.Fields(l.text)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			// Only ARGs before the first FROM are in scope for FROM lines.
			if sawFrom {
				continue
			}
			for _, a := range fields[1:] {
				name, def, hasDef := strings.Cut(a, "=")
				if v, ok := buildArgs[name]; ok && v != nil {
					args[name] = *v
				} else if hasDef {
					args[name] = unquote(def)
				} else {
					args[name] = ""
				}
			}
		case "FROM":
			sawFrom = true
			rest := fields[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:] // --platform=...
			}
			if len(rest) == 0 {
				return nil, fmt.Errorf("line %d: FROM without an image", l.n)
			}
			img := expandArgs(rest[0], args)
			if img == "" || strings.EqualFold(img, "scratch") || stages[strings.ToLower(img)] || seen[img] {
				continue
			}
			seen[img] = true
			out = append(out, img)
		}
		// Stage names become known after their FROM line.
		for _, f := range pendingStages(fields) {
			stages[f] = true
		}
	}
	return out, nil
}

func pendingStages(fields []string) []string {
	if !strings.EqualFold(fields[0], "FROM") {
		return nil
	}
	for i := 1; i+1 < len(fields); i++ {
		if strings.EqualFold(fields[i], "AS") {
			return []string{strings.ToLower(fields[i+1])}
		}
	}
	return nil
}

type line struct {
	n    int // 1-based number of the first physical line
	text string
}

// logicalLines joins continuation lines (a trailing backslash) and drops
// comments and parser directives.
func logicalLines(s string) []line {
	var out []line
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(text, `\`) {
			cur.WriteString(strings.TrimSuffix(text, `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(text)
		out = append(out, line{start, cur.String()})
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, line{start, cur.String()})
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// expandArgs substitutes $NAME, ${NAME}, ${NAME:-default} and
// ${NAME:+alt} as the Dockerfile parser does for FROM.
func expandArgs(s string, args map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			expr := s[i+2 : i+end]
			i += end
			name, word, op := expr, "", ""
			for _, o := range []string{":-", ":+", "-", "+"} {
				if k := strings.Index(expr, o); k > 0 {
					name, word, op = expr[:k], expr[k+len(o):], o
					break
				}
			}
			v, set := args[name]
			switch op {
			case ":-":
				if v == "" {
					v = word
				}
			case "-":
				if !set {
					v = word
				}
			case ":+":
				if v != "" {
					v = word
				}
			case "+":
				if set {
					v = word
				}
			}
			b.WriteString(v)
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		if j == i+1 {
			b.WriteByte(c)
			continue
		}
		b.WriteString(args[s[i+1:j]])
		i = j - 1
	}
	return b.String()
}

// mirrorRef maps a Docker Hub image to its name on a mirror: the mirror
// serves Hub's repositories under the same path (library/ for official
// images). Images of any other registry are not mirrored ("", false).
func mirrorRef(image, mirrorHost string) (string, bool, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", false, fmt.Errorf("FROM image %q: %w", image, err)
	}
	if reference.Domain(named) != "docker.io" {
		return "", false, nil
	}
	named = reference.TagNameOnly(named)
	ref := mirrorHost + "/" + reference.Path(named)
	switch r := named.(type) {
	case reference.Digested:
		ref += "@" + r.Digest().String()
	case reference.Tagged:
		ref += ":" + r.Tag()
	}
	return ref, true, nil
}
