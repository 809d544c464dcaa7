package serve

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestStartServesOnLoopbackAndCloses(t *testing.T) {
	s, err := Start("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.Host, "127.0.0.1:") || s.URL != "http://"+s.Host {
		t.Fatalf("Host %q URL %q", s.Host, s.URL)
	}
	resp, err := http.Get(s.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello /x" {
		t.Fatalf("body %q", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/x"); err == nil {
		t.Fatal("still serving after Close")
	}
	var nilServer *Server
	if err := nilServer.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartRefusesABadAddress(t *testing.T) {
	if _, err := Start("127.0.0.1:-1", http.NotFoundHandler()); err == nil {
		t.Fatal("want an error")
	}
}
