package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/report"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// kubeRollout is one workload's plan and its state while it runs.
type kubeRollout struct {
	j       *kubeJob
	env     *plugin.Env
	c       *kubeClients
	out     *report.Writer // the rollouts' lines, one at a time
	ref     workloadRef
	obj     kobject // as last read
	old     corev1.PodTemplateSpec
	changes []containerChange
	patch   []byte
	changed bool // the patch was accepted
	step    *step
	start   time.Time
}

// Execute plans every workload, prints the plan (and, for dry_run, the
// patches, then stops), patches them all, waits for them together, and
// rolls every changed workload back when one fails.
func (j *kubeJob) Execute(ctx context.Context, env *plugin.Env) error {
	start := time.Now()
	ctx = withKubeLog(ctx, env)
	cfg, err := j.restConfig(ctx, env)
	if err != nil {
		return err
	}
	c, err := newKubeClients(cfg)
	if err != nil {
		return err
	}
	out := env.Report("progress")
	rs := make([]*kubeRollout, 0, len(j.workloads))
	for _, ref := range j.workloads {
		r := &kubeRollout{j: j, env: env, c: c, out: out, ref: ref}
		if err := r.plan(ctx); err != nil {
			return err
		}
		rs = append(rs, r)
	}
	steps := make([]*step, len(rs))
	for i, r := range rs {
		steps[i] = r.step
	}
	printPlan(env, fmt.Sprintf("%s, namespace %s", j.conn.via, j.namespace), steps)
	if j.Kube.DryRun {
		for _, r := range rs {
			out.Block(fmt.Sprintf("dry run: PATCH %s %s/%s (application/strategic-merge-patch+json):", cfg.Host, r.ref.Resource, r.ref.Name), string(r.patch))
		}
		out.Printf("dry run: nothing was sent\n")
		return nil
	}
	outcomes, failed := j.runAll(ctx, env, rs)
	return finish(env, Report{API: "kubernetes", URL: cfg.Host, Image: j.image, Services: outcomes, Seconds: time.Since(start).Seconds()}, failed)
}

// runAll patches and waits for every workload at once; the first failure
// stops the others' waits, and every workload the step changed is restored.
func (j *kubeJob) runAll(ctx context.Context, env *plugin.Env, rs []*kubeRollout) ([]Outcome, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.start = time.Now()
			if errs[i] = r.apply(wctx); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var failed error
	for i, err := range errs {
		if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() == nil) {
			failed = fmt.Errorf("%s: %w", rs[i].ref, err)
			break
		}
	}
	outcomes := make([]Outcome, len(rs))
	for i, r := range rs {
		outcomes[i] = r.step.outcome(outcomeFinished, "rolled out", nil, time.Since(r.start))
	}
	if failed == nil {
		return outcomes, nil
	}
	var rwg sync.WaitGroup
	for i, r := range rs {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			outcomes[i] = r.finishFailed(ctx, errs[i], failed)
		}()
	}
	rwg.Wait()
	for i := range outcomes {
		if outcomes[i].err != nil {
			outcomes[i].Error = env.Redactor.Scrub(outcomes[i].err.Error())
		}
	}
	return outcomes, failed
}

// finishFailed restores a changed workload (unless rollback is false) and
// returns its outcome; err is its own failure, failed the step's.
func (r *kubeRollout) finishFailed(ctx context.Context, err, failed error) Outcome {
	why := err
	if why == nil || errors.Is(why, context.Canceled) {
		why = fmt.Errorf("stopped: %w", failed)
	}
	switch {
	case !r.changed:
		return r.step.outcome(outcomeSkipped, "not changed", why, time.Since(r.start))
	case !r.j.Rollback:
		return r.step.outcome(outcomeFailed, "left as it is (rollback=false)", why, time.Since(r.start))
	case ctx.Err() != nil:
		return r.step.outcome(outcomeFailed, "interrupted", why, time.Since(r.start))
	}
	r.out.Printf("  %s: rolling back to the previous pod template (%s)\n", r.ref, why)
	if rerr := r.restore(ctx); rerr != nil {
		return r.step.outcome(outcomeFailed, "rollback failed", fmt.Errorf("%w; rolling back failed: %w", why, rerr), time.Since(r.start))
	}
	return r.step.outcome(outcomeRolledBack, "previous template", fmt.Errorf("%w; rolled back", why), time.Since(r.start))
}

// plan reads the workload and prepares its patch.
func (r *kubeRollout) plan(ctx context.Context) error {
	o, err := r.c.getWorkload(ctx, r.j.namespace, r.ref, r.j.reqTimeout)
	if apierrors.IsNotFound(err) {
		return plugin.Invalid("workloads", "%s not found in namespace %s", r.ref, r.j.namespace)
	}
	if err != nil {
		return fmt.Errorf("%s: read: %w", r.ref, err)
	}
	if _, _, err := rolloutStatus(o); err != nil && !strings.Contains(err.Error(), "progress deadline") {
		return fmt.Errorf("%s: %w", r.ref, err)
	}
	if err := r.prepare(o); err != nil {
		return err
	}
	r.step = &step{Ref: r.ref.String(), ID: "namespace " + r.j.namespace, State: fmt.Sprintf("generation %d", o.GetGeneration())}
	var olds []string
	for _, c := range r.changes {
		olds = append(olds, c.Old)
		kind := "container"
		if c.Init {
			kind = "init container"
		}
		r.step.Lines = append(r.step.Lines, fmt.Sprintf("%s %s: %s -> %s", kind, c.Name, c.Old, c.New))
	}
	r.step.OldImage, r.step.NewImage = strings.Join(dedupe(olds), ","), r.j.image
	if len(r.j.labels) > 0 {
		var ls []string
		for _, l := range r.j.labels {
			ls = append(ls, l.Key+"="+l.Value)
		}
		r.step.Lines = append(r.step.Lines, "labels:   "+strings.Join(ls, " ")+" (pod template)")
	}
	rb := "restore the previous pod template on failure"
	if !r.j.Rollback {
		rb = "no rollback"
	}
	r.step.Lines = append(r.step.Lines, fmt.Sprintf("strategy: one strategic merge patch; wait as kubectl rollout status; %s; timeout %s", rb, r.j.rolloutTimeout))
	return nil
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// prepare chooses the containers of o and builds the patch from it.
func (r *kubeRollout) prepare(o kobject) error {
	t := podTemplate(o)
	changes, have := pickContainers(t, r.j.containers, r.j.image)
	if len(changes) == 0 {
		if len(r.j.containers) > 0 {
			return plugin.Invalid("container", "%s has no container named %s (containers: %s)", r.ref, strings.Join(r.j.containers, ", "), strings.Join(have, ", "))
		}
		return plugin.Invalid("container", "no container of %s runs %s, the new image's repository (containers: %s); set container to choose", r.ref, repository(r.j.image), strings.Join(have, ", "))
	}
	r.obj, r.old, r.changes = o, *t.DeepCopy(), changes
	r.patch = setImagePatch(o.GetResourceVersion(), changes, r.j.labels, r.j.PullImage, r.j.changeCause(r.env, "deploy "+r.j.image))
	return nil
}

// changeCause is the kubernetes.io/change-cause annotation: what, and the
// build that did it (link and commit).
func (j *kubeJob) changeCause(env *plugin.Env, what string) string {
	b := env.Build
	parts := []string{"lightship rancher-upgrade: " + what}
	if b.Build.Number > 0 {
		parts = append(parts, fmt.Sprintf("build #%d", b.Build.Number))
	}
	if b.Build.Link != "" {
		parts = append(parts, b.Build.Link)
	}
	if b.Commit.SHA != "" {
		parts = append(parts, "commit "+b.Commit.SHA)
	}
	return strings.Join(parts, ", ")
}

// apply sends the patch (re-reading and retrying on 409) and waits.
func (r *kubeRollout) apply(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		o, err := r.c.patchWorkload(ctx, r.j.namespace, r.ref, types.StrategicMergePatchType, r.patch, r.j.reqTimeout)
		if err == nil {
			r.obj, r.changed = o, true
			break
		}
		if !apierrors.IsConflict(err) || attempt == 5 {
			return fmt.Errorf("patch: %w", err)
		}
		r.out.Printf("  %s: changed by someone else since it was read (409): reading it again\n", r.ref)
		cur, gerr := r.c.getWorkload(ctx, r.j.namespace, r.ref, r.j.reqTimeout)
		if gerr != nil {
			return fmt.Errorf("read after a conflict: %w", gerr)
		}
		if err := r.prepare(cur); err != nil {
			return err
		}
	}
	r.out.Printf("  %s: patched, generation %d\n", r.ref, r.obj.GetGeneration())
	return r.wait(ctx, r.changes)
}

// restore puts the previous pod template back and waits for that rollout.
// A StatefulSet does not replace a pod that never became ready (its
// documented forced rollback): those pods of the failed revision are
// deleted once the template is restored.
func (r *kubeRollout) restore(ctx context.Context) error {
	failedRev := ""
	if ss, ok := r.obj.(*appsv1.StatefulSet); ok {
		failedRev = ss.Status.UpdateRevision
		if cur, err := r.c.getWorkload(ctx, r.j.namespace, r.ref, r.j.reqTimeout); err == nil {
			failedRev = cur.(*appsv1.StatefulSet).Status.UpdateRevision
		}
	}
	o, err := r.c.patchWorkload(ctx, r.j.namespace, r.ref, types.JSONPatchType, restorePatch(&r.old, r.j.changeCause(r.env, "roll back "+r.j.image)), r.j.reqTimeout)
	if err != nil {
		return fmt.Errorf("patch: %w", err)
	}
	r.obj = o
	if failedRev != "" {
		if err := r.deleteFailedPods(ctx, failedRev); err != nil {
			return err
		}
	}
	back := make([]containerChange, len(r.changes))
	for i, c := range r.changes {
		back[i] = containerChange{Name: c.Name, Init: c.Init, Old: c.New, New: c.Old}
	}
	return r.wait(ctx, back)
}

func (r *kubeRollout) deleteFailedPods(ctx context.Context, rev string) error {
	pods, err := r.c.listPods(ctx, r.j.namespace, podSelector(r.obj), r.j.reqTimeout)
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.Labels["controller-revision-hash"] == rev && !podIsReady(&p) {
			r.out.Printf("  %s: deleting pod %s of the failed revision (StatefulSet forced rollback)\n", r.ref, p.Name)
			if err := r.c.deletePod(ctx, r.j.namespace, p.Name, r.j.reqTimeout); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

func podIsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// errPod is a pod of the new template that cannot become ready.
type errPod struct{ msg string }

func (e *errPod) Error() string { return e.msg }

// wait follows the rollout until kubectl would call it complete: through
// watches of the workload and of its pods, or, where the API does not
// watch, by reading both every poll_interval.
func (r *kubeRollout) wait(ctx context.Context, changes []containerChange) error {
	ctx, cancel := context.WithTimeout(ctx, r.j.rolloutTimeout)
	defer cancel()
	last := ""
	t0 := time.Now()
	judge := func(o kobject) (bool, error) {
		r.obj = o
		msg, done, err := rolloutStatus(o)
		if err != nil {
			return false, err
		}
		if msg != last {
			r.out.Printf("  %s: %s [%.1fs]\n", r.ref, msg, time.Since(t0).Seconds())
			last = msg
		}
		return done, nil
	}
	timeout := func(err error) error {
		if errors.Is(err, context.DeadlineExceeded) {
			return &errTimeout{what: "the rollout", after: r.j.rolloutTimeout, last: last}
		}
		return err
	}
	if done, err := judge(r.obj); done || err != nil {
		return err
	}
	err := r.watch(ctx, changes, judge)
	if nw := (errNoWatch{}); errors.As(err, &nw) {
		r.env.Log.Debugf("%s: the API does not watch here: polling every %s", r.ref, r.j.poll)
		err = r.poll(ctx, changes, judge)
	}
	return timeout(err)
}

// errNoWatch: the API refused the watch; the wait polls instead.
type errNoWatch struct{}

func (errNoWatch) Error() string { return "watch not available" }

// watch follows both watches; a watch the server ends is opened again
// from where it stopped.
func (r *kubeRollout) watch(ctx context.Context, changes []containerChange, judge func(kobject) (bool, error)) error {
	w, err := r.openWatches(ctx)
	if err != nil {
		return err
	}
	defer w.stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.workload.ResultChan():
			if done, err := r.workloadEvent(ctx, w, ev, ok, judge); done || err != nil {
				return err
			}
		case ev, ok := <-w.pods.ResultChan():
			if err := r.podEvent(ctx, w, ev, ok, changes); err != nil {
				return err
			}
		}
	}
}

// rolloutWatches are the workload's and its pods' watches, each replaced
// when the server ends it.
type rolloutWatches struct {
	workload, pods watch.Interface
}

func (w *rolloutWatches) stop() {
	w.pods.Stop()
	w.workload.Stop()
}

// watchSeconds is the timeoutSeconds asked of a watch: until ctx's
// deadline (at least 1), 300 without one.
func watchSeconds(ctx context.Context) int64 {
	if dl, ok := ctx.Deadline(); ok {
		return max(1, int64(time.Until(dl).Seconds())+1)
	}
	return 300
}

// openWatches watches the workload from the version read and its pods;
// errNoWatch when the API refuses either (ctx's error once it is done).
func (r *kubeRollout) openWatches(ctx context.Context) (*rolloutWatches, error) {
	ww, err := r.c.watchWorkload(ctx, r.j.namespace, r.ref, r.obj.GetResourceVersion(), watchSeconds(ctx))
	if err != nil {
		return nil, noWatch(ctx)
	}
	pw, err := r.c.watchPods(ctx, r.j.namespace, podSelector(r.obj), watchSeconds(ctx))
	if err != nil {
		ww.Stop()
		return nil, noWatch(ctx)
	}
	return &rolloutWatches{workload: ww, pods: pw}, nil
}

func noWatch(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errNoWatch{}
}

// workloadEvent judges the workload an event carries; a deleted workload
// fails the rollout, an ended or broken watch is opened again.
func (r *kubeRollout) workloadEvent(ctx context.Context, w *rolloutWatches, ev watch.Event, open bool, judge func(kobject) (bool, error)) (bool, error) {
	if !open || ev.Type == watch.Error {
		var done bool
		var err error
		w.workload, done, err = r.rewatchWorkload(ctx, w.workload, ev.Type == watch.Error, judge, watchSeconds(ctx))
		return done, err
	}
	if ev.Type == watch.Deleted {
		return false, fmt.Errorf("%s was deleted during the rollout", r.ref)
	}
	if o, ok := ev.Object.(kobject); ok {
		return judge(o)
	}
	return false, nil
}

// podEvent names a pod of the rollout that cannot start (errPod); an ended
// or broken watch is opened again.
func (r *kubeRollout) podEvent(ctx context.Context, w *rolloutWatches, ev watch.Event, open bool, changes []containerChange) error {
	if !open || ev.Type == watch.Error {
		var err error
		w.pods, err = r.rewatchPods(ctx, w.pods, ev.Type == watch.Error, watchSeconds(ctx))
		return err
	}
	if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
		if msg := podProblem(p, changes); msg != "" {
			return &errPod{msg: msg}
		}
	}
	return nil
}

// mustStatusJSON is the workload's status, to see whether it moved.
func mustStatusJSON(o kobject) string {
	var st any
	switch w := o.(type) {
	case *appsv1.Deployment:
		st = w.Status
	case *appsv1.StatefulSet:
		st = w.Status
	case *appsv1.DaemonSet:
		st = w.Status
	}
	b, _ := json.Marshal(st)
	return string(b)
}

// rewatchWorkload follows a watch the server ended (its timeout) or broke
// (410 Gone: the resourceVersion is too old): after a pause on errors, it
// reads the workload afresh, judges it, and watches from there.
func (r *kubeRollout) rewatchWorkload(ctx context.Context, old watch.Interface, broken bool, judge func(kobject) (bool, error), secs int64) (watch.Interface, bool, error) {
	old.Stop()
	if broken {
		if err := backoff.Sleep(ctx, r.j.poll); err != nil {
			return old, false, err
		}
	}
	o, err := r.c.getWorkload(ctx, r.j.namespace, r.ref, r.j.reqTimeout)
	if err != nil {
		return old, false, r.rewatchFailed(ctx, err)
	}
	if done, err := judge(o); done || err != nil {
		return old, done, err
	}
	w, err := r.c.watchWorkload(ctx, r.j.namespace, r.ref, o.GetResourceVersion(), secs)
	if err != nil {
		return old, false, r.rewatchFailed(ctx, err)
	}
	return w, false, nil
}

// rewatchPods opens the pods' watch again (its first events are the pods
// as they are now).
func (r *kubeRollout) rewatchPods(ctx context.Context, old watch.Interface, broken bool, secs int64) (watch.Interface, error) {
	old.Stop()
	if broken {
		if err := backoff.Sleep(ctx, r.j.poll); err != nil {
			return old, err
		}
	}
	w, err := r.c.watchPods(ctx, r.j.namespace, podSelector(r.obj), secs)
	if err != nil {
		return old, r.rewatchFailed(ctx, err)
	}
	return w, nil
}

func (r *kubeRollout) rewatchFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.env.Log.Debugf("%s: watch again: %v", r.ref, err)
	return errNoWatch{}
}

// poll reads the workload every poll_interval (one request per interval
// while the rollout moves); once its status has not changed for three
// reads, it also reads the pods every fifth interval, to name a pod that
// cannot start.
func (r *kubeRollout) poll(ctx context.Context, changes []containerChange, judge func(kobject) (bool, error)) error {
	tick := time.NewTicker(r.j.poll)
	defer tick.Stop()
	lastStatus, same := "", 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		o, err := r.c.getWorkload(ctx, r.j.namespace, r.ref, r.j.reqTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.env.Log.Warnf("%s: read failed, trying again: %v", r.ref, err)
			continue
		}
		if done, err := judge(o); done || err != nil {
			return err
		}
		if st := mustStatusJSON(o); st != lastStatus {
			lastStatus, same = st, 0
			continue
		}
		if same++; same < 3 || same%5 != 3 {
			continue
		}
		pods, err := r.c.listPods(ctx, r.j.namespace, podSelector(o), r.j.reqTimeout)
		if err != nil {
			continue
		}
		for i := range pods.Items {
			if msg := podProblem(&pods.Items[i], changes); msg != "" {
				return &errPod{msg: msg}
			}
		}
	}
}
