package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
)

// v2 upgrades Rancher 1.6 services through the Cattle v2-beta API.
type v2 struct {
	s   *job
	env *plugin.Env
	api *apiClient
	// base is the scope: .../v2-beta/projects/<id> or .../v2-beta.
	base string
	// sidekicksSeen are the sidekick names the planned services have.
	sidekicksSeen map[string]bool
}

// v2Service is what the plugin reads from a service. launchConfig stays raw
// JSON: decoding it into structs and sending them back loses fields.
type v2Service struct {
	ID                     string            `json:"id"`
	Name                   string            `json:"name"`
	StackID                string            `json:"stackId"`
	State                  string            `json:"state"`
	Transitioning          string            `json:"transitioning"`
	TransitioningMessage   string            `json:"transitioningMessage"`
	HealthState            string            `json:"healthState"`
	RetainIP               bool              `json:"retainIp"`
	LaunchConfig           json.RawMessage   `json:"launchConfig"`
	SecondaryLaunchConfigs json.RawMessage   `json:"secondaryLaunchConfigs"`
	Links                  map[string]string `json:"links"`
	Actions                map[string]string `json:"actions"`
}

type v2Collection struct {
	Data       []json.RawMessage `json:"data"`
	Pagination *struct {
		Next string `json:"next"`
	} `json:"pagination"`
}

type named struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func newV2(s *job, env *plugin.Env, c *httpx.Client) *v2 {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.AccessKey+":"+s.SecretKey))
	env.Redactor.Add(auth)
	return &v2{s: s, env: env, api: &apiClient{http: c, auth: auth}, base: s.endpoint.String(), sidekicksSeen: map[string]bool{}}
}

// checkPlan fails when a sidekick setting matches none of the services.
func (u *v2) checkPlan() error {
	for _, sk := range u.s.sidekicks {
		if !u.sidekicksSeen[sk.Name] {
			return plugin.Invalid("sidekick", "no service has a sidekick %q", sk.Name)
		}
	}
	return nil
}

func (u *v2) describe() string {
	return "Rancher 1.6 (v2-beta) at " + u.base
}

// list reads a whole collection, following pagination.next.
func (u *v2) list(ctx context.Context, path string, q url.Values) ([]json.RawMessage, error) {
	next := u.base + path
	if len(q) > 0 {
		next += "?" + q.Encode()
	}
	var all []json.RawMessage
	for page := 0; next != "" && page < 100; page++ {
		var c v2Collection
		if err := u.api.call(ctx, "GET", next, nil, &c); err != nil {
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
		all = append(all, c.Data...)
		next = ""
		if c.Pagination != nil {
			next = c.Pagination.Next
		}
	}
	return all, nil
}

func names(items []json.RawMessage) []string {
	var out []string
	for _, it := range items {
		var n named
		if json.Unmarshal(it, &n) == nil && n.Name != "" {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

// scope finds the project when the URL names none and environment is set.
func (u *v2) scope(ctx context.Context) error {
	if strings.Contains(u.base, "/projects/") || u.s.Environment == "" {
		if strings.Contains(u.base, "/projects/") && u.s.Environment != "" {
			u.env.Log.Warnf("PLUGIN_ENVIRONMENT %q ignored: the url names the project", u.s.Environment)
		}
		return nil
	}
	found, err := u.list(ctx, "/projects", url.Values{"name": {u.s.Environment}})
	if err != nil {
		return fmt.Errorf("find environment %q: %w", u.s.Environment, err)
	}
	if len(found) != 1 {
		all, err := u.list(ctx, "/projects", nil)
		if err != nil {
			return fmt.Errorf("find environment %q: %w", u.s.Environment, err)
		}
		return fmt.Errorf("environment %q: %d found; environments: %s", u.s.Environment, len(found), strings.Join(names(all), ", "))
	}
	var p named
	_ = json.Unmarshal(found[0], &p)
	u.base += "/projects/" + p.ID
	return nil
}

// find looks stack and service up by name; ambiguity and absence are
// errors naming what exists.
func (u *v2) find(ctx context.Context, t target) (*v2Service, error) {
	stacks, err := u.list(ctx, "/stacks", url.Values{"name": {t.Group}})
	if err != nil {
		return nil, err
	}
	if len(stacks) != 1 {
		all, err := u.list(ctx, "/stacks", nil)
		if err != nil {
			return nil, err
		}
		if len(stacks) == 0 {
			return nil, fmt.Errorf("stack %q not found; stacks: %s", t.Group, strings.Join(names(all), ", "))
		}
		return nil, fmt.Errorf("stack name %q is ambiguous: %d stacks", t.Group, len(stacks))
	}
	var st named
	_ = json.Unmarshal(stacks[0], &st)
	svcs, err := u.list(ctx, "/services", url.Values{"name": {t.Name}, "stackId": {st.ID}})
	if err != nil {
		return nil, err
	}
	if len(svcs) != 1 {
		all, err := u.list(ctx, "/services", url.Values{"stackId": {st.ID}})
		if err != nil {
			return nil, err
		}
		if len(svcs) == 0 {
			return nil, fmt.Errorf("service %q not found in stack %s; services: %s", t.Name, t.Group, strings.Join(names(all), ", "))
		}
		return nil, fmt.Errorf("service name %q is ambiguous in stack %s", t.Name, t.Group)
	}
	var sv v2Service
	if err := json.Unmarshal(svcs[0], &sv); err != nil {
		return nil, fmt.Errorf("decode service %s: %w", t, err)
	}
	if sv.Links["self"] == "" {
		return nil, fmt.Errorf("service %s has no links.self", t)
	}
	return &sv, nil
}

func (u *v2) get(ctx context.Context, sv *v2Service) (*v2Service, error) {
	var out v2Service
	if err := u.api.call(ctx, "GET", sv.Links["self"], nil, &out); err != nil {
		return nil, fmt.Errorf("GET service: %w", err)
	}
	if out.Links["self"] == "" {
		out.Links = sv.Links
	}
	return &out, nil
}

// action POSTs a service action, after checking the service offers it (the
// actions map holds only what the current state allows). On error it returns
// sv as it was.
func (u *v2) action(ctx context.Context, ref string, sv *v2Service, name string, body any) (*v2Service, error) {
	link := sv.Actions[name]
	if link == "" {
		return sv, fmt.Errorf("action %s is not available in state %s (available: %s)", name, sv.State, actionList(sv.Actions))
	}
	if body == nil {
		body = json.RawMessage("{}")
	}
	var out v2Service
	if err := u.api.call(ctx, "POST", link, body, &out); err != nil {
		return sv, fmt.Errorf("POST %s: %w", name, err)
	}
	if out.Links["self"] == "" {
		out.Links = sv.Links
	}
	u.env.Report("progress").Printf("  %s: %s -> %s\n", ref, name, out.status())
	return &out, nil
}

func actionList(m map[string]string) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// imageOf returns launchConfig.imageUuid.
func imageOf(lc json.RawMessage) string {
	var x struct {
		ImageUUID string `json:"imageUuid"`
	}
	_ = json.Unmarshal(lc, &x)
	return x.ImageUUID
}

func (u *v2) prepare(ctx context.Context, t target) (*step, error) {
	if err := u.scope(ctx); err != nil {
		return nil, err
	}
	sv, err := u.find(ctx, t)
	if err != nil {
		return nil, err
	}
	up, err := buildUpgrade(sv, u.s)
	if err != nil {
		return nil, err
	}
	var secs []named
	_ = json.Unmarshal(sv.SecondaryLaunchConfigs, &secs)
	for _, sec := range secs {
		u.sidekicksSeen[sec.Name] = true
	}
	st := &step{Ref: t.String(), ID: sv.ID, State: sv.State, OldImage: imageOf(sv.LaunchConfig), NewImage: "docker:" + u.s.image}
	st.Lines = append(st.Lines, up.changes...)
	if sv.State == "upgraded" || sv.State == "canceled-upgrade" {
		what := "finish it first"
		if sv.State == "canceled-upgrade" {
			what = "roll it back first"
		}
		if !u.s.FinishPrevious {
			what = "fail (finish_previous is false)"
		}
		st.Lines = append(st.Lines, fmt.Sprintf("previous: left %s by an earlier run: %s", sv.State, what))
	}
	st.Lines = append(st.Lines, "strategy: "+up.strategy)
	st.run = func(ctx context.Context) Outcome { return u.run(ctx, st, sv) }
	return st, nil
}

// upgradePlan is the upgrade body and what it changes.
type upgradePlan struct {
	body       json.RawMessage
	changes    []string
	strategy   string
	startFirst bool
}

// buildUpgrade makes the upgrade action's body from the service's own raw
// launchConfig: only imageUuid, the merged labels and named sidekicks'
// imageUuid change; every other field is sent back as it came.
func buildUpgrade(sv *v2Service, s *job) (*upgradePlan, error) {
	var lc map[string]json.RawMessage
	if err := json.Unmarshal(sv.LaunchConfig, &lc); err != nil || lc == nil {
		return nil, fmt.Errorf("service %s: launchConfig is not a JSON object", sv.Name)
	}
	p := &upgradePlan{startFirst: s.StartFirst}
	lc["imageUuid"], _ = json.Marshal("docker:" + s.image)
	if len(s.labels) > 0 {
		change, err := mergeLabels(sv, lc, s.labels)
		if err != nil {
			return nil, err
		}
		p.changes = append(p.changes, change)
	}
	strategy := map[string]any{"batchSize": s.BatchSize, "intervalMillis": s.intervalMS}
	if len(s.sidekicks) > 0 {
		send, changes, err := upgradeSidekicks(sv, s)
		if err != nil {
			return nil, err
		}
		p.changes = append(p.changes, changes...)
		if len(send) > 0 {
			strategy["secondaryLaunchConfigs"] = send
		}
	}
	if p.startFirst && sv.RetainIP {
		p.startFirst = false
		p.changes = append(p.changes, "warning:  start_first turned off: the service has retainIp (Rancher refuses both)")
	}
	p.changes = append(p.changes, launchWarnings(sv, lc)...)
	strategy["startFirst"] = p.startFirst
	strategy["launchConfig"] = lc
	body, err := json.Marshal(map[string]any{"inServiceStrategy": strategy, "toServiceStrategy": nil})
	if err != nil {
		return nil, fmt.Errorf("encode upgrade: %w", err)
	}
	p.body = body
	p.strategy = strategyLine(s, p.startFirst)
	return p, nil
}

// mergeLabels sets labels in lc's labels and returns the plan's line:
// +key=value for a new label, ~key=old->new for a changed one.
func mergeLabels(sv *v2Service, lc map[string]json.RawMessage, labels []label) (string, error) {
	cur := map[string]json.RawMessage{}
	if raw, ok := lc["labels"]; ok && !isNullJSON(raw) {
		if err := json.Unmarshal(raw, &cur); err != nil {
			return "", fmt.Errorf("service %s: launchConfig.labels is not an object", sv.Name)
		}
	}
	var changed []string
	for _, l := range labels {
		v, _ := json.Marshal(l.Value)
		old, had := cur[l.Key]
		switch {
		case !had:
			changed = append(changed, "+"+l.Key+"="+l.Value)
		case string(old) != string(v):
			var o string
			_ = json.Unmarshal(old, &o)
			changed = append(changed, "~"+l.Key+"="+o+"->"+l.Value)
		}
		cur[l.Key] = v
	}
	lc["labels"], _ = json.Marshal(cur)
	if len(changed) == 0 {
		changed = []string{"(already set)"}
	}
	return "labels:   " + strings.Join(changed, " "), nil
}

// upgradeSidekicks returns the service's secondary launchConfigs named by
// the sidekick setting with their new imageUuid, and the plan's lines. A
// sidekick the service lacks is a settings error with one target service
// (strictSidekicks), a plan line with several.
func upgradeSidekicks(sv *v2Service, s *job) ([]map[string]json.RawMessage, []string, error) {
	var secs []map[string]json.RawMessage
	if !isNullJSON(sv.SecondaryLaunchConfigs) {
		if err := json.Unmarshal(sv.SecondaryLaunchConfigs, &secs); err != nil {
			return nil, nil, fmt.Errorf("service %s: secondaryLaunchConfigs is not an array of objects", sv.Name)
		}
	}
	var send []map[string]json.RawMessage
	var changes []string
	for _, sk := range s.sidekicks {
		found, have := findSidekick(secs, sk.Name)
		if found == nil && !s.strictSidekicks() {
			changes = append(changes, "sidekick: "+sk.Name+" not in this service")
			continue
		}
		if found == nil {
			if len(have) == 0 {
				have = []string{"none"}
			}
			return nil, nil, plugin.Invalid("sidekick", "service %s has no sidekick %q; sidekicks: %s", sv.Name, sk.Name, strings.Join(have, ", "))
		}
		old, _ := json.Marshal(imageOf(mustJSON(found)))
		found["imageUuid"], _ = json.Marshal("docker:" + sk.Image)
		changes = append(changes, fmt.Sprintf("sidekick: %s %s -> docker:%s", sk.Name, strings.Trim(string(old), `"`), sk.Image))
		send = append(send, found)
	}
	return send, changes, nil
}

// findSidekick returns the last secondary launchConfig called name (nil
// when none is) and the names of all of them.
func findSidekick(secs []map[string]json.RawMessage, name string) (map[string]json.RawMessage, []string) {
	var found map[string]json.RawMessage
	var have []string
	for _, sec := range secs {
		var n string
		_ = json.Unmarshal(sec["name"], &n)
		have = append(have, n)
		if n == name {
			found = sec
		}
	}
	return found, have
}

// strategyLine is the plan's strategy line.
func strategyLine(s *job, startFirst bool) string {
	order := "stop old, then start new"
	if startFirst {
		order = "start new first"
	}
	after := "finish (confirm) and wait for active"
	if !s.Confirm {
		after = "leave upgraded (confirm=false)"
	}
	rb := "roll back on failure"
	if !s.Rollback {
		rb = "no rollback"
	}
	return fmt.Sprintf("in-service, batch %d, interval %dms, %s; %s; %s; timeout %s", s.BatchSize, s.intervalMS, order, after, rb, s.rolloutTimeout)
}

// strictSidekicks: with one service a sidekick it lacks is a settings
// error; with several, each sidekick changes the services that have it.
func (s *job) strictSidekicks() bool { return len(s.targets) == 1 }

// launchWarnings are the plan's warnings about the launchConfig to be sent.
func launchWarnings(sv *v2Service, lc map[string]json.RawMessage) []string {
	var out []string
	labels := map[string]string{}
	_ = json.Unmarshal(lc["labels"], &labels)
	if e := labels["traefik.enable"]; e == "true" || e == "stack" {
		if isNullJSON(lc["healthCheck"]) {
			out = append(out, "warning:  traefik.enable is set but the service has no healthCheck: rancher-traefik routes only to healthy containers")
		}
		if labels["traefik.domain"] == "" {
			out = append(out, "warning:  traefik.enable without traefik.domain: rancher-traefik's rule is Host:<service>.<stack> with no domain")
		}
	}
	// Rancher pulls a tag it already has only with pull_image=always.
	if img := imageOf(mustJSON(lc)); img == imageOf(sv.LaunchConfig) && !strings.Contains(img, "@") && labels["io.rancher.container.pull_image"] != "always" {
		out = append(out, "warning:  "+img+" is already the image and hosts keep their copy: set pull_image to fetch a moved tag")
	}
	return out
}

func mustJSON(m map[string]json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(m)
	return b
}

func isNullJSON(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null"
}

// status is the line printed when any of it changes.
func (sv *v2Service) status() string {
	s := fmt.Sprintf("%s (transitioning=%s, health=%s)", sv.State, sv.Transitioning, sv.HealthState)
	if sv.TransitioningMessage != "" {
		s += ": " + sv.TransitioningMessage
	}
	return s
}

// waitCond says whether a wait is over, or failed.
type waitCond func(sv *v2Service) (bool, error)

// reach waits for state (transitioning done); transitioning=error or a
// state outside `through` fails it.
func reach(state string, through ...string) waitCond {
	return func(sv *v2Service) (bool, error) {
		if sv.Transitioning == "error" {
			return false, fmt.Errorf("%s: %s", sv.State, orDefault(sv.TransitioningMessage, "transitioning=error"))
		}
		if sv.State == state && sv.Transitioning != "yes" {
			return true, nil
		}
		if sv.State == state {
			return false, nil
		}
		for _, t := range through {
			if sv.State == t {
				return false, nil
			}
		}
		return false, fmt.Errorf("service went to %s while waiting for %s", sv.State, state)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// wait polls the service until cond says done or fails, or the deadline
// passes (waitFor).
func (u *v2) wait(ctx context.Context, ref string, sv *v2Service, what string, deadline time.Time, cond waitCond) (*v2Service, error) {
	return waitFor(ctx, u.s, u.env, ref, what, deadline, sv, poller[*v2Service]{
		get: u.get, status: (*v2Service).status, done: cond,
	})
}

// stable states need no waiting before an upgrade decision.
func v2Stable() map[string]bool {
	return map[string]bool{"active": true, "inactive": true, "upgraded": true, "canceled-upgrade": true}
}

// preflight brings a service to a state the upgrade can start from:
// waits out transitions, finishes an upgrade left upgraded and rolls back one
// left canceled (finish_previous).
func (u *v2) preflight(ctx context.Context, ref string, sv *v2Service) (*v2Service, error) {
	var err error
	for range 4 {
		switch {
		case sv.State == "active" || sv.State == "inactive":
			return sv, nil
		case sv.State == "activating" && sv.Actions["upgrade"] != "":
			return sv, nil
		case sv.State == "upgraded" || sv.State == "canceled-upgrade":
			if !u.s.FinishPrevious {
				return sv, fmt.Errorf("service is %s from an earlier upgrade: finish or roll it back in Rancher, or set finish_previous", sv.State)
			}
			action, what := "finishupgrade", "finishing"
			if sv.State == "canceled-upgrade" {
				action, what = "rollback", "rolling back"
			}
			u.env.Report("progress").Printf("  %s: %s the upgrade an earlier run left %s (finish_previous)\n", ref, what, sv.State)
			if sv, err = u.action(ctx, ref, sv, action, nil); err != nil {
				return sv, err
			}
			if sv, err = u.wait(ctx, ref, sv, "the previous upgrade to end", time.Now().Add(u.s.rolloutTimeout), reach("active", "finishing-upgrade", "rolling-back")); err != nil {
				return sv, fmt.Errorf("previous upgrade: %w", err)
			}
		case sv.State == "removed" || sv.State == "removing" || sv.State == "purged":
			return sv, fmt.Errorf("service is %s", sv.State)
		default:
			u.env.Report("progress").Printf("  %s: waiting for %s to end before upgrading\n", ref, sv.State)
			sv, err = u.wait(ctx, ref, sv, "a stable state", time.Now().Add(u.s.rolloutTimeout), func(sv *v2Service) (bool, error) {
				if sv.Transitioning == "error" {
					return false, fmt.Errorf("%s: %s", sv.State, orDefault(sv.TransitioningMessage, "transitioning=error"))
				}
				return v2Stable()[sv.State] && sv.Transitioning != "yes", nil
			})
			if err != nil {
				return sv, fmt.Errorf("before upgrading: %w", err)
			}
		}
	}
	return sv, fmt.Errorf("service did not settle (state %s)", sv.State)
}

func (u *v2) run(ctx context.Context, st *step, found *v2Service) Outcome {
	t0 := time.Now()
	fail := func(sv *v2Service, err error) Outcome {
		state := ""
		if sv != nil {
			state = sv.State
		}
		return st.outcome(outcomeFailed, state, err, time.Since(t0))
	}
	sv, err := u.get(ctx, found)
	if err != nil {
		return fail(nil, err)
	}
	if sv, err = u.preflight(ctx, st.Ref, sv); err != nil {
		return fail(sv, err)
	}
	up, err := buildUpgrade(sv, u.s)
	if err != nil {
		return fail(sv, err)
	}
	// The body is not logged, even at debug: launchConfig.environment often holds secrets.
	u.env.Log.Debugf("%s: upgrade body of %d bytes", st.Ref, len(up.body))
	// One timeout covers the whole rollout: upgrade, then finish.
	deadline := time.Now().Add(u.s.rolloutTimeout)
	if sv, err = u.action(ctx, st.Ref, sv, "upgrade", up.body); err != nil {
		return fail(sv, err)
	}
	if sv, err = u.wait(ctx, st.Ref, sv, "upgraded", deadline, reach("upgraded", "upgrading")); err != nil {
		return u.recover(ctx, st, sv, err, t0)
	}
	if !u.s.Confirm {
		u.env.Report("progress").Printf("  %s: left upgraded (confirm=false): finish or roll back in Rancher\n", st.Ref)
		return st.outcome(outcomeUpgraded, sv.State, nil, time.Since(t0))
	}
	if sv, err = u.action(ctx, st.Ref, sv, "finishupgrade", nil); err != nil {
		return u.recover(ctx, st, sv, err, t0)
	}
	if sv, err = u.wait(ctx, st.Ref, sv, "active", deadline, reach("active", "finishing-upgrade")); err != nil {
		return u.recover(ctx, st, sv, err, t0)
	}
	return st.outcome(outcomeFinished, sv.State, nil, time.Since(t0))
}

// recover rolls a failed upgrade back: cancelupgrade while it is still in
// progress, then rollback, then wait for active. cause is the failure.
func (u *v2) recover(ctx context.Context, st *step, sv *v2Service, cause error, t0 time.Time) Outcome {
	state := ""
	if sv != nil {
		state = sv.State
	}
	if !u.s.Rollback {
		return st.outcome(outcomeFailed, state, fmt.Errorf("upgrade failed: %w; not rolled back (rollback=false), service left %s", cause, state), time.Since(t0))
	}
	if ctx.Err() != nil {
		// The build was canceled: stop here rather than start a rollback nobody waits for.
		return st.outcome(outcomeFailed, state, fmt.Errorf("upgrade interrupted: %w; service left %s", cause, state), time.Since(t0))
	}
	u.env.Report("progress").Printf("  %s: upgrade failed (%v); rolling back\n", st.Ref, cause)
	err := u.rollback(ctx, st.Ref, sv)
	if err != nil {
		return st.outcome(outcomeFailed, state, fmt.Errorf("upgrade failed: %w; rollback failed: %w", cause, err), time.Since(t0))
	}
	return st.outcome(outcomeRolledBack, "active", fmt.Errorf("upgrade failed: %w; rolled back to %s", cause, st.OldImage), time.Since(t0))
}

func (u *v2) rollback(ctx context.Context, ref string, sv *v2Service) error {
	if sv == nil {
		return errors.New("service state unknown")
	}
	sv, err := u.get(ctx, sv)
	if err != nil {
		return err
	}
	// Rolling back gets a timeout of its own.
	deadline := time.Now().Add(u.s.rolloutTimeout)
	if sv.Actions["cancelupgrade"] != "" {
		if sv, err = u.action(ctx, ref, sv, "cancelupgrade", nil); err != nil {
			return err
		}
		if sv, err = u.wait(ctx, ref, sv, "canceled-upgrade", deadline, reach("canceled-upgrade", "canceling-upgrade", "upgrading", "finishing-upgrade")); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
	}
	if sv, err = u.action(ctx, ref, sv, "rollback", nil); err != nil {
		return err
	}
	if _, err = u.wait(ctx, ref, sv, "active after rollback", deadline, reach("active", "rolling-back")); err != nil {
		return err
	}
	return nil
}
