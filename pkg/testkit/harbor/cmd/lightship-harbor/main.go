// Command lightship-harbor serves the Harbor fake (REST API v2.0 projects
// and scans, token service, a real registry under /v2/) until it is
// stopped: for demos and benchmarks. It prints host:port on its first line
// of standard output; violations of Harbor's API are logged to stderr.
//
//	lightship-harbor [-addr 127.0.0.1:0] [-user name:password[:admin] ...]
//	                 [-project name ...] [-findings Critical=0,High=2]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/harbor"
)

type users map[string]harbor.User

func (u users) String() string { return fmt.Sprint(len(u), " users") }

func (u users) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || parts[0] == "" {
		return fmt.Errorf("want name:password[:admin]")
	}
	u[parts[0]] = harbor.User{Password: parts[1], CanCreateProjects: len(parts) > 2 && parts[2] == "admin"}
	return nil
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	u := users{}
	var projects list
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	findings := flag.String("findings", "", "vulnerability counts every scan reports: Severity=N,...")
	flag.Var(u, "user", "name:password[:admin] (repeatable; admin may create projects)")
	flag.Var(&projects, "project", "a project that exists from the start (repeatable)")
	flag.Parse()
	f := map[string]int{}
	for _, kv := range strings.Split(*findings, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "-findings %s: %v\n", kv, err)
				os.Exit(2)
			}
			f[k] = n
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := harbor.Start(ctx, harbor.Options{Addr: *addr, Users: u, Projects: projects, Findings: f})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(h.Host)
	seen := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = h.Close()
			return
		case <-tick.C:
			v := h.Violations()
			for _, err := range v[seen:] {
				fmt.Fprintln(os.Stderr, err)
			}
			seen = len(v)
		}
	}
}
