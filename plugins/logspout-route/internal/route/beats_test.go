package route

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// A stopping beats route still takes the ACK of the window in flight (the
// server has it: without the ACK a restart sends it again), and gives up
// on a server that never answers once the drain time is over.
func TestStoppingBeatsRouteWaitsForTheWindowInFlight(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ackAfter time.Duration // < 0: never
		want     uint32
	}{{"late ACK taken", 300 * time.Millisecond, 2}, {"no ACK", -1, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			go fakeBeatsServer(server, tc.ackAfter)
			lj := newLumberjack(client, time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			defer lj.drainOnStop(ctx, time.Second)()
			if err := lj.send([][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`)}); err != nil {
				t.Fatal(err)
			}
			cancel() // the route stops with the window in flight
			start := time.Now()
			seq, err := lj.awaitACK(2)
			if seq != tc.want {
				t.Fatalf("acknowledged %d (%v), want %d", seq, err, tc.want)
			}
			if el := time.Since(start); tc.ackAfter < 0 && (err == nil || el > 5*time.Second) {
				t.Fatalf("no ACK: returned after %s with %v; want an error after the 1 s drain", el, err)
			}
		})
	}
}

// fakeBeatsServer reads one lumberjack v2 window of JSON events and, after
// delay (never when negative), ACKs it whole.
func fakeBeatsServer(c net.Conn, delay time.Duration) {
	var hdr [6]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != '2' || hdr[1] != 'W' {
		return
	}
	n := binary.BigEndian.Uint32(hdr[2:])
	for range n {
		var ev [10]byte
		if _, err := io.ReadFull(c, ev[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(ev[6:]))); err != nil {
			return
		}
	}
	if delay < 0 {
		_, _ = io.Copy(io.Discard, c)
		return
	}
	time.Sleep(delay)
	ack := []byte{'2', 'A', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(ack[2:], n)
	_, _ = c.Write(ack)
}
