// Package result reads and writes the files plugins leave for later steps:
// .lightship/<plugin>.json under the workspace, and Drone cards.
package result

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DirName is the folder, under the workspace, that holds result files.
const DirName = ".lightship"

// Build is what docker-build leaves for the steps after it.
type Build struct {
	Repo     string   `json:"repo"`
	Tags     []string `json:"tags"`
	Digest   string   `json:"digest"`
	ImageID  string   `json:"image_id"`
	Registry string   `json:"registry"`
	// Platforms lists each platform's manifest when Digest is a
	// multi-platform index (docker-build's platforms setting).
	Platforms []PlatformImage `json:"platforms,omitempty"`
}

// PlatformImage is one platform's image inside a multi-platform index.
type PlatformImage struct {
	// Platform is os/arch[/variant], e.g. linux/arm64.
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// MarshalJSON writes a nil Tags as [] so readers always get a list.
func (b Build) MarshalJSON() ([]byte, error) {
	type plain Build
	if b.Tags == nil {
		b.Tags = []string{}
	}
	return json.Marshal(plain(b))
}

// Path returns the result file of plugin under workspace.
func Path(workspace, plugin string) string {
	return filepath.Join(workspace, DirName, plugin+".json")
}

// Write stores v (a struct or map: a JSON object) as plugin's result under
// workspace, atomically, stamped with the build that wrote it: the file's
// first key is "written_by" (see Origin).
func Write(workspace, plugin string, by Origin, v any) error {
	p := Path(workspace, plugin)
	b, err := stamp(by, v)
	if err != nil {
		return fmt.Errorf("encode %s result: %w", plugin, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return WriteFileAtomic(p, append(b, '\n'), 0o644)
}

// stamp encodes v with "written_by" as its first key, indented.
func stamp(by Origin, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("a result must be a JSON object, not %.20s", body)
	}
	origin, err := json.Marshal(by)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(`{"written_by":`)
	out.Write(origin)
	if rest := bytes.TrimSpace(body[1:]); len(rest) > 0 && rest[0] != '}' {
		out.WriteByte(',')
	}
	out.Write(body[1:])
	var ind bytes.Buffer
	if err := json.Indent(&ind, out.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	return ind.Bytes(), nil
}

// Read loads plugin's result under workspace into v, whoever wrote it (tests,
// reports). A step that acts on another step's result uses ReadFrom. The
// error wraps os.ErrNotExist when the file is missing.
func Read(workspace, plugin string, v any) error {
	_, err := read(workspace, plugin, v)
	return err
}

func read(workspace, plugin string, v any) (*Origin, error) {
	p := Path(workspace, plugin)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", p, err)
	}
	var rec struct {
		WrittenBy *Origin `json:"written_by"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode %s: %w", p, err)
	}
	return rec.WrittenBy, nil
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers never see a half-written file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Card is a Drone card: an adaptive-card schema and the data it renders.
type Card struct {
	Schema string `json:"schema"`
	Data   any    `json:"data"`
}

// WriteCard writes a Drone card to path (DRONE_CARD_PATH). An empty path
// writes nothing. For /dev/stdout it writes the escape sequence the Drone
// docker runner reads from the step log (base64 JSON between ESC]1338; and
// ESC]0m), to stdout.
func WriteCard(path string, stdout io.Writer, c Card) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode card: %w", err)
	}
	if path == "/dev/stdout" {
		_, err := fmt.Fprintf(stdout, "\u001B]1338;%s\u001B]0m\n", base64.StdEncoding.EncodeToString(b))
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write card: %w", err)
	}
	return nil
}
