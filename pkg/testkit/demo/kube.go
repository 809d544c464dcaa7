package demo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lightship-ci/lightship/pkg/testkit/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Kubernetes side of the demo: Deployment web in namespace demo, beside
// the Rancher 1.6 service, running the app's previous build.
const (
	kubeNamespace  = "demo"
	kubeDeployment = "web"
	kubeReplicas   = 2
)

// startKube starts the Kubernetes API simulator (HTTPS, Bearer token) with
// the Deployment the pipeline's second deploy step rolls out.
func (s *sandbox) startKube() error {
	s.kube = kube.New(kube.Options{Token: s.creds.KubeToken})
	if _, err := s.kube.Start("127.0.0.1:0"); err != nil {
		return fmt.Errorf("start kubernetes simulator: %w", err)
	}
	labels := map[string]string{"app": "web"}
	replicas := int32(kubeReplicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: kubeDeployment, Namespace: kubeNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: s.harbor.Host + "/demo/web:8c1d0e2a", // the previous build
					Env:   []corev1.EnvVar{{Name: "LISTEN", Value: ":8080"}},
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				}}},
			},
		},
	}
	if err := s.kube.Add(d); err != nil {
		return fmt.Errorf("kubernetes simulator: %w", err)
	}
	return nil
}

// reportKube prints the Deployment as the simulator holds it and fails
// unless its template runs the pushed digest and its rollout is complete.
func (r *run) reportKube(digest string) error {
	d, ok := r.sandbox.kube.Deployment(kubeNamespace, kubeDeployment)
	if !ok {
		return errors.New("kubernetes: deployment demo/web is gone")
	}
	image := d.Spec.Template.Spec.Containers[0].Image
	st := d.Status
	fmt.Fprintf(r.out, "\n[Kubernetes] deployment %s/%s (generation %d, observed %d)\n  template image %s\n",
		kubeNamespace, kubeDeployment, d.Generation, st.ObservedGeneration, image)
	fmt.Fprintf(r.out, "  rollout: %s\n", rolloutStatus(d))
	for _, c := range st.Conditions {
		fmt.Fprintf(r.out, "  condition %s=%s (%s)\n", c.Type, c.Status, c.Reason)
	}
	want := r.sandbox.harbor.Host + "/demo/web@" + digest
	if image != want {
		return fmt.Errorf("kubernetes: deployment demo/web runs %s, want %s", image, want)
	}
	if !rolloutComplete(d) {
		return fmt.Errorf("kubernetes: deployment demo/web rollout not complete: %s", rolloutStatus(d))
	}
	if refused := r.kubeRefusals(); len(refused) > 0 {
		return fmt.Errorf("kubernetes: requests the API server refused: %s", strings.Join(refused, "; "))
	}
	return nil
}

// rolloutComplete is kubectl rollout status's test.
func rolloutComplete(d *appsv1.Deployment) bool {
	st := d.Status
	return d.Spec.Replicas != nil && d.Generation <= st.ObservedGeneration &&
		st.UpdatedReplicas == *d.Spec.Replicas && st.Replicas == st.UpdatedReplicas &&
		st.AvailableReplicas == st.UpdatedReplicas
}

// rolloutStatus says what kubectl rollout status would.
func rolloutStatus(d *appsv1.Deployment) string {
	st := d.Status
	if rolloutComplete(d) {
		return fmt.Sprintf("deployment %q successfully rolled out (%d/%d updated, %d available)",
			d.Name, st.UpdatedReplicas, *d.Spec.Replicas, st.AvailableReplicas)
	}
	return fmt.Sprintf("waiting: %d of %d updated replicas, %d available", st.UpdatedReplicas, *d.Spec.Replicas, st.AvailableReplicas)
}

// kubeRefusals are the writes the API server refused (a 409 the plugin
// retried is normal; anything else is a plugin or demo bug).
func (r *run) kubeRefusals() []string {
	var out []string
	for _, q := range r.sandbox.kube.Refusals() {
		if q.Status == 409 {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s: %d %s", q.Method, q.Path, q.Status, q.Message))
	}
	return out
}
