// Command lightship-demo runs the seed's pipeline end to end (make demo).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/demo"
)

func main() {
	root := flag.String("root", ".", "repository root")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	if err := demo.Run(ctx, demo.Options{Root: *root, Out: os.Stdout}); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo FAILED after %s: %v\n", time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Printf("\ndemo passed in %s\n", time.Since(start).Round(time.Second))
}
