// Package sink holds the route transports that deliver asynchronously and
// report each line on its own: Kafka, Elasticsearch's _bulk API and beats
// to several Logstash hosts. A transport gets records in queue order and
// reports every one exactly once through an Acker; the route keeps its
// resume point at the first line not yet reported.
package sink

import (
	"context"
	"strings"
	"text/template"
)

// Container is what a record's container looks like to a transport and to
// its templates ({{.Container.Name}}, {{.Container.ID}}, ...). One pointer
// per container: transports may cache per-container results by it.
type Container struct {
	ID       string
	Name     string // Docker's, with its leading '/'
	Image    string
	Hostname string
	Labels   map[string]string
}

// Record is one log line on its way out.
type Record struct {
	Seq       uint64 // the route queue's index, handed back in Ack
	Container *Container
	NS        int64  // Docker's timestamp, Unix ns
	N         uint32 // lines of this container at NS up to this one
	Value     []byte // the event (looplab's JSON object); owned by the transport
}

// Outcome is what became of a record.
type Outcome int

const (
	// Delivered: the peer acknowledged it.
	Delivered Outcome = iota
	// Failed: the peer refused it for good (a mapping error, a record too
	// large); it is logged and counted, never retried.
	Failed
	// Retry: the transport gave up on the connection; the route restarts
	// the transport and sends every unreported line again.
	Retry
)

// Acker receives each record's outcome exactly once, from any goroutine.
type Acker interface {
	Ack(seq uint64, o Outcome)
}

// Counter is a monotonic metric.
type Counter interface {
	Inc()
	Add(n int)
}

// Metrics makes a route's counters: name is the series name after
// logspout_route_, labels extra `k="v"` pairs (may be empty).
type Metrics func(name, labels string) Counter

// Transport delivers records.
type Transport interface {
	// Send hands recs over in queue order; it may block (back-pressure)
	// and returns early only when ctx ends.
	Send(ctx context.Context, recs []Record) error
	// Close stops the transport; records not yet reported get Retry.
	Close()
}

// templateData is what a per-container template sees.
type templateData struct{ Container *Container }

// ContainerTemplate is a template run once per container, never per line.
type ContainerTemplate struct {
	tpl   *template.Template
	fixed string
	cache map[*Container]string
	clean func(string) string
}

// NewContainerTemplate compiles s; clean, if not nil, maps each result
// (e.g. to the characters a topic name may hold).
func NewContainerTemplate(name, s string, clean func(string) string) (*ContainerTemplate, error) {
	t := &ContainerTemplate{cache: map[*Container]string{}, clean: clean}
	if !strings.Contains(s, "{{") {
		t.fixed = s
		return t, nil
	}
	tpl, err := template.New(name).Option("missingkey=zero").Parse(s)
	if err != nil {
		return nil, err
	}
	t.tpl = tpl
	return t, nil
}

// For returns the template's value for c (cached). Not safe for
// concurrent use.
func (t *ContainerTemplate) For(c *Container) string {
	if t.tpl == nil {
		return t.fixed
	}
	if v, ok := t.cache[c]; ok {
		return v
	}
	var b strings.Builder
	if err := t.tpl.Execute(&b, templateData{Container: c}); err != nil {
		b.Reset()
	}
	v := b.String()
	if t.clean != nil {
		v = t.clean(v)
	}
	if len(t.cache) > 4096 {
		clear(t.cache) // containers come and go: keep the cache bounded
	}
	t.cache[c] = v
	return v
}

// UntilClosed is a context that ends when stop is closed (a transport's
// Close), for the work a transport runs on its own goroutines.
func UntilClosed(stop <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
