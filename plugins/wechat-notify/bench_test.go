package main

import (
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
	"github.com/lightship-ci/lightship/pkg/testkit/wecom"
)

// BenchmarkMessage measures rendering the default textcard (templates
// parsed, executed, truncated): the plugin's whole CPU work.
func BenchmarkMessage(b *testing.B) {
	s, err := settings(b, map[string]string{"corpid": "ww1", "corp_secret": "s", "agent_id": "1"})
	if err != nil {
		b.Fatal(err)
	}
	m := meta()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Message(m, noEnv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTruncateBytes(b *testing.B) {
	long := strings.Repeat("部署成功，干得好！", 300)
	b.ReportAllocs()
	for b.Loop() {
		_ = truncateBytes(long, limitText)
	}
}

// BenchmarkSendApp measures one run's network part against the in-process
// fake: gettoken plus message/send over loopback HTTP.
func BenchmarkSendApp(b *testing.B) {
	fake, err := wecom.Start(wecom.Options{CorpID: corpID, CorpSecret: canaryCorp, AgentID: agentID})
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	env := appEnv(fake, "DRONE_WORKSPACE", b.TempDir())
	b.ReportAllocs()
	for b.Loop() {
		if r := plugintest.Run(b, newApp("bench"), env).Code; r != 0 {
			b.Fatalf("exit %d", r)
		}
	}
	b.ReportMetric(float64(len(fake.Messages()))/float64(b.N), "msgs/op")
}
