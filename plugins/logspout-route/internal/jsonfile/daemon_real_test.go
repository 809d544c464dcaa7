package jsonfile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
)

// TestReadsARealContainersLog reads what the real daemon wrote while the
// container runs: 40 KB lines (three entries each), stderr lines, a final
// line without '\n', rotations with compress=true.
func TestReadsARealContainersLog(t *testing.T) {
	cli := dockertest.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	info, err := cli.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(info.DockerRootDir, "containers")
	img, err := loggen.Build(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = img.Remove(context.Background(), cli) }()
	w := newTestWatcher(t)
	sfx := loggen.RandomSuffix()
	const n = 3000
	id, err := img.Create(ctx, cli, loggen.Spec{
		Name: "lsr-jsonfile-" + sfx, Args: []string{"-n", fmt.Sprint(n), "-prefix", sfx, "-long-every", "500", "-stderr-every", "7", "-no-final-newline", "-rate", "3000"},
		LogOpts: map[string]string{"max-size": "200k", "max-file": "3", "compress": "true"},
	})
	if id != "" {
		defer func() { _ = loggen.RemoveContainer(context.Background(), cli, id) }()
	}
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, id, Options{Keep: 3, Watcher: w})
	if err != nil {
		t.Skipf("log file not readable here (run as root with %s readable): %v", dir, err)
	}
	defer l.Close()
	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	got := follow(t, l, n-1)
	if err := loggen.Wait(ctx, cli, id); err != nil {
		t.Fatal(err)
	}
	for _, g := range readAll(t, l) {
		got = append(got, g[2:])
	}
	var last Line
	if !l.Flush(&last) {
		t.Fatal("no final line without newline")
	}
	got = append(got, string(last.Data))
	if len(got) != n {
		t.Fatalf("%d of %d lines", len(got), n)
	}
	seen := map[string]bool{}
	for _, g := range got {
		f := strings.Fields(g)
		if len(f) < 2 || f[0] != sfx || seen[f[1]] {
			t.Fatalf("bad or repeated line %.60q", g)
		}
		seen[f[1]] = true
		if f[1] == "500" && len(g) != 40000 {
			t.Errorf("long line joined to %d bytes", len(g))
		}
	}
	if lost, gap := l.Lost(); lost != 0 || gap {
		t.Errorf("lost %d gap %v", lost, gap)
	}
}
