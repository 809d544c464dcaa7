package buildsession

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/testkit/baseimage"
	"github.com/moby/buildkit/session/auth"
	"github.com/moby/buildkit/session/secrets"
	"github.com/moby/buildkit/session/sshforward"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serve registers o's attachables on a gRPC server on 127.0.0.1:0 and
// returns a client connection, as the builder would see the session.
func serve(t *testing.T, o Options) *grpc.ClientConn {
	t.Helper()
	atts, err := Attachables(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	for _, a := range atts {
		a.Register(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestCredentialsPerHost(t *testing.T) {
	cc := serve(t, Options{Credentials: []Credential{
		{Host: "127.0.0.1:5000", Username: "robot$proj+ci", Password: "pw1"},
		{Host: "https://index.docker.io/v1/", Username: "hub", Password: "pw2"},
		{Host: "127.0.0.1:5000", Username: "second", Password: "ignored"},
		{Host: "harbor.example.com", IdentityToken: "tok"},
	}})
	c := auth.NewAuthClient(cc)
	for host, want := range map[string][2]string{
		"127.0.0.1:5000":       {"robot$proj+ci", "pw1"},
		"registry-1.docker.io": {"hub", "pw2"},
		"docker.io":            {"hub", "pw2"},
		"harbor.example.com":   {"", "tok"},
		"127.0.0.1:5001":       {"", ""},
	} {
		r, err := c.Credentials(context.Background(), &auth.CredentialsRequest{Host: host})
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if r.Username != want[0] || r.Secret != want[1] {
			t.Errorf("%s: got %q/%q, want %q/%q", host, r.Username, r.Secret, want[0], want[1])
		}
	}
	// The builder fetches tokens itself: the authority calls are not offered.
	if _, err := c.GetTokenAuthority(context.Background(), &auth.GetTokenAuthorityRequest{Host: "docker.io"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("GetTokenAuthority: %v, want Unimplemented", err)
	}
}

func TestCredentialsFromConfig(t *testing.T) {
	conf := `{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3MjpzdGlsbA=="},` +
		`"127.0.0.1:5000":{"username":"u","password":"p"},"ghcr.io":{"identitytoken":"it"}}}`
	got, err := CredentialsFromConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Credential{
		{Host: "127.0.0.1:5000", Username: "u", Password: "p"},
		{Host: "ghcr.io", IdentityToken: "it"},
		{Host: "docker.io", Username: "hub", Password: "pw2:still"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`not json`, `{"auths":{"h":{"auth":"!!"}}}`, `{"auths":{"h":{"auth":"bm9jb2xvbg=="}}}`} {
		if _, err := CredentialsFromConfig(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestSecrets(t *testing.T) {
	cc := serve(t, Options{Secrets: []Secret{{ID: "npm", Value: []byte("tok-1")}, {ID: "empty"}}})
	c := secrets.NewSecretsClient(cc)
	r, err := c.GetSecret(context.Background(), &secrets.GetSecretRequest{ID: "npm"})
	if err != nil || string(r.Data) != "tok-1" {
		t.Fatalf("npm: %q, %v", r.GetData(), err)
	}
	if _, err := c.GetSecret(context.Background(), &secrets.GetSecretRequest{ID: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown id: %v, want NotFound", err)
	}
	for _, bad := range []Options{
		{Secrets: []Secret{{ID: "", Value: []byte("x")}}},
		{Secrets: []Secret{{ID: "a"}, {ID: "a"}}},
		{Secrets: []Secret{{ID: "big", Value: make([]byte, 600*1024)}}},
	} {
		if _, err := Attachables(bad); err == nil {
			t.Errorf("%+v: no error", bad.Secrets[0].ID)
		}
	}
}

func testKey(t *testing.T) (ssh.PublicKey, []byte) { return baseimage.NewSSHKey(t) }

// sign asks the agent behind the session for a signature, as the ssh
// mount in a RUN step does.
func sign(t *testing.T, cc *grpc.ClientConn, id string, data []byte) (*ssh.Signature, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := sshforward.NewSSHClient(cc)
	if _, err := c.CheckAgent(ctx, &sshforward.CheckAgentRequest{ID: id}); err != nil {
		return nil, err
	}
	stream, err := c.ForwardAgent(metadata.AppendToOutgoingContext(ctx, sshforward.KeySSHID, id))
	if err != nil {
		return nil, err
	}
	c1, c2 := net.Pipe()
	go func() { _ = sshforward.Copy(ctx, c1, stream, stream.CloseSend) }()
	a := agent.NewClient(c2)
	keys, err := a.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("agent lists %d keys: %v", len(keys), err)
	}
	_, extra := testKey(t)
	k, err := ssh.ParseRawPrivateKey(extra)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(agent.AddedKey{PrivateKey: k}); err == nil {
		t.Error("the agent accepted a new key from the build")
	}
	if err := a.RemoveAll(); err == nil {
		t.Error("the agent let the build remove its keys")
	}
	return a.Sign(keys[0], data)
}

func TestSSHKeySigns(t *testing.T) {
	sshPub, pemKey := testKey(t)
	cc := serve(t, Options{SSH: []SSH{{Keys: [][]byte{pemKey}}, {ID: "deploy", Keys: [][]byte{pemKey}}}})
	for _, id := range []string{"default", "deploy"} {
		sig, err := sign(t, cc, id, []byte("challenge"))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if err := sshPub.Verify([]byte("challenge"), sig); err != nil {
			t.Errorf("%s: signature does not verify: %v", id, err)
		}
	}
	if _, err := sshforward.NewSSHClient(cc).CheckAgent(context.Background(), &sshforward.CheckAgentRequest{ID: "other"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestSSHSocketIsForwardedReadOnly(t *testing.T) {
	sshPub, pemKey := testKey(t)
	key, err := ssh.ParseRawPrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	ring := agent.NewKeyring()
	if err := ring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	sock := t.TempDir() + "/agent.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { _ = agent.ServeAgent(ring, c); c.Close() }()
		}
	}()
	cc := serve(t, Options{SSH: []SSH{{Socket: sock}}})
	sig, err := sign(t, cc, "default", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sshPub.Verify([]byte("x"), sig); err != nil {
		t.Error(err)
	}
	if keys, _ := ring.List(); len(keys) != 1 {
		t.Errorf("the forwarded agent was changed: %d keys", len(keys))
	}
}

func TestSSHBadInput(t *testing.T) {
	_, k := testKey(t)
	for name, o := range map[string][]SSH{
		"not a key":  {{Keys: [][]byte{[]byte("-----BEGIN NOPE-----")}}},
		"empty":      {{ID: "x"}},
		"both":       {{Keys: [][]byte{k}, Socket: "/tmp/s"}},
		"duplicated": {{Keys: [][]byte{k}}, {ID: "default", Keys: [][]byte{k}}},
	} {
		_, err := Attachables(Options{SSH: o})
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if bytes.Contains([]byte(err.Error()), k) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: error shows the key: %v", name, err)
		}
	}
}
