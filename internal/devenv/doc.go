// Package devenv finds or starts the servers the product needs (NATS with
// JetStream, and Redis) for `make demo`, benchmarks and tests.
//
// Each Start function takes an optional URL. When it is set, the server at
// that URL is checked (it must answer, and NATS must have JetStream on a
// server of version 2.10 or later) and used as it is. When it is empty, a
// private server is started:
//
//   - NATS: an embedded nats-server (same process) with JetStream and file
//     storage on 127.0.0.1 and a random port, fsynced every
//     DefaultSyncInterval (or always). It always works, so there is no
//     other fallback.
//   - Redis: a redis-server child process on a free 127.0.0.1 port when the
//     binary is on PATH; else a redis:7 container when a Docker engine
//     answers; else an error that says how to get one.
//
// The stop function each returns releases what it started, and nothing
// else: a server found at a URL is left alone, and so is a directory the
// caller named.
//
// NATSServer and RedisServer are for fault tests: each can be stopped and
// started again on the same port and the same data directory, so clients see
// an outage and a recovery rather than a new server.
//
// A redis-server child never outlives the process that started it: it runs in
// its own process group and, on Linux, gets SIGKILL when its parent dies.
package devenv
