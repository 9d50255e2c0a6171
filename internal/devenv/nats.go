package devenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// natsReadyTimeout bounds how long an embedded server may take to accept
// clients, JetStream recovery of a file store included.
const natsReadyTimeout = 10 * time.Second

// natsCheckTimeout bounds the check of a NATS server given by URL.
const natsCheckTimeout = 5 * time.Second

// DefaultSyncInterval is how often the JetStream store of a server we start
// fsyncs its files unless told otherwise: acknowledged writes of at most the
// last second can be lost to a power loss of the host (a crash of the
// process loses nothing the kernel has). docs/OPERATIONS.md gives the
// measurements and the reasons; deploy/compose uses the same.
const DefaultSyncInterval = time.Second

// ParseSync reads a JetStream sync setting as nats-server's sync_interval
// takes it: "always", or a duration such as "1s" or "2m". An empty s is the
// default (DefaultSyncInterval, not always).
func ParseSync(s string) (interval time.Duration, always bool, err error) {
	switch s = strings.TrimSpace(s); s {
	case "":
		return DefaultSyncInterval, false, nil
	case "always":
		return 0, true, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, false, fmt.Errorf("JetStream sync %q: want \"always\" or a positive duration such as 1s", s)
	}
	return d, false, nil
}

// NATSOptions says which NATS server to use or how to start one.
type NATSOptions struct {
	// URL of a running server to use. Empty starts an embedded server.
	// NewNATSServer ignores it.
	URL string
	// StoreDir is the JetStream store directory of an embedded server. Empty
	// uses a fresh temporary directory, removed when the server is closed.
	StoreDir string
	// SyncInterval is how often an embedded server's JetStream fsyncs its
	// files; 0 is DefaultSyncInterval (not nats-server's own default of 2
	// minutes: see docs/OPERATIONS.md).
	SyncInterval time.Duration
	// SyncAlways fsyncs every write before it is acknowledged; it overrides
	// SyncInterval.
	SyncAlways bool
	// Port is the client port of an embedded server; 0 picks a free one.
	Port int
	// Logger receives the embedded server's log, notices at Debug level.
	// Nil discards it.
	Logger *zap.Logger
	// cluster makes the server a node of a cluster (NATSCluster).
	cluster *clusterNode
}

// clusterNode is a server's place in a NATSCluster.
type clusterNode struct {
	name   string // the server's name, unique in the cluster
	port   int    // its cluster (route) port
	routes []*url.URL
}

// StartNATS returns the client URL of a NATS server with JetStream and a
// function that stops what StartNATS started (nothing, when opts.URL is set).
func StartNATS(ctx context.Context, opts NATSOptions) (string, func(), error) {
	if opts.URL != "" {
		if err := checkNATS(ctx, opts.URL); err != nil {
			return "", nil, err
		}
		return opts.URL, func() {}, nil
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	n, err := NewNATSServer(opts)
	if err != nil {
		return "", nil, err
	}
	return n.URL(), n.Close, nil
}

// checkNATS connects to the server at rawURL and asks JetStream for the
// account's info, so that a server without JetStream, or one too old for
// the product, fails here with a clear message rather than later.
func checkNATS(ctx context.Context, rawURL string) error {
	ctx, cancel := context.WithTimeout(ctx, natsCheckTimeout)
	defer cancel()
	shown := redactURL(rawURL)
	nc, err := nats.Connect(rawURL, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", shown, err)
	}
	defer nc.Close()
	if v := nc.ConnectedServerVersion(); !natsVersionAtLeast(v, 2, 10) {
		return fmt.Errorf("NATS at %s is version %s; the product needs 2.10 or later (unset the URL to use an embedded server)", shown, v)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("NATS at %s: %w", shown, err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("NATS at %s has no JetStream (start nats-server with -js): %w", shown, err)
		}
		return fmt.Errorf("NATS at %s: JetStream does not answer: %w", shown, err)
	}
	return nil
}

// natsVersionAtLeast reports whether version ("2.10.4", "2.11.0-RC.1") is at
// least major.minor.
func natsVersionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// NATSServer is an embedded nats-server with JetStream that can be stopped
// and started again on the same port and store directory, so that a client
// sees an outage and then the same server with the same streams.
type NATSServer struct {
	opts   NATSOptions
	dir    string
	ownDir bool
	port   int

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// NewNATSServer starts an embedded server on 127.0.0.1 and a random port.
// Close it when done.
func NewNATSServer(opts NATSOptions) (*NATSServer, error) {
	n := &NATSServer{opts: opts, dir: opts.StoreDir, port: -1}
	if opts.Port > 0 {
		n.port = opts.Port
	}
	if n.dir == "" {
		dir, err := os.MkdirTemp("", "devenv-nats-")
		if err != nil {
			return nil, fmt.Errorf("nats store dir: %w", err)
		}
		n.dir, n.ownDir = dir, true
	} else if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, fmt.Errorf("nats store dir: %w", err)
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// URL is the client URL; it stays the same across Stop and Start.
func (n *NATSServer) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", n.port)
}

// Name is the server's name, as JetStream's cluster information gives it.
func (n *NATSServer) Name() string {
	if n.opts.cluster != nil {
		return n.opts.cluster.name
	}
	return "devenv"
}

// StoreDir is the JetStream store directory.
func (n *NATSServer) StoreDir() string { return n.dir }

// Start starts the server again after Stop, on the same port and store
// directory. Starting a running server does nothing.
func (n *NATSServer) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return nil
	}
	if n.opts.SyncInterval <= 0 {
		n.opts.SyncInterval = DefaultSyncInterval
	}
	name := "devenv"
	if c := n.opts.cluster; c != nil {
		name = c.name
	}
	sopts := &server.Options{
		ServerName:   name,
		Host:         "127.0.0.1",
		Port:         n.port,
		JetStream:    true,
		StoreDir:     n.dir,
		SyncInterval: n.opts.SyncInterval,
		SyncAlways:   n.opts.SyncAlways,
		// The server lives inside someone else's process: their signals are
		// not its business.
		NoSigs: true,
		NoLog:  n.opts.Logger == nil,
	}
	if c := n.opts.cluster; c != nil {
		sopts.Cluster = server.ClusterOpts{Name: "devenv", Host: "127.0.0.1", Port: c.port}
		sopts.Routes = c.routes
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("embedded nats-server: %w", err)
	}
	if n.opts.Logger != nil {
		srv.SetLogger(natsLogger{n.opts.Logger.Named("nats-server").Sugar()}, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(natsReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("embedded nats-server (store %s, port %d) not ready after %s", n.dir, n.port, natsReadyTimeout)
	}
	if n.port == -1 {
		u, err := url.Parse(srv.ClientURL())
		if err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return fmt.Errorf("embedded nats-server client URL: %w", err)
		}
		if n.port, err = strconv.Atoi(u.Port()); err != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
			return fmt.Errorf("embedded nats-server client URL %q: %w", srv.ClientURL(), err)
		}
	}
	n.srv = srv
	return nil
}

// server is the running server, nil while stopped.
func (n *NATSServer) server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Stop shuts the server down and waits until it has. Its store stays.
func (n *NATSServer) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Close stops the server and removes the store directory if NewNATSServer
// created it.
func (n *NATSServer) Close() {
	n.Stop()
	if n.ownDir {
		_ = os.RemoveAll(n.dir)
	}
}

// natsLogger hands the embedded server's log to zap. Notices go to Debug:
// the start-up banner alone is twenty lines nobody needs at Info.
type natsLogger struct{ l *zap.SugaredLogger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debugf(format, v...) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warnf(format, v...) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Errorf(format, v...) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debugf(format, v...) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Debugf(format, v...) }

var _ server.Logger = natsLogger{}

// redactURL hides the secret in u's user info, for messages: a password, or
// a user name alone, which NATS takes as a token.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	if parsed.User != nil {
		if _, ok := parsed.User.Password(); !ok {
			parsed.User = url.User("xxxxx")
		}
	}
	return parsed.Redacted()
}
