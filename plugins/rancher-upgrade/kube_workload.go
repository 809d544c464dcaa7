package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// kobject is a Deployment, StatefulSet or DaemonSet.
type kobject interface {
	metav1.Object
	runtime.Object
}

func newObject(ref workloadRef) kobject {
	switch ref.Resource {
	case "statefulsets":
		return &appsv1.StatefulSet{}
	case "daemonsets":
		return &appsv1.DaemonSet{}
	}
	return &appsv1.Deployment{}
}

// podTemplate and selector of any of the three kinds.
func podTemplate(o kobject) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return &w.Spec.Template
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

func podSelector(o kobject) string {
	var sel *metav1.LabelSelector
	switch w := o.(type) {
	case *appsv1.Deployment:
		sel = w.Spec.Selector
	case *appsv1.StatefulSet:
		sel = w.Spec.Selector
	case *appsv1.DaemonSet:
		sel = w.Spec.Selector
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return s.String()
}

// rolloutStatus judges a workload as `kubectl rollout status` does
// (kubectl's polymorphichelpers status viewers): a message, whether the
// rollout is complete, and an error when it cannot complete.
func rolloutStatus(o kobject) (string, bool, error) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return deploymentStatus(w)
	case *appsv1.StatefulSet:
		return statefulSetStatus(w)
	case *appsv1.DaemonSet:
		return daemonSetStatus(w)
	}
	return "", false, fmt.Errorf("unknown workload %T", o)
}

func deploymentStatus(d *appsv1.Deployment) (string, bool, error) {
	st := d.Status
	if d.Generation > st.ObservedGeneration {
		return "waiting for the spec update to be observed", false, nil
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline: %s", d.Name, c.Message)
		}
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	switch {
	case st.UpdatedReplicas < replicas:
		return fmt.Sprintf("%d out of %d new replicas have been updated", st.UpdatedReplicas, replicas), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("successfully rolled out (%d replicas)", st.UpdatedReplicas), true, nil
}

func statefulSetStatus(s *appsv1.StatefulSet) (string, bool, error) {
	st := s.Status
	if s.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return "", false, fmt.Errorf("statefulset %q uses the %s strategy: only RollingUpdate rolls out on a change", s.Name, s.Spec.UpdateStrategy.Type)
	}
	if st.ObservedGeneration == 0 || s.Generation > st.ObservedGeneration {
		return "waiting for the spec update to be observed", false, nil
	}
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	if st.ReadyReplicas < replicas {
		return fmt.Sprintf("waiting for %d pods to be ready (%d updated)", replicas-st.ReadyReplicas, st.UpdatedReplicas), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil && st.UpdatedReplicas < replicas-*ru.Partition {
			return fmt.Sprintf("partitioned roll out: %d out of %d new pods have been updated", st.UpdatedReplicas, replicas-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for the rolling update to complete: %d pods at revision %s", st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("rolling update complete: %d pods at revision %s", st.CurrentReplicas, st.CurrentRevision), true, nil
}

func daemonSetStatus(d *appsv1.DaemonSet) (string, bool, error) {
	st := d.Status
	if d.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return "", false, fmt.Errorf("daemonset %q uses the %s strategy: only RollingUpdate rolls out on a change", d.Name, d.Spec.UpdateStrategy.Type)
	}
	if d.Generation > st.ObservedGeneration {
		return "waiting for the spec update to be observed", false, nil
	}
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return fmt.Sprintf("%d out of %d new pods have been updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return fmt.Sprintf("%d of %d updated pods are available", st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("successfully rolled out (%d pods)", st.NumberAvailable), true, nil
}

// containerChange is one container whose image the patch sets.
type containerChange struct {
	Name     string
	Init     bool
	Old, New string
}

// repository is an image reference without tag or digest, with Docker
// Hub's implicit parts made explicit: nginx == docker.io/library/nginx.
func repository(image string) string {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		name = "docker.io/" + name
	}
	if rest, ok := strings.CutPrefix(name, "docker.io/"); ok && !strings.Contains(rest, "/") {
		name = "docker.io/library/" + rest
	}
	return name
}

// pickContainers chooses the containers (init containers included) whose
// image changes: those the container setting names, else those running the
// same repository as the new image.
func pickContainers(t *corev1.PodTemplateSpec, names []string, image string) ([]containerChange, []string) {
	var out []containerChange
	var have []string
	for _, set := range []struct {
		init bool
		cs   []corev1.Container
	}{{true, t.Spec.InitContainers}, {false, t.Spec.Containers}} {
		for _, c := range set.cs {
			have = append(have, c.Name+"="+c.Image)
			match := repository(c.Image) == repository(image)
			if len(names) > 0 {
				match = false
				for _, n := range names {
					match = match || n == c.Name
				}
			}
			if match {
				out = append(out, containerChange{Name: c.Name, Init: set.init, Old: c.Image, New: image})
			}
		}
	}
	return out, have
}

// setImagePatch is the strategic merge patch of one workload: the images of
// the chosen containers (merged by name), the labels on the pod template,
// the change-cause annotation, and the resourceVersion that was read, so a
// concurrent change makes it fail with 409 instead of being overwritten.
func setImagePatch(rv string, changes []containerChange, labels []label, pullAlways bool, cause string) []byte {
	var cs, ics []map[string]any
	for _, c := range changes {
		m := map[string]any{"name": c.Name, "image": c.New}
		if pullAlways {
			m["imagePullPolicy"] = "Always"
		}
		if c.Init {
			ics = append(ics, m)
		} else {
			cs = append(cs, m)
		}
	}
	spec := map[string]any{}
	if len(cs) > 0 {
		spec["containers"] = cs
	}
	if len(ics) > 0 {
		spec["initContainers"] = ics
	}
	tmpl := map[string]any{"spec": spec}
	if len(labels) > 0 {
		ls := map[string]string{}
		for _, l := range labels {
			ls[l.Key] = l.Value
		}
		tmpl["metadata"] = map[string]any{"labels": ls}
	}
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": rv, "annotations": map[string]string{"kubernetes.io/change-cause": cause}},
		"spec":     map[string]any{"template": tmpl},
	})
	return b
}

// restorePatch is the JSON patch that puts the previous pod template back.
func restorePatch(old *corev1.PodTemplateSpec, cause string) []byte {
	b, _ := json.Marshal([]map[string]any{
		{"op": "replace", "path": "/spec/template", "value": old},
		{"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": cause},
	})
	return b
}

// podProblem names a pod of the new template that cannot become ready:
// one of its containers waits in ImagePullBackOff, CrashLoopBackOff or
// InvalidImageName.
func podProblem(p *corev1.Pod, changes []containerChange) string {
	images := map[string]string{}
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		images[c.Name] = c.Image
	}
	for _, c := range changes {
		if images[c.Name] != c.New {
			return "" // a pod of an older template
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ImagePullBackOff", "CrashLoopBackOff", "InvalidImageName", "ErrImageNeverPull":
			msg := fmt.Sprintf("pod %s: container %s: %s", p.Name, cs.Name, w.Reason)
			if w.Message != "" {
				msg += ": " + w.Message
			}
			return msg
		}
	}
	return ""
}

// API calls of one workload.

func (c *kubeClients) getWorkload(ctx context.Context, ns string, ref workloadRef, timeout time.Duration) (kobject, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o := newObject(ref)
	err := c.apps.Get().Namespace(ns).Resource(ref.Resource).Name(ref.Name).Do(ctx).Into(o)
	return o, err
}

func (c *kubeClients) patchWorkload(ctx context.Context, ns string, ref workloadRef, pt types.PatchType, body []byte, timeout time.Duration) (kobject, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o := newObject(ref)
	err := c.apps.Patch(pt).Namespace(ns).Resource(ref.Resource).Name(ref.Name).Body(body).Do(ctx).Into(o)
	return o, err
}

func (c *kubeClients) listPods(ctx context.Context, ns, selector string, timeout time.Duration) (*corev1.PodList, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var l corev1.PodList
	err := c.core.Get().Namespace(ns).Resource("pods").VersionedParams(&metav1.ListOptions{LabelSelector: selector}, metav1.ParameterCodec).Do(ctx).Into(&l)
	return &l, err
}

func (c *kubeClients) deletePod(ctx context.Context, ns, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.core.Delete().Namespace(ns).Resource("pods").Name(name).Do(ctx).Error()
}

func (c *kubeClients) watchWorkload(ctx context.Context, ns string, ref workloadRef, rv string, secs int64) (watch.Interface, error) {
	return c.apps.Get().Namespace(ns).Resource(ref.Resource).VersionedParams(&metav1.ListOptions{
		Watch: true, FieldSelector: "metadata.name=" + ref.Name, ResourceVersion: rv, TimeoutSeconds: &secs,
	}, metav1.ParameterCodec).Watch(ctx)
}

func (c *kubeClients) watchPods(ctx context.Context, ns, selector string, secs int64) (watch.Interface, error) {
	return c.core.Get().Namespace(ns).Resource("pods").VersionedParams(&metav1.ListOptions{
		Watch: true, LabelSelector: selector, TimeoutSeconds: &secs,
	}, metav1.ParameterCodec).Watch(ctx)
}
