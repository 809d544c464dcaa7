package report_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lightship-ci/lightship/pkg/redact"
	"github.com/lightship-ci/lightship/pkg/report"
	"github.com/sirupsen/logrus"
)

const canary = "Canary-5d1c-report-s3cr3t"

// sample writes one of everything a report holds.
func sample(t *testing.T, w *report.Writer) {
	t.Helper()
	w.Printf("Plan: demo/web with %s\n  1. step one\n", canary)
	_, _ = w.Write([]byte("partial "))
	_, _ = w.Write([]byte("line\n\n"))
	tb := report.Table{Title: "Summary:", Indent: "  ", Columns: []string{"SERVICE", "OUTCOME", "TARGET IMAGE"}}
	tb.Row("demo/web", "finished", "img:"+canary)
	tb.Row("demo/a-much-longer-name", "rolled-back", 3)
	w.Table(&tb)
	if err := w.Document("POST /send", map[string]any{"text": "<b>" + canary + "</b>"}); err != nil {
		t.Fatal(err)
	}
	w.Block("PATCH web:", `{"image":"a"}`)
	w.Flush()
}

// redacted returns a redactor holding canary, the stdout it scrubs into
// buf, and a logger like the harness's (JSON, redact hook, same stdout).
func redacted(buf *bytes.Buffer) (*redact.LineWriter, *logrus.Logger) {
	red := redact.New()
	red.Add(canary)
	out := red.Writer(buf)
	log := logrus.New()
	log.SetOutput(out)
	log.AddHook(redact.Hook{R: red})
	log.SetFormatter(&logrus.JSONFormatter{DisableTimestamp: true})
	return out, log
}

func TestTextIsTheReportAsPrinted(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	out, _ := redacted(&buf)
	sample(t, report.Text(out))
	_ = out.Flush()
	want := "Plan: demo/web with ******\n" +
		"  1. step one\n" +
		"partial line\n" +
		"\n" +
		"Summary:\n" +
		"  SERVICE                  OUTCOME      TARGET IMAGE\n" +
		"  demo/web                 finished     img:******\n" +
		"  demo/a-much-longer-name  rolled-back  3\n" +
		"POST /send\n" +
		"{\n" +
		"  \"text\": \"<b>******</b>\"\n" +
		"}\n" +
		"PATCH web:\n" +
		"  {\"image\":\"a\"}\n"
	if got := buf.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONIsOneEntryPerLineAndPerRow(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	out, log := redacted(&buf)
	sample(t, report.JSON(log, "plan"))
	_ = out.Flush()
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not JSON: %q (%v)\n%s", line, err, buf.String())
		}
		if e["source"] != "plan" || e["level"] != "info" {
			t.Errorf("entry %v", e)
		}
		entries = append(entries, e)
	}
	msgs := make([]string, len(entries))
	for i, e := range entries {
		msgs[i], _ = e["msg"].(string)
	}
	wantMsgs := []string{"Plan: demo/web with ******", "1. step one", "partial line", "Summary", "Summary", "POST /send", "PATCH web:"}
	if strings.Join(msgs, "|") != strings.Join(wantMsgs, "|") {
		t.Fatalf("messages %q, want %q", msgs, wantMsgs)
	}
	if e := entries[3]; e["service"] != "demo/web" || e["outcome"] != "finished" || e["target_image"] != "img:******" {
		t.Errorf("row 1 %v", e)
	}
	if e := entries[4]; e["target_image"] != float64(3) {
		t.Errorf("row 2 keeps the number: %v", e)
	}
	if e := entries[5]; e["body"] != `{"text":"<b>******</b>"}` {
		t.Errorf("document %v", e)
	}
	if e := entries[6]; e["body"] != `{"image":"a"}` {
		t.Errorf("block %v", e)
	}
	if strings.Contains(buf.String(), canary) || strings.Contains(buf.String(), base64.StdEncoding.EncodeToString([]byte(canary))) {
		t.Errorf("secret in the report:\n%s", buf.String())
	}
}

func TestTableKeysOverrideColumns(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&buf)
	log.SetFormatter(&logrus.JSONFormatter{DisableTimestamp: true})
	tb := report.Table{Title: "scan", Columns: []string{"SEVERITY", "TIME"}, Keys: []string{"severity", "seconds"}}
	tb.Row("High", 1.5)
	report.JSON(log, "harbor").Table(&tb)
	var e map[string]any
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil || e["severity"] != "High" || e["seconds"] != 1.5 || e["msg"] != "scan" {
		t.Errorf("%s (%v)", buf.String(), err)
	}
}
