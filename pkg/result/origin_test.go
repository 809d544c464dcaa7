package result

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/drone"
)

func TestWriteStampsTheBuildFirst(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	by := Origin{Repo: "acme/web", Build: 42, Commit: "0123abc", Started: time.Unix(1714528800, 0).UTC()}
	if err := Write(ws, "docker-build", by, Build{Repo: "r", Digest: "sha256:1"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(Path(ws, "docker-build"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "written_by": {
    "repo": "acme/web",
    "build": 42,
    "commit": "0123abc",
    "started": "2024-05-01T02:00:00Z"
  },
  "repo": "r",`
	if !strings.HasPrefix(string(b), want) {
		t.Fatalf("file:\n%s", b)
	}
	if err := Write(ws, "empty", by, struct{}{}); err != nil {
		t.Fatal(err)
	}
	if err := Write(ws, "list", by, []string{"a"}); err == nil {
		t.Fatal("a JSON list was written as a result")
	}
}

func TestReadFromAcceptsOnlyThisBuild(t *testing.T) {
	t.Parallel()
	this := OriginOf(drone.Metadata{Repo: drone.Repo{Slug: "acme/web"}, Build: drone.Build{Number: 42, Started: time.Unix(1714528800, 0)}, Commit: drone.Commit{SHA: "0123abc"}})
	for _, tc := range []struct {
		name  string
		wrote *Origin
		field string
	}{
		{"same build", &this, ""},
		{"another build number", &Origin{Repo: "acme/web", Build: 41, Commit: "0123abc"}, "build number"},
		{"another commit", &Origin{Repo: "acme/web", Build: 42, Commit: "fff"}, "commit"},
		{"another repo", &Origin{Repo: "acme/api", Build: 42, Commit: "0123abc"}, "repository"},
		{"another start", &Origin{Repo: "acme/web", Build: 42, Commit: "0123abc", Started: time.Unix(1, 0)}, "pipeline start time"},
		{"no record", nil, "none"},
	} {
		ws := t.TempDir()
		if tc.wrote != nil {
			if err := Write(ws, "docker-build", *tc.wrote, Build{Repo: "r"}); err != nil {
				t.Fatal(err)
			}
		} else if err := writePlain(ws); err != nil {
			t.Fatal(err)
		}
		var b Build
		warn, err := ReadFrom(ws, "docker-build", this, &b)
		var fe *ForeignError
		switch {
		case tc.field == "":
			if err != nil || warn != "" || b.Repo != "r" {
				t.Errorf("%s: %v %q %+v", tc.name, err, warn, b)
			}
		case !errors.As(err, &fe):
			t.Errorf("%s: err = %v, want a ForeignError", tc.name, err)
		case tc.wrote == nil:
			if fe.Wrote != nil || !strings.Contains(err.Error(), "does not record") || !strings.Contains(err.Error(), "build 42 of acme/web") {
				t.Errorf("%s: %v", tc.name, err)
			}
		case fe.Field != tc.field || !strings.Contains(err.Error(), tc.wrote.String()) || !strings.Contains(err.Error(), this.String()):
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestReadFromWithoutCIMetadataWarns(t *testing.T) {
	t.Parallel()
	ws := t.TempDir()
	if err := writePlain(ws); err != nil {
		t.Fatal(err)
	}
	var b Build
	warn, err := ReadFrom(ws, "docker-build", Origin{}, &b)
	if err != nil || !strings.Contains(warn, "no CI build metadata") || b.Repo != "r" {
		t.Fatalf("%v %q", err, warn)
	}
	if _, err := ReadFrom(t.TempDir(), "docker-build", Origin{}, &b); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// writePlain writes a result file without a record, as before issue 18.
func writePlain(ws string) error {
	if err := os.MkdirAll(ws+"/"+DirName, 0o755); err != nil {
		return err
	}
	return os.WriteFile(Path(ws, "docker-build"), []byte(`{"repo":"r","digest":"sha256:1"}`), 0o644)
}
