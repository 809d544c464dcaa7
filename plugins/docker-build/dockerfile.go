package main

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// baseImages returns the images the FROM lines of a Dockerfile name, in
// order, without duplicates, with global ARGs (defaults overridden by
// buildArgs) substituted. The Dockerfile is read by BuildKit's own parser
// and shell lexer (escape directive, quoting, heredocs as BuildKit sees
// them). Stage names (FROM build AS x ... FROM x) and scratch are left
// out: there is nothing to pull for them.
func baseImages(dockerfile string, buildArgs map[string]*string) ([]string, error) {
	res, err := parser.Parse(strings.NewReader(dockerfile))
	if err != nil {
		return nil, err
	}
	lex := shell.NewLex(res.EscapeToken)
	var env []string // global ARGs, in order
	var out []string
	seen, stages := map[string]bool{}, map[string]bool{}
	sawFrom := false
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "arg":
			if sawFrom {
				continue // only ARGs before the first FROM are in scope for FROM
			}
			if env, err = globalArgs(n, lex, env, buildArgs); err != nil {
				return nil, err
			}
		case "from":
			sawFrom = true
			if n.Next == nil {
				return nil, fmt.Errorf("line %d: FROM without an image", n.StartLine)
			}
			img, _, err := lex.ProcessWord(n.Next.Value, shell.EnvsFromSlice(env))
			if err != nil {
				return nil, fmt.Errorf("line %d: FROM %s: %w", n.StartLine, n.Next.Value, err)
			}
			if img != "" && !strings.EqualFold(img, "scratch") && !stages[strings.ToLower(img)] && !seen[img] {
				seen[img] = true
				out = append(out, img)
			}
			if as := n.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				stages[strings.ToLower(as.Next.Value)] = true
			}
		}
	}
	return out, nil
}

// globalArgs adds the names and values of an ARG line before the first
// FROM to env: the default, processed by the shell lexer (quotes, earlier
// ARGs), unless a build argument overrides it.
func globalArgs(n *parser.Node, lex *shell.Lex, env []string, buildArgs map[string]*string) ([]string, error) {
	for a := n.Next; a != nil; a = a.Next {
		name, def, hasDef := strings.Cut(a.Value, "=")
		v := ""
		if hasDef {
			var err error
			if v, _, err = lex.ProcessWord(def, shell.EnvsFromSlice(env)); err != nil {
				return nil, fmt.Errorf("line %d: ARG %s: %w", n.StartLine, name, err)
			}
		}
		if o, ok := buildArgs[name]; ok && o != nil {
			v = *o
		}
		env = append(env, name+"="+v)
	}
	return env, nil
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
