package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/docker/docker/api/types/registry"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/setting"
	"github.com/lightship-ci/lightship/plugins/docker-build/buildsession"
	"github.com/urfave/cli/v2"
)

// SessionSettings are the settings of BuildKit builds (plugins/docker's
// names for secrets and ssh).
type SessionSettings struct {
	BuildKit        bool
	Secret          cli.StringSlice
	SecretsFromEnv  cli.StringSlice
	SecretsFromFile cli.StringSlice
	SSHAgentKey     string
	SSH             bool
}

func (s *SessionSettings) flags() []cli.Flag {
	const cat = "BuildKit"
	return []cli.Flag{
		&cli.BoolFlag{Name: "buildkit", Usage: "build with the daemon's BuildKit when it has one (false: the classic builder)", Value: true, EnvVars: plugin.EnvVars("buildkit"), Destination: &s.BuildKit, Category: cat},
		&cli.StringSliceFlag{Name: "secret", Usage: "build secrets for RUN --mount=type=secret: id=x,src=path or id=x,env=NAME", EnvVars: plugin.EnvVars("secret"), Destination: &s.Secret, Category: cat},
		&cli.StringSliceFlag{Name: "secrets_from_env", Usage: "build secrets from environment variables: id=ENV_NAME list", EnvVars: plugin.EnvVars("secrets_from_env"), Destination: &s.SecretsFromEnv, Category: cat},
		&cli.StringSliceFlag{Name: "secrets_from_file", Usage: "build secrets from files: id=path list", EnvVars: plugin.EnvVars("secrets_from_file"), Destination: &s.SecretsFromFile, Category: cat},
		&cli.StringFlag{Name: "ssh_agent_key", Usage: "private key (PEM text or a file path) served to RUN --mount=type=ssh by an agent inside the plugin", EnvVars: plugin.EnvVars("ssh_agent_key"), Destination: &s.SSHAgentKey, Category: cat},
		&cli.BoolFlag{Name: "ssh", Usage: "forward the step's ssh agent (SSH_AUTH_SOCK) to RUN --mount=type=ssh", EnvVars: plugin.EnvVars("ssh"), Destination: &s.SSH, Category: cat},
	}
}

// SessionPlan is what a BuildKit build offers through its session.
type SessionPlan struct {
	// DaemonBuildKit is the buildkit setting; the daemon decides the rest.
	DaemonBuildKit bool
	// Logins are every registry login the step has: the push registry's
	// and each config.json entry. The BuildKit session's auth provider and
	// the classic builder's X-Registry-Config carry them.
	Logins []buildsession.Credential
	// Secrets and SSH need BuildKit.
	Secrets []buildsession.Secret
	SSH     []buildsession.SSH
	// needsBuildKit names the first setting that needs BuildKit.
	needsBuildKit string
}

func planSession(p *Plan, s *Settings, lookup lookupFunc) error {
	b := &p.SessionPlan
	b.DaemonBuildKit = s.Session.BuildKit
	if p.Auth.Source != "" {
		b.Logins = append(b.Logins, buildsession.Credential{Host: p.Registry, Username: p.Auth.Username, Password: p.Auth.Password, IdentityToken: p.Auth.IdentityToken})
	}
	if s.Config != "" {
		creds, err := buildsession.CredentialsFromConfig(s.Config)
		if err != nil {
			return plugin.Invalid("config", "%v", err)
		}
		b.Logins = append(b.Logins, creds...)
	}
	if err := planSecrets(b, &s.Session, lookup); err != nil {
		return err
	}
	return planSSH(b, &s.Session, lookup)
}

func planSecrets(b *SessionPlan, s *SessionSettings, lookup lookupFunc) error {
	add := func(setting, id string, value []byte) error {
		for _, x := range b.Secrets {
			if x.ID == id {
				return plugin.Invalid(setting, "secret id %q given twice", id)
			}
		}
		b.Secrets = append(b.Secrets, buildsession.Secret{ID: id, Value: value})
		if b.needsBuildKit == "" {
			b.needsBuildKit = setting
		}
		return nil
	}
	fromEnv := func(setting, id, name string) error {
		v, ok := lookup(name)
		if !ok {
			return plugin.Invalid(setting, "secret %q: environment variable %s is not set", id, name)
		}
		return add(setting, id, []byte(v))
	}
	fromFile := func(setting, id, path string) error {
		v, err := os.ReadFile(path)
		if err != nil {
			return plugin.Invalid(setting, "secret %q: %v", id, err)
		}
		return add(setting, id, v)
	}
	specs, err := secretSpecs(s.Secret.Value())
	if err != nil {
		return plugin.Invalid("secret", "%v", err)
	}
	for _, sp := range specs {
		var err error
		if sp.env != "" {
			err = fromEnv("secret", sp.id, sp.env)
		} else {
			err = fromFile("secret", sp.id, sp.src)
		}
		if err != nil {
			return err
		}
	}
	for _, list := range []struct {
		name  string
		items []string
		want  string
		read  func(setting, id, v string) error
	}{
		{"secrets_from_env", s.SecretsFromEnv.Value(), "id=ENV_NAME", fromEnv},
		{"secrets_from_file", s.SecretsFromFile.Value(), "id=path", fromFile},
	} {
		for _, it := range setting.Lists(list.items) {
			id, v, ok := strings.Cut(it, "=")
			if !ok || id == "" || v == "" {
				return plugin.Invalid(list.name, "%q must be %s", it, list.want)
			}
			if err := list.read(list.name, id, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// secretSpec is one docker build --secret value.
type secretSpec struct{ id, src, env string }

// secretSpecs reads --secret values (id=x,src=path / id=x,env=NAME; source=
// and type=file|env as in the CLI). Drone joins a YAML list with commas,
// so each id= starts a new secret.
func secretSpecs(items []string) ([]secretSpec, error) {
	var out []secretSpec
	var cur *secretSpec
	var typ string
	finish := func() error {
		if cur == nil {
			return nil
		}
		switch {
		case cur.src != "" && cur.env != "":
			return fmt.Errorf("secret %q: src and env are exclusive", cur.id)
		case cur.src == "" && cur.env == "" && typ == "env":
			cur.env = cur.id
		case cur.src == "" && cur.env == "":
			cur.src = cur.id
		}
		out = append(out, *cur)
		return nil
	}
	for _, f := range setting.Lists(items) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("%q must be key=value (id=x,src=path or id=x,env=NAME)", f)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			if err := finish(); err != nil {
				return nil, err
			}
			cur, typ = &secretSpec{id: v}, ""
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%q: each secret starts with id=", f)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "src", "source":
			cur.src = v
		case "env":
			cur.env = v
		case "type":
			if v != "file" && v != "env" {
				return nil, fmt.Errorf("secret %q: type %q must be file or env", cur.id, v)
			}
			typ = v
		default:
			return nil, fmt.Errorf("secret %q: unknown key %q (id, src, env, type)", cur.id, k)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func planSSH(b *SessionPlan, s *SessionSettings, lookup lookupFunc) error {
	if s.SSHAgentKey != "" {
		key := []byte(s.SSHAgentKey)
		if !strings.Contains(s.SSHAgentKey, "-----BEGIN") {
			k, err := os.ReadFile(strings.TrimSpace(s.SSHAgentKey))
			if err != nil {
				return plugin.Invalid("ssh_agent_key", "neither a PEM private key nor a readable key file: %v", err)
			}
			key = k
		}
		b.SSH = append(b.SSH, buildsession.SSH{Keys: [][]byte{key}})
		if b.needsBuildKit == "" {
			b.needsBuildKit = "ssh_agent_key"
		}
	}
	if s.SSH {
		if s.SSHAgentKey != "" {
			return plugin.Invalid("ssh", "ssh and ssh_agent_key both give the default agent: set one")
		}
		sock, ok := lookup("SSH_AUTH_SOCK")
		if !ok || sock == "" {
			return plugin.Invalid("ssh", "SSH_AUTH_SOCK is not set: there is no agent to forward")
		}
		b.SSH = append(b.SSH, buildsession.SSH{Socket: sock})
		if b.needsBuildKit == "" {
			b.needsBuildKit = "ssh"
		}
	}
	if len(b.SSH) > 0 {
		// Parse the key now: a bad key is a settings error, not a build failure.
		if _, err := buildsession.Attachables(buildsession.Options{SSH: b.SSH}); err != nil {
			return plugin.Invalid(b.needsBuildKit, "%v", scrubKey(err, s.SSHAgentKey))
		}
	}
	return nil
}

// scrubKey keeps key text out of an error message.
func scrubKey(err error, key string) error {
	if key != "" && strings.Contains(err.Error(), key) {
		return fmt.Errorf("the key cannot be read")
	}
	return err
}

// secrets are the values to register with the redactor.
func (b *SessionPlan) secrets() []string {
	var out []string
	for _, s := range b.Secrets {
		out = append(out, string(s.Value))
	}
	for _, s := range b.SSH {
		for _, k := range s.Keys {
			out = append(out, string(k))
			for _, l := range strings.Split(string(k), "\n") {
				if l = strings.TrimSpace(l); len(l) >= 16 && !strings.HasPrefix(l, "-----") {
					out = append(out, l)
				}
			}
		}
	}
	for _, c := range b.Logins {
		out = append(out, c.Password, c.IdentityToken)
	}
	return out
}

// sessionOptions are what the build's BuildKit session offers.
func (b *SessionPlan) sessionOptions() buildsession.Options {
	return buildsession.Options{Credentials: b.Logins, Secrets: b.Secrets, SSH: b.SSH}
}

// authConfigs is the classic builder's X-Registry-Config: every login,
// keyed as the daemon looks them up.
func (b *SessionPlan) authConfigs() map[string]registry.AuthConfig {
	if len(b.Logins) == 0 {
		return nil
	}
	m := map[string]registry.AuthConfig{}
	for _, c := range b.Logins {
		key := serverAddress(buildsession.NormalizeHost(c.Host))
		if _, ok := m[key]; ok {
			continue
		}
		m[key] = registry.AuthConfig{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, ServerAddress: key}
	}
	return m
}
