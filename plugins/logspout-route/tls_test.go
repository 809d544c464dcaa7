package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// tlsSink is a TLS JSON-lines listener with a fresh self-signed certificate
// for 127.0.0.1; caPEM is what PLUGIN_CA_CERT must trust.
type tlsSink struct {
	ln    net.Listener
	mu    sync.Mutex
	lines [][]byte
}

func startTLSSink(t *testing.T) (*tlsSink, string) {
	return startTLSSinkConfig(t, func(*tls.Config) {})
}

// startTLSSinkConfig is startTLSSink with its server configuration adjusted
// by adjust (a client certificate demanded, ...).
func startTLSSinkConfig(t *testing.T, adjust func(*tls.Config)) (*tlsSink, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	adjust(cfg)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsSink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					s.mu.Lock()
					s.lines = append(s.lines, l)
					s.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (s *tlsSink) Lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.lines...)
}

func TestLogstashOverTLSTrustsCACert(t *testing.T) {
	r := newTestRun(t)
	sink, caPEM := startTLSSink(t)
	p := startInProcess(t, map[string]string{
		"ROUTE_URIS":     routeURI("logstash+tls", sink.ln.Addr().String(), r.filter()),
		"PLUGIN_CA_CERT": caPEM,
	})
	waitHealthy(t, p.addr)
	const n = 200
	r.start("tls", nil, "-n", fmt.Sprint(n), "-prefix", r.prefix("tls"))
	lines := waitLines(sink, 30*time.Second, func(l [][]byte) bool { return len(l) >= n })
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("tls")), n); len(missing)+len(dup) > 0 {
		t.Fatalf("missing %v duplicated %v", missing, dup)
	}
}
