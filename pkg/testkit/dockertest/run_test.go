package dockertest

import (
	"strings"
	"testing"
)

func TestRunReturnsExitCodeAndOutput(t *testing.T) {
	cli := Client(t)
	img := "lightship/wechat-notify:latest"
	RequireImage(t, cli, img)
	code, out := Run(t, cli, RunOptions{Image: img, Env: map[string]string{"PLUGIN_MSGTYPE": "nonsense"}, Network: "none"})
	if code != 2 {
		t.Fatalf("exit code %d, want 2 (bad setting); output:\n%s", code, out)
	}
	if !strings.Contains(out, "PLUGIN_") {
		t.Fatalf("output does not name a setting:\n%s", out)
	}
	code, out = Run(t, cli, RunOptions{Image: img, Args: []string{"--help"}, Network: "none"})
	if code != 0 || !strings.Contains(out, "PLUGIN_CORP_SECRET") {
		t.Fatalf("--help: exit %d, output:\n%s", code, out)
	}
}
