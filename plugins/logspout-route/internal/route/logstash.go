package route

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// LogstashConfig is looplab/logspout-logstash's environment. Per-container
// values (the source container's env) win over logspout-route's own.
type LogstashConfig struct {
	Fields       string // LOGSTASH_FIELDS: k=v,k2=v2
	Tags         string // LOGSTASH_TAGS: comma list
	DecodeJSON   string // DECODE_JSON_LOGS: anything but "false" decodes
	DockerLabels bool   // DOCKER_LABELS non-empty
	Include      []string
	IncludeRe    *regexp.Regexp
	HostHostname string // /etc/host_hostname, read once
}

func (l *LogstashConfig) includes(name string) bool {
	if len(l.Include) == 0 && l.IncludeRe == nil {
		return true
	}
	if slices.Contains(l.Include, name) || slices.Contains(l.Include, strings.TrimPrefix(name, "/")) {
		return true
	}
	return l.IncludeRe != nil && l.IncludeRe.MatchString(name)
}

// ctrParts is the JSON a container's events share: prefix =
// `"docker":{...},` plus the LOGSTASH_FIELDS members; suffix =
// `,"tags":[...]}`; and whether its JSON lines are merged.
type ctrParts struct {
	prefix, suffix []byte
	decode         bool
}

// logstashKey keys a container's ctrParts (per configuration) in its cache.
type logstashKey struct{ cfg *LogstashConfig }

// containerParts computes a container's ctrParts once.
func (l *LogstashConfig) containerParts(info *logs.ContainerInfo) (prefix, suffix []byte, decode bool) {
	hostname := info.Hostname
	if l.HostHostname != "" {
		hostname = l.HostHostname
	}
	prefix = append(prefix, `"docker":{"name":`...)
	prefix = appendJSONString(prefix, []byte(info.Name))
	prefix = append(prefix, `,"id":`...)
	prefix = appendJSONString(prefix, []byte(info.ID))
	prefix = append(prefix, `,"image":`...)
	prefix = appendJSONString(prefix, []byte(info.Image))
	prefix = append(prefix, `,"hostname":`...)
	prefix = appendJSONString(prefix, []byte(hostname))
	prefix = append(prefix, `,"labels":`...)
	if l.DockerLabels && len(info.Labels) > 0 {
		m := make(map[string]string, len(info.Labels))
		for k, v := range info.Labels {
			m[strings.ReplaceAll(k, ".", "_")] = v
		}
		b, _ := json.Marshal(m)
		prefix = append(prefix, b...)
	} else {
		prefix = append(prefix, "null"...)
	}
	prefix = append(prefix, "},"...)
	fields := l.Fields
	if v, ok := info.EnvValue("LOGSTASH_FIELDS"); ok {
		fields = v
	}
	for _, kv := range strings.Split(fields, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || reserved(k) {
			continue // looplab panics on an entry without '='; we skip it
		}
		prefix = appendJSONString(prefix, []byte(k))
		prefix = append(prefix, ':')
		prefix = appendJSONString(prefix, []byte(v))
		prefix = append(prefix, ',')
	}
	tags := l.Tags
	if v, ok := info.EnvValue("LOGSTASH_TAGS"); ok {
		tags = v
	}
	suffix = append(suffix, `,"tags":[`...)
	first := true
	for _, t := range strings.Split(tags, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !first {
			suffix = append(suffix, ',')
		}
		first = false
		suffix = appendJSONString(suffix, []byte(t))
	}
	suffix = append(suffix, "]}"...)
	decode = l.DecodeJSON != "false"
	if v, ok := info.EnvValue("DECODE_JSON_LOGS"); ok {
		decode = v != "false"
	}
	return prefix, suffix, decode
}

func reserved(k string) bool {
	return k == "@timestamp" || k == "docker" || k == "stream" || k == "tags" || k == "message"
}

func streamJSON(s byte) string {
	switch s {
	case logs.StreamStdout:
		return `"stream":"stdout"`
	case logs.StreamStderr:
		return `"stream":"stderr"`
	}
	return `"stream":"stdin"`
}

// appendLogstash appends looplab's JSON object for e plus "@timestamp" from
// Docker's own time. A line that is a JSON object is merged at the top level
// (no "message" unless it has one); docker, stream, tags and @timestamp win.
func appendLogstash(dst []byte, e *logs.Entry, c *ctrParts) []byte {
	dst = append(dst, `{"@timestamp":"`...)
	dst = logs.AppendRFC3339Nano(dst, e.TimeNS)
	dst = append(dst, `",`...)
	dst = append(dst, c.prefix...)
	if c.decode && len(e.Data) > 1 && e.Data[0] == '{' {
		if merged, ok := appendMerged(dst, e.Data); ok {
			dst = merged
			goto tail
		}
	}
	dst = append(dst, `"message":`...)
	dst = appendJSONString(dst, e.Data)
	dst = append(dst, ',')
tail:
	dst = append(dst, streamJSON(e.Stream)...)
	return append(dst, c.suffix...)
}

// appendMerged appends the members of a JSON object line, sorted by key as
// looplab's map marshalling does, each followed by ','.
func appendMerged(dst, line []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(line, &m) != nil || m == nil {
		return dst, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "@timestamp" || k == "docker" || k == "stream" || k == "tags" {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst = appendJSONString(dst, []byte(k))
		dst = append(dst, ':')
		dst = append(dst, compactJSON(m[k])...)
		dst = append(dst, ',')
	}
	return dst, true
}

func compactJSON(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD
// as encoding/json does.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ReadHostHostname reads /etc/host_hostname once, as logspout's override.
func ReadHostHostname() string {
	b, err := os.ReadFile("/etc/host_hostname")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
