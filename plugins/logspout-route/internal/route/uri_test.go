package route

import (
	"reflect"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

func TestParseRouteURI(t *testing.T) {
	tests := []struct {
		uri               string
		format, transport string
		want              logs.Route
		err               string
	}{
		{uri: "logstash://logstash:5000", format: "logstash", transport: "udp", want: logs.Route{Adapter: "logstash", Address: "logstash:5000"}},
		{uri: "logstash+tcp://logstash:5000", format: "logstash", transport: "tcp", want: logs.Route{Adapter: "logstash+tcp", Address: "logstash:5000"}},
		{uri: "syslog+tls://logs.example.com:6514?append_tag=.web", format: "syslog", transport: "tls",
			want: logs.Route{Adapter: "syslog+tls", Address: "logs.example.com:6514", Options: map[string]string{"append_tag": ".web"}}},
		{uri: "raw+tcp://10.0.0.9:9000?filter.name=web-*&filter.sources=stderr", format: "raw", transport: "tcp",
			want: logs.Route{Adapter: "raw+tcp", Address: "10.0.0.9:9000", FilterName: "web-*", FilterSources: []string{"stderr"}}},
		{uri: "syslog://10.0.0.5:514?filter.labels=env:prod%2Capp:web*", format: "syslog", transport: "udp",
			want: logs.Route{Adapter: "syslog", Address: "10.0.0.5:514", FilterLabels: []string{"env:prod", "app:web*"}}},
		{uri: "udp://10.0.0.9:9001?filter.id=3f2a", format: "raw", transport: "udp", want: logs.Route{Adapter: "udp", Address: "10.0.0.9:9001", FilterID: "3f2a"}},
		{uri: "tcp://10.0.0.9:9001", format: "raw", transport: "tcp", want: logs.Route{Adapter: "tcp", Address: "10.0.0.9:9001"}},
		{uri: "beats://logstash:5044", format: "beats", transport: "tcp", want: logs.Route{Adapter: "beats", Address: "logstash:5044"}},
		{uri: "beats+tls://logstash:5044", format: "beats", transport: "tls", want: logs.Route{Adapter: "beats+tls", Address: "logstash:5044"}},
		{uri: "multiline+raw+tcp://10.0.0.9:9000", format: "raw", transport: "tcp", want: logs.Route{Adapter: "multiline+raw+tcp", Address: "10.0.0.9:9000"}},
		{uri: "multiline+beats://logstash:5044", format: "beats", transport: "tcp", want: logs.Route{Adapter: "multiline+beats", Address: "logstash:5044"}},
		{uri: "multiline+tcp://10.0.0.9:9000", format: "raw", transport: "tcp", want: logs.Route{Adapter: "multiline+tcp", Address: "10.0.0.9:9000"}},
		{uri: "multiline://10.0.0.9:9000", err: "multiline: adapter must have a sub-adapter, eg: multiline+raw+tcp"},
		{uri: "multiline+nope://h:1", err: "bad adapter: multiline+nope"},
		{uri: "multiline+multiline+raw://h:1", err: "bad adapter"},
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
			r, err := Builtin().ParseURI(tt.uri)
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
			res, _ := Builtin().Resolve(r.Adapter)
			if f, tr := res.Format, res.Transport; f != tt.format || tr != tt.transport {
				t.Errorf("format/transport %s/%s, want %s/%s", f, tr, tt.format, tt.transport)
			}
		})
	}
}

func TestParseRouteURIsSplitsAndExpands(t *testing.T) {
	rs, err := Builtin().ParseURIs("logstash+tcp://${LS_HOST}:5000, udp://10.0.0.9:9001,,", func(k string) string { return map[string]string{"LS_HOST": "logstash"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Address != "logstash:5000" || rs[1].Adapter != "udp" || rs[0].ID == rs[1].ID {
		t.Fatalf("%+v %+v", rs[0], rs[1])
	}
}

func FuzzParseRouteURI(f *testing.F) {
	for _, s := range []string{"logstash://logstash:5000", "syslog+tls://h:6514?append_tag=.web", "raw+tcp://10.0.0.9:9000?filter.name=web-*&filter.sources=stderr",
		"syslog://10.0.0.5:514?filter.labels=env:prod%2Capp:web*", "beats://[::1]:5044", "nope://x", "%zz", "a+b+c://h:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		g := Builtin()
		r, err := g.ParseURI(uri)
		if err != nil {
			return
		}
		// Whatever parses must be a route the router can run.
		if _, err := g.Resolve(r.Adapter); err != nil {
			t.Fatalf("%q parsed into unusable adapter %q", uri, r.Adapter)
		}
		if err := g.Validate(r); err != nil {
			t.Fatalf("%q parsed but does not validate: %v", uri, err)
		}
	})
}
