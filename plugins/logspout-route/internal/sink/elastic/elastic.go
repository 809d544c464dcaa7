// Package elastic delivers log lines to Elasticsearch with the _bulk API:
// batches closed by size or linger, every item created with op_type create
// and an _id derived from the line (container, timestamp, count), so a
// resent line that is already stored answers 409 and counts as delivered:
// the same document never lands twice, in a data stream or a dated index.
// Items refused with 429 or 5xx are sent again, alone, with backoff; any
// other refusal (a mapping error) is logged with the container, counted
// and skipped.
package elastic

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/sirupsen/logrus"
)

// Config is one Elasticsearch route.
type Config struct {
	URL        string // http(s)://host:port[/prefix]
	Index      string // data stream or index; {{.Container.Name}} and %{+yyyy.MM.dd} allowed
	BatchSize  int    // documents per _bulk request
	BatchBytes int    // body bytes per _bulk request
	Linger     time.Duration
	Workers    int // _bulk requests in flight
	APIKey     string
	Username   string
	Password   string
	TLS        *tls.Config
	Timeout    time.Duration
	MaxBackoff time.Duration
	Acker      sink.Acker
	Metrics    sink.Metrics
	Log        logrus.FieldLogger
}

// Check validates the settings that do not need the cluster.
func (c *Config) Check() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want http(s)://host:port", c.URL)
	}
	if c.Index == "" {
		return errors.New("no index: ?index=logs-docker-default")
	}
	if _, err := sink.NewContainerTemplate("index", c.Index, nil); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if c.APIKey != "" && c.Username != "" {
		return errors.New("both an API key and a user: choose one")
	}
	return nil
}

// Transport is a running bulk writer.
type Transport struct {
	cfg    Config
	url    string
	auth   string
	client *http.Client
	index  *sink.ContainerTemplate
	ecs    map[*sink.Container][]byte

	mu      sync.Mutex
	pending []item
	size    int
	timer   *time.Timer
	batches chan []item
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  bool

	delivered, resent, failed sink.Counter
}

// item is one document of a bulk request.
type item struct {
	seq       uint64
	container *sink.Container
	action    []byte // the action line, '\n' included
	doc       []byte // the source line, '\n' included
}

// New starts the writer's workers; nothing is sent before Send.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1000
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 5 << 20
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 200 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	idx, _ := sink.NewContainerTemplate("index", cfg.Index, cleanIndex)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	tr.MaxIdleConnsPerHost = cfg.Workers
	t := &Transport{
		cfg: cfg, url: strings.TrimSuffix(cfg.URL, "/") + "/_bulk", index: idx,
		client:  &http.Client{Transport: tr, Timeout: cfg.Timeout},
		ecs:     map[*sink.Container][]byte{},
		batches: make(chan []item), stop: make(chan struct{}),
		delivered: cfg.Metrics("elasticsearch_items_total", `result="created"`),
		resent:    cfg.Metrics("lines_resent_total", ""),
		failed:    cfg.Metrics("elasticsearch_items_total", `result="failed"`),
	}
	switch {
	case cfg.APIKey != "":
		key := cfg.APIKey
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key)) // id:api_key as Kibana shows it
		}
		t.auth = "ApiKey " + key
	case cfg.Username != "":
		t.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	}
	for range cfg.Workers {
		t.wg.Add(1)
		go t.worker()
	}
	return t, nil
}

// Send adds recs to the batch being filled; a full batch goes to a worker
// (blocking while all are busy), a partial one after Linger.
func (t *Transport) Send(ctx context.Context, recs []sink.Record) error {
	for i := range recs {
		it := t.item(&recs[i])
		t.mu.Lock()
		t.pending = append(t.pending, it)
		t.size += len(it.action) + len(it.doc)
		full := len(t.pending) >= t.cfg.BatchSize || t.size >= t.cfg.BatchBytes
		var batch []item
		if full {
			batch = t.takeLocked()
		} else if t.timer == nil {
			t.timer = time.AfterFunc(t.cfg.Linger, t.lingerDone)
		}
		t.mu.Unlock()
		if batch != nil {
			if err := t.dispatch(ctx, batch); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Transport) takeLocked() []item {
	b := t.pending
	t.pending, t.size = nil, 0
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	return b
}

func (t *Transport) lingerDone() {
	t.mu.Lock()
	t.timer = nil
	b := t.takeLocked()
	t.mu.Unlock()
	if len(b) > 0 {
		_ = t.dispatch(context.Background(), b)
	}
}

func (t *Transport) dispatch(ctx context.Context, b []item) error {
	select {
	case t.batches <- b:
		return nil
	case <-t.stop:
	case <-ctx.Done():
	}
	for _, it := range b {
		t.cfg.Acker.Ack(it.seq, sink.Retry)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("closed")
}

// Close stops the workers; what they hold is reported Retry.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	b := t.takeLocked()
	t.mu.Unlock()
	close(t.stop)
	for _, it := range b {
		t.cfg.Acker.Ack(it.seq, sink.Retry)
	}
	t.wg.Wait()
}

// item builds the action and source lines of r. The _id makes a resend
// idempotent: container ID prefix, timestamp, count at that timestamp.
func (t *Transport) item(r *sink.Record) item {
	c := r.Container
	act := make([]byte, 0, 96)
	act = append(act, `{"create":{"_index":`...)
	act = appendString(act, t.indexFor(c, r.NS))
	act = append(act, `,"_id":"`...)
	id := c.ID
	if len(id) > 16 {
		id = id[:16]
	}
	act = append(act, id...)
	act = append(act, '-')
	act = strconv.AppendInt(act, r.NS, 36)
	act = append(act, '-')
	act = strconv.AppendUint(act, uint64(r.N), 10)
	act = append(act, "\"}}\n"...)
	return item{seq: r.Seq, container: c, action: act, doc: t.withECS(r.Value, c)}
}

func (t *Transport) indexFor(c *sink.Container, ns int64) string {
	name := t.index.For(c)
	if strings.Contains(name, "%{+") {
		name = expandDate(name, time.Unix(0, ns).UTC())
	}
	return strings.ToLower(name) // index names are lowercase
}

// cleanIndex makes a template's result a legal index name: '/' (Docker's
// name starts with one) goes, the other characters Elasticsearch refuses
// become '_'.
func cleanIndex(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '/':
			return -1
		case strings.ContainsRune(`\*?"<>| ,#:`, r):
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
	return strings.TrimLeft(s, "-_+")
}

// expandDate replaces Logstash's %{+yyyy.MM.dd} with the line's UTC date
// (yyyy, MM, dd, HH understood).
func expandDate(s string, ts time.Time) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "%{+")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		f := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15").Replace(s[i+3 : i+j])
		b.WriteString(ts.Format(f))
		s = s[i+j+1:]
	}
}

// withECS appends ECS fields (container.*, host.name, ecs.version) to the
// looplab event, each only when the event does not have that key already.
func (t *Transport) withECS(v []byte, c *sink.Container) []byte {
	ecs, ok := t.ecs[c]
	if !ok {
		if len(t.ecs) > 4096 {
			clear(t.ecs)
		}
		ecs = ecsFields(c)
		t.ecs[c] = ecs
	}
	if len(v) < 2 || v[len(v)-1] != '}' {
		return append(append([]byte(nil), v...), '\n')
	}
	out := make([]byte, 0, len(v)+len(ecs)+64)
	out = append(out, v[:len(v)-1]...)
	for _, part := range bytes.SplitAfter(ecs, []byte{0}) {
		part = bytes.TrimSuffix(part, []byte{0})
		colon := bytes.IndexByte(part, ':')
		if colon < 1 || bytes.Contains(v, part[1:colon+1]) {
			continue
		}
		out = append(out, part...)
	}
	return append(out, "}\n"...)
}

// ecsFields are ',"key":{...}' members separated by NUL bytes.
func ecsFields(c *sink.Container) []byte {
	name := strings.TrimPrefix(c.Name, "/")
	ctr := map[string]any{"id": c.ID, "name": name, "image": map[string]string{"name": c.Image}}
	b, _ := json.Marshal(ctr)
	out := append([]byte(`,"container":`), b...)
	out = append(out, 0)
	out = append(out, `,"host":{"name":`...)
	out = appendString(out, c.Hostname)
	out = append(out, "}\x00"...)
	out = append(out, `,"ecs":{"version":"8.11.0"}`...)
	return out
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

func (t *Transport) worker() {
	defer t.wg.Done()
	ctx, cancel := sink.UntilClosed(t.stop)
	defer cancel()
	for {
		select {
		case b := <-t.batches:
			t.deliver(ctx, b, 0)
		case <-t.stop:
			return
		}
	}
}

// retryLater sends items refused one by one (429, 5xx) again after a
// backoff, off the worker: new batches keep flowing meanwhile.
func (t *Transport) retryLater(b []item, attempt int) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := sink.UntilClosed(t.stop)
		defer cancel()
		t.deliver(ctx, b, attempt)
	}()
}

// deliver sends b until every item is created or refused for good; a
// whole-request failure is retried here (holding the worker: back-pressure).
func (t *Transport) deliver(ctx context.Context, b []item, attempt int) {
	var body bytes.Buffer
	for ; len(b) > 0; attempt++ {
		if attempt > 0 {
			t.resent.Add(len(b))
			if backoff.Sleep(ctx, backoff.Exponential(100*time.Millisecond, t.cfg.MaxBackoff, attempt-1)) != nil {
				break
			}
		}
		body.Reset()
		for _, it := range b {
			body.Write(it.action)
			body.Write(it.doc)
		}
		status, resp, err := t.post(ctx, body.Bytes())
		t.cfg.Metrics("elasticsearch_bulk_requests_total", fmt.Sprintf("status=%q", statusLabel(status, err))).Inc()
		switch {
		case err != nil || status == http.StatusTooManyRequests || status >= 500:
			t.warnOnce(attempt, "elasticsearch bulk request failed; retrying with backoff", err, status, resp)
			continue
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			t.warnOnce(attempt, "elasticsearch refused the credentials; retrying with backoff", nil, status, resp)
			continue
		case status == http.StatusRequestEntityTooLarge && len(b) > 1:
			half := len(b) / 2
			t.deliver(ctx, b[:half], 0)
			b = b[half:]
			attempt = -1
			continue
		case status != http.StatusOK:
			t.cfg.Log.WithField("status", status).WithField("answer", truncate(resp)).Warn("elasticsearch refused a whole bulk request; its lines are skipped")
			for _, it := range b {
				t.failed.Inc()
				t.cfg.Acker.Ack(it.seq, sink.Failed)
			}
			return
		}
		if b = t.results(b, resp); len(b) > 0 {
			t.retryLater(b, attempt+1)
		}
		return
	}
	for _, it := range b {
		t.cfg.Acker.Ack(it.seq, sink.Retry)
	}
}

func (t *Transport) warnOnce(attempt int, msg string, err error, status int, resp []byte) {
	if attempt != 0 {
		return
	}
	e := t.cfg.Log.WithField("status", status)
	if err != nil {
		e = e.WithError(err)
	} else {
		e = e.WithField("answer", truncate(resp))
	}
	e.Warn(msg)
}

func statusLabel(status int, err error) string {
	if err != nil {
		return "error"
	}
	return strconv.Itoa(status)
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

type bulkResponse struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"items"`
}

type bulkItemResult struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// results acks what the answer settled and returns the items to resend.
func (t *Transport) results(b []item, resp []byte) []item {
	var r bulkResponse
	if err := json.Unmarshal(resp, &r); err != nil || len(r.Items) != len(b) {
		t.cfg.Log.WithField("answer", truncate(resp)).Warn("elasticsearch bulk answer unreadable or short; sending again")
		return b
	}
	var again []item
	for i, it := range b {
		var res bulkItemResult
		for _, v := range r.Items[i] {
			res = v
		}
		switch {
		case res.Status >= 200 && res.Status < 300:
			t.delivered.Inc()
			t.cfg.Acker.Ack(it.seq, sink.Delivered)
		case res.Status == http.StatusConflict:
			// create of an _id that exists: an earlier send of this line landed.
			t.cfg.Metrics("elasticsearch_items_total", `result="already_stored"`).Inc()
			t.cfg.Acker.Ack(it.seq, sink.Delivered)
		case res.Status == http.StatusTooManyRequests || res.Status >= 500:
			t.cfg.Metrics("elasticsearch_items_total", fmt.Sprintf("result=%q", strconv.Itoa(res.Status))).Inc()
			again = append(again, it)
		default:
			e := t.cfg.Log.WithField("container", strings.TrimPrefix(it.container.Name, "/")).WithField("status", res.Status)
			if res.Error != nil {
				e = e.WithField("error", res.Error.Type).WithField("reason", res.Error.Reason)
			}
			e.Warn("elasticsearch refused a line; skipped")
			t.failed.Inc()
			t.cfg.Acker.Ack(it.seq, sink.Failed)
		}
	}
	return again
}

func (t *Transport) post(ctx context.Context, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("elasticsearch: %w", err)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("elasticsearch answer: %w", err)
	}
	if resp.StatusCode < 300 && resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		return 0, b, errors.New("the server is not Elasticsearch (no X-Elastic-Product header)")
	}
	return resp.StatusCode, b, nil
}
