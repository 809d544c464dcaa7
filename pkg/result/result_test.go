package result

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	in := Build{
		Repo: "harbor.company.com/registry/test", Tags: []string{"dev", "1.2.3"},
		Digest: "sha256:" + strings.Repeat("ab", 32), ImageID: "sha256:" + strings.Repeat("cd", 32), Registry: "harbor.company.com",
	}
	if err := Write(ws, "docker-build", Origin{}, in); err != nil {
		t.Fatal(err)
	}
	var out Build
	if err := Read(ws, "docker-build", &out); err != nil {
		t.Fatal(err)
	}
	if out.Repo != in.Repo || strings.Join(out.Tags, ",") != "dev,1.2.3" || out.Digest != in.Digest || out.ImageID != in.ImageID || out.Registry != in.Registry {
		t.Fatalf("read back %+v, want %+v", out, in)
	}

	// The file is the contract: exact field names, at the contract path.
	p := filepath.Join(ws, ".lightship", "docker-build.json")
	if Path(ws, "docker-build") != p {
		t.Fatalf("Path = %s", Path(ws, "docker-build"))
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"written_by", "repo", "tags", "digest", "image_id", "registry"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("result file lacks %q: %s", k, raw)
		}
	}
	if len(fields) != 6 {
		t.Errorf("result file has extra fields: %s", raw)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
}

func TestNilTagsWrittenAsEmptyList(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := Write(ws, "docker-build", Origin{}, Build{Repo: "r"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(Path(ws, "docker-build"))
	if !bytes.Contains(raw, []byte(`"tags": []`)) {
		t.Fatalf("tags not an empty list: %s", raw)
	}
	if err := Write(ws, "docker-build", Origin{}, &Build{Repo: "r"}); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(Path(ws, "docker-build"))
	if !bytes.Contains(raw, []byte(`"tags": []`)) {
		t.Fatalf("pointer: tags not an empty list: %s", raw)
	}
}

func TestReadMissingWrapsErrNotExist(t *testing.T) {
	t.Parallel()
	var b Build
	err := Read(t.TempDir(), "docker-build", &b)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "docker-build.json") {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func TestReadBadJSON(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, DirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Path(ws, "docker-build"), []byte(`{"repo":`), 0o644); err != nil {
		t.Fatal(err)
	}
	var b Build
	err := Read(ws, "docker-build", &b)
	if err == nil || !strings.Contains(err.Error(), "decode") || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteUnencodable(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := Write(ws, "x", Origin{}, map[string]any{"f": func() {}}); err == nil {
		t.Fatal("want an encode error")
	}
	if _, err := os.Stat(Path(ws, "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was written: %v", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestAtomicWriteLeavesNoTempFiles(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	for i := range 3 {
		if err := Write(ws, "docker-build", Origin{}, Build{Repo: "r", Tags: []string{string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if names := dirNames(t, filepath.Join(ws, DirName)); len(names) != 1 || names[0] != "docker-build.json" {
		t.Fatalf("files after writes: %v", names)
	}
	var b Build
	if err := Read(ws, "docker-build", &b); err != nil || b.Tags[0] != "c" {
		t.Fatalf("last write not kept: %+v %v", b, err)
	}

	// A failed rename (the target is a directory) leaves the old state and no temp file.
	dir := t.TempDir()
	target := filepath.Join(dir, "card.json")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("{}"), 0o644); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "card.json" {
		t.Fatalf("files after a failed write: %v", names)
	}
}

func TestWriteFileAtomicInMissingDir(t *testing.T) {
	t.Parallel()
	err := WriteFileAtomic(filepath.Join(t.TempDir(), "no", "such", "f"), []byte("x"), 0o600)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
}

func testCard() Card {
	return Card{Schema: "https://drone-plugins.github.io/drone-docker/card.json", Data: map[string]any{"tag": "dev", "digest": "sha256:1"}}
}

func TestWriteCardToFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "card.json")
	var stdout bytes.Buffer
	if err := WriteCard(p, &stdout, testCard()); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("wrote to stdout: %q", stdout.String())
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema string         `json:"schema"`
		Data   map[string]any `json:"data"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if got.Schema != testCard().Schema || got.Data["tag"] != "dev" {
		t.Fatalf("card %+v", got)
	}
}

func TestWriteCardToStdout(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	if err := WriteCard("/dev/stdout", &stdout, testCard()); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("^\x1b\\]1338;([A-Za-z0-9+/=]+)\x1b\\]0m\n$").FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("not a card escape sequence: %q", stdout.String())
	}
	raw, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(testCard())
	if !bytes.Equal(raw, want) {
		t.Fatalf("card JSON %s, want %s", raw, want)
	}
}

func TestWriteCardNoPath(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	if err := WriteCard("", &stdout, testCard()); err != nil || stdout.Len() != 0 {
		t.Fatalf("empty path: %v, wrote %q", err, stdout.String())
	}
	if err := WriteCard(filepath.Join(t.TempDir(), "x.json"), &stdout, Card{Data: func() {}}); err == nil {
		t.Fatal("unencodable card accepted")
	}
	if err := WriteCard(filepath.Join(t.TempDir(), "absent", "x.json"), &stdout, testCard()); err == nil {
		t.Fatal("card written into a missing directory")
	}
}
