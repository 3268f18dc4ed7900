/* client.h - frontend connections: startup, then relay to the linked server. */
#ifndef PGPIN_CLIENT_H
#define PGPIN_CLIENT_H

#include "proxy.h"

#include <event2/util.h>

/* A new socket from a listener. Takes ownership of fd. */
void client_accept(Proxy *px, evutil_socket_t fd);

/* The server linked to cl is ready: send the startup reply and start relaying. */
void client_attached(Client *cl);
/* Send an ErrorResponse (severity FATAL) and close once it is written. */
void client_fail(Client *cl, const char *sqlstate, const char *msg);
/* Its server was lost before the client saw anything of it (login, or a sync its messages wait
 * for): back into the pool's queue, its wait timer still running. */
void client_requeue(Client *cl);
/* Auto mode: its server was lost outside a transaction block. Each of the `unanswered` requests
 * fails with (sqlstate, msg) as an ERROR and a ReadyForQuery; the session goes on and its next
 * transaction gets another server. */
void client_server_lost(Client *cl, int unanswered, const char *sqlstate, const char *msg);
/* Close now (no message). Safe to call twice. */
void client_close(Client *cl, const char *why);
/* Look at the client's input again (write shaping let its held message go). */
void client_resume_input(Client *cl);
/* Bytes arrived for the client from its server (the server relays into cl's output). */
void client_wake_reader(Client *cl);
/* SIGTERM: close now if idle, else at the end of the current transaction. */
void client_drain(Client *cl);
/* Once a second: close clients idle (outside a transaction) past client_idle_timeout. */
void client_janitor(Proxy *px);
/* A CancelRequest for a client of this worker: cancel its server's query if the key matches. */
void client_cancel_local(Proxy *px, uint32_t pid, uint32_t key);
/* Free a closed client (reaper only). */
void client_free(Client *cl);

#endif
