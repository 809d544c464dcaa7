package buildsession

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/sshforward"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// SSH is one agent offered to RUN --mount=type=ssh.
type SSH struct {
	// ID is the mount's id (default "default").
	ID string
	// Keys are private keys (PEM or OpenSSH, unencrypted) served by an
	// agent inside this process; nothing is written to disk.
	Keys [][]byte
	// Socket is an agent socket to forward (the step's SSH_AUTH_SOCK),
	// read-only: the build can sign, not add or remove keys. Exclusive
	// with Keys.
	Socket string
}

// sshProvider serves sshforward's ForwardAgent from keyrings or sockets,
// as BuildKit's sshprovider does, without key files.
type sshProvider struct {
	sshforward.UnimplementedSSHServer
	agents map[string]func(context.Context) (agent.Agent, func(), error)
}

// NewSSHProvider returns the ssh attachable for agents.
func NewSSHProvider(agents []SSH) (session.Attachable, error) {
	p := &sshProvider{agents: map[string]func(context.Context) (agent.Agent, func(), error){}}
	for _, a := range agents {
		id := a.ID
		if id == "" {
			id = sshforward.DefaultID
		}
		if _, dup := p.agents[id]; dup {
			return nil, fmt.Errorf("ssh agent %q given twice", id)
		}
		switch {
		case len(a.Keys) > 0 && a.Socket != "":
			return nil, fmt.Errorf("ssh agent %q: keys and a socket are exclusive", id)
		case a.Socket != "":
			p.agents[id] = socketAgent(a.Socket)
		case len(a.Keys) > 0:
			ring := agent.NewKeyring()
			for i, k := range a.Keys {
				key, err := ssh.ParseRawPrivateKey(k)
				if err != nil {
					return nil, fmt.Errorf("ssh agent %q: key %d: %w", id, i+1, err)
				}
				if err := ring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
					return nil, fmt.Errorf("ssh agent %q: key %d: %w", id, i+1, err)
				}
			}
			ro := readOnlyAgent{ring.(agent.ExtendedAgent)}
			p.agents[id] = func(context.Context) (agent.Agent, func(), error) { return ro, func() {}, nil }
		default:
			return nil, fmt.Errorf("ssh agent %q: no key and no socket", id)
		}
	}
	return p, nil
}

func socketAgent(path string) func(context.Context) (agent.Agent, func(), error) {
	return func(ctx context.Context) (agent.Agent, func(), error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh agent socket: %w", err)
		}
		return readOnlyAgent{agent.NewClient(conn)}, func() { conn.Close() }, nil
	}
}

func (p *sshProvider) Register(s *grpc.Server) { sshforward.RegisterSSHServer(s, p) }

func sshID(ctx context.Context, id string) string {
	if id != "" {
		return id
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(sshforward.KeySSHID); len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return sshforward.DefaultID
}

// CheckAgent says whether an agent with the requested id exists.
func (p *sshProvider) CheckAgent(ctx context.Context, req *sshforward.CheckAgentRequest) (*sshforward.CheckAgentResponse, error) {
	id := sshID(ctx, req.GetID())
	if _, ok := p.agents[id]; !ok {
		return nil, status.Errorf(codes.NotFound, "unset ssh forward key %s", id)
	}
	return &sshforward.CheckAgentResponse{}, nil
}

// ForwardAgent serves the agent protocol over the stream.
func (p *sshProvider) ForwardAgent(stream sshforward.SSH_ForwardAgentServer) error {
	ctx := stream.Context()
	id := sshID(ctx, "")
	open, ok := p.agents[id]
	if !ok {
		return status.Errorf(codes.NotFound, "unset ssh forward key %s", id)
	}
	a, release, err := open(ctx)
	if err != nil {
		return err
	}
	defer release()
	c1, c2 := net.Pipe()
	go func() {
		_ = agent.ServeAgent(a, c1)
		c1.Close()
	}()
	defer c2.Close()
	return sshforward.Copy(ctx, c2, stream, nil)
}

// readOnlyAgent lets the build list keys and sign, nothing else.
type readOnlyAgent struct{ agent.ExtendedAgent }

var errReadOnly = errors.New("the build may only sign with the forwarded agent")

func (readOnlyAgent) Add(agent.AddedKey) error                 { return errReadOnly }
func (readOnlyAgent) Remove(ssh.PublicKey) error               { return errReadOnly }
func (readOnlyAgent) RemoveAll() error                         { return errReadOnly }
func (readOnlyAgent) Lock([]byte) error                        { return errReadOnly }
func (readOnlyAgent) Unlock([]byte) error                      { return errReadOnly }
func (readOnlyAgent) Extension(string, []byte) ([]byte, error) { return nil, errReadOnly }
