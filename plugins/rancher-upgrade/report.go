package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/report"
	"github.com/lightship-ci/lightship/pkg/result"
)

// backend is one Rancher API: it turns a target into a planned step.
type backend interface {
	// describe names the API and endpoint for the plan's heading.
	describe() string
	// prepare looks the target up and plans its upgrade (no change yet).
	prepare(ctx context.Context, t target) (*step, error)
	// checkPlan checks the plan as a whole, before anything changes.
	checkPlan() error
}

// step is the plan for one service and the function that carries it out.
type step struct {
	Ref      string
	ID       string
	State    string
	OldImage string
	NewImage string
	// Lines are the plan's details: labels, sidekicks, strategy.
	Lines []string
	run   func(ctx context.Context) Outcome
}

// Outcomes of one service.
const (
	outcomeFinished   = "finished"
	outcomeUpgraded   = "upgraded"
	outcomeRolledBack = "rolled-back"
	outcomeFailed     = "failed"
	outcomeSkipped    = "skipped"
)

// Outcome is one service's line in the result file.
type Outcome struct {
	Service  string  `json:"service"`
	ID       string  `json:"id,omitempty"`
	OldImage string  `json:"old_image"`
	NewImage string  `json:"new_image"`
	Outcome  string  `json:"outcome"`
	State    string  `json:"state,omitempty"`
	Error    string  `json:"error,omitempty"`
	Seconds  float64 `json:"seconds"`
	err      error
}

func (st *step) outcome(what, state string, err error, d time.Duration) Outcome {
	return Outcome{Service: st.Ref, ID: st.ID, OldImage: st.OldImage, NewImage: st.NewImage,
		Outcome: what, State: state, err: err, Seconds: d.Seconds()}
}

// Report is .lightship/rancher-upgrade.json.
type Report struct {
	API      string    `json:"api"`
	URL      string    `json:"url"`
	Image    string    `json:"image"`
	Services []Outcome `json:"services"`
	Seconds  float64   `json:"seconds"`
}

func printPlan(env *plugin.Env, heading string, steps []*step) {
	w := env.Report("plan")
	w.Printf("Plan: %s\n", heading)
	for i, st := range steps {
		w.Printf("  %d. %s (%s, %s)\n", i+1, st.Ref, st.ID, st.State)
		w.Printf("     image:    %s -> %s\n", st.OldImage, st.NewImage)
		for _, l := range st.Lines {
			w.Printf("     %s\n", l)
		}
	}
}

func printSummary(env *plugin.Env, r Report) {
	t := report.Table{Title: "Summary:", Indent: "  ",
		Columns: []string{"SERVICE", "OUTCOME", "STATE", "TIME", "TARGET IMAGE"},
		Keys:    []string{"service", "outcome", "state", "duration", "target_image"}}
	for _, o := range r.Services {
		t.Row(o.Service, o.Outcome, dash(o.State), fmt.Sprintf("%.1fs", o.Seconds), o.NewImage)
	}
	w := env.Report("summary")
	w.Table(&t)
	for _, o := range r.Services {
		if o.Error != "" {
			w.Printf("  %s: %s\n", o.Service, o.Error)
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// finish prints the summary and writes the result file and card; it
// returns failed (the run's failure) or else the write's error.
func finish(env *plugin.Env, r Report, failed error) error {
	printSummary(env, r)
	if err := writeReport(env, r); err != nil {
		if failed == nil {
			return err
		}
		env.Log.Warn(err.Error())
	}
	return failed
}

func writeReport(env *plugin.Env, r Report) error {
	if err := env.WriteResult(r); err != nil {
		return err
	}
	var facts []any
	for _, o := range r.Services {
		facts = append(facts, map[string]any{"title": o.Service, "value": o.Outcome + " " + o.NewImage})
	}
	return result.WriteCard(env.Build.CardPath, env.Stdout, result.Card{
		Schema: "https://adaptivecards.io/schemas/adaptive-card.json",
		Data: map[string]any{
			"type": "AdaptiveCard", "version": "1.5",
			"body": []any{map[string]any{"type": "FactSet", "facts": facts}},
		},
	})
}
