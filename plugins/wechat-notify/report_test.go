package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// TestDryRunUnderJSONIsJSONLines: with log_format json the dry run's lines
// are JSON entries and each request body is one entry whose "body" is the
// JSON WeCom would get; the keys stay masked.
func TestDryRunUnderJSONIsJSONLines(t *testing.T) {
	t.Parallel()
	fake := startFake(t, wecom.Options{})
	r := run(t, appEnv(fake, "PLUGIN_DRY_RUN", "true", "PLUGIN_WEBHOOK", canaryKey, "PLUGIN_LOG_FORMAT", "json"))
	if r.Code != 0 || len(fake.Requests()) != 0 {
		t.Fatalf("exit %d, %d requests:\n%s", r.Code, len(fake.Requests()), r.Output())
	}
	bodies := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var e struct {
			Msg    string `json:"msg"`
			Source string `json:"source"`
			Body   string `json:"body"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Source != "dry-run" {
			t.Fatalf("not a dry-run JSON entry: %q (%v)", line, err)
		}
		if e.Body != "" {
			var b map[string]any
			if err := json.Unmarshal([]byte(e.Body), &b); err != nil {
				t.Fatalf("body of %q: %v", e.Msg, err)
			}
			bodies[e.Msg] = b
		}
	}
	app := bodies["POST "+fake.URL+"/cgi-bin/message/send?access_token=******"]
	robot := bodies["POST "+fake.URL+"/cgi-bin/webhook/send?key=****** (robot 1)"]
	if app["msgtype"] != "textcard" || app["agentid"] != float64(agentID) || robot["msgtype"] == nil {
		t.Errorf("bodies %v", bodies)
	}
}
