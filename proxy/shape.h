/* shape.h - write-rate shaping on the client side: which message starts a write, holding it
 * until the server's bucket (shaper.h, in the server's Budget) has a token, and letting it go.
 *
 * A write is a transaction that writes (its first write statement takes the token) or an
 * autocommit write (one Query, or one extended-protocol batch up to Sync). Reads never wait.
 * A held client's later messages stay behind the held one, so its order holds; other clients
 * are not blocked. Held clients of a worker wait in one FIFO per server, which is round robin
 * across clients since each holds at most one message. A cancel or write_max_wait replaces the
 * held statement with one that raises the error on the server, so the session (and an open
 * transaction, which the error aborts) stays exactly as Postgres would leave it. */
#ifndef PGPIN_SHAPE_H
#define PGPIN_SHAPE_H

#include "proxy.h"

#include <event2/buffer.h>

/* Client fields kept by shape.c. */
typedef struct ShapeStmt {
    char *name;
    uint8_t kind; /* SqlKind of the statement */
    bool write;   /* executing it writes */
} ShapeStmt;

typedef struct ShapeState ShapeState;
struct ShapeState {
    bool held;         /* the message at the head of the input waits for a token */
    uint8_t held_type; /* its type: Query, or Bind inside an extended-protocol batch */
    bool pass;         /* that message was admitted: let it through once */
    bool tx_open;      /* the client opened a transaction block (as far as pgpin saw) */
    bool tx_token;     /* ... and it already has its token */
    bool batch_token;  /* the extended-protocol batch being sent has its token */
    bool discard;      /* failed while held: drop the request (up to Sync), then send fail */
    WireBuf fail;      /* the Query that raises the failure on the server, in its place */
    double since;      /* when it was held */
    double write_t0;   /* its write transaction was admitted then (0: none open) */
    struct ShapeQueue *queue;
    Client *client;
    TAILQ_ENTRY(ShapeState) link;
    ShapeStmt *stmts; /* named statements: whether they write ("" = the unnamed one) */
    int nstmts, capstmts;
};

/* Whether messages of cl must be shown to shape_client_msg (shaping is on for its server). */
bool shape_active(const Client *cl);

/* The message at the head of in (type, len) is about to be relayed (or, for an auto mode
 * client between transactions, to make it queue for a server). Returns SHAPE_RELAY: go on;
 * SHAPE_WAIT: not now (more bytes needed, or held until a token comes: shape.c resumes the
 * client through client_resume_input); SHAPE_AGAIN: the head of in changed, peek again;
 * SHAPE_CLOSED: the client was closed. */
enum { SHAPE_CLOSED = -1, SHAPE_WAIT = 0, SHAPE_RELAY = 1, SHAPE_AGAIN = 2 };
int shape_client_msg(Client *cl, struct evbuffer *in, uint8_t type, uint32_t len);

/* A CancelRequest for cl: when it is held, fail the held statement with 57014 now. True when
 * it was held (nothing else to cancel then). */
bool shape_cancel(Client *cl);

/* A ReadyForQuery with txstatus ended cl's request: an admitted write transaction that is
 * over counts its latency (write_rate = auto). */
void shape_ready(Client *cl, char txstatus);

/* cl goes away (close): leave the queue, free the records. */
void shape_client_free(Client *cl);

/* Free the worker's queues (worker_free). */
void shape_worker_free(Proxy *px);

/* Configure the write bucket of every server db's pools lead to (pool_get, pool_reload). */
void shape_configure(Pool *pool, const CfgDatabase *db);

#endif
