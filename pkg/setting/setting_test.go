package setting

import (
	"strings"
	"testing"
	"time"
)

func TestList(t *testing.T) {
	t.Parallel()
	if got := strings.Join(List(" a, b\nc,,\r\n d "), "|"); got != "a|b|c|d" {
		t.Errorf("List: %q", got)
	}
	if got := strings.Join(ListBy("a|b, c", "|"), " "); got != "a b c" {
		t.Errorf("ListBy: %q", got)
	}
	if got := Lists([]string{"a,b", "c"}); len(got) != 3 {
		t.Errorf("Lists: %q", got)
	}
	if List("") != nil {
		t.Error("empty list is not nil")
	}
}

func TestMapOneRuleForBothForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"a=1,b=2", "a=1 b=2"},
		{"a=1\nb = x=y", "a=1 b=x=y"},
		{`{"a":"1","b":true,"n":8080,"f":1.50}`, "a=1 b=true f=1.50 n=8080"},
		{"GREETING=hello, world,N=1", "GREETING=hello, world N=1"},
		{"Key=V", "Key=V"},
		{`{"Alice@Example.com":"alice"}`, "Alice@Example.com=alice"},
		{"", ""},
	} {
		pairs, err := Map(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got []string
		for _, p := range pairs {
			got = append(got, p.Key+"="+p.Value)
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, g, tc.want)
		}
	}
	for _, bad := range []string{"novalue", `{"a":{"b":1}}`, `{"a":null}`, `{bad`, "a b=1"} {
		if _, err := Map(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if m, err := MapOf("a=1"); err != nil || m["a"] != "1" {
		t.Errorf("MapOf: %v %v", m, err)
	}
}

func TestDurationDroneAndGoForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"600", time.Second, 10 * time.Minute, true}, {"5m", time.Second, 5 * time.Minute, true},
		{"1.5", time.Second, 1500 * time.Millisecond, true}, {"250", time.Millisecond, 250 * time.Millisecond, true},
		{"2000", time.Millisecond, 2 * time.Second, true}, {"2s", time.Millisecond, 2 * time.Second, true},
		{"0", time.Millisecond, 0, true},
		{"soon", time.Second, 0, false}, {"-1", time.Millisecond, 0, false}, {"", time.Second, 0, false},
	} {
		got, err := Duration(tc.in, tc.unit)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Duration(%q, %s) = %s, %v", tc.in, tc.unit, got, err)
		}
	}
}
