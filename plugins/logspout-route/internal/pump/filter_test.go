package pump

import (
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

func TestSkipRules(t *testing.T) {
	ex := ParseExcludeLabels("skip; tier:Backend")
	cases := []struct {
		c    logs.ContainerInfo
		want string
	}{
		{logs.ContainerInfo{LogDriver: "json-file"}, ""},
		{logs.ContainerInfo{Tty: true}, "tty"},
		{logs.ContainerInfo{Env: []string{"LOGSPOUT=IGNORE"}}, "LOGSPOUT=ignore"},
		{logs.ContainerInfo{Labels: map[string]string{"SKIP": "True"}}, "label"},
		{logs.ContainerInfo{Labels: map[string]string{"tier": "backend"}}, "label"},
		{logs.ContainerInfo{Labels: map[string]string{"tier": "frontend"}}, ""},
		{logs.ContainerInfo{LogDriver: "local"}, ""},
		{logs.ContainerInfo{LogDriver: "none"}, ""}, // the daemon refuses it, not us
	}
	for _, tt := range cases {
		if got := skipReason(&tt.c, false, ex); !strings.HasPrefix(got, tt.want) || (tt.want == "" && got != "") {
			t.Errorf("%+v: %q, want %q", tt.c, got, tt.want)
		}
	}
}
