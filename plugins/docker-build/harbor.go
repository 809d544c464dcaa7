package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/report"
)

// harborClient calls Harbor's REST API v2.0 with Basic auth on every
// request and no cookie jar (Harbor's CSRF check refuses a client that
// keeps its session cookie).
type harborClient struct {
	plan *HarborPlan
	auth Credentials
	http *httpx.Client
	env  *plugin.Env
}

const acceptVulnerabilities = "application/vnd.security.vulnerability.report; version=1.1, application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"

func newHarborClient(env *plugin.Env, p *Plan) (*harborClient, error) {
	// insecure covers the registry host: Harbor's API lives on the same host.
	c, err := env.HTTP(httpx.Options{Timeout: 30 * time.Second, SkipVerify: p.Insecure})
	if err != nil {
		return nil, err
	}
	return &harborClient{plan: p.Harbor, auth: p.Auth, http: c, env: env}, nil
}

func (h *harborClient) header() http.Header {
	hd := http.Header{}
	if h.auth.Username != "" {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(h.auth.Username, h.auth.Password)
		hd.Set("Authorization", req.Header.Get("Authorization"))
	}
	return hd
}

// harborError decodes Harbor's {"errors":[{"code","message"}]} body.
func harborError(err error) string {
	var se *httpx.StatusError
	if !errors.As(err, &se) {
		return err.Error()
	}
	msg := strings.TrimSpace(string(se.Body))
	if i := strings.Index(msg, `"message":"`); i >= 0 {
		rest := msg[i+len(`"message":"`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			msg = rest[:j]
		}
	}
	return fmt.Sprintf("%d %s: %s", se.StatusCode, http.StatusText(se.StatusCode), msg)
}

func statusOf(err error) int {
	var se *httpx.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// projectExists asks HEAD /projects?project_name=: exact name, unlike the
// fuzzy ?name= filter.
func (h *harborClient) projectExists(ctx context.Context) (bool, error) {
	u := h.plan.URL + "/api/v2.0/projects?project_name=" + url.QueryEscape(h.plan.Project)
	err := h.http.DoJSON(ctx, httpx.Request{Method: http.MethodHead, URL: u, Header: h.header()})
	switch statusOf(err) {
	case 0:
		if err != nil {
			return false, fmt.Errorf("harbor: check project %s: %w", h.plan.Project, err)
		}
		return true, nil
	case http.StatusNotFound:
		return false, nil
	case http.StatusUnauthorized:
		return false, fmt.Errorf("harbor: check project %s: Harbor refused the credentials of %q (401)", h.plan.Project, h.auth.Username)
	default:
		return false, fmt.Errorf("harbor: check project %s: %s", h.plan.Project, harborError(err))
	}
}

// ensureProject makes sure the project exists before the push, creating it
// when allowed: Harbor never creates projects on push.
func (h *harborClient) ensureProject(ctx context.Context) error {
	ok, err := h.projectExists(ctx)
	if err != nil || ok {
		return err
	}
	if !h.plan.CreateProject {
		return fmt.Errorf("harbor: project %q does not exist and Harbor does not create projects on push: "+
			"create it in Harbor, or set harbor_create_project with a system robot or admin account", h.plan.Project)
	}
	body := map[string]any{
		"project_name":  h.plan.Project,
		"metadata":      map[string]string{"public": "false"},
		"storage_limit": -1,
	}
	hd := h.header()
	hd.Set("X-Resource-Name-In-Location", "true")
	err = h.http.DoJSON(ctx, httpx.Request{Method: http.MethodPost, URL: h.plan.URL + "/api/v2.0/projects", Header: hd, In: body})
	switch statusOf(err) {
	case 0:
		if err != nil {
			return fmt.Errorf("harbor: create project %s: %w", h.plan.Project, err)
		}
		h.env.Log.Infof("harbor: created project %s", h.plan.Project)
		return nil
	case http.StatusConflict:
		return nil // created meanwhile
	case http.StatusForbidden:
		return fmt.Errorf("harbor: project %q does not exist and %q may not create it (403: %s). "+
			"Project robot accounts (robot$<project>+<name>) can never create projects; "+
			"create %q once in Harbor, or use a system robot account or an admin for harbor_create_project",
			h.plan.Project, h.auth.Username, harborError(err), h.plan.Project)
	default:
		return fmt.Errorf("harbor: create project %s: %s", h.plan.Project, harborError(err))
	}
}

// explainRefusedPush tells a missing project from missing rights: Harbor
// answers both with the same "unauthorized".
func (h *harborClient) explainRefusedPush(ctx context.Context, pushErr error) error {
	ok, err := h.projectExists(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%w (and %w)", pushErr, err)
	case !ok:
		return fmt.Errorf("%w: Harbor project %q does not exist (Harbor reports a missing project as unauthorized)", pushErr, h.plan.Project)
	default:
		return fmt.Errorf("%w: project %q exists, so %q lacks push rights on %s/%s or the password is wrong",
			pushErr, h.plan.Project, h.auth.Username, h.plan.Project, h.plan.Repository)
	}
}

// artifactURL addresses an artifact; a repository name holding / is
// escaped twice, as Harbor requires.
func (h *harborClient) artifactURL(reference string) string {
	return fmt.Sprintf("%s/api/v2.0/projects/%s/repositories/%s/artifacts/%s", h.plan.URL,
		url.PathEscape(h.plan.Project), url.PathEscape(url.PathEscape(h.plan.Repository)), url.PathEscape(reference))
}

// scanOverview is NativeReportSummary.
type scanOverview struct {
	ReportID        string `json:"report_id"`
	ScanStatus      string `json:"scan_status"`
	Severity        string `json:"severity"`
	CompletePercent int    `json:"complete_percent"`
	Summary         *struct {
		Total   int            `json:"total"`
		Fixable int            `json:"fixable"`
		Summary map[string]int `json:"summary"`
	} `json:"summary"`
	Scanner *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scanner"`
}

type artifact struct {
	Digest       string                  `json:"digest"`
	ScanOverview map[string]scanOverview `json:"scan_overview"`
}

// severityRank orders Harbor's severities; the threshold names map onto it.
func severityRank() map[string]int {
	return map[string]int{"none": 0, "unknown": 1, "negligible": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
}

// scan starts a vulnerability scan of digest, waits for it, prints the
// summary and fails when findings reach the threshold.
func (h *harborClient) scan(ctx context.Context, digest string) error {
	if digest == "" {
		return fmt.Errorf("harbor scan: no digest was pushed")
	}
	err := h.http.DoJSON(ctx, httpx.Request{Method: http.MethodPost, URL: h.artifactURL(digest) + "/scan",
		Header: h.header(), In: map[string]string{"scan_type": "vulnerability"}})
	switch statusOf(err) {
	case 0:
		if err != nil {
			return fmt.Errorf("harbor: start scan of %s: %w", digest, err)
		}
	case http.StatusUnprocessableEntity:
		return fmt.Errorf("harbor: %s cannot be scanned (422: %s); an image index must be scanned per platform", digest, harborError(err))
	default:
		return fmt.Errorf("harbor: start scan of %s: %s", digest, harborError(err))
	}
	h.env.Log.Infof("harbor: scanning %s/%s@%s (waiting up to %s)", h.plan.Project, h.plan.Repository, digest, h.plan.ScanTimeout)
	sctx, cancel := context.WithTimeout(ctx, h.plan.ScanTimeout)
	defer cancel()
	last := ""
	for {
		ov, err := h.overview(sctx, digest)
		if err != nil {
			if sctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("harbor: scan of %s did not finish within %s (last status %q)", digest, h.plan.ScanTimeout, last)
			}
			return err
		}
		if ov != nil {
			last = ov.ScanStatus
			switch ov.ScanStatus {
			case "Success":
				return h.judge(*ov, digest)
			case "Error", "Stopped":
				return fmt.Errorf("harbor: scan of %s ended with status %s", digest, ov.ScanStatus)
			case "Skipped":
				h.env.Log.Warnf("harbor: scan of %s was skipped", digest)
				return nil
			}
		}
		select {
		case <-sctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("harbor: scan of %s did not finish within %s (last status %q)", digest, h.plan.ScanTimeout, last)
		case <-time.After(h.plan.ScanInterval):
		}
	}
}

func (h *harborClient) overview(ctx context.Context, digest string) (*scanOverview, error) {
	hd := h.header()
	hd.Set("X-Accept-Vulnerabilities", acceptVulnerabilities)
	var a artifact
	err := h.http.DoJSON(ctx, httpx.Request{Method: http.MethodGet,
		URL: h.artifactURL(digest) + "?with_scan_overview=true&with_tag=true", Header: hd, Out: &a})
	if err != nil {
		if statusOf(err) != 0 {
			return nil, fmt.Errorf("harbor: read scan of %s: %s", digest, harborError(err))
		}
		return nil, fmt.Errorf("harbor: read scan of %s: %w", digest, err)
	}
	for _, mt := range strings.Split(acceptVulnerabilities, ", ") {
		if ov, ok := a.ScanOverview[mt]; ok {
			return &ov, nil
		}
	}
	for _, ov := range a.ScanOverview {
		return &ov, nil
	}
	return nil, nil
}

// judge prints the summary table and applies harbor_severity.
func (h *harborClient) judge(ov scanOverview, digest string) error {
	scanner := "scanner"
	if ov.Scanner != nil {
		scanner = strings.TrimSpace(ov.Scanner.Name + " " + ov.Scanner.Version)
	}
	t := report.Table{Title: fmt.Sprintf("harbor scan of %s (%s)", digest, scanner), Columns: []string{"SEVERITY", "COUNT"}}
	counts := map[string]int{}
	if ov.Summary != nil {
		counts = ov.Summary.Summary
	}
	for _, s := range []string{"Critical", "High", "Medium", "Low", "Negligible", "Unknown"} {
		if n, ok := counts[s]; ok {
			t.Row(s, n)
		}
	}
	if ov.Summary != nil {
		t.Row("Total", fmt.Sprintf("%d (fixable %d)", ov.Summary.Total, ov.Summary.Fixable))
	}
	h.env.Report("harbor").Table(&t)
	threshold := severityRank()[h.plan.Severity]
	if threshold == 0 {
		return nil
	}
	var over []string
	for s, n := range counts {
		if n > 0 && severityRank()[strings.ToLower(s)] >= threshold {
			over = append(over, fmt.Sprintf("%d %s", n, s))
		}
	}
	if ov.Summary == nil && severityRank()[strings.ToLower(ov.Severity)] >= threshold {
		over = append(over, "overall severity "+ov.Severity)
	}
	if len(over) > 0 {
		slices.Sort(over)
		return fmt.Errorf("harbor: %s has findings at or above %s: %s", digest, h.plan.Severity, strings.Join(over, ", "))
	}
	h.env.Log.Infof("harbor: no findings at or above %s", h.plan.Severity)
	return nil
}
