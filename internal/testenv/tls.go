package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Certs are the PEM files of a private CA made for one test, a server
// certificate it signed for 127.0.0.1 and localhost, and a client
// certificate it signed: for TLS servers started by the test.
type Certs struct {
	CAFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile string
	// OtherCAFile is a second CA that signed nothing here: a client
	// trusting it must refuse the server.
	OtherCAFile string
}

// TLSCerts writes a fresh CA, server and client certificate (ECDSA P-256,
// valid for an hour) into the test's temporary directory.
func TLSCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	c := Certs{CAFile: filepath.Join(dir, "ca.pem"), ServerCertFile: filepath.Join(dir, "server.pem"),
		ServerKeyFile: filepath.Join(dir, "server-key.pem"), ClientCertFile: filepath.Join(dir, "client.pem"),
		ClientKeyFile: filepath.Join(dir, "client-key.pem"), OtherCAFile: filepath.Join(dir, "other-ca.pem")}
	ca, caKey := newCert(t, "broadcast test CA", nil, nil, func(tmpl *x509.Certificate) {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	})
	writePEM(t, c.CAFile, "CERTIFICATE", ca.Raw)
	other, _ := newCert(t, "another CA", nil, nil, func(tmpl *x509.Certificate) {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	})
	writePEM(t, c.OtherCAFile, "CERTIFICATE", other.Raw)
	server, serverKey := newCert(t, "127.0.0.1", ca, caKey, func(tmpl *x509.Certificate) {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	writePEM(t, c.ServerCertFile, "CERTIFICATE", server.Raw)
	writeKey(t, c.ServerKeyFile, serverKey)
	client, clientKey := newCert(t, "broadcast-client", ca, caKey, func(tmpl *x509.Certificate) {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	writePEM(t, c.ClientCertFile, "CERTIFICATE", client.Raw)
	writeKey(t, c.ClientKeyFile, clientKey)
	return c
}

// ServerConfig is the TLS configuration of a server with the server
// certificate; with verifyClients it requires a client certificate the CA
// signed.
func (c Certs) ServerConfig(t testing.TB, verifyClients bool) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(c.ServerCertFile, c.ServerKeyFile)
	if err != nil {
		t.Fatalf("testenv: server certificate: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if verifyClients {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		cfg.ClientCAs.AppendCertsFromPEM(pem)
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

func newCert(t testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testenv: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("testenv: serial: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("testenv: certificate %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testenv: certificate %s: %v", cn, err)
	}
	return cert, key
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testenv: key: %v", err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}
