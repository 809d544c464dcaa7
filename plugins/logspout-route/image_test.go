package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/lightship-ci/lightship/pkg/testkit/dockertest"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

const imageRef = "lightship/logspout-route:latest"

func TestImageShipsToBeatsAsAHostDaemon(t *testing.T) {
	r := newTestRun(t)
	dockertest.RequireImage(t, r.cli, imageRef)
	ctx := context.Background()
	ii, err := r.cli.ImageInspect(ctx, imageRef)
	if err != nil {
		t.Fatal(err)
	}
	// Issue 14's budget with the Kafka client (franz-go alone costs 4.73
	// MB); the Makefile's nethttpomithttp2 tag keeps it under.
	if ii.Size > 16<<20 {
		t.Errorf("image is %d bytes, budget 16 MiB", ii.Size)
	}
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	}
	resp, err := r.cli.ContainerCreate(ctx, &dcontainer.Config{
		Image: imageRef,
		Env: []string{"LOGSPOUT=ignore", "ROUTE_URIS=" + routeURI("beats", beats.Addr(), r.filter()),
			fmt.Sprintf("PORT=%d", port), "HTTP_BIND_ADDRESS=127.0.0.1"},
		Labels: map[string]string{"lightship.test": "logspout-route-image"},
	}, &dcontainer.HostConfig{NetworkMode: "host", Binds: []string{sock + ":/var/run/docker.sock"}},
		&network.NetworkingConfig{}, nil, "lsr-image-"+r.suffix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = loggen.RemoveContainer(context.Background(), r.cli, resp.ID) })
	if err := r.cli.ContainerStart(ctx, resp.ID, dcontainer.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the image's HTTP API never listened")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitHealthy(t, addr)
	const n = 300
	r.start("img", nil, "-n", fmt.Sprint(n), "-prefix", r.prefix("img"), "-no-final-newline")
	waitLines(beats, 30*time.Second, func(l [][]byte) bool { return len(l) >= n })
	time.Sleep(300 * time.Millisecond)
	missing, dup := logsink.Check(logsink.SeqCounts(beats.Lines(), r.prefix("img")), n)
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("missing %v duplicated %v", missing, dup)
	}
}
