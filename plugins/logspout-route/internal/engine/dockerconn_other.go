//go:build !linux

package engine

import (
	"context"
	"errors"
	"net"
)

// pollUnix: off Linux the client dials the socket itself.
const pollUnix = false

// dialDockerUnix is only used on Linux (see dockerconn_linux.go).
func dialDockerUnix(context.Context, string, *idleWaiter) (net.Conn, error) {
	return nil, errors.New("polled unix connection: Linux only")
}

// idleWaiter parks idle connections (Linux only).
type idleWaiter struct{}

func newIdleWaiter() *idleWaiter { return &idleWaiter{} }
