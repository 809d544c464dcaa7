// Package api serves logspout's /routes, plus /health and /metrics.
package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/state"
)

// Routes is the router as the API uses it (route.Router has it).
type Routes interface {
	Add(r *logs.Route) error
	Remove(id string) bool
	Get(id string) *logs.Route
	List() []*logs.Route
	// Down lists the routes not connected, with the reason.
	Down() []string
	// Subscribe adds a live /logs client (see route.Router.Subscribe).
	Subscribe(t logs.Target, match func(*logs.ContainerInfo) bool) (cancel func())
}

// API serves logspout's /routes, plus /health and /metrics.
type API struct {
	Routes     Routes
	DaemonUp   func() bool // the daemon's event stream stands
	RoutesPath string      // ROUTESPATH; routes persist only if it exists
	Metrics    *metrics.Set
}

// Handler returns the API's handler.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/routes", "/routes/"} {
		mux.HandleFunc(p, a.routes)
	}
	for _, p := range []string{"/logs", "/logs/"} {
		mux.HandleFunc(p, a.logs)
	}
	for _, p := range []string{"/health", "/health/"} {
		mux.HandleFunc(p, a.health)
	}
	for _, p := range []string{"/metrics", "/metrics/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			a.Metrics.WritePrometheus(w)
		})
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Write(append(b, '\n'))
}

func (a *API) routes(w http.ResponseWriter, r *http.Request) {
	id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/routes"), "/")
	switch {
	case r.Method == http.MethodGet && id == "":
		writeJSON(w, http.StatusOK, a.Routes.List())
	case r.Method == http.MethodGet:
		rt := a.Routes.Get(id)
		if rt == nil {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, rt)
	case r.Method == http.MethodPost && id == "":
		var rt logs.Route
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rt); err != nil {
			http.Error(w, "Bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if rt.ID == "" {
			rt.ID = logs.NewRouteID()
		}
		if err := a.Routes.Add(&rt); err != nil {
			http.Error(w, "Bad route: "+err.Error(), http.StatusBadRequest)
			return
		}
		a.persist(&rt)
		writeJSON(w, http.StatusCreated, &rt)
	case r.Method == http.MethodDelete && id != "":
		if !a.Routes.Remove(id) {
			http.NotFound(w, r)
			return
		}
		if a.routesDir() {
			os.Remove(filepath.Join(a.RoutesPath, id+".json"))
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (a *API) routesDir() bool {
	if a.RoutesPath == "" {
		return false
	}
	st, err := os.Stat(a.RoutesPath)
	return err == nil && st.IsDir()
}

func (a *API) persist(rt *logs.Route) {
	if !a.routesDir() {
		return
	}
	b, _ := json.Marshal(rt)
	_ = state.WriteAtomic(filepath.Join(a.RoutesPath, rt.ID+".json"), b, true)
}

// LoadRoutes reads ROUTESPATH/*.json, as logspout does at start-up.
func (a *API) LoadRoutes() error {
	if !a.routesDir() {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(a.RoutesPath, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rt logs.Route
		if err := json.Unmarshal(b, &rt); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if rt.ID == "" {
			rt.ID = strings.TrimSuffix(filepath.Base(f), ".json")
		}
		if err := a.Routes.Add(&rt); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// health is red (503) when the daemon's event stream is down or any route
// is not connected; logspout's always answered "Healthy!".
func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	var problems []string
	if !a.DaemonUp() {
		problems = append(problems, "docker daemon: events stream down")
	}
	problems = append(problems, a.Routes.Down()...)
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "Healthy!\n")
}
