//go:build !linux

package main

import (
	"context"
	"net"
)

// dialDockerUnix is only used on Linux (see dockerconn_linux.go).
var dialDockerUnix func(ctx context.Context, path string) (net.Conn, error)
