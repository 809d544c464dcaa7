package rancher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Workload describes a v3 deployment to add.
type Workload struct {
	// Object holds the workload's editable fields: containers (required: an
	// array of objects with name and image), annotations, labels, scale, and
	// any others, kept as sent.
	Object json.RawMessage
}

// WorkloadStatus is a deployment as the fake holds it now.
type WorkloadStatus struct {
	ID, State, Transitioning, TransitioningMessage string
	// Images are the containers' images, in order.
	Images []string
	// Object is the editable JSON now in force (compact values).
	Object                                                 map[string]json.RawMessage
	Generation, ObservedGeneration                         int64
	Replicas, UpdatedReplicas, AvailableReplicas, Rollouts int
	ProgressDeadlineExceeded                               bool
}

type workload struct {
	id, ns, name string
	obj          map[string]json.RawMessage
	generation   int64
	observed     int64
	state        string
	trans, msg   string
	replicas     int
	updated      int
	available    int
	deadline     bool
	rollouts     int
	created      time.Time
	next         *rollout
	armed        Behavior
}

// rollout is a Deployment rollout in progress: the controller observes the
// new generation at observeAt and completes it at doneAt.
type rollout struct {
	observeAt, doneAt time.Time
	b                 Behavior
}

func (w *workload) ref() string { return w.ns + "/" + w.name }

func (w *workload) scale() int {
	n := 1
	if v, ok := w.obj["scale"]; ok {
		_ = json.Unmarshal(v, &n)
	}
	return n
}

// AddWorkload adds a deployment namespace/name and returns its id
// (deployment:<namespace>:<name>).
func (s *Server) AddWorkload(namespace, name string, wl Workload) (string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(wl.Object, &obj); err != nil || obj == nil {
		return "", fmt.Errorf("rancher fake: workload %s/%s must be a JSON object", namespace, name)
	}
	if err := checkWorkloadObject(obj); err != nil {
		return "", fmt.Errorf("rancher fake: workload %s/%s: %w", namespace, name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := "deployment:" + namespace + ":" + name
	for _, w := range s.workloads {
		if w.id == id {
			return "", fmt.Errorf("rancher fake: workload %s exists", id)
		}
	}
	w := &workload{id: id, ns: namespace, name: name, obj: map[string]json.RawMessage{}, generation: 1, observed: 1,
		state: "active", trans: "no", created: s.opts.Now()}
	for k, v := range obj {
		if !v3ReadOnly()[k] {
			w.obj[k] = compact(v)
		}
	}
	n := w.scale()
	w.replicas, w.updated, w.available = n, n, n
	s.workloads = append(s.workloads, w)
	return id, nil
}

// SetWorkloadBehavior arms b for the next rollout of namespace/name.
func (s *Server) SetWorkloadBehavior(namespace, name string, b Behavior) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.workloads {
		if w.ns == namespace && w.name == name {
			w.armed = b
			return nil
		}
	}
	return fmt.Errorf("rancher fake: no workload %s/%s", namespace, name)
}

// WorkloadStatus returns namespace/name as it is now.
func (s *Server) WorkloadStatus(namespace, name string) (WorkloadStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll()
	for _, w := range s.workloads {
		if w.ns != namespace || w.name != name {
			continue
		}
		var cs []struct {
			Image string `json:"image"`
		}
		_ = json.Unmarshal(w.obj["containers"], &cs)
		st := WorkloadStatus{ID: w.id, State: w.state, Transitioning: w.trans, TransitioningMessage: w.msg,
			Object: map[string]json.RawMessage{}, Generation: w.generation, ObservedGeneration: w.observed,
			Replicas: w.replicas, UpdatedReplicas: w.updated, AvailableReplicas: w.available, Rollouts: w.rollouts,
			ProgressDeadlineExceeded: w.deadline}
		for _, c := range cs {
			st.Images = append(st.Images, c.Image)
		}
		for k, v := range w.obj {
			st.Object[k] = append(json.RawMessage(nil), v...)
		}
		return st, nil
	}
	return WorkloadStatus{}, fmt.Errorf("rancher fake: no workload %s/%s", namespace, name)
}

// v3ReadOnly returns the fields Rancher computes; a PUT ignores them.
func v3ReadOnly() map[string]bool {
	return map[string]bool{
		"id": true, "type": true, "baseType": true, "links": true, "actions": true, "state": true,
		"transitioning": true, "transitioningMessage": true, "deploymentStatus": true, "namespaceId": true,
		"projectId": true, "name": true, "created": true, "createdTS": true, "uuid": true, "creatorId": true,
		"publicEndpoints": true, "workloadMetrics": true,
	}
}

func checkWorkloadObject(obj map[string]json.RawMessage) error {
	raw, ok := obj["containers"]
	if !ok || isNull(raw) {
		return refuse(http.StatusUnprocessableEntity, "MissingRequired", "containers", "")
	}
	var cs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cs); err != nil || len(cs) == 0 {
		return refuse(http.StatusUnprocessableEntity, "InvalidType", "containers", "containers must be a non-empty array of objects")
	}
	seen := map[string]bool{}
	for _, c := range cs {
		var name, image string
		if json.Unmarshal(c["name"], &name) != nil || name == "" {
			return refuse(http.StatusUnprocessableEntity, "MissingRequired", "name", "each container needs a name")
		}
		if json.Unmarshal(c["image"], &image) != nil || image == "" {
			return refuse(http.StatusUnprocessableEntity, "MissingRequired", "image", "container "+name+" needs an image")
		}
		if seen[name] {
			return refuse(http.StatusUnprocessableEntity, "NotUnique", "name", "container name "+name+" repeated")
		}
		seen[name] = true
	}
	for _, f := range []string{"annotations", "labels", "workloadAnnotations", "workloadLabels"} {
		if v, ok := obj[f]; ok && !isNull(v) {
			var m map[string]string
			if err := json.Unmarshal(v, &m); err != nil {
				return refuse(http.StatusUnprocessableEntity, "InvalidType", f, f+" must be a map of strings")
			}
		}
	}
	if v, ok := obj["scale"]; ok && !isNull(v) {
		var n int
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return refuse(http.StatusUnprocessableEntity, "InvalidType", "scale", "scale must be a non-negative integer")
		}
	}
	return nil
}

// template is what, changed, makes a new ReplicaSet: the pod template.
func (w *workload) template() string {
	return string(w.obj["containers"]) + "|" + string(w.obj["annotations"]) + "|" + string(w.obj["labels"])
}

func (s *Server) startRollout(w *workload) {
	now := s.opts.Now()
	b := w.armed
	w.armed = Behavior{}
	w.generation++
	w.rollouts++
	w.deadline = false
	w.state, w.trans, w.msg = "updating", "yes", "Waiting for deployment "+w.name+" to be rolled out"
	w.next = &rollout{observeAt: now.Add(s.opts.Transition / 4), doneAt: now.Add(s.transition()), b: b}
	s.event(now, w.ref(), "updating")
}

func (w *workload) advance(s *Server, now time.Time) {
	r := w.next
	if r == nil {
		return
	}
	n := w.scale()
	if w.observed < w.generation && !now.Before(r.observeAt) {
		// The controller saw the new template: one new pod surges in.
		w.observed = w.generation
		w.replicas, w.updated, w.available = n+1, 1, n
		s.event(r.observeAt, w.ref(), "observed")
	}
	if r.b.Hang || now.Before(r.doneAt) {
		return
	}
	w.next = nil
	if r.b.FailHealth {
		w.deadline = true
		w.trans = "error"
		w.msg = `ReplicaSet "` + w.name + `-7d4b9c" has timed out progressing.`
		s.event(r.doneAt, w.ref(), "updating/error")
		return
	}
	w.replicas, w.updated, w.available = n, n, n
	w.state, w.trans, w.msg = "active", "no", ""
	s.event(r.doneAt, w.ref(), "active")
}

func (s *Server) workloadJSON(w *workload, base, project string) map[string]any {
	self := base + "/v3/project/" + project + "/workloads/" + w.id
	out := map[string]any{}
	for k, v := range w.obj {
		out[k] = v
	}
	var msg any
	if w.msg != "" {
		msg = w.msg
	}
	progressing := map[string]any{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
		"message": `ReplicaSet "` + w.name + `" has successfully progressed.`}
	if w.next != nil && w.observed == w.generation {
		progressing["reason"] = "ReplicaSetUpdated"
		progressing["message"] = `ReplicaSet "` + w.name + `" is progressing.`
	}
	if w.deadline {
		progressing = map[string]any{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
			"message": `ReplicaSet "` + w.name + `-7d4b9c" has timed out progressing.`}
	}
	avail := "True"
	if w.available < w.scale() {
		avail = "False"
	}
	for k, v := range map[string]any{
		"id": w.id, "type": "deployment", "baseType": "workload", "name": w.name, "namespaceId": w.ns,
		"projectId": project, "state": w.state, "transitioning": w.trans, "transitioningMessage": msg,
		"created": w.created.UTC().Format(time.RFC3339), "paused": false,
		"deploymentStatus": map[string]any{
			"type": "/v3/project/schemas/deploymentStatus", "observedGeneration": w.observed,
			"replicas": w.replicas, "updatedReplicas": w.updated, "readyReplicas": w.available,
			"availableReplicas": w.available, "unavailableReplicas": max(w.replicas-w.available, 0), "collisionCount": nil,
			"conditions": []any{
				map[string]any{"type": "Available", "status": avail, "reason": "MinimumReplicasAvailable"},
				progressing,
			},
		},
		"links": map[string]any{"self": self, "update": self, "remove": self, "revisions": self + "/revisions"},
		"actions": map[string]any{
			"redeploy": self + "?action=redeploy", "pause": self + "?action=pause",
			"resume": self + "?action=resume", "rollback": self + "?action=rollback",
		},
	} {
		out[k] = v
	}
	return out
}

func (s *Server) routeV3(r *http.Request, base, rest string) (reply, error) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) < 3 || (parts[0] != "project" && parts[0] != "projects") || parts[2] != "workloads" {
		return reply{}, refuse(http.StatusNotFound, "NotFound", "", "not modeled by the fake: /v3"+rest)
	}
	project := parts[1]
	if project != s.opts.ClusterProject {
		return reply{}, refuse(http.StatusNotFound, "NotFound", "", "project "+project+" not found")
	}
	if len(parts) == 3 {
		if r.Method != http.MethodGet {
			return reply{}, refuse(http.StatusMethodNotAllowed, "MethodNotAllowed", "", "the fake does not create workloads")
		}
		list := make([]any, 0, len(s.workloads))
		for _, w := range s.workloads {
			list = append(list, s.workloadJSON(w, base, project))
		}
		return s.collection(r, base, "workload", list, fieldGetters("name", "id", "namespaceId", "state"))
	}
	var w *workload
	for _, x := range s.workloads {
		if x.id == parts[3] {
			w = x
		}
	}
	if w == nil || len(parts) > 4 {
		return reply{}, refuse(http.StatusNotFound, "NotFound", "", "workload "+strings.Join(parts[3:], "/")+" not found")
	}
	ok := func(status int) (reply, error) {
		return reply{status: status, body: s.workloadJSON(w, base, project), resource: w.ref(), state: w.state}, nil
	}
	switch r.Method {
	case http.MethodGet:
		return ok(http.StatusOK)
	case http.MethodPut:
		body, err := readJSONObject(r)
		if err != nil {
			return reply{}, err
		}
		if err := checkWorkloadObject(body); err != nil {
			return reply{}, err
		}
		before := w.template()
		obj := map[string]json.RawMessage{}
		for k, v := range body {
			if !v3ReadOnly()[k] {
				obj[k] = compact(v)
			}
		}
		w.obj = obj
		if w.template() != before {
			s.startRollout(w)
		}
		return ok(http.StatusOK)
	case http.MethodPost:
	default:
		return reply{}, methodNotAllowed(r)
	}
	switch a := r.URL.Query().Get("action"); a {
	case "redeploy":
		ann := map[string]string{}
		_ = json.Unmarshal(w.obj["annotations"], &ann)
		if ann == nil {
			ann = map[string]string{}
		}
		ann["cattle.io/timestamp"] = s.opts.Now().UTC().Format(time.RFC3339Nano)
		b, _ := json.Marshal(ann)
		w.obj["annotations"] = b
		s.startRollout(w)
		return ok(http.StatusOK)
	case "":
		return reply{}, methodNotAllowed(r)
	default:
		return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidAction", "action", "action "+a+" not modeled by the fake")
	}
}
