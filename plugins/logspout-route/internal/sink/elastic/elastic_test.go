package elastic

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/elastic"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/sirupsen/logrus"
)

type outcomes struct {
	mu  sync.Mutex
	got map[uint64][]sink.Outcome
}

func (o *outcomes) Ack(seq uint64, out sink.Outcome) {
	o.mu.Lock()
	o.got[seq] = append(o.got[seq], out)
	o.mu.Unlock()
}

func (o *outcomes) wait(n int) map[uint64][]sink.Outcome {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		o.mu.Lock()
		if len(o.got) >= n {
			o.mu.Unlock()
			break
		}
		o.mu.Unlock()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got
}

type nopCounter struct{}

func (nopCounter) Inc()    {}
func (nopCounter) Add(int) {}

// One bulk request: a line refused once with 429 comes again alone and
// lands; a line already stored (409 on create) counts as delivered; a
// mapping error is reported failed, not retried; the dated index and the
// ECS fields are as documented.
func TestBulkOutcomes(t *testing.T) {
	es, err := elastic.Start("", elastic.Config{APIKey: "k1:secret", Mapping: map[string]string{"status": "long"},
		ItemStatus: func(_ string, src []byte, attempt int) int {
			if strings.Contains(string(src), "busy") && attempt == 1 {
				return 429
			}
			return 0
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	log := logrus.New()
	log.SetOutput(io.Discard)
	o := &outcomes{got: map[uint64][]sink.Outcome{}}
	tr, err := New(Config{URL: es.URL, Index: "Docker-{{.Container.Name}}-%{+yyyy.MM.dd}", APIKey: "k1:secret", Linger: 10 * time.Millisecond,
		Acker: o, Metrics: func(string, string) sink.Counter { return nopCounter{} }, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c := &sink.Container{ID: "0123456789abcdef0123", Name: "/web", Image: "nginx", Hostname: "h1"}
	ns := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixNano()
	recs := []sink.Record{
		{Seq: 0, Container: c, NS: ns, N: 1, Value: []byte(`{"message":"ok"}`)},
		{Seq: 1, Container: c, NS: ns + 1, N: 1, Value: []byte(`{"message":"busy"}`)},
		{Seq: 2, Container: c, NS: ns + 2, N: 1, Value: []byte(`{"message":"bad","status":"x"}`)},
		{Seq: 3, Container: c, NS: ns, N: 1, Value: []byte(`{"message":"ok"}`)}, // line 0 again: same _id
		{Seq: 4, Container: c, NS: ns + 3, N: 1, Value: []byte(`{"message":"mine","host":"app-set"}`)},
	}
	if err := tr.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got := o.wait(len(recs))
	want := []sink.Outcome{sink.Delivered, sink.Delivered, sink.Failed, sink.Delivered, sink.Delivered}
	for seq, w := range want {
		if g := got[uint64(seq)]; len(g) != 1 || g[0] != w {
			t.Errorf("line %d: outcomes %v, want [%v]", seq, g, w)
		}
	}
	st := es.Stats()
	if st.Rejected429 != 1 || st.Conflicts409 != 1 || st.MappingErrors != 1 || st.Items != len(recs)+1 {
		t.Errorf("cluster saw %+v: want one 429 resent alone, one 409, one mapping error", st)
	}
	docs := es.Docs()
	if len(docs) != 3 {
		t.Fatalf("stored %d docs, want 3", len(docs))
	}
	if docs[0].Index != "docker-web-2026.12.07" || !strings.HasPrefix(docs[0].ID, "0123456789abcdef-") {
		t.Errorf("index %q id %q", docs[0].Index, docs[0].ID)
	}
	var doc map[string]any
	if err := json.Unmarshal(docs[0].Source, &doc); err != nil {
		t.Fatal(err)
	}
	ctr, _ := doc["container"].(map[string]any)
	if ctr["name"] != "web" || ctr["id"] != c.ID || doc["ecs"] == nil {
		t.Errorf("ECS fields: %s", docs[0].Source)
	}
	var mine map[string]any
	for _, d := range docs {
		if strings.Contains(string(d.Source), "mine") {
			if err := json.Unmarshal(d.Source, &mine); err != nil {
				t.Fatal(err)
			}
		}
	}
	if mine["host"] != "app-set" {
		t.Errorf("a line's own host field was overwritten: %v", mine["host"])
	}
}

func TestCheckRefusesBadSettings(t *testing.T) {
	for _, c := range []Config{
		{URL: "ftp://h:9200", Index: "i"},
		{URL: "http://h:9200"},
		{URL: "http://h:9200", Index: "{{.Container.Nme"},
		{URL: "http://h:9200", Index: "i", APIKey: "k", Username: "u"},
	} {
		if c.Check() == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}
