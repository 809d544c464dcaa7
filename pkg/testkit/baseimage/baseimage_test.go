package baseimage

import (
	"bytes"
	"context"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

func TestPushNeedsCredentialsToPull(t *testing.T) {
	cli := dockertest.Client(t)
	reg, err := registry.Start(context.Background(), registry.Options{Users: map[string]string{"u": "p"}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	o := Options{Host: reg.Host, Repo: "base/busybox-" + Unique(), Username: "u", Password: "p",
		Files: map[string][]byte{"/etc/marker": []byte("m")}}
	ref := Push(t, cli, o)
	if ref != o.Ref() {
		t.Errorf("ref %s, want %s", ref, o.Ref())
	}
	if _, err := cli.ImageInspect(context.Background(), ref); err == nil {
		t.Errorf("%s is still in the local store", ref)
	}
	m, err := reg.Manifest(context.Background(), o.Repo, "1")
	if err != nil {
		t.Fatal(err)
	}
	im, err := m.Image()
	if err != nil || len(im.Layers) != 3 {
		t.Fatalf("layers %d (busybox, marker, links): %v", len(im.Layers), err)
	}
	rc, err := cli.ImagePull(context.Background(), ref, image.PullOptions{})
	if err == nil {
		var b bytes.Buffer
		_, _ = b.ReadFrom(rc)
		rc.Close()
		if !bytes.Contains(b.Bytes(), []byte("no basic auth credentials")) && !bytes.Contains(b.Bytes(), []byte("unauthorized")) {
			t.Errorf("anonymous pull of %s: %s", ref, b.String())
		}
		_, _ = cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true})
	}
}

func TestSSHSignBuilds(t *testing.T) {
	b := SSHSign(t)
	if len(b) < 4 || string(b[1:4]) != "ELF" {
		t.Fatalf("not an ELF binary (%d bytes)", len(b))
	}
}
