package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/version"
)

// object is any stored API object.
type object interface {
	metav1.Object
	runtime.Object
}

// kindInfo describes one served resource.
type kindInfo struct {
	resource, kind, group string
	short                 []string
	newObj                func() object
}

func (k kindInfo) groupVersion() string {
	if k.group == "" {
		return "v1"
	}
	return k.group + "/v1"
}

// qualified is the resource as errors name it: deployments.apps, pods.
func (k kindInfo) qualified() string {
	if k.group == "" {
		return k.resource
	}
	return k.resource + "." + k.group
}

func kinds() []kindInfo {
	return []kindInfo{
		{"deployments", "Deployment", "apps", []string{"deploy"}, func() object { return &appsv1.Deployment{} }},
		{"statefulsets", "StatefulSet", "apps", []string{"sts"}, func() object { return &appsv1.StatefulSet{} }},
		{"daemonsets", "DaemonSet", "apps", []string{"ds"}, func() object { return &appsv1.DaemonSet{} }},
		{"replicasets", "ReplicaSet", "apps", []string{"rs"}, func() object { return &appsv1.ReplicaSet{} }},
		{"pods", "Pod", "", []string{"po"}, func() object { return &corev1.Pod{} }},
	}
}

func kindOf(resource string) (kindInfo, bool) {
	for _, k := range kinds() {
		if k.resource == resource {
			return k, true
		}
	}
	return kindInfo{}, false
}

// serveAPI answers a Kubernetes API path (the proxy prefix removed).
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, path string, req *Request) error {
	if doc, ok := s.discovery(r, strings.TrimSuffix(path, "/")); ok {
		if r.Method != http.MethodGet {
			return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "the server does not allow this method on the requested resource")
		}
		writeJSON(w, http.StatusOK, doc)
		return nil
	}
	var rest string
	var group string
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		rest = strings.TrimPrefix(path, "/api/v1/")
	case strings.HasPrefix(path, "/apis/apps/v1/"):
		rest, group = strings.TrimPrefix(path, "/apis/apps/v1/"), "apps"
	default:
		return refuse(http.StatusNotFound, metav1.StatusReasonNotFound, nil, "the server could not find the requested resource")
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if group == "" && len(parts) == 2 && parts[0] == "namespaces" {
		return s.serveNamespace(w, r, parts[1])
	}
	if len(parts) < 3 || len(parts) > 4 || parts[0] != "namespaces" {
		return refuse(http.StatusNotFound, metav1.StatusReasonNotFound, nil, "the server could not find the requested resource")
	}
	k, ok := kindOf(parts[2])
	if !ok || k.group != group {
		return refuse(http.StatusNotFound, metav1.StatusReasonNotFound, nil, "the server could not find the requested resource")
	}
	req.Namespace, req.Resource = parts[1], k.resource
	if len(parts) == 4 {
		req.Name = parts[3]
		return s.serveObject(w, r, k, parts[1], parts[3])
	}
	if r.Method != http.MethodGet {
		return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "the server does not allow this method on the requested resource")
	}
	q := r.URL.Query()
	sel, err := parseSelectors(q)
	if err != nil {
		return err
	}
	if q.Get("watch") == "true" || q.Get("watch") == "1" {
		req.Watch = true
		if n, ok := sel.fieldName(); ok {
			req.Name = n
		}
		if s.opts.NoWatch {
			return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "watch is not allowed here")
		}
		return s.serveWatch(w, r, k, parts[1], sel)
	}
	s.mu.Lock()
	items := s.list(k.resource, parts[1], sel)
	rv := strconv.FormatInt(s.rv, 10)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": k.kind + "List", "apiVersion": k.groupVersion(),
		"metadata": map[string]any{"resourceVersion": rv}, "items": items,
	})
	return nil
}

// discovery returns the documents kubectl reads before it acts.
func (s *Server) discovery(r *http.Request, path string) (any, bool) {
	res := func(k kindInfo) metav1.APIResource {
		verbs := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
		return metav1.APIResource{Name: k.resource, Namespaced: true, Kind: k.kind, Verbs: verbs, ShortNames: k.short, Categories: []string{"all"}}
	}
	switch path {
	case "/version":
		return version.Info{Major: "1", Minor: "20", GitVersion: "v1.20.2", GitTreeState: "clean", BuildDate: "2021-01-13T13:20:00Z", GoVersion: "go1.15.5", Compiler: "gc", Platform: "linux/amd64"}, true
	case "/api":
		return metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}}}, true
	case "/apis":
		gv := metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}
		return metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups: []metav1.APIGroup{{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}}}, true
	case "/api/v1", "/apis/apps/v1":
		l := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1"}
		if path == "/apis/apps/v1" {
			l.GroupVersion = "apps/v1"
		} else {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: "namespaces", Kind: "Namespace", Verbs: metav1.Verbs{"get", "list"}, ShortNames: []string{"ns"}})
		}
		for _, k := range kinds() {
			if k.groupVersion() == l.GroupVersion {
				l.APIResources = append(l.APIResources, res(k))
				l.APIResources = append(l.APIResources, metav1.APIResource{Name: k.resource + "/status", Namespaced: true, Kind: k.kind, Verbs: metav1.Verbs{"get", "patch", "update"}})
			}
		}
		return l, true
	}
	return nil, false
}

func (s *Server) serveNamespace(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet {
		return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "the server does not allow this method on the requested resource")
	}
	s.mu.Lock()
	known := name == "default" || s.namespaceUsed(name)
	s.mu.Unlock()
	if !known {
		return refuse(http.StatusNotFound, metav1.StatusReasonNotFound, &metav1.StatusDetails{Name: name, Kind: "namespaces"}, "namespaces %q not found", name)
	}
	writeJSON(w, http.StatusOK, corev1.Namespace{TypeMeta: metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	return nil
}

// selectors are a list or watch's label and field selectors.
type selectors struct {
	label labels.Selector
	field fields.Selector
}

func parseSelectors(q map[string][]string) (selectors, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ls, err := labels.Parse(get("labelSelector"))
	if err != nil {
		return selectors{}, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "unable to parse requirement: %v", err)
	}
	fs, err := fields.ParseSelector(get("fieldSelector"))
	if err != nil {
		return selectors{}, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "invalid field selector: %v", err)
	}
	for _, req := range fs.Requirements() {
		if req.Field != "metadata.name" && req.Field != "metadata.namespace" {
			return selectors{}, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "field label not supported: %s", req.Field)
		}
	}
	return selectors{label: ls, field: fs}, nil
}

func (sel selectors) fieldName() (string, bool) {
	return sel.field.RequiresExactMatch("metadata.name")
}

func (sel selectors) matches(o object) bool {
	return sel.label.Matches(labels.Set(o.GetLabels())) &&
		sel.field.Matches(fields.Set{"metadata.name": o.GetName(), "metadata.namespace": o.GetNamespace()})
}

func notFound(k kindInfo, name string) *apiError {
	return refuse(http.StatusNotFound, metav1.StatusReasonNotFound, &metav1.StatusDetails{Name: name, Group: k.group, Kind: k.resource}, "%s %q not found", k.qualified(), name)
}

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, k kindInfo, ns, name string) error {
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		o := s.get(k.resource, ns, name)
		s.mu.Unlock()
		if o == nil {
			return notFound(k, name)
		}
		writeJSON(w, http.StatusOK, o)
		return nil
	case http.MethodPatch, http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(r.Body, 3<<20))
		if err != nil {
			return refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "read body: %v", err)
		}
		o, err := s.write(r.Method, r.Header.Get("Content-Type"), k, ns, name, body)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, o)
		return nil
	case http.MethodDelete:
		if k.resource != "pods" {
			return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "the fake deletes pods only")
		}
		s.mu.Lock()
		o := s.get(k.resource, ns, name)
		if o != nil {
			s.deleteObj("pods", o)
		}
		s.mu.Unlock()
		if o == nil {
			return notFound(k, name)
		}
		writeJSON(w, http.StatusOK, o)
		return nil
	}
	return refuse(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, nil, "the server does not allow this method on the requested resource")
}

// write applies a PATCH or PUT to the stored object as the API server does.
func (s *Server) write(method, contentType string, k kindInfo, ns, name string, body []byte) (object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.get(k.resource, ns, name)
	if old == nil {
		return nil, notFound(k, name)
	}
	if n := s.conflict[key(k.resource, ns, name)]; n > 0 {
		// Another writer changes the object first.
		s.conflict[key(k.resource, ns, name)] = n - 1
		c := old.DeepCopyObject().(object)
		ann := c.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann["fake.lightship.dev/concurrent-writer"] = strconv.Itoa(n)
		c.SetAnnotations(ann)
		s.store(k.resource, c, "MODIFIED")
		s.event(k.resource, ns, name, "conflict-injected", c.GetResourceVersion(), "")
		old = c
	}
	cur, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	var next []byte
	if method == http.MethodPut {
		next = body
	} else if next, err = applyPatch(contentType, k, cur, body); err != nil {
		return nil, err
	}
	o := k.newObj()
	if err := json.Unmarshal(next, o); err != nil {
		return nil, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "the body of the request could not be decoded: %v", err)
	}
	if o.GetName() != name || (o.GetNamespace() != "" && o.GetNamespace() != ns) {
		return nil, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "the name of the object (%s) does not match the name on the URL (%s)", o.GetName(), name)
	}
	if method == http.MethodPut && o.GetResourceVersion() == "" {
		return nil, invalid(k, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")
	}
	if rv := o.GetResourceVersion(); rv != "" && rv != old.GetResourceVersion() {
		return nil, refuse(http.StatusConflict, metav1.StatusReasonConflict, &metav1.StatusDetails{Name: name, Group: k.group, Kind: k.resource},
			"Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", k.qualified(), name)
	}
	keepServerFields(old, o)
	defaults(o)
	if err := validate(k, old, o); err != nil {
		return nil, err
	}
	if specChanged(k, old, o) {
		o.SetGeneration(old.GetGeneration() + 1)
		defer func() {
			s.event(k.resource, ns, name, "generation", o.GetResourceVersion(), strconv.FormatInt(o.GetGeneration(), 10))
		}()
	}
	if reflect.DeepEqual(mustJSON(old), mustJSON(o)) {
		return old, nil // a no-op write leaves resourceVersion alone
	}
	s.store(k.resource, o, "MODIFIED")
	return o.DeepCopyObject().(object), nil
}

// applyPatch applies body to cur by the patch type the content type names.
func applyPatch(contentType string, k kindInfo, cur, body []byte) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if !json.Valid(body) {
		return nil, refuse(http.StatusBadRequest, metav1.StatusReasonBadRequest, nil, "error decoding patch: invalid JSON")
	}
	var out []byte
	var err error
	switch mt {
	case "application/json-patch+json":
		var p jsonpatch.Patch
		if p, err = jsonpatch.DecodePatch(body); err == nil {
			out, err = p.Apply(cur)
		}
	case "application/merge-patch+json":
		out, err = jsonpatch.MergePatch(cur, body)
	case "application/strategic-merge-patch+json":
		out, err = strategicpatch.StrategicMergePatch(cur, body, k.newObj())
	default:
		return nil, refuse(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, nil,
			"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (the fake does not implement server-side apply)")
	}
	if err != nil {
		return nil, refuse(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, nil, "the server rejected our request due to an error in our request: %v", err)
	}
	return out, nil
}

func mustJSON(o any) string {
	b, _ := json.Marshal(o)
	return string(b)
}

// keepServerFields restores what a client cannot change through the main
// resource: identity, generation, timestamps and the status.
func keepServerFields(old, o object) {
	o.SetNamespace(old.GetNamespace())
	o.SetUID(old.GetUID())
	o.SetCreationTimestamp(old.GetCreationTimestamp())
	o.SetGeneration(old.GetGeneration())
	o.SetResourceVersion(old.GetResourceVersion())
	o.SetManagedFields(nil)
	switch n := o.(type) {
	case *appsv1.Deployment:
		n.Status = old.(*appsv1.Deployment).Status
		n.TypeMeta = old.(*appsv1.Deployment).TypeMeta
	case *appsv1.StatefulSet:
		n.Status = old.(*appsv1.StatefulSet).Status
		n.TypeMeta = old.(*appsv1.StatefulSet).TypeMeta
	case *appsv1.DaemonSet:
		n.Status = old.(*appsv1.DaemonSet).Status
		n.TypeMeta = old.(*appsv1.DaemonSet).TypeMeta
	case *appsv1.ReplicaSet:
		n.Status = old.(*appsv1.ReplicaSet).Status
		n.TypeMeta = old.(*appsv1.ReplicaSet).TypeMeta
	case *corev1.Pod:
		n.Status = old.(*corev1.Pod).Status
		n.TypeMeta = old.(*corev1.Pod).TypeMeta
	}
}

// specChanged: the generation moves on a spec change, and for a Deployment
// on an annotation change too (annotations are copied to its ReplicaSets).
func specChanged(k kindInfo, old, o object) bool {
	spec := func(x object) string {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(mustJSON(x)), &m)
		return string(m["spec"])
	}
	if spec(old) != spec(o) {
		return true
	}
	return k.resource == "deployments" && !reflect.DeepEqual(old.GetAnnotations(), o.GetAnnotations())
}

func invalid(k kindInfo, name, field, msg string) *apiError {
	return refuse(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
		&metav1.StatusDetails{Name: name, Group: k.group, Kind: k.kind, Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Message: msg, Field: field}}},
		"%s.%s %q is invalid: %s: %s", k.kind, k.group, name, field, msg)
}

// workloadParts returns what validation checks of a workload.
func workloadParts(o object) (*metav1.LabelSelector, *corev1.PodTemplateSpec, *int32) {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return w.Spec.Selector, &w.Spec.Template, w.Spec.Replicas
	case *appsv1.StatefulSet:
		return w.Spec.Selector, &w.Spec.Template, w.Spec.Replicas
	case *appsv1.DaemonSet:
		return w.Spec.Selector, &w.Spec.Template, nil
	case *appsv1.ReplicaSet:
		return w.Spec.Selector, &w.Spec.Template, w.Spec.Replicas
	}
	return nil, nil, nil
}

// validate refuses what the API server's validation refuses (the parts a
// rollout tool can get wrong): an immutable selector changed, a template
// the selector does not match, containers without name or image.
func validate(k kindInfo, old, o object) error {
	if pod, ok := o.(*corev1.Pod); ok {
		return validateContainers(k, pod.Name, "spec", &pod.Spec)
	}
	sel, tmpl, replicas := workloadParts(o)
	if tmpl == nil {
		return nil
	}
	if oldSel, _, _ := workloadParts(old); oldSel != nil && !reflect.DeepEqual(oldSel, sel) {
		return invalid(k, o.GetName(), "spec.selector", fmt.Sprintf("Invalid value: %s: field is immutable", mustJSON(sel)))
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || sel == nil || ls.Empty() {
		return invalid(k, o.GetName(), "spec.selector", "Required value")
	}
	if !ls.Matches(labels.Set(tmpl.Labels)) {
		return invalid(k, o.GetName(), "spec.template.metadata.labels", fmt.Sprintf("Invalid value: %s: `selector` does not match template `labels`", mustJSON(tmpl.Labels)))
	}
	if replicas != nil && *replicas < 0 {
		return invalid(k, o.GetName(), "spec.replicas", "Invalid value: must be greater than or equal to 0")
	}
	return validateContainers(k, o.GetName(), "spec.template.spec", &tmpl.Spec)
}

func validateContainers(k kindInfo, name, at string, spec *corev1.PodSpec) error {
	if len(spec.Containers) == 0 {
		return invalid(k, name, at+".containers", "Required value")
	}
	seen := map[string]bool{}
	for list, cs := range map[string][]corev1.Container{"containers": spec.Containers, "initContainers": spec.InitContainers} {
		for i, c := range cs {
			field := fmt.Sprintf("%s.%s[%d]", at, list, i)
			switch {
			case c.Name == "":
				return invalid(k, name, field+".name", "Required value")
			case seen[c.Name]:
				return invalid(k, name, field+".name", fmt.Sprintf("Duplicate value: %q", c.Name))
			case strings.TrimSpace(c.Image) == "" || c.Image != strings.TrimSpace(c.Image):
				return invalid(k, name, field+".image", "Required value")
			}
			seen[c.Name] = true
		}
	}
	return nil
}

// watcher is one open watch.
type watcher struct {
	resource, namespace string
	sel                 selectors
	ch                  chan []byte
	closed              bool
}

func (w *watcher) close() {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, k kindInfo, ns string, sel selectors) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return refuse(http.StatusInternalServerError, metav1.StatusReasonInternalError, nil, "no flusher")
	}
	q := r.URL.Query()
	since, _ := strconv.ParseInt(q.Get("resourceVersion"), 10, 64)
	var timeout <-chan time.Time
	limit := s.opts.WatchTimeout
	if n, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && n > 0 && (limit == 0 || time.Duration(n)*time.Second < limit) {
		limit = time.Duration(n) * time.Second
	}
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	wt := &watcher{resource: k.resource, namespace: ns, sel: sel, ch: make(chan []byte, 4096)}
	s.mu.Lock()
	// Without a resourceVersion the watch starts with the current state as
	// ADDED events; with one, the changes since then (the latest state of
	// each object changed later) come first.
	for _, o := range s.list(k.resource, ns, sel) {
		if rv, _ := strconv.ParseInt(o.GetResourceVersion(), 10, 64); q.Get("resourceVersion") == "" || q.Get("resourceVersion") == "0" {
			wt.ch <- watchEvent("ADDED", o)
		} else if rv > since {
			wt.ch <- watchEvent("MODIFIED", o)
		}
	}
	s.watchers[wt] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, wt)
		wt.close()
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	for {
		select {
		case b, ok := <-wt.ch:
			if !ok {
				return nil
			}
			if _, err := w.Write(b); err != nil {
				return nil
			}
			fl.Flush()
		case <-timeout:
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

func watchEvent(typ string, o object) []byte {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]any{"type": typ, "object": o})
	return b.Bytes()
}

// notify sends an event to the matching watches; a watch that cannot keep
// up is closed, as the API server closes a slow watch.
func (s *Server) notify(resource, typ string, o object) {
	for w := range s.watchers {
		if w.closed || w.resource != resource || w.namespace != o.GetNamespace() || !w.sel.matches(o) {
			continue
		}
		select {
		case w.ch <- watchEvent(typ, o):
			s.event(resource, o.GetNamespace(), o.GetName(), "watch-sent", o.GetResourceVersion(), typ)
		default:
			w.close()
		}
	}
}
