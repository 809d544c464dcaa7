package plugin

import (
	"crypto/tls"

	"github.com/lightship-ci/lightship/pkg/httpx"
)

// ClientCertificate loads a client certificate for mutual TLS from two
// settings (PEM text or file paths): certSetting's value cert and
// keySetting's value key. Neither set: nil. One without the other, an
// unreadable value or a pair that does not match is a settings error
// naming the setting (exit 2).
func ClientCertificate(certSetting, keySetting, cert, key string) (*tls.Certificate, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" {
		return nil, Invalid(certSetting, "needed with %s", keySetting)
	}
	if key == "" {
		return nil, Invalid(keySetting, "needed with %s", certSetting)
	}
	certPEM, err := httpx.PEMOrFile(cert)
	if err != nil {
		return nil, Invalid(certSetting, "%v", err)
	}
	keyPEM, err := httpx.PEMOrFile(key)
	if err != nil {
		return nil, Invalid(keySetting, "%v", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, Invalid(certSetting, "with %s: %v", keySetting, err)
	}
	return &c, nil
}
