package state

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/sirupsen/logrus"
)

// tracked is an attached container at p.
func tracked(id string, p logs.Pos) *logs.Container {
	c := logs.NewContainer(id, nil, p)
	c.Track()
	return c
}

func TestStateSnapshotAndAckFileLaterPositionWins(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	path := t.TempDir() + "/state.json"
	reg := logs.NewRegistry()
	st, err := Load(path, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	a := tracked("a", logs.Pos{NS: 100, N: 2})
	b := tracked("b", logs.Pos{NS: 500, N: 1})
	reg.Put(a)
	reg.Put(b)
	st.Flush(true) // snapshot: a@100/2, b@500/1
	a.Read(logs.Pos{NS: 200, N: 1})
	st.FlushSoon() // ack file: a@200/1
	a.Read(logs.Pos{NS: 300, N: 7})
	st.FlushSoon()
	st.Close()
	got, err := Load(path, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pa, _ := got.Lookup("a"); pa != logs.Both(logs.Pos{NS: 300, N: 7}) {
		t.Errorf("a: %+v, want the ack file's later {300 7}", pa)
	}
	if pb, _ := got.Lookup("b"); pb != logs.Both(logs.Pos{NS: 500, N: 1}) {
		t.Errorf("b: %+v", pb)
	}
	// A torn ack file (bad checksum) is ignored, not trusted.
	if err := os.WriteFile(path+".ack", []byte("00000000\n{\"version\":1,\"containers\":{\"a\":{\"ts\":\"2100-01-01T00:00:00.000000000Z\",\"n\":1}}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = Load(path, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pa, _ := got.Lookup("a"); pa != logs.Both(logs.Pos{NS: 300, N: 7}) {
		t.Errorf("after a torn ack file: %+v, want the snapshot's {300 7}", pa)
	}
}

// BenchmarkStateFlush is the gap after a beats ACK in which a crash would
// make the window go out again: one state write (100 containers).
func BenchmarkStateFlush(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg := logs.NewRegistry()
	st, err := Load(b.TempDir()+"/state.json", log, reg)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		id := strings.Repeat(string(rune('a'+i%26)), 60) + fmt.Sprintf("%04d", i)
		reg.Put(tracked(id, logs.Pos{NS: int64(i) * 1e9, N: 1}))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reg.Put(tracked("aaaa", logs.Pos{NS: int64(i), N: 1})) // a change every time
		st.FlushSoon()
	}
}
