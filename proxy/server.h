/* server.h - backend connections: opened by libpq without blocking, then relayed raw. */
#ifndef PGPIN_SERVER_H
#define PGPIN_SERVER_H

#include "proxy.h"

/* Start connecting a new server for pool. Returns NULL if libpq could not even start (the
 * pool is told through pool_connect_failed). Owned by the pool. */
Server *server_open(Pool *pool);

/* Link cl to idle sv: apply cl's parameters if the server's differ, then client_attached(). */
void server_attach(Server *sv, Client *cl);
/* Run server_reset_query; the server becomes idle when it completes. */
void server_reset(Server *sv);
/* Close now; the object is freed by the reaper. Safe to call twice. */
void server_close(Server *sv, const char *why);
/* No transaction, no outstanding request, at a message boundary: safe to reuse. */
bool server_is_clean(const Server *sv);
/* Relay what the server sent to its client (from callbacks and after backpressure). */
void server_relay(Server *sv);
/* sv is retired (a read-only server) and clean: a client that holds it for its session (session
 * mode, or pinned) is ended with 57P01 so that it connects again; true when it was. */
bool server_end_retired(Server *sv);
/* Ask Postgres to cancel what sv is running (PQcancel on a detached thread). */
void server_cancel(Server *sv);
/* Take an idle server (not on the idle list) off its worker so another worker can adopt it:
 * its bufferevent and events go, the libpq connection and the pool slot stay. False when it is
 * not quiet enough to move (then keep or close it). Called on the owning worker's thread. */
bool server_detach(Server *sv);
/* Give a detached server a home in pool (on pool's worker thread); it is then in
 * pool->servers, state SV_IDLE, not yet on the idle list. False: it was closed instead. */
bool server_adopt(Server *sv, Pool *pool);
/* Free a closed server (reaper only). */
void server_free(Server *sv);

/* Map a libpq connection failure text to (sqlstate, message without libpq's prefix).
 * Writes into msg. Returns the SQLSTATE (static string). */
const char *server_classify_error(const char *libpq_msg, char *msg, size_t msglen);
/* Whether a failed connection attempt (its SQLSTATE from server_classify_error and libpq's
 * whole text) says the server is down, starting, stopping or not the primary yet: something
 * waiting may cure. False for a wrong database, login, certificate or address. */
bool server_error_transient(const char *sqlstate, const char *libpq_msg);

#endif
