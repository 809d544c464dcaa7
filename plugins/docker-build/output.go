package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/sirupsen/logrus"
)

// daemonOutput is where the daemon's build, pull and push lines go.
func (r *runner) daemonOutput() io.Writer { return reportWriter(r.env, "daemon") }

// reportWriter is where report text (the plan, the daemon's output, the
// scan table) goes: stdout as it is, or one JSON log entry per line when
// log_format is json, so the step log stays machine-readable.
func reportWriter(env *plugin.Env, source string) io.Writer {
	if env.Common.LogFormat != "json" {
		return env.Stdout
	}
	return &lineLogger{log: env.Log, source: source}
}

// lineLogger logs each complete line written to it.
type lineLogger struct {
	log     *logrus.Logger
	source  string
	partial []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		if line := strings.TrimRight(string(l.partial[:i]), "\r"); line != "" {
			l.log.WithField("source", l.source).Info(line)
		}
		l.partial = l.partial[i+1:]
	}
}
