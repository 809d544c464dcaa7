package route

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// Encoder turns queued lines into bytes for one route. It runs on the
// route's goroutine only.
type Encoder interface {
	// AppendLine appends e's wire form, '\n'-terminated when the transport
	// is a stream.
	AppendLine(dst []byte, e *logs.Entry) []byte
}

// Formats is the environment the formats read (logspout's names).
type Formats struct {
	RawFormat     string // RAW_FORMAT, default "{{.Data}}\n"
	SyslogFormat  string // rfc5424 | rfc3164
	SyslogPrio    string
	SyslogHost    string
	SyslogTag     string
	SyslogPID     string
	SyslogSD      string
	SyslogFraming string // traditional | octet-counted
	// SyslogTimestamp is SYSLOG_TIMESTAMP; DefaultSyslogTimestamp needs no
	// template run.
	SyslogTimestamp string
	Logstash        LogstashConfig
}

// DefaultSyslogTimestamp is SYSLOG_TIMESTAMP's default: Docker's time of
// the line.
const DefaultSyslogTimestamp = "{{.Timestamp}}"

// DefaultRawFormat is RAW_FORMAT's default.
const DefaultRawFormat = "{{.Data}}\n"

// Validate compiles the templates once, so a typo fails start-up (exit 2).
func (f *Formats) Validate() (setting string, err error) {
	if f.RawFormat != DefaultRawFormat {
		if _, err := template.New("raw").Funcs(tplFuncs()).Parse(f.RawFormat); err != nil {
			return "raw_format", err
		}
	}
	for name, v := range map[string]string{"syslog_timestamp": f.SyslogTimestamp, "syslog_priority": f.SyslogPrio, "syslog_hostname": f.SyslogHost, "syslog_tag": f.SyslogTag, "syslog_pid": f.SyslogPID, "syslog_structured_data": f.SyslogSD} {
		if _, err := template.New(name).Funcs(tplFuncs()).Parse(v); err != nil {
			return name, err
		}
	}
	switch f.SyslogFormat {
	case "rfc5424", "rfc3164":
	default:
		return "syslog_format", fmt.Errorf("%q must be rfc5424 or rfc3164", f.SyslogFormat)
	}
	switch f.SyslogFraming {
	case "traditional", "octet-counted":
	default:
		return "syslog_tcp_framing", fmt.Errorf("%q must be traditional or octet-counted", f.SyslogFraming)
	}
	return "", nil
}

func tplFuncs() template.FuncMap {
	return template.FuncMap{"toJSON": func(v any) string {
		if s, ok := v.(string); ok {
			return string(appendJSONString(nil, []byte(s)))
		}
		return fmt.Sprint(v)
	}}
}

func newLogstashEncoder(f *Formats, _ *logs.Route, stream bool) Encoder {
	return &logstashEncoder{cfg: &f.Logstash, newline: stream}
}

func newBeatsEncoder(f *Formats, _ *logs.Route, _ bool) Encoder {
	return &logstashEncoder{cfg: &f.Logstash}
}

func newSyslogLineEncoder(f *Formats, r *logs.Route, stream bool) Encoder {
	return newSyslogEncoder(f, r, stream)
}

func newRawEncoder(f *Formats, _ *logs.Route, _ bool) Encoder {
	if f.RawFormat == DefaultRawFormat || f.RawFormat == "" {
		return rawEncoder{}
	}
	return &templateEncoder{tpl: template.Must(template.New("raw").Funcs(tplFuncs()).Parse(f.RawFormat))}
}

// logstashEncoder writes looplab's JSON (logstash, beats). A container's
// shared parts are computed once and kept in its cache; the last one is
// kept here too, since lines come in runs from one container.
type logstashEncoder struct {
	cfg      *LogstashConfig
	newline  bool
	last     *logs.Container
	lastPart *ctrParts
}

func (l *logstashEncoder) parts(c *logs.Container) *ctrParts {
	if c != l.last {
		l.last = c
		l.lastPart = c.Cached(logstashKey{l.cfg}, func() any {
			p := &ctrParts{}
			p.prefix, p.suffix, p.decode = l.cfg.containerParts(c.Info)
			return p
		}).(*ctrParts)
	}
	return l.lastPart
}

func (l *logstashEncoder) AppendLine(dst []byte, e *logs.Entry) []byte {
	dst = appendLogstash(dst, e, l.parts(e.Ctr))
	if l.newline {
		dst = append(dst, '\n')
	}
	return dst
}

// rawEncoder is RAW_FORMAT's default, {{.Data}}\n, without a template run.
type rawEncoder struct{}

func (rawEncoder) AppendLine(dst []byte, e *logs.Entry) []byte {
	return append(append(dst, e.Data...), '\n')
}

// tplMessage is the data a custom RAW_FORMAT sees (logspout's Message).
type tplMessage struct {
	Container *tplContainer
	Source    string
	Data      string
	Time      time.Time
}

type tplContainer struct {
	ID     string
	Name   string
	Config struct {
		Image    string
		Hostname string
		Env      []string
		Labels   map[string]string
	}
	State struct{ Pid int }
}

func newTplContainer(c *logs.ContainerInfo) *tplContainer {
	t := &tplContainer{ID: c.ID, Name: c.Name}
	t.Config.Image, t.Config.Hostname, t.Config.Env, t.Config.Labels = c.Image, c.Hostname, c.Env, c.Labels
	t.State.Pid = c.Pid
	return t
}

// templateEncoder runs a custom RAW_FORMAT per line: the one slow path, opt-in.
type templateEncoder struct {
	tpl *template.Template
	buf bytes.Buffer
}

// tplKey keys a container's template data in its cache.
type tplKey struct{}

func (t *templateEncoder) AppendLine(dst []byte, e *logs.Entry) []byte {
	tc := e.Ctr.Cached(tplKey{}, func() any { return newTplContainer(e.Ctr.Info) }).(*tplContainer)
	t.buf.Reset()
	if err := t.tpl.Execute(&t.buf, tplMessage{Container: tc, Source: logs.StreamName(e.Stream), Data: string(e.Data), Time: time.Unix(0, e.TimeNS).UTC()}); err != nil {
		return append(append(dst, e.Data...), '\n')
	}
	return append(dst, t.buf.Bytes()...)
}

// syslogEncoder writes RFC 5424 or 3164 with logspout's defaults. The
// header templates depend only on the container and stream, so they run
// once per container, never per line.
type syslogEncoder struct {
	rfc3164   bool
	octet     bool
	stream    bool
	appendTag string
	tpl       [5]*template.Template // priority, hostname, tag, pid, structured data
	tsTpl     *template.Template    // SYSLOG_TIMESTAMP unless the default
	tsBuf     bytes.Buffer
	hostOver  string
	msg       []byte
}

// syslogKey keys a container's syslog headers (per encoder and stream) in
// its cache.
type syslogKey struct{ enc *syslogEncoder }

func newSyslogEncoder(f *Formats, r *logs.Route, stream bool) *syslogEncoder {
	s := &syslogEncoder{rfc3164: f.SyslogFormat == "rfc3164", octet: stream && f.SyslogFraming == "octet-counted",
		stream: stream, appendTag: r.Options["append_tag"], hostOver: f.Logstash.HostHostname}
	for i, v := range []string{f.SyslogPrio, f.SyslogHost, f.SyslogTag, f.SyslogPID, f.SyslogSD} {
		s.tpl[i] = template.Must(template.New("syslog").Funcs(tplFuncs()).Parse(v))
	}
	if f.SyslogTimestamp != "" && f.SyslogTimestamp != DefaultSyslogTimestamp {
		s.tsTpl = template.Must(template.New("syslog_timestamp").Funcs(tplFuncs()).Parse(f.SyslogTimestamp))
	}
	return s
}

type syslogTplData struct {
	Container     *tplContainer
	ContainerName string
	Source        string
	Priority      int
}

func (s *syslogEncoder) header(c *logs.Container, stream byte) []byte {
	h := c.Cached(syslogKey{s}, func() any { return &[3][]byte{} }).(*[3][]byte)
	if h[stream%3] != nil {
		return h[stream%3]
	}
	prio := 14 // user.info, as logspout for stdout
	if stream == logs.StreamStderr {
		prio = 11 // user.err
	}
	d := syslogTplData{Container: newTplContainer(c.Info), ContainerName: strings.TrimPrefix(c.Info.Name, "/"), Source: logs.StreamName(stream), Priority: prio}
	var v [5]string
	for i, t := range s.tpl {
		var b bytes.Buffer
		if t.Execute(&b, d) == nil {
			v[i] = b.String()
		}
	}
	if s.hostOver != "" {
		v[1] = s.hostOver
	}
	v[2] += s.appendTag
	var out []byte
	if s.rfc3164 {
		// <PRI>TIMESTAMP HOST TAG[PID]: MSG ; the timestamp is added per line.
		out = fmt.Appendf(nil, "%s %s[%s]: ", limit(v[1], 255), limit(v[2], 32), v[3])
	} else {
		sd := v[4]
		if sd == "" {
			sd = "-"
		}
		out = fmt.Appendf(nil, "%s %s %s - %s ", limit(v[1], 255), limit(v[2], 48), limit(v[3], 128), sd)
	}
	h[stream%3] = append([]byte("<"+v[0]+">"), out...)
	return h[stream%3]
}

// syslogTSData is what a SYSLOG_TIMESTAMP template sees.
type syslogTSData struct {
	Timestamp string    // the default form
	Time      time.Time // Docker's time of the line, UTC
	Container *tplContainer
	Source    string
	Data      string
}

// appendTimestamp appends the line's syslog timestamp.
func (s *syslogEncoder) appendTimestamp(m []byte, e *logs.Entry) []byte {
	t := time.Unix(0, e.TimeNS).UTC()
	layout := "2006-01-02T15:04:05.000000Z07:00"
	if s.rfc3164 {
		layout = time.Stamp
	}
	if s.tsTpl == nil {
		return t.AppendFormat(m, layout)
	}
	tc := e.Ctr.Cached(tplKey{}, func() any { return newTplContainer(e.Ctr.Info) }).(*tplContainer)
	s.tsBuf.Reset()
	d := syslogTSData{Timestamp: t.Format(layout), Time: t, Container: tc, Source: logs.StreamName(e.Stream), Data: string(e.Data)}
	if err := s.tsTpl.Execute(&s.tsBuf, d); err != nil {
		return t.AppendFormat(m, layout)
	}
	return append(m, s.tsBuf.Bytes()...)
}

func limit(s string, n int) string {
	if s == "" {
		return "-"
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *syslogEncoder) AppendLine(dst []byte, e *logs.Entry) []byte {
	h := s.header(e.Ctr, e.Stream)
	m := s.msg[:0]
	i := bytes.IndexByte(h, '>')
	m = append(m, h[:i+1]...)
	if !s.rfc3164 {
		m = append(m, '1', ' ')
	}
	m = s.appendTimestamp(m, e)
	m = append(m, ' ')
	m = append(m, h[i+1:]...)
	m = append(m, e.Data...)
	if s.stream && !s.octet {
		m = append(m, '\n')
	}
	s.msg = m
	if s.octet {
		dst = strconv.AppendInt(dst, int64(len(m)), 10)
		dst = append(dst, ' ')
	}
	return append(dst, m...)
}
