package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/config"
	"github.com/broadcast-dev/broadcast/internal/testenv"
)

// operatorNATS starts a NATS server in operator mode (accounts and users as
// JWTs, as nsc sets up), with TLS by c and JetStream for its one account,
// and returns its URL and a .creds file of a user of that account.
func operatorNATS(t *testing.T, c testenv.Certs) (url, credsFile string) {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := okp.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "test-operator"
	_, err = oc.Encode(okp)
	require.NoError(t, err)

	encodeAccount := func(name string, jetStream bool) (string, string) {
		akp, err := nkeys.CreateAccount()
		require.NoError(t, err)
		apub, err := akp.PublicKey()
		require.NoError(t, err)
		ac := jwt.NewAccountClaims(apub)
		ac.Name = name
		if jetStream {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		ajwt, err := ac.Encode(okp)
		require.NoError(t, err)
		if name == "app" {
			ukp, err := nkeys.CreateUser()
			require.NoError(t, err)
			upub, err := ukp.PublicKey()
			require.NoError(t, err)
			uc := jwt.NewUserClaims(upub)
			uc.Name = "broadcast"
			ujwt, err := uc.Encode(akp)
			require.NoError(t, err)
			seed, err := ukp.Seed()
			require.NoError(t, err)
			creds, err := jwt.FormatUserConfig(ujwt, seed)
			require.NoError(t, err)
			credsFile = filepath.Join(t.TempDir(), "broadcast.creds")
			require.NoError(t, os.WriteFile(credsFile, creds, 0o600))
		}
		return apub, ajwt
	}
	sysPub, sysJWT := encodeAccount("SYS", false)
	appPub, appJWT := encodeAccount("app", true)

	resolver := &natsserver.MemAccResolver{}
	require.NoError(t, resolver.Store(sysPub, sysJWT))
	require.NoError(t, resolver.Store(appPub, appJWT))
	opts := &natsserver.Options{ServerName: "operator", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
		TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: sysPub,
		TLS: true, TLSConfig: c.ServerConfig(t, false), TLSTimeout: 2}
	srv, err := natsserver.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	require.True(t, srv.ReadyForConnections(20*time.Second), "NATS in operator mode not ready")
	return srv.ClientURL(), credsFile
}

// connect, as every binary runs it, reaches a NATS in operator mode over
// TLS with NATS_CREDS_FILE and NATS_TLS_CA_FILE and a Redis over TLS with
// REDIS_TLS_CA_FILE, and sets the stream up there; without the
// credentials NATS refuses it.
func TestConnectWithTLSAndCredentials(t *testing.T) {
	certs := testenv.TLSCerts(t)
	natsURL, creds := operatorNATS(t, certs)
	redisURL := testenv.RedisTLS(t, certs, false)
	env := map[string]string{"BOT_APP_ID": "app", "BOT_APP_PASSWORD": "pw", "TENANT_ID": "aaaaaaaa-0000-0000-0000-000000000001",
		"NATS_URL": natsURL, "NATS_TLS_CA_FILE": certs.CAFile, "NATS_CREDS_FILE": creds,
		"REDIS_URL": redisURL, "REDIS_TLS_CA_FILE": certs.CAFile}
	cfg, err := config.LoadSender(func(k string) string { return env[k] })
	require.NoError(t, err)

	ctx := context.Background()
	e, err := connect(ctx, t.Name(), cfg.Common, testenv.Logger(t))
	require.NoError(t, err)
	require.True(t, e.nc.TLSRequired())
	require.NoError(t, e.rdb.Ping(ctx).Err())
	e.close()

	noCreds := cfg.Common
	noCreds.NATSCredsFile = ""
	_, err = connect(ctx, t.Name(), noCreds, testenv.Logger(t))
	require.Error(t, err)
	require.Contains(t, strings.ToLower(err.Error()), "authorization violation")
}
