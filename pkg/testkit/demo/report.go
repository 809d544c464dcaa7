package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// report prints what each simulator saw, and fails when one saw nothing.
func (r *run) report(ctx context.Context) error {
	r.say("pipeline done")
	fmt.Fprintln(r.out, "\n======== what the simulators saw ========")
	var built result.Build
	if err := result.Read(r.workspace, "docker-build", &built); err != nil {
		return errors.Join(fmt.Errorf("docker-build left no result: %w", err), r.reportRancher(), r.reportWeCom())
	}
	return errors.Join(r.reportRegistry(ctx, built), r.reportBuildKit(ctx), r.reportSecret(ctx, built.Digest),
		r.reportRancher(), r.reportKube(built.Digest), r.reportWeCom(), r.reportLogs(ctx))
}

func (r *run) reportRegistry(ctx context.Context, built result.Build) error {
	reg := r.sandbox.harbor.Registry
	tags, err := reg.Tags(ctx, "demo/web")
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	sort.Strings(tags)
	fmt.Fprintf(r.out, "\n[Harbor registry] %s/demo/web\n", r.sandbox.harbor.Host)
	for _, t := range tags {
		d, err := reg.Resolve(ctx, "demo/web", t)
		if err != nil {
			return fmt.Errorf("registry: resolve %s: %w", t, err)
		}
		fmt.Fprintf(r.out, "  tag %-10s -> %s\n", t, d)
		if d != built.Digest {
			return fmt.Errorf("registry: tag %s is %s, docker-build reported %s", t, d, built.Digest)
		}
	}
	if len(tags) == 0 {
		return errors.New("registry: no tag of demo/web was pushed")
	}
	return nil
}

func (r *run) reportRancher() error {
	st, err := r.sandbox.rancher.ServiceStatus("demo", "web")
	if err != nil {
		return fmt.Errorf("rancher: %w", err)
	}
	fmt.Fprintf(r.out, "\n[Rancher] service demo/web: state %s, health %s\n  image %s\n", st.State, st.HealthState, st.Image)
	keys := make([]string, 0, len(st.Labels))
	for k := range st.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(r.out, "  label %s=%s\n", k, st.Labels[k])
	}
	var lc map[string]json.RawMessage
	if err := json.Unmarshal(st.LaunchConfig, &lc); err != nil {
		return fmt.Errorf("rancher: launchConfig: %w", err)
	}
	if _, ok := lc["secrets"]; !ok {
		return errors.New("rancher: the upgrade lost launchConfig.secrets")
	}
	if st.State != "active" || !strings.Contains(st.Image, r.sandbox.harbor.Host+"/demo/web@sha256:") {
		return fmt.Errorf("rancher: demo/web is %s with %s, want active with the pushed digest", st.State, st.Image)
	}
	return nil
}

func (r *run) reportWeCom() error {
	msgs := r.sandbox.wecom.Messages()
	if len(msgs) == 0 {
		return errors.New("wecom: no message arrived")
	}
	fmt.Fprintf(r.out, "\n[WeCom] what the team reads:\n")
	for _, line := range strings.Split(wecom.Render(msgs[len(msgs)-1]), "\n") {
		fmt.Fprintf(r.out, "  │ %s\n", line)
	}
	if v := r.sandbox.wecom.Violations(); len(v) > 0 {
		return fmt.Errorf("wecom: requests the real server would refuse: %v", v)
	}
	return nil
}

func (r *run) reportLogs(ctx context.Context) error {
	ref, id, err := r.app.result()
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "\n[Docker] running %s as container %.12s\n", ref, id)
	defer r.say("log events checked")
	arrived := waitFor(ctx, 30*time.Second, func() bool {
		return r.sandbox.json.Count() >= 3 && r.sandbox.beats.Count() >= 3 && r.traceArrived()
	})
	lines := r.sandbox.json.Lines()
	fmt.Fprintf(r.out, "\n[ELK] %d events at the Logstash JSON sink, %d at the lumberjack sink; the first:\n",
		len(lines), r.sandbox.beats.Count())
	for i, l := range lines {
		if i == 3 {
			break
		}
		fmt.Fprintf(r.out, "  %s\n", l)
	}
	var errs []error
	if !arrived {
		errs = append(errs, errors.New("logs: the app's lines did not reach both sinks within 30s"))
	}
	errs = append(errs, r.reportTrace(), r.reportSource(ctx, id))
	return errors.Join(errs...)
}

// checkNoSecrets fails when any step printed a credential of the sandbox.
func (r *run) checkNoSecrets() error {
	out := r.log.String()
	for _, s := range r.creds.values() {
		if strings.Contains(out, s) {
			return errors.New("a secret appeared in a step's output")
		}
	}
	fmt.Fprintln(r.out, "\n[secrets] no password, secret key or corp secret appeared in any step's output")
	return nil
}
