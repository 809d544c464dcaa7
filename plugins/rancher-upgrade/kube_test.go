package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Kubernetes canaries: none may appear in any output, plain or base64.
const (
	kubeTokenCanary  = "KUBETOKENCANARY5d2a"
	kubeconfCanary   = "KUBECONFIGTOKENCANARY81c4"
	rancherAKCanary  = "token-canry"
	rancherSKCanary  = "RANCHERSKCANARY0e77f1"
	newImage         = "harbor.company.com/registry/test:2"
	oldImage         = "harbor.company.com/registry/test:1"
	kubeWorkspaceEnv = "DRONE_WORKSPACE"
)

func i32(v int32) *int32 { return &v }

func tmpl(app string, init []corev1.Container, cs ...corev1.Container) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: corev1.PodSpec{InitContainers: init, Containers: cs}}
}

func sel(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

// newKubeFake serves a cluster with deployment/web (an init container and a
// sidecar), statefulset/db and daemonset/agent in namespace web.
func newKubeFake(t testing.TB, o kube.Options) *kube.Server {
	t.Helper()
	if o.Token == "" && o.Rancher == nil {
		o.Token = kubeTokenCanary
	}
	if o.Tick == 0 {
		o.Tick = 20 * time.Millisecond
	}
	f := kube.New(o)
	if _, err := f.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	app := corev1.Container{Name: "app", Image: oldImage}
	objs := []interface {
		metav1.Object
		runtime.Object
	}{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web"}, Spec: appsv1.DeploymentSpec{Replicas: i32(3), Selector: sel("web"),
			Template: tmpl("web", []corev1.Container{{Name: "migrate", Image: oldImage}}, app, corev1.Container{Name: "log", Image: "reg.example.com/log:1"})}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "web"}, Spec: appsv1.StatefulSetSpec{Replicas: i32(3), Selector: sel("db"), Template: tmpl("db", nil, app)}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "web"}, Spec: appsv1.DaemonSetSpec{Selector: sel("agent"), Template: tmpl("agent", nil, app)}},
	}
	for _, obj := range objs {
		if err := f.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func kubeEnv(t testing.TB, f *kube.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"PLUGIN_KUBERNETES_SERVER": f.URL(),
		"PLUGIN_KUBERNETES_TOKEN":  kubeTokenCanary,
		"PLUGIN_CA_CERT":           f.CACert(),
		"PLUGIN_NAMESPACE":         "web",
		"PLUGIN_WORKLOADS":         "deployment/web",
		"PLUGIN_DOCKER_IMAGE":      newImage,
		"PLUGIN_POLL_INTERVAL":     "1s",
		"PLUGIN_TIMEOUT":           "30s",
		"PLUGIN_LOG_LEVEL":         "debug",
		"DRONE_BUILD_LINK":         "https://drone.company.com/acme/web/42",
		"DRONE_COMMIT_SHA":         "0123456789abcdef",
		kubeWorkspaceEnv:           t.TempDir(),
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// kubeRun runs the plugin and checks that no credential was printed.
func kubeRun(t *testing.T, env map[string]string) plugintest.Result {
	t.Helper()
	r := run(t, env)
	out := r.Output()
	for _, secret := range []string{kubeTokenCanary, kubeconfCanary, rancherAKCanary, rancherSKCanary, rancherAKCanary + ":" + rancherSKCanary} {
		for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
			if strings.Contains(out, form) {
				t.Errorf("credential %q in output:\n%s", form, out)
			}
		}
	}
	return r
}

func images(spec corev1.PodSpec) string {
	var out []string
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		out = append(out, c.Name+"="+c.Image)
	}
	return strings.Join(out, ",")
}

func requestsAfter(f *kube.Server, name string, after time.Time) (watches, others int) {
	for _, r := range f.Requests() {
		if !r.Time.After(after) || (r.Name != name && !(r.Resource == "pods" && r.Watch)) {
			continue
		}
		if r.Watch {
			watches++
		} else {
			others++
		}
	}
	return watches, others
}

func patchTime(t *testing.T, f *kube.Server, resource, name string) time.Time {
	t.Helper()
	for _, r := range f.Requests() {
		if r.Method == "PATCH" && r.Resource == resource && r.Name == name && r.Status == 200 {
			return r.Time
		}
	}
	t.Fatalf("no PATCH of %s/%s", resource, name)
	return time.Time{}
}

func TestKubeDeploymentRollsOutDockerBuildsDigest(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	env := kubeEnv(t, f, map[string]string{"PLUGIN_DOCKER_IMAGE": "", "PLUGIN_TRAEFIK_ENABLE": "true", "PLUGIN_TRAEFIK_DOMAIN": "demo.company.com", "PLUGIN_LABELS": "release=42"})
	for k, v := range thisBuild() {
		env[k] = v
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	by := thisOrigin()
	writeBuildResult(t, env[kubeWorkspaceEnv], &by, digest)
	r := kubeRun(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	want := "harbor.company.com/registry/test@" + digest
	d, _ := f.Deployment("web", "web")
	if got := images(d.Spec.Template.Spec); got != "migrate="+want+",app="+want+",log=reg.example.com/log:1" {
		t.Errorf("images: %s", got)
	}
	if l := d.Spec.Template.Labels; l["traefik.enable"] != "true" || l["traefik.domain"] != "demo.company.com" || l["release"] != "42" || l["app"] != "web" {
		t.Errorf("template labels: %v", l)
	}
	if cause := d.Annotations["kubernetes.io/change-cause"]; !strings.Contains(cause, want) || !strings.Contains(cause, "0123456789abcdef") || !strings.Contains(cause, "https://") {
		t.Errorf("change-cause: %q", cause)
	}
	if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedReplicas != 3 || d.Status.AvailableReplicas != 3 {
		t.Errorf("status: %+v", d.Status)
	}
	for _, want := range []string{"container app: harbor.company.com/registry/test:1 -> " + want, "init container migrate", "successfully rolled out (3 replicas)", "Summary:"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if rep := readReport(t, env[kubeWorkspaceEnv]); rep.API != "kubernetes" || len(rep.Services) != 1 || rep.Services[0].Outcome != outcomeFinished || rep.Services[0].Service != "deployment/web" {
		t.Errorf("report: %+v", rep)
	}
	// While it waited the plugin only watched: no request per poll, and it
	// knew of the completion from the watch event that reported it.
	watches, others := requestsAfter(f, "web", patchTime(t, f, "deployments", "web"))
	if others != 0 || watches > 4 {
		t.Errorf("requests while waiting: %d watches, %d others", watches, others)
	}
	completeRV := ""
	sent := map[string]bool{}
	for _, e := range f.Events() {
		if e.Resource == "deployments" && e.Name == "web" && e.What == "complete" {
			completeRV = e.ResourceVersion
		}
		if e.Resource == "deployments" && e.What == "watch-sent" {
			sent[e.ResourceVersion] = true
		}
	}
	if completeRV == "" || !sent[completeRV] {
		t.Errorf("completion (rv %q) was not sent on a watch", completeRV)
	}
	for _, ref := range f.Refusals() {
		t.Errorf("refused: %+v", ref)
	}
}

// TestKubePollsAtIntervalWithoutWatch: where the API does not watch, the
// plugin reads the workload once per poll_interval (1s) and sees the
// completion at the first read after the fake reports it.
func TestKubePollsAtIntervalWithoutWatch(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{NoWatch: true})
	r := kubeRun(t, kubeEnv(t, f, nil))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	patched := patchTime(t, f, "deployments", "web")
	var complete time.Time
	for _, e := range f.Events() {
		if e.Resource == "deployments" && e.What == "complete" && e.Time.After(patched) {
			complete = e.Time
		}
	}
	var gets []time.Time
	for _, req := range f.Requests() {
		if req.Time.After(patched) && !req.Watch && req.Method == "GET" {
			gets = append(gets, req.Time)
		}
	}
	after := 0
	for _, g := range gets {
		if g.After(complete) {
			after++
		}
	}
	if complete.IsZero() || after != 1 {
		t.Errorf("reads after the completion: %d (want exactly the one that saw it)", after)
	}
	// At most one request per second per workload while waiting.
	if span := gets[len(gets)-1].Sub(patched); float64(len(gets)) > span.Seconds()+0.5 {
		t.Errorf("%d requests in %s", len(gets), span)
	}
}

func TestKubeStatefulSetAndDaemonSetInOneStep(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	env := kubeEnv(t, f, map[string]string{"PLUGIN_WORKLOADS": "statefulset/db\ndaemonset/agent"})
	r := kubeRun(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	ss, _ := f.StatefulSet("web", "db")
	if images(ss.Spec.Template.Spec) != "app="+newImage || ss.Status.UpdatedReplicas != 3 || ss.Status.ReadyReplicas != 3 {
		t.Errorf("statefulset: %s %+v", images(ss.Spec.Template.Spec), ss.Status)
	}
	ds, _ := f.DaemonSet("web", "agent")
	if images(ds.Spec.Template.Spec) != "app="+newImage || ds.Status.UpdatedNumberScheduled != 3 || ds.Status.NumberAvailable != 3 {
		t.Errorf("daemonset: %+v", ds.Status)
	}
	for _, p := range f.Pods("web", map[string]string{"app": "agent"}) {
		if p.Spec.Containers[0].Image != newImage {
			t.Errorf("pod %s on %s runs %s", p.Name, p.Spec.NodeName, p.Spec.Containers[0].Image)
		}
	}
	// Both were patched before either finished: they rolled out together.
	p1, p2 := patchTime(t, f, "statefulsets", "db"), patchTime(t, f, "daemonsets", "agent")
	var firstComplete time.Time
	for _, e := range f.Events() {
		if e.What == "complete" && firstComplete.IsZero() && (e.Time.After(p1) || e.Time.After(p2)) {
			firstComplete = e.Time
		}
	}
	if firstComplete.IsZero() {
		t.Error("no completion after the patches")
	}
	if p1.After(firstComplete) || p2.After(firstComplete) {
		t.Errorf("not concurrent: patches %s %s, first completion %s", p1, p2, firstComplete)
	}
	if !strings.Contains(r.Stdout, "partitioned roll out complete: 3 new pods have been updated") || !strings.Contains(r.Stdout, "successfully rolled out (3 pods)") {
		t.Errorf("output:\n%s", r.Stdout)
	}
	if rep := readReport(t, env[kubeWorkspaceEnv]); len(rep.Services) != 2 {
		t.Errorf("report: %+v", rep)
	}
}

func TestKubeStatefulSetPartition(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	part := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "canary", Namespace: "web"}, Spec: appsv1.StatefulSetSpec{Replicas: i32(3), Selector: sel("canary"),
		Template:       tmpl("canary", nil, corev1.Container{Name: "app", Image: oldImage}),
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: i32(2)}}}}
	if err := f.Add(part); err != nil {
		t.Fatal(err)
	}
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_WORKLOADS": "sts/canary"}))
	if r.Code != 0 || !strings.Contains(r.Stdout, "partitioned roll out complete: 1 new pods have been updated") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	for _, p := range f.Pods("web", map[string]string{"app": "canary"}) {
		want := oldImage
		if p.Name == "canary-2" {
			want = newImage
		}
		if p.Spec.Containers[0].Image != want {
			t.Errorf("%s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

func TestKubeFailedRolloutRollsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, workloads string
		behavior        kube.Behavior
		extra           map[string]string
		want            []string
	}{
		{"image never pulls", "deployment/web", kube.PullBackOff, nil, []string{"pod web-", "ImagePullBackOff"}},
		{"crash loop in a statefulset", "statefulset/db", kube.CrashLoop, nil, []string{"pod db-2", "CrashLoopBackOff", "deleting pod db-2"}},
		{"never ready times out", "daemonset/agent", kube.NeverReady, map[string]string{"PLUGIN_TIMEOUT": "2s"}, []string{"timed out after 2s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newKubeFake(t, kube.Options{})
			f.SetImage(newImage, tc.behavior)
			extra := map[string]string{"PLUGIN_WORKLOADS": tc.workloads + ",deployment/web"}
			for k, v := range tc.extra {
				extra[k] = v
			}
			env := kubeEnv(t, f, extra)
			r := kubeRun(t, env)
			if r.Code != 1 {
				t.Fatalf("exit %d:\n%s", r.Code, r.Output())
			}
			for _, w := range append(tc.want, "rolling back to the previous pod template") {
				if !strings.Contains(text(r), w) {
					t.Errorf("output lacks %q:\n%s", w, r.Output())
				}
			}
			checkKubeRolledBack(t, f)
			rep := readReport(t, env[kubeWorkspaceEnv])
			for _, o := range rep.Services {
				if o.Outcome != outcomeRolledBack {
					t.Errorf("report: %+v", o)
				}
			}
		})
	}
}

// checkKubeRolledBack fails t unless the fake's three workloads (web,
// db, agent) and all their pods run without the new image, 3 available each.
func checkKubeRolledBack(t *testing.T, f *kube.Server) {
	t.Helper()
	d, _ := f.Deployment("web", "web")
	ss, _ := f.StatefulSet("web", "db")
	ds, _ := f.DaemonSet("web", "agent")
	for _, spec := range []corev1.PodSpec{d.Spec.Template.Spec, ss.Spec.Template.Spec, ds.Spec.Template.Spec} {
		if strings.Contains(images(spec), newImage) {
			t.Errorf("not rolled back: %s", images(spec))
		}
	}
	for _, p := range f.Pods("web", nil) {
		if strings.Contains(images(p.Spec), newImage) {
			t.Errorf("pod %s still runs the new image", p.Name)
		}
	}
	if d.Status.AvailableReplicas != 3 || ss.Status.ReadyReplicas != 3 || ds.Status.NumberAvailable != 3 {
		t.Errorf("not available after rollback: %d %d %d", d.Status.AvailableReplicas, ss.Status.ReadyReplicas, ds.Status.NumberAvailable)
	}
}

func TestKubeProgressDeadlineExceededRollsBack(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	f.SetImage(newImage, kube.NeverReady)
	if err := f.Add(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "web"}, Spec: appsv1.DeploymentSpec{Replicas: i32(2), ProgressDeadlineSeconds: i32(1), Selector: sel("api"),
		Template: tmpl("api", nil, corev1.Container{Name: "api", Image: oldImage})}}); err != nil {
		t.Fatal(err)
	}
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_WORKLOADS": "api"}))
	if r.Code != 1 || !strings.Contains(text(r), `deployment "api" exceeded its progress deadline`) {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if d, _ := f.Deployment("web", "api"); d.Spec.Template.Spec.Containers[0].Image != oldImage {
		t.Errorf("image %s", d.Spec.Template.Spec.Containers[0].Image)
	}
}

func TestKubeRollbackFalseLeavesIt(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	f.SetImage(newImage, kube.PullBackOff)
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_ROLLBACK": "false"}))
	if r.Code != 1 || !strings.Contains(r.Output(), "rollback=false") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	if d, _ := f.Deployment("web", "web"); d.Spec.Template.Spec.Containers[0].Image != newImage {
		t.Errorf("changed back: %s", images(d.Spec.Template.Spec))
	}
}

func TestKubeConflictIsReadAgainAndRetried(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	f.ConflictOnNextWrite("deployments", "web", "web", 1)
	r := kubeRun(t, kubeEnv(t, f, nil))
	if r.Code != 0 || !strings.Contains(r.Stdout, "(409): reading it again") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	var codes []int
	for _, req := range f.Requests() {
		if req.Method == "PATCH" {
			codes = append(codes, req.Status)
		}
	}
	if fmt.Sprint(codes) != "[409 200]" {
		t.Errorf("PATCH answers: %v", codes)
	}
	d, _ := f.Deployment("web", "web")
	if d.Annotations["fake.lightship.dev/concurrent-writer"] == "" || d.Spec.Template.Spec.Containers[0].Image != newImage {
		t.Errorf("the other writer's change or ours is lost: %v %s", d.Annotations, images(d.Spec.Template.Spec))
	}
}

func TestKubeThroughRancherProxy(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{Rancher: &kube.Rancher{AccessKey: rancherAKCanary, SecretKey: rancherSKCanary, ClusterID: "c-7x2kq", ClusterName: "prod"}})
	env := kubeEnv(t, f, map[string]string{
		"PLUGIN_KUBERNETES_SERVER": "", "PLUGIN_KUBERNETES_TOKEN": "",
		"PLUGIN_URL": f.URL() + "/v3", "RANCHER_ACCESS_KEY": rancherAKCanary, "RANCHER_SECRET_KEY": rancherSKCanary, "PLUGIN_CLUSTER": "prod",
	})
	r := kubeRun(t, env)
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	proxied := 0
	for _, req := range f.Requests() {
		if req.Proxy {
			proxied++
		}
	}
	if d, _ := f.Deployment("web", "web"); d.Spec.Template.Spec.Containers[0].Image != newImage || proxied == 0 {
		t.Errorf("image %s, %d requests through the proxy", d.Spec.Template.Spec.Containers[0].Image, proxied)
	}
	for _, ref := range f.Refusals() {
		t.Errorf("refused: %+v", ref)
	}
}

func kubeconfig(f *kube.Server, current string) string {
	return fmt.Sprintf(`apiVersion: v1
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
- name: ci
  context: {cluster: fake, user: ci, namespace: web}
current-context: %q
`, f.URL(), base64.StdEncoding.EncodeToString([]byte(f.CACert())), kubeconfCanary, current)
}

func TestKubeconfigContentOrPath(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{Token: kubeconfCanary})
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(kubeconfig(f, "ci")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{kubeconfig(f, "ci"), path} {
		env := kubeEnv(t, f, map[string]string{"PLUGIN_KUBERNETES_SERVER": "", "PLUGIN_KUBERNETES_TOKEN": "", "PLUGIN_CA_CERT": "", "PLUGIN_NAMESPACE": "", "PLUGIN_KUBECONFIG": v})
		if r := kubeRun(t, env); r.Code != 0 || !strings.Contains(r.Stdout, "kubeconfig context ci") {
			t.Fatalf("exit %d:\n%s", r.Code, r.Output())
		}
	}
}

func TestKubeSettingsErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"missing workload", map[string]string{"PLUGIN_WORKLOADS": "deployment/nope"}, `PLUGIN_WORKLOADS: deployment/nope not found in namespace web`},
		{"bad entry", map[string]string{"PLUGIN_WORKLOADS": "job/x"}, `PLUGIN_WORKLOADS: "job/x" must be deployment/NAME`},
		{"bad name", map[string]string{"PLUGIN_WORKLOADS": "deployment/Web_1"}, `PLUGIN_WORKLOADS: "deployment/Web_1"`},
		{"no current context", map[string]string{"PLUGIN_KUBERNETES_SERVER": "", "PLUGIN_KUBECONFIG": kubeconfig(f, "")}, "PLUGIN_KUBECONFIG: has no current-context"},
		{"no container runs the repository", map[string]string{"PLUGIN_DOCKER_IMAGE": "other.example.com/x:1"}, "PLUGIN_CONTAINER: no container of deployment/web runs other.example.com/x"},
		{"no such container", map[string]string{"PLUGIN_CONTAINER": "nope"}, "PLUGIN_CONTAINER: deployment/web has no container named nope"},
		{"label not for Kubernetes", map[string]string{"PLUGIN_TRAEFIK_DOMAIN": "a.com,b.com"}, "PLUGIN_TRAEFIK_DOMAIN"},
		{"two connections", map[string]string{"PLUGIN_CLUSTER": "prod"}, "PLUGIN_KUBERNETES_SERVER: set one of"},
	} {
		r := kubeRun(t, kubeEnv(t, f, tc.extra))
		if r.Code != 2 || !strings.Contains(text(r), tc.want) {
			t.Errorf("%s: exit %d, want %q:\n%s", tc.name, r.Code, tc.want, r.Output())
		}
	}
	for _, req := range f.Requests() {
		if req.Method != "GET" {
			t.Errorf("a bad setting changed something: %+v", req)
		}
	}
}

func TestKubeDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{})
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_DRY_RUN": "true", "PLUGIN_WORKLOADS": "web,ds/agent"}))
	if r.Code != 0 || !strings.Contains(r.Stdout, `"image":"`+newImage+`"`) || !strings.Contains(r.Stdout, "nothing was sent") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	for _, req := range f.Requests() {
		if req.Method != "GET" {
			t.Errorf("dry run sent %+v", req)
		}
	}
}

// TestKubePollNamesStuckPod: without watches a pod that cannot pull is
// still found (the pods are read once the status stops moving).
func TestKubePollNamesStuckPod(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{NoWatch: true})
	f.SetImage(newImage, kube.PullBackOff)
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_POLL_INTERVAL": "100ms"}))
	if r.Code != 1 || !strings.Contains(text(r), "ImagePullBackOff") || !strings.Contains(text(r), "rolled back") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

func TestKubeWrongTokenFailsWithoutPrintingIt(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{Token: "the-right-one"})
	r := kubeRun(t, kubeEnv(t, f, nil))
	if r.Code != 1 || !strings.Contains(r.Output(), "Unauthorized") {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
}

// TestKubeImageRollsOutAndRollsBack runs the FROM scratch image against the
// fake cluster: client-go needs nothing the image lacks (no HOME, no
// kubeconfig file, the CA from ca_cert).
func TestKubeImageRollsOutAndRollsBack(t *testing.T) {
	t.Parallel()
	cli := dockertest.Client(t)
	dockertest.RequireImage(t, cli, image)
	// Budget of issue 12: the Kubernetes client brought the image from 8.5 MB to about 18.8 MB.
	if ii, err := cli.ImageInspect(context.Background(), image); err != nil || ii.Size > 20<<20 {
		t.Errorf("image: %v, %d bytes, budget 20 MB", err, ii.Size)
	}
	f := newKubeFake(t, kube.Options{})
	f.SetImage("harbor.company.com/registry/test:broken", kube.CrashLoop)
	ws := t.TempDir()
	env := kubeEnv(t, f, map[string]string{"PLUGIN_WORKLOADS": "web,daemonset/agent"})
	delete(env, kubeWorkspaceEnv)
	code, out := dockerRun(t, cli, ws, env)
	if code != 0 || strings.Contains(out, kubeTokenCanary) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if d, _ := f.Deployment("web", "web"); d.Spec.Template.Spec.Containers[0].Image != newImage {
		t.Errorf("image %s", d.Spec.Template.Spec.Containers[0].Image)
	}
	env["PLUGIN_DOCKER_IMAGE"] = "harbor.company.com/registry/test:broken"
	code, out = dockerRun(t, cli, ws, env)
	if code != 1 || !strings.Contains(out, "CrashLoopBackOff") || strings.Contains(out, kubeTokenCanary) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if rep := readReport(t, ws); rep.Services[0].Outcome != outcomeRolledBack || rep.Services[1].Outcome != outcomeRolledBack {
		t.Errorf("report: %+v", rep)
	}
}

// TestKubeWatchesAgainWhenTheServerEndsThem: API servers end watches after
// a timeout; the plugin reads the workload and watches again.
func TestKubeWatchesAgainWhenTheServerEndsThem(t *testing.T) {
	t.Parallel()
	f := newKubeFake(t, kube.Options{WatchTimeout: 150 * time.Millisecond, Tick: 60 * time.Millisecond})
	r := kubeRun(t, kubeEnv(t, f, map[string]string{"PLUGIN_WORKLOADS": "web,sts/db"}))
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Output())
	}
	// Waiting by watch reads nothing else; each ended watch is followed by
	// a read of the workload (and a new watch, unless that read shows the
	// rollout done). The rollouts take longer than one watch.
	rereads := 0
	for _, req := range f.Requests() {
		if !req.Watch && req.Method == "GET" && req.Name != "" && req.Time.After(patchTime(t, f, "deployments", "web")) {
			rereads++
		}
	}
	if rereads == 0 {
		t.Errorf("no read after a watch ended:\n%s", r.Output())
	}
	if ss, _ := f.StatefulSet("web", "db"); ss.Status.UpdatedReplicas != 3 || ss.Status.ReadyReplicas != 3 {
		t.Errorf("statefulset: %+v", ss.Status)
	}
}
