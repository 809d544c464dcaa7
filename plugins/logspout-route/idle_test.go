package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// procWakeups sums the context switches (timeslices run, the third field
// of schedstat) and CPU nanoseconds of every thread of pid.
func procWakeups(t *testing.T, pid int) (slices, cpuNS int64) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("schedstat of %d: %v", pid, err)
	}
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		fields := strings.Fields(string(b))
		if len(fields) < 3 {
			continue
		}
		cpu, _ := strconv.ParseInt(fields[0], 10, 64)
		n, _ := strconv.ParseInt(fields[2], 10, 64)
		cpuNS += cpu
		slices += n
	}
	return slices, cpuNS
}

// With containers attached that print nothing, the process sleeps: it
// fails when they make it clearly busy (more than 200 wake-ups a second,
// or over 2 % of a core, beyond what it did before they came: the shared
// daemon's other containers, which it also reads, are the baseline),
// generous bounds for a noisy shared machine; make bench prints the real
// figure over 60 s with 100 containers. Both sources: json-file containers
// read from their files, and through the Engine API (which every other
// driver needs) on its own.
func TestIdleContainersKeepTheProcessAsleep(t *testing.T) {
	forEachSource(t, testIdleContainersKeepTheProcessAsleep)
}

func testIdleContainersKeepTheProcessAsleep(t *testing.T) {
	if _, err := os.Stat("/proc/self/schedstat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no schedstat on this kernel: the idle cost cannot be measured")
		}
		t.Skip("no schedstat on this kernel") // Linux without CONFIG_SCHEDSTATS
	}
	r := newTestRun(t)
	sink, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	p := startSubprocess(t, map[string]string{"ROUTE_URIS": routeURI("logstash+tcp", sink.Addr(), r.filter()),
		"STATE_PATH": filepath.Join(t.TempDir(), "state.json")})
	waitHealthy(t, p.addr)
	pid := p.cmd.Process.Pid
	time.Sleep(time.Second)
	basePerSec, baseCPU := quietest(t, pid)
	const k = 20
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.start(fmt.Sprintf("idle%d", i), nil, "-n", "1", "-prefix", r.prefix(fmt.Sprintf("idle%d", i)), "-linger", "120s")
		}()
	}
	wg.Wait()
	waitLines(sink, 30*time.Second, func(l [][]byte) bool { return len(l) >= k })
	time.Sleep(2 * time.Second) // the streams go idle and park
	perSec, cpu := quietest(t, pid)
	t.Logf("%d idle containers: %.0f wake-ups/s, %.2f %% of a core; before them %.0f/s, %.2f %%", k, perSec, 100*cpu, basePerSec, 100*baseCPU)
	if perSec-basePerSec > 200 || cpu-baseCPU > 0.02 {
		t.Fatalf("idle containers keep the process busy: +%.0f wake-ups/s (limit 200), +%.2f %% of a core (limit 2 %%)", perSec-basePerSec, 100*(cpu-baseCPU))
	}
}

// quietest measures pid over three 2 s windows and returns the quietest
// one's wake-ups per second and share of a core: a burst of lines from
// the shared daemon's other containers (read too) passes, polling does not.
func quietest(t *testing.T, pid int) (perSec, cpu float64) {
	t.Helper()
	const window = 2 * time.Second
	perSec, cpu = -1, -1
	for range 3 {
		s0, c0 := procWakeups(t, pid)
		time.Sleep(window)
		s1, c1 := procWakeups(t, pid)
		if w := float64(s1-s0) / window.Seconds(); perSec < 0 || w < perSec {
			perSec = w
		}
		if c := float64(c1-c0) / float64(window.Nanoseconds()); cpu < 0 || c < cpu {
			cpu = c
		}
	}
	return perSec, cpu
}
