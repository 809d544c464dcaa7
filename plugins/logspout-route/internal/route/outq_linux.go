package route

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unackedFunc returns a probe of how many bytes written to conn the peer's
// TCP has not acknowledged yet (SIOCOUTQ). exact is false under TLS, where
// record framing hides the mapping to our plaintext bytes; -1 = unknown.
func unackedFunc(conn net.Conn) func() (n int, exact bool) {
	exact := true
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
		exact = false
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return func() (int, bool) { return -1, false }
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() (int, bool) { return -1, false }
	}
	// The descriptor stays valid while serveStream runs: the connection is
	// closed only after it returns. Reading it once keeps the probe free of
	// a closure allocation per call.
	fd := -1
	_ = raw.Control(func(f uintptr) { fd = int(f) })
	return func() (int, bool) {
		if fd < 0 {
			return -1, false
		}
		v, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
		if err != nil {
			return -1, false
		}
		return v, exact
	}
}
