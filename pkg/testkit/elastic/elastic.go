// Package elastic is a strict fake of Elasticsearch's document bulk API
// (POST /_bulk, POST /<target>/_bulk) and its root endpoint, written from
// Elastic's reference documentation:
//
//   - every answer carries X-Elastic-Product: Elasticsearch;
//   - the body is NDJSON (Content-Type application/x-ndjson, application/json
//     or the vendored compatible-with form; anything else is 406), its last
//     line ends with '\n', optionally gzip-encoded;
//   - each action line is an object with one of index, create, update,
//     delete; index and create take a source line; the target comes from
//     _index or the path; an unknown query parameter is a 400;
//   - data streams accept only create and need @timestamp; a document is
//     stored in the stream's backing index .ds-<name>-<yyyy.MM.dd>-000001;
//   - create of an existing _id is a 409 version_conflict_engine_exception;
//   - a field whose value does not fit its mapping is a 400
//     document_parsing_exception for that item only;
//   - per-item status and error, errors:true when any item failed, and
//     injected per-item 429 es_rejected_execution_exception (partial
//     success) or whole-request refusals;
//   - Basic or ApiKey authentication: 401 security_exception with
//     WWW-Authenticate when configured and missing or wrong.
package elastic

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/serve"
)

// Config is the cluster's set-up.
type Config struct {
	// Username and Password, when set, are the one Basic-auth user.
	Username, Password string
	// APIKey, "id:key", when set, is accepted as "Authorization: ApiKey
	// base64(id:key)".
	APIKey string
	// DataStreams are glob patterns (path.Match) of data stream names, as
	// an index template with data_stream enabled would match.
	DataStreams []string
	// Mapping maps a dotted field path to its type: long, keyword, date,
	// boolean or object. Fields not listed are mapped dynamically.
	Mapping map[string]string
	// ItemStatus, when set, may reject one item before it is stored: it
	// gets the target, the source and how many times a document with this
	// source has been offered so far (1 on the first), and returns 0 to
	// go on or 429 / 503 to refuse that item alone.
	ItemStatus func(index string, source []byte, attempt int) int
	// MaxContentLength is http.max_content_length (default 100 MB): a
	// larger body is a 413.
	MaxContentLength int64
}

// Doc is one stored document.
type Doc struct {
	Index  string // concrete index (a data stream's backing index)
	Stream string // data stream name, if any
	ID     string
	Source json.RawMessage
	Seq    int64
}

// Stats counts what the cluster saw.
type Stats struct {
	Requests      int // bulk requests answered 200
	Refused       int // whole requests refused (auth, Down, 4xx/5xx)
	Items         int // items in answered requests
	Created       int
	Rejected429   int
	Conflicts409  int
	MappingErrors int
	OtherErrors   int
}

// Server is a running fake cluster.
type Server struct {
	*serve.Server
	cfg Config

	mu       sync.Mutex
	docs     []Doc
	ids      map[string]map[string]int // index -> _id -> position in docs
	attempts map[string]int            // source -> times offered
	seq      int64
	down     int // status every request gets; 0: answering
	stats    Stats
	version  string
}

// Start serves a fake cluster on addr ("" picks a free loopback port).
func Start(addr string, cfg Config) (*Server, error) {
	if cfg.MaxContentLength == 0 {
		cfg.MaxContentLength = 100 << 20
	}
	s := &Server{cfg: cfg, ids: map[string]map[string]int{}, attempts: map[string]int{}, version: "8.15.0"}
	srv, err := serve.Start(addr, s)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
}

// Down makes every request answer status (429 or 503 as a cluster under
// load or without a master would); 0 answers again.
func (s *Server) Down(status int) {
	s.mu.Lock()
	s.down = status
	s.mu.Unlock()
}

// Docs returns the stored documents in the order they were stored.
func (s *Server) Docs() []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Doc(nil), s.docs...)
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Count is the number of stored documents.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if status, body := s.refusal(r); status != 0 {
		s.count(func(st *Stats) { st.Refused++ })
		writeJSON(w, status, body)
		return
	}
	p := strings.Trim(r.URL.Path, "/")
	switch {
	case p == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, http.StatusOK, map[string]any{
			"name": "fake-node", "cluster_name": "lightship-fake", "cluster_uuid": "fAkEcLuStErUuId0000000",
			"version": map[string]any{"number": s.version, "build_flavor": "default", "lucene_version": "9.11.1",
				"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
			"tagline": "You Know, for Search",
		})
	case p == "_bulk" || strings.HasSuffix(p, "/_bulk") && !strings.Contains(strings.TrimSuffix(p, "/_bulk"), "/"):
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			writeError(w, http.StatusMethodNotAllowed, "", fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST, PUT]", r.URL.Path, r.Method))
			return
		}
		s.bulk(w, r, strings.TrimSuffix(strings.TrimSuffix(p, "_bulk"), "/"))
	default:
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method))
	}
}

// refusal answers authentication and injected outages before any parsing.
func (s *Server) refusal(r *http.Request) (int, any) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if s.cfg.Username != "" || s.cfg.APIKey != "" {
		if msg := s.authError(r); msg != "" {
			return http.StatusUnauthorized, errorBody(http.StatusUnauthorized, "security_exception", msg)
		}
	}
	switch down {
	case 0:
		return 0, nil
	case http.StatusTooManyRequests:
		return down, errorBody(down, "es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0]")
	default:
		return down, errorBody(down, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];")
	}
}

func (s *Server) authError(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case h == "":
		return fmt.Sprintf("missing authentication credentials for REST request [%s]", r.URL.RequestURI())
	case strings.EqualFold(scheme, "ApiKey") && s.cfg.APIKey != "":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err == nil && string(raw) == s.cfg.APIKey {
			return ""
		}
		return "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
	case strings.EqualFold(scheme, "Basic") && s.cfg.Username != "":
		u, p, ok := r.BasicAuth()
		if ok && u == s.cfg.Username && p == s.cfg.Password {
			return ""
		}
		return fmt.Sprintf("unable to authenticate user [%s] for REST request [%s]", u, r.URL.RequestURI())
	}
	return fmt.Sprintf("unable to authenticate with provided credentials for REST request [%s]", r.URL.RequestURI())
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// bulkParams are the query parameters the bulk API documents.
const bulkParams = " include_source_on_error list_executed_pipelines pipeline refresh routing _source _source_excludes _source_includes timeout wait_for_active_shards require_alias require_data_stream filter_path pretty human error_trace "

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, target string) {
	for k := range r.URL.Query() {
		if !strings.Contains(bulkParams, " "+k+" ") {
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("request [%s] contains unrecognized parameter: [%s]", r.URL.Path, k))
			s.count(func(st *Stats) { st.Refused++ })
			return
		}
	}
	if !ndjsonType(r.Header.Get("Content-Type")) {
		writeJSON(w, http.StatusNotAcceptable, map[string]any{"error": fmt.Sprintf("Content-Type header [%s] is not supported", r.Header.Get("Content-Type")), "status": 406})
		s.count(func(st *Stats) { st.Refused++ })
		return
	}
	body, status, err := readBody(r, s.cfg.MaxContentLength)
	if err != nil {
		writeError(w, status, "illegal_argument_exception", err.Error())
		s.count(func(st *Stats) { st.Refused++ })
		return
	}
	ops, err := parseBulk(body, target)
	if err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		s.count(func(st *Stats) { st.Refused++ })
		return
	}
	start := time.Now()
	items := make([]map[string]*result, len(ops))
	errs := false
	for i, op := range ops {
		res := s.apply(op)
		if res.Error != nil {
			errs = true
		}
		items[i] = map[string]*result{op.action: res}
	}
	s.count(func(st *Stats) { st.Requests++; st.Items += len(ops) })
	writeJSON(w, http.StatusOK, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errs, "items": items})
}

func ndjsonType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/x-ndjson", "application/json":
		return true
	case "application/vnd.elasticsearch+x-ndjson", "application/vnd.elasticsearch+json":
		v := params["compatible-with"]
		return v == "7" || v == "8" || v == "9"
	}
	return false
}

func readBody(r *http.Request, max int64) ([]byte, int, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, max)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip: %w", err)
		}
		rd = io.LimitReader(zr, max+1)
	}
	b, err := io.ReadAll(rd)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || int64(len(b)) > max {
		return nil, http.StatusRequestEntityTooLarge, reason("Request Entity Too Large")
	}
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if len(b) == 0 {
		return nil, http.StatusBadRequest, fmt.Errorf("request body is required")
	}
	if b[len(b)-1] != '\n' {
		return nil, http.StatusBadRequest, reason("The bulk request must be terminated by a newline [\\n]")
	}
	return b, 0, nil
}

// op is one parsed bulk action.
type op struct {
	action string
	index  string
	id     string
	source []byte
}

type meta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

func parseBulk(body []byte, target string) ([]op, error) {
	var ops []op
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		var action map[string]json.RawMessage
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, reason(fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", i+1))
		}
		var o op
		var raw json.RawMessage
		for o.action, raw = range action {
		}
		switch o.action {
		case "index", "create", "update", "delete":
		default:
			return nil, reason(fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", i+1, o.action))
		}
		var m meta
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, reason(fmt.Sprintf("Malformed action/metadata line [%d]: %v", i+1, err))
		}
		o.index, o.id = m.Index, m.ID
		if o.index == "" {
			o.index = target
		}
		if o.index == "" {
			return nil, reason("Validation Failed: 1: index is missing;")
		}
		if o.action != "delete" {
			i++
			if i >= len(lines) {
				return nil, reason("Validation Failed: 1: no requests added;")
			}
			o.source = lines[i]
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, reason("Validation Failed: 1: no requests added;")
	}
	return ops, nil
}

func (s *Server) isStream(name string) bool {
	for _, p := range s.cfg.DataStreams {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// result is one entry of a bulk answer's "items".
type result struct {
	Index       string         `json:"_index"`
	ID          string         `json:"_id,omitempty"`
	Version     int            `json:"_version,omitempty"`
	Result      string         `json:"result,omitempty"`
	Shards      map[string]int `json:"_shards,omitempty"`
	SeqNo       *int64         `json:"_seq_no,omitempty"`
	PrimaryTerm int            `json:"_primary_term,omitempty"`
	Status      int            `json:"status"`
	Error       *itemError     `json:"error,omitempty"`
}

type itemError struct {
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Index     string `json:"index"`
	IndexUUID string `json:"index_uuid"`
	Shard     string `json:"shard"`
}

// apply runs one item; the result is its entry in "items".
func (s *Server) apply(o op) *result {
	stream := s.isStream(o.index)
	concrete := o.index
	if stream {
		concrete = ".ds-" + o.index + "-" + time.Now().UTC().Format("2006.01.02") + "-000001"
	}
	fail := func(status int, typ, reason string) *result {
		s.count(func(st *Stats) {
			switch status {
			case 429:
				st.Rejected429++
			case 409:
				st.Conflicts409++
			default:
				if typ == "document_parsing_exception" {
					st.MappingErrors++
				} else {
					st.OtherErrors++
				}
			}
		})
		return &result{Index: concrete, ID: o.id, Status: status,
			Error: &itemError{Type: typ, Reason: reason, Index: concrete, IndexUUID: "fAkEiNdExUuId000000000", Shard: "0"}}
	}
	if o.action == "update" || o.action == "delete" {
		if stream {
			return fail(400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")
		}
		return fail(400, "illegal_argument_exception", "this fake stores documents only: "+o.action+" is not supported")
	}
	if stream && o.action != "create" {
		return fail(400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams")
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(o.source, &doc); err != nil || doc == nil {
		return fail(400, "document_parsing_exception", fmt.Sprintf("[1:1] failed to parse: %v", err))
	}
	if s.cfg.ItemStatus != nil {
		s.mu.Lock()
		s.attempts[string(o.source)]++
		n := s.attempts[string(o.source)]
		s.mu.Unlock()
		switch st := s.cfg.ItemStatus(o.index, o.source, n); st {
		case 0:
		case 429:
			return fail(429, "es_rejected_execution_exception", "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=0, max_coordinating_and_primary_bytes=0]")
		default:
			return fail(st, "unavailable_shards_exception", "["+concrete+"][0] primary shard is not active Timeout: [1m]")
		}
	}
	if stream {
		if _, ok := doc["@timestamp"]; !ok {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse: data stream timestamp field [@timestamp] is missing")
		}
	}
	if msg := s.checkMapping(doc, o.id); msg != "" {
		return fail(400, "document_parsing_exception", msg)
	}
	return s.store(o, concrete, stream, fail)
}

func (s *Server) store(o op, concrete string, stream bool, fail func(int, string, string) *result) *result {
	s.mu.Lock()
	ids := s.ids[concrete]
	if ids == nil {
		ids = map[string]int{}
		s.ids[concrete] = ids
	}
	id := o.id
	if id == "" {
		id = autoID(s.seq)
	}
	pos, exists := ids[id]
	if exists && o.action == "create" {
		s.mu.Unlock()
		return fail(409, "version_conflict_engine_exception", fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id))
	}
	name := ""
	if stream {
		name = o.index
	}
	d := Doc{Index: concrete, Stream: name, ID: id, Source: append(json.RawMessage(nil), o.source...), Seq: s.seq}
	res, status, version := "created", 201, 1
	if exists {
		s.docs[pos] = d
		res, status, version = "updated", 200, 2
	} else {
		ids[id] = len(s.docs)
		s.docs = append(s.docs, d)
	}
	s.seq++
	s.stats.Created++
	s.mu.Unlock()
	return &result{Index: concrete, ID: id, Version: version, Result: res, Status: status,
		Shards: map[string]int{"total": 2, "successful": 1, "failed": 0}, SeqNo: &d.Seq, PrimaryTerm: 1}
}

func autoID(n int64) string {
	var b [15]byte
	for i := range b {
		b[i] = byte(n >> (8 * (i % 8)))
		b[i] ^= byte(i * 37)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkMapping reports the first mapped field whose value its type cannot
// take, in Elasticsearch's words (fields not mapped are mapped dynamically).
func (s *Server) checkMapping(doc map[string]json.RawMessage, id string) string {
	for field, typ := range s.cfg.Mapping {
		raw, ok := lookup(doc, field)
		if !ok {
			continue
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&v)
		_, isObj := v.(map[string]any)
		if (isObj && typ != "object") || (!isObj && !fits(typ, v)) {
			return fmt.Sprintf("[1:2] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%v'", field, typ, id, v)
		}
	}
	return ""
}

// lookup finds a dotted field path in a document.
func lookup(doc map[string]json.RawMessage, field string) (json.RawMessage, bool) {
	head, rest, nested := strings.Cut(field, ".")
	raw, ok := doc[head]
	if !ok || !nested {
		return raw, ok
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(raw, &inner) != nil {
		return nil, false
	}
	return lookup(inner, rest)
}

func fits(typ string, v any) bool {
	switch typ {
	case "", "keyword", "text":
		return true
	case "object":
		return v == nil
	case "long":
		if n, ok := v.(json.Number); ok {
			_, err := n.Int64()
			return err == nil
		}
		str, ok := v.(string)
		if !ok {
			return v == nil
		}
		_, err := json.Number(str).Int64()
		return err == nil
	case "boolean":
		_, ok := v.(bool)
		return ok || v == "true" || v == "false" || v == nil
	case "date":
		str, ok := v.(string)
		if !ok {
			_, num := v.(json.Number)
			return num || v == nil
		}
		_, err := time.Parse(time.RFC3339Nano, str)
		return err == nil
	}
	return true
}

// reason is an error in Elasticsearch's own (capitalised) words.
type reason string

func (r reason) Error() string { return string(r) }

func errorBody(status int, typ, reason string) map[string]any {
	cause := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason}, "status": status}
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	writeJSON(w, status, errorBody(status, typ, reason))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(v)
	_, _ = w.Write(b)
}
