package kube

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlPath finds Debian's kubectl 1.20 (scripts/ensure-kubectl). With
// CI=true a missing kubectl fails the test.
func kubectlPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LIGHTSHIP_KUBECTL")
	if p == "" {
		p = "/usr/local/lib/lightship/kubernetes-client/usr/bin/kubectl"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubectl 1.20 not found at %s: run scripts/ensure-kubectl", p)
		}
		t.Skipf("kubectl 1.20 not found at %s: run scripts/ensure-kubectl", p)
	}
	return p
}

// kubectl runs kubectl against server with token, in its own HOME (its
// discovery cache) and kubeconfig.
func kubectl(t *testing.T, bin string, s *Server, server, token string, args ...string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	ca := s.CACert()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: ci
  user:
    token: %s
contexts:
- name: fake
  context: {cluster: fake, user: ci, namespace: web}
current-context: fake
`, server, base64.StdEncoding.EncodeToString([]byte(ca)), token)
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", path}, args...)...)
	cmd.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
	}
	t.Logf("kubectl %s -> %d\n%s", strings.Join(args, " "), code, out.String())
	return out.String(), code
}

func container(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image}
}

func template(app string, cs ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: corev1.PodSpec{Containers: cs}}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func startFake(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Tick == 0 {
		o.Tick = 20 * time.Millisecond
	}
	s := New(o)
	if _, err := s.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func addWorkloads(t *testing.T, s *Server) {
	t.Helper()
	for _, o := range []object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector("web"), Template: template("web", container("app", "reg/web:1"), container("log", "reg/log:1"))}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "web"},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Selector: selector("db"), Template: template("db", container("db", "reg/db:1"))}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "web"},
			Spec: appsv1.DaemonSetSpec{Selector: selector("agent"), Template: template("agent", container("agent", "reg/agent:1"))}},
	} {
		if err := s.Add(o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKubectlSetImageAndRolloutStatus: kubectl 1.20 sets the image of each
// kind and waits for the rollout as against a cluster.
func TestKubectlSetImageAndRolloutStatus(t *testing.T) {
	bin := kubectlPath(t)
	// Ticks slow enough that kubectl sees the rollouts under way.
	s := startFake(t, Options{Token: "kubectl-token", Tick: 250 * time.Millisecond})
	addWorkloads(t, s)
	for _, c := range []struct{ ref, set, done string }{
		{"deployment/web", "app=reg/web:2", `deployment "web" successfully rolled out`},
		{"statefulset/db", "db=reg/db:2", "partitioned roll out complete: 3 new pods have been updated"},
		{"daemonset/agent", "agent=reg/agent:2", `daemon set "agent" successfully rolled out`},
	} {
		out, code := kubectl(t, bin, s, s.URL(), "kubectl-token", "set", "image", c.ref, c.set)
		if code != 0 || !strings.Contains(out, "image updated") {
			t.Fatalf("set image %s: exit %d: %s", c.ref, code, out)
		}
		out, code = kubectl(t, bin, s, s.URL(), "kubectl-token", "rollout", "status", c.ref, "--timeout=60s")
		if code != 0 || !strings.Contains(out, c.done) {
			t.Fatalf("rollout status %s: exit %d: %s", c.ref, code, out)
		}
	}
	d, _ := s.Deployment("web", "web")
	if d.Generation != 2 || d.Status.ObservedGeneration != 2 || d.Spec.Template.Spec.Containers[0].Image != "reg/web:2" || d.Spec.Template.Spec.Containers[1].Image != "reg/log:1" {
		t.Errorf("deployment after kubectl: generation %d observed %d containers %+v", d.Generation, d.Status.ObservedGeneration, d.Spec.Template.Spec.Containers)
	}
	for _, p := range s.Pods("web", map[string]string{"app": "web"}) {
		if p.Spec.Containers[0].Image != "reg/web:2" || !podReady(&p) {
			t.Errorf("pod %s: %s ready=%v", p.Name, p.Spec.Containers[0].Image, podReady(&p))
		}
	}
	ss, _ := s.StatefulSet("web", "db")
	if ss.Status.CurrentRevision != ss.Status.UpdateRevision || ss.Status.UpdatedReplicas != 3 {
		t.Errorf("statefulset status: %+v", ss.Status)
	}
	watches := 0
	for _, r := range s.Requests() {
		if r.Watch {
			watches++
		}
	}
	if watches < 3 {
		t.Errorf("kubectl rollout status made %d watch requests", watches)
	}
	for _, r := range s.Refusals() {
		t.Errorf("refused: %+v", r)
	}
}

// TestKubectlRolloutStatusFailsOnProgressDeadline: a Deployment whose new
// pods never pull fails `kubectl rollout status` with its deadline.
func TestKubectlRolloutStatusFailsOnProgressDeadline(t *testing.T) {
	bin := kubectlPath(t)
	s := startFake(t, Options{Token: "kubectl-token"})
	s.SetImage("reg/web:broken", PullBackOff)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2)), ProgressDeadlineSeconds: ptr(int32(1)), Selector: selector("web"), Template: template("web", container("app", "reg/web:1"))}}
	if err := s.Add(d); err != nil {
		t.Fatal(err)
	}
	if out, code := kubectl(t, bin, s, s.URL(), "kubectl-token", "set", "image", "deployment/web", "app=reg/web:broken"); code != 0 {
		t.Fatalf("set image: exit %d: %s", code, out)
	}
	out, code := kubectl(t, bin, s, s.URL(), "kubectl-token", "rollout", "status", "deployment/web", "--timeout=60s")
	if code != 1 || !strings.Contains(out, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status: exit %d: %s", code, out)
	}
	var reasons []string
	for _, p := range s.Pods("web", map[string]string{"app": "web"}) {
		if w := p.Status.ContainerStatuses[0].State.Waiting; w != nil {
			reasons = append(reasons, w.Reason)
		}
	}
	if !strings.Contains(strings.Join(reasons, ","), "ImagePullBackOff") {
		t.Errorf("waiting reasons: %v", reasons)
	}
}

// TestKubectlThroughRancherProxy: kubectl with a Rancher-made kubeconfig
// (server .../k8s/clusters/<id>, token access:secret) and a wrong token.
func TestKubectlThroughRancherProxy(t *testing.T) {
	bin := kubectlPath(t)
	s := startFake(t, Options{Rancher: &Rancher{AccessKey: "token-abcde", SecretKey: "s3cret", ClusterID: "c-xk2lq", ClusterName: "prod"}})
	addWorkloads(t, s)
	out, code := kubectl(t, bin, s, s.ProxyURL(), "token-abcde:s3cret", "set", "image", "deployment/web", "app=reg/web:3")
	if code != 0 {
		t.Fatalf("set image: exit %d: %s", code, out)
	}
	if out, code = kubectl(t, bin, s, s.ProxyURL(), "token-abcde:s3cret", "rollout", "status", "deployment/web", "--timeout=60s"); code != 0 {
		t.Fatalf("rollout status: exit %d: %s", code, out)
	}
	if out, code = kubectl(t, bin, s, s.ProxyURL(), "token-abcde:wrong", "rollout", "status", "deployment/web"); code == 0 || !strings.Contains(out, "Unauthorized") && !strings.Contains(out, "must authenticate") && !strings.Contains(out, "credentials") {
		t.Fatalf("wrong key: exit %d: %s", code, out)
	}
	if out, code = kubectl(t, bin, s, s.URL(), "token-abcde:s3cret", "get", "deployment/web"); code == 0 {
		t.Fatalf("direct access without a token configured: exit %d: %s", code, out)
	}
}
