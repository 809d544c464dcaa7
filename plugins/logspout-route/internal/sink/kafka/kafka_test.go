package kafka

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/sink"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type outcomes struct {
	mu  sync.Mutex
	got map[uint64]sink.Outcome
}

func (o *outcomes) Ack(seq uint64, out sink.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, dup := o.got[seq]; dup {
		panic("reported twice")
	}
	o.got[seq] = out
}

func (o *outcomes) wait(n int) map[uint64]sink.Outcome {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		o.mu.Lock()
		if len(o.got) >= n {
			defer o.mu.Unlock()
			return o.got
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

func quiet() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

func records(ctrs ...*sink.Container) []sink.Record {
	var out []sink.Record
	for i := 0; i < 4; i++ {
		for j, c := range ctrs {
			seq := uint64(i*len(ctrs) + j)
			out = append(out, sink.Record{Seq: seq, Container: c, NS: int64(seq) + 1, N: 1, Value: []byte(`{"message":"` + c.Name + `"}`)})
		}
	}
	return out
}

// A SASL user (PLAIN and SCRAM) produces to a topic per container, keyed by
// the container ID; every record is reported delivered once.
func TestSASLAndTopicTemplate(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"),
		kfake.Superuser("PLAIN", "plain-user", "pw1"), kfake.Superuser("SCRAM-SHA-512", "scram-user", "pw2"), kfake.SeedTopics(1, "web", "db_1"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	web := &sink.Container{ID: "aaaa1111", Name: "/web"}
	db := &sink.Container{ID: "bbbb2222", Name: "/db_1"}
	for _, mech := range []struct{ sasl, user, pass string }{{"plain", "plain-user", "pw1"}, {"scram-sha-512", "scram-user", "pw2"}} {
		o := &outcomes{got: map[uint64]sink.Outcome{}}
		tr, err := New(Config{Brokers: c.ListenAddrs(), Topic: "{{.Container.Name}}", SASL: mech.sasl, User: mech.user, Password: mech.pass,
			Acker: o, Metrics: func(string, string) sink.Counter { return nopCounter{} }, Log: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Send(context.Background(), records(web, db)); err != nil {
			t.Fatal(err)
		}
		got := o.wait(8)
		tr.Close()
		for seq := uint64(0); seq < 8; seq++ {
			if got[seq] != sink.Delivered {
				t.Errorf("%s: record %d: outcome %v, want delivered (%d reported)", mech.sasl, seq, got[seq], len(got))
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()),
		kgo.ConsumeTopics("web", "db_1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	perTopic := map[string]int{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && perTopic["web"]+perTopic["db_1"] < 16; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			perTopic[r.Topic]++
			if want := map[string]string{"web": "aaaa1111", "db_1": "bbbb2222"}[r.Topic]; string(r.Key) != want {
				t.Errorf("topic %s: key %q, want the container ID %q", r.Topic, r.Key, want)
			}
		})
		cancel()
	}
	if perTopic["web"] != 8 || perTopic["db_1"] != 8 {
		t.Errorf("records per topic %v, want 8 in web and in db_1", perTopic)
	}
}

// With a wrong password nothing is reported delivered; closing reports
// every record Retry (the route then sends them again).
func TestWrongPasswordDeliversNothing(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "u", "right"), kfake.SeedTopics(1, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := &outcomes{got: map[uint64]sink.Outcome{}}
	tr, err := New(Config{Brokers: c.ListenAddrs(), Topic: "logs", SASL: "plain", User: "u", Password: "wrong",
		Acker: o, Metrics: func(string, string) sink.Counter { return nopCounter{} }, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	recs := records(&sink.Container{ID: "cccc", Name: "/x"})
	if err := tr.Send(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let it try to authenticate
	tr.Close()
	got := o.wait(len(recs))
	for _, r := range recs {
		if got[r.Seq] != sink.Retry {
			t.Errorf("record %d: outcome %v, want retry", r.Seq, got[r.Seq])
		}
	}
}

func TestCheckRefusesBadSettings(t *testing.T) {
	for _, c := range []Config{
		{Brokers: []string{"b:9092"}},
		{Brokers: []string{"b:9092"}, Topic: "{{.Container.Nme"},
		{Brokers: []string{"b:9092"}, Topic: "t", SASL: "gssapi"},
		{Brokers: []string{"b:9092"}, Topic: "t", Compression: "brotli"},
	} {
		if c.Check() == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
	if got := CleanTopic("/my app:v1"); got != "my_app_v1" {
		t.Errorf("CleanTopic: %q", got)
	}
}
