package route

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

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

func testContainer(decode bool) (*logs.Container, *logstashEncoder) {
	info := &logs.ContainerInfo{ID: "abc123", Name: "/web_1", Image: "registry/test:dev", Hostname: "3f2a9c1b7d4e", Labels: map[string]string{"a.b": "c"}}
	cfg := &LogstashConfig{Tags: "t1,t2", Fields: "env=prod,bad,docker=x"}
	if !decode {
		cfg.DecodeJSON = "false"
	}
	return logs.NewContainer(info.ID, info, logs.Pos{}), &logstashEncoder{cfg: cfg, newline: true}
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
		c, enc := testContainer(tt.decode)
		b := enc.AppendLine(nil, &logs.Entry{Ctr: c, TimeNS: ns, Stream: logs.StreamStderr, Data: []byte(tt.line)})
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
	c, _ := testContainer(true)
	c.Info.Pid = 42
	ns := time.Date(2026, 11, 26, 5, 20, 8, 500539012, time.UTC).UnixNano()
	f := &Formats{SyslogFormat: "rfc5424", SyslogPrio: "{{.Priority}}", SyslogHost: "{{.Container.Config.Hostname}}",
		SyslogTag: "{{.ContainerName}}", SyslogPID: "{{.Container.State.Pid}}", SyslogFraming: "traditional"}
	enc := newSyslogEncoder(f, &logs.Route{Options: map[string]string{"append_tag": ".web"}}, true)
	got := string(enc.AppendLine(nil, &logs.Entry{Ctr: c, TimeNS: ns, Stream: logs.StreamStdout, Data: []byte("hello")}))
	if want := "<14>1 2026-11-26T05:20:08.500539Z 3f2a9c1b7d4e web_1.web 42 - - hello\n"; got != want {
		t.Errorf("rfc5424:\n got %q\nwant %q", got, want)
	}
	f.SyslogFormat, f.SyslogFraming = "rfc3164", "octet-counted"
	enc = newSyslogEncoder(f, &logs.Route{}, true)
	got = string(enc.AppendLine(nil, &logs.Entry{Ctr: c, TimeNS: ns, Stream: logs.StreamStderr, Data: []byte("oops")}))
	if want := "48 <11>Nov 26 05:20:08 3f2a9c1b7d4e web_1[42]: oops"; got != want {
		t.Errorf("rfc3164 octet-counted:\n got %q\nwant %q", got, want)
	}
	// SYSLOG_TIMESTAMP: logspout's template, here the seconds form of #444.
	f.SyslogFormat, f.SyslogFraming, f.SyslogTimestamp = "rfc5424", "traditional", `{{.Time.Format "2006-01-02T15:04:05Z07:00"}}`
	enc = newSyslogEncoder(f, &logs.Route{}, true)
	got = string(enc.AppendLine(nil, &logs.Entry{Ctr: c, TimeNS: ns, Stream: logs.StreamStdout, Data: []byte("hi")}))
	if want := "<14>1 2026-11-26T05:20:08Z 3f2a9c1b7d4e web_1 42 - - hi\n"; got != want {
		t.Errorf("SYSLOG_TIMESTAMP:\n got %q\nwant %q", got, want)
	}
}

func TestLooplabEnvironment(t *testing.T) {
	info := &logs.ContainerInfo{ID: "id1", Name: "/api_1", Image: "img", Hostname: "h",
		Labels: map[string]string{"com.example.team": "core"},
		Env:    []string{"LOGSTASH_TAGS=own", "LOGSTASH_FIELDS=svc=api", "DECODE_JSON_LOGS=false"}}
	cfg := &LogstashConfig{Tags: "global", Fields: "env=prod", DockerLabels: true, HostHostname: "node-7"}
	c := logs.NewContainer(info.ID, info, logs.Pos{})
	enc := &logstashEncoder{cfg: cfg}
	var got map[string]any
	if err := json.Unmarshal(enc.AppendLine(nil, &logs.Entry{Ctr: c, Stream: logs.StreamStdout, Data: []byte(`{"a":1}`)}), &got); err != nil {
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
	inc := &LogstashConfig{Include: []string{"api_1"}, IncludeRe: regexp.MustCompile(`^/web`)}
	for name, want := range map[string]bool{"/api_1": true, "/web_3": true, "/db_1": false} {
		if inc.includes(name) != want {
			t.Errorf("INCLUDE_CONTAINERS %s: %v", name, !want)
		}
	}
}
