// Package rancher is a strict in-process fake of the Rancher APIs
// rancher-upgrade talks to: Rancher 1.6 Cattle v2-beta (projects, stacks,
// services and their upgrade state machine) and Rancher 2.x v3 workloads
// (deployments and their rollout). It follows /work/shared/api/rancher.md:
// exact paths, methods, Basic/Bearer auth, JSON field names and types,
// actions offered only in the states that allow them, 422 ActionNotAvailable
// otherwise. Every request the real server would refuse is answered as it
// would be and also recorded as a Refusal, which tests assert on.
//
// Transitions take Options.Transition each and are evaluated lazily against
// the clock, so the fake needs no goroutines and the moment a state was
// reached is exact (Events). The same server runs as a simulator for
// `make demo` (New, Start, AddStack, AddService, OnUpgrade).
package rancher

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/serve"
)

// Options configure a Server.
type Options struct {
	// AccessKey and SecretKey are the only credentials accepted: HTTP Basic
	// on v2-beta; Bearer "access:secret" (or Basic) on v3.
	AccessKey, SecretKey string
	// ProjectID and ProjectName name the v2-beta environment (default 1a5, Default).
	ProjectID, ProjectName string
	// ClusterProject is the v3 project id (default c-abcde:p-fghij).
	ClusterProject string
	// Transition is how long each transitional state lasts (default 2s).
	Transition time.Duration
	// Jitter, when set, adds a random [0, Jitter) to each transition, so that
	// a client's polls are not in phase with the transitions (benchmarks).
	Jitter time.Duration
	// OnUpgrade, when set, is called after an accepted v2-beta upgrade (and
	// continueupgrade / rollback, with the launchConfig then in force), on the
	// request's goroutine, outside the server's lock.
	OnUpgrade func(stack, service string, launchConfig json.RawMessage)
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Server is the fake. Use New; it is an http.Handler, or Start it.
type Server struct {
	opts Options

	mu        sync.Mutex
	nextID    int
	stacks    []*stack
	services  []*service
	workloads []*workload
	refusals  []Refusal
	requests  []Request
	events    []Event
	failGets  int
	failCode  int

	srv *serve.Server
	url string
}

// Refusal is a request the fake (like the real server) refused.
type Refusal struct {
	Method, Path string
	Status       int
	Code         string
	Detail       string
}

func (r Refusal) String() string {
	return fmt.Sprintf("%s %s: %d %s: %s", r.Method, r.Path, r.Status, r.Code, r.Detail)
}

// Request is one request the fake answered.
type Request struct {
	At           time.Time
	Method, Path string
	Status       int
	// Resource is "stack/service" or "namespace/workload" when the request
	// concerned one, and State its state in the answer.
	Resource, State string
}

// Event is a resource reaching a state.
type Event struct {
	At       time.Time
	Resource string
	State    string
}

// New returns a fake with no stacks, services or workloads.
func New(o Options) *Server {
	if o.ProjectID == "" {
		o.ProjectID = "1a5"
	}
	if o.ProjectName == "" {
		o.ProjectName = "Default"
	}
	if o.ClusterProject == "" {
		o.ClusterProject = "c-abcde:p-fghij"
	}
	if o.Transition <= 0 {
		o.Transition = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{opts: o, nextID: 10}
}

// Start serves the fake on addr ("127.0.0.1:0" for any port) and returns its
// base URL, e.g. http://127.0.0.1:41234.
func (s *Server) Start(addr string) (string, error) {
	srv, err := serve.Start(addr, s)
	if err != nil {
		return "", fmt.Errorf("rancher fake: %w", err)
	}
	s.srv, s.url = srv, srv.URL
	return s.url, nil
}

// URL is the base URL after Start.
func (s *Server) URL() string { return s.url }

// Addr is the host:port after Start.
func (s *Server) Addr() string { return strings.TrimPrefix(s.url, "http://") }

// RequestCount is how many requests the fake answered (refused ones included).
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Close stops a started server.
func (s *Server) Close() error {
	return s.srv.Close()
}

// Refusals returns every refused request so far.
func (s *Server) Refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.refusals...)
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Events returns the states resources reached, with the exact time.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceAll()
	return append([]Event(nil), s.events...)
}

// FailGets makes the next n GET requests answer status (a 502/503 from a
// proxy in front of Rancher, say); they are logged as refusals too.
func (s *Server) FailGets(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failGets, s.failCode = n, status
}

// ResetLog clears the request, refusal and event logs.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.refusals, s.events = nil, nil, nil
}

// apiError is the error body of both APIs.
type apiError struct {
	status    int
	code      string
	message   string
	fieldName string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s %s %s", e.status, e.code, e.fieldName, e.message)
}

func refuse(status int, code, fieldName, message string) *apiError {
	return &apiError{status: status, code: code, fieldName: fieldName, message: message}
}

// reply is what a route returns: a JSON body, and the resource it concerned.
type reply struct {
	status   int
	body     any
	resource string
	state    string
	after    func() // runs after the lock is released (callbacks)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	s.mu.Lock()
	s.advanceAll()
	var rep reply
	var err error
	if r.Method == http.MethodGet && s.failGets > 0 {
		s.failGets--
		err = refuse(s.failCode, http.StatusText(s.failCode), "", "injected by FailGets")
	} else {
		rep, err = s.route(r, base)
	}
	entry := Request{At: s.opts.Now(), Method: r.Method, Path: r.URL.RequestURI()}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = refuse(http.StatusInternalServerError, "ServerError", "", err.Error())
		}
		s.refusals = append(s.refusals, Refusal{Method: r.Method, Path: r.URL.RequestURI(), Status: ae.status, Code: ae.code, Detail: strings.TrimSpace(ae.fieldName + " " + ae.message)})
		rep = reply{status: ae.status, body: errorBody(ae)}
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	entry.Status, entry.Resource, entry.State = rep.status, rep.resource, rep.state
	s.requests = append(s.requests, entry)
	s.mu.Unlock()

	if rep.after != nil {
		rep.after()
	}
	b, _ := json.Marshal(rep.body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if strings.HasPrefix(r.URL.Path, "/v2-beta") || strings.HasPrefix(r.URL.Path, "/v1") {
		h.Set("X-Api-Schemas", base+"/v2-beta/schemas")
	} else {
		h.Set("X-Api-Schemas", base+"/v3/schemas")
	}
	if rep.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="Enter API access key and secret key as username and password"`)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(b)
}

func errorBody(e *apiError) map[string]any {
	var msg, field any
	if e.message != "" {
		msg = e.message
	}
	if e.fieldName != "" {
		field = e.fieldName
	}
	return map[string]any{
		"id": "1d087db0-fake", "type": "error", "baseType": "error", "links": map[string]any{}, "actions": map[string]any{},
		"status": e.status, "code": e.code, "message": msg, "detail": nil, "fieldName": field,
	}
}

func (s *Server) route(r *http.Request, base string) (reply, error) {
	p := r.URL.Path
	switch {
	case p == "/v2-beta" || strings.HasPrefix(p, "/v2-beta/"):
		if err := s.checkBasic(r); err != nil {
			return reply{}, err
		}
		return s.routeV2(r, base, strings.TrimPrefix(p, "/v2-beta"))
	case p == "/v3" || strings.HasPrefix(p, "/v3/"):
		if err := s.checkV3Auth(r); err != nil {
			return reply{}, err
		}
		return s.routeV3(r, base, strings.TrimPrefix(p, "/v3"))
	}
	return reply{}, refuse(http.StatusNotFound, "NotFound", "", "no API at "+p)
}

func (s *Server) checkBasic(r *http.Request) error {
	u, p, ok := r.BasicAuth()
	if !ok || u != s.opts.AccessKey || p != s.opts.SecretKey {
		return refuse(http.StatusUnauthorized, "Unauthorized", "", "Unauthorized")
	}
	return nil
}

func (s *Server) checkV3Auth(r *http.Request) error {
	want := s.opts.AccessKey + ":" + s.opts.SecretKey
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok && tok == want {
		return nil
	}
	if b, ok := strings.CutPrefix(h, "Basic "); ok {
		if d, err := base64.StdEncoding.DecodeString(b); err == nil && string(d) == want {
			return nil
		}
	}
	return refuse(http.StatusUnauthorized, "Unauthorized", "", "must authenticate")
}

// readJSONObject decodes a request body that must be one JSON object.
func readJSONObject(r *http.Request) (map[string]json.RawMessage, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil, refuse(http.StatusUnsupportedMediaType, "InvalidBodyContent", "", "Content-Type must be application/json, got "+ct)
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4<<20))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, refuse(http.StatusUnprocessableEntity, "InvalidBodyContent", "", "body is not a JSON object")
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null"
}

func (s *Server) id(prefix string) string {
	s.nextID++
	return fmt.Sprintf("%s%d", prefix, s.nextID)
}

// transition returns how long the next transition takes.
func (s *Server) transition() time.Duration {
	if s.opts.Jitter <= 0 {
		return s.opts.Transition
	}
	return s.opts.Transition + rand.N(s.opts.Jitter)
}

func (s *Server) event(at time.Time, resource, state string) {
	s.events = append(s.events, Event{At: at, Resource: resource, State: state})
}

func (s *Server) advanceAll() {
	now := s.opts.Now()
	for _, sv := range s.services {
		sv.advance(s, now)
	}
	for _, w := range s.workloads {
		w.advance(s, now)
	}
}

// compact returns raw without insignificant white space.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}
