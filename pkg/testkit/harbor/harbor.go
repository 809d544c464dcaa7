// Package harbor is a strict fake of Harbor v2: the project and scan parts
// of REST API v2.0 (shapes in shared/api/harbor.md) in front of a real
// in-process registry (testkit/registry) serving /v2/, with Harbor's
// token service (/service/token: Basic in, a bearer token holding only the
// scopes the account may have out). Requests the real
// Harbor would refuse for their form (unknown path or method, missing
// auth, wrong JSON field names or types, a single-escaped repository name,
// a cookie on a write: the CSRF trap) are answered as Harbor answers them
// and recorded as violations, which tests check on their own goroutine.
// Refusals that are policy, not misuse (a project robot creating a
// project, a missing project), are answered without a violation.
// Tests and `make demo` use it; it needs no *testing.T.
package harbor

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/registry"
	"github.com/lightship-ci/lightship/pkg/testkit/serve"
)

// User is a Harbor account.
type User struct {
	Password string
	// CanCreateProjects is true for admins and system robots. Project robots
	// (robot$<project>+<name>) never can.
	CanCreateProjects bool
	// Projects limits pull and push to these projects (empty: every project).
	Projects []string
}

// may reports whether u may pull and push in project.
func (u User) may(project string) bool {
	if len(u.Projects) == 0 {
		return true
	}
	for _, p := range u.Projects {
		if p == project {
			return true
		}
	}
	return false
}

// Options configure a Harbor fake.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:0).
	Addr string
	// Users are the accounts, for the API and for pushes.
	Users map[string]User
	// Projects exist from the start.
	Projects []string
	// ScanPolls is how many artifact reads a scan spends Pending/Running
	// before it reports Success (default 2).
	ScanPolls int
	// ScanNeverFinishes keeps every scan Running forever.
	ScanNeverFinishes bool
	// Findings are the vulnerability counts every scan reports, by severity
	// name (Critical, High, Medium, Low, ...).
	Findings map[string]int
}

// Project is a Harbor project (the fields the API returns).
type Project struct {
	ProjectID    int               `json:"project_id"`
	Name         string            `json:"name"`
	OwnerID      int               `json:"owner_id"`
	OwnerName    string            `json:"owner_name"`
	RepoCount    int               `json:"repo_count"`
	CreationTime string            `json:"creation_time"`
	UpdateTime   string            `json:"update_time"`
	Deleted      bool              `json:"deleted"`
	Metadata     map[string]string `json:"metadata"`
}

type scanState struct {
	reportID string
	polls    int
	started  time.Time
}

// Harbor is a running fake. Use Start.
type Harbor struct {
	// URL is http://127.0.0.1:<port>; Host is 127.0.0.1:<port>.
	URL  string
	Host string
	// Registry stores what is pushed through /v2/.
	Registry *registry.Registry

	opts     Options
	srv      *serve.Server
	handler  http.Handler
	mu       sync.Mutex
	projects map[string]*Project
	nextID   int
	scans    map[string]*scanState // by digest
	tokens   map[string]grant
	errs     []error
	calls    []string
}

// Start builds the fake with its own registry and serves it.
func Start(ctx context.Context, o Options) (*Harbor, error) {
	h, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	srv, err := serve.Start(o.Addr, h.handler)
	if err != nil {
		h.Registry.Close()
		return nil, fmt.Errorf("harbor: %w", err)
	}
	h.srv, h.Host, h.URL = srv, srv.Host, srv.URL
	return h, nil
}

// New builds the fake without listening; Handler serves it.
func New(ctx context.Context, o Options) (*Harbor, error) {
	reg, err := registry.New(ctx, registry.Options{})
	if err != nil {
		return nil, err
	}
	if o.ScanPolls <= 0 {
		o.ScanPolls = 2
	}
	h := &Harbor{Registry: reg, opts: o, projects: map[string]*Project{}, scans: map[string]*scanState{}, tokens: map[string]grant{}, nextID: 1}
	for _, p := range o.Projects {
		h.addProject(p, "admin", map[string]string{"public": "false"})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/", h.serveRegistry)
	mux.HandleFunc("/service/token", h.serveToken)
	mux.HandleFunc("/api/v2.0/", h.serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.violation(w, http.StatusNotFound, "NOT_FOUND", "%s %s: not a Harbor API path", r.Method, r.URL.Path)
	})
	h.handler = mux
	return h, nil
}

// Handler serves the API and the registry.
func (h *Harbor) Handler() http.Handler { return h.handler }

// Close stops the server and the registry.
func (h *Harbor) Close() error {
	_ = h.srv.Close()
	return h.Registry.Close()
}

// Violations are the requests the real Harbor would have refused for
// their form.
func (h *Harbor) Violations() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

// Calls lists the API calls received ("METHOD /path").
func (h *Harbor) Calls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// Projects lists the project names.
func (h *Harbor) Projects() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for n := range h.projects {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SetFindings changes what later scans report.
func (h *Harbor) SetFindings(f map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opts.Findings = f
}

func (h *Harbor) addProject(name, owner string, meta map[string]string) *Project {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	p := &Project{ProjectID: h.nextID, Name: name, OwnerID: 1, OwnerName: owner, CreationTime: now, UpdateTime: now, Metadata: meta}
	h.nextID++
	h.projects[name] = p
	return p
}

func (h *Harbor) violation(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.errs = append(h.errs, fmt.Errorf("harbor fake: %s", msg))
	h.mu.Unlock()
	writeError(w, status, code, msg)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// user returns the authenticated account name, or "" with ok=false when
// the credentials are missing or wrong.
func (h *Harbor) user(r *http.Request) (string, bool) {
	name, pass, ok := r.BasicAuth()
	if !ok {
		return "", false
	}
	u, known := h.opts.Users[name]
	return name, known && subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1
}

// grant is what a bearer token allows: repository -> actions.
type grant struct {
	user   string
	access map[string]map[string]bool
}

// serveToken is Harbor's token service: Basic credentials in, a bearer
// token out, holding only the scopes the account may have. A missing
// project grants nothing; the token is still issued.
func (h *Harbor) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.violation(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "%s /service/token", r.Method)
		return
	}
	user, ok := h.user(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid credentials")
		return
	}
	if svc := r.URL.Query().Get("service"); svc != "harbor-registry" {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "token: service %q, want harbor-registry", svc)
		return
	}
	g := grant{user: user, access: map[string]map[string]bool{}}
	for _, scope := range r.URL.Query()["scope"] {
		for _, sc := range strings.Split(scope, " ") {
			parts := strings.Split(sc, ":")
			if len(parts) < 3 || parts[0] != "repository" {
				continue
			}
			repo := strings.Join(parts[1:len(parts)-1], ":")
			project, _, _ := strings.Cut(repo, "/")
			h.mu.Lock()
			_, exists := h.projects[project]
			h.mu.Unlock()
			if !exists || !h.opts.Users[user].may(project) {
				continue
			}
			if g.access[repo] == nil {
				g.access[repo] = map[string]bool{}
			}
			for _, a := range strings.Split(parts[len(parts)-1], ",") {
				g.access[repo][a] = true
			}
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	h.mu.Lock()
	h.tokens[tok] = g
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "access_token": tok, "expires_in": 1800, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

// v2Target returns the repository of a /v2/ path and the action it needs.
func v2Target(r *http.Request) (repo, action string) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	for _, marker := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.Index(rest, marker); i >= 0 {
			rest = rest[:i]
			break
		}
	}
	rest = strings.TrimSuffix(rest, "/blobs/uploads")
	rest = strings.TrimSuffix(rest, "/blobs/uploads/")
	action = "pull"
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		action = "push"
	}
	return rest, action
}

// serveRegistry authenticates /v2/ the way Harbor does (bearer tokens from
// /service/token, or Basic credentials) and hands the request to the real
// registry. Harbor refuses a push to a missing project with the same
// "unauthorized" as bad credentials.
func (h *Harbor) serveRegistry(w http.ResponseWriter, r *http.Request) {
	realm := fmt.Sprintf(`Bearer realm="http://%s/service/token",service="harbor-registry"`, r.Host)
	repo, action := v2Target(r)
	base := r.URL.Path == "/v2/" || r.URL.Path == "/v2"
	authz := r.Header.Get("Authorization")
	var allowed bool
	switch {
	case strings.HasPrefix(authz, "Bearer "):
		h.mu.Lock()
		g, ok := h.tokens[strings.TrimPrefix(authz, "Bearer ")]
		h.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", realm)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized: invalid token")
			return
		}
		allowed = base || g.access[repo][action] || (action == "push" && g.access[repo]["*"])
	case strings.HasPrefix(authz, "Basic "):
		user, ok := h.user(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="harbor"`)
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized: authentication required")
			return
		}
		project, _, _ := strings.Cut(repo, "/")
		h.mu.Lock()
		_, exists := h.projects[project]
		h.mu.Unlock()
		allowed = base || (exists && h.opts.Users[user].may(project))
	default:
		w.Header().Set("WWW-Authenticate", realm)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized: authentication required")
		return
	}
	if !allowed {
		w.Header().Set("WWW-Authenticate", realm+fmt.Sprintf(`,scope="repository:%s:%s",error="insufficient_scope"`, repo, action))
		msg := fmt.Sprintf("unauthorized to access repository: %s, action: %s: unauthorized to access repository: %s, action: %s", repo, action, repo, action)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", msg)
		return
	}
	h.Registry.Handler().ServeHTTP(w, r)
}

var projectNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// metadataKeys are the project metadata keys Harbor knows.
func metadataKeys() map[string]bool {
	return map[string]bool{"public": true, "auto_scan": true, "enable_content_trust": true, "enable_content_trust_cosign": true,
		"prevent_vul": true, "severity": true, "reuse_sys_cve_allowlist": true, "auto_sbom_generation": true, "retention_id": true}
}

func (h *Harbor) serveAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", strconv.FormatInt(time.Now().UnixNano(), 36))
	// Like Harbor, hand out a session cookie: a client that keeps it and
	// sends it back on a write meets the CSRF check below.
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: strconv.FormatInt(time.Now().UnixNano(), 16), Path: "/", HttpOnly: true})
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v2.0")
	h.mu.Lock()
	h.calls = append(h.calls, r.Method+" "+path)
	h.mu.Unlock()
	if path == "/health" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"status": "healthy", "components": []any{}})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Cookie") != "" {
		h.violation(w, http.StatusForbidden, "FORBIDDEN", "CSRF token invalid: %s %s carried a session cookie", r.Method, path)
		return
	}
	user, ok := h.user(r)
	if !ok {
		h.violation(w, http.StatusUnauthorized, "UNAUTHORIZED", "%s %s: missing or wrong Basic credentials", r.Method, path)
		return
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	switch {
	case len(segs) == 1 && segs[0] == "projects":
		switch r.Method {
		case http.MethodHead:
			h.headProject(w, r)
		case http.MethodPost:
			h.createProject(w, r, user)
		default:
			// Harbor serves GET /projects, but its ?name= filter is fuzzy
			// (app matches myapp): refusing it keeps clients on HEAD
			// ?project_name=, the exact check.
			h.violation(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "%s /projects is not served by this fake (use HEAD /projects?project_name= for an exact match)", r.Method)
		}
	case len(segs) == 2 && segs[0] == "projects" && r.Method == http.MethodGet:
		h.getProject(w, r, segs[1])
	case len(segs) == 6 && segs[0] == "projects" && segs[2] == "repositories" && segs[4] == "artifacts" && r.Method == http.MethodGet:
		h.getArtifact(w, r, segs[1], segs[3], segs[5])
	case len(segs) == 7 && segs[0] == "projects" && segs[2] == "repositories" && segs[4] == "artifacts" && segs[6] == "scan" && r.Method == http.MethodPost:
		h.startScan(w, r, segs[1], segs[3], segs[5])
	default:
		h.violation(w, http.StatusNotFound, "NOT_FOUND", "%s /api/v2.0%s: no such API", r.Method, path)
	}
}

func (h *Harbor) headProject(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("project_name")
	if name == "" {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "HEAD /projects needs project_name")
		return
	}
	h.mu.Lock()
	_, ok := h.projects[name]
	h.mu.Unlock()
	if ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

func (h *Harbor) getProject(w http.ResponseWriter, r *http.Request, raw string) {
	name, err := url.PathUnescape(raw)
	if err != nil {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "project %q: %v", raw, err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var p *Project
	if id, err := strconv.Atoi(name); err == nil && r.Header.Get("X-Is-Resource-Name") != "true" {
		for _, x := range h.projects {
			if x.ProjectID == id {
				p = x
			}
		}
	} else {
		p = h.projects[name]
	}
	if p == nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("project %s not found", name))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *Harbor) createProject(w http.ResponseWriter, r *http.Request, user string) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		h.violation(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "POST /projects needs Content-Type application/json, got %q", r.Header.Get("Content-Type"))
		return
	}
	var raw map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "POST /projects: body is not a JSON object: %v", err)
		return
	}
	var name string
	meta := map[string]string{"public": "false"}
	for k, v := range raw {
		var err error
		switch k {
		case "project_name":
			err = json.Unmarshal(v, &name)
		case "public":
			var b bool
			err = json.Unmarshal(v, &b)
		case "storage_limit", "registry_id":
			var n int64
			err = json.Unmarshal(v, &n)
		case "cve_allowlist":
			var o map[string]any
			err = json.Unmarshal(v, &o)
		case "metadata":
			var m map[string]any
			if err = json.Unmarshal(v, &m); err == nil {
				for mk, mv := range m {
					s, isStr := mv.(string)
					switch {
					case !metadataKeys()[mk]:
						err = fmt.Errorf("metadata.%s is not a ProjectMetadata field", mk)
					case !isStr:
						err = fmt.Errorf("metadata.%s must be a string, got %T", mk, mv)
					case mk == "public" && s != "true" && s != "false":
						err = fmt.Errorf("metadata.public must be \"true\" or \"false\", got %q", s)
					default:
						meta[mk] = s
					}
				}
			}
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "POST /projects: %s: %v", k, err)
			return
		}
	}
	if name == "" || len(name) > 255 || !projectNamePattern.MatchString(name) {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "POST /projects: project_name %q is invalid", name)
		return
	}
	if !h.opts.Users[user].CanCreateProjects {
		msg := "only admin can create project"
		if strings.HasPrefix(user, "robot$") && strings.Contains(user, "+") {
			msg = "Only system level robot can create project"
		}
		writeError(w, http.StatusForbidden, "FORBIDDEN", msg)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.projects[name]; ok {
		writeError(w, http.StatusConflict, "CONFLICT", fmt.Sprintf("The project named %s already exists", name))
		return
	}
	p := h.addProject(name, user, meta)
	loc := "/api/v2.0/projects/" + strconv.Itoa(p.ProjectID)
	if r.Header.Get("X-Resource-Name-In-Location") == "true" {
		loc = "/api/v2.0/projects/" + name
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusCreated)
}

// repoName undoes Harbor's double escaping of repository names; a single
// escaped slash would have been split by Harbor's router.
func repoName(raw string) (string, error) {
	once, err := url.PathUnescape(raw)
	if err != nil {
		return "", err
	}
	if strings.Contains(once, "/") {
		return "", fmt.Errorf("repository %q holds a slash escaped once: Harbor needs it escaped twice (%%252F)", raw)
	}
	return url.PathUnescape(once)
}

func (h *Harbor) lookup(w http.ResponseWriter, r *http.Request, rawProject, rawRepo, rawRef string) (project, repo string, m registry.Manifest, ok bool) {
	var err error
	if project, err = url.PathUnescape(rawProject); err != nil {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "project %q: %v", rawProject, err)
		return
	}
	if repo, err = repoName(rawRepo); err != nil {
		h.violation(w, http.StatusNotFound, "NOT_FOUND", "%v", err)
		return
	}
	ref, err := url.PathUnescape(rawRef)
	if err != nil {
		h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "reference %q: %v", rawRef, err)
		return
	}
	h.mu.Lock()
	_, exists := h.projects[project]
	h.mu.Unlock()
	if !exists {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("project %s not found", project))
		return
	}
	m, err = h.Registry.Manifest(r.Context(), project+"/"+repo, ref)
	if err != nil {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("artifact %s/%s@%s not found", project, repo, ref))
		return
	}
	return project, repo, m, true
}

const reportType = "application/vnd.security.vulnerability.report; version=1.1"

func (h *Harbor) getArtifact(w http.ResponseWriter, r *http.Request, rawProject, rawRepo, rawRef string) {
	for k := range r.URL.Query() {
		switch k {
		case "with_tag", "with_label", "with_scan_overview", "with_sbom_overview", "with_signature", "with_immutable_status", "with_accessory", "page", "page_size":
		default:
			h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "GET artifact: unknown query parameter %q", k)
			return
		}
	}
	project, repo, m, ok := h.lookup(w, r, rawProject, rawRepo, rawRef)
	if !ok {
		return
	}
	h.mu.Lock()
	pid := h.projects[project].ProjectID
	art := map[string]any{
		"id": 1, "type": "IMAGE", "media_type": "application/vnd.docker.container.image.v1+json",
		"manifest_media_type": m.MediaType, "project_id": pid, "repository_id": 1,
		"repository_name": project + "/" + repo, "digest": m.Digest, "size": len(m.Body),
		"push_time": time.Now().UTC().Format(time.RFC3339), "references": nil,
	}
	if r.URL.Query().Get("with_scan_overview") == "true" {
		if s, ok := h.scans[m.Digest]; ok {
			art["scan_overview"] = map[string]any{reportType: h.overview(s)}
		}
	}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, art)
}

// overview advances the scan one poll and returns its NativeReportSummary.
func (h *Harbor) overview(s *scanState) map[string]any {
	s.polls++
	status := "Running"
	switch {
	case h.opts.ScanNeverFinishes:
	case s.polls == 1:
		status = "Pending"
	case s.polls > h.opts.ScanPolls:
		status = "Success"
	}
	ov := map[string]any{
		"report_id": s.reportID, "scan_status": status, "start_time": s.started.Format(time.RFC3339),
		"complete_percent": 50, "scanner": map[string]string{"name": "Trivy", "vendor": "Aqua Security", "version": "v0.50.0"},
	}
	if status == "Success" {
		total, top := 0, "None"
		counts := map[string]int{}
		for _, sev := range []string{"Low", "Medium", "High", "Critical"} {
			n := h.opts.Findings[sev]
			counts[sev] = n
			total += n
			if n > 0 {
				top = sev
			}
		}
		ov["complete_percent"] = 100
		ov["end_time"] = time.Now().UTC().Format(time.RFC3339)
		ov["duration"] = int(time.Since(s.started).Seconds())
		ov["severity"] = top
		ov["summary"] = map[string]any{"total": total, "fixable": total, "summary": counts}
	}
	return ov
}

func (h *Harbor) startScan(w http.ResponseWriter, r *http.Request, rawProject, rawRepo, rawRef string) {
	if r.ContentLength != 0 {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "scan: body is not a JSON object: %v", err)
			return
		}
		for k, v := range body {
			var st string
			if k != "scan_type" || json.Unmarshal(v, &st) != nil || (st != "vulnerability" && st != "sbom") {
				h.violation(w, http.StatusBadRequest, "BAD_REQUEST", "scan: bad field %s=%s (want scan_type vulnerability|sbom)", k, v)
				return
			}
		}
	}
	_, _, m, ok := h.lookup(w, r, rawProject, rawRepo, rawRef)
	if !ok {
		return
	}
	if strings.Contains(m.MediaType, "list") || strings.Contains(m.MediaType, "index") {
		writeError(w, http.StatusUnprocessableEntity, "UNPROCESSABLE_ENTITY", "the artifact is an image index and cannot be scanned")
		return
	}
	h.mu.Lock()
	h.scans[m.Digest] = &scanState{reportID: fmt.Sprintf("report-%d", time.Now().UnixNano()), started: time.Now().UTC()}
	h.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
