// Package kube is a strict fake of the Kubernetes API server and of the
// Deployment, StatefulSet and DaemonSet controllers, written from the API's
// documented semantics: resourceVersion and 409 Conflict, generation bumped
// on spec changes, observedGeneration lag, status counts that move one pod
// at a time, ProgressDeadlineExceeded, StatefulSet partitions and revisions,
// DaemonSets on three nodes, pods in ImagePullBackOff or CrashLoopBackOff,
// watches, the three patch content types, Bearer auth, and Rancher 2's
// /k8s/clusters/<id> proxy with API keys. kubectl 1.20 checks it
// (kubectl_test.go): `kubectl set image` and `kubectl rollout status` behave
// against it as against a cluster.
package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Options configure a Server.
type Options struct {
	// Token is the Bearer token the API accepts directly ("" refuses direct access).
	Token string
	// Rancher, when set, also serves Rancher 2's cluster API and its
	// Kubernetes proxy for one cluster.
	Rancher *Rancher
	// Tick is one controller step (default 50ms): a pod becomes ready, a
	// status is observed, one pod is replaced.
	Tick time.Duration
	// Nodes are the nodes DaemonSets run on (default node-1, node-2, node-3).
	Nodes []string
	// NoWatch refuses watch requests with 405, as an API in front of the
	// server that cannot stream would: clients must poll.
	NoWatch bool
	// WatchTimeout, when set, ends every watch after that long, as API
	// servers end watches after a (randomised) timeout: clients watch again.
	WatchTimeout time.Duration
}

// Rancher is the Rancher 2 server in front of the cluster: /v3/clusters
// and /k8s/clusters/<ClusterID>/..., both taking the API keys as a Bearer
// token "access:secret" (or HTTP Basic).
type Rancher struct {
	AccessKey, SecretKey   string
	ClusterID, ClusterName string
}

// Request is one request the server answered.
type Request struct {
	Time        time.Time
	Method      string
	Path        string // without the Rancher proxy prefix
	Query       string
	Proxy       bool // came through /k8s/clusters/<id>
	Resource    string
	Namespace   string
	Name        string
	Watch       bool
	ContentType string
	Status      int
	Message     string // the Status message of a refusal
}

// Event is something the server or its controllers did.
type Event struct {
	Time      time.Time
	Resource  string
	Namespace string
	Name      string
	// What: generation (spec changed), observed, complete (the rollout is
	// done as its status shows it), deadline-exceeded, pod-created,
	// pod-deleted, conflict-injected, watch-sent.
	What string
	// ResourceVersion of the object after the event.
	ResourceVersion string
	Detail          string
}

// Server is the fake API server. Use New, then Start.
type Server struct {
	opts     Options
	mu       sync.Mutex
	rv       int64
	tickN    int64
	objs     map[string]map[string]object
	revs     map[string]map[string][]byte // workload key -> revision -> template JSON
	progress map[string]time.Time         // deployment key -> last progress
	images   map[string]Behavior
	conflict map[string]int
	watchers map[*watcher]struct{}
	requests []Request
	events   []Event
	srv      *http.Server
	url      string
	caPEM    []byte
	stop     chan struct{}
	done     chan struct{}
}

// New returns a server with no objects.
func New(o Options) *Server {
	if o.Tick <= 0 {
		o.Tick = 50 * time.Millisecond
	}
	if len(o.Nodes) == 0 {
		o.Nodes = []string{"node-1", "node-2", "node-3"}
	}
	return &Server{
		opts: o, objs: map[string]map[string]object{}, revs: map[string]map[string][]byte{},
		progress: map[string]time.Time{}, images: map[string]Behavior{}, conflict: map[string]int{},
		watchers: map[*watcher]struct{}{},
	}
}

// Start serves HTTPS on addr (default 127.0.0.1:0), as an API server does,
// with a certificate of its own CA (CACert), and starts the controllers.
func (s *Server) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cert, caPEM, err := selfSigned()
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	s.caPEM = caPEM
	s.url = "https://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		_ = s.srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.run()
	return s.url, nil
}

// selfSigned makes a certificate for 127.0.0.1 and returns it with its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// URL is the API's address, https://127.0.0.1:port.
func (s *Server) URL() string { return s.url }

// CACert is the PEM certificate that signs the server's (kubeconfig's
// certificate-authority-data, the plugins' ca_cert).
func (s *Server) CACert() string { return string(s.caPEM) }

// ProxyURL is the cluster's API through the Rancher proxy.
func (s *Server) ProxyURL() string { return s.url + "/k8s/clusters/" + s.opts.Rancher.ClusterID }

// Close stops the controllers, ends the watches and stops serving. It may
// be called again.
func (s *Server) Close() error {
	if s.stop == nil {
		return nil
	}
	close(s.stop)
	<-s.done
	s.stop = nil // a second Close does nothing
	s.mu.Lock()
	for w := range s.watchers {
		w.close()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) run() {
	defer close(s.done)
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			s.stepAll(now)
			s.mu.Unlock()
		}
	}
}

// Requests returns the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Events returns the event log.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Refusals returns the requests answered with a 4xx or 5xx status.
func (s *Server) Refusals() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Status >= 400 {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) event(resource, ns, name, what, rv, detail string) {
	s.events = append(s.events, Event{Time: time.Now(), Resource: resource, Namespace: ns, Name: name, What: what, ResourceVersion: rv, Detail: detail})
}

// apiError is a refusal, answered with a metav1.Status body.
type apiError struct{ status metav1.Status }

func (e *apiError) Error() string { return e.status.Message }

func refuse(code int32, reason metav1.StatusReason, details *metav1.StatusDetails, format string, args ...any) *apiError {
	return &apiError{status: metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: fmt.Sprintf(format, args...), Reason: reason, Details: details, Code: code,
	}}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type")}
	path := r.URL.Path
	var err error
	switch {
	case s.opts.Rancher != nil && strings.HasPrefix(path, "/v3"):
		err = s.serveRancher(w, r, &req)
	case s.opts.Rancher != nil && strings.HasPrefix(path, "/k8s/clusters/"):
		rest := strings.TrimPrefix(path, "/k8s/clusters/")
		id, sub, _ := strings.Cut(rest, "/")
		req.Proxy, req.Path = true, "/"+sub
		switch {
		case !s.rancherAuth(r):
			err = rancherRefusal(http.StatusUnauthorized, "Unauthorized", "must authenticate")
		case id != s.opts.Rancher.ClusterID:
			err = rancherRefusal(http.StatusNotFound, "NotFound", fmt.Sprintf("clusters.management.cattle.io %q not found", id))
		default:
			err = s.serveAPI(w, r, "/"+sub, &req)
		}
	default:
		if s.opts.Token == "" || r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
			err = refuse(http.StatusUnauthorized, metav1.StatusReasonUnauthorized, nil, "Unauthorized")
		} else {
			err = s.serveAPI(w, r, path, &req)
		}
	}
	if req.Status == 0 {
		req.Status = http.StatusOK
	}
	var apiErr *apiError
	var rancherErr *rancherError
	switch {
	case err == nil:
	case errors.As(err, &apiErr):
		req.Status, req.Message = int(apiErr.status.Code), apiErr.status.Message
		writeJSON(w, int(apiErr.status.Code), apiErr.status)
	case errors.As(err, &rancherErr):
		req.Status, req.Message = rancherErr.Status, rancherErr.Message
		writeJSON(w, rancherErr.Status, rancherErr)
	default:
		req.Status, req.Message = http.StatusInternalServerError, err.Error()
		writeJSON(w, req.Status, refuse(http.StatusInternalServerError, metav1.StatusReasonInternalError, nil, "%v", err).status)
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
}

// rancherError is Rancher's error body.
type rancherError struct {
	Type    string `json:"type"`
	Status  int    `json:"status,string"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *rancherError) Error() string { return e.Message }

func rancherRefusal(status int, code, msg string) *rancherError {
	return &rancherError{Type: "error", Status: status, Code: code, Message: msg}
}

func (s *Server) rancherAuth(r *http.Request) bool {
	want := s.opts.Rancher.AccessKey + ":" + s.opts.Rancher.SecretKey
	if u, p, ok := r.BasicAuth(); ok {
		return u+":"+p == want
	}
	return r.Header.Get("Authorization") == "Bearer "+want
}

// serveRancher answers /v3/clusters (list, ?name=) and /v3/clusters/<id>.
func (s *Server) serveRancher(w http.ResponseWriter, r *http.Request, req *Request) error {
	if !s.rancherAuth(r) {
		return rancherRefusal(http.StatusUnauthorized, "Unauthorized", "must authenticate")
	}
	if r.Method != http.MethodGet {
		return rancherRefusal(http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
	}
	rc := s.opts.Rancher
	cluster := map[string]any{"id": rc.ClusterID, "name": rc.ClusterName, "type": "cluster", "state": "active",
		"links": map[string]string{"self": "http://" + r.Host + "/v3/clusters/" + rc.ClusterID}}
	switch p := strings.TrimSuffix(r.URL.Path, "/"); {
	case p == "/v3/clusters":
		data := []any{}
		if n := r.URL.Query().Get("name"); n == "" || n == rc.ClusterName {
			data = append(data, cluster)
		}
		writeJSON(w, http.StatusOK, map[string]any{"type": "collection", "resourceType": "cluster", "data": data})
		return nil
	case p == "/v3/clusters/"+rc.ClusterID:
		writeJSON(w, http.StatusOK, cluster)
		return nil
	case strings.HasPrefix(p, "/v3/clusters/"):
		return rancherRefusal(http.StatusNotFound, "NotFound", fmt.Sprintf("clusters.management.cattle.io %q not found", strings.TrimPrefix(p, "/v3/clusters/")))
	}
	req.Resource = "rancher"
	return rancherRefusal(http.StatusNotFound, "NotFound", "not found")
}
