package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"
)

// tlsServerStart bounds the start of a test's own TLS server.
const tlsServerStart = 20 * time.Second

// NATSTLS starts a NATS server with JetStream for this test only, that
// speaks TLS only with the certificate of c (and, with verifyClients,
// requires a client certificate c's CA signed), and returns its
// nats://127.0.0.1:port URL. It stops at the end of the test.
func NATSTLS(t testing.TB, c Certs, verifyClients bool) string {
	t.Helper()
	opts := &natsserver.Options{ServerName: "testenv-tls", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		TLS: true, TLSConfig: c.ServerConfig(t, verifyClients), TLSVerify: verifyClients, TLSTimeout: 2}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("testenv: NATS with TLS: %v", err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(tlsServerStart) {
		t.Fatalf("testenv: NATS with TLS not ready after %s", tlsServerStart)
	}
	return srv.ClientURL()
}

// RedisTLS starts a redis-server child for this test only that speaks TLS
// only (Debian's redis-server is built with it), with the certificate of c
// and, with verifyClients, requiring a client certificate c's CA signed. It
// returns its rediss://127.0.0.1:port/0 URL and stops at the end of the test.
func RedisTLS(t testing.TB, c Certs, verifyClients bool) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("testenv: a TLS Redis needs redis-server on PATH (apt-get install redis-server): %v", err)
	}
	port := freePort(t)
	auth := "no"
	if verifyClients {
		auth = "yes"
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", c.ServerCertFile, "--tls-key-file", c.ServerKeyFile, "--tls-ca-cert-file", c.CAFile,
		"--tls-auth-clients", auth, "--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", dir+"/redis.log")
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start redis-server with TLS: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// The test's own client: it trusts the CA and has the client
	// certificate, so it answers once the server is up whatever the test
	// then checks.
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	pool.AppendCertsFromPEM(pem)
	cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second,
		TLSConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	defer rdb.Close()
	deadline := time.Now().Add(tlsServerStart)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			exited <- werr // for the clean-up
			log, _ := os.ReadFile(dir + "/redis.log")
			t.Fatalf("testenv: redis-server with TLS exited (%v):\n%s", werr, log)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: redis-server with TLS on %s not answering after %s: %v", addr, tlsServerStart, err)
		}
	}
	return fmt.Sprintf("rediss://%s/0", addr)
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
