package droneyaml

import (
	"strings"
	"testing"
)

// seed is the 2018 blog's pipeline (Drone 0.8) with only image lines changed.
const seed = `
pipeline:
  build_step:
    image: lightship/docker-build
    username: harbor_username
    password: harbor_password
    registry: harbor.company.com
    repo: harbor.company.com/registry/test
    mirror: 'https://registry.docker-cn.com'
    tag: [dev]
    dockerfile: Dockerfile
  rancher:
    image: lightship/rancher-upgrade
    url: 'http://rancher.company.com/v2-beta/projects/1a870'
    access_key: rancher access key
    secret_key: rancher secret key
    service: rancher_stack/rancher_service
    docker_image: 'harbor.company.com/registry/test:dev'
    batch_size: 1
    timeout: 600
    confirm: true
  report-deploy:
    image: lightship/wechat-notify
    secrets: [plugin_corp_secret, plugin_corpid, plugin_agent_id]
    title: '${DRONE_REPO_NAME}'
    description: |
      构建序列: ${DRONE_BUILD_NUMBER} 部署成功
    msg_url: 'http://project.company.com'
    btn_txt: 点击前往
    when:
      branch: develop
      status: [success]
`

func TestSeedPipelineEnv(t *testing.T) {
	build := map[string]string{"DRONE_REPO_NAME": "test", "DRONE_BUILD_NUMBER": "42"}
	secrets := map[string]string{"plugin_corp_secret": "s3cr3t", "plugin_corpid": "ww1", "plugin_agent_id": "1000002"}
	ps, err := Parse(seed, build)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || len(ps[0].Steps) != 3 {
		t.Fatalf("want 1 pipeline of 3 steps, got %+v", ps)
	}
	names := []string{ps[0].Steps[0].Name, ps[0].Steps[1].Name, ps[0].Steps[2].Name}
	if strings.Join(names, ",") != "build_step,rancher,report-deploy" {
		t.Fatalf("steps out of file order: %v", names)
	}
	tests := []struct {
		step int
		key  string
		want string
	}{
		{0, "PLUGIN_TAG", "dev"},
		{0, "PLUGIN_REPO", "harbor.company.com/registry/test"},
		{0, "PLUGIN_MIRROR", "https://registry.docker-cn.com"},
		{1, "PLUGIN_BATCH_SIZE", "1"},
		{1, "PLUGIN_TIMEOUT", "600"},
		{1, "PLUGIN_CONFIRM", "true"},
		{1, "PLUGIN_ACCESS_KEY", "rancher access key"},
		{2, "PLUGIN_TITLE", "test"},
		{2, "PLUGIN_DESCRIPTION", "构建序列: 42 部署成功\n"},
		{2, "PLUGIN_BTN_TXT", "点击前往"},
		{2, "PLUGIN_CORP_SECRET", "s3cr3t"},
		{2, "PLUGIN_AGENT_ID", "1000002"},
		{2, "DRONE_BUILD_NUMBER", "42"},
	}
	for _, tt := range tests {
		env, err := ps[0].Steps[tt.step].Env(build, secrets)
		if err != nil {
			t.Fatal(err)
		}
		if got := env[tt.key]; got != tt.want {
			t.Errorf("step %d %s = %q, want %q", tt.step, tt.key, got, tt.want)
		}
	}
	env, _ := ps[0].Steps[2].Env(build, secrets)
	for _, k := range []string{"PLUGIN_IMAGE", "PLUGIN_WHEN", "PLUGIN_SECRETS"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s: step keys must not become settings", k)
		}
	}
}

func TestEncodeValues(t *testing.T) {
	const doc = `
kind: pipeline
name: default
steps:
  - name: x
    image: lightship/wechat-notify
    settings:
      list: [a, b, c]
      objects: [{name: john}]
      obj: {b: 2, a: "x"}
      empty: ~
      float: 1.5
      dollar: 'robot$$proj+ci'
      password:
        from_secret: harbor_password
`
	ps, err := Parse(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ps[0].Steps[0].Env(nil, map[string]string{"harbor_password": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PLUGIN_LIST":     "a,b,c",
		"PLUGIN_OBJECTS":  `[{"name":"john"}]`,
		"PLUGIN_OBJ":      `{"a":"x","b":2}`,
		"PLUGIN_FLOAT":    "1.5",
		"PLUGIN_DOLLAR":   "robot$proj+ci",
		"PLUGIN_PASSWORD": "pw",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if _, ok := env["PLUGIN_EMPTY"]; ok {
		t.Error("null settings are skipped by Drone")
	}
}

func TestMissingSecretFails(t *testing.T) {
	ps, err := Parse("pipeline:\n  a:\n    image: x\n    secrets: [nope]\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps[0].Steps[0].Env(nil, nil); err == nil || !strings.Contains(err.Error(), `no secret found for "nope"`) {
		t.Fatalf("want a missing-secret error, got %v", err)
	}
}

func TestSecretSourceTarget(t *testing.T) {
	ps, err := Parse("pipeline:\n  a:\n    image: x\n    secrets:\n      - source: harbor_pw_prod\n        target: plugin_password\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ps[0].Steps[0].Env(nil, map[string]string{"harbor_pw_prod": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if env["PLUGIN_PASSWORD"] != "pw" {
		t.Fatalf("PLUGIN_PASSWORD = %q", env["PLUGIN_PASSWORD"])
	}
}

func TestMultiLineValueIsQuoted(t *testing.T) {
	ps, err := Parse("pipeline:\n  a:\n    image: x\n    message: ${DRONE_COMMIT_MESSAGE}\n", map[string]string{"DRONE_COMMIT_MESSAGE": "title\n\nbody: with colon"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := ps[0].Steps[0].Env(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env["PLUGIN_MESSAGE"] != "title\n\nbody: with colon" {
		t.Fatalf("PLUGIN_MESSAGE = %q", env["PLUGIN_MESSAGE"])
	}
}
