// Command lightship-registry serves the testkit registry until it is
// stopped: for benchmarks and demos. It prints the registry's host:port on
// its first line of standard output.
//
//	lightship-registry [-addr 127.0.0.1:0] [-user name:password ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lightship-ci/lightship/pkg/testkit/registry"
)

type users map[string]string

func (u users) String() string { return fmt.Sprint(len(u), " users") }

func (u users) Set(v string) error {
	name, pass, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return fmt.Errorf("want name:password")
	}
	u[name] = pass
	return nil
}

func main() {
	u := users{}
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Var(u, "user", "name:password allowed to push and pull (repeatable; none: anonymous)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reg, err := registry.Start(ctx, registry.Options{Addr: *addr, Users: u})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(reg.Host)
	<-ctx.Done()
	_ = reg.Close()
}
