package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseLabels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"a=1,b=2", "a=1 b=2"},
		{"a=1\nb = x=y", "a=1 b=x=y"},
		{`{"a":"1","b":true}`, "a=1 b=true"},
		{"", ""},
	} {
		ls, err := parseLabels(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var got []string
		for _, l := range ls {
			got = append(got, l.Key+"="+l.Value)
		}
		if g := strings.Join(sortStrings(got), " "); g != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, g, tc.want)
		}
	}
	for _, bad := range []string{"novalue", `{"a":{"b":1}}`, `{bad`, "a b=1"} {
		if _, err := parseLabels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestNormalizeV2LikeGoRancher(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://r:8080":                        "http://r:8080/v2-beta",
		"http://r:8080/":                       "http://r:8080/v2-beta",
		"http://r:8080/v1":                     "http://r:8080/v2-beta",
		"http://r:8080/v1/projects/1a5":        "http://r:8080/v2-beta/projects/1a5",
		"http://r:8080/v2-beta/projects/1a870": "http://r:8080/v2-beta/projects/1a870",
		"https://r/v2-beta/projects/1a5/":      "https://r/v2-beta/projects/1a5",
	} {
		u, _ := url.Parse(in)
		if got := normalizeV2(u).String(); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}

func TestSplitV3(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"https://r/v3":                          {"https://r/v3", ""},
		"https://r/v3/project/c-a:p-b":          {"https://r/v3", "c-a:p-b"},
		"https://r/v3/projects/c-a:p-b/":        {"https://r/v3", "c-a:p-b"},
		"https://r/rancher/v3/project/c-a:p-b/": {"https://r/rancher/v3", "c-a:p-b"},
		"https://r":                             {"https://r/v3", ""},
	} {
		u, _ := url.Parse(in)
		root, p := splitV3(u)
		if root.String() != want[0] || p != want[1] {
			t.Errorf("%s -> %s %s", in, root, p)
		}
	}
}

func TestTraefikLabels(t *testing.T) {
	t.Parallel()
	ls, err := Traefik{Enable: "stack", Domain: "a.com,b.com", Alias: "www,", Port: "8080", Protocol: "https"}.labels()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.Key+"="+l.Value)
	}
	if g := strings.Join(got, " "); g != "traefik.enable=stack traefik.domain=a.com,b.com traefik.alias=www, traefik.port=8080 traefik.protocol=https" {
		t.Errorf("labels: %s", g)
	}
	for _, bad := range []Traefik{{Enable: "1"}, {Port: "0"}, {Port: "99999"}, {Protocol: "tcp"}, {Alias: "a, b"}} {
		if _, err := bad.labels(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestBuildUpgradeChangesOnlyImageAndLabels(t *testing.T) {
	t.Parallel()
	lc := `{"imageUuid":"docker:old:1","labels":{"keep":"me","a":"1"},"secrets":[{"secretId":"1se1"}],"environment":{"K":"v"},"n":1.50,"b":false,"z":null}`
	s := &job{Settings: &Settings{BatchSize: 2, StartFirst: true, Confirm: true, Rollback: true},
		image: "new@sha256:abc", intervalMS: 500, rolloutTimeout: time.Minute, labels: []label{{"a", "2"}, {"new", "x"}}}
	sv := &v2Service{Name: "web", LaunchConfig: json.RawMessage(lc)}
	p, err := buildUpgrade(sv, s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"inServiceStrategy":{"batchSize":2,"intervalMillis":500,"launchConfig":{"b":false,"environment":{"K":"v"},"imageUuid":"docker:new@sha256:abc","labels":{"a":"2","keep":"me","new":"x"},"n":1.50,"secrets":[{"secretId":"1se1"}],"z":null},"startFirst":true},"toServiceStrategy":null}`
	if string(p.body) != want {
		t.Errorf("body:\n%s\nwant\n%s", p.body, want)
	}
	if !strings.Contains(strings.Join(p.changes, " "), "~a=1->2 +new=x") {
		t.Errorf("changes: %v", p.changes)
	}
	sv.RetainIP = true
	if p, _ = buildUpgrade(sv, s); p.startFirst || !strings.Contains(string(p.body), `"startFirst":false`) {
		t.Errorf("retainIp: %s", p.body)
	}
}

func TestPlanWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, lc, image, want string
	}{
		{"traefik without health check", `{"imageUuid":"docker:a:1","labels":{"traefik.enable":"true","traefik.domain":"x.com"}}`, "a:2", "no healthCheck"},
		{"traefik without domain", `{"imageUuid":"docker:a:1","healthCheck":{"port":80},"labels":{"traefik.enable":"stack"}}`, "a:2", "without traefik.domain"},
		{"same tag", `{"imageUuid":"docker:a:1"}`, "a:1", "set pull_image"},
		{"same tag, pulled", `{"imageUuid":"docker:a:1","labels":{"io.rancher.container.pull_image":"always"}}`, "a:1", ""},
		{"digest", `{"imageUuid":"docker:a@sha256:1"}`, "a@sha256:1", ""},
	} {
		s := &job{Settings: &Settings{BatchSize: 1}, image: tc.image, rolloutTimeout: time.Minute}
		p, err := buildUpgrade(&v2Service{Name: "web", LaunchConfig: json.RawMessage(tc.lc)}, s)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(p.changes, "\n")
		if (tc.want == "") != !strings.Contains(got, "warning") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}
