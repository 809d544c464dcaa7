package plugin

import (
	"slices"
	"strings"
	"testing"
)

func TestNotesFrontMatterDescribesTheApp(t *testing.T) {
	t.Parallel()
	a, err := parseNotes("---\nname: demo\ntitle: Demo\ndescription: Does a thing: well.\ntags: [a, b]\nsecrets: password, token\nrequired: [repo]\n" +
		"example: |\n  step:\n    image: lightship/demo\n\n  other:\n    x: 1\n\n---\n\n## Notes\n\nText.\n")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "demo" || a.Title != "Demo" || a.Description != "Does a thing: well." ||
		!slices.Equal(a.Tags, []string{"a", "b"}) || !slices.Equal(a.Secrets, []string{"password", "token"}) || !slices.Equal(a.Required, []string{"repo"}) {
		t.Errorf("%+v", a)
	}
	if a.Example != "step:\n  image: lightship/demo\n\nother:\n  x: 1" || a.Notes != "## Notes\n\nText.\n" {
		t.Errorf("example %q, notes %q", a.Example, a.Notes)
	}
}

func TestNotesFrontMatterErrors(t *testing.T) {
	t.Parallel()
	bad := [][2]string{ // notes, what the error says
		{"## Notes\n", "no front matter"},
		{"---\nname: x\n", "closing ---"},
		{"---\nname: x\ntitle: X\n---\n", "required"},
		{"---\nname: x\ntitle: X\ndescription: d\ncolour: red\n---\n", `unknown key "colour"`},
		{"---\nname: x\nname: y\n---\n", "name given twice"},
		{"---\nname x\n---\n", "not key: value"},
	}
	for _, b := range bad {
		if _, err := parseNotes(b[0]); err == nil || !strings.Contains(err.Error(), b[1]) {
			t.Errorf("%q: %v, want %q", b[0], err, b[1])
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("FromNotes did not panic on bad notes")
		}
	}()
	FromNotes("## Notes\n", "1", nil, nil)
}
