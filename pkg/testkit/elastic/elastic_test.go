package elastic

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

type bulkResp struct {
	Errors bool                                    `json:"errors"`
	Items  []map[string]map[string]json.RawMessage `json:"items"`
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start("", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func post(t *testing.T, s *Server, path, ctype, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("%s: no X-Elastic-Product header", path)
	}
	return resp, b
}

func statusOf(t *testing.T, item map[string]map[string]json.RawMessage) (string, int, string) {
	t.Helper()
	for action, res := range item {
		var st int
		json.Unmarshal(res["status"], &st)
		var e struct{ Type string }
		json.Unmarshal(res["error"], &e)
		return action, st, e.Type
	}
	t.Fatal("empty item")
	return "", 0, ""
}

func TestBulkRequestShapeIsChecked(t *testing.T) {
	s := start(t, Config{})
	cases := []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"text/plain", "/_bulk", "text/plain", "{\"index\":{\"_index\":\"a\"}}\n{}\n", 406},
		{"no final newline", "/_bulk", "application/x-ndjson", "{\"index\":{\"_index\":\"a\"}}\n{}", 400},
		{"unknown action", "/_bulk", "application/x-ndjson", "{\"upsert\":{\"_index\":\"a\"}}\n{}\n", 400},
		{"no index", "/_bulk", "application/x-ndjson", "{\"index\":{}}\n{}\n", 400},
		{"unknown parameter", "/_bulk?bogus=1", "application/x-ndjson", "{\"index\":{\"_index\":\"a\"}}\n{}\n", 400},
		{"vendored type", "/_bulk", "application/vnd.elasticsearch+x-ndjson; compatible-with=8", "{\"index\":{\"_index\":\"a\"}}\n{}\n", 200},
		{"index from path", "/b/_bulk", "application/x-ndjson", "{\"create\":{}}\n{\"x\":1}\n", 200},
	}
	for _, c := range cases {
		resp, b := post(t, s, c.path, c.ctype, c.body)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, b, c.want)
		}
	}
	if n := s.Count(); n != 2 {
		t.Errorf("stored %d, want 2", n)
	}
	if d := s.Docs()[1]; d.Index != "b" {
		t.Errorf("path target: index %q", d.Index)
	}
}

func TestDataStreamsTakeOnlyCreateAndRefuseDuplicateIDs(t *testing.T) {
	s := start(t, Config{DataStreams: []string{"logs-*"}, Mapping: map[string]string{"status": "long"}})
	body := `{"index":{"_index":"logs-app"}}
{"@timestamp":"2026-01-01T00:00:00Z","m":1}
{"create":{"_index":"logs-app","_id":"a1"}}
{"@timestamp":"2026-01-01T00:00:00Z","m":2}
{"create":{"_index":"logs-app","_id":"a1"}}
{"@timestamp":"2026-01-01T00:00:00Z","m":2}
{"create":{"_index":"logs-app"}}
{"m":3}
{"create":{"_index":"logs-app"}}
{"@timestamp":"2026-01-01T00:00:00Z","status":"abc"}
`
	resp, b := post(t, s, "/_bulk", "application/x-ndjson", body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var r bulkResp
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Errors || len(r.Items) != 5 {
		t.Fatalf("errors %v items %d", r.Errors, len(r.Items))
	}
	want := []struct {
		action string
		status int
		typ    string
	}{
		{"index", 400, "illegal_argument_exception"},
		{"create", 201, ""},
		{"create", 409, "version_conflict_engine_exception"},
		{"create", 400, "document_parsing_exception"},
		{"create", 400, "document_parsing_exception"},
	}
	for i, w := range want {
		a, st, typ := statusOf(t, r.Items[i])
		if a != w.action || st != w.status || typ != w.typ {
			t.Errorf("item %d: %s %d %s, want %v", i, a, st, typ, w)
		}
	}
	docs := s.Docs()
	if len(docs) != 1 || docs[0].Stream != "logs-app" || !strings.HasPrefix(docs[0].Index, ".ds-logs-app-") {
		t.Errorf("docs %+v", docs)
	}
	if st := s.Stats(); st.MappingErrors != 2 || st.Conflicts409 != 1 || st.OtherErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestItemRejectionsArePartialSuccess(t *testing.T) {
	s := start(t, Config{ItemStatus: func(_ string, src []byte, attempt int) int {
		if bytes.Contains(src, []byte(`"odd"`)) && attempt == 1 {
			return 429
		}
		return 0
	}})
	body := "{\"index\":{\"_index\":\"i\"}}\n{\"k\":\"even\"}\n{\"index\":{\"_index\":\"i\"}}\n{\"k\":\"odd\"}\n"
	_, b := post(t, s, "/_bulk", "application/json", body)
	var r bulkResp
	json.Unmarshal(b, &r)
	_, st0, _ := statusOf(t, r.Items[0])
	_, st1, typ := statusOf(t, r.Items[1])
	if !r.Errors || st0 != 201 || st1 != 429 || typ != "es_rejected_execution_exception" {
		t.Fatalf("%s", b)
	}
	_, b = post(t, s, "/_bulk", "application/json", "{\"index\":{\"_index\":\"i\"}}\n{\"k\":\"odd\"}\n")
	json.Unmarshal(b, &r)
	if r.Errors || s.Count() != 2 {
		t.Fatalf("second offer: %s; count %d", b, s.Count())
	}
}

func TestAuthAndOutage(t *testing.T) {
	s := start(t, Config{Username: "elastic", Password: "pw", APIKey: "id1:key1"})
	body := "{\"index\":{\"_index\":\"i\"}}\n{}\n"
	if resp, _ := post(t, s, "/_bulk", "application/x-ndjson", body); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %d", resp.StatusCode)
	}
	if resp, _ := post(t, s, "/_bulk", "application/x-ndjson", body, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("elastic:no"))); resp.StatusCode != 401 {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if resp, b := post(t, s, "/_bulk", "application/x-ndjson", body, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("elastic:pw"))); resp.StatusCode != 200 {
		t.Errorf("basic: %d %s", resp.StatusCode, b)
	}
	key := "ApiKey " + base64.StdEncoding.EncodeToString([]byte("id1:key1"))
	if resp, b := post(t, s, "/_bulk", "application/x-ndjson", body, "Authorization", key); resp.StatusCode != 200 {
		t.Errorf("api key: %d %s", resp.StatusCode, b)
	}
	s.Down(429)
	if resp, _ := post(t, s, "/_bulk", "application/x-ndjson", body, "Authorization", key); resp.StatusCode != 429 {
		t.Errorf("down: %d", resp.StatusCode)
	}
	s.Down(0)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(body))
	zw.Close()
	if resp, b := post(t, s, "/_bulk", "application/x-ndjson", zb.String(), "Authorization", key, "Content-Encoding", "gzip"); resp.StatusCode != 200 {
		t.Errorf("gzip: %d %s", resp.StatusCode, b)
	}
	if s.Count() != 3 {
		t.Errorf("count %d", s.Count())
	}
}
