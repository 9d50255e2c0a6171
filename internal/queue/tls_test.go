package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/queue"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// With NATS_TLS_CA_FILE the connection is TLS and verified against that
// CA: the JOBS stream can be set up through it. Without the CA, or with
// another, the connection is refused.
func TestConnectTLS(t *testing.T) {
	certs := testenv.TLSCerts(t)
	url := testenv.NATSTLS(t, certs, false)
	ctx := context.Background()
	log := testenv.Logger(t)

	tc, err := config.TLSFiles{CAFile: certs.CAFile}.Load()
	require.NoError(t, err)
	nc, js, err := queue.Connect(ctx, url, t.Name(), log, nats.Secure(tc))
	require.NoError(t, err)
	defer nc.Close()
	require.True(t, nc.TLSRequired())
	state, err := nc.TLSConnectionState()
	require.NoError(t, err)
	require.True(t, state.HandshakeComplete)
	require.NoError(t, queue.New(js, "tls").Setup(ctx))

	_, _, err = queue.Connect(ctx, url, t.Name(), log)
	require.Error(t, err)
	other, err := config.TLSFiles{CAFile: certs.OtherCAFile}.Load()
	require.NoError(t, err)
	_, _, err = queue.Connect(ctx, url, t.Name(), log, nats.Secure(other))
	require.ErrorContains(t, err, "certificate")
}

// A server that verifies its clients takes the one with NATS_TLS_CERT_FILE
// and NATS_TLS_KEY_FILE, and only that one.
func TestConnectTLSClientCertificate(t *testing.T) {
	certs := testenv.TLSCerts(t)
	url := testenv.NATSTLS(t, certs, true)
	ctx := context.Background()
	log := testenv.Logger(t)

	caOnly, err := config.TLSFiles{CAFile: certs.CAFile}.Load()
	require.NoError(t, err)
	_, _, err = queue.Connect(ctx, url, t.Name(), log, nats.Secure(caOnly))
	require.Error(t, err)

	tc, err := config.TLSFiles{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}.Load()
	require.NoError(t, err)
	nc, _, err := queue.Connect(ctx, url, t.Name(), log, nats.Secure(tc))
	require.NoError(t, err)
	nc.Close()
}

// Setup creates the streams with Replicas copies (NATS_STREAM_REPLICAS):
// one on a single server; three asks for a cluster, which a single server
// refuses rather than silently keeping one.
func TestStreamReplicas(t *testing.T) {
	ctx := context.Background()
	nc, js, err := queue.Connect(ctx, testenv.NATS(t), t.Name(), testenv.Logger(t))
	require.NoError(t, err)
	defer nc.Close()
	ns := "r" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	q := queue.New(js, ns)
	q.Replicas = 1
	require.NoError(t, q.Setup(ctx))
	t.Cleanup(func() { _ = q.Delete(context.Background()) })
	s, err := js.Stream(ctx, q.Stream())
	require.NoError(t, err)
	require.Equal(t, 1, s.CachedInfo().Config.Replicas)

	r3 := queue.New(js, ns+"x")
	r3.Replicas = 3
	err = r3.Setup(ctx)
	require.ErrorContains(t, err, "replicas")
	_ = r3.Delete(ctx)
}
