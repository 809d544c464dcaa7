package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// liveLine is one line for a /logs client (a copy: the reader's buffer is
// reused).
type liveLine struct {
	info   *logs.ContainerInfo
	stream byte
	ns     int64
	data   []byte
}

// liveTarget is a /logs client as a route: it never blocks a reader (a
// slow client loses lines, counted) and takes no part in delivery
// accounting.
type liveTarget struct {
	ch      chan liveLine
	mask    uint8
	dropped atomic.Uint64
}

func (l *liveTarget) ID() string      { return "logs" }
func (l *liveTarget) Sources() uint8  { return l.mask }
func (l *liveTarget) Multiline() bool { return false }
func (l *liveTarget) CountRead()      {}
func (l *liveTarget) CountDetached()  {}

func (l *liveTarget) Push(c *logs.Container, line *logs.Line, _ bool) logs.PushResult {
	c.Confirmed(l, line.Stream, line.Pos, 1) // nothing to wait for
	select {
	case l.ch <- liveLine{info: c.Info, stream: line.Stream, ns: line.TimeNS, data: append([]byte(nil), line.Data...)}:
	default:
		l.dropped.Add(1)
	}
	return logs.Pushed
}

// logs is logspout's httpstream: GET /logs, /logs/id:<id>, /logs/name:<glob>
// stream the lines of the running containers, plain text (each prefixed
// with the container's name, coloured unless colors=off, when more than one
// container can match) or JSON lines with Accept: application/json;
// ?sources=stdout|stderr (or source=) keeps one stream. A WebSocket
// upgrade gets each line as a JSON text message (websocket.go).
func (a *API) logs(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rt, code, msg := logsFilter(r)
	if code != 0 {
		http.Error(w, msg, code)
		return
	}
	t := &liveTarget{ch: make(chan liveLine, 1024), mask: rt.SourceMask()}
	cancel := a.Routes.Subscribe(t, rt.MatchContainer)
	defer cancel()
	if isWebSocket(r) {
		streamWebSocket(w, r, t)
		return
	}
	out := newLiveWriter(w, r, rt.FilterID == "")
	w.WriteHeader(http.StatusOK)
	out.flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case l := <-t.ch:
			if err := out.drain(l, t.ch); err != nil {
				return
			}
		}
	}
}

// logsFilter reads the /logs path and query into a route filter; a non-zero
// code refuses the request.
func logsFilter(r *http.Request) (rt *logs.Route, code int, msg string) {
	rt = &logs.Route{}
	if pred := strings.Trim(strings.TrimPrefix(r.URL.Path, "/logs"), "/"); pred != "" {
		k, v, _ := strings.Cut(pred, ":")
		switch {
		case k == "id" && v != "":
			rt.FilterID = v
		case k == "name" && v != "":
			if _, err := path.Match(v, ""); err != nil {
				return nil, http.StatusBadRequest, "Bad name pattern: " + err.Error()
			}
			rt.FilterName = v
		default:
			return nil, http.StatusNotFound, "404 page not found"
		}
	}
	src := r.URL.Query().Get("sources")
	if src == "" {
		src = r.URL.Query().Get("source")
	}
	if src != "" {
		rt.FilterSources = []string{src}
	}
	return rt, 0, ""
}

// liveWriter formats lines as logspout's httpstream does.
type liveWriter struct {
	w      http.ResponseWriter
	json   bool
	multi  bool
	colors map[string]int // nil: colors=off
	width  int
}

// drain writes l and whatever else waits, then flushes once.
func (lw *liveWriter) drain(l liveLine, more <-chan liveLine) error {
	for {
		if err := lw.write(l); err != nil {
			return err
		}
		select {
		case l = <-more:
		default:
			lw.flush()
			return nil
		}
	}
}

func (lw *liveWriter) flush() {
	if f, ok := lw.w.(http.Flusher); ok {
		f.Flush()
	}
}

func newLiveWriter(w http.ResponseWriter, r *http.Request, multi bool) *liveWriter {
	lw := &liveWriter{w: w, multi: multi, width: 16}
	if r.URL.Query().Get("colors") != "off" {
		lw.colors = map[string]int{}
	}
	if r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		lw.json = true
	} else {
		w.Header().Set("Content-Type", "text/plain")
	}
	return lw
}

// liveJSON is a line as JSON (logspout's Message, with the container's id
// and name).
type liveJSON struct {
	Container struct {
		ID   string `json:"Id"`
		Name string `json:"Name"`
	} `json:"Container"`
	Source string    `json:"Source"`
	Data   string    `json:"Data"`
	Time   time.Time `json:"Time"`
}

func (lw *liveWriter) write(l liveLine) error {
	var b []byte
	name := strings.TrimPrefix(l.info.Name, "/")
	switch {
	case lw.json:
		var ind bytes.Buffer
		_ = json.Indent(&ind, liveMessage(l), "", "  ")
		b = append(ind.Bytes(), '\n')
	case !lw.multi:
		b = append(l.data, '\n')
	default:
		lw.width = max(lw.width, len(name))
		line := fmt.Sprintf("%"+strconv.Itoa(lw.width)+"s|%s", name, l.data)
		if lw.colors != nil {
			line = lw.color(name) + line + "\x1b[0m"
		}
		b = []byte(line + "\n")
	}
	_, err := lw.w.Write(b)
	return err
}

// color is logspout's Colorizer: up to 14 escape codes, then repeats.
func (lw *liveWriter) color(key string) string {
	i, ok := lw.colors[key]
	if !ok {
		i = len(lw.colors)
		lw.colors[key] = i
	}
	bright := "1;"
	if i%14 > 6 {
		bright = ""
	}
	return "\x1b[" + bright + "3" + strconv.Itoa(7-(i%7)) + "m"
}
