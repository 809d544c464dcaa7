package buildsession

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"google.golang.org/grpc"
)

// Credential is a registry login.
type Credential struct {
	// Host is host[:port] as in image references (docker.io for Docker
	// Hub); a URL such as https://index.docker.io/v1/ is accepted.
	Host     string
	Username string
	Password string
	// IdentityToken (a config.json identitytoken) is sent instead of the
	// password.
	IdentityToken string
}

// NormalizeHost returns host[:port] of a registry host, URL or config.json
// key, with Docker Hub's names (index.docker.io, registry-1.docker.io)
// as docker.io.
func NormalizeHost(v string) string {
	h := strings.TrimSpace(v)
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	h, _, _ = strings.Cut(h, "/")
	h = strings.ToLower(h)
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// authProvider answers the builder's Credentials requests from a fixed
// list. Token fetching stays with the builder (FetchToken and the token
// authority answer Unimplemented, which BuildKit treats as "fetch it
// yourself with these credentials"), so no registry is contacted from here.
type authProvider struct {
	auth.UnimplementedAuthServer
	creds map[string]Credential
}

// NewAuthProvider returns an auth attachable serving creds; the first
// entry for a host wins.
func NewAuthProvider(creds []Credential) session.Attachable {
	m := map[string]Credential{}
	for _, c := range creds {
		h := NormalizeHost(c.Host)
		if _, ok := m[h]; ok || h == "" {
			continue
		}
		m[h] = c
	}
	return &authProvider{creds: m}
}

func (p *authProvider) Register(s *grpc.Server) { auth.RegisterAuthServer(s, p) }

// Credentials answers with the login for req.Host, or empty credentials
// (anonymous) when there is none.
func (p *authProvider) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	c, ok := p.creds[NormalizeHost(req.GetHost())]
	if !ok {
		return &auth.CredentialsResponse{}, nil
	}
	if c.IdentityToken != "" {
		return &auth.CredentialsResponse{Secret: c.IdentityToken}, nil
	}
	return &auth.CredentialsResponse{Username: c.Username, Secret: c.Password}, nil
}

// dockerConfig is the part of ~/.docker/config.json that holds logins.
type dockerConfig struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		Username      string `json:"username"`
		Password      string `json:"password"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
}

// CredentialsFromConfig returns every login of a docker config.json
// ("auths"), hosts normalized, in key order.
func CredentialsFromConfig(content string) ([]Credential, error) {
	var conf dockerConfig
	if err := json.Unmarshal([]byte(content), &conf); err != nil {
		return nil, fmt.Errorf("not a docker config.json: %w", err)
	}
	keys := make([]string, 0, len(conf.Auths))
	for k := range conf.Auths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Credential, 0, len(keys))
	for _, key := range keys {
		a := conf.Auths[key]
		c := Credential{Host: NormalizeHost(key), Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if c.Host == "" {
			return nil, fmt.Errorf("auths[%q]: not a registry host", key)
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("auths[%q].auth is not base64", key)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("auths[%q].auth is not user:password", key)
			}
			c.Username, c.Password = user, pass
		}
		out = append(out, c)
	}
	return out, nil
}
