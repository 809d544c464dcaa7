// Package buildsession builds the BuildKit session attachables a build
// needs from plain inputs: registry credentials (auth provider), build
// secrets (secrets provider) and ssh agents (sshforward). Both the daemon
// path (POST /build?version=2 with a session hijacked on /session) and a
// remote buildkitd client use them.
package buildsession

import (
	"context"
	"fmt"
	"net"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
)

// Options are what a build's session offers.
type Options struct {
	// Credentials answer BuildKit's registry credential requests (FROM
	// images, cache sources, # syntax= frontends, pushes by buildkitd).
	Credentials []Credential
	// Secrets are readable by RUN --mount=type=secret,id=<ID>.
	Secrets []Secret
	// SSH are the agents RUN --mount=type=ssh[,id=<ID>] can use.
	SSH []SSH
}

// Secret is one build secret.
type Secret struct {
	ID    string
	Value []byte
}

// Attachables returns the session services for o: always an auth
// provider (answering "no credentials" for unknown hosts), a secrets
// provider when there are secrets and an ssh provider when there are
// agents.
func Attachables(o Options) ([]session.Attachable, error) {
	out := []session.Attachable{NewAuthProvider(o.Credentials)}
	if len(o.Secrets) > 0 {
		m := make(map[string][]byte, len(o.Secrets))
		for _, s := range o.Secrets {
			if s.ID == "" {
				return nil, fmt.Errorf("build secret without an id")
			}
			if _, dup := m[s.ID]; dup {
				return nil, fmt.Errorf("build secret %q given twice", s.ID)
			}
			if len(s.Value) > secretsprovider.MaxSecretSize {
				return nil, fmt.Errorf("build secret %q is %d bytes, BuildKit takes at most %d", s.ID, len(s.Value), secretsprovider.MaxSecretSize)
			}
			m[s.ID] = s.Value
		}
		out = append(out, secretsprovider.FromMap(m))
	}
	if len(o.SSH) > 0 {
		p, err := NewSSHProvider(o.SSH)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Dialer opens the session's connection to the builder, e.g. the Docker
// client's DialHijack of /session.
type Dialer = session.Dialer

// Start creates a session offering o (and extra services, such as a
// filesync provider of the build context) and runs it over dial in the
// background. The caller passes s.ID() as the build's session id and
// closes s when the build is over.
func Start(ctx context.Context, o Options, dial Dialer, extra ...session.Attachable) (*session.Session, error) {
	atts, err := Attachables(o)
	if err != nil {
		return nil, err
	}
	atts = append(atts, extra...)
	s, err := session.NewSession(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("buildkit session: %w", err)
	}
	for _, a := range atts {
		s.Allow(a)
	}
	go func() { _ = s.Run(ctx, dial) }()
	return s, nil
}

// DockerDialer hijacks the Engine API's /session endpoint.
func DockerDialer(hijack func(ctx context.Context, url, proto string, meta map[string][]string) (net.Conn, error)) Dialer {
	return func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
		return hijack(ctx, "/session", proto, meta)
	}
}
