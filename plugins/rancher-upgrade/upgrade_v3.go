package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
)

// v3 upgrades Rancher 2.x deployments through the v3 workloads API.
type v3 struct {
	s       *job
	env     *plugin.Env
	api     *apiClient
	root    string // .../v3
	project string
}

// v3Workload is what the plugin reads from a workload; changes are made on
// the raw JSON object so that no field is lost in the PUT.
type v3Workload struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	State                string `json:"state"`
	Transitioning        string `json:"transitioning"`
	TransitioningMessage string `json:"transitioningMessage"`
	Scale                *int   `json:"scale"`
	Containers           []struct {
		Name            string `json:"name"`
		Image           string `json:"image"`
		ImagePullPolicy string `json:"imagePullPolicy"`
	} `json:"containers"`
	DeploymentStatus *struct {
		ObservedGeneration int64 `json:"observedGeneration"`
		Replicas           int   `json:"replicas"`
		UpdatedReplicas    int   `json:"updatedReplicas"`
		AvailableReplicas  int   `json:"availableReplicas"`
		Conditions         []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
	} `json:"deploymentStatus"`
	Links   map[string]string `json:"links"`
	Actions map[string]string `json:"actions"`
}

func newV3(s *job, env *plugin.Env, c *httpx.Client) *v3 {
	auth := "Bearer " + s.token
	env.Redactor.Add(auth)
	return &v3{s: s, env: env, api: &apiClient{http: c, auth: auth}, root: s.endpoint.String(), project: s.projectV3}
}

func (u *v3) describe() string {
	return "Rancher 2.x (v3) project " + u.project + " at " + u.root
}

func (u *v3) checkPlan() error { return nil }

func (u *v3) itemURL(t target) string {
	return u.root + "/project/" + u.project + "/workloads/deployment:" + t.Group + ":" + t.Name
}

// get reads a workload both typed (to decide) and raw (to send back).
func (u *v3) get(ctx context.Context, link string) (*v3Workload, map[string]json.RawMessage, error) {
	var raw json.RawMessage
	if err := u.api.call(ctx, "GET", link, nil, &raw); err != nil {
		return nil, nil, err
	}
	var w v3Workload
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, nil, fmt.Errorf("decode workload: %w", err)
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, nil, fmt.Errorf("decode workload: %w", err)
	}
	return &w, obj, nil
}

func (u *v3) prepare(ctx context.Context, t target) (*step, error) {
	w, _, err := u.get(ctx, u.itemURL(t))
	if isStatus(err, 404) {
		var c v2Collection
		q := url.Values{"namespaceId": {t.Group}}
		if lerr := u.api.call(ctx, "GET", u.root+"/projects/"+u.project+"/workloads?"+q.Encode(), nil, &c); lerr != nil {
			return nil, fmt.Errorf("deployment %s not found (listing the namespace: %w)", t, lerr)
		}
		return nil, fmt.Errorf("deployment %q not found in namespace %s of project %s; workloads: %s", t.Name, t.Group, u.project, strings.Join(names(c.Data), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("GET workload: %w", err)
	}
	i, err := u.container(w)
	if err != nil {
		return nil, err
	}
	st := &step{Ref: t.String(), ID: w.ID, State: w.State, OldImage: w.Containers[i].Image, NewImage: u.s.image}
	st.Lines = append(st.Lines, fmt.Sprintf("container: %s (%d of %d)", w.Containers[i].Name, i+1, len(w.Containers)))
	if len(u.s.labels) > 0 {
		var ls []string
		for _, l := range u.s.labels {
			ls = append(ls, l.Key+"="+l.Value)
		}
		st.Lines = append(st.Lines, "labels:   "+strings.Join(ls, " ")+" (pod template)")
	}
	how := "PUT the workload with the new image"
	if w.Containers[i].Image == u.s.image {
		how = "same image: redeploy action"
	}
	if u.s.PullImage {
		how += ", imagePullPolicy Always"
	}
	rb := "restore the previous image on failure"
	if !u.s.Rollback {
		rb = "no rollback"
	}
	st.Lines = append(st.Lines, fmt.Sprintf("strategy: %s; wait for the Deployment rollout; %s; timeout %s", how, rb, u.s.rolloutTimeout))
	link := w.Links["self"]
	if link == "" {
		link = u.itemURL(t)
	}
	st.run = func(ctx context.Context) Outcome { return u.run(ctx, st, link) }
	return st, nil
}

// container picks the container setting, or the only or first container.
func (u *v3) container(w *v3Workload) (int, error) {
	if len(w.Containers) == 0 {
		return 0, fmt.Errorf("workload %s has no containers", w.Name)
	}
	if u.s.Container == "" {
		if len(w.Containers) > 1 {
			u.env.Log.Warnf("%s has %d containers: changing the first, %s (set container to choose)", w.Name, len(w.Containers), w.Containers[0].Name)
		}
		return 0, nil
	}
	var have []string
	for i, c := range w.Containers {
		if c.Name == u.s.Container {
			return i, nil
		}
		have = append(have, c.Name)
	}
	return 0, plugin.Invalid("container", "%q is not a container of %s; containers: %s", u.s.Container, w.Name, strings.Join(have, ", "))
}

func (w *v3Workload) observed() int64 {
	if w.DeploymentStatus == nil {
		return 0
	}
	return w.DeploymentStatus.ObservedGeneration
}

func (w *v3Workload) status() string {
	s := fmt.Sprintf("%s (transitioning=%s", w.State, w.Transitioning)
	if d := w.DeploymentStatus; d != nil {
		s += fmt.Sprintf(", generation %d, replicas %d, updated %d, available %d", d.ObservedGeneration, d.Replicas, d.UpdatedReplicas, d.AvailableReplicas)
	}
	s += ")"
	if w.TransitioningMessage != "" {
		s += ": " + w.TransitioningMessage
	}
	return s
}

// rolledOut is kubectl's rollout check on what v3 exposes: the change is
// observed (observedGeneration past the one before it), updated, available
// and desired replicas agree, and Rancher says active. A Progressing
// condition with ProgressDeadlineExceeded fails it.
func rolledOut(before int64) func(w *v3Workload) (bool, error) {
	return func(w *v3Workload) (bool, error) {
		d := w.DeploymentStatus
		if d != nil {
			for _, c := range d.Conditions {
				if c.Type == "Progressing" && c.Reason == "ProgressDeadlineExceeded" {
					return false, fmt.Errorf("rollout failed: %s", orDefault(c.Message, c.Reason))
				}
			}
		}
		if w.Transitioning == "error" {
			return false, fmt.Errorf("rollout failed: %s", orDefault(w.TransitioningMessage, "transitioning=error"))
		}
		if d == nil || d.ObservedGeneration <= before {
			return false, nil
		}
		desired := 1
		if w.Scale != nil {
			desired = *w.Scale
		}
		if d.UpdatedReplicas < desired || d.Replicas > d.UpdatedReplicas || d.AvailableReplicas < d.UpdatedReplicas {
			return false, nil
		}
		return w.State == "active" && w.Transitioning != "yes", nil
	}
}

func (u *v3) wait(ctx context.Context, ref, link string, w *v3Workload, what string, cond func(*v3Workload) (bool, error)) (*v3Workload, error) {
	get := func(ctx context.Context, _ *v3Workload) (*v3Workload, error) {
		next, _, err := u.get(ctx, link)
		if err != nil {
			return nil, fmt.Errorf("GET workload: %w", err)
		}
		return next, nil
	}
	return waitFor(ctx, u.s, u.env, ref, what, time.Now().Add(u.s.rolloutTimeout), w, poller[*v3Workload]{
		get: get, status: (*v3Workload).status, done: cond,
	})
}

// setImage PUTs the workload back with container i's image (and pull
// policy) changed and labels merged; every other field is sent as it came.
func (u *v3) setImage(ctx context.Context, link string, obj map[string]json.RawMessage, idx int, image, pull string, labels []label) (*v3Workload, error) {
	var cs []map[string]json.RawMessage
	if err := json.Unmarshal(obj["containers"], &cs); err != nil || idx >= len(cs) {
		return nil, fmt.Errorf("workload containers: not an array of objects")
	}
	cs[idx]["image"], _ = json.Marshal(image)
	switch pull {
	case "":
	case "-":
		delete(cs[idx], "imagePullPolicy")
	default:
		cs[idx]["imagePullPolicy"], _ = json.Marshal(pull)
	}
	obj["containers"], _ = json.Marshal(cs)
	if len(labels) > 0 {
		cur := map[string]json.RawMessage{}
		if !isNullJSON(obj["labels"]) {
			if err := json.Unmarshal(obj["labels"], &cur); err != nil {
				return nil, fmt.Errorf("workload labels: not an object")
			}
		}
		for _, l := range labels {
			cur[l.Key], _ = json.Marshal(l.Value)
		}
		obj["labels"], _ = json.Marshal(cur)
	}
	delete(obj, "actions")
	delete(obj, "links")
	var w v3Workload
	if err := u.api.call(ctx, "PUT", link, obj, &w); err != nil {
		return nil, fmt.Errorf("PUT workload: %w", err)
	}
	return &w, nil
}

func (u *v3) run(ctx context.Context, st *step, link string) Outcome {
	t0 := time.Now()
	fail := func(state string, err error) Outcome { return st.outcome(outcomeFailed, state, err, time.Since(t0)) }
	w, obj, err := u.get(ctx, link)
	if err != nil {
		return fail("", fmt.Errorf("GET workload: %w", err))
	}
	if w.Transitioning == "yes" {
		u.env.Report("progress").Printf("  %s: waiting for the rollout in progress to end\n", st.Ref)
		w, err = u.wait(ctx, st.Ref, link, w, "the previous rollout", func(w *v3Workload) (bool, error) { return w.Transitioning != "yes", nil })
		if err != nil {
			return fail(w.State, fmt.Errorf("before upgrading: %w", err))
		}
		if w, obj, err = u.get(ctx, link); err != nil {
			return fail("", fmt.Errorf("GET workload: %w", err))
		}
	}
	idx, err := u.container(w)
	if err != nil {
		return fail(w.State, err)
	}
	old := w.Containers[idx]
	before := w.observed()
	pull := ""
	if u.s.PullImage {
		pull = "Always"
	}
	if old.Image == u.s.image && (pull == "" || old.ImagePullPolicy == pull) && len(u.s.labels) == 0 {
		// Nothing in the pod template changes: only redeploy starts a rollout.
		u.env.Report("progress").Printf("  %s: %s is already the image: redeploy\n", st.Ref, old.Image)
		link := w.Actions["redeploy"]
		if link == "" {
			return fail(w.State, fmt.Errorf("action redeploy is not available (available: %s)", actionList(w.Actions)))
		}
		var out v3Workload
		if err := u.api.call(ctx, "POST", link, json.RawMessage("{}"), &out); err != nil {
			return fail(w.State, fmt.Errorf("POST redeploy: %w", err))
		}
	} else {
		u.env.Report("progress").Printf("  %s: set image %s -> %s\n", st.Ref, old.Image, u.s.image)
		if w, err = u.setImage(ctx, link, obj, idx, u.s.image, pull, u.s.labels); err != nil {
			return fail("", err)
		}
	}
	w, err = u.wait(ctx, st.Ref, link, w, "the rollout", rolledOut(before))
	if err == nil {
		return st.outcome(outcomeFinished, w.State, nil, time.Since(t0))
	}
	if !u.s.Rollback {
		return fail(w.State, fmt.Errorf("upgrade failed: %w; not rolled back (rollback=false)", err))
	}
	if ctx.Err() != nil {
		return fail(w.State, fmt.Errorf("upgrade interrupted: %w; workload left as it is", err))
	}
	u.env.Report("progress").Printf("  %s: upgrade failed (%v); restoring %s\n", st.Ref, err, old.Image)
	if rerr := u.restore(ctx, st.Ref, link, idx, old.Image, old.ImagePullPolicy); rerr != nil {
		return fail(w.State, fmt.Errorf("upgrade failed: %w; restoring %s failed: %w", err, old.Image, rerr))
	}
	return st.outcome(outcomeRolledBack, "active", fmt.Errorf("upgrade failed: %w; restored %s", err, old.Image), time.Since(t0))
}

func (u *v3) restore(ctx context.Context, ref, link string, idx int, image, pull string) error {
	w, obj, err := u.get(ctx, link)
	if err != nil {
		return fmt.Errorf("GET workload: %w", err)
	}
	before := w.observed()
	if pull == "" {
		pull = "-"
	}
	if w, err = u.setImage(ctx, link, obj, idx, image, pull, nil); err != nil {
		return err
	}
	_, err = u.wait(ctx, ref, link, w, "the restore rollout", rolledOut(before))
	return err
}
