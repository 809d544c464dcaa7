package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// encoder turns queued lines into bytes for one route. It runs on the
// route's goroutine only, so it may keep per-container caches.
type encoder interface {
	// appendLine appends e's wire form, '\n'-terminated when the transport
	// is a stream.
	appendLine(dst []byte, e *entry) []byte
}

// formatConfig is the environment the formats read (logspout's names).
type formatConfig struct {
	RawFormat     string // RAW_FORMAT, default "{{.Data}}\n"
	SyslogFormat  string // rfc5424 | rfc3164
	SyslogPrio    string
	SyslogHost    string
	SyslogTag     string
	SyslogPID     string
	SyslogSD      string
	SyslogFraming string // traditional | octet-counted
	Logstash      logstashConfig
}

const defaultRawFormat = "{{.Data}}\n"

// validate compiles the templates once, so a typo fails start-up (exit 2).
func (f *formatConfig) validate() (setting string, err error) {
	if f.RawFormat != defaultRawFormat {
		if _, err := template.New("raw").Funcs(tplFuncs).Parse(f.RawFormat); err != nil {
			return "raw_format", err
		}
	}
	for name, v := range map[string]string{"syslog_priority": f.SyslogPrio, "syslog_hostname": f.SyslogHost, "syslog_tag": f.SyslogTag, "syslog_pid": f.SyslogPID, "syslog_structured_data": f.SyslogSD} {
		if _, err := template.New(name).Funcs(tplFuncs).Parse(v); err != nil {
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

var tplFuncs = template.FuncMap{"toJSON": func(v any) string {
	switch s := v.(type) {
	case string:
		return string(appendJSONString(nil, []byte(s)))
	}
	return fmt.Sprint(v)
}}

func newEncoder(format string, stream bool, f *formatConfig, r *Route) encoder {
	switch format {
	case "logstash":
		return logstashEncoder{newline: stream}
	case "beats":
		return logstashEncoder{}
	case "syslog":
		return newSyslogEncoder(f, r, stream)
	default:
		if f.RawFormat == defaultRawFormat || f.RawFormat == "" {
			return rawEncoder{}
		}
		return &templateEncoder{tpl: template.Must(template.New("raw").Funcs(tplFuncs).Parse(f.RawFormat))}
	}
}

type logstashEncoder struct{ newline bool }

func (l logstashEncoder) appendLine(dst []byte, e *entry) []byte {
	dst = appendLogstash(dst, e)
	if l.newline {
		dst = append(dst, '\n')
	}
	return dst
}

// rawEncoder is RAW_FORMAT's default, {{.Data}}\n, without a template run.
type rawEncoder struct{}

func (rawEncoder) appendLine(dst []byte, e *entry) []byte {
	return append(append(dst, e.data...), '\n')
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

func newTplContainer(c *containerInfo) *tplContainer {
	t := &tplContainer{ID: c.ID, Name: c.Name}
	t.Config.Image, t.Config.Hostname, t.Config.Env, t.Config.Labels = c.Image, c.Hostname, c.Env, c.Labels
	t.State.Pid = c.Pid
	return t
}

var sourceNames = [3]string{"stdin", "stdout", "stderr"}

// templateEncoder runs a custom RAW_FORMAT per line: the one slow path, opt-in.
type templateEncoder struct {
	tpl   *template.Template
	cache map[*container]*tplContainer
	buf   bytes.Buffer
}

func (t *templateEncoder) appendLine(dst []byte, e *entry) []byte {
	if t.cache == nil {
		t.cache = map[*container]*tplContainer{}
	}
	tc := t.cache[e.ctr]
	if tc == nil {
		tc = newTplContainer(e.ctr.info)
		t.cache[e.ctr] = tc
	}
	t.buf.Reset()
	if err := t.tpl.Execute(&t.buf, tplMessage{Container: tc, Source: sourceNames[e.stream%3], Data: string(e.data), Time: time.Unix(0, e.ns).UTC()}); err != nil {
		return append(append(dst, e.data...), '\n')
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
	hostOver  string
	headers   map[*container]*[3][]byte
	msg       []byte
}

func newSyslogEncoder(f *formatConfig, r *Route, stream bool) *syslogEncoder {
	s := &syslogEncoder{rfc3164: f.SyslogFormat == "rfc3164", octet: stream && f.SyslogFraming == "octet-counted",
		stream: stream, appendTag: r.Options["append_tag"], hostOver: f.Logstash.HostHostname, headers: map[*container]*[3][]byte{}}
	for i, v := range []string{f.SyslogPrio, f.SyslogHost, f.SyslogTag, f.SyslogPID, f.SyslogSD} {
		s.tpl[i] = template.Must(template.New("syslog").Funcs(tplFuncs).Parse(v))
	}
	return s
}

type syslogTplData struct {
	Container     *tplContainer
	ContainerName string
	Source        string
	Priority      int
}

func (s *syslogEncoder) header(c *container, stream byte) []byte {
	h := s.headers[c]
	if h == nil {
		h = &[3][]byte{}
		s.headers[c] = h
	}
	if h[stream%3] != nil {
		return h[stream%3]
	}
	prio := 14 // user.info, as logspout for stdout
	if stream == streamStderr {
		prio = 11 // user.err
	}
	d := syslogTplData{Container: newTplContainer(c.info), ContainerName: strings.TrimPrefix(c.info.Name, "/"), Source: sourceNames[stream%3], Priority: prio}
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

func limit(s string, n int) string {
	if s == "" {
		return "-"
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *syslogEncoder) appendLine(dst []byte, e *entry) []byte {
	h := s.header(e.ctr, e.stream)
	m := s.msg[:0]
	i := bytes.IndexByte(h, '>')
	m = append(m, h[:i+1]...)
	t := time.Unix(0, e.ns).UTC()
	if s.rfc3164 {
		m = t.AppendFormat(m, time.Stamp)
	} else {
		m = append(m, '1', ' ')
		m = t.AppendFormat(m, "2006-01-02T15:04:05.000000Z07:00")
	}
	m = append(m, ' ')
	m = append(m, h[i+1:]...)
	m = append(m, e.data...)
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
