package main

import (
	"slices"
	"strings"

	"github.com/lightship-ci/lightship/pkg/drone"
)

// normalStatus maps the CI's words to success or failure ("" if unknown).
func normalStatus(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "success", "succeeded", "passed", "passing", "ok":
		return "success"
	case "failure", "failed", "failing", "error", "errored", "killed":
		return "failure"
	}
	return ""
}

// buildStatus decides what to report: the status setting wins; otherwise
// any sign of failure the runner gives (the build, the stage, the failed
// steps or stages) makes it a failure. DRONE_BUILD_STATUS alone is a
// snapshot that says success while this stage is already failing.
func buildStatus(setting string, m drone.Metadata) string {
	if setting != "" {
		return setting
	}
	if normalStatus(m.Build.Status) == "failure" || normalStatus(m.Stage.Status) == "failure" ||
		len(m.Build.FailedSteps) > 0 || len(m.Build.FailedStages) > 0 {
		return "failure"
	}
	return "success"
}

// previousStatus is the last build's status where the CI says it
// (Drone 0.8, Woodpecker); "" when unknown.
func previousStatus(lookup func(string) (string, bool)) string {
	for _, n := range []string{"DRONE_PREV_BUILD_STATUS", "CI_PREV_PIPELINE_STATUS", "CI_PREV_BUILD_STATUS"} {
		if v, ok := lookup(n); ok && v != "" {
			return normalStatus(v)
		}
	}
	return ""
}

// skipReason says why only_on holds the message back, or "" to send it.
func skipReason(onlyOn []string, status, prev string) string {
	if len(onlyOn) == 0 || slices.Contains(onlyOn, status) {
		return ""
	}
	if slices.Contains(onlyOn, "changed") {
		if prev == "" || prev != status {
			return ""
		}
		return "only_on " + strings.Join(onlyOn, ",") + ": status " + status + " unchanged since the previous build"
	}
	return "only_on " + strings.Join(onlyOn, ",") + ": the build's status is " + status
}
