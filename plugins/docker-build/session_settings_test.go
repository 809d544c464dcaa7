package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
)

func TestSecretSpecs(t *testing.T) {
	t.Parallel()
	// Drone joins a YAML list with commas: each id= starts a secret.
	got, err := secretSpecs([]string{"id=a,src=/run/a,id=b,env=B", "id=c,type=env", "id=d"})
	if err != nil {
		t.Fatal(err)
	}
	want := []secretSpec{{id: "a", src: "/run/a"}, {id: "b", env: "B"}, {id: "c", env: "c"}, {id: "d", src: "d"}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"src=/x", "id=a,src=/x,env=Y", "id=a,colour=red", "id=a,type=tmpfs", "id=a,nokey"} {
		if _, err := secretSpecs([]string{bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func keyPEM(t *testing.T) string {
	_, k := baseimage.NewSSHKey(t)
	return string(k)
}

// settingOf is the setting a settings error names.
func settingOf(err error) string {
	var se *plugin.SettingsError
	if errors.As(err, &se) {
		return se.Error()
	}
	return ""
}

func TestSessionSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := keyPEM(t)
	keyFile := filepath.Join(dir, "id")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKEN": "from-env", "SSH_AUTH_SOCK": "/run/agent.sock"}
	lookup := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	plan := func(set func(s *SessionSettings)) (*SessionPlan, error) {
		s := &Settings{}
		s.Session.BuildKit = true
		set(&s.Session)
		p := &Plan{}
		err := planSession(p, s, lookup)
		return &p.SessionPlan, err
	}
	p, err := plan(func(s *SessionSettings) {
		_ = s.SecretsFromEnv.Set("env_tok=TOKEN")
		_ = s.SecretsFromFile.Set("file_tok=" + file)
		_ = s.Secret.Set("id=spec_tok,env=TOKEN")
		s.SSHAgentKey = keyFile
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range p.Secrets {
		got[s.ID] = string(s.Value)
	}
	if got["env_tok"] != "from-env" || got["file_tok"] != "from-file" || got["spec_tok"] != "from-env" || len(got) != 3 {
		t.Errorf("secrets %v", got)
	}
	if len(p.SSH) != 1 || string(p.SSH[0].Keys[0]) != key || p.needsBuildKit != "secret" {
		t.Errorf("ssh %+v, needs %q", p.SSH, p.needsBuildKit)
	}
	if s := strings.Join(p.secrets(), "\n"); !strings.Contains(s, "from-file") || !strings.Contains(s, key) {
		t.Error("secrets and the key are not all registered for redaction")
	}
	if p, err := plan(func(s *SessionSettings) { s.SSH = true }); err != nil || p.SSH[0].Socket != "/run/agent.sock" {
		t.Errorf("ssh: %+v %v", p, err)
	}
	for name, tc := range map[string]struct {
		set  func(s *SessionSettings)
		want string
	}{
		"unset variable": {func(s *SessionSettings) { _ = s.SecretsFromEnv.Set("x=NOPE") }, "PLUGIN_SECRETS_FROM_ENV"},
		"missing file":   {func(s *SessionSettings) { _ = s.SecretsFromFile.Set("x=/nonexistent") }, "PLUGIN_SECRETS_FROM_FILE"},
		"not id=value":   {func(s *SessionSettings) { _ = s.SecretsFromEnv.Set("TOKEN") }, "PLUGIN_SECRETS_FROM_ENV"},
		"duplicate id":   {func(s *SessionSettings) { _ = s.Secret.Set("id=x,env=TOKEN,id=x,env=TOKEN") }, "PLUGIN_SECRET"},
		"bad key text": {func(s *SessionSettings) {
			s.SSHAgentKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"
		}, "PLUGIN_SSH_AGENT_KEY"},
		"no such key file": {func(s *SessionSettings) { s.SSHAgentKey = "/nonexistent/id" }, "PLUGIN_SSH_AGENT_KEY"},
		"ssh and key":      {func(s *SessionSettings) { s.SSH, s.SSHAgentKey = true, keyFile }, "PLUGIN_SSH"},
		"no agent":         {func(s *SessionSettings) { s.SSH = true; delete(env, "SSH_AUTH_SOCK") }, "PLUGIN_SSH"},
	} {
		_, err := plan(tc.set)
		if msg := settingOf(err); !strings.HasPrefix(msg, tc.want+":") {
			t.Errorf("%s: %v, want a settings error naming %s", name, err, tc.want)
		} else if strings.Contains(msg, "not a key") {
			t.Errorf("%s: the key text is in the error: %s", name, msg)
		}
	}
}
