/* worker.h - a worker thread: event loop, SO_REUSEPORT listeners, its clients, pools and
 * servers; other threads talk to it only through posted messages. */
#ifndef PGPIN_WORKER_H
#define PGPIN_WORKER_H

#include "proxy.h"

#include <netdb.h>

/* Call fn for every address of every comma-separated listen_addr item ("*" = any), stopping
 * at the first false. False when fn said so or an item does not resolve (logged). */
typedef bool (*ListenAddrFn)(const char *addr, const char *port, const struct addrinfo *ai,
                             void *arg);
bool worker_each_listen_addr(const Config *cfg, ListenAddrFn fn, void *arg);

/* Set up worker `index` of root (event base, listeners, timers) with a reference to cfg and
 * tls. Returns false with the reason logged; worker_free cleans up either way. */
bool worker_init(Proxy *w, Root *root, int index, Config *cfg, struct ssl_ctx_st *tls);
/* Run the worker's loop on a new thread. */
bool worker_start(Proxy *w);
/* Queue a message for w (any thread). Takes ownership of m. */
void worker_post(Proxy *w, Msg *m);
/* Post a message of `kind` to every worker but `except` (NULL: all). */
void worker_broadcast(Root *root, MsgKind kind, const Proxy *except);
/* Wait for the worker's thread to end (if it was started). */
void worker_join(Proxy *w);
/* Join the thread (if started) and free everything the worker owns. Join every worker first:
 * a running one may still post to the others. */
void worker_free(Proxy *w);

#endif
