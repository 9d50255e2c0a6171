package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles are the PEM files of a TLS client: the certificate authorities
// that sign the server's certificate (the system's when empty) and, for
// servers that verify their clients, the client's certificate and key.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Set reports whether any file is given.
func (f TLSFiles) Set() bool { return f.CAFile != "" || f.CertFile != "" || f.KeyFile != "" }

// Load reads the files into a client configuration (TLS 1.2 at least); nil
// when none is set. The server name is left to the client library, which
// takes it from the URL's host.
func (f TLSFiles) Load() (*tls.Config, error) {
	if !f.Set() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", f.CAFile)
		}
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, errors.New("a client certificate needs both its certificate and its key file")
	}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
