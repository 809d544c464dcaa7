package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/drone"
)

func TestAutoTagKeepsLeadingZeros(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string][]string{
		"v18.06.0":       {"18", "18.06", "18.06.0"},
		"18.06.1":        {"18", "18.06", "18.06.1"},
		"v0.09.1":        {"0.09", "0.09.1"},
		"v18.06.0-rc.01": {"18.06.0-rc.01"},
	} {
		got, err := semverTags(tag)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v (%v), want %v", tag, got, err, want)
		}
	}
	for _, bad := range []string{"v18.06", "release-1", "v1.2.3.4"} {
		if _, err := semverTags(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestTagsFileOnlyWhenTagsUnset(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tags"), []byte("f1, f2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := func(tags ...string) []string {
		s := &Settings{Repo: "r.example.com/p/app", Context: dir, Dockerfile: filepath.Join(dir, "Dockerfile"),
			TagsFile: filepath.Join(dir, ".tags"), PushBackoff: time.Second}
		for _, tg := range tags {
			_ = s.Tags.Set(tg)
		}
		p, err := buildPlan(s, drone.Metadata{}, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return p.Tags
	}
	if got := plan(); !reflect.DeepEqual(got, []string{"f1", "f2"}) {
		t.Errorf("tags unset: %v, want the file's", got)
	}
	if got := plan("dev"); !reflect.DeepEqual(got, []string{"dev"}) {
		t.Errorf("tags set: %v, want the setting's", got)
	}
}
