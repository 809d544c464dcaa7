package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/loggen"
	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// Figures of issue 16 (the file source against the Engine-API source, in
// the same run): host CPU per shipped line (ours + dockerd's, dockerd's
// read from /proc/<pid>/stat), lines/s, idle CPU and RSS with many quiet
// containers.

// containersDir is the daemon's container directory (DockerRootDir).
func (b *bench) containersDir(ctx context.Context) (string, error) {
	info, err := b.cli.Info(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(info.DockerRootDir, "containers"), nil
}

// dockerdCPU is dockerd's user+system CPU so far.
func dockerdCPU() time.Duration {
	pid, err := strconv.Atoi(dockerdPid())
	if err != nil {
		return 0
	}
	return procCPU(pid)
}

func dockerdPid() string {
	if b, err := os.ReadFile("/var/run/docker.pid"); err == nil {
		return strings.TrimSpace(string(b))
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if c, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(c)) == "dockerd" {
			return e.Name()
		}
	}
	return ""
}

// sourceRun is one logspout-route run over one container's n lines.
type sourceRun struct {
	linesPerSec, oursUS, dockerdUS float64
}

// oneSource runs logspout-route with CONTAINERS_DIR=dir ("" for the
// Engine API) over 1 container writing n lines, and measures its CPU and
// dockerd's over the run.
func (b *bench) oneSource(ctx context.Context, tag, dir string, n, size int) (sourceRun, error) {
	var r sourceRun
	sink, err := logsink.StartTCP("127.0.0.1:0", logsink.Options{CountOnly: true})
	if err != nil {
		return r, err
	}
	defer sink.Close()
	p, err := b.startLSR("raw+tcp://"+sink.Addr()+"?filter.labels=lightship.bench:"+b.suffix+tag, "CONTAINERS_DIR="+dir)
	if err != nil {
		return r, err
	}
	ids, err := b.startGenerators(ctx, tag, 1, "-n", strconv.Itoa(n), "-size", strconv.Itoa(size))
	if err != nil {
		p.stop()
		return r, err
	}
	d0 := dockerdCPU()
	start := time.Now()
	if err := b.startAll(ctx, ids); err != nil {
		p.stop()
		return r, err
	}
	want := int64(n)
	deadline := time.Now().Add(5 * time.Minute)
	for sink.Count() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	d1 := dockerdCPU()
	cpu, _ := p.stop()
	if got := sink.Count(); got < want {
		return r, fmt.Errorf("%s: sink got %d of %d lines", tag, got, want)
	}
	b.cleanup()
	r.linesPerSec = float64(want) / el.Seconds()
	r.oursUS = float64(cpu.Microseconds()) / float64(want)
	r.dockerdUS = float64((d1 - d0).Microseconds()) / float64(want)
	return r, nil
}

// filesAgainstAPI prints the per-line figures of both sources, same run.
func (b *bench) filesAgainstAPI(ctx context.Context, n, size int) error {
	dir, err := b.containersDir(ctx)
	if err != nil {
		return err
	}
	if _, err := os.ReadDir(dir); err != nil {
		fmt.Printf("file source: %s not readable here (%v): run as root for its figures\n", dir, err)
		return nil
	}
	writeOnly, err := b.dockerdWriteOnly(ctx, n, size)
	if err != nil {
		return err
	}
	api, err := b.oneSource(ctx, "api1", "", n, size)
	if err != nil {
		return err
	}
	files, err := b.oneSource(ctx, "files1", dir, n, size)
	if err != nil {
		return err
	}
	for _, s := range []struct {
		name string
		r    sourceRun
	}{{"Engine-API source", api}, {"file source", files}} {
		fmt.Printf("1 container x %d lines, %s: %.0f lines/s; CPU per shipped line: ours %.2f us + dockerd %.2f us = %.2f us (file source target <= 7)\n",
			n, s.name, s.r.linesPerSec, s.r.oursUS, s.r.dockerdUS, s.r.oursUS+s.r.dockerdUS)
	}
	fmt.Printf("file source / API source lines/s: %.2f (target >= 2)\n", files.linesPerSec/api.linesPerSec)
	fmt.Printf("dockerd writing the same log with no reader: %.2f us/line; file source: ours %.2f us (target <= 2) + dockerd %.2f us over its write-only cost\n",
		writeOnly, files.oursUS, files.dockerdUS-writeOnly)
	return b.backlogRates(ctx, dir, n, size)
}

// backlogRates reads one stopped container's n lines already on disk
// (BACKLOG=true) with each source: the readers' own speed, which a live
// run cannot show (there both wait for the writer).
func (b *bench) backlogRates(ctx context.Context, dir string, n, size int) error {
	ids, err := b.startGenerators(ctx, "back1", 1, "-n", strconv.Itoa(n), "-size", strconv.Itoa(size))
	if err != nil {
		return err
	}
	defer b.cleanup()
	if err := b.startAll(ctx, ids); err != nil {
		return err
	}
	if err := loggen.Wait(ctx, b.cli, ids[0]); err != nil {
		return err
	}
	var rates [2]float64
	for i, d := range []string{"", dir} {
		sink, err := logsink.StartTCP("127.0.0.1:0", logsink.Options{CountOnly: true})
		if err != nil {
			return err
		}
		start := time.Now()
		p, err := b.startLSR("raw+tcp://"+sink.Addr()+"?filter.labels=lightship.bench:"+b.suffix+"back1", "CONTAINERS_DIR="+d, "BACKLOG=true")
		if err != nil {
			sink.Close()
			return err
		}
		for deadline := time.Now().Add(5 * time.Minute); sink.Count() < int64(n) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		rates[i] = float64(sink.Count()) / time.Since(start).Seconds()
		p.stop()
		sink.Close()
	}
	fmt.Printf("backlog of a stopped container, %d lines on disk (BACKLOG=true): Engine-API source %.0f lines/s, file source %.0f lines/s: %.2f x\n",
		n, rates[0], rates[1], rates[1]/rates[0])
	return nil
}

// dockerdWriteOnly is dockerd's CPU per line for writing 1 container's n
// lines to its json-file log with nobody reading: the floor of any reader.
func (b *bench) dockerdWriteOnly(ctx context.Context, n, size int) (float64, error) {
	ids, err := b.startGenerators(ctx, "wo1", 1, "-n", strconv.Itoa(n), "-size", strconv.Itoa(size))
	if err != nil {
		return 0, err
	}
	d0 := dockerdCPU()
	if err := b.startAll(ctx, ids); err != nil {
		return 0, err
	}
	if err := loggen.Wait(ctx, b.cli, ids[0]); err != nil {
		return 0, err
	}
	d1 := dockerdCPU()
	b.cleanup()
	return float64((d1 - d0).Microseconds()) / float64(n), nil
}

// idleSources follows many quiet json-file containers with each source
// and prints our CPU and dockerd's against dockerd's own baseline (the
// same time with no logspout-route).
func (b *bench) idleSources(ctx context.Context, many int, span time.Duration) error {
	dir, err := b.containersDir(ctx)
	if err != nil {
		return err
	}
	ids, err := b.startGenerators(ctx, "idle", many, "-n", "1", "-linger", (span*3 + time.Minute).String())
	if err != nil {
		return err
	}
	if err := b.startAll(ctx, ids); err != nil {
		return err
	}
	defer b.cleanup()
	time.Sleep(3 * time.Second)
	base0 := dockerdCPU()
	time.Sleep(span)
	base1 := dockerdCPU()
	for _, s := range []struct{ name, dir string }{{"file source", dir}, {"Engine-API source", ""}} {
		sink, err := logsink.StartTCP("127.0.0.1:0", logsink.Options{CountOnly: true})
		if err != nil {
			return err
		}
		p, err := b.startLSR("raw+tcp://"+sink.Addr()+"?filter.labels=lightship.bench:"+b.suffix+"idle", "CONTAINERS_DIR="+s.dir, "BACKLOG=true")
		if err != nil {
			sink.Close()
			return err
		}
		for deadline := time.Now().Add(time.Minute); sink.Count() < int64(many) && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // attached, first lines shipped
		c0, d0 := procCPU(p.cmd.Process.Pid), dockerdCPU()
		time.Sleep(span)
		c1, d1 := procCPU(p.cmd.Process.Pid), dockerdCPU()
		hwm := vmHWM(p.cmd.Process.Pid)
		_, rss := p.stop()
		sink.Close()
		fmt.Printf("idle, %d quiet json-file containers, %s, %s: ours %.3f s CPU (file source target <= 0.05); dockerd %.2f s (baseline without us %.2f s); peak RSS %.1f MB (target <= 25)\n",
			many, span, s.name, (c1 - c0).Seconds(), (d1 - d0).Seconds(), (base1 - base0).Seconds(), max(hwm, rss))
	}
	return nil
}

// procCPU is a process's user+system CPU from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
