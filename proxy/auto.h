/* auto.h - pool_mode = auto: a client holds a server only inside a transaction (an explicit
 * block, or one autocommit request up to its ReadyForQuery), and is pinned to it for life once
 * it creates state that outlives a transaction (LISTEN, session advisory locks, temporary
 * tables, WITH HOLD cursors, SQL PREPARE, LOAD). Session settings and named protocol-level
 * prepared statements are recorded per client and re-applied on whatever server it gets next
 * (track.h; server_attach runs the plan).
 *
 * The client side (client.c) calls in with one branch per message when cl->auto_mode; pinned
 * clients behave exactly as in session mode. */
#ifndef PGPIN_AUTO_H
#define PGPIN_AUTO_H

#include "proxy.h"

/* A recorded SET/RESET/RESET ALL waiting for its transaction to end. */
typedef struct AutoOp {
    uint32_t seq; /* the request (Query or Sync) it belongs to */
    int kind;     /* SqlSetKind */
    char *name;   /* NULL for RESET ALL */
    char *sql;
} AutoOp;

/* A Parse relayed and not yet answered with ParseComplete. */
typedef struct AutoParse {
    uint32_t seq; /* its request */
    char *name;   /* NULL for the unnamed statement */
} AutoParse;

typedef struct AutoState {
    Track track; /* committed settings and named statements (with their Parse messages) */
    AutoOp *pending;
    int npending, cappending;
    AutoParse *parses; /* in the order sent; ParseComplete confirms the first */
    int nparses, capparses, parse_head;
    uint32_t nreq, ndone; /* requests relayed / answered (ReadyForQuery) while linked */
    bool failed;          /* the open transaction saw an error or a ROLLBACK */
    bool rollback_to;     /* ... or a ROLLBACK TO SAVEPOINT */
} AutoState;

/* At login: does cl's database use auto mode? Then set it up. False when out of memory. */
bool auto_client_init(Client *cl, bool auto_mode);
void auto_client_free(Client *cl);

/* A frontend message of cl about to be relayed to sv (auto mode, not pinned). Query, Parse and
 * Close need the whole message in body (n bytes after the header); others pass body NULL.
 * False when out of memory (the caller closes the client). */
bool auto_client_msg(Client *cl, Server *sv, uint8_t type, const uint8_t *body, uint32_t n);
/* Relayed to cl: an ErrorResponse, a CommandComplete (only while SETs are pending), a
 * ParseComplete. */
void auto_server_error(Client *cl, Server *sv);
void auto_parse_complete(Client *cl);
void auto_command_complete(Client *cl, const uint8_t *body, uint32_t n);
/* True while CommandComplete tags must be shown to auto_command_complete. */
static inline bool auto_wants_tags(const Client *cl)
{
    return cl->autost && cl->autost->npending > 0;
}
/* A ReadyForQuery was relayed to cl: settle the transaction's SETs and let go of the server at
 * an idle point. True when cl no longer holds sv (the caller must stop relaying for it). */
bool auto_ready(Client *cl, Server *sv);
/* After linking: let go of the server at once when the client has nothing to send (the login
 * and a re-link whose messages were all answered). True when it did. */
bool auto_release_if_idle(Client *cl);
/* cl's server was lost with requests unanswered (they fail): their Parses exist nowhere and
 * their SETs never committed; the records are left as after the last answered request. */
void auto_server_lost(Client *cl);
/* Pin cl to its server for life; reason is static text (SHOW CLIENTS). */
void auto_pin(Client *cl, const char *reason);

/* A hash of the session state cl wants on a server (startup GUCs, recorded settings and
 * statements): equal hashes mean a sync would most likely have nothing to do. Never 0. */
uint64_t auto_state_sig(const Client *cl);

/* The client's recorded state for a sync (an empty Track in session mode). */
const Track *auto_client_track(const Client *cl);
/* A sync's Parse of name failed on sv: the statement is dropped from both records. */
void auto_sync_parse_failed(Client *cl, Server *sv, const char *name);

#endif
