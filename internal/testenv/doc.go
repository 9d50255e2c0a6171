// Package testenv gives tests the real servers they need and a few helpers.
//
// NATS and Redis return the URL of a server shared by every test of the test
// binary, found or started once, on first use:
//
//   - NATS: NATS_URL if set, else an embedded nats-server with JetStream,
//     whose fsync setting is devenv's default or TEST_NATS_SYNC ("always",
//     or an interval such as 1s or 2m), for measuring what it costs.
//   - Redis: REDIS_URL if set (any form internal/redisclient takes), else
//     with REDIS_MODE=cluster a three-master Redis Cluster of redis-server
//     children, else a Redis on 127.0.0.1:6379 if it answers at once, else
//     a redis-server child process, else a redis:7 container.
//
// Tests share these servers, so each must keep to its own names: its own
// tenant (FreeTenant), stream names, key prefixes. A shared server is never
// stopped; it ends with the test binary (the redis-server child is killed by
// the kernel when its parent exits). Its directory is named after the
// binary's process id and is removed by a later test binary once that
// process is gone.
//
// When no server can be had the test fails, never skips, with a message that
// says how to get one: a suite that silently skips its integration tests is
// a suite that passes without testing.
package testenv
