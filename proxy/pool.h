/* pool.h - session pools per (database, user): idle servers, FIFO waiters, size caps. */
#ifndef PGPIN_POOL_H
#define PGPIN_POOL_H

#include "proxy.h"

/* The pool for (dbname, user), created from db on first use. Returns NULL only when out of
 * memory. Owned by px. */
Pool *pool_get(Proxy *px, const CfgDatabase *db, const char *dbname, const char *user);

/* Queue a client that finished startup (FIFO); it is attached when a server is free. */
void pool_enqueue(Pool *pool, Client *cl);
/* Take a waiting client out of the queue (it gave up or disconnected). */
void pool_dequeue(Pool *pool, Client *cl);
/* Hand idle servers to waiters and open new servers up to the pool size. */
void pool_service(Pool *pool);

/* The client of sv is gone. A clean server is reset and reused, anything else is closed. */
void pool_release(Server *sv);
/* Auto mode: the client of sv is between transactions. sv goes back as it is, without the
 * reset query (the next client's sync makes it right); closed if it cannot be reused. */
void pool_return(Server *sv);
/* sv's client is pinned: sv stops counting against the pool's size (the server's budget still
 * counts it) and a waiter may get the slot. pool_release takes it back under the size. */
void pool_pin_server(Server *sv);
/* sv finished connecting or resetting: it becomes idle (or goes straight to a waiter). */
void pool_server_idle(Server *sv);
/* A connection attempt failed with (sqlstate, msg); transient (server_error_transient): the
 * server is down or not the primary yet, so waiters keep waiting while it is probed with
 * backoff. Otherwise waiters that no established server can serve fail now. */
void pool_connect_failed(Pool *pool, const char *sqlstate, const char *msg, bool transient);
/* sv's server no longer qualifies for the pool (a hot standby, read-only): every connection of
 * the pool to the same host:port is retired (idle ones now, busy ones at release) and the
 * server's budget control connection reconnects. why is static text. */
void pool_retire_host(Pool *pool, Server *sv, const char *why);

/* A message said capacity moved between workers: serve waiters, or give idle servers back. */
void pool_service_all(Proxy *px);
/* Server sv of pool closed: return its slots to the pool cap and the server's budget
 * (server_close calls this). */
void pool_server_gone(Pool *pool, Server *sv);
/* Free a pool without servers or clients (shutdown). */
void pool_free(Pool *pool);
/* Free the cross-worker counters (after all workers stopped). */
void pool_shared_free(Root *root);

/* Once a second: idle timeout, lifetime, min_pool_size. */
void pool_janitor(Proxy *px);
/* A new config was swapped in: update sizes, retire servers whose conninfo changed. */
void pool_reload(Proxy *px);
/* Close every idle server (shutdown). */
void pool_close_idle(Proxy *px);

#endif
