// Package registry runs a real OCI registry in-process: the
// distribution/distribution v3 handlers on the inmemory storage driver,
// served on 127.0.0.1 (which dockerd treats as insecure, so plain HTTP
// works), behind optional Basic auth. It can inject 503 answers on blob and
// manifest uploads, and reads tags, manifests and blobs back for checks.
// Tests and `make demo` use it; it needs no *testing.T.
package registry

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // storage driver
	"github.com/lightship-ci/lightship/pkg/testkit/serve"
	"github.com/sirupsen/logrus"
)

// Options configure a Registry.
type Options struct {
	// Addr is the listen address (default 127.0.0.1:0, a free port).
	Addr string
	// Users maps user names to passwords for Basic auth. Empty: anonymous access.
	Users map[string]string
	// Realm is sent in the Basic challenge (default "lightship-registry").
	Realm string
}

// PutKind selects which uploads an injected failure hits.
type PutKind int

// Upload kinds for FailPuts.
const (
	// BlobPut is the final PUT of a blob upload (the commit).
	BlobPut PutKind = 1 << iota
	// ManifestPut is a PUT of a manifest (a tag or digest).
	ManifestPut
	// AnyPut is either.
	AnyPut = BlobPut | ManifestPut
)

// Request is one request the registry received, for checks.
type Request struct {
	Method string
	Path   string
	// User is the Basic auth user name ("" when none).
	User string
	// Status is the status code answered.
	Status int
}

// Registry is a running registry. Use Start.
type Registry struct {
	// URL is http://127.0.0.1:<port>.
	URL string
	// Host is 127.0.0.1:<port>, the registry part of image references.
	Host string

	app     http.Handler
	handler http.Handler
	opts    Options
	srv     *serve.Server
	cancel  context.CancelFunc

	mu       sync.Mutex
	failKind PutKind
	failN    int
	requests []Request
}

// New builds a registry handler without listening: Handler serves it (the
// Harbor fake mounts it under /v2/). Close releases it.
func New(ctx context.Context, o Options) (*Registry, error) {
	if o.Realm == "" {
		o.Realm = "lightship-registry"
	}
	// The handlers log every request through logrus' standard logger at info
	// level; keep test output readable.
	// (The level is stored atomically: setting it again is harmless.)
	if logrus.StandardLogger().GetLevel() == logrus.InfoLevel {
		logrus.StandardLogger().SetLevel(logrus.FatalLevel)
	}
	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"inmemory":    configuration.Parameters{},
			"delete":      configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	conf.HTTP.Secret = "lightship-testkit-registry"
	conf.Catalog.MaxEntries = 1000 // the YAML loader's default; zero lists nothing
	conf.Log.Level = "warn"
	ctx, cancel := context.WithCancel(ctx)
	var app *handlers.App
	if err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("registry: %v", p)
			}
		}()
		app = handlers.NewApp(ctx, conf)
		return nil
	}(); err != nil {
		cancel()
		return nil, err
	}
	r := &Registry{app: app, opts: o, cancel: cancel}
	r.handler = http.HandlerFunc(r.serve)
	return r, nil
}

// Start builds a registry and serves it on o.Addr (default 127.0.0.1:0).
func Start(ctx context.Context, o Options) (*Registry, error) {
	r, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	srv, err := serve.Start(o.Addr, r.handler)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.srv, r.Host, r.URL = srv, srv.Host, srv.URL
	return r, nil
}

// Handler is the registry's HTTP handler, auth and fault injection included.
func (r *Registry) Handler() http.Handler { return r.handler }

// Close stops serving and frees the storage.
func (r *Registry) Close() error {
	err := r.srv.Close()
	r.cancel()
	return err
}

// FailPuts makes the next n uploads of kind answer 503 Service Unavailable
// before they reach storage.
func (r *Registry) FailPuts(kind PutKind, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failKind, r.failN = kind, n
}

// PendingFailures is how many injected failures are still to come.
func (r *Registry) PendingFailures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failN
}

// Requests returns the requests received so far.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

var (
	manifestPath = regexp.MustCompile(`^/v2/.+/manifests/[^/]+$`)
	uploadPath   = regexp.MustCompile(`^/v2/.+/blobs/uploads/[^/]+$`)
)

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	user, pass, hasAuth := req.BasicAuth()
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		r.mu.Lock()
		r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path, User: user, Status: rec.status})
		r.mu.Unlock()
	}()
	if len(r.opts.Users) > 0 && !r.authorized(user, pass, hasAuth) {
		rec.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", r.opts.Realm))
		writeError(rec, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	if req.Method == http.MethodPut && r.takeFailure(req.URL.Path) {
		rec.Header().Set("Retry-After", "0")
		writeError(rec, http.StatusServiceUnavailable, "UNAVAILABLE", "injected failure")
		return
	}
	r.app.ServeHTTP(rec, req)
}

func (r *Registry) authorized(user, pass string, ok bool) bool {
	if !ok {
		return false
	}
	want, known := r.opts.Users[user]
	return known && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

func (r *Registry) takeFailure(path string) bool {
	var kind PutKind
	switch {
	case manifestPath.MatchString(path):
		kind = ManifestPut
	case uploadPath.MatchString(path):
		kind = BlobPut
	default:
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failN > 0 && r.failKind&kind != 0 {
		r.failN--
		return true
	}
	return false
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ErrNotFound is returned for a missing repository, tag or blob.
var ErrNotFound = errors.New("not found")

// get serves a read straight from the storage handlers: no network, no auth,
// no injected failures.
func (r *Registry) get(ctx context.Context, method, path string, accept ...string) (*httptest.ResponseRecorder, error) {
	req := httptest.NewRequestWithContext(ctx, method, path, nil)
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	rec := httptest.NewRecorder()
	r.app.ServeHTTP(rec, req)
	switch {
	case rec.Code == http.StatusNotFound:
		return nil, fmt.Errorf("%s %s: %w", method, path, ErrNotFound)
	case rec.Code/100 != 2:
		return nil, fmt.Errorf("%s %s: %d %s", method, path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return rec, nil
}

// Tags lists the tags of repo (e.g. "proj/app").
func (r *Registry) Tags(ctx context.Context, repo string) ([]string, error) {
	rec, err := r.get(ctx, http.MethodGet, "/v2/"+repo+"/tags/list")
	if err != nil {
		return nil, err
	}
	var out struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	return out.Tags, nil
}

// Repositories lists the repositories (up to 1000).
func (r *Registry) Repositories(ctx context.Context) ([]string, error) {
	rec, err := r.get(ctx, http.MethodGet, "/v2/_catalog?n=1000")
	if err != nil {
		return nil, err
	}
	var out struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return out.Repositories, nil
}

// Manifest is a stored manifest.
type Manifest struct {
	Digest    string
	MediaType string
	Body      []byte
}

// Descriptor is a blob reference inside a manifest.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// ImageManifest is the part of a Docker v2 or OCI image manifest checks need.
type ImageManifest struct {
	MediaType string       `json:"mediaType"`
	Config    Descriptor   `json:"config"`
	Layers    []Descriptor `json:"layers"`
}

// Image decodes the manifest as an image manifest.
func (m Manifest) Image() (ImageManifest, error) {
	var im ImageManifest
	err := json.Unmarshal(m.Body, &im)
	return im, err
}

func manifestTypes() []string {
	return []string{
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/vnd.oci.image.index.v1+json",
	}
}

// Manifest returns the manifest of repo at ref (a tag or a digest).
func (r *Registry) Manifest(ctx context.Context, repo, ref string) (Manifest, error) {
	rec, err := r.get(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, manifestTypes()...)
	if err != nil {
		return Manifest{}, err
	}
	return Manifest{
		Digest:    rec.Header().Get("Docker-Content-Digest"),
		MediaType: rec.Header().Get("Content-Type"),
		Body:      rec.Body.Bytes(),
	}, nil
}

// Resolve returns the manifest digest repo's ref points to.
func (r *Registry) Resolve(ctx context.Context, repo, ref string) (string, error) {
	m, err := r.Manifest(ctx, repo, ref)
	return m.Digest, err
}

// Blob returns the content of a blob of repo.
func (r *Registry) Blob(ctx context.Context, repo, digest string) ([]byte, error) {
	rec, err := r.get(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+digest)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(rec.Body)
}
