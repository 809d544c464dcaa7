package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sirupsen/logrus"
)

func TestParseRouteURI(t *testing.T) {
	tests := []struct {
		uri               string
		format, transport string
		want              Route
		err               string
	}{
		{uri: "logstash://logstash:5000", format: "logstash", transport: "udp", want: Route{Adapter: "logstash", Address: "logstash:5000"}},
		{uri: "logstash+tcp://logstash:5000", format: "logstash", transport: "tcp", want: Route{Adapter: "logstash+tcp", Address: "logstash:5000"}},
		{uri: "syslog+tls://logs.example.com:6514?append_tag=.web", format: "syslog", transport: "tls",
			want: Route{Adapter: "syslog+tls", Address: "logs.example.com:6514", Options: map[string]string{"append_tag": ".web"}}},
		{uri: "raw+tcp://10.0.0.9:9000?filter.name=web-*&filter.sources=stderr", format: "raw", transport: "tcp",
			want: Route{Adapter: "raw+tcp", Address: "10.0.0.9:9000", FilterName: "web-*", FilterSources: []string{"stderr"}}},
		{uri: "syslog://10.0.0.5:514?filter.labels=env:prod%2Capp:web*", format: "syslog", transport: "udp",
			want: Route{Adapter: "syslog", Address: "10.0.0.5:514", FilterLabels: []string{"env:prod", "app:web*"}}},
		{uri: "udp://10.0.0.9:9001?filter.id=3f2a", format: "raw", transport: "udp", want: Route{Adapter: "udp", Address: "10.0.0.9:9001", FilterID: "3f2a"}},
		{uri: "tcp://10.0.0.9:9001", format: "raw", transport: "tcp", want: Route{Adapter: "tcp", Address: "10.0.0.9:9001"}},
		{uri: "beats://logstash:5044", format: "beats", transport: "tcp", want: Route{Adapter: "beats", Address: "logstash:5044"}},
		{uri: "beats+tls://logstash:5044", format: "beats", transport: "tls", want: Route{Adapter: "beats+tls", Address: "logstash:5044"}},
		{uri: "multiline+raw+tcp://10.0.0.9:9000", err: "bad adapter: multiline+raw+tcp"},
		{uri: "nope://h:1", err: "bad adapter: nope"},
		{uri: "logstash+ftp://h:1", err: "bad adapter"},
		{uri: "tcp+udp://h:1", err: "bad adapter"},
		{uri: "beats+udp://h:1", err: "beats needs tcp or tls"},
		{uri: "logstash://h", err: "missing port"},
		{uri: "logstash://h:99999", err: "bad port"},
		{uri: "logstash://:5000", err: "no host"},
		{uri: "logstash:5000", err: "want adapter"},
		{uri: "raw://h:1?filter.name=[", err: "filter.name"},
		{uri: "raw://h:1?filter.sources=stdin", err: "filter.sources"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			r, err := parseRouteURI(tt.uri)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.uri) {
					t.Fatalf("error %v, want %q naming the URI", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(r.ID) != 12 {
				t.Errorf("id %q", r.ID)
			}
			got := *r
			got.ID = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			f, tr, _ := splitAdapter(r.Adapter)
			if f != tt.format || tr != tt.transport {
				t.Errorf("format/transport %s/%s, want %s/%s", f, tr, tt.format, tt.transport)
			}
		})
	}
}

func TestParseRouteURIsSplitsAndExpands(t *testing.T) {
	t.Setenv("LS_HOST", "logstash")
	rs, err := parseRouteURIs("logstash+tcp://${LS_HOST}:5000, udp://10.0.0.9:9001,,")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Address != "logstash:5000" || rs[1].Adapter != "udp" || rs[0].ID == rs[1].ID {
		t.Fatalf("%+v %+v", rs[0], rs[1])
	}
}

func TestMatchContainerAndSkipRules(t *testing.T) {
	c := &containerInfo{ID: "3f2a9c1b7d4e00", Name: "/web-1", Labels: map[string]string{"env": "prod", "app": "web7"}, LogDriver: "json-file"}
	tests := []struct {
		r    Route
		want bool
	}{
		{Route{}, true},
		{Route{FilterID: "3f2a"}, true},
		{Route{FilterID: "3f2b"}, false},
		{Route{FilterName: "web-*"}, true},
		{Route{FilterName: "db*"}, false},
		{Route{FilterLabels: []string{"env:prod", "app:web*"}}, true},
		{Route{FilterLabels: []string{"env:prod", "app:db*"}}, false},
		{Route{FilterLabels: []string{"missing:x"}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.matchContainer(c); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.r, got, tt.want)
		}
	}
	ex := parseExcludeLabels("skip; tier:Backend")
	cases := []struct {
		c    containerInfo
		want string
	}{
		{containerInfo{LogDriver: "json-file"}, ""},
		{containerInfo{Tty: true}, "tty"},
		{containerInfo{Env: []string{"LOGSPOUT=IGNORE"}}, "LOGSPOUT=ignore"},
		{containerInfo{Labels: map[string]string{"SKIP": "True"}}, "label"},
		{containerInfo{Labels: map[string]string{"tier": "backend"}}, "label"},
		{containerInfo{Labels: map[string]string{"tier": "frontend"}}, ""},
		{containerInfo{LogDriver: "local"}, "log driver"},
	}
	for _, tt := range cases {
		if got := skipReason(&tt.c, false, ex); !strings.HasPrefix(got, tt.want) || (tt.want == "" && got != "") {
			t.Errorf("%+v: %q, want %q", tt.c, got, tt.want)
		}
	}
}

// frame builds one multiplexed-stream frame.
func frame(stream byte, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = stream
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	return append(b, payload...)
}

func TestFrameReader(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "2026-11-26T05:20:08.500539012Z hello\n"))
	in.Write(frame(2, "2026-11-26T05:20:08.500539013Z oops\n"))
	fr := newFrameReader(&in)
	for _, want := range []struct {
		s byte
		p string
	}{{1, "hello\n"}, {2, "oops\n"}} {
		s, p, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		_, _, data, err := splitTimestamp(p)
		if err != nil || s != want.s || string(data) != want.p {
			t.Fatalf("got %d %q %v", s, data, err)
		}
	}
	if _, _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v, want EOF", err)
	}
	cut := frame(1, "2026-11-26T05:20:08.500539012Z hello\n")
	if _, _, err := newFrameReader(bytes.NewReader(cut[:20])).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cut frame: %v, want ErrUnexpectedEOF (stdcopy would drop it silently)", err)
	}
	var de errDaemon
	if _, _, err := newFrameReader(bytes.NewReader(frame(3, "Error grabbing logs: x"))).Next(); !errors.As(err, &de) {
		t.Fatalf("stream 3: %v", err)
	}
	if _, _, err := newFrameReader(bytes.NewReader([]byte{7, 0, 0, 0, 0, 0, 0, 1, 'x'})).Next(); err == nil {
		t.Fatal("bad stream byte accepted")
	}
}

func TestTimestampsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		ns := r.Int64N(4102444800e9) // 1970..2100
		want := time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
		got := string(appendRFC3339Nano(nil, ns))
		if got != want {
			t.Fatalf("format %d: %s, want %s", ns, got, want)
		}
		back, _, data, err := splitTimestamp([]byte(got + " x"))
		if err != nil || back != ns || string(data) != "x" {
			t.Fatalf("parse %s: %d %q %v", got, back, data, err)
		}
	}
	// Other RFC3339 forms still parse.
	ns, _, _, err := splitTimestamp([]byte("2026-11-26T05:20:08.5+01:00 x"))
	if err != nil || ns != time.Date(2026, 11, 26, 4, 20, 8, 5e8, time.UTC).UnixNano() {
		t.Fatalf("%d %v", ns, err)
	}
	if _, _, _, err := splitTimestamp([]byte("no timestamp here")); err == nil {
		t.Fatal("accepted a line without timestamp")
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"plain", `quote " back \ slash`, "ctl \x00\x01\x1f tab\t nl\n cr\r", "utf8 héllo 日本", "bad \xff\xfe utf8", "\u2028\u2029", ""} {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, []byte(s)), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if got != w {
			t.Errorf("%q: got %q, want %q", s, got, w)
		}
	}
}

func testContainer(decode bool) *container {
	info := &containerInfo{ID: "abc123", Name: "/web_1", Image: "registry/test:dev", Hostname: "3f2a9c1b7d4e", Labels: map[string]string{"a.b": "c"}}
	c := &container{id: info.ID, info: info}
	cfg := logstashConfig{Tags: "t1,t2", Fields: "env=prod,bad,docker=x"}
	if !decode {
		cfg.DecodeJSON = "false"
	}
	c.logstashPrefix, c.logstashSuffix, c.decodeJSON = cfg.containerParts(info)
	return c
}

func TestLogstashEventAsLooplabPlusTimestamp(t *testing.T) {
	ns := time.Date(2026, 11, 26, 5, 20, 8, 500539012, time.UTC).UnixNano()
	tests := []struct {
		line   string
		decode bool
		want   map[string]any
	}{
		{"GET /health 200", true, map[string]any{"message": "GET /health 200"}},
		{`{"level":"info","msg":"hi","stream":"x","n":{"a": 1}}`, true, map[string]any{"level": "info", "msg": "hi", "n": map[string]any{"a": 1.0}}},
		{`{"level":"info"}`, false, map[string]any{"message": `{"level":"info"}`}},
		{`{not json`, true, map[string]any{"message": `{not json`}},
		{`null`, true, map[string]any{"message": "null"}},
	}
	for _, tt := range tests {
		c := testContainer(tt.decode)
		b := logstashEncoder{newline: true}.appendLine(nil, &entry{ctr: c, ns: ns, stream: streamStderr, data: []byte(tt.line)})
		if b[len(b)-1] != '\n' {
			t.Fatalf("no newline: %s", b)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want := map[string]any{
			"@timestamp": "2026-11-26T05:20:08.500539012Z", "stream": "stderr", "tags": []any{"t1", "t2"}, "env": "prod",
			"docker": map[string]any{"name": "/web_1", "id": "abc123", "image": "registry/test:dev", "hostname": "3f2a9c1b7d4e", "labels": nil},
		}
		for k, v := range tt.want {
			want[k] = v
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.line, got, want)
		}
	}
}

func TestSyslogRFC5424AndRFC3164(t *testing.T) {
	c := testContainer(true)
	c.info.Pid = 42
	ns := time.Date(2026, 11, 26, 5, 20, 8, 500539012, time.UTC).UnixNano()
	f := &formatConfig{SyslogFormat: "rfc5424", SyslogPrio: "{{.Priority}}", SyslogHost: "{{.Container.Config.Hostname}}",
		SyslogTag: "{{.ContainerName}}", SyslogPID: "{{.Container.State.Pid}}", SyslogFraming: "traditional"}
	enc := newSyslogEncoder(f, &Route{Options: map[string]string{"append_tag": ".web"}}, true)
	got := string(enc.appendLine(nil, &entry{ctr: c, ns: ns, stream: streamStdout, data: []byte("hello")}))
	if want := "<14>1 2026-11-26T05:20:08.500539Z 3f2a9c1b7d4e web_1.web 42 - - hello\n"; got != want {
		t.Errorf("rfc5424:\n got %q\nwant %q", got, want)
	}
	f.SyslogFormat, f.SyslogFraming = "rfc3164", "octet-counted"
	enc = newSyslogEncoder(f, &Route{}, true)
	got = string(enc.appendLine(nil, &entry{ctr: c, ns: ns, stream: streamStderr, data: []byte("oops")}))
	if want := "48 <11>Nov 26 05:20:08 3f2a9c1b7d4e web_1[42]: oops"; got != want {
		t.Errorf("rfc3164 octet-counted:\n got %q\nwant %q", got, want)
	}
}

func TestQueueBackPressureConfirmAndRewind(t *testing.T) {
	rr := &routeRun{route: &Route{ID: "q", Adapter: "raw"}}
	q := newQueue(3, 2)
	rr.q = q
	rr.metrics = newRouteMetrics(metrics.NewSet(), "q", rr)
	c := &container{id: "c"}
	for i := 1; i <= 3; i++ {
		c.queued(rr)
		if q.push(c, int64(i), 1, streamStdout, []byte{byte('0' + i)}, true) != pushed {
			t.Fatal("push refused")
		}
		c.read(pos{int64(i), 1})
	}
	if q.push(c, 4, 1, streamStdout, []byte("4"), false) != queueFull {
		t.Fatal("a non-blocking push into a full queue did not report it full")
	}
	done := make(chan bool)
	go func() {
		c.queued(rr)
		done <- q.push(c, 4, 1, streamStdout, []byte("4"), true) == pushed
	}()
	select {
	case <-done:
		t.Fatal("a full queue accepted a line: no back-pressure")
	case <-time.After(50 * time.Millisecond):
	}
	from, to := q.take(10)
	q.done()
	if from != 0 || to != 3 {
		t.Fatalf("take %d..%d", from, to)
	}
	if got := c.checkpoint(); got != (pos{0, 0}) {
		t.Fatalf("checkpoint before confirm %+v, want the start", got)
	}
	q.confirm(rr, 2)
	if !<-done {
		t.Fatal("push after room was made failed")
	}
	c.read(pos{4, 1})
	if got := c.checkpoint(); got != (pos{2, 1}) {
		t.Fatalf("checkpoint %+v, want {2 1}: the route holds it at its last confirmed line", got)
	}
	// A reconnect resends the unconfirmed lines and up to keep confirmed ones.
	if n := q.rewind(1); n != 2 {
		t.Fatalf("rewind resends %d, want 2 (one kept confirmed + one unconfirmed sent)", n)
	}
	from, to = q.take(10)
	q.done()
	var got []string
	for i := from; i < to; i++ {
		got = append(got, string(q.at(i).data))
	}
	if strings.Join(got, "") != "234" {
		t.Fatalf("after rewind: %v, want 2 3 4", got)
	}
	q.confirm(rr, to)
	if got := c.checkpoint(); got != (pos{4, 1}) {
		t.Fatalf("checkpoint %+v, want {4 1}", got)
	}
	q.close()
	if q.push(c, 5, 1, streamStdout, nil, true) != queueClosed {
		t.Fatal("closed queue accepted a line")
	}
}

// fakeEngine serves canned log streams: one for follow, one without.
type fakeEngine struct {
	mu     sync.Mutex
	info   containerInfo
	follow []byte
	plain  []byte
	since  []time.Time
}

func (f *fakeEngine) Ping(context.Context) error { return nil }
func (f *fakeEngine) Events(ctx context.Context, _ time.Time, ready func(), _ func(engineEvent)) error {
	ready()
	<-ctx.Done()
	return ctx.Err()
}
func (f *fakeEngine) ListContainers(context.Context) ([]string, error) { return nil, nil }
func (f *fakeEngine) Inspect(context.Context, string) (*containerInfo, error) {
	i := f.info
	return &i, nil
}
func (f *fakeEngine) Logs(_ context.Context, _ string, o logsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.since = append(f.since, o.Since)
	f.mu.Unlock()
	if o.Follow {
		return io.NopCloser(bytes.NewReader(f.follow)), nil
	}
	return io.NopCloser(bytes.NewReader(f.plain)), nil
}

const ts1, ts2, ts3 = "2026-11-26T05:20:08.000000001Z ", "2026-11-26T05:20:08.000000002Z ", "2026-11-26T05:20:08.000000003Z "

// collect runs stream() over canned bytes into a raw route and returns the
// lines queued.
func collect(t *testing.T, eng *fakeEngine, start pos, follow bool) []string {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	rt := newRouter(context.Background(), log, routerConfig{QueueSize: 100, Batch: 10, Formats: &formatConfig{RawFormat: defaultRawFormat}}, metrics.NewSet(), &stateStore{})
	rr := &routeRun{route: &Route{ID: "x", Adapter: "raw"}, q: newQueue(100, 0), mask: 6}
	rr.metrics = newRouteMetrics(metrics.NewSet(), "x", rr)
	rt.routes["x"] = rr
	p := newPump(eng, log, rt, &stateStore{}, pumpConfig{})
	c := &container{id: "c", info: &eng.info, readPos: start}
	if err := p.stream(context.Background(), c, follow, nil); err != nil {
		t.Fatal(err)
	}
	from, to := rr.q.take(100)
	var out []string
	for i := from; i < to; i++ {
		e := rr.q.at(i)
		out = append(out, sourceNames[e.stream]+":"+string(e.data))
	}
	return out
}

func TestStreamReassemblesSplitLinesAndSkipsDeliveredOnes(t *testing.T) {
	long := strings.Repeat("a", 16384) + strings.Repeat("b", 16384) + "c"
	var in bytes.Buffer
	in.Write(frame(1, ts1+"one\n"))
	in.Write(frame(1, ts2+"two\n"))
	in.Write(frame(1, ts2+long[:16384]))
	in.Write(frame(2, ts2+"err line\n")) // another stream interleaved
	in.Write(frame(1, ts2+long[16384:32768]))
	in.Write(frame(1, ts2+long[32768:]+"\n"))
	in.Write(frame(1, ts3+"last without newline"))
	eng := &fakeEngine{info: containerInfo{ID: "c"}, follow: in.Bytes(), plain: in.Bytes()}

	got := collect(t, eng, pos{}, true)
	want := []string{"stdout:one", "stdout:two", "stderr:err line", "stdout:" + long}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("follow: got %d lines %.80q", len(got), got)
	}
	// Without follow (the container stopped) the unterminated last line is a line.
	got = collect(t, eng, pos{}, false)
	if len(got) != 5 || got[4] != "stdout:last without newline" {
		t.Fatalf("plain read: %.80q", got)
	}
	// Resume after "two" and "err line" were delivered (2 lines at ts2):
	// the long line (3rd at ts2) and the last one remain.
	got = collect(t, eng, pos{NS: mustNS(ts2), N: 2}, false)
	if len(got) != 2 || got[0] != "stdout:"+long || got[1] != "stdout:last without newline" {
		t.Fatalf("resume: %.80q", got)
	}
	// The read starts a second before the checkpoint (windowed resume) and
	// keeps its nanoseconds: never whole seconds rounded past it.
	if last := eng.since[len(eng.since)-1]; last.UnixNano() != mustNS(ts2)-1e9 {
		t.Fatalf("since %v, want the checkpoint minus 1 s, to the nanosecond", last)
	}
}

func mustNS(ts string) int64 {
	ns, _, _, err := splitTimestamp([]byte(ts + "x"))
	if err != nil {
		panic(err)
	}
	return ns
}

func FuzzParseRouteURI(f *testing.F) {
	for _, s := range []string{"logstash://logstash:5000", "syslog+tls://h:6514?append_tag=.web", "raw+tcp://10.0.0.9:9000?filter.name=web-*&filter.sources=stderr",
		"syslog://10.0.0.5:514?filter.labels=env:prod%2Capp:web*", "beats://[::1]:5044", "nope://x", "%zz", "a+b+c://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		r, err := parseRouteURI(uri)
		if err != nil {
			return
		}
		// Whatever parses must be a route the router can run.
		if _, _, err := splitAdapter(r.Adapter); err != nil {
			t.Fatalf("%q parsed into unusable adapter %q", uri, r.Adapter)
		}
		if err := r.validate(); err != nil {
			t.Fatalf("%q parsed but does not validate: %v", uri, err)
		}
	})
}

func FuzzFrameDecoder(f *testing.F) {
	f.Add(frame(1, ts1+"one\n"), false)
	f.Add(append(frame(2, ts2+"x"), frame(1, ts3+"y\n")...), false)
	f.Add(frame(3, "Error grabbing logs"), false)
	f.Add([]byte(ts1+"tty line\n"+ts2+"more"), true)
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, data []byte, tty bool) {
		var next func() (byte, []byte, error)
		if tty {
			next = newTTYReader(bytes.NewReader(data)).Next
		} else {
			next = newFrameReader(bytes.NewReader(data)).Next
		}
		total := 0
		for i := 0; i < 10000; i++ {
			s, p, err := next()
			if err != nil {
				return
			}
			if s > streamSystem {
				t.Fatalf("stream %d", s)
			}
			total += len(p)
			if total > len(data) {
				t.Fatalf("decoded %d payload bytes from %d input bytes", total, len(data))
			}
			_, _, _, _ = splitTimestamp(p)
		}
	})
}

func TestLooplabEnvironment(t *testing.T) {
	info := &containerInfo{ID: "id1", Name: "/api_1", Image: "img", Hostname: "h",
		Labels: map[string]string{"com.example.team": "core"},
		Env:    []string{"LOGSTASH_TAGS=own", "LOGSTASH_FIELDS=svc=api", "DECODE_JSON_LOGS=false"}}
	cfg := logstashConfig{Tags: "global", Fields: "env=prod", DockerLabels: true, HostHostname: "node-7"}
	prefix, suffix, decode := cfg.containerParts(info)
	c := &container{info: info, logstashPrefix: prefix, logstashSuffix: suffix, decodeJSON: decode}
	var got map[string]any
	if err := json.Unmarshal(appendLogstash(nil, &entry{ctr: c, stream: streamStdout, data: []byte(`{"a":1}`)}), &got); err != nil {
		t.Fatal(err)
	}
	docker := got["docker"].(map[string]any)
	switch {
	case got["message"] != `{"a":1}`: // the container's DECODE_JSON_LOGS=false wins
		t.Errorf("message %v", got["message"])
	case got["svc"] != "api" || got["env"] != nil: // its LOGSTASH_FIELDS replace ours
		t.Errorf("fields %v", got)
	case !reflect.DeepEqual(got["tags"], []any{"own"}):
		t.Errorf("tags %v", got["tags"])
	case docker["hostname"] != "node-7": // /etc/host_hostname wins
		t.Errorf("hostname %v", docker["hostname"])
	case !reflect.DeepEqual(docker["labels"], map[string]any{"com_example_team": "core"}):
		t.Errorf("labels %v", docker["labels"])
	}
	inc := logstashConfig{Include: []string{"api_1"}, IncludeRe: regexp.MustCompile(`^/web`)}
	for name, want := range map[string]bool{"/api_1": true, "/web_3": true, "/db_1": false} {
		if inc.includes(name) != want {
			t.Errorf("INCLUDE_CONTAINERS %s: %v", name, !want)
		}
	}
}

func TestStateSnapshotAndAckFileLaterPositionWins(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	path := t.TempDir() + "/state.json"
	st, err := loadState(path, log)
	if err != nil {
		t.Fatal(err)
	}
	p := newPump(nil, log, nil, st, pumpConfig{})
	st.pump = p
	a := &container{id: "a", tracked: true, readPos: pos{NS: 100, N: 2}}
	b := &container{id: "b", tracked: true, readPos: pos{NS: 500, N: 1}}
	p.ctrs["a"], p.ctrs["b"] = a, b
	st.flush(true) // snapshot: a@100/2, b@500/1
	a.read(pos{NS: 200, N: 1})
	st.flushSoon() // ack file: a@200/1
	a.read(pos{NS: 300, N: 7})
	st.flushSoon()
	st.close()
	got, err := loadState(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if pa, _ := got.lookup("a"); pa != (pos{NS: 300, N: 7}) {
		t.Errorf("a: %+v, want the ack file's later {300 7}", pa)
	}
	if pb, _ := got.lookup("b"); pb != (pos{NS: 500, N: 1}) {
		t.Errorf("b: %+v", pb)
	}
	// A torn ack file (bad checksum) is ignored, not trusted.
	if err := os.WriteFile(path+".ack", []byte("00000000\n{\"version\":1,\"containers\":{\"a\":{\"ts\":\"2100-01-01T00:00:00.000000000Z\",\"n\":1}}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = loadState(path, log)
	if err != nil {
		t.Fatal(err)
	}
	if pa, _ := got.lookup("a"); pa != (pos{NS: 300, N: 7}) {
		t.Errorf("after a torn ack file: %+v, want the snapshot's {300 7}", pa)
	}
}

// flakyEvents is a daemon whose first events subscription fails.
type flakyEvents struct {
	fakeEngine
	mu    sync.Mutex
	calls int
	up    chan struct{}
}

func (f *flakyEvents) Events(ctx context.Context, _ time.Time, ready func(), fn func(engineEvent)) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == 1 {
		return errors.New("connection refused")
	}
	ready()
	fn(engineEvent{ID: "started-late", Action: "start", TimeNano: time.Now().UnixNano()})
	close(f.up)
	<-ctx.Done()
	return ctx.Err()
}

func (f *flakyEvents) ListContainers(context.Context) ([]string, error) {
	return []string{"listed"}, nil
}

func TestEventsResubscribeAndListAgainAfterDaemonError(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	eng := &flakyEvents{fakeEngine: fakeEngine{info: containerInfo{ID: "x", Created: time.Now().Add(time.Hour)}}, up: make(chan struct{})}
	st := &stateStore{saved: map[string]pos{}}
	rt := newRouter(context.Background(), log, routerConfig{QueueSize: 10, Batch: 10, Formats: &formatConfig{}}, metrics.NewSet(), st)
	p := newPump(eng, log, rt, st, pumpConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx)
	}()
	select {
	case <-eng.up:
	case <-time.After(10 * time.Second):
		t.Fatal("never resubscribed after the events error")
	}
	if !p.daemonUp.Load() {
		t.Error("daemon not reported up after resubscribing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(p.containers()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	ids := map[string]bool{}
	for _, c := range p.containers() {
		ids[c.id] = true
	}
	if !ids["listed"] || !ids["started-late"] {
		t.Fatalf("containers seen %v: want the listed one and the one from the start event", ids)
	}
}

// tailEngine serves the last Tail frames of a canned log, as dockerd does
// (tail first, then since).
type tailEngine struct {
	fakeEngine
	frames [][]byte
	tails  []string
}

func (f *tailEngine) Logs(_ context.Context, _ string, o logsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.tails = append(f.tails, o.Tail)
	f.mu.Unlock()
	fr := f.frames
	if n, err := strconv.Atoi(o.Tail); err == nil && n < len(fr) {
		fr = fr[len(fr)-n:]
	}
	var b bytes.Buffer
	for _, x := range fr {
		ns, _, _, _ := splitTimestamp(x[8:])
		if ns >= o.Since.UnixNano() {
			b.Write(x)
		}
	}
	return io.NopCloser(&b), nil
}

func TestResumeReadsOnlyTheLogTailWhenItReachesTheResumePoint(t *testing.T) {
	old := tailSteps
	tailSteps = []string{"3", "6"}
	defer func() { tailSteps = old }()
	var frames [][]byte
	for i := 1; i <= 10; i++ {
		frames = append(frames, frame(1, string(appendRFC3339Nano(nil, int64(i)*1e9))+fmt.Sprintf(" line%d\n", i)))
	}
	for _, tt := range []struct {
		at    int // resume after line at
		tails []string
	}{
		{at: 9, tails: []string{"3"}},             // the last 3 (8..10) start before line 9: one cheap read
		{at: 7, tails: []string{"3", "6"}},        // needs a 6-entry window to start before line 7
		{at: 5, tails: []string{"3", "6", "all"}}, // no window starts before line 5 within a second
		{at: 2, tails: []string{"3", "6", "all"}}, // beyond every window
	} {
		eng := &tailEngine{fakeEngine: fakeEngine{info: containerInfo{ID: "c"}}, frames: frames}
		log := logrus.New()
		log.SetOutput(io.Discard)
		rt := newRouter(context.Background(), log, routerConfig{QueueSize: 100, Batch: 10, Formats: &formatConfig{RawFormat: defaultRawFormat}}, metrics.NewSet(), &stateStore{})
		rr := &routeRun{route: &Route{ID: "x", Adapter: "raw"}, q: newQueue(100, 0), mask: 6}
		rr.metrics = newRouteMetrics(metrics.NewSet(), "x", rr)
		rt.routes["x"] = rr
		p := newPump(eng, log, rt, &stateStore{}, pumpConfig{})
		c := &container{id: "c", info: &eng.info, readPos: pos{NS: int64(tt.at) * 1e9, N: 1}}
		if err := p.stream(context.Background(), c, false, nil); err != nil {
			t.Fatal(err)
		}
		from, to := rr.q.take(100)
		var got []string
		for i := from; i < to; i++ {
			got = append(got, string(rr.q.at(i).data))
		}
		var want []string
		for i := tt.at + 1; i <= 10; i++ {
			want = append(want, fmt.Sprintf("line%d", i))
		}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(eng.tails, tt.tails) {
			t.Errorf("resume after %d: lines %v, tails %v; want %v, %v", tt.at, got, eng.tails, want, tt.tails)
		}
	}
	// Two lines in the same nanosecond, the first delivered: a window that
	// starts at the second would skip it; only a window reaching an older
	// line is trusted.
	same := append(append([][]byte{}, frames...), frame(1, string(appendRFC3339Nano(nil, 10e9))+" line10b\n"))
	tailSteps = []string{"2", "3"}
	eng := &tailEngine{fakeEngine: fakeEngine{info: containerInfo{ID: "c"}}, frames: same}
	log := logrus.New()
	log.SetOutput(io.Discard)
	rt := newRouter(context.Background(), log, routerConfig{QueueSize: 100, Batch: 10, Formats: &formatConfig{RawFormat: defaultRawFormat}}, metrics.NewSet(), &stateStore{})
	rr := &routeRun{route: &Route{ID: "x", Adapter: "raw"}, q: newQueue(100, 0), mask: 6}
	rr.metrics = newRouteMetrics(metrics.NewSet(), "x", rr)
	rt.routes["x"] = rr
	p := newPump(eng, log, rt, &stateStore{}, pumpConfig{})
	c := &container{id: "c", info: &eng.info, readPos: pos{NS: 10e9, N: 1}}
	if err := p.stream(context.Background(), c, false, nil); err != nil {
		t.Fatal(err)
	}
	from, to := rr.q.take(100)
	if to-from != 1 || string(rr.q.at(from).data) != "line10b" || !reflect.DeepEqual(eng.tails, []string{"2", "3"}) {
		t.Fatalf("same-nanosecond resume: %d lines, tails %v; want line10b via tail 3", to-from, eng.tails)
	}
}
