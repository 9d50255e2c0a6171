package devenv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// publishN creates a file-stored stream named name on subject name+".>" and
// publishes n messages to it.
func publishN(t *testing.T, url, name string, n int) {
	t.Helper()
	ctx := t.Context()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	for i := range n {
		_, err := js.Publish(ctx, name+".x", fmt.Appendf(nil, "m%d", i))
		require.NoError(t, err)
	}
}

// fetchAll reads every message of stream name with a fresh consumer.
func fetchAll(t *testing.T, url, name string) []string {
	t.Helper()
	ctx := t.Context()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	var got []string
	for uint64(len(got)) < info.NumPending {
		batch, err := cons.Fetch(int(info.NumPending)-len(got), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		n := 0
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
			require.NoError(t, m.Ack())
			n++
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, n, "fetch returned no message")
	}
	return got
}

func TestStartNATSEmbedded(t *testing.T) {
	t.Parallel()
	url, stop, err := StartNATS(t.Context(), NATSOptions{Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	defer stop()
	require.Regexp(t, `^nats://127\.0\.0\.1:\d+$`, url)

	publishN(t, url, "EMBEDDED", 3)
	require.Equal(t, []string{"m0", "m1", "m2"}, fetchAll(t, url, "EMBEDDED"))

	// The URL of a running server passes the check.
	got, stop2, err := StartNATS(t.Context(), NATSOptions{URL: url})
	require.NoError(t, err)
	stop2()
	require.Equal(t, url, got)
}

func TestNATSServerRestartKeepsStream(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	n, err := NewNATSServer(NATSOptions{StoreDir: dir, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	defer n.Close()
	url := n.URL()

	publishN(t, url, "DURABLE", 5)
	n.Stop()
	_, err = nats.Connect(url, nats.Timeout(500*time.Millisecond))
	require.Error(t, err, "a stopped server must not answer")

	require.NoError(t, n.Start())
	require.Equal(t, url, n.URL(), "restart must keep the port")
	require.Equal(t, []string{"m0", "m1", "m2", "m3", "m4"}, fetchAll(t, url, "DURABLE"))

	n.Close()
	require.DirExists(t, dir, "a store dir the caller named must stay")
}

func TestNATSServerTempDirRemoved(t *testing.T) {
	t.Parallel()
	n, err := NewNATSServer(NATSOptions{})
	require.NoError(t, err)
	dir := n.StoreDir()
	require.DirExists(t, dir)
	n.Close()
	require.NoDirExists(t, dir)
}

func TestStartNATSBadURL(t *testing.T) {
	t.Parallel()
	port, err := freePort()
	require.NoError(t, err)
	_, _, err = StartNATS(t.Context(), NATSOptions{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)})
	require.ErrorContains(t, err, "connect to NATS at nats://127.0.0.1:")
}

func TestStartNATSWithoutJetStream(t *testing.T) {
	t.Parallel()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	require.NoError(t, err)
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	require.True(t, srv.ReadyForConnections(10*time.Second))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, _, err = StartNATS(ctx, NATSOptions{URL: srv.ClientURL()})
	require.ErrorContains(t, err, "has no JetStream")
}

func TestNATSVersionAtLeast(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"2.9.10": false, "2.10.0": true, "2.11.0-RC.1": true, "3.0.0": true, "1.99.0": false, "": false, "x.y": false,
	} {
		require.Equal(t, want, natsVersionAtLeast(v, 2, 10), v)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	require.Equal(t, "redis://:xxxxx@127.0.0.1:6379/0", redactURL("redis://:s3cret@127.0.0.1:6379/0"))
	require.Equal(t, "nats://xxxxx@127.0.0.1:4222", redactURL("nats://tok3n@127.0.0.1:4222"))
	require.Equal(t, "nats://127.0.0.1:4222", redactURL("nats://127.0.0.1:4222"))
}

// An embedded server fsyncs every DefaultSyncInterval unless told
// otherwise, never at nats-server's own default of 2 minutes.
func TestNATSServerSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts     NATSOptions
		interval time.Duration
		always   bool
	}{
		{NATSOptions{}, DefaultSyncInterval, false},
		{NATSOptions{SyncInterval: 250 * time.Millisecond}, 250 * time.Millisecond, false},
		{NATSOptions{SyncAlways: true}, DefaultSyncInterval, true},
	} {
		n, err := NewNATSServer(tc.opts)
		require.NoError(t, err)
		cfg := n.srv.JetStreamConfig()
		n.Close()
		require.NotNil(t, cfg)
		require.Equal(t, tc.interval, cfg.SyncInterval, "%+v", tc.opts)
		require.Equal(t, tc.always, cfg.SyncAlways, "%+v", tc.opts)
	}
}

func TestParseSync(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct {
		interval time.Duration
		always   bool
	}{"": {DefaultSyncInterval, false}, "always": {0, true}, "1s": {time.Second, false}, " 2m ": {2 * time.Minute, false}} {
		d, always, err := ParseSync(in)
		require.NoError(t, err, in)
		require.Equal(t, want.interval, d, in)
		require.Equal(t, want.always, always, in)
	}
	for _, bad := range []string{"sometimes", "0s", "-1s", "1"} {
		_, _, err := ParseSync(bad)
		require.ErrorContains(t, err, "always", bad)
	}
}
