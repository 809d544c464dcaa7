package plugin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lightship-ci/lightship/pkg/plugin"
)

// selfSigned returns a certificate and its key, PEM-encoded.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t)
	_, otherKey := selfSigned(t)
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := plugin.ClientCertificate("tls_cert", "tls_key", "", ""); c != nil || err != nil {
		t.Errorf("none: %v, %v", c, err)
	}
	if c, err := plugin.ClientCertificate("tls_cert", "tls_key", cert, keyFile); err != nil || c == nil || len(c.Certificate) != 1 {
		t.Errorf("PEM text and a path: %v, %v", c, err)
	}
	for _, tc := range []struct {
		name, cert, key, setting string
	}{
		{"cert without key", cert, "", "PLUGIN_TLS_KEY"},
		{"key without cert", "", key, "PLUGIN_TLS_CERT"},
		{"unreadable cert", "/nonexistent/cert.pem", key, "PLUGIN_TLS_CERT"},
		{"unreadable key", cert, "/nonexistent/key.pem", "PLUGIN_TLS_KEY"},
		{"key of another certificate", cert, otherKey, "PLUGIN_TLS_CERT"},
	} {
		_, err := plugin.ClientCertificate("tls_cert", "tls_key", tc.cert, tc.key)
		var se *plugin.SettingsError
		if !errors.As(err, &se) || se.Setting != tc.setting || plugin.ExitCode(err) != plugin.ExitSettings {
			t.Errorf("%s: %v, want a settings error naming %s", tc.name, err, tc.setting)
		}
	}
}
