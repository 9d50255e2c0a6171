package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/broadcast-dev/broadcast/internal/testenv"
)

func TestTLSFilesAreRead(t *testing.T) {
	certs := testenv.TLSCerts(t)
	creds := writeFile(t, "app.creds", "-----BEGIN NATS USER JWT-----\n")
	c, err := LoadInstaller(env(with("REDIS_URL", "rediss://:pw@redis.example:6380/0",
		"REDIS_TLS_CA_FILE", certs.CAFile, "REDIS_TLS_CERT_FILE", certs.ClientCertFile, "REDIS_TLS_KEY_FILE", certs.ClientKeyFile,
		"NATS_URL", "tls://nats.example:4222", "NATS_TLS_CA_FILE", certs.CAFile, "NATS_CREDS_FILE", creds)))
	require.NoError(t, err)
	require.Equal(t, TLSFiles{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}, c.RedisTLS)
	require.Equal(t, TLSFiles{CAFile: certs.CAFile}, c.NATSTLS)
	require.Equal(t, creds, c.NATSCredsFile)

	rt, err := c.RedisTLS.Load()
	require.NoError(t, err)
	require.NotNil(t, rt.RootCAs)
	require.Len(t, rt.Certificates, 1)
	none, err := TLSFiles{}.Load()
	require.NoError(t, err)
	require.Nil(t, none, "no files: the client library's defaults")

	core, logs := observer.New(zap.InfoLevel)
	zap.New(core).Info("starting", c.Fields()...)
	line := logs.All()[0].ContextMap()
	require.Equal(t, certs.CAFile, line["redis_tls_ca_file"])
	require.Equal(t, certs.CAFile, line["nats_tls_ca_file"])
	require.Equal(t, creds, line["nats_creds_file"])
	require.Equal(t, "rediss://:***@redis.example:6380/0", line["redis_url"])
}

func TestTLSFileErrorsNameTheVariable(t *testing.T) {
	certs := testenv.TLSCerts(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := writeFile(t, "ca.pem", "not a certificate\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"missing CA": {with("REDIS_URL", "rediss://redis:6380", "REDIS_TLS_CA_FILE", missing),
			[]string{"REDIS_TLS_CA_FILE: open " + missing}},
		"CA not PEM": {with("NATS_TLS_CA_FILE", notPEM), []string{"NATS_TLS_*_FILE", notPEM, "no PEM certificate"}},
		"cert without key": {with("NATS_TLS_CERT_FILE", certs.ClientCertFile),
			[]string{"NATS_TLS_*_FILE", "both its certificate and its key"}},
		"key of another cert": {with("NATS_TLS_CERT_FILE", certs.ClientCertFile, "NATS_TLS_KEY_FILE", certs.ServerKeyFile),
			[]string{"NATS_TLS_*_FILE: client certificate"}},
		"TLS files with redis://": {with("REDIS_TLS_CA_FILE", certs.CAFile), []string{"rediss://"}},
		"missing creds":           {with("NATS_CREDS_FILE", missing), []string{"NATS_CREDS_FILE: open " + missing}},
	} {
		_, err := LoadSender(env(tc.env))
		require.Error(t, err, name)
		for _, w := range tc.want {
			require.ErrorContains(t, err, w, name)
		}
	}
}

func TestStreamReplicas(t *testing.T) {
	c, err := LoadSender(env(base))
	require.NoError(t, err)
	require.Equal(t, 1, c.StreamReplicas)
	c, err = LoadSender(env(with("NATS_STREAM_REPLICAS", "3")))
	require.NoError(t, err)
	require.Equal(t, 3, c.StreamReplicas)
	for _, bad := range []string{"0", "7", "three"} {
		_, err = LoadSender(env(with("NATS_STREAM_REPLICAS", bad)))
		require.ErrorContains(t, err, "NATS_STREAM_REPLICAS", bad)
	}
}
