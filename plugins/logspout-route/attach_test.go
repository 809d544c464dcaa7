package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

func TestIgnoredAndExcludedContainersNeverAppear(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{
		"ROUTE_URIS":    routeURI("logstash+tcp", sink.Addr(), r.filter()),
		"EXCLUDE_LABEL": "lightship.skip:yes",
	})
	waitHealthy(t, p.addr)
	ctx := context.Background()
	ignored := r.start("ignored", []string{"LOGSPOUT=Ignore"}, "-n", "50", "-prefix", r.prefix("ignored"))
	excl, err := r.img.Start(ctx, r.cli, loggen.Spec{
		Name: "lsr-excl-" + r.suffix, Labels: map[string]string{r.label: r.suffix, "lightship.skip": "YES"},
		Args: []string{"-n", "50", "-prefix", r.prefix("excluded")},
	})
	if excl != "" {
		t.Cleanup(func() { _ = loggen.RemoveContainer(ctx, r.cli, excl) })
	}
	if err != nil {
		t.Fatal(err)
	}
	r.start("shipped", nil, "-n", "50", "-prefix", r.prefix("shipped"))
	for _, id := range []string{ignored, excl} {
		if err := loggen.Wait(ctx, r.cli, id); err != nil {
			t.Fatal(err)
		}
	}
	waitLines(sink, 30*time.Second, func(l [][]byte) bool { return containsPrefix(l, r.prefix("shipped")) >= 50 })
	time.Sleep(500 * time.Millisecond)
	lines := sink.Lines()
	if got := containsPrefix(lines, r.prefix("shipped")); got != 50 {
		t.Fatalf("shipped container: %d lines, want 50", got)
	}
	for _, name := range []string{"ignored", "excluded"} {
		if got := containsPrefix(lines, r.prefix(name)); got != 0 {
			t.Errorf("%s container: %d lines shipped, want none", name, got)
		}
	}
}

func TestBurstOfFortyContainersAllShippedCompletely(t *testing.T) {
	forEachSource(t, testBurstOfFortyContainersAllShippedCompletely)
}

func testBurstOfFortyContainersAllShippedCompletely(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	const containers, n = 40, 50
	var wg sync.WaitGroup
	for i := 0; i < containers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.start(fmt.Sprintf("burst%d", i), nil, "-n", fmt.Sprint(n), "-prefix", r.prefix(fmt.Sprintf("burst%d", i)))
		}()
	}
	wg.Wait()
	waitLines(sink, 90*time.Second, func(l [][]byte) bool { return len(l) >= containers*n })
	time.Sleep(300 * time.Millisecond)
	lines := sink.Lines()
	complete := 0
	for i := 0; i < containers; i++ {
		missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix(fmt.Sprintf("burst%d", i))), n)
		if len(missing) == 0 && len(dup) == 0 {
			complete++
		} else {
			t.Errorf("container %d: missing %v duplicated %v", i, missing, dup)
		}
	}
	if complete != containers {
		t.Fatalf("%d/%d containers complete", complete, containers)
	}
}

func TestShortLivedContainerLongLinesAndFinalLineWithoutNewline(t *testing.T) {
	forEachSource(t, testShortLivedContainerLongLinesAndFinalLineWithoutNewline)
}

func testShortLivedContainerLongLinesAndFinalLineWithoutNewline(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	// Exits at once: 30 lines, every third 40 KB (dockerd splits those in
	// 16 KiB frames), the last one without '\n'.
	const n = 30
	id := r.start("short", nil, "-n", fmt.Sprint(n), "-prefix", r.prefix("short"), "-long-every", "3", "-long-size", "40000", "-no-final-newline")
	// Exits immediately as well: a short-lived container's 20 lines.
	r.start("blink", nil, "-n", "20", "-prefix", r.prefix("blink"))
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(sink, 30*time.Second, func(l [][]byte) bool { return len(l) >= n+20 })
	time.Sleep(300 * time.Millisecond)
	lines := sink.Lines()
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("blink")), 20); len(missing)+len(dup) > 0 {
		t.Errorf("short-lived: missing %v duplicated %v", missing, dup)
	}
	counts := logsink.SeqCounts(lines, r.prefix("short"))
	if missing, dup := logsink.Check(counts, n); len(missing)+len(dup) > 0 {
		t.Fatalf("missing %v duplicated %v", missing, dup)
	}
	for _, l := range lines {
		var ev logstashEvent
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		seq, ok := logsink.SeqOf([]byte(ev.Message), []byte(r.prefix("short")+" "))
		if !ok {
			continue
		}
		want := 100
		if seq%3 == 0 {
			want = 40000
		}
		if len(ev.Message) != want {
			t.Errorf("line %d: %d bytes, want %d whole", seq, len(ev.Message), want)
		}
	}
}

func TestRestartedContainerReattachedWithoutDuplicates(t *testing.T) {
	forEachSource(t, testRestartedContainerReattachedWithoutDuplicates)
}

func testRestartedContainerReattachedWithoutDuplicates(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter())})
	waitHealthy(t, p.addr)
	ctx := context.Background()
	// Each run writes lines 1..30: after one restart every number is
	// expected exactly twice, once per run.
	id := r.start("again", nil, "-n", "30", "-prefix", r.prefix("again"))
	if err := loggen.Wait(ctx, r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(sink, 20*time.Second, func(l [][]byte) bool { return len(l) >= 30 })
	if err := r.cli.ContainerStart(ctx, id, dcontainer.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := loggen.Wait(ctx, r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(sink, 20*time.Second, func(l [][]byte) bool { return len(l) >= 60 })
	time.Sleep(500 * time.Millisecond)
	counts := logsink.SeqCounts(sink.Lines(), r.prefix("again"))
	for i := 1; i <= 30; i++ {
		if counts[i] != 2 {
			t.Errorf("line %d shipped %d times, want 2 (once per run)", i, counts[i])
		}
	}
}

func TestBacklogShipsContainersThatRanBeforeStartUp(t *testing.T) {
	forEachSource(t, testBacklogShipsContainersThatRanBeforeStartUp)
}

func testBacklogShipsContainersThatRanBeforeStartUp(t *testing.T) {
	r := newTestRun(t)
	ctx := context.Background()
	id := r.start("before", nil, "-n", "25", "-prefix", r.prefix("before"))
	if err := loggen.Wait(ctx, r.cli, id); err != nil {
		t.Fatal(err)
	}
	// Without BACKLOG (logspout's default) history from before start-up is not shipped.
	for _, backlog := range []string{"", "true"} {
		sink, err := logsink.StartTCP("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()), "BACKLOG": backlog})
		waitHealthy(t, p.addr)
		want := 0
		if backlog == "true" {
			want = 25
			waitLines(sink, 20*time.Second, func(l [][]byte) bool { return len(l) >= 25 })
		}
		time.Sleep(500 * time.Millisecond)
		if got := containsPrefix(sink.Lines(), r.prefix("before")); got != want {
			t.Errorf("BACKLOG=%q: %d lines, want %d", backlog, got, want)
		}
		p.stop(t)
		sink.Close()
	}
}

func TestTTYContainerShippedWithAllowTTY(t *testing.T) {
	forEachSource(t, testTTYContainerShippedWithAllowTTY)
}

func testTTYContainerShippedWithAllowTTY(t *testing.T) {
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()), "ALLOW_TTY": "true"})
	waitHealthy(t, p.addr)
	ctx := context.Background()
	id, err := r.img.Start(ctx, r.cli, loggen.Spec{Name: "lsr-tty-" + r.suffix, Labels: map[string]string{r.label: r.suffix},
		Tty: true, Args: []string{"-n", "30", "-size", "50", "-prefix", r.prefix("tty"), "-no-final-newline"}})
	if id != "" {
		t.Cleanup(func() { _ = loggen.RemoveContainer(ctx, r.cli, id) })
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := waitLines(sink, 20*time.Second, func(l [][]byte) bool { return len(l) >= 30 })
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("tty")), 30); len(missing)+len(dup) > 0 {
		t.Fatalf("tty: missing %v duplicated %v", missing, dup)
	}
	for _, l := range lines {
		var ev logstashEvent
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Message) != 50 || ev.Stream != "stdout" {
			t.Fatalf("tty line %q (%s): want 50 bytes, no \\r, stdout", ev.Message, ev.Stream)
		}
	}
}
