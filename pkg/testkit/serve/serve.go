// Package serve starts the testkit's fakes and simulators on loopback, so
// each fake is only its handler.
package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a handler served on a loopback port.
type Server struct {
	// URL is http://Host.
	URL string
	// Host is 127.0.0.1:<port>.
	Host string
	srv  *http.Server
}

// Start serves h on addr (default 127.0.0.1:0, a free port).
func Start(addr string, h http.Handler) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	s := &Server{Host: ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	s.URL = "http://" + s.Host
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving, waiting up to 5 s for requests under way. A nil
// Server closes without error.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
