package demo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lightship-ci/lightship/pkg/testkit/harbor"
	"github.com/lightship-ci/lightship/pkg/testkit/kube"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
	"github.com/lightship-ci/lightship/pkg/testkit/rancher"
	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// Credentials the sandbox accepts. They are made fresh for every run, so
// the demo can prove none of them appears in any step's output.
type credentials struct {
	RobotUser, RobotPassword string
	// AdminUser pushes the private base image (the platform team's account).
	AdminUser, AdminPassword string
	AccessKey, SecretKey     string
	CorpID, CorpSecret       string
	AgentID                  int
	// KubeToken is the Kubernetes service account's Bearer token.
	KubeToken string
	// AssetsToken is the build secret (secrets_from_env): only its sha256
	// may reach the image.
	AssetsToken string
}

func (c credentials) values() []string {
	return []string{c.RobotPassword, c.AdminPassword, c.SecretKey, c.CorpSecret, c.KubeToken, c.AssetsToken}
}

// sandbox is every simulator of the demo, on 127.0.0.1.
type sandbox struct {
	harbor  *harbor.Harbor
	rancher *rancher.Server
	wecom   *wecom.Server
	kube    *kube.Server
	json    *logsink.TCPSink
	beats   *logsink.LumberjackSink
	creds   credentials
}

// oldLaunchConfig is demo/web before the deploy. The secrets and
// healthCheck fields are ones rancher-upgrade must carry through unchanged.
const oldLaunchConfig = `{
  "imageUuid": "docker:nginx:1.13",
  "labels": {"io.rancher.container.pull_image": "always", "team": "web"},
  "environment": {"LISTEN": "127.0.0.1:8080"},
  "secrets": [{"secretId": "1se1", "name": "db-password"}],
  "healthCheck": {"port": 8080, "requestLine": "GET / HTTP/1.0", "interval": 2000},
  "startOnCreate": true
}`

func startSandbox(ctx context.Context, creds credentials, onUpgrade func(stack, service string, lc json.RawMessage)) (*sandbox, error) {
	s := &sandbox{creds: creds}
	var err error
	s.harbor, err = harbor.Start(ctx, harbor.Options{
		Users: map[string]harbor.User{
			creds.RobotUser: {Password: creds.RobotPassword},
			creds.AdminUser: {Password: creds.AdminPassword, CanCreateProjects: true},
		},
		Projects: []string{"demo", "base"},
	})
	if err != nil {
		return nil, fmt.Errorf("start harbor simulator: %w", err)
	}
	s.rancher = rancher.New(rancher.Options{
		AccessKey: creds.AccessKey, SecretKey: creds.SecretKey,
		Transition: 300e6, OnUpgrade: onUpgrade,
	})
	if _, err := s.rancher.AddService("demo", "web", rancher.Service{LaunchConfig: json.RawMessage(oldLaunchConfig)}); err != nil {
		s.close()
		return nil, fmt.Errorf("rancher simulator: %w", err)
	}
	if _, err := s.rancher.Start("127.0.0.1:0"); err != nil {
		s.close()
		return nil, fmt.Errorf("start rancher simulator: %w", err)
	}
	if s.wecom, err = wecom.Start(wecom.Options{CorpID: creds.CorpID, CorpSecret: creds.CorpSecret, AgentID: creds.AgentID}); err != nil {
		s.close()
		return nil, fmt.Errorf("start wecom simulator: %w", err)
	}
	if err := s.startKube(); err != nil {
		s.close()
		return nil, err
	}
	if s.json, err = logsink.StartTCP("127.0.0.1:0"); err != nil {
		s.close()
		return nil, fmt.Errorf("start json sink: %w", err)
	}
	if s.beats, err = logsink.StartLumberjack("127.0.0.1:0"); err != nil {
		s.close()
		return nil, fmt.Errorf("start lumberjack sink: %w", err)
	}
	return s, nil
}

func (s *sandbox) close() {
	if s.harbor != nil {
		s.harbor.Close()
	}
	if s.rancher != nil {
		s.rancher.Close()
	}
	if s.wecom != nil {
		s.wecom.Close()
	}
	if s.kube != nil {
		s.kube.Close()
	}
	if s.json != nil {
		s.json.Close()
	}
	if s.beats != nil {
		s.beats.Close()
	}
}

// vars are the ${DEMO_*} values substituted into scripts/demo/.drone.yml.
func (s *sandbox) vars() map[string]string {
	return map[string]string{
		"DEMO_REGISTRY":    s.harbor.Host,
		"DEMO_HARBOR_URL":  s.harbor.URL,
		"DEMO_RANCHER_URL": s.rancher.URL(),
		"DEMO_WECOM_URL":   s.wecom.URL,
		"DEMO_KUBE_URL":    s.kube.URL(),
	}
}

// secrets is the demo's secret store, by lower-cased name as Drone 0.8 keeps it.
func (s *sandbox) secrets() map[string]string {
	return map[string]string{
		"docker_username":    s.creds.RobotUser,
		"docker_password":    s.creds.RobotPassword,
		"rancher_access_key": s.creds.AccessKey,
		"rancher_secret_key": s.creds.SecretKey,
		"plugin_corpid":      s.creds.CorpID,
		"plugin_corp_secret": s.creds.CorpSecret,
		"plugin_agent_id":    fmt.Sprint(s.creds.AgentID),
		"assets_token":       s.creds.AssetsToken,
		"kube_token":         s.creds.KubeToken,
		"kube_ca":            s.kube.CACert(),
	}
}
