// Package report writes a plugin's report: plan lines, progress lines,
// tables and request bodies. Under log_format text it is the text a person
// reads on stdout; under log_format json every line is one JSON log entry
// (with a "source" field naming the part of the report), and every table row
// one entry whose fields are the row's cells, so the step log stays
// machine-readable. Both go through the run's redactor (the text writer is
// the scrubbed stdout, the logger carries the redact hook).
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/sirupsen/logrus"
)

// Writer is where one part of a report goes. It is an io.Writer (each
// complete line is a line of the report) and safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	out     io.Writer      // text: the scrubbed stdout
	log     *logrus.Logger // json: the run's logger (redact hook)
	source  string
	partial []byte
}

// Text is the report as plain text written to out.
func Text(out io.Writer) *Writer { return &Writer{out: out} }

// JSON is the report as entries of log (info level), each with a "source"
// field saying source; a line's indentation is left out.
func JSON(log *logrus.Logger, source string) *Writer { return &Writer{log: log, source: source} }

// Write implements io.Writer. Under JSON each complete non-empty line is one
// entry; a partial line waits for its newline (or Flush).
func (w *Writer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log == nil {
		return w.out.Write(b)
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.entry(string(w.partial[:i]), nil)
		w.partial = w.partial[i+1:]
	}
}

// Flush logs a partial line held under JSON.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.entry(string(w.partial), nil)
		w.partial = nil
	}
}

// entry logs one line with fields; w.mu is held.
func (w *Writer) entry(line string, fields logrus.Fields) {
	line = strings.TrimSpace(line) // indentation is for the text report
	if line == "" && len(fields) == 0 {
		return
	}
	e := w.log.WithField("source", w.source)
	if len(fields) > 0 {
		e = e.WithFields(fields)
	}
	e.Info(line)
}

// Printf writes formatted text: one or more lines.
func (w *Writer) Printf(format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

// Document writes a heading and a JSON value (a request body, say): under
// text the heading's line then the value indented, under JSON one entry
// whose message is the heading and whose "body" field is the value's JSON.
func (w *Writer) Document(heading string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if w.log == nil {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("report: encode %s: %w", heading, err)
	}
	if w.log == nil {
		w.Printf("%s\n%s", heading, b.String())
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entry(heading, logrus.Fields{"body": strings.TrimSpace(b.String())})
	return nil
}

// Block writes a heading and a body of text (a patch, say): under text
// the heading's line then the body's lines indented two spaces, under JSON
// one entry whose message is the heading and whose "body" field is body.
func (w *Writer) Block(heading, body string) {
	if w.log == nil {
		w.Printf("%s\n  %s\n", heading, strings.ReplaceAll(strings.TrimRight(body, "\n"), "\n", "\n  "))
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.entry(heading, logrus.Fields{"body": body})
}

// Table is a table of the report. Under text it is aligned by tabwriter
// (two spaces between columns) below its title; under JSON each row is one
// entry whose message is the title and whose fields are the cells.
type Table struct {
	// Title is a line before the table (none when empty).
	Title string
	// Indent starts every text row, the header's too.
	Indent string
	// Columns head the text table.
	Columns []string
	// Keys are the JSON field names of the columns; by default each column
	// lowercased, spaces as underscores. Avoid msg, level and time (logrus's).
	Keys []string
	rows [][]any
}

// Row adds a row: one cell a column (fmt.Sprint under text; as given, so
// numbers stay numbers, under JSON).
func (t *Table) Row(cells ...any) { t.rows = append(t.rows, cells) }

// Table writes t.
func (w *Writer) Table(t *Table) {
	if w.log == nil {
		w.textTable(t)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, row := range t.rows {
		fields := logrus.Fields{}
		for i, c := range row {
			fields[t.key(i)] = c
		}
		w.entry(strings.TrimSuffix(t.Title, ":"), fields)
	}
}

func (w *Writer) textTable(t *Table) {
	var b bytes.Buffer
	if t.Title != "" {
		b.WriteString(t.Title + "\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	if len(t.Columns) > 0 {
		fmt.Fprintf(tw, "%s%s\n", t.Indent, strings.Join(t.Columns, "\t"))
	}
	for _, row := range t.rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = fmt.Sprint(c)
		}
		fmt.Fprintf(tw, "%s%s\n", t.Indent, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
	_, _ = w.Write(b.Bytes())
}

// key is column i's JSON field name.
func (t *Table) key(i int) string {
	if i < len(t.Keys) {
		return t.Keys[i]
	}
	if i < len(t.Columns) {
		return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(t.Columns[i])), " ", "_")
	}
	return fmt.Sprintf("column_%d", i+1)
}
