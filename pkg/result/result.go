// Package result reads and writes the files plugins leave for later steps:
// .lightship/<plugin>.json under the workspace, and Drone cards.
package result

import (
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
}

// MarshalJSON writes a nil Tags as [] so readers always get a list.
func (b Build) MarshalJSON() ([]byte, error) {
	type plain Build
	if b.Tags == nil {
		b.Tags = []string{}
	}
	return json.Marshal(plain(b))
}

// Workspace returns the directory results live under: DRONE_WORKSPACE,
// CI_WORKSPACE, or the working directory.
func Workspace() string {
	for _, n := range []string{"DRONE_WORKSPACE", "CI_WORKSPACE"} {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// Path returns the result file of plugin under workspace.
func Path(workspace, plugin string) string {
	return filepath.Join(workspace, DirName, plugin+".json")
}

// Write stores v as plugin's result under workspace, atomically.
func Write(workspace, plugin string, v any) error {
	p := Path(workspace, plugin)
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s result: %w", plugin, err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return WriteFileAtomic(p, append(b, '\n'), 0o644)
}

// Read loads plugin's result under workspace into v. The error wraps
// os.ErrNotExist when the file is missing.
func Read(workspace, plugin string, v any) error {
	p := Path(workspace, plugin)
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", p, err)
	}
	return nil
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
