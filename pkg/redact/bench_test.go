package redact

import (
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func benchRedactor() *Redactor {
	r := New()
	r.Add("harbor-password-1", "corp-secret-abcdef", "rancher-secret-key-xyz", "webhook-key-0000-1111", canary)
	return r
}

// A 1 KiB log line without secrets: the common case.
var benchLine = strings.Repeat("level=info msg=\"pushed layer sha256:0123456789abcdef\" ", 20)[:1023] + "\n"

func BenchmarkScrubClean(b *testing.B) {
	r := benchRedactor()
	b.SetBytes(int64(len(benchLine)))
	for b.Loop() {
		_ = r.Scrub(benchLine)
	}
}

func BenchmarkScrubWithSecret(b *testing.B) {
	r := benchRedactor()
	line := benchLine[:500] + "corp-secret-abcdef" + benchLine[518:]
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_ = r.Scrub(line)
	}
}

func BenchmarkWriter(b *testing.B) {
	w := benchRedactor().Writer(io.Discard)
	p := []byte(benchLine)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		_, _ = w.Write(p)
	}
}

func BenchmarkHookedLog(b *testing.B) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	log.AddHook(Hook{R: benchRedactor()})
	for b.Loop() {
		log.WithField("repo", "harbor.company.com/registry/test").WithField("tag", "dev").Info("pushed")
	}
}
