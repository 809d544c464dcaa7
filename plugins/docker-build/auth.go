package main

import (
	"encoding/base64"

	"github.com/docker/docker/api/types/registry"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/plugins/docker-build/buildsession"
)

// planAuth picks the registry credentials: username/password, else the
// config.json entry for the registry, else none (anonymous push).
func planAuth(p *Plan, s *Settings) error {
	if s.Username != "" {
		if s.Password == "" {
			return plugin.Invalid("password", "is required with PLUGIN_USERNAME")
		}
		p.Auth = Credentials{Username: s.Username, Password: s.Password, Source: "username"}
		return nil
	}
	if s.Password != "" {
		return plugin.Invalid("username", "is required with PLUGIN_PASSWORD")
	}
	if s.Config == "" {
		return nil
	}
	c, ok, err := configAuth(s.Config, p.Registry)
	if err != nil {
		return plugin.Invalid("config", "%v", err)
	}
	if ok {
		p.Auth = c
	}
	return nil
}

// configAuth finds host's credentials in config.json content. Keys may be
// URLs (https://index.docker.io/v1/) or hosts.
func configAuth(content, host string) (Credentials, bool, error) {
	creds, err := buildsession.CredentialsFromConfig(content)
	if err != nil {
		return Credentials{}, false, err
	}
	want := buildsession.NormalizeHost(host)
	for _, c := range creds {
		if c.Host == want {
			return Credentials{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, Source: "config"}, true, nil
		}
	}
	return Credentials{}, false, nil
}

// secrets are the values to mask that the credentials carry.
func (c Credentials) secrets() []string {
	out := []string{c.Password, c.IdentityToken}
	if c.Username != "" && c.Password != "" {
		out = append(out, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
	return out
}

// registryAuth is the X-Registry-Auth value: base64url JSON, as the daemon
// decodes it. Empty for anonymous pushes.
func registryAuth(c Credentials, host string) (string, error) {
	if c.Source == "" {
		return "", nil
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken, ServerAddress: serverAddress(host),
	})
}
