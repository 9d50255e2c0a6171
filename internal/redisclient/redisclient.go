// Package redisclient turns REDIS_URL into a Redis client: a single
// server, a master found through Sentinel, or a Redis Cluster, all behind
// go-redis' UniversalClient, with the same timeouts, retries, TLS and
// credentials in every mode.
//
// The URL's scheme says the mode:
//
//	redis://[user:password@]host:port[/db]                 one server (rediss:// for TLS)
//	redis+sentinel://[user:password@]sentinel:port[/db]?master_name=NAME[&addr=sentinel2:port...]
//	redis+cluster://[user:password@]node:port[?addr=node2:port...]
//
// (rediss+sentinel:// and rediss+cluster:// for TLS.) The credentials are
// the data nodes' in every mode; a Sentinel that wants its own password
// gets it from WithSentinelPassword (REDIS_SENTINEL_PASSWORD).
package redisclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is how the client finds its server.
type Mode string

const (
	Single   Mode = "single"
	Sentinel Mode = "sentinel"
	Cluster  Mode = "cluster"
)

// Timeouts and retries of every mode: a command never waits longer than
// ReadTimeout for its answer, and a failed one is tried again a bounded
// number of times with growing, jittered backoff (go-redis').
const (
	dialTimeout     = 5 * time.Second
	readTimeout     = 3 * time.Second
	writeTimeout    = 3 * time.Second
	maxRetries      = 3
	minRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff = time.Second
	pingTimeout     = 5 * time.Second
)

// Options are REDIS_URL's meaning.
type Options struct {
	Mode Mode
	// Universal holds the addresses (seed nodes, or sentinels), the
	// credentials, the database, the master's name and TLS.
	Universal redis.UniversalOptions
}

// ParseURL checks a REDIS_URL and returns what it means; it connects to
// nothing. Errors name REDIS_URL and never show its password.
func ParseURL(raw string) (*Options, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, errors.New("REDIS_URL: not a URL: want redis://host:port or a form docs/OPERATIONS.md lists")
	}
	base, mode, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("REDIS_URL: scheme %q: want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster", scheme)
	}
	plain := base + "://" + rest
	switch Mode(mode) {
	case "":
		return parseSingle(plain)
	case Sentinel:
		return parseSentinel(plain)
	case Cluster:
		return parseCluster(plain)
	}
	return nil, fmt.Errorf("REDIS_URL: scheme %q: mode %q is neither sentinel nor cluster", scheme, mode)
}

func parseSingle(raw string) (*Options, error) {
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return &Options{Mode: Single, Universal: redis.UniversalOptions{
		Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB,
		TLSConfig: o.TLSConfig, ClientName: o.ClientName, Protocol: o.Protocol, PoolSize: o.PoolSize,
	}}, nil
}

// parseSentinel reads the sentinels' addresses and the master's name; the
// URL's credentials are the master's and its replicas' (go-redis would take
// them for the sentinels').
func parseSentinel(raw string) (*Options, error) {
	o, err := redis.ParseFailoverURL(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL (sentinel): %w", err)
	}
	if o.MasterName == "" {
		return nil, errors.New("REDIS_URL (sentinel): master_name is missing: add ?master_name=<the name the sentinels monitor>")
	}
	return &Options{Mode: Sentinel, Universal: redis.UniversalOptions{
		Addrs: o.SentinelAddrs, MasterName: o.MasterName, Username: o.SentinelUsername, Password: o.SentinelPassword,
		DB: o.DB, TLSConfig: o.TLSConfig, ClientName: o.ClientName, Protocol: o.Protocol, PoolSize: o.PoolSize,
	}}, nil
}

func parseCluster(raw string) (*Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL (cluster): %w", err)
	}
	// A Redis Cluster has database 0 only.
	if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("REDIS_URL (cluster): database %q: a Redis Cluster has database 0 only", p)
	}
	u.Path = ""
	o, err := redis.ParseClusterURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL (cluster): %w", err)
	}
	return &Options{Mode: Cluster, Universal: redis.UniversalOptions{
		Addrs: o.Addrs, IsClusterMode: true, Username: o.Username, Password: o.Password,
		TLSConfig: o.TLSConfig, ClientName: o.ClientName, Protocol: o.Protocol, PoolSize: o.PoolSize,
	}}, nil
}

// Option adjusts the client Connect makes.
type Option func(*redis.UniversalOptions)

// WithTLS verifies a rediss URL's servers with tc's CAs and presents its
// client certificate; the server name stays the URL's host. A nil tc, or a
// redis URL, changes nothing.
func WithTLS(tc *tls.Config) Option {
	return func(o *redis.UniversalOptions) {
		if tc == nil || o.TLSConfig == nil {
			return
		}
		c := tc.Clone()
		c.ServerName = o.TLSConfig.ServerName
		o.TLSConfig = c
	}
}

// WithSentinelPassword is the password the sentinels want (none by
// default). It changes nothing in the other modes.
func WithSentinelPassword(p string) Option {
	return func(o *redis.UniversalOptions) {
		if o.MasterName != "" {
			o.SentinelPassword = p
		}
	}
}

// New returns a client for o, with the timeouts and retries above; it does
// not connect.
func New(o *Options, options ...Option) redis.UniversalClient {
	u := o.Universal // a copy: o stays as parsed
	u.Addrs = append([]string(nil), u.Addrs...)
	for _, opt := range options {
		opt(&u)
	}
	u.DialTimeout, u.ReadTimeout, u.WriteTimeout = dialTimeout, readTimeout, writeTimeout
	u.MaxRetries, u.MinRetryBackoff, u.MaxRetryBackoff = maxRetries, minRetryBackoff, maxRetryBackoff
	if o.Mode == Cluster {
		return newCluster(u.Cluster())
	}
	return redis.NewUniversalClient(&u)
}

// Connect parses rawURL, makes its client and checks the server answers
// (for a cluster, every master).
func Connect(ctx context.Context, rawURL string, options ...Option) (redis.UniversalClient, error) {
	o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	rdb := New(o, options...)
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := Ping(pctx, rdb); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis (%s) at %s: %w", o.Mode, strings.Join(o.Universal.Addrs, ","), err)
	}
	return rdb, nil
}

// Ping checks the server answers: for a cluster, every master, and that
// the cluster serves every slot.
func Ping(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	info, err := cc.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return errors.New("the cluster's state is not ok (CLUSTER INFO): not every slot is served")
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
}

// ErrBadPrefix says a REDIS_PREFIX cannot be used.
var ErrBadPrefix = errors.New("REDIS_PREFIX: not a usable key prefix")

// CheckPrefix checks a REDIS_PREFIX: at most 64 printable ASCII
// characters, no space, and no brace (a brace would make it a key's hash
// tag, and put every key in one slot).
func CheckPrefix(prefix string) error {
	switch {
	case len(prefix) > 64:
		return fmt.Errorf("%w: longer than 64 characters", ErrBadPrefix)
	case strings.ContainsAny(prefix, "{} ") || strings.IndexFunc(prefix, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0:
		return fmt.Errorf("%w: only printable ASCII without braces or spaces", ErrBadPrefix)
	}
	return nil
}
