package kube

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Labels the controllers put on the pods they make.
const (
	labelPodTemplateHash = "pod-template-hash"
	labelRevisionHash    = "controller-revision-hash"
	labelTemplateGen     = "pod-template-generation"
	labelStsPodName      = "statefulset.kubernetes.io/pod-name"
	annRevision          = "deployment.kubernetes.io/revision"
	annCreatedTick       = "fake.lightship.dev/created-tick"
)

func schemaGVK(k kindInfo) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: k.group, Version: "v1", Kind: k.kind}
}

func labelsSelector(m map[string]string) labels.Selector { return labels.SelectorFromSet(m) }

func everything() fields.Selector { return fields.Everything() }

// stepAll is one controller tick: pods move on, then each workload takes
// at most one step.
func (s *Server) stepAll(now time.Time) {
	s.tickN++
	for _, o := range s.sorted("pods") {
		s.advancePod(o.(*corev1.Pod))
	}
	for _, o := range s.sorted("deployments") {
		s.stepDeployment(o.(*appsv1.Deployment), now)
	}
	for _, o := range s.sorted("statefulsets") {
		s.stepStatefulSet(o.(*appsv1.StatefulSet))
	}
	for _, o := range s.sorted("daemonsets") {
		s.stepDaemonSet(o.(*appsv1.DaemonSet))
	}
}

// settle runs the controllers until nothing changes (Add's steady state).
func (s *Server) settle() {
	for range 200 {
		before := s.rv
		s.stepAll(time.Now())
		if s.rv == before {
			return
		}
	}
}

func (s *Server) sorted(resource string) []object {
	var out []object
	for _, o := range s.objs[resource] {
		out = append(out, o.DeepCopyObject().(object))
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].GetNamespace()+"/"+out[i].GetName() < out[j].GetNamespace()+"/"+out[j].GetName()
	})
	return out
}

func templateHash(t *corev1.PodTemplateSpec) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(mustJSON(t)))
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// ownedPods returns the pods controlled by the object with that uid.
func (s *Server) ownedPods(ns string, uid string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range s.sorted("pods") {
		p := o.(*corev1.Pod)
		if p.Namespace != ns {
			continue
		}
		for _, ref := range p.OwnerReferences {
			if string(ref.UID) == uid {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) createPod(owner metav1.Object, ownerKind, name, node string, tmpl *corev1.PodTemplateSpec, extra map[string]string) {
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}}
	p.Name, p.Namespace = name, owner.GetNamespace()
	p.Labels = map[string]string{}
	for k, v := range tmpl.Labels {
		p.Labels[k] = v
	}
	for k, v := range extra {
		p.Labels[k] = v
	}
	p.Annotations = map[string]string{annCreatedTick: strconv.FormatInt(s.tickN, 10)}
	for k, v := range tmpl.Annotations {
		p.Annotations[k] = v
	}
	p.UID = types.UID("uid-pod-" + p.Namespace + "-" + p.Name + "-" + strconv.FormatInt(s.rv, 10))
	p.CreationTimestamp = metav1.Now()
	isTrue := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: ownerKind, Name: owner.GetName(), UID: owner.GetUID(), Controller: &isTrue, BlockOwnerDeletion: &isTrue}}
	p.Spec = *tmpl.Spec.DeepCopy()
	p.Spec.NodeName = node
	if node == "" {
		p.Spec.NodeName = "node-1"
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
	}
	s.store("pods", p, "ADDED")
	s.event("pods", p.Namespace, p.Name, "pod-created", p.ResourceVersion, "")
}

// podReady is the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// advancePod moves a pod created at an earlier tick to the state its
// images give it.
func (s *Server) advancePod(p *corev1.Pod) {
	created, _ := strconv.ParseInt(p.Annotations[annCreatedTick], 10, 64)
	if s.tickN <= created {
		return
	}
	before := mustJSON(p.Status)
	prev := p.DeepCopy() // the statuses the kubelet reported last
	st := &p.Status
	initBlocked := false
	st.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
		if b := s.images[c.Image]; b == PullBackOff || b == CrashLoop {
			initBlocked = true
			cs.State.Waiting = s.waiting(b, c, prev, true)
			cs.RestartCount = restartsOf(prev, c.Name, true)
			if b == CrashLoop {
				cs.RestartCount++
			}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed"}
			cs.Ready = true
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	var statuses []corev1.ContainerStatus
	allReady, running := true, !initBlocked
	for _, c := range p.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, RestartCount: restartsOf(prev, c.Name, false)}
		b := s.images[c.Image]
		switch {
		case initBlocked:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
		case b == PullBackOff:
			cs.State.Waiting = s.waiting(b, c, prev, false)
			running = false
		case b == CrashLoop:
			cs.State.Waiting = s.waiting(b, c, prev, false)
			cs.RestartCount++
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}
		default:
			cs.State.Running = &corev1.ContainerStateRunning{}
			cs.Ready = b == Ready
		}
		allReady = allReady && cs.Ready
		statuses = append(statuses, cs)
	}
	st.ContainerStatuses = statuses
	st.Phase = corev1.PodPending
	if running {
		st.Phase = corev1.PodRunning
	}
	ready := corev1.ConditionFalse
	if allReady && running {
		ready = corev1.ConditionTrue
	}
	st.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: ready}}
	if before != mustJSON(p.Status) {
		s.store("pods", p, "MODIFIED")
	}
}

func restartsOf(p *corev1.Pod, name string, init bool) int32 {
	list := p.Status.ContainerStatuses
	if init {
		list = p.Status.InitContainerStatuses
	}
	for _, cs := range list {
		if cs.Name == name {
			return cs.RestartCount
		}
	}
	return 0
}

// waiting is the kubelet's waiting state for a container that cannot run.
func (s *Server) waiting(b Behavior, c corev1.Container, p *corev1.Pod, init bool) *corev1.ContainerStateWaiting {
	if b == CrashLoop {
		return &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: fmt.Sprintf("back-off 10s restarting failed container=%s pod=%s_%s(%s)", c.Name, p.Name, p.Namespace, p.UID)}
	}
	list := p.Status.ContainerStatuses
	if init {
		list = p.Status.InitContainerStatuses
	}
	for _, cs := range list {
		if cs.Name == c.Name && cs.State.Waiting != nil && (cs.State.Waiting.Reason == "ErrImagePull" || cs.State.Waiting.Reason == "ImagePullBackOff") {
			return &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
		}
	}
	return &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: not found", c.Image)}
}

// storeStatus saves a workload whose status the controller computed, when
// it changed, and logs the rollout's completion as kubectl would see it.
func (s *Server) storeStatus(resource string, o object, before string, complete bool) {
	if mustJSON(o) == before {
		return
	}
	s.store(resource, o, "MODIFIED")
	if complete {
		s.event(resource, o.GetNamespace(), o.GetName(), "complete", o.GetResourceVersion(), strconv.FormatInt(o.GetGeneration(), 10))
	}
}

func (s *Server) stepDeployment(d *appsv1.Deployment, now time.Time) {
	before := mustJSON(d)
	wasComplete := deploymentComplete(d)
	k := key("deployments", d.Namespace, d.Name)
	hash := templateHash(&d.Spec.Template)
	if d.Status.ObservedGeneration < d.Generation {
		s.observeDeployment(d, hash)
		s.progress[k] = now
		d.Status.ObservedGeneration = d.Generation
		s.event("deployments", d.Namespace, d.Name, "observed", "", strconv.FormatInt(d.Generation, 10))
		// The counts of the status that reports the new generation are
		// those of the new template: none of its pods are updated yet.
		newPods, oldPods := s.splitDeploymentPods(d, hash)
		_, unavail := rollingBounds(d)
		s.deploymentStatus(d, newPods, oldPods, unavail, d.Name+"-"+hash, 0)
		s.storeStatus("deployments", d, before, false)
		return
	}
	rsName := d.Name + "-" + hash
	newPods, oldPods := s.splitDeploymentPods(d, hash)
	desired := int(*d.Spec.Replicas)
	surge, unavail := rollingBounds(d)
	ready := countReady(newPods) + countReady(oldPods)
	progressed := false
	rs := s.objs["replicasets"][d.Namespace+"/"+rsName]
	switch {
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType && len(oldPods) > 0:
		s.deleteObj("pods", oldPods[0])
		progressed = true
	case len(newPods) < desired && len(newPods)+len(oldPods) < desired+surge && rs != nil:
		s.createPod(rs, "ReplicaSet", rsName+"-"+rand.String(5), "", &rs.(*appsv1.ReplicaSet).Spec.Template, map[string]string{labelPodTemplateHash: hash})
		progressed = true
	case len(oldPods) > 0 && unreadyFirst(oldPods) != nil:
		s.deleteObj("pods", unreadyFirst(oldPods))
		progressed = true
	case len(oldPods) > 0 && ready-1 >= desired-unavail:
		s.deleteObj("pods", oldPods[0])
		progressed = true
	}
	newPods, oldPods = s.splitDeploymentPods(d, hash)
	if progressed || int32(countReady(newPods)+countReady(oldPods)) > d.Status.ReadyReplicas || int32(len(newPods)) != d.Status.UpdatedReplicas {
		s.progress[k] = now
	}
	s.deploymentStatus(d, newPods, oldPods, unavail, rsName, now.Sub(s.progress[k]))
	s.storeStatus("deployments", d, before, !wasComplete && deploymentComplete(d))
}

// rollingBounds are maxSurge and maxUnavailable in pods.
func rollingBounds(d *appsv1.Deployment) (surge, unavail int) {
	desired := int(*d.Spec.Replicas)
	surge, unavail = 1, 0
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		surge, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
		unavail, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, false)
		if surge == 0 && unavail == 0 {
			unavail = 1
		}
	}
	return surge, unavail
}

func (s *Server) splitDeploymentPods(d *appsv1.Deployment, hash string) (newPods, oldPods []*corev1.Pod) {
	for _, p := range s.ownedPodsOfDeployment(d) {
		if p.Labels[labelPodTemplateHash] == hash {
			newPods = append(newPods, p)
		} else {
			oldPods = append(oldPods, p)
		}
	}
	return newPods, oldPods
}

func unreadyFirst(pods []*corev1.Pod) *corev1.Pod {
	for _, p := range pods {
		if !podReady(p) {
			return p
		}
	}
	return nil
}

func countReady(pods []*corev1.Pod) int {
	n := 0
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

// deploymentComplete is kubectl's rollout status check of a Deployment.
func deploymentComplete(d *appsv1.Deployment) bool {
	st := d.Status
	return d.Generation <= st.ObservedGeneration && st.UpdatedReplicas == *d.Spec.Replicas &&
		st.Replicas == st.UpdatedReplicas && st.AvailableReplicas == st.UpdatedReplicas
}

func (s *Server) ownedPodsOfDeployment(d *appsv1.Deployment) []*corev1.Pod {
	var out []*corev1.Pod
	for _, o := range s.sorted("replicasets") {
		rs := o.(*appsv1.ReplicaSet)
		if rs.Namespace == d.Namespace && len(rs.OwnerReferences) > 0 && rs.OwnerReferences[0].UID == d.UID {
			out = append(out, s.ownedPods(d.Namespace, string(rs.UID))...)
		}
	}
	return out
}

// observeDeployment finds or makes the ReplicaSet of the current template
// and gives it the next revision (a template that came back takes its old
// ReplicaSet, as a rollback does).
func (s *Server) observeDeployment(d *appsv1.Deployment, hash string) {
	maxRev := 0
	var cur *appsv1.ReplicaSet
	for _, o := range s.sorted("replicasets") {
		rs := o.(*appsv1.ReplicaSet)
		if rs.Namespace != d.Namespace || len(rs.OwnerReferences) == 0 || rs.OwnerReferences[0].UID != d.UID {
			continue
		}
		if n, _ := strconv.Atoi(rs.Annotations[annRevision]); n > maxRev {
			maxRev = n
		}
		if rs.Labels[labelPodTemplateHash] == hash {
			cur = rs
		}
	}
	reason, verb := "FoundNewReplicaSet", "Found"
	if cur == nil {
		reason, verb = "NewReplicaSetCreated", "Created"
		isTrue := true
		cur = &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{Kind: "ReplicaSet", APIVersion: "apps/v1"}}
		cur.Name, cur.Namespace = d.Name+"-"+hash, d.Namespace
		cur.UID = types.UID("uid-rs-" + d.Namespace + "-" + cur.Name)
		cur.Generation = 1
		cur.CreationTimestamp = metav1.Now()
		cur.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &isTrue, BlockOwnerDeletion: &isTrue}}
		cur.Spec.Template = *d.Spec.Template.DeepCopy()
		cur.Spec.Template.Labels = withLabel(d.Spec.Template.Labels, labelPodTemplateHash, hash)
		cur.Spec.Selector = &metav1.LabelSelector{MatchLabels: withLabel(d.Spec.Selector.MatchLabels, labelPodTemplateHash, hash)}
		cur.Labels = withLabel(d.Spec.Template.Labels, labelPodTemplateHash, hash)
	}
	rev := strconv.Itoa(maxRev)
	if cur.Annotations[annRevision] != rev || maxRev == 0 {
		rev = strconv.Itoa(maxRev + 1)
	}
	cur.Annotations = withLabel(cur.Annotations, annRevision, rev)
	cur.Spec.Replicas = d.Spec.Replicas
	s.store("replicasets", cur, "MODIFIED")
	d.Annotations = withLabel(d.Annotations, annRevision, rev)
	setDeploymentCondition(d, appsv1.DeploymentProgressing, corev1.ConditionTrue, reason, fmt.Sprintf("%s new replica set %q", verb, cur.Name))
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func (s *Server) deploymentStatus(d *appsv1.Deployment, newPods, oldPods []*corev1.Pod, unavail int, rsName string, sinceProgress time.Duration) {
	desired := *d.Spec.Replicas
	ready := int32(countReady(newPods) + countReady(oldPods))
	st := &d.Status
	st.Replicas = int32(len(newPods) + len(oldPods))
	st.UpdatedReplicas = int32(len(newPods))
	st.ReadyReplicas, st.AvailableReplicas = ready, ready
	st.UnavailableReplicas = max(0, st.Replicas-ready)
	if ready >= desired-int32(unavail) {
		setDeploymentCondition(d, appsv1.DeploymentAvailable, corev1.ConditionTrue, "MinimumReplicasAvailable", "Deployment has minimum availability.")
	} else {
		setDeploymentCondition(d, appsv1.DeploymentAvailable, corev1.ConditionFalse, "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
	}
	prog := deploymentCondition(d, appsv1.DeploymentProgressing)
	switch {
	case deploymentComplete(d):
		setDeploymentCondition(d, appsv1.DeploymentProgressing, corev1.ConditionTrue, "NewReplicaSetAvailable", fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName))
	case sinceProgress == 0:
		setDeploymentCondition(d, appsv1.DeploymentProgressing, corev1.ConditionTrue, "ReplicaSetUpdated", fmt.Sprintf("ReplicaSet %q is progressing.", rsName))
	case prog != nil && prog.Reason == "ProgressDeadlineExceeded":
	case d.Spec.ProgressDeadlineSeconds != nil && sinceProgress > time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second:
		setDeploymentCondition(d, appsv1.DeploymentProgressing, corev1.ConditionFalse, "ProgressDeadlineExceeded", fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName))
		s.event("deployments", d.Namespace, d.Name, "deadline-exceeded", "", "")
	}
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

func setDeploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string) {
	now := metav1.Now()
	if c := deploymentCondition(d, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == msg {
			return
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastUpdateTime = status, reason, msg, now
		return
	}
	d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now})
}

// revision records a workload's template under its revision name.
func (s *Server) revision(k string, name string, t *corev1.PodTemplateSpec) string {
	rev := name + "-" + templateHash(t)
	if s.revs[k] == nil {
		s.revs[k] = map[string][]byte{}
	}
	s.revs[k][rev] = []byte(mustJSON(t))
	return rev
}

func (s *Server) templateOf(k, rev string) *corev1.PodTemplateSpec {
	var t corev1.PodTemplateSpec
	_ = json.Unmarshal(s.revs[k][rev], &t)
	return &t
}

// stepStatefulSet follows the StatefulSet controller: OrderedReady pods are
// made one at a time and block on an unhealthy pod (which a template change
// does not replace: a forced rollback deletes it); a RollingUpdate replaces
// pods from the highest ordinal down to the partition.
func (s *Server) stepStatefulSet(ss *appsv1.StatefulSet) {
	before := mustJSON(ss)
	wasComplete := statefulSetComplete(ss)
	k := key("statefulsets", ss.Namespace, ss.Name)
	if ss.Status.ObservedGeneration < ss.Generation {
		ss.Status.UpdateRevision = s.revision(k, ss.Name, &ss.Spec.Template)
		if ss.Status.CurrentRevision == "" {
			ss.Status.CurrentRevision = ss.Status.UpdateRevision
		}
		ss.Status.ObservedGeneration = ss.Generation
		s.event("statefulsets", ss.Namespace, ss.Name, "observed", "", strconv.FormatInt(ss.Generation, 10))
		s.statefulSetCounts(ss)
		s.storeStatus("statefulsets", ss, before, false)
		return
	}
	s.statefulSetPods(ss, k)
	s.statefulSetCounts(ss)
	s.storeStatus("statefulsets", ss, before, !wasComplete && statefulSetComplete(ss))
}

func (s *Server) statefulSetCounts(ss *appsv1.StatefulSet) {
	pods := s.ownedPods(ss.Namespace, string(ss.UID))
	st := &ss.Status
	st.Replicas, st.ReadyReplicas, st.CurrentReplicas, st.UpdatedReplicas = int32(len(pods)), int32(countReady(pods)), 0, 0
	st.AvailableReplicas = st.ReadyReplicas
	for _, p := range pods {
		if p.Labels[labelRevisionHash] == st.CurrentRevision {
			st.CurrentReplicas++
		}
		if p.Labels[labelRevisionHash] == st.UpdateRevision {
			st.UpdatedReplicas++
		}
	}
	if st.UpdatedReplicas == *ss.Spec.Replicas && st.Replicas == st.UpdatedReplicas {
		st.CurrentRevision, st.CurrentReplicas = st.UpdateRevision, st.UpdatedReplicas
	}
}

// statefulSetPods takes the controller's one action of this tick.
func (s *Server) statefulSetPods(ss *appsv1.StatefulSet, k string) {
	byOrdinal := map[int]*corev1.Pod{}
	for _, p := range s.ownedPods(ss.Namespace, string(ss.UID)) {
		var n int
		if _, err := fmt.Sscanf(p.Name[len(ss.Name)+1:], "%d", &n); err == nil {
			byOrdinal[n] = p
		}
	}
	replicas := int(*ss.Spec.Replicas)
	partition := 0
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	monotonic := ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	create := func(i int) {
		rev := ss.Status.UpdateRevision
		if i < partition {
			rev = ss.Status.CurrentRevision
		}
		name := fmt.Sprintf("%s-%d", ss.Name, i)
		s.createPod(ss, "StatefulSet", name, "", s.templateOf(k, rev), map[string]string{labelRevisionHash: rev, labelStsPodName: name})
	}
	for i := range replicas {
		p := byOrdinal[i]
		if p == nil {
			create(i)
			return
		}
		if monotonic && !podReady(p) {
			return // an unhealthy pod blocks the StatefulSet
		}
	}
	if ss.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return
	}
	for i := replicas - 1; i >= partition; i-- {
		p := byOrdinal[i]
		if p.Labels[labelRevisionHash] != ss.Status.UpdateRevision {
			s.deleteObj("pods", p)
			create(i)
			return
		}
		if !podReady(p) {
			return
		}
	}
}

// statefulSetComplete is kubectl's rollout status check of a StatefulSet.
func statefulSetComplete(ss *appsv1.StatefulSet) bool {
	st := ss.Status
	if st.ObservedGeneration == 0 || ss.Generation > st.ObservedGeneration || st.ReadyReplicas < *ss.Spec.Replicas {
		return false
	}
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ss.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil {
		return ru.Partition == nil || st.UpdatedReplicas >= *ss.Spec.Replicas-*ru.Partition
	}
	return st.UpdateRevision == st.CurrentRevision
}

// stepDaemonSet follows the DaemonSet controller: one pod per node; a
// RollingUpdate replaces unavailable old pods at once and available ones
// while fewer than maxUnavailable pods are unavailable.
func (s *Server) stepDaemonSet(ds *appsv1.DaemonSet) {
	before := mustJSON(ds)
	wasComplete := daemonSetComplete(ds)
	k := key("daemonsets", ds.Namespace, ds.Name)
	if ds.Status.ObservedGeneration < ds.Generation {
		s.revision(k, ds.Name, &ds.Spec.Template)
		ds.Status.ObservedGeneration = ds.Generation
		s.event("daemonsets", ds.Namespace, ds.Name, "observed", "", strconv.FormatInt(ds.Generation, 10))
		s.daemonSetCounts(ds)
		s.storeStatus("daemonsets", ds, before, false)
		return
	}
	s.daemonSetPods(ds, templateHash(&ds.Spec.Template))
	s.daemonSetCounts(ds)
	s.storeStatus("daemonsets", ds, before, !wasComplete && daemonSetComplete(ds))
}

func (s *Server) daemonSetCounts(ds *appsv1.DaemonSet) {
	hash := templateHash(&ds.Spec.Template)
	pods := s.ownedPods(ds.Namespace, string(ds.UID))
	st := &ds.Status
	st.DesiredNumberScheduled = int32(len(s.opts.Nodes))
	st.CurrentNumberScheduled = int32(len(pods))
	st.NumberReady = int32(countReady(pods))
	st.NumberAvailable = st.NumberReady
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	st.UpdatedNumberScheduled = 0
	for _, p := range pods {
		if p.Labels[labelRevisionHash] == hash {
			st.UpdatedNumberScheduled++
		}
	}
}

func (s *Server) daemonSetPods(ds *appsv1.DaemonSet, hash string) {
	onNode := map[string]*corev1.Pod{}
	unavailable := 0
	for _, p := range s.ownedPods(ds.Namespace, string(ds.UID)) {
		onNode[p.Spec.NodeName] = p
		if !podReady(p) {
			unavailable++
		}
	}
	create := func(node string) {
		s.createPod(ds, "DaemonSet", ds.Name+"-"+rand.String(5), node, &ds.Spec.Template,
			map[string]string{labelRevisionHash: hash, labelTemplateGen: strconv.FormatInt(ds.Generation, 10)})
	}
	for _, node := range s.opts.Nodes {
		if onNode[node] == nil {
			create(node)
			return
		}
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		return
	}
	maxUnavailable := 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		maxUnavailable, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, len(s.opts.Nodes), true)
	}
	for _, node := range s.opts.Nodes {
		p := onNode[node]
		if p.Labels[labelRevisionHash] == hash {
			continue
		}
		if !podReady(p) || unavailable < maxUnavailable {
			s.deleteObj("pods", p)
			create(node)
			return
		}
	}
}

// daemonSetComplete is kubectl's rollout status check of a DaemonSet.
func daemonSetComplete(ds *appsv1.DaemonSet) bool {
	st := ds.Status
	return ds.Generation <= st.ObservedGeneration && st.UpdatedNumberScheduled >= st.DesiredNumberScheduled &&
		st.NumberAvailable >= st.DesiredNumberScheduled && st.DesiredNumberScheduled > 0
}
