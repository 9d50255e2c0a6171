package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// A rediss:// URL with REDIS_TLS_CA_FILE reaches a Redis whose certificate
// a private CA signed; without the CA, or with another, the connection is
// refused rather than made unverified.
func TestConnectTLS(t *testing.T) {
	certs := testenv.TLSCerts(t)
	url := testenv.RedisTLS(t, certs, false)
	ctx := context.Background()

	tc, err := config.TLSFiles{CAFile: certs.CAFile}.Load()
	require.NoError(t, err)
	rdb, err := Connect(ctx, url, WithTLS(tc))
	require.NoError(t, err)
	defer rdb.Close()
	require.NoError(t, rdb.Set(ctx, "tls-check", "ok", 0).Err())
	require.Equal(t, "ok", rdb.Get(ctx, "tls-check").Val())

	_, err = Connect(ctx, url) // the system's CAs only
	require.ErrorContains(t, err, "certificate")
	other, err := config.TLSFiles{CAFile: certs.OtherCAFile}.Load()
	require.NoError(t, err)
	_, err = Connect(ctx, url, WithTLS(other))
	require.ErrorContains(t, err, "certificate")
	// Plain text to the TLS port gets no answer it can read.
	_, err = Connect(ctx, "redis"+url[len("rediss"):], WithTLS(tc))
	require.Error(t, err)
}

// A Redis that verifies its clients (tls-auth-clients yes) takes the one
// with REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE, and only that one.
func TestConnectTLSClientCertificate(t *testing.T) {
	certs := testenv.TLSCerts(t)
	url := testenv.RedisTLS(t, certs, true)
	ctx := context.Background()

	caOnly, err := config.TLSFiles{CAFile: certs.CAFile}.Load()
	require.NoError(t, err)
	_, err = Connect(ctx, url, WithTLS(caOnly))
	require.Error(t, err)

	tc, err := config.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}.Load()
	require.NoError(t, err)
	rdb, err := Connect(ctx, url, WithTLS(tc))
	require.NoError(t, err)
	require.NoError(t, rdb.Close())
}
