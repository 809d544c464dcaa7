package logsink

import (
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
)

func waitCount(t *testing.T, c interface{ Count() int64 }, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d lines, want %d", c.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTCPSinkKeepsWholeLinesOnly(t *testing.T) {
	s, err := StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300<<10)
	c.Write([]byte("a\nb\n" + long + "\ncut"))
	c.Close()
	waitCount(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := s.Lines()
	if len(got) != 3 || string(got[0]) != "a" || string(got[1]) != "b" || string(got[2]) != long {
		t.Fatalf("lines: %d, first %q", len(got), got[0])
	}
}

func TestUDPSinkOneLinePerDatagram(t *testing.T) {
	s, err := StartUDP("127.0.0.1:0", Options{CountOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		c.Write([]byte("line\n"))
	}
	waitCount(t, s, 3)
	if len(s.Lines()) != 0 {
		t.Fatal("CountOnly kept lines")
	}
}

func TestLumberjackSinkStoresAndACKs(t *testing.T) {
	s, err := StartLumberjack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cl, err := lumber.SyncDial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n, err := cl.Send([]interface{}{map[string]string{"message": "p 1 x"}, map[string]string{"message": "p 2 x"}})
	if err != nil || n != 2 {
		t.Fatalf("send: %d %v (the sink must ACK the batch)", n, err)
	}
	got := s.Lines()
	if len(got) != 2 || string(got[0]) != `{"message":"p 1 x"}` {
		t.Fatalf("events %q", got)
	}
}

func TestSeqCountsAndCheck(t *testing.T) {
	lines := [][]byte{[]byte(`{"message":"web-1 1 xx"}`), []byte("web-1 2 x"), []byte("web-1 2 x"), []byte("web-12 4 x"), []byte("other 3 x")}
	counts := SeqCounts(lines, "web-1")
	if !reflect.DeepEqual(counts, map[int]int{1: 1, 2: 2}) {
		t.Fatalf("counts %v", counts)
	}
	missing, dup := Check(counts, 3)
	if !reflect.DeepEqual(missing, []int{3}) || !reflect.DeepEqual(dup, []int{2}) {
		t.Fatalf("missing %v dup %v", missing, dup)
	}
}
