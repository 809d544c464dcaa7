package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/registry"
	"github.com/lightship-ci/lightship/pkg/plugin"
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

// dockerConfig is the part of ~/.docker/config.json that holds credentials.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
}

// configAuth finds host's credentials in config.json content. Keys may be
// URLs (https://index.docker.io/v1/) or hosts.
func configAuth(content, host string) (Credentials, bool, error) {
	var conf dockerConfig
	if err := json.Unmarshal([]byte(content), &conf); err != nil {
		return Credentials{}, false, fmt.Errorf("not a docker config.json: %v", err)
	}
	for key, a := range conf.Auths {
		h, err := registryHost(key)
		if err != nil || h != host {
			continue
		}
		c := Credentials{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, Source: "config"}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credentials{}, false, fmt.Errorf("auths[%q].auth is not base64", key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return Credentials{}, false, fmt.Errorf("auths[%q].auth is not user:password", key)
			}
			c.Username, c.Password = user, pass
		}
		return c, true, nil
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
