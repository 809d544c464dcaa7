package plugin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin"
)

// serverPair returns httptest's TLS certificate and its key, PEM-encoded,
// and another key that does not match it.
func serverPair(t *testing.T) (certPEM, keyPEM, otherKeyPEM string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	c := srv.TLS.Certificates[0]
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPEMOf := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})), keyPEMOf(c.PrivateKey), keyPEMOf(other)
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	cert, key, otherKey := serverPair(t)
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
