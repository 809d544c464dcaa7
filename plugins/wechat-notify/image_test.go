package main

import (
	"strings"
	"testing"

	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

const image = "lightship/wechat-notify:latest"

// dockerRun runs the image once with env on the host network (the fake
// listens on 127.0.0.1) and returns its exit code and output.
func dockerRun(t *testing.T, cli *client.Client, env map[string]string, args ...string) (int, string) {
	t.Helper()
	return dockertest.Run(t, cli, dockertest.RunOptions{Image: image, Env: env, Args: args})
}

func TestImageSendsTheSeedCardAndKeepsSecrets(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dockertest.RequireImage(t, cli, image)
	fake := startFake(t, wecom.Options{})
	// As `docker run` gets it: no CI substituted ${...}, Drone 0.8 names.
	env := map[string]string{
		"PLUGIN_CORPID": corpID, "PLUGIN_CORP_SECRET": canaryCorp, "PLUGIN_AGENT_ID": agentIDText, "PLUGIN_API_BASE": fake.URL,
		"PLUGIN_TITLE": "${DRONE_REPO_NAME}", "PLUGIN_DESCRIPTION": "构建序列: ${DRONE_BUILD_NUMBER} 部署成功，干得好${DRONE_COMMIT_AUTHOR} ！\n{{ datetime .Build.Started }}",
		"PLUGIN_MSG_URL": "http://project.company.com", "PLUGIN_BTN_TXT": "点击前往", "PLUGIN_LOG_LEVEL": "debug",
		"DRONE_REPO_NAME": "test", "DRONE_BUILD_NUMBER": "42", "DRONE_COMMIT_AUTHOR": "alice", "DRONE_BUILD_STARTED": "1714528800",
		"DRONE_WORKSPACE": "/tmp",
	}
	code, out := dockerRun(t, cli, env)
	assertNoSecrets(t, out, nil)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	violations(t, fake)
	m := only(t, fake)
	// 10:00 in Asia/Shanghai: the zone database travels in the binary (FROM scratch).
	if m.Title != "test" || m.Description != "构建序列: 42 部署成功，干得好alice ！\n2024-05-01 10:00" || m.BtnTxt != "点击前往" {
		t.Fatalf("%+v", m)
	}

	fake.QueueErrcode(wecom.APIMessageSend, 60020, 1)
	code, out = dockerRun(t, cli, env)
	assertNoSecrets(t, out, nil)
	if code != 1 || !strings.Contains(out, "trusted-IP") {
		t.Fatalf("60020: exit %d:\n%s", code, out)
	}
	code, out = dockerRun(t, cli, map[string]string{"PLUGIN_WEBHOOK": "https://evil.example.com/cgi-bin/webhook/send?key=" + canaryKey})
	assertNoSecrets(t, out, nil)
	if code != 2 || !strings.Contains(out, "PLUGIN_WEBHOOK") {
		t.Fatalf("foreign robot URL: exit %d:\n%s", code, out)
	}
}
