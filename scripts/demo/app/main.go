// Command web is the demo's sample application: a tiny HTTP server that
// logs a line at start, one per request and a heartbeat, so the demo can
// show its lines arriving at the log sink.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	log.Printf("web %s starting on %s", os.Getenv("APP_VERSION"), addr)
	go heartbeat()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("GET %s from %s", r.URL.Path, r.RemoteAddr)
		fmt.Fprintln(w, "hello from the Lightship demo")
	})
	log.Fatal(http.ListenAndServe(addr, nil))
}

func heartbeat() {
	for i := 1; ; i++ {
		time.Sleep(500 * time.Millisecond)
		log.Printf("heartbeat %d", i)
	}
}
