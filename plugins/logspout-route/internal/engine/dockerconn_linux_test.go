package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// The daemon connection outside the netpoller: bytes both ways, EOF when
// the peer closes, and Close ends a read waiting on an idle stream.
func TestPolledUnixConn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c
		}
	}()

	c, err := dialDockerUnix(context.Background(), path, newIdleWaiter())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-peers
	if _, err := c.Write([]byte("GET /_ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 10)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "GET /_ping" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond) // the reader polls meanwhile
		peer.Write([]byte("O"))
		time.Sleep(300 * time.Millisecond) // the reader parks on the idle waiter meanwhile
		peer.Write([]byte("K"))
		peer.Close()
	}()
	all, err := io.ReadAll(c)
	if err != nil || string(all) != "OK" {
		t.Fatalf("read %q, %v; want OK then EOF", all, err)
	}
	c.Close()

	// Close from another goroutine ends a read of an idle stream.
	c2, err := dialDockerUnix(context.Background(), path, newIdleWaiter())
	if err != nil {
		t.Fatal(err)
	}
	defer (<-peers).Close()
	res := make(chan error, 1)
	go func() {
		_, err := c2.Read(make([]byte, 16))
		res <- err
	}()
	time.Sleep(300 * time.Millisecond) // parked by now
	c2.Close()
	select {
	case err := <-res:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the waiting read")
	}
	if _, err := dialDockerUnix(context.Background(), filepath.Join(t.TempDir(), "none.sock"), nil); err == nil {
		t.Fatal("dial of a missing socket succeeded")
	}
}

// Idle connections park: twenty reads of silent streams make no syscalls
// once parked, and each wakes when its line comes.
func TestIdleConnectionsStopPolling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	w := newIdleWaiter()
	const k = 20
	var conns []*polledConn
	var peers []net.Conn
	got := make(chan string, k)
	for i := 0; i < k; i++ {
		c, err := dialDockerUnix(context.Background(), path, w)
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns, peers = append(conns, c.(*polledConn)), append(peers, peer)
		go func() {
			b := make([]byte, 8)
			n, _ := c.Read(b)
			got <- string(b[:n])
		}()
	}
	time.Sleep(500 * time.Millisecond) // past the polling phase: parked
	before := int64(0)
	for _, c := range conns {
		before += c.tries.Load()
	}
	time.Sleep(time.Second)
	after := int64(0)
	for _, c := range conns {
		after += c.tries.Load()
	}
	if after != before {
		t.Fatalf("%d idle reads made %d syscalls in a second: they poll", k, after-before)
	}
	for _, p := range peers {
		p.Write([]byte("line"))
	}
	for i := 0; i < k; i++ {
		select {
		case s := <-got:
			if s != "line" {
				t.Fatalf("read %q", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a parked read did not wake for its line")
		}
	}
	for i := range conns {
		conns[i].Close()
		peers[i].Close()
	}
}
