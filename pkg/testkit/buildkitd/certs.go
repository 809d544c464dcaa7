package buildkitd

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

type certFiles struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// writeCerts makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all valid for a day, as PEM files under dir.
func writeCerts(dir string) (certFiles, error) {
	ca, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "lightship test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil)
	if err != nil {
		return certFiles{}, err
	}
	server, err := newKeyPair(&x509.Certificate{
		Subject: pkix.Name{CommonName: "buildkitd"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca)
	if err != nil {
		return certFiles{}, err
	}
	cl, err := newKeyPair(&x509.Certificate{
		Subject:  pkix.Name{CommonName: "lightship test client"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
	if err != nil {
		return certFiles{}, err
	}
	f := certFiles{
		ca: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem"),
	}
	for path, kp := range map[string]*keyPair{f.ca: ca, f.serverCert: server, f.clientCert: cl} {
		if err := writePEM(path, "CERTIFICATE", kp.der); err != nil {
			return certFiles{}, err
		}
	}
	for path, kp := range map[string]*keyPair{f.serverKey: server, f.clientKey: cl} {
		der, err := x509.MarshalECPrivateKey(kp.key)
		if err != nil {
			return certFiles{}, err
		}
		if err := writePEM(path, "EC PRIVATE KEY", der); err != nil {
			return certFiles{}, err
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
