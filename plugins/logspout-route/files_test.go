package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/jsonfile"
)

// The file source (issue 16): the delivery tests run over both sources
// (subtests "api" and "files"), and these tests cover what only files have:
// rotations, positions in files, switching sources across a restart.

// forEachSource runs fn once per source. startInProcess and
// startSubprocess read the subtest's name: "api" turns the file source
// off, "files" points it at the daemon's container directory; the
// "files" subtest fails unless a container was read from files.
func forEachSource(t *testing.T, fn func(t *testing.T)) {
	t.Run("api", fn)
	t.Run("files", func(t *testing.T) {
		containersDir(t)
		t.Cleanup(func() {
			if _, ok := filesRead.Load(t.Name()); !ok && !t.Failed() {
				t.Error("the file source read no container")
			}
		})
		fn(t)
	})
}

// filesRead notes the tests whose logspout-route read a container from files.
var filesRead sync.Map

// sourceEnv is the CONTAINERS_DIR a test's logspout-route gets.
func sourceEnv(t *testing.T) (string, bool) {
	switch {
	case strings.HasSuffix(t.Name(), "/api"):
		return "", true
	case strings.HasSuffix(t.Name(), "/files"):
		return containersDir(t), true
	}
	return "", false
}

// containersDir is the daemon's container directory, which the file source
// reads; a test that needs it fails in CI when it cannot read it.
func containersDir(t *testing.T) string {
	t.Helper()
	cli, _ := generator(t)
	info, err := cli.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(info.DockerRootDir, "containers")
	if _, err := os.ReadDir(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("file source: %s not readable (run the tests as root): %v", dir, err)
		}
		t.Skipf("file source: %s not readable (run the tests as root): %v", dir, err)
	}
	return dir
}

// checkSourceUsed checks, when a logspout-route of a parametrised test
// stops, that its log shows each of the test's own json-file containers
// read through the expected source: from files in "files", none from
// files in "api". Other containers of the shared daemon are not judged
// (one removed while we looked has no directory: the API reads it).
func checkSourceUsed(t *testing.T, out string) {
	t.Helper()
	for _, m := range readingLine.FindAllStringSubmatch(out, -1) {
		driver, name, source := m[1], m[2], m[3]
		switch {
		case source == "json-file" && strings.HasSuffix(t.Name(), "/files"):
			filesRead.Store(t.Name(), true)
		case source == "json-file" && strings.HasSuffix(t.Name(), "/api"):
			t.Errorf("CONTAINERS_DIR= empty, yet %s was read from files", name)
		case driver == "json-file" && strings.HasSuffix(t.Name(), "/files") && ownContainer(t, name):
			t.Errorf("%s (json-file) was read through %s, not its files", name, source)
		}
	}
}

// readingLine is the pump's "reading container" log line (logrus text,
// fields sorted): driver, name, source.
var readingLine = regexp.MustCompile(`msg="reading container" container=\S+ driver=(\S+) name=(\S+) source=(\S+)`)

// keptOnDisk reads a stopped container's retained log files (what the
// daemon kept) and returns the sequence numbers of prefix's lines in them.
func keptOnDisk(t *testing.T, dir, id, prefix string) map[int]bool {
	t.Helper()
	l, err := jsonfile.Open(dir, id, jsonfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kept := map[int]bool{}
	var line jsonfile.Line
	for {
		err := l.Next(&line)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if seq, ok := logsink.SeqOf(line.Data, []byte(prefix+" ")); ok {
			kept[seq] = true
		}
	}
	return kept
}

// metric reads one counter from /metrics (0 when absent).
func metric(t *testing.T, addr, name string) int64 {
	t.Helper()
	_, body := get(t, addr, "/metrics")
	m := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(name)+`(\{[^}]*\})? (\d+)`).FindAllStringSubmatch(body, -1)
	var n int64
	for _, g := range m {
		v, _ := strconv.ParseInt(g[2], 10, 64)
		n += v
	}
	return n
}

// TestRotationWithSlowSinkEveryKeptLineArrivesOnce: a container writing
// 500k lines with max-size=1m, max-file=3 while the sink takes 40k
// lines/s. Every line the daemon kept on disk arrives once; lines rotated
// away before they were read are counted in /metrics and logged; the
// read and the lost add up to every line written.
func TestRotationWithSlowSinkEveryKeptLineArrivesOnce(t *testing.T) {
	for _, compress := range []string{"false", "true"} {
		t.Run("compress="+compress, func(t *testing.T) { testRotationWithSlowSink(t, compress) })
	}
}

func testRotationWithSlowSink(t *testing.T, compress string) {
	dir := containersDir(t)
	r := newTestRun(t)
	beats, err := logsink.StartLumberjack("127.0.0.1:0", logsink.Options{LinesPerSecond: 40000})
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("beats", beats.Addr(), r.filter()), "CONTAINERS_DIR": dir})
	waitHealthy(t, p.addr)
	const n = 500000
	id := r.startSpec("rot", loggen.Spec{
		Args:    []string{"-n", fmt.Sprint(n), "-prefix", r.prefix("rot")},
		LogOpts: map[string]string{"max-size": "1m", "max-file": "3", "compress": compress},
	})
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	kept := keptOnDisk(t, dir, id, r.prefix("rot"))
	if len(kept) == 0 || len(kept) >= n {
		t.Fatalf("the daemon kept %d of %d lines: no rotation to test", len(kept), n)
	}
	waitRotatedRun(t, p, beats, kept, r.prefix("rot"), n)
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive now
	counts := logsink.SeqCounts(beats.Lines(), r.prefix("rot"))
	lost := metric(t, p.addr, "logspout_route_lines_rotated_away_total")
	checkKeptArrivedOnce(t, kept, counts)
	// A file gone before the watcher opened it is a gap: reported
	// (metric and log), its lines uncounted.
	gaps := metric(t, p.addr, "logspout_route_rotation_gaps_total")
	if sum := int64(len(counts)) + lost; sum != n && !(gaps > 0 && sum < n) {
		t.Errorf("arrived %d + counted as rotated away %d != %d written (gaps %d)", len(counts), lost, n, gaps)
	}
	if lost > 0 && !strings.Contains(p.out.String(), "rotated away before they were read") {
		t.Errorf("%d lines rotated away, nothing logged", lost)
	}
	if gaps > 0 && !strings.Contains(p.out.String(), "rotated away uncounted") {
		t.Errorf("%d gaps in /metrics, none logged", gaps)
	}
	t.Logf("kept on disk %d, arrived %d, rotated away (counted) %d, gaps %d; route read %d, shipped %d", len(kept), len(counts), lost, gaps,
		metric(t, p.addr, "logspout_route_lines_read_total"), metric(t, p.addr, "logspout_route_lines_shipped_total"))
}

// waitRotatedRun waits until every line arrived or was counted as rotated
// away, or nothing moves any more after a reported gap.
func waitRotatedRun(t *testing.T, p *inProcess, beats *logsink.LumberjackSink, kept map[int]bool, prefix string, n int64) {
	t.Helper()
	lastCount := -1
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		counts := logsink.SeqCounts(beats.Lines(), prefix)
		lost := metric(t, p.addr, "logspout_route_lines_rotated_away_total")
		idle := metric(t, p.addr, "logspout_route_rotation_gaps_total") > 0 && len(counts) == lastCount
		lastCount = len(counts)
		if int64(len(counts))+lost >= n || idle && kept[maxSeq(counts)] {
			return
		}
	}
}

// checkKeptArrivedOnce fails unless every line kept on disk arrived exactly
// once, and no line twice.
func checkKeptArrivedOnce(t *testing.T, kept map[int]bool, counts map[int]int) {
	t.Helper()
	var missing, dup []int
	for seq := range kept {
		if counts[seq] != 1 {
			missing = append(missing, seq)
		}
	}
	for seq, c := range counts {
		if c > 1 {
			dup = append(dup, seq)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("kept on disk %d: not arrived once %d (%v...), duplicated %d", len(kept), len(missing), missing[:min(5, len(missing))], len(dup))
	}
}

// checkOnlyTheWindowInFlight fails unless every duplicated line is one of
// the last window the server received before the kill. Beats is
// at-least-once: a crash after the server took a window and before its ACK
// reached the state file sends that window again (Filebeat does the same);
// anything older than that window must never come twice.
func checkOnlyTheWindowInFlight(t *testing.T, beforeKill [][]byte, dup []int, prefix string) {
	t.Helper()
	if len(dup) == 0 {
		return
	}
	const window = 1024 // the default batch_size: the largest window
	last := logsink.SeqCounts(beforeKill[max(0, len(beforeKill)-window):], prefix)
	for _, seq := range dup {
		if last[seq] == 0 {
			t.Fatalf("line %d came twice, and it was not in the window in flight at the kill (%d duplicated)", seq, len(dup))
		}
	}
	t.Logf("the window in flight at the kill came again: %d lines (at-least-once)", len(dup))
}

// TestSIGKILLDuringRotationLosesAndRepeatsNothingOnBeats kills
// logspout-route right when the daemon rotates the log it reads, and
// restarts it a second later: the file position is exact.
func TestSIGKILLDuringRotationLosesAndRepeatsNothingOnBeats(t *testing.T) {
	dir := containersDir(t)
	r := newTestRun(t)
	beats, err := logsink.StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer beats.Close()
	env := map[string]string{"ROUTE_URIS": routeURI("beats", beats.Addr(), r.filter()), "STATE_PATH": filepath.Join(t.TempDir(), "state.json"), "CONTAINERS_DIR": dir}
	first := startSubprocess(t, env)
	waitHealthy(t, first.addr)
	const n = 150000
	id := r.startSpec("krot", loggen.Spec{
		Args:    []string{"-n", fmt.Sprint(n), "-rate", "25000", "-prefix", r.prefix("krot")},
		LogOpts: map[string]string{"max-size": "1m", "max-file": "20"},
	})
	// Wait for the third rotation, then kill at once.
	live := jsonfile.LogPath(dir, id)
	var ino uint64
	rotations := 0
	deadline := time.Now().Add(time.Minute)
	for rotations < 3 && time.Now().Before(deadline) {
		var st syscall.Stat_t
		if syscall.Stat(live, &st) == nil && st.Ino != ino {
			if ino != 0 {
				rotations++
			}
			ino = st.Ino
		}
		time.Sleep(200 * time.Microsecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	killedAt := len(beats.Lines())
	if rotations < 3 || killedAt == 0 {
		t.Fatalf("rotations %d, lines before the kill %d", rotations, killedAt)
	}
	time.Sleep(time.Second)
	second := startSubprocess(t, env)
	waitHealthy(t, second.addr)
	if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
		t.Fatal(err)
	}
	waitLines(beats, 2*time.Minute, func(l [][]byte) bool { return len(l) >= n })
	time.Sleep(500 * time.Millisecond)
	lines := beats.Lines()
	missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("krot")), n)
	if len(missing) > 0 {
		t.Fatalf("killed after %d lines: missing %d %v, duplicated %d", killedAt, len(missing), missing[:min(5, len(missing))], len(dup))
	}
	checkOnlyTheWindowInFlight(t, lines[:killedAt], dup, r.prefix("krot"))
	checkSourceUsed(t, second.out.String())
}

// TestSwitchingSourcesAcrossARestartLosesAndRepeatsNothing stops
// logspout-route (SIGTERM) while a container writes, and starts it with
// the other source: the saved position (time, count) serves both.
func TestSwitchingSourcesAcrossARestartLosesAndRepeatsNothing(t *testing.T) {
	dir := containersDir(t)
	for _, order := range [][2]string{{"", dir}, {dir, ""}} {
		name := "api-to-files"
		if order[0] != "" {
			name = "files-to-api"
		}
		t.Run(name, func(t *testing.T) {
			r := newTestRun(t)
			beats, err := logsink.StartLumberjack("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer beats.Close()
			env := map[string]string{"ROUTE_URIS": routeURI("beats", beats.Addr(), r.filter()), "STATE_PATH": filepath.Join(t.TempDir(), "state.json"), "CONTAINERS_DIR": order[0]}
			first := startSubprocess(t, env)
			waitHealthy(t, first.addr)
			const n = 4000
			id := r.start("sw", nil, "-n", fmt.Sprint(n), "-rate", "1000", "-prefix", r.prefix("sw"))
			waitLines(beats, 30*time.Second, func(l [][]byte) bool { return len(l) >= 1000 })
			_ = first.cmd.Process.Signal(syscall.SIGTERM)
			_ = first.cmd.Wait()
			env["CONTAINERS_DIR"] = order[1]
			second := startSubprocess(t, env)
			waitHealthy(t, second.addr)
			if err := loggen.Wait(context.Background(), r.cli, id); err != nil {
				t.Fatal(err)
			}
			waitLines(beats, time.Minute, func(l [][]byte) bool { return len(l) >= n })
			time.Sleep(500 * time.Millisecond)
			missing, dup := logsink.Check(logsink.SeqCounts(beats.Lines(), r.prefix("sw")), n)
			if len(missing) > 0 || len(dup) > 0 {
				t.Fatalf("missing %v, duplicated %v", missing, dup)
			}
			for i, out := range []string{first.out.String(), second.out.String()} {
				if files := strings.Contains(out, "source=json-file"); files != (order[i] != "") {
					t.Errorf("run %d: read from files %v, want %v", i+1, files, order[i] != "")
				}
			}
		})
	}
}

// TestMixedHostShipsEveryReadableContainerOnceThroughItsSource: json-file
// (files), local (Engine API), none (nothing to read) and journald (only
// where the daemon has it) side by side.
func TestMixedHostShipsEveryReadableContainerOnceThroughItsSource(t *testing.T) {
	dir := containersDir(t)
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startInProcess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()), "CONTAINERS_DIR": dir})
	waitHealthy(t, p.addr)
	const n = 2000
	want := map[string]string{} // driver -> source expected in the log
	ids := map[string]string{}
	for driver, source := range map[string]string{"json-file": "json-file", "local": "engine-api", "journald": "engine-api", "none": ""} {
		id, err := r.img.Start(context.Background(), r.cli, loggen.Spec{
			Name: "lsr-mix-" + driver + "-" + r.suffix, Labels: map[string]string{r.label: r.suffix},
			Args: []string{"-n", fmt.Sprint(n), "-rate", "4000", "-prefix", r.prefix(driver)}, LogDriver: driver,
		})
		if id != "" {
			t.Cleanup(func() { _ = loggen.RemoveContainer(context.Background(), r.cli, id) })
		}
		if err != nil && driver == "journald" && strings.Contains(err.Error(), "journald is not enabled") {
			t.Logf("journald is not enabled on this host: no such container to read")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids[driver], want[driver] = id, source
	}
	readable := 0
	for _, s := range want {
		if s != "" {
			readable++
		}
	}
	waitLines(sink, time.Minute, func(l [][]byte) bool { return len(l) >= readable*n })
	time.Sleep(500 * time.Millisecond)
	lines := sink.Lines()
	out := p.out.String()
	for driver, source := range want {
		counts := logsink.SeqCounts(lines, r.prefix(driver))
		if source == "" {
			if len(counts) > 0 {
				t.Errorf("%s: %d lines from a container that has no log", driver, len(counts))
			}
			continue
		}
		if missing, dup := logsink.Check(counts, n); len(missing) > 0 || len(dup) > 0 {
			t.Errorf("%s: missing %d, duplicated %d", driver, len(missing), len(dup))
		}
		checkSourceOf(t, out, driver, ids[driver], source)
	}
}

// checkSourceOf fails unless the log names the source that read container
// id, and only that one.
func checkSourceOf(t *testing.T, out, driver, id, source string) {
	t.Helper()
	var m []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, id[:12]) {
			if g := regexp.MustCompile(`source=(\S+)`).FindStringSubmatch(l); g != nil {
				m = append(m, g[1])
			}
		}
	}
	if len(m) == 0 {
		t.Errorf("%s: the log does not say which source reads it", driver)
		return
	}
	for _, got := range m {
		if got != source {
			t.Errorf("%s: read through %s, want %s", driver, got, source)
		}
	}
}

// startSpec runs a generator container from s with this run's name and
// label, removed at the end of the test.
func (r *testRun) startSpec(name string, s loggen.Spec) string {
	r.t.Helper()
	s.Name = "lsr-" + name + "-" + r.suffix
	s.Labels = map[string]string{r.label: r.suffix}
	id, err := r.img.Start(context.Background(), r.cli, s)
	if id != "" {
		r.t.Cleanup(func() { _ = loggen.RemoveContainer(context.Background(), r.cli, id) })
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func maxSeq(counts map[int]int) int {
	m := 0
	for s := range counts {
		m = max(m, s)
	}
	return m
}
