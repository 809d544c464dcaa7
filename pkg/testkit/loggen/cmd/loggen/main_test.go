package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinesAreNumberedSizedAndSplitByStream(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "loggen")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "6", "-size", "20", "-prefix", "p", "-long-every", "4", "-long-size", "50", "-stderr-every", "3", "-no-final-newline")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	out := strings.Split(stdout.String(), "\n")
	want := []string{"p 1 " + strings.Repeat("x", 16), "p 2 " + strings.Repeat("x", 16), "p 4 " + strings.Repeat("x", 46), "p 5 " + strings.Repeat("x", 16), ""}
	if strings.Join(out, "|") != strings.Join(want, "|") {
		t.Fatalf("stdout:\n%q\nwant\n%q", out, want)
	}
	if got := stderr.String(); got != "p 3 "+strings.Repeat("x", 16)+"\np 6 "+strings.Repeat("x", 16) {
		t.Fatalf("stderr (last line without newline): %q", got)
	}
}
