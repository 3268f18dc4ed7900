/* auto.c - pool_mode = auto: recording a client's session state, transaction ends, releases and
 * pins (see auto.h). */
#include "auto.h"

#include "client.h"
#include "log.h"
#include "pool.h"
#include "pqmsg.h"
#include "server.h"
#include "sql.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdlib.h>
#include <string.h>

/* The per-worker classification cache: about 4 MB of statement texts and answers. */

static const Track empty_track;

bool auto_client_init(Client *cl, bool auto_mode)
{
    cl->auto_mode = auto_mode;
    if (!auto_mode) return true;
    cl->autost = calloc(1, sizeof *cl->autost);
    return cl->autost != NULL;
}

static void pending_clear(AutoState *st)
{
    for (int i = 0; i < st->npending; i++)
        free(st->pending[i].name), free(st->pending[i].sql);
    st->npending = 0;
}

static void parses_clear(AutoState *st)
{
    for (int i = st->parse_head; i < st->nparses; i++)
        free(st->parses[i].name);
    st->nparses = st->parse_head = 0;
}

static bool parses_push(AutoState *st, uint32_t seq, const char *name)
{
    if (st->parse_head > 0 && st->parse_head == st->nparses) st->nparses = st->parse_head = 0;
    if (st->nparses == st->capparses) {
        int cap = st->capparses ? st->capparses * 2 : 4;
        AutoParse *a = realloc(st->parses, (size_t)cap * sizeof *a);
        if (!a) return false;
        st->parses = a, st->capparses = cap;
    }
    char *n = name[0] ? strdup(name) : NULL;
    if (name[0] && !n) return false;
    st->parses[st->nparses++] = (AutoParse){seq, n};
    return true;
}

void auto_client_free(Client *cl)
{
    AutoState *st = cl->autost;
    if (!st) return;
    pending_clear(st);
    free(st->pending);
    parses_clear(st);
    free(st->parses);
    track_free(&st->track);
    free(st);
    cl->autost = NULL;
}

static uint64_t sig_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

uint64_t auto_state_sig(const Client *cl)
{
    uint64_t h = 1;
    for (int i = 0; i < cl->want.n; i++) {
        h = sig_mix(h, track_hash(cl->want.name[i], strlen(cl->want.name[i])));
        h = sig_mix(h, track_hash(cl->want.value[i], strlen(cl->want.value[i])));
    }
    if (cl->autost) {
        const Track *t = &cl->autost->track;
        for (int i = 0; i < t->nsets; i++)
            if (t->sets[i].sql) h = sig_mix(h, track_hash(t->sets[i].sql, strlen(t->sets[i].sql)));
        h = sig_mix(h, t->digest);
    }
    return h ? h : 1;
}

const Track *auto_client_track(const Client *cl)
{
    return cl->autost ? &cl->autost->track : &empty_track;
}

void auto_pin(Client *cl, const char *reason)
{
    Server *sv = cl->server;
    if (cl->pin_reason) return;
    cl->pin_reason = reason;
    log_info(cl->tag, "pinned to %s: %s", sv ? sv->tag : "(none)", reason);
    /* From now on the server stays: nothing to record (released with the reset query). */
    auto_client_free(cl);
    if (sv) pool_pin_server(sv);
}

static bool pending_add(AutoState *st, uint32_t seq, const SqlSet *s)
{
    if (st->npending == st->cappending) {
        int cap = st->cappending ? st->cappending * 2 : 4;
        AutoOp *a = realloc(st->pending, (size_t)cap * sizeof *a);
        if (!a) return false;
        st->pending = a, st->cappending = cap;
    }
    AutoOp *op = &st->pending[st->npending];
    op->seq = seq;
    op->kind = (int)s->kind;
    op->name = s->name ? strdup(s->name) : NULL;
    op->sql = s->sql ? strdup(s->sql) : NULL;
    if ((s->name && !op->name) || (s->sql && !op->sql)) {
        free(op->name), free(op->sql);
        return false;
    }
    st->npending++;
    return true;
}

/* DISCARD ALL: the client's records go; the server's become unknown (the statement may still
 * fail, e.g. inside a transaction block), so the next sync resets whatever is left. */
static void auto_discard_all(AutoState *st, Server *sv)
{
    pending_clear(st);
    track_clear_sets(&st->track);
    track_stmts_clear(&st->track);
    track_sets_unknown(&sv->track);
    track_stmts_unknown(&sv->track);
}

/* The client closed (or deallocated) a statement: it has it no more; the server's copy is
 * unknown (the Close may be skipped after an error in its batch), so a sync closes it. */
static void auto_forget_stmt(AutoState *st, Server *sv, const char *name)
{
    TrackStmt *s = track_find_stmt(&sv->track, name);
    track_stmt_del(&st->track, name);
    if (s && s->hash != 0) track_stmt_unknown(&sv->track, s);
}

/* What a statement text does: pin, record SETs, forget statements. False when out of memory. */
static bool auto_classify(Client *cl, Server *sv, const char *text, size_t len, uint32_t seq)
{
    Proxy *px = cl->px;
    AutoState *st = cl->autost;
    SqlCache *cache = proxy_sql_cache(px);
    if (!cache) return false;
    const SqlInfo *in = sql_classify(cache, text, len);
    if (!in) return false;
    if (in->pin) {
        log_debug(cl->tag, "pinning statement: %.*s", len > 200 ? 200 : (int)len, text);
        auto_pin(cl, sql_pin_reason_str(in->pin & -in->pin));
        return true;
    }
    for (int i = 0; i < in->nstmts; i++) {
        const SqlStmt *s = &in->stmts[i];
        if (s->kind == SQL_K_DISCARD_ALL) {
            auto_discard_all(st, sv);
        } else if (s->kind == SQL_K_DEALLOCATE && s->name) {
            auto_forget_stmt(st, sv, s->name);
        } else if (s->kind == SQL_K_DEALLOCATE) {
            track_stmts_clear(&st->track);
            track_stmts_unknown(&sv->track); /* it may yet fail: the next sync closes them */
        } else if (s->kind == SQL_K_ROLLBACK_TO) {
            st->rollback_to = true;
        }
        for (int k = 0; k < s->nsets; k++)
            if (!pending_add(st, seq, &in->sets[s->first_set + k])) return false;
    }
    return true;
}

/* A named Parse: the client now has it, and so does the server (an error in its request makes
 * the server's copy unknown: auto_server_error). */
static bool auto_parse(Client *cl, Server *sv, const uint8_t *body, uint32_t n, uint32_t seq)
{
    const char *name;
    uint64_t hash;
    if (!track_parse_body(body, n, &name, &hash)) return true; /* the server will say so */
    const char *query = name + strlen(name) + 1;
    const uint8_t *end = body + n;
    const uint8_t *qend = memchr(query, 0, (size_t)(end - (const uint8_t *)query));
    if (!qend) return true;
    /* Recorded now; dropped again if its request fails before its ParseComplete. */
    if (!parses_push(cl->autost, seq, name)) return false;
    if (name[0]) {
        /* The whole message is replayed: header included. */
        const uint8_t *msg = body - 5;
        if (!track_stmt_add(&cl->autost->track, name, hash, msg, n + 5, seq) ||
            !track_stmt_add(&sv->track, name, hash, NULL, 0, seq))
            return false;
    }
    return auto_classify(cl, sv, query, (size_t)(qend - (const uint8_t *)query), seq);
}

bool auto_client_msg(Client *cl, Server *sv, uint8_t type, const uint8_t *body, uint32_t n)
{
    AutoState *st = cl->autost;
    uint32_t seq = st->nreq + 1; /* the request this message belongs to */
    bool ok = true;
    switch (type) {
    case PqMsg_Query: {
        const uint8_t *nul = memchr(body, 0, n);
        ok = auto_classify(cl, sv, (const char *)body, nul ? (size_t)(nul - body) : n, seq);
        break;
    }
    case PqMsg_Parse: ok = auto_parse(cl, sv, body, n, seq); break;
    case PqMsg_Close:
        if (n >= 2 && body[0] == 'S' && body[1] && memchr(body + 1, 0, n - 1))
            auto_forget_stmt(st, sv, (const char *)body + 1);
        break;
    default: break;
    }
    /* auto_classify may have pinned the client (and freed st). */
    if (cl->autost && (type == PqMsg_Query || type == PqMsg_Sync || type == PqMsg_FunctionCall))
        cl->autost->nreq++;
    return ok;
}

void auto_server_error(Client *cl, Server *sv)
{
    AutoState *st = cl->autost;
    if (!st) return;
    st->failed = true;
    /* The failed request's Parses not yet confirmed failed or were skipped: they exist
     * neither for the client nor on the server. */
    uint32_t req = st->ndone + 1;
    while (st->parse_head < st->nparses && st->parses[st->parse_head].seq <= req) {
        AutoParse *p = &st->parses[st->parse_head++];
        if (p->name) {
            track_stmt_del(&st->track, p->name);
            track_stmt_del(&sv->track, p->name);
            free(p->name);
        }
    }
}

void auto_parse_complete(Client *cl)
{
    AutoState *st = cl->autost;
    if (!st || st->parse_head >= st->nparses) return;
    free(st->parses[st->parse_head++].name);
}

void auto_command_complete(Client *cl, const uint8_t *body, uint32_t n)
{
    /* "ROLLBACK" ends the transaction without its SETs (ROLLBACK TO says the same tag). */
    if (cl->autost && n >= 9 && memcmp(body, "ROLLBACK", 9) == 0) cl->autost->failed = true;
}

/* Apply the pending operations of requests up to st->ndone to the client's and the server's
 * records. False when out of memory. */
static bool auto_commit(AutoState *st, Server *sv, int upto)
{
    bool ok = true;
    for (int i = 0; i < upto; i++) {
        const AutoOp *op = &st->pending[i];
        switch (op->kind) {
        case SQL_SET_VALUE:
            ok &= track_set(&st->track, op->name, op->sql);
            ok &= track_set(&sv->track, op->name, op->sql);
            break;
        case SQL_SET_RESET:
            track_unset(&st->track, op->name);
            track_unset(&sv->track, op->name);
            break;
        case SQL_SET_RESET_ALL:
            track_reset_all(&st->track);
            track_reset_all(&sv->track);
            break;
        }
    }
    return ok;
}

/* The transaction (or autocommit request) ended: keep or drop its SETs. */
static void auto_settle(Client *cl, Server *sv)
{
    AutoState *st = cl->autost;
    int upto = 0;
    while (upto < st->npending && st->pending[upto].seq <= st->ndone)
        upto++;
    if (upto > 0 && st->rollback_to && !st->failed) {
        /* Which SETs a savepoint rollback undid is not tracked: keep the server. */
        auto_pin(cl, "session SET with ROLLBACK TO SAVEPOINT");
        return;
    }
    if (upto > 0 && !st->failed && !auto_commit(st, sv, upto)) {
        auto_pin(cl, "out of memory recording session state");
        return;
    }
    st->failed = st->rollback_to = false;
    if (upto == 0) return;
    for (int i = 0; i < upto; i++)
        free(st->pending[i].name), free(st->pending[i].sql);
    memmove(st->pending, st->pending + upto, (size_t)(st->npending - upto) * sizeof *st->pending);
    st->npending -= upto;
}

bool auto_release_if_idle(Client *cl)
{
    Server *sv = cl->server;
    if (cl->pin_reason || cl->state != CL_ACTIVE || !sv || sv->state != SV_ACTIVE ||
        !server_is_clean(sv) || cl->rx.remain > 0 || cl->rx.paused || sv->rx.paused ||
        evbuffer_get_length(bufferevent_get_input(cl->bev)) > 0)
        return false;
    cl->server = NULL;
    sv->client = NULL;
    cl->state = CL_IDLE;
    cl->autost->nreq = cl->autost->ndone = 0;
    parses_clear(cl->autost);           /* empty already: every request was answered */
    sv->state_sig = auto_state_sig(cl); /* the server is left with exactly cl's state */
    log_debug(cl->tag, "released %s", sv->tag);
    pool_return(sv);
    return true;
}

bool auto_ready(Client *cl, Server *sv)
{
    AutoState *st = cl->autost;
    if (!st) return false; /* pinned */
    st->ndone++;
    if (sv->txstatus == 'I')
        auto_settle(cl, sv);
    else if (sv->txstatus == 'E')
        st->failed = true;
    if (cl->drain_close) return false; /* server_relay closes it */
    return auto_release_if_idle(cl);
}

void auto_server_lost(Client *cl)
{
    AutoState *st = cl->autost;
    if (!st) return;
    for (int i = st->parse_head; i < st->nparses; i++)
        if (st->parses[i].name) track_stmt_del(&st->track, st->parses[i].name);
    parses_clear(st);
    pending_clear(st); /* settled up to the last answered request already (auto_ready) */
    st->nreq = st->ndone = 0;
    st->failed = st->rollback_to = false;
}

void auto_sync_parse_failed(Client *cl, Server *sv, const char *name)
{
    log_debug(sv->tag, "re-preparing \"%s\" for %s failed: dropped", name, cl->tag);
    if (cl->autost) track_stmt_del(&cl->autost->track, name);
    track_stmt_del(&sv->track, name);
}
