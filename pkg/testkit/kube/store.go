package kube

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Behavior is how pods running an image behave.
type Behavior int

// Image behaviours.
const (
	// Ready: the containers start and pass their readiness checks.
	Ready Behavior = iota
	// PullBackOff: the image cannot be pulled (ErrImagePull, then ImagePullBackOff).
	PullBackOff
	// CrashLoop: the container exits at once and is restarted (CrashLoopBackOff).
	CrashLoop
	// NeverReady: the container runs but never passes its readiness probe.
	NeverReady
)

func key(resource, ns, name string) string { return resource + "/" + ns + "/" + name }

func (s *Server) get(resource, ns, name string) object {
	o := s.objs[resource][ns+"/"+name]
	if o == nil {
		return nil
	}
	return o.DeepCopyObject().(object)
}

func (s *Server) list(resource, ns string, sel selectors) []object {
	var out []object
	for _, o := range s.objs[resource] {
		if o.GetNamespace() == ns && sel.matches(o) {
			out = append(out, o.DeepCopyObject().(object))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

// store saves o with the next resourceVersion and tells the watches.
func (s *Server) store(resource string, o object, typ string) {
	s.rv++
	o.SetResourceVersion(strconv.FormatInt(s.rv, 10))
	if s.objs[resource] == nil {
		s.objs[resource] = map[string]object{}
	}
	s.objs[resource][o.GetNamespace()+"/"+o.GetName()] = o.DeepCopyObject().(object)
	s.notify(resource, typ, o)
}

func (s *Server) deleteObj(resource string, o object) {
	delete(s.objs[resource], o.GetNamespace()+"/"+o.GetName())
	s.rv++
	o.SetResourceVersion(strconv.FormatInt(s.rv, 10))
	s.notify(resource, "DELETED", o)
	if resource == "pods" {
		s.event("pods", o.GetNamespace(), o.GetName(), "pod-deleted", o.GetResourceVersion(), "")
	}
}

func (s *Server) namespaceUsed(ns string) bool {
	for _, m := range s.objs {
		for _, o := range m {
			if o.GetNamespace() == ns {
				return true
			}
		}
	}
	return false
}

// Add stores a Deployment, StatefulSet or DaemonSet as `kubectl create`
// would, with the API server's defaults, and lets the controllers bring it
// to a steady state (its pods running and ready) before returning.
func (s *Server) Add(o object) error {
	var k kindInfo
	switch o.(type) {
	case *appsv1.Deployment:
		k, _ = kindOf("deployments")
	case *appsv1.StatefulSet:
		k, _ = kindOf("statefulsets")
	case *appsv1.DaemonSet:
		k, _ = kindOf("daemonsets")
	default:
		return fmt.Errorf("kube fake: cannot add %T", o)
	}
	o = o.DeepCopyObject().(object)
	if o.GetNamespace() == "" {
		o.SetNamespace("default")
	}
	setTypeMeta(o, k)
	defaults(o)
	if err := validate(k, o, o); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.get(k.resource, o.GetNamespace(), o.GetName()) != nil {
		return fmt.Errorf("kube fake: %s %s/%s exists", k.resource, o.GetNamespace(), o.GetName())
	}
	o.SetGeneration(1)
	o.SetUID(types.UID(fmt.Sprintf("uid-%s-%s-%s", k.resource, o.GetNamespace(), o.GetName())))
	o.SetCreationTimestamp(metav1.Now())
	s.store(k.resource, o, "ADDED")
	s.settle()
	return nil
}

func setTypeMeta(o object, k kindInfo) {
	o.GetObjectKind().SetGroupVersionKind(schemaGVK(k))
}

// SetImage sets how pods running image behave from now on (default Ready).
func (s *Server) SetImage(image string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.images[image] = b
}

// ConflictOnNextWrite makes another writer change the object (an
// annotation) just before each of the next n PATCH or PUT requests on it, so
// that a write carrying the resourceVersion the client read gets 409.
func (s *Server) ConflictOnNextWrite(resource, ns, name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conflict[key(resource, ns, name)] += n
}

// Deployment returns a copy of a stored Deployment.
func (s *Server) Deployment(ns, name string) (*appsv1.Deployment, bool) {
	o, ok := s.copyOf("deployments", ns, name).(*appsv1.Deployment)
	return o, ok
}

// StatefulSet returns a copy of a stored StatefulSet.
func (s *Server) StatefulSet(ns, name string) (*appsv1.StatefulSet, bool) {
	o, ok := s.copyOf("statefulsets", ns, name).(*appsv1.StatefulSet)
	return o, ok
}

// DaemonSet returns a copy of a stored DaemonSet.
func (s *Server) DaemonSet(ns, name string) (*appsv1.DaemonSet, bool) {
	o, ok := s.copyOf("daemonsets", ns, name).(*appsv1.DaemonSet)
	return o, ok
}

// Pods returns copies of the pods in ns whose labels include match.
func (s *Server) Pods(ns string, match map[string]string) []corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []corev1.Pod
	for _, o := range s.list("pods", ns, selectors{label: labelsSelector(match), field: everything()}) {
		out = append(out, *o.(*corev1.Pod))
	}
	return out
}

func (s *Server) copyOf(resource, ns, name string) object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.get(resource, ns, name)
}

// defaults fills what the API server defaults in apps/v1 objects.
func defaults(o object) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		defaultDeployment(&w.Spec)
	case *appsv1.StatefulSet:
		defaultStatefulSet(&w.Spec)
	case *appsv1.DaemonSet:
		defaultDaemonSet(&w.Spec)
	}
	if _, tmpl, _ := workloadParts(o); tmpl != nil {
		defaultPodSpec(&tmpl.Spec)
	}
	if p, ok := o.(*corev1.Pod); ok {
		defaultPodSpec(&p.Spec)
	}
}

func defaultDeployment(spec *appsv1.DeploymentSpec) {
	if spec.Replicas == nil {
		spec.Replicas = ptr(int32(1))
	}
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		defaultRollingUpdate(&spec.Strategy)
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr(int32(10))
	}
	if spec.ProgressDeadlineSeconds == nil {
		spec.ProgressDeadlineSeconds = ptr(int32(600))
	}
}

// defaultRollingUpdate fills a Deployment's rolling update: 25% surge and 25% unavailable.
func defaultRollingUpdate(strategy *appsv1.DeploymentStrategy) {
	if strategy.RollingUpdate == nil {
		strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
	}
	q := intstr.FromString("25%")
	if strategy.RollingUpdate.MaxSurge == nil {
		strategy.RollingUpdate.MaxSurge = &q
	}
	if strategy.RollingUpdate.MaxUnavailable == nil {
		strategy.RollingUpdate.MaxUnavailable = &q
	}
}

func defaultStatefulSet(spec *appsv1.StatefulSetSpec) {
	if spec.Replicas == nil {
		spec.Replicas = ptr(int32(1))
	}
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && spec.UpdateStrategy.RollingUpdate == nil {
		spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(0))}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr(int32(10))
	}
}

func defaultDaemonSet(spec *appsv1.DaemonSetSpec) {
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && spec.UpdateStrategy.RollingUpdate == nil {
		one := intstr.FromInt32(1)
		zero := intstr.FromInt32(0)
		spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero}
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = ptr(int32(10))
	}
}

func defaultPodSpec(spec *corev1.PodSpec) {
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr(int64(30))
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range cs {
			c := &cs[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = corev1.PullIfNotPresent
				if tagOf(c.Image) == "latest" || (tagOf(c.Image) == "" && !strings.Contains(c.Image, "@")) {
					c.ImagePullPolicy = corev1.PullAlways
				}
			}
		}
	}
}

// tagOf returns the tag of an image reference, "" when it has none.
func tagOf(image string) string {
	name, _, _ := strings.Cut(image, "@")
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return ""
	}
	return name[i+1:]
}

func ptr[T any](v T) *T { return &v }
