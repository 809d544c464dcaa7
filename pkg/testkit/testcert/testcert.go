// Package testcert makes a throwaway PKI for TLS tests: a CA, a server
// certificate for 127.0.0.1 and localhost, and a client certificate.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files are the PEM files Write made.
type Files struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// Write makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all valid for a day, as PEM files under dir.
func Write(dir string) (Files, error) {
	ca, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "lightship test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return Files{}, err
	}
	server, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "lightship test server"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca)
	if err != nil {
		return Files{}, err
	}
	cl, err := newKeyPair(&x509.Certificate{
		Subject:  pkix.Name{CommonName: "lightship test client"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return Files{}, err
	}
	f := Files{
		CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	for path, kp := range map[string]*keyPair{f.CA: ca, f.ServerCert: server, f.ClientCert: cl} {
		if err := writePEM(path, "CERTIFICATE", kp.der); err != nil {
			return Files{}, err
		}
	}
	for path, kp := range map[string]*keyPair{f.ServerKey: server, f.ClientKey: cl} {
		der, err := x509.MarshalECPrivateKey(kp.key)
		if err != nil {
			return Files{}, err
		}
		if err := writePEM(path, "EC PRIVATE KEY", der); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// newKeyPair signs tmpl with parent (self-signed when parent is nil).
func newKeyPair(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, der: der}, nil
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
