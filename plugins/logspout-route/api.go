package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// api serves logspout's /routes, plus /health and /metrics.
type api struct {
	router     *router
	pump       *pump
	routesPath string // ROUTESPATH; routes persist only if it exists
	metrics    *metrics.Set
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/routes", "/routes/"} {
		mux.HandleFunc(p, a.routes)
	}
	for _, p := range []string{"/health", "/health/"} {
		mux.HandleFunc(p, a.health)
	}
	for _, p := range []string{"/metrics", "/metrics/"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			a.metrics.WritePrometheus(w)
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

func (a *api) routes(w http.ResponseWriter, r *http.Request) {
	id := strings.Trim(strings.TrimPrefix(r.URL.Path, "/routes"), "/")
	switch {
	case r.Method == http.MethodGet && id == "":
		writeJSON(w, http.StatusOK, a.router.list())
	case r.Method == http.MethodGet:
		rt := a.router.get(id)
		if rt == nil {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, http.StatusOK, rt)
	case r.Method == http.MethodPost && id == "":
		var rt Route
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rt); err != nil {
			http.Error(w, "Bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		if rt.ID == "" {
			rt.ID = newRouteID()
		}
		if err := a.router.add(&rt); err != nil {
			http.Error(w, "Bad route: "+err.Error(), http.StatusBadRequest)
			return
		}
		a.persist(&rt)
		writeJSON(w, http.StatusCreated, &rt)
	case r.Method == http.MethodDelete && id != "":
		if !a.router.remove(id) {
			http.NotFound(w, r)
			return
		}
		if a.routesDir() {
			os.Remove(filepath.Join(a.routesPath, id+".json"))
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (a *api) routesDir() bool {
	if a.routesPath == "" {
		return false
	}
	st, err := os.Stat(a.routesPath)
	return err == nil && st.IsDir()
}

func (a *api) persist(rt *Route) {
	if !a.routesDir() {
		return
	}
	b, _ := json.Marshal(rt)
	_ = writeAtomic(filepath.Join(a.routesPath, rt.ID+".json"), b, true)
}

// loadRoutes reads ROUTESPATH/*.json, as logspout does at start-up.
func (a *api) loadRoutes() error {
	if !a.routesDir() {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(a.routesPath, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rt Route
		if err := json.Unmarshal(b, &rt); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if rt.ID == "" {
			rt.ID = strings.TrimSuffix(filepath.Base(f), ".json")
		}
		if err := a.router.add(&rt); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// health is red (503) when the daemon's event stream is down or any route
// is not connected; logspout's always answered "Healthy!".
func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	var problems []string
	if !a.pump.daemonUp.Load() {
		problems = append(problems, "docker daemon: events stream down")
	}
	for _, rr := range a.router.runs() {
		if !rr.up.Load() {
			msg, _ := rr.lastErr.Load().(string)
			problems = append(problems, fmt.Sprintf("route %s (%s://%s) down: %s", rr.route.ID, rr.route.Adapter, rr.route.Address, msg))
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "Healthy!\n")
}
