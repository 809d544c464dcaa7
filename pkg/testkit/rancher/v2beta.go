package rancher

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Service describes a v2-beta service to add.
type Service struct {
	// LaunchConfig is the service's launchConfig, any fields (kept as sent).
	LaunchConfig json.RawMessage
	// SecondaryLaunchConfigs are the sidekicks' launchConfigs (a JSON array).
	SecondaryLaunchConfigs json.RawMessage
	// State is the starting state: active (default), inactive, activating,
	// upgraded (left by an earlier upgrade), canceled-upgrade, upgrading.
	State string
	// Scale defaults to 1.
	Scale    int
	RetainIP bool
}

// Behavior changes how the next upgrade (or v3 rollout) goes. It applies once.
type Behavior struct {
	// FailHealth makes the new containers fail their health check: after one
	// transition the service stays upgrading with transitioning=error and
	// healthState=unhealthy (v3: condition Progressing/ProgressDeadlineExceeded).
	FailHealth bool
	// Hang makes the upgrade (rollout) never finish.
	Hang bool
	// HangFinish makes the finishupgrade after the next upgrade stay in
	// finishing-upgrade (rancher#7786). v2-beta only.
	HangFinish bool
}

// ServiceStatus is a service as the fake holds it now.
type ServiceStatus struct {
	ID, State, Transitioning, TransitioningMessage, HealthState string
	// Image is launchConfig.imageUuid.
	Image  string
	Labels map[string]string
	// LaunchConfig is the current launchConfig, compact JSON.
	LaunchConfig           json.RawMessage
	SecondaryLaunchConfigs json.RawMessage
	// Upgrade is the last serviceUpgrade accepted (null when none).
	Upgrade json.RawMessage
}

type stack struct {
	id, name string
}

type service struct {
	id, name      string
	stack         *stack
	state         string
	transitioning string
	message       string
	health        string
	scale         int
	retainIP      bool
	launchConfig  json.RawMessage
	secondary     json.RawMessage
	previous      json.RawMessage
	prevSecondary json.RawMessage
	upgrade       json.RawMessage
	created       time.Time
	next          *pending
	armed         Behavior
	hangFinish    bool
}

// pending is a transition in progress: at `at` the service reaches `to`
// (or, with fail, reports a health error and stays where it is).
type pending struct {
	at   time.Time
	to   string
	fail bool
}

func (sv *service) ref() string { return sv.stack.name + "/" + sv.name }

// AddStack adds a stack (or returns the id of the existing one).
func (s *Server) AddStack(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stacks {
		if st.name == name {
			return st.id
		}
	}
	st := &stack{id: s.id("1st"), name: name}
	s.stacks = append(s.stacks, st)
	return st.id
}

// AddService adds a service to a stack (created when missing) and returns its id.
func (s *Server) AddService(stackName, name string, sv Service) (string, error) {
	var lc map[string]json.RawMessage
	if err := json.Unmarshal(sv.LaunchConfig, &lc); err != nil || lc == nil {
		return "", fmt.Errorf("rancher fake: launchConfig of %s/%s must be a JSON object", stackName, name)
	}
	sec := sv.SecondaryLaunchConfigs
	if isNull(sec) {
		sec = json.RawMessage("[]")
	}
	var secs []map[string]json.RawMessage
	if err := json.Unmarshal(sec, &secs); err != nil {
		return "", fmt.Errorf("rancher fake: secondaryLaunchConfigs of %s/%s must be a JSON array of objects", stackName, name)
	}
	s.AddStack(stackName)
	s.mu.Lock()
	defer s.mu.Unlock()
	var st *stack
	for _, x := range s.stacks {
		if x.name == stackName {
			st = x
		}
	}
	for _, x := range s.services {
		if x.stack == st && x.name == name {
			return "", fmt.Errorf("rancher fake: service %s/%s exists", stackName, name)
		}
	}
	state := sv.State
	if state == "" {
		state = "active"
	}
	svc := &service{
		id: s.id("1s"), name: name, stack: st, state: state, transitioning: "no", health: "healthy",
		scale: max(sv.Scale, 1), retainIP: sv.RetainIP, launchConfig: compact(sv.LaunchConfig),
		secondary: compact(sec), upgrade: json.RawMessage("null"), created: s.opts.Now(),
	}
	switch state {
	case "active", "inactive":
	case "activating":
		svc.transitioning = "yes"
		svc.next = &pending{at: s.opts.Now().Add(s.transition()), to: "active"}
	case "upgraded", "canceled-upgrade":
		// Left by an earlier run: the launchConfig given is the new one; the
		// previous one is what rollback restores.
		svc.previous, svc.prevSecondary = svc.launchConfig, svc.secondary
	case "upgrading":
		svc.previous, svc.prevSecondary = svc.launchConfig, svc.secondary
		svc.transitioning = "yes"
		svc.next = &pending{at: s.opts.Now().Add(s.transition()), to: "upgraded"}
	default:
		return "", fmt.Errorf("rancher fake: starting state %q not modeled", state)
	}
	s.services = append(s.services, svc)
	return svc.id, nil
}

// SetBehavior arms b for the next upgrade of stack/service.
func (s *Server) SetBehavior(stackName, name string, b Behavior) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.findService(stackName, name)
	if sv == nil {
		return fmt.Errorf("rancher fake: no service %s/%s", stackName, name)
	}
	sv.armed = b
	return nil
}

// ServiceStatus returns stack/service as it is now.
func (s *Server) ServiceStatus(stackName, name string) (ServiceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll()
	sv := s.findService(stackName, name)
	if sv == nil {
		return ServiceStatus{}, fmt.Errorf("rancher fake: no service %s/%s", stackName, name)
	}
	var lc struct {
		ImageUUID string            `json:"imageUuid"`
		Labels    map[string]string `json:"labels"`
	}
	_ = json.Unmarshal(sv.launchConfig, &lc)
	return ServiceStatus{
		ID: sv.id, State: sv.state, Transitioning: sv.transitioning, TransitioningMessage: sv.message,
		HealthState: sv.health, Image: lc.ImageUUID, Labels: lc.Labels,
		LaunchConfig: append(json.RawMessage(nil), sv.launchConfig...), SecondaryLaunchConfigs: append(json.RawMessage(nil), sv.secondary...),
		Upgrade: append(json.RawMessage(nil), sv.upgrade...),
	}, nil
}

func (s *Server) findService(stackName, name string) *service {
	for _, sv := range s.services {
		if sv.stack.name == stackName && sv.name == name {
			return sv
		}
	}
	return nil
}

// advance applies a transition whose time has come.
func (sv *service) advance(s *Server, now time.Time) {
	p := sv.next
	if p == nil || now.Before(p.at) {
		return
	}
	sv.next = nil
	if p.fail {
		sv.transitioning = "error"
		sv.health = "unhealthy"
		sv.message = "Timeout waiting for instance [1i" + sv.id[2:] + "9] to become healthy: health check failed"
		s.event(p.at, sv.ref(), sv.state+"/error")
		return
	}
	sv.state, sv.transitioning, sv.message = p.to, "no", ""
	if sv.health != "unhealthy" || p.to == "active" {
		sv.health = "healthy"
	}
	s.event(p.at, sv.ref(), p.to)
}

// begin moves the service into a transitional state that ends in `to`
// after one transition (or never, or with a health error, per b).
func (sv *service) begin(s *Server, through, to string, b Behavior) {
	sv.state, sv.transitioning, sv.message = through, "yes", "In Progress"
	now := s.opts.Now()
	s.event(now, sv.ref(), through)
	switch {
	case b.Hang:
		sv.message = "Waiting for instances to start"
		sv.next = nil
	case b.FailHealth:
		sv.next = &pending{at: now.Add(s.transition()), fail: true}
	default:
		sv.next = &pending{at: now.Add(s.transition()), to: to}
	}
}

// serviceActions lists the actions valid in each state (api/rancher.md 1.3, 1.5).
func serviceActions() map[string][]string {
	return map[string][]string{
		"active":            {"upgrade", "restart", "deactivate", "remove", "update", "addservicelink", "removeservicelink", "setservicelinks"},
		"inactive":          {"activate", "upgrade", "remove", "update", "addservicelink", "removeservicelink", "setservicelinks"},
		"activating":        {"upgrade", "update", "remove"},
		"upgrading":         {"cancelupgrade", "update"},
		"upgraded":          {"finishupgrade", "rollback", "remove", "update"},
		"finishing-upgrade": {"cancelupgrade", "update"},
		"canceled-upgrade":  {"rollback", "continueupgrade", "finishupgrade", "remove", "update"},
		"canceling-upgrade": {"update"},
		"rolling-back":      {"update"},
		"restarting":        {"update"},
		"deactivating":      {"update"},
		"removing":          {},
		"removed":           {},
	}
}

func (sv *service) allowed(action string) bool {
	for _, a := range serviceActions()[sv.state] {
		if a == action && a != "update" {
			return true
		}
	}
	return false
}

func (s *Server) projectBase(base string) string {
	return base + "/v2-beta/projects/" + s.opts.ProjectID
}

func (s *Server) projectJSON(base string) map[string]any {
	self := s.projectBase(base)
	return map[string]any{
		"id": s.opts.ProjectID, "type": "project", "baseType": "project", "kind": "project",
		"name": s.opts.ProjectName, "state": "active", "transitioning": "no", "transitioningMessage": nil,
		"orchestration": "cattle", "uuid": "adminProject",
		"links":   map[string]any{"self": self, "stacks": self + "/stacks", "services": self + "/services"},
		"actions": map[string]any{},
	}
}

func (s *Server) stackJSON(st *stack, base string) map[string]any {
	self := s.projectBase(base) + "/stacks/" + st.id
	var ids []string
	for _, sv := range s.services {
		if sv.stack == st {
			ids = append(ids, sv.id)
		}
	}
	return map[string]any{
		"id": st.id, "type": "stack", "baseType": "stack", "kind": "stack", "name": st.name,
		"accountId": s.opts.ProjectID, "state": "active", "healthState": "healthy", "transitioning": "no",
		"transitioningMessage": nil, "serviceIds": ids, "system": false,
		"links":   map[string]any{"self": self, "services": self + "/services", "account": s.projectBase(base)},
		"actions": map[string]any{"update": self + "/?action=update", "remove": self + "/?action=remove"},
	}
}

func (s *Server) serviceJSON(sv *service, base string) map[string]any {
	self := s.projectBase(base) + "/services/" + sv.id
	actions := map[string]any{}
	for _, a := range serviceActions()[sv.state] {
		actions[a] = self + "/?action=" + a
	}
	var msg any
	if sv.message != "" {
		msg = sv.message
	}
	ids := []string{}
	for i := 0; i < sv.scale; i++ {
		ids = append(ids, fmt.Sprintf("1i%s%d", sv.id[2:], i))
	}
	return map[string]any{
		"id": sv.id, "type": "service", "baseType": "service", "kind": "service", "name": sv.name,
		"accountId": s.opts.ProjectID, "stackId": sv.stack.id, "state": sv.state, "healthState": sv.health,
		"transitioning": sv.transitioning, "transitioningMessage": msg, "transitioningProgress": nil,
		"scale": sv.scale, "currentScale": sv.scale, "retainIp": sv.retainIP, "startOnCreate": true,
		"instanceIds": ids, "launchConfig": sv.launchConfig, "secondaryLaunchConfigs": sv.secondary,
		"upgrade": sv.upgrade, "created": sv.created.UTC().Format(time.RFC3339), "removed": nil,
		"uuid": "uuid-" + sv.id, "description": nil, "system": false, "vip": nil, "fqdn": nil,
		"links": map[string]any{
			"self": self, "stack": s.projectBase(base) + "/stacks/" + sv.stack.id,
			"instances": self + "/instances", "account": s.projectBase(base),
		},
		"actions": actions,
	}
}

func (s *Server) routeV2(r *http.Request, base, rest string) (reply, error) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if rest == "" || rest == "/" {
		self := base + "/v2-beta"
		return reply{body: map[string]any{"id": "v2-beta", "type": "apiVersion", "links": map[string]any{
			"self": self, "schemas": self + "/schemas", "projects": self + "/projects",
			"stacks": self + "/stacks", "services": self + "/services"}, "actions": map[string]any{}}}, nil
	}
	switch parts[0] {
	case "schemas":
		return reply{body: s.schemas(base)}, nil
	case "projects":
		if len(parts) == 1 {
			if r.Method != http.MethodGet {
				return reply{}, methodNotAllowed(r)
			}
			list := []any{s.projectJSON(base)}
			return s.collection(r, base, "project", list, map[string]func(any) string{
				"name": func(o any) string { return o.(map[string]any)["name"].(string) },
				"id":   func(o any) string { return o.(map[string]any)["id"].(string) },
			})
		}
		if parts[1] != s.opts.ProjectID {
			return reply{}, refuse(http.StatusNotFound, "NotFound", "", "project "+parts[1]+" not found")
		}
		if len(parts) == 2 {
			if r.Method != http.MethodGet {
				return reply{}, methodNotAllowed(r)
			}
			return reply{body: s.projectJSON(base)}, nil
		}
		return s.routeScoped(r, base, parts[2:])
	}
	// An environment API key addresses its project without /projects/<id>.
	return s.routeScoped(r, base, parts)
}

func methodNotAllowed(r *http.Request) error {
	return refuse(http.StatusMethodNotAllowed, "MethodNotAllowed", "", r.Method+" not allowed on "+r.URL.Path)
}

// routeScoped serves a project's stacks and services.
func (s *Server) routeScoped(r *http.Request, base string, parts []string) (reply, error) {
	switch parts[0] {
	case "stacks":
		return s.routeStacks(r, base, parts[1:])
	case "services":
		return s.routeServices(r, base, parts[1:])
	}
	return reply{}, refuse(http.StatusNotFound, "NotFound", "", "unknown type "+parts[0])
}

// routeStacks serves GET stacks (the collection) and GET stacks/<id>.
func (s *Server) routeStacks(r *http.Request, base string, rest []string) (reply, error) {
	if len(rest) == 0 {
		return s.listing(r, base, "stack", func() []any {
			list := make([]any, 0, len(s.stacks))
			for _, st := range s.stacks {
				list = append(list, s.stackJSON(st, base))
			}
			return list
		}, "name", "id", "state", "accountId")
	}
	for _, st := range s.stacks {
		if st.id == rest[0] && len(rest) == 1 && r.Method == http.MethodGet {
			return reply{body: s.stackJSON(st, base), resource: st.name, state: "active"}, nil
		}
	}
	return reply{}, refuse(http.StatusNotFound, "NotFound", "", "stack "+strings.Join(rest, "/")+" not found")
}

// routeServices serves GET services (the collection, without removed
// services) and one service's requests.
func (s *Server) routeServices(r *http.Request, base string, rest []string) (reply, error) {
	if len(rest) == 0 {
		return s.listing(r, base, "service", func() []any {
			list := make([]any, 0, len(s.services))
			for _, sv := range s.services {
				if sv.state != "removed" {
					list = append(list, s.serviceJSON(sv, base))
				}
			}
			return list
		}, "name", "id", "state", "accountId", "stackId", "kind", "healthState")
	}
	var sv *service
	for _, x := range s.services {
		if x.id == rest[0] {
			sv = x
		}
	}
	if sv == nil || len(rest) > 1 {
		return reply{}, refuse(http.StatusNotFound, "NotFound", "", "service "+strings.Join(rest, "/")+" not found")
	}
	return s.serviceRequest(r, base, sv)
}

// listing serves GET on a collection of typ (the fake creates none):
// list's objects filtered by the named fields and paged.
func (s *Server) listing(r *http.Request, base, typ string, list func() []any, fields ...string) (reply, error) {
	if r.Method != http.MethodGet {
		return reply{}, refuse(http.StatusMethodNotAllowed, "MethodNotAllowed", "", "the fake does not create "+typ+"s")
	}
	return s.collection(r, base, typ, list(), fieldGetters(fields...))
}

func fieldGetters(names ...string) map[string]func(any) string {
	m := map[string]func(any) string{}
	for _, n := range names {
		m[n] = func(o any) string {
			v := o.(map[string]any)[n]
			if v == nil {
				return ""
			}
			return fmt.Sprint(v)
		}
	}
	return m
}

// collection filters (field=value, field_ne=value) and pages a list.
func (s *Server) collection(r *http.Request, base, typ string, list []any, fields map[string]func(any) string) (reply, error) {
	q := r.URL.Query()
	filters := map[string]any{}
	limit, offset := 100, 0
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := q.Get(k)
		switch k {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidFormat", "limit", "limit must be a positive number")
			}
			limit = min(n, 1000)
			continue
		case "marker":
			n, err := strconv.Atoi(strings.TrimPrefix(v, "m"))
			if err != nil || n < 0 {
				return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidFormat", "marker", "bad marker")
			}
			offset = n
			continue
		case "sort", "order", "include":
			continue
		}
		field, mod := k, "eq"
		if f, ok := strings.CutSuffix(k, "_ne"); ok {
			field, mod = f, "ne"
		}
		get, ok := fields[field]
		if !ok {
			return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidFilter", k, "filter "+k+" not modeled by the fake for "+typ)
		}
		filters[field] = []any{map[string]any{"modifier": mod, "value": v}}
		var kept []any
		for _, o := range list {
			if (get(o) == v) == (mod == "eq") {
				kept = append(kept, o)
			}
		}
		list = kept
	}
	if list == nil {
		list = []any{}
	}
	total := len(list)
	end := min(offset+limit, total)
	page := []any{}
	if offset < total {
		page = list[offset:end]
	}
	self := base + r.URL.RequestURI()
	var next any
	if end < total {
		u, _ := url.Parse(self)
		qq := u.Query()
		qq.Set("marker", "m"+strconv.Itoa(end))
		u.RawQuery = qq.Encode()
		next = u.String()
	}
	return reply{body: map[string]any{
		"type": "collection", "resourceType": typ, "links": map[string]any{"self": self},
		"createTypes": map[string]any{typ: s.projectBase(base) + "/" + typ + "s"}, "actions": map[string]any{},
		"pagination": map[string]any{"first": nil, "previous": nil, "next": next, "limit": limit, "total": nil, "partial": next != nil},
		"sort":       nil, "filters": filters, "data": page,
	}}, nil
}

func (s *Server) serviceRequest(r *http.Request, base string, sv *service) (reply, error) {
	ok := func() (reply, error) {
		return reply{body: s.serviceJSON(sv, base), resource: sv.ref(), state: sv.state}, nil
	}
	switch r.Method {
	case http.MethodGet:
		return ok()
	case http.MethodPut:
		body, err := readJSONObject(r)
		if err != nil {
			return reply{}, err
		}
		// Only the writable fields change; the rest is silently ignored.
		if raw, ok := body["scale"]; ok {
			var n int
			if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
				return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidType", "scale", "scale must be a number")
			}
			sv.scale = n
		}
		if raw, ok := body["retainIp"]; ok {
			if err := json.Unmarshal(raw, &sv.retainIP); err != nil {
				return reply{}, refuse(http.StatusUnprocessableEntity, "InvalidType", "retainIp", "retainIp must be a boolean")
			}
		}
		return ok()
	case http.MethodPost:
	default:
		return reply{}, methodNotAllowed(r)
	}
	action := r.URL.Query().Get("action")
	if action == "" {
		return reply{}, methodNotAllowed(r)
	}
	if !sv.allowed(action) {
		return reply{}, refuse(http.StatusUnprocessableEntity, "ActionNotAvailable", "action", "")
	}
	var after func()
	switch action {
	case "upgrade":
		body, err := readJSONObject(r)
		if err != nil {
			return reply{}, err
		}
		if err := s.upgrade(sv, body); err != nil {
			return reply{}, err
		}
		b := sv.armed
		sv.armed, sv.hangFinish = Behavior{}, b.HangFinish
		sv.begin(s, "upgrading", "upgraded", b)
		after = s.notify(sv)
	case "finishupgrade":
		if sv.state == "canceled-upgrade" {
			// rancher#4573: finishing a canceled upgrade continues it.
			sv.begin(s, "upgrading", "upgraded", Behavior{})
		} else {
			sv.begin(s, "finishing-upgrade", "active", Behavior{Hang: sv.hangFinish})
			sv.hangFinish = false
		}
	case "cancelupgrade":
		if sv.state == "finishing-upgrade" {
			sv.state, sv.transitioning, sv.message, sv.next = "canceled-upgrade", "no", "", nil
			s.event(s.opts.Now(), sv.ref(), sv.state)
		} else {
			sv.begin(s, "canceling-upgrade", "canceled-upgrade", Behavior{})
		}
	case "continueupgrade":
		b := sv.armed
		sv.armed = Behavior{}
		sv.begin(s, "upgrading", "upgraded", b)
		after = s.notify(sv)
	case "rollback":
		if !isNull(sv.previous) {
			sv.launchConfig, sv.secondary = sv.previous, sv.prevSecondary
			sv.previous, sv.prevSecondary = nil, nil
		}
		sv.health = "healthy"
		sv.begin(s, "rolling-back", "active", Behavior{})
		after = s.notify(sv)
	case "restart":
		sv.begin(s, "restarting", "active", Behavior{})
	case "deactivate":
		sv.begin(s, "deactivating", "inactive", Behavior{})
	case "activate":
		sv.begin(s, "activating", "active", Behavior{})
	case "remove":
		sv.begin(s, "removing", "removed", Behavior{})
	default:
		return reply{}, refuse(http.StatusUnprocessableEntity, "ActionNotAvailable", "action", "action "+action+" not modeled by the fake")
	}
	rep, err := ok()
	rep.after = after
	rep.status = http.StatusAccepted
	return rep, err
}

func (s *Server) notify(sv *service) func() {
	if s.opts.OnUpgrade == nil {
		return nil
	}
	stackName, name, lc := sv.stack.name, sv.name, append(json.RawMessage(nil), sv.launchConfig...)
	return func() { s.opts.OnUpgrade(stackName, name, lc) }
}

// upgrade validates a serviceUpgrade body and applies its launchConfigs.
func (s *Server) upgrade(sv *service, body map[string]json.RawMessage) error {
	in, err := inServiceStrategy(body)
	if err != nil {
		return err
	}
	if err := checkStartFirst(sv, in); err != nil {
		return err
	}
	newLC := sv.launchConfig
	if v := in["launchConfig"]; !isNull(v) {
		if err := checkLaunchConfig("launchConfig", v); err != nil {
			return err
		}
		newLC = compact(v)
	}
	newSec := sv.secondary
	if v := in["secondaryLaunchConfigs"]; !isNull(v) {
		if newSec, err = upgradedSidekicks(sv.secondary, v); err != nil {
			return err
		}
	}
	in["previousLaunchConfig"] = sv.launchConfig
	in["previousSecondaryLaunchConfigs"] = sv.secondary
	rec, _ := json.Marshal(map[string]any{"type": "serviceUpgrade", "inServiceStrategy": in, "toServiceStrategy": nil})
	sv.previous, sv.prevSecondary = sv.launchConfig, sv.secondary
	sv.launchConfig, sv.secondary, sv.upgrade = newLC, newSec, rec
	return nil
}

// inServiceStrategy returns a serviceUpgrade body's inServiceStrategy
// object, refusing blue/green (toServiceStrategy), a missing or non-object
// strategy and a batchSize or intervalMillis that is not a positive integer
// (intervalMillis may be 0).
func inServiceStrategy(body map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if !isNull(body["toServiceStrategy"]) {
		return nil, refuse(http.StatusUnprocessableEntity, "InvalidOption", "toServiceStrategy", "toServiceStrategy (blue/green) not modeled by the fake")
	}
	raw := body["inServiceStrategy"]
	if isNull(raw) {
		return nil, refuse(http.StatusUnprocessableEntity, "MissingRequired", "inServiceStrategy", "")
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, refuse(http.StatusUnprocessableEntity, "InvalidType", "inServiceStrategy", "must be an object")
	}
	for _, f := range []string{"batchSize", "intervalMillis"} {
		if v, ok := in[f]; ok && !isNull(v) {
			var n int64
			if err := json.Unmarshal(v, &n); err != nil || n < 0 || (f == "batchSize" && n < 1) {
				return nil, refuse(http.StatusUnprocessableEntity, "InvalidType", f, f+" must be a positive integer, got "+string(v))
			}
		}
	}
	return in, nil
}

// checkStartFirst refuses a startFirst that is not a boolean, and
// startFirst on a service that retains its IP (Cattle's rule).
func checkStartFirst(sv *service, in map[string]json.RawMessage) error {
	startFirst := false
	if v, ok := in["startFirst"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &startFirst); err != nil {
			return refuse(http.StatusUnprocessableEntity, "InvalidType", "startFirst", "startFirst must be a boolean")
		}
	}
	if startFirst && sv.retainIP {
		return refuse(http.StatusUnprocessableEntity, "InvalidOption", "StartFirst option can't be used for service with retainIp field set", "")
	}
	return nil
}

// upgradedSidekicks returns the service's secondaryLaunchConfigs with the
// sent ones replacing those of the same name; a sent sidekick the service
// does not have is refused.
func upgradedSidekicks(current, sentRaw json.RawMessage) (json.RawMessage, error) {
	var sent []json.RawMessage
	if err := json.Unmarshal(sentRaw, &sent); err != nil {
		return nil, refuse(http.StatusUnprocessableEntity, "InvalidType", "secondaryLaunchConfigs", "must be an array")
	}
	var cur []json.RawMessage
	_ = json.Unmarshal(current, &cur)
	for _, lc := range sent {
		if err := checkLaunchConfig("secondaryLaunchConfigs", lc); err != nil {
			return nil, err
		}
		if !replaceSidekick(cur, lc) {
			return nil, refuse(http.StatusUnprocessableEntity, "InvalidReference", "secondaryLaunchConfigs", "no sidekick named "+strconv.Quote(launchConfigName(lc)))
		}
	}
	b, _ := json.Marshal(cur)
	return b, nil
}

// replaceSidekick replaces every named launchConfig in cur named as lc,
// reporting whether there was one.
func replaceSidekick(cur []json.RawMessage, lc json.RawMessage) bool {
	name := launchConfigName(lc)
	found := false
	for i := range cur {
		if launchConfigName(cur[i]) == name && name != "" {
			cur[i], found = compact(lc), true
		}
	}
	return found
}

func launchConfigName(raw json.RawMessage) string {
	var x struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &x)
	return x.Name
}

// checkLaunchConfig refuses what Cattle refuses in a launchConfig: a
// non-object, an imageUuid that is not "docker:<image>", labels or
// environment that are not string maps.
func checkLaunchConfig(field string, raw json.RawMessage) error {
	var lc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &lc); err != nil {
		return refuse(http.StatusUnprocessableEntity, "InvalidType", field, "must be an object")
	}
	if v, ok := lc["imageUuid"]; ok {
		var img string
		if err := json.Unmarshal(v, &img); err != nil || !strings.HasPrefix(img, "docker:") || len(img) == len("docker:") {
			return refuse(http.StatusUnprocessableEntity, "InvalidReference", "imageUuid", "imageUuid must be docker:<image>, got "+string(v))
		}
	}
	for _, f := range []string{"labels", "environment"} {
		if v, ok := lc[f]; ok && !isNull(v) {
			var m map[string]string
			if err := json.Unmarshal(v, &m); err != nil {
				return refuse(http.StatusUnprocessableEntity, "InvalidType", f, f+" must be a map of strings")
			}
		}
	}
	return nil
}

func (s *Server) schemas(base string) map[string]any {
	var data []any
	for _, t := range []string{"project", "stack", "service", "workload"} {
		data = append(data, map[string]any{
			"id": t, "type": "schema",
			"links": map[string]any{"self": base + "/v2-beta/schemas/" + t, "collection": s.projectBase(base) + "/" + t + "s"},
		})
	}
	return map[string]any{"type": "collection", "resourceType": "schema", "data": data}
}
