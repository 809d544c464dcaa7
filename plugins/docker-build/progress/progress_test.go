package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func threeSteps() []*client.SolveStatus {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) *time.Time { t := t0.Add(time.Duration(ms) * time.Millisecond); return &t }
	d1, d2, d3 := digest.FromString("1"), digest.FromString("2"), digest.FromString("3")
	return []*client.SolveStatus{
		{Vertexes: []*client.Vertex{{Digest: d1, Name: "[1/3] FROM base", Started: at(0), Completed: at(10), Cached: true}}},
		{Vertexes: []*client.Vertex{{Digest: d2, Name: "[2/3] RUN echo hi", Started: at(10)}}},
		{Logs: []*client.VertexLog{{Vertex: d2, Stream: 1, Data: []byte("hi\n"), Timestamp: *at(20)}}},
		{Vertexes: []*client.Vertex{{Digest: d2, Name: "[2/3] RUN echo hi", Started: at(10), Completed: at(310)}}},
		{Vertexes: []*client.Vertex{{Digest: d3, Name: "[3/3] COPY a /a", Started: at(310), Completed: at(320)}}},
	}
}

func run(t *testing.T, mode Mode, sts []*client.SolveStatus) string {
	t.Helper()
	ch := make(chan *client.SolveStatus)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { _, err := Print(context.Background(), ch, &out, mode); done <- err }()
	for _, s := range sts {
		ch <- s
	}
	close(ch)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestPlainShowsEachStep(t *testing.T) {
	out := run(t, Plain, threeSteps())
	for _, want := range []string{"#1 [1/3] FROM base", "#1 CACHED", "#2 [2/3] RUN echo hi", "hi", "#2 DONE 0.3s", "#3 [3/3] COPY a /a", "#3 DONE 0.0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("terminal escapes in plain output:\n%q", out)
	}
}

func TestRawJSONLines(t *testing.T) {
	out := run(t, RawJSON, threeSteps())
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var s client.SolveStatus
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		n++
	}
	if n != len(threeSteps()) {
		t.Errorf("%d lines, want %d", n, len(threeSteps()))
	}
}

func TestBadMode(t *testing.T) {
	if _, err := Print(context.Background(), make(chan *client.SolveStatus), &bytes.Buffer{}, "tty"); err == nil {
		t.Error("no error")
	}
}

func TestDecodeTrace(t *testing.T) {
	started := timestamppb.New(time.Unix(100, 0))
	resp := &controlapi.StatusResponse{
		Vertexes: []*controlapi.Vertex{{Digest: "sha256:aa", Name: "[1/1] RUN x", Started: started, Cached: true}},
		Logs:     []*controlapi.VertexLog{{Vertex: "sha256:aa", Msg: []byte("out\n"), Stream: 2}},
	}
	dt, err := resp.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	aux, _ := json.Marshal(dt) // a JSON string of base64, as the daemon sends it
	s, err := DecodeTrace(aux)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Vertexes) != 1 || s.Vertexes[0].Name != "[1/1] RUN x" || !s.Vertexes[0].Cached || !s.Vertexes[0].Started.Equal(time.Unix(100, 0)) {
		t.Errorf("vertexes %+v", s.Vertexes)
	}
	if len(s.Logs) != 1 || string(s.Logs[0].Data) != "out\n" || s.Logs[0].Stream != 2 {
		t.Errorf("logs %+v", s.Logs)
	}
	for _, bad := range []string{`{"ID":"x"}`, `"!!!"`} {
		if _, err := DecodeTrace(json.RawMessage(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
