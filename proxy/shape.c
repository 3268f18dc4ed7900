/* shape.c - write-rate shaping on the client side (see shape.h). */
#include "shape.h"

#include "budget.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "pqmsg.h"
#include "sql.h"

#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_MAX_STMTS 512 /* named statements remembered per client (oldest go first) */
#define SHAPE_NAME_MAX  256 /* bytes of a Bind's two names pulled up to find the statement */

/* The held clients of one worker for one server, FIFO, with a timer for the next token. */
typedef struct ShapeQueue {
    struct ShapeQueue *next;
    Proxy *px;
    Budget *budget;
    TAILQ_HEAD(, ShapeState) clients;
    struct event *timer;
} ShapeQueue;

/* What admitting the message does to the client's transaction view. */
typedef struct ShapeAfter {
    bool tx_open, tx_token, batch_token;
} ShapeAfter;

/* ShapeState plus the view the held (or admitted, not yet relayed) message leads to. */
typedef struct ShapeFull {
    ShapeState st;
    ShapeAfter after;
} ShapeFull;

static ShapeFull *full(Client *cl)
{
    if (!cl->shape) {
        ShapeFull *f = calloc(1, sizeof *f);
        if (!f) return NULL;
        wire_buf_init(&f->st.fail);
        f->st.client = cl;
        cl->shape = &f->st;
    }
    return (ShapeFull *)cl->shape;
}

bool shape_active(const Client *cl)
{
    return cl->pool && shaper_on(&cl->pool->budget->shaper);
}

void shape_configure(Pool *pool, const CfgDatabase *db)
{
    Shaper *sh = &pool->budget->shaper;
    if (db->write_rate == CFG_AUTO) {
        shaper_configure_auto(sh, db->write_burst, pool->px->cfg->write_latency_target);
        return;
    }
    int burst = db->write_burst > 0 ? db->write_burst : db->write_rate / 10;
    shaper_configure(sh, db->write_rate, burst < 1 ? 1 : burst);
}

/* ---- Named statements: whether executing them writes ---- */

static ShapeStmt *stmt_find(ShapeState *st, const char *name)
{
    for (int i = 0; i < st->nstmts; i++)
        if (strcmp(st->stmts[i].name, name) == 0) return &st->stmts[i];
    return NULL;
}

static void stmt_del(ShapeState *st, const char *name)
{
    ShapeStmt *s = stmt_find(st, name);
    if (!s) return;
    free(s->name);
    *s = st->stmts[--st->nstmts];
}

static void stmt_set(ShapeState *st, const char *name, uint8_t kind, bool write)
{
    ShapeStmt *s = stmt_find(st, name);
    if (!s) {
        if (st->nstmts == SHAPE_MAX_STMTS) stmt_del(st, st->stmts[0].name);
        if (st->nstmts == st->capstmts) {
            int cap = st->capstmts ? st->capstmts * 2 : 8;
            ShapeStmt *n = realloc(st->stmts, (size_t)cap * sizeof *n);
            if (!n) return; /* unknown statements count as reads */
            st->stmts = n, st->capstmts = cap;
        }
        char *copy = strdup(name);
        if (!copy) return;
        s = &st->stmts[st->nstmts++];
        s->name = copy;
    }
    s->kind = kind, s->write = write;
}

/* ---- Deciding ---- */

/* Walk one statement's effect on the view; true when it needs a token it does not have. */
static bool step(ShapeAfter *a, int kind, bool write, bool extended)
{
    switch (kind) {
    case SQL_K_BEGIN: a->tx_open = true, a->tx_token = false; return false;
    case SQL_K_COMMIT:
    case SQL_K_ROLLBACK:
    case SQL_K_PREPARE_TXN: a->tx_open = false, a->tx_token = false; return false;
    default: break;
    }
    if (!write) return false;
    bool *have = a->tx_open ? &a->tx_token : extended ? &a->batch_token : NULL;
    bool need = !have || !*have;
    if (have) *have = true;
    return need;
}

/* A simple Query: one token covers the whole message (an implicit transaction). */
static bool decide_query(Client *cl, ShapeFull *f, const char *text, size_t len, bool *need)
{
    SqlCache *cache = proxy_sql_cache(cl->px);
    const SqlInfo *in = cache ? sql_classify(cache, text, len) : NULL;
    if (!in) return false;
    f->after = (ShapeAfter){f->st.tx_open, f->st.tx_token, f->st.batch_token};
    *need = false;
    for (int i = 0; i < in->nstmts; i++)
        *need |= step(&f->after, in->stmts[i].kind, in->stmts[i].flags & SQL_F_WRITE, false);
    return true;
}

/* Parse: remember whether the statement writes (it is executed by a later Bind). */
static bool note_parse(Client *cl, ShapeFull *f, const uint8_t *body, uint32_t n)
{
    const uint8_t *nul = memchr(body, 0, n), *qend;
    if (!nul || !(qend = memchr(nul + 1, 0, (size_t)(body + n - (nul + 1))))) return true;
    SqlCache *cache = proxy_sql_cache(cl->px);
    const char *q = (const char *)nul + 1;
    const SqlInfo *in = cache ? sql_classify(cache, q, (size_t)((const char *)qend - q)) : NULL;
    if (!in) return false;
    int kind = in->nstmts > 0 ? in->stmts[0].kind : SQL_K_UNKNOWN;
    stmt_set(&f->st, (const char *)body, (uint8_t)kind, in->flags & SQL_F_WRITE);
    return true;
}

/* Bind: the statement it executes decides. */
static void decide_bind(ShapeFull *f, const uint8_t *p, size_t n, bool *need)
{
    const uint8_t *portal_end = memchr(p, 0, n), *name_end;
    f->after = (ShapeAfter){f->st.tx_open, f->st.tx_token, f->st.batch_token};
    *need = false;
    if (!portal_end || !(name_end = memchr(portal_end + 1, 0, (size_t)(p + n - (portal_end + 1)))))
        return; /* a name too long to be one: the server will refuse it */
    ShapeStmt *s = stmt_find(&f->st, (const char *)portal_end + 1);
    if (s) *need = step(&f->after, s->kind, s->write, true);
}

/* ---- Holding and letting go ---- */

static void queue_timer_cb(evutil_socket_t fd, short what, void *arg);

static ShapeQueue *queue_get(Proxy *px, Budget *b)
{
    ShapeQueue *q;
    for (q = px->shapeq; q; q = q->next)
        if (q->budget == b) return q;
    if (!(q = calloc(1, sizeof *q))) return NULL;
    q->px = px, q->budget = b;
    TAILQ_INIT(&q->clients);
    if (!(q->timer = evtimer_new(px->base, queue_timer_cb, q))) {
        free(q);
        return NULL;
    }
    q->next = px->shapeq;
    px->shapeq = q;
    return q;
}

static void queue_remove(Client *cl)
{
    ShapeState *st = cl->shape;
    if (!st->queue) return;
    TAILQ_REMOVE(&st->queue->clients, st, link);
    atomic_fetch_sub(&st->queue->budget->shaper.queued, 1);
    st->queue = NULL;
    st->held = false;
}

static void arm(ShapeQueue *q, double secs)
{
    struct timeval tv = {(time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};
    evtimer_add(q->timer, &tv);
}

/* Resume the client's input after its held message was admitted or replaced. */
static void resume(Client *cl)
{
    if (cl->bev) bufferevent_enable(cl->bev, EV_READ);
    client_resume_input(cl);
}

/* Replace the held request by a Query that raises sqlstate/msg on the server: the client gets
 * the error where its result would have been, and an open transaction is aborted as Postgres
 * would have aborted it. The request is dropped (up to its Sync) as its bytes come. */
static void shape_fail(Client *cl, const char *sqlstate, const char *msg)
{
    ShapeState *st = cl->shape;
    char sql[600], text[400];
    snprintf(text, sizeof text, "%s", msg);
    for (char *p = text; *p; p++)
        if (*p == '$') *p = '?'; /* the text can never end the dollar quote */
    snprintf(sql, sizeof sql,
             "DO $pgpin$BEGIN RAISE EXCEPTION USING ERRCODE = '%s', MESSAGE = $m$%s$m$; "
             "END$pgpin$",
             sqlstate, text);
    log_info(cl->tag, "held write fails with %s: %s", sqlstate, msg);
    queue_remove(cl);
    st->fail.len = 0;
    wire_build_query(&st->fail, sql);
    st->discard = true;
    st->pass = false;
    resume(cl);
}

/* Discarding a failed request: drop whole messages up to the request's end, then put the
 * failing Query in its place. */
static int discard(Client *cl, struct evbuffer *in, uint8_t type, uint32_t len)
{
    ShapeState *st = cl->shape;
    if (evbuffer_get_length(in) < (size_t)len + 1) return SHAPE_WAIT;
    evbuffer_drain(in, (size_t)len + 1);
    if (st->held_type == PqMsg_Bind && type != PqMsg_Sync) return SHAPE_AGAIN;
    st->discard = false;
    if (st->fail.oom || evbuffer_prepend(in, st->fail.data, st->fail.len) != 0) {
        client_close(cl, "out of memory");
        return SHAPE_CLOSED;
    }
    st->batch_token = false;
    st->pass = true; /* the failing Query itself never waits */
    ((ShapeFull *)st)->after = (ShapeAfter){st->tx_open, st->tx_token, false};
    return SHAPE_AGAIN;
}

/* Hold cl's message until a token comes. */
static int hold(Client *cl, struct evbuffer *in, uint8_t type, int64_t wait_ns)
{
    ShapeState *st = cl->shape;
    ShapeQueue *q = queue_get(cl->px, cl->pool->budget);
    if (!q) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return SHAPE_CLOSED;
    }
    st->held = true;
    st->held_type = type;
    st->since = proxy_now();
    st->queue = q;
    TAILQ_INSERT_TAIL(&q->clients, st, link);
    atomic_fetch_add(&q->budget->shaper.queued, 1);
    double secs = (double)wait_ns / 1e9, max = cl->cfg->write_max_wait;
    if (TAILQ_FIRST(&q->clients) == st) arm(q, max > 0 && max < secs ? max : secs);
    /* Its later messages wait behind it; past the high mark, stop reading them. */
    if (evbuffer_get_length(in) > CONN_HIGH_WATER) bufferevent_disable(cl->bev, EV_READ);
    return SHAPE_WAIT;
}

/* Admitted: the message goes on now (or, between transactions in auto mode, once the client
 * has a server: `pass` lets it through then). */
static int admit(Client *cl)
{
    ShapeFull *f = (ShapeFull *)cl->shape;
    f->st.pass = true;
    if (cl->state != CL_ACTIVE) return SHAPE_RELAY;
    f->st.pass = false;
    f->st.tx_open = f->after.tx_open;
    f->st.tx_token = f->after.tx_token;
    f->st.batch_token = f->after.batch_token;
    return SHAPE_RELAY;
}

int shape_client_msg(Client *cl, struct evbuffer *in, uint8_t type, uint32_t len)
{
    ShapeFull *f = full(cl);
    if (!f) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return SHAPE_CLOSED;
    }
    if (f->st.held) return SHAPE_WAIT;
    if (f->st.discard) return discard(cl, in, type, len);
    if (f->st.pass) return admit(cl);
    bool need = false;
    size_t have = evbuffer_get_length(in);
    switch (type) {
    case PqMsg_Query:
    case PqMsg_Parse:
    case PqMsg_Close: {
        if (have < (size_t)len + 1) return SHAPE_WAIT;
        uint8_t *p = evbuffer_pullup(in, (ssize_t)len + 1);
        if (!p) goto oom;
        const uint8_t *body = p + 5;
        uint32_t n = len - 4;
        if (type == PqMsg_Close) {
            if (n >= 2 && body[0] == 'S' && memchr(body + 1, 0, n - 1))
                stmt_del(&f->st, (const char *)body + 1);
            return SHAPE_RELAY;
        }
        if (type == PqMsg_Parse) return note_parse(cl, f, body, n) ? SHAPE_RELAY : SHAPE_CLOSED;
        const uint8_t *nul = memchr(body, 0, n);
        if (!decide_query(cl, f, (const char *)body, nul ? (size_t)(nul - body) : n, &need))
            goto oom;
        break;
    }
    case PqMsg_Bind: {
        size_t want = (size_t)len + 1 < 5 + SHAPE_NAME_MAX ? (size_t)len + 1 : 5 + SHAPE_NAME_MAX;
        if (have < want) return SHAPE_WAIT;
        uint8_t *p = evbuffer_pullup(in, (ssize_t)want);
        if (!p) goto oom;
        decide_bind(f, p + 5, want - 5, &need);
        break;
    }
    case PqMsg_Sync: f->st.batch_token = false; return SHAPE_RELAY;
    default: return SHAPE_RELAY;
    }
    if (!need) return admit(cl);
    Shaper *sh = &cl->pool->budget->shaper;
    /* Behind others already waiting on this worker: take a place in the queue (FIFO). */
    ShapeQueue *q = queue_get(cl->px, cl->pool->budget);
    int64_t wait = q && !TAILQ_EMPTY(&q->clients) ? 1 : shaper_take(sh, shaper_now_ns());
    if (wait == 0) {
        shaper_count_admitted(sh, 0);
        f->st.write_t0 = proxy_now();
        return admit(cl);
    }
    return hold(cl, in, type, wait);
oom:
    client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
    return SHAPE_CLOSED;
}

/* Tokens for the queue's head, in order; failing those past write_max_wait. */
static void queue_run(ShapeQueue *q)
{
    ShapeState *head;
    Shaper *sh = &q->budget->shaper;
    while ((head = TAILQ_FIRST(&q->clients)) != NULL) {
        Client *cl = head->client;
        double now = proxy_now(), waited = now - cl->shape->since;
        double max = cl->cfg->write_max_wait;
        if (max > 0 && waited >= max) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "write waited %.2f s for its turn, longer than write_max_wait (%g s): "
                     "server %s is shaped to %g writes/s",
                     waited, max, q->budget->key, 1e9 / (double)atomic_load(&sh->interval));
            atomic_fetch_add(&sh->expired, 1);
            shape_fail(cl, SQLSTATE_WRITE_WAIT, msg);
            continue;
        }
        int64_t wait = shaper_take(sh, shaper_now_ns());
        if (wait > 0) {
            double secs = (double)wait / 1e9;
            if (max > 0 && max - waited < secs) secs = max - waited;
            arm(q, secs);
            return;
        }
        shaper_count_admitted(sh, waited);
        head->write_t0 = now;
        queue_remove(cl);
        cl->shape->pass = true; /* its message goes on when the relay looks at it again */
        resume(cl);
    }
}

static void queue_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    queue_run(arg);
}

void shape_ready(Client *cl, char txstatus)
{
    ShapeState *st = cl->shape;
    if (!st || st->write_t0 <= 0 || txstatus != 'I' || !cl->pool) return;
    shaper_count_latency(&cl->pool->budget->shaper, proxy_now() - st->write_t0);
    st->write_t0 = 0;
}

bool shape_cancel(Client *cl)
{
    if (!cl->shape || !cl->shape->held) return false;
    atomic_fetch_add(&cl->pool->budget->shaper.canceled, 1);
    shape_fail(cl, SQLSTATE_QUERY_CANCELED, "canceling statement due to user request");
    return true;
}

void shape_client_free(Client *cl)
{
    ShapeState *st = cl->shape;
    if (!st) return;
    ShapeQueue *q = st->queue;
    queue_remove(cl);
    if (q && !TAILQ_EMPTY(&q->clients) && !evtimer_pending(q->timer, NULL)) arm(q, 0);
    for (int i = 0; i < st->nstmts; i++)
        free(st->stmts[i].name);
    free(st->stmts);
    wire_buf_free(&st->fail);
    free(st);
    cl->shape = NULL;
}

void shape_worker_free(Proxy *px)
{
    ShapeQueue *q, *next;
    for (q = px->shapeq; q; q = next) {
        next = q->next;
        event_free(q->timer);
        free(q);
    }
    px->shapeq = NULL;
}
