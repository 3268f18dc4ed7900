/* pause.h - PAUSE / RESUME from the admin console.
 *
 * The paused set lives in the Root (under root->lock): "all", and/or a list of database names.
 * A pool is paused when its client-facing database is in the set; pools created later read it
 * (pool_get). A paused pool serves no new waiters (pool_service), and a client that holds a
 * server is stopped at its next transaction boundary (pause_hold, from client_relay): its next
 * message waits unread until RESUME. Nothing is cancelled: work in flight completes. */
#ifndef PGPIN_PAUSE_H
#define PGPIN_PAUSE_H

#include "proxy.h"

#include <stdbool.h>
#include <stddef.h>

/* Record PAUSE (pause) or RESUME of db (NULL = every database). RESUME of one database while
 * everything is paused is refused: false with the reason in err. Thread-safe. */
bool pause_set(Root *root, bool pause, const char *db, char *err, size_t errlen);
/* Whether pools of database db are paused now. Thread-safe (takes root->lock). */
bool pause_is_paused(Root *root, const char *db);
/* MSG_PAUSE / MSG_RESUME on worker w: bring every pool's flag in line with the set; pools that
 * were resumed serve their waiters and release their held clients. db is for the log. */
void pause_apply(Proxy *w, bool pause, const char *db);
/* client_relay, at the start of a message: when cl's pool is paused and its server is at a
 * transaction boundary, stop reading cl and return true (the message stays buffered). */
bool pause_hold(Client *cl);
/* Free the paused set (main thread, at exit). */
void pause_free(Root *root);

#endif
