/* track.c - recorded session state and the sync plan (see track.h). */
#include "track.h"

#include "pqmsg.h"
#include "proxy.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

uint64_t track_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

/* A statement's share of Track.digest: name and body hash mixed (splitmix64 finaliser). */
static uint64_t stmt_digest(const char *name, uint64_t hash)
{
    uint64_t z = track_hash(name, strlen(name)) ^ (hash * 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static char *lower_dup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    for (size_t i = 0; i <= n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    return d;
}

/* ---- Settings ---- */

/* role and session_authorization: RESET ALL leaves them, and a failure to apply them must keep
 * the client's messages from running at all. */
static bool security_guc(const char *name)
{
    return strcasecmp(name, "role") == 0 || strcasecmp(name, "session_authorization") == 0;
}

TrackSet *track_find_set(const Track *t, const char *name)
{
    for (int i = 0; i < t->nsets; i++)
        if (strcasecmp(t->sets[i].name, name) == 0) return &t->sets[i];
    return NULL;
}

static void set_remove_at(Track *t, int i)
{
    free(t->sets[i].name);
    free(t->sets[i].sql);
    memmove(&t->sets[i], &t->sets[i + 1], (size_t)(t->nsets - i - 1) * sizeof t->sets[0]);
    t->nsets--;
}

bool track_set(Track *t, const char *name, const char *sql)
{
    char *n = lower_dup(name), *s = sql ? strdup(sql) : NULL;
    if (!n || (sql && !s)) goto fail;
    track_unset(t, name);
    if (t->nsets == t->capsets) {
        int cap = t->capsets ? t->capsets * 2 : 4;
        TrackSet *a = realloc(t->sets, (size_t)cap * sizeof *a);
        if (!a) goto fail;
        t->sets = a, t->capsets = cap;
    }
    t->sets[t->nsets++] = (TrackSet){n, s};
    return true;
fail:
    free(n), free(s);
    return false;
}

void track_unset(Track *t, const char *name)
{
    for (int i = 0; i < t->nsets; i++) {
        if (strcasecmp(t->sets[i].name, name) == 0) {
            set_remove_at(t, i);
            return;
        }
    }
}

void track_clear_sets(Track *t)
{
    while (t->nsets > 0)
        set_remove_at(t, t->nsets - 1);
}

void track_reset_all(Track *t)
{
    for (int i = t->nsets - 1; i >= 0; i--)
        if (!security_guc(t->sets[i].name)) set_remove_at(t, i);
}

void track_sets_unknown(Track *t)
{
    for (int i = 0; i < t->nsets; i++) {
        free(t->sets[i].sql);
        t->sets[i].sql = NULL;
    }
}

/* ---- Prepared statements ---- */

bool track_parse_body(const uint8_t *body, uint32_t n, const char **name, uint64_t *hash)
{
    const uint8_t *nul = memchr(body, 0, n);
    if (!nul) return false;
    *name = (const char *)body;
    size_t off = (size_t)(nul - body) + 1;
    *hash = track_hash(body + off, n - off);
    return true;
}

TrackStmt *track_find_stmt(const Track *t, const char *name)
{
    for (int i = 0; i < t->nstmts; i++)
        if (strcmp(t->stmts[i].name, name) == 0) return &t->stmts[i];
    return NULL;
}

static void stmt_remove_at(Track *t, int i)
{
    TrackStmt *s = &t->stmts[i];
    t->digest ^= stmt_digest(s->name, s->hash);
    free(s->name);
    free(s->msg);
    t->stmts[i] = t->stmts[t->nstmts - 1]; /* order does not matter */
    t->nstmts--;
}

void track_stmt_del(Track *t, const char *name)
{
    for (int i = 0; i < t->nstmts; i++) {
        if (strcmp(t->stmts[i].name, name) == 0) {
            stmt_remove_at(t, i);
            return;
        }
    }
}

bool track_stmt_add(Track *t, const char *name, uint64_t hash, const uint8_t *msg, uint32_t len,
                    uint32_t batch)
{
    char *n = strdup(name);
    uint8_t *m = msg ? malloc(len) : NULL;
    if (!n || (msg && !m)) goto fail;
    if (msg) memcpy(m, msg, len);
    track_stmt_del(t, name);
    if (t->nstmts == t->capstmts) {
        int cap = t->capstmts ? t->capstmts * 2 : 4;
        TrackStmt *a = realloc(t->stmts, (size_t)cap * sizeof *a);
        if (!a) goto fail;
        t->stmts = a, t->capstmts = cap;
    }
    t->stmts[t->nstmts++] = (TrackStmt){n, hash, m, msg ? len : 0, batch};
    t->digest ^= stmt_digest(n, hash);
    return true;
fail:
    free(n), free(m);
    return false;
}

void track_stmts_clear(Track *t)
{
    while (t->nstmts > 0)
        stmt_remove_at(t, t->nstmts - 1);
}

void track_stmt_unknown(Track *t, TrackStmt *s)
{
    t->digest ^= stmt_digest(s->name, s->hash) ^ stmt_digest(s->name, 0);
    s->hash = 0;
}

void track_stmts_unknown(Track *t)
{
    for (int i = 0; i < t->nstmts; i++)
        track_stmt_unknown(t, &t->stmts[i]);
}

void track_stmts_unknown_batch(Track *t, uint32_t batch)
{
    for (int i = 0; i < t->nstmts; i++)
        if (t->stmts[i].batch == batch) track_stmt_unknown(t, &t->stmts[i]);
}

void track_free(Track *t)
{
    track_clear_sets(t);
    track_stmts_clear(t);
    free(t->sets);
    free(t->stmts);
    *t = (Track){0};
}

/* ---- Sync plan ---- */

void track_plan_init(TrackPlan *p)
{
    wire_buf_init(&p->buf);
    p->steps = NULL;
    p->nsteps = p->cap = 0;
    p->wait = false;
}

void track_plan_free(TrackPlan *p)
{
    for (int i = 0; i < p->nsteps; i++)
        free(p->steps ? p->steps[i].name : NULL);
    free(p->steps);
    wire_buf_free(&p->buf);
    track_plan_init(p);
}

static bool plan_step(TrackPlan *p, TrackStepKind kind, const char *name)
{
    char *n = name ? strdup(name) : NULL;
    if (name && !n) return false;
    if (p->nsteps == p->cap) {
        int cap = p->cap ? p->cap * 2 : 4;
        TrackStep *a = realloc(p->steps, (size_t)cap * sizeof *a);
        if (!a) {
            free(n);
            return false;
        }
        p->steps = a, p->cap = cap;
    }
    p->steps[p->nsteps++] = (TrackStep){kind, n};
    return true;
}

void track_put_set(WireBuf *b, const char *name, const char *value)
{
    wire_put_bytes(b, "SET \"", 5);
    for (const char *s = name; *s; s++) {
        if (*s == '"') wire_put_u8(b, '"');
        wire_put_u8(b, (uint8_t)*s);
    }
    wire_put_bytes(b, "\" = E'", 6);
    for (const char *s = value; *s; s++) {
        if (*s == '\'' || *s == '\\') wire_put_u8(b, (uint8_t)*s);
        wire_put_u8(b, (uint8_t)*s);
    }
    wire_put_u8(b, '\'');
}

static void put_reset(WireBuf *b, const char *name)
{
    wire_put_bytes(b, "RESET \"", 7);
    for (const char *s = name; *s; s++) {
        if (*s == '"') wire_put_u8(b, '"');
        wire_put_u8(b, (uint8_t)*s);
    }
    wire_put_u8(b, '"');
}

/* Separator before the next statement of the sync Query. */
static void put_sep(WireBuf *b, size_t start)
{
    if (b->len > start) wire_put_bytes(b, "; ", 2);
}

/* The settings part: one Query, or nothing. */
static bool plan_sets(TrackPlan *p, const Params *want, const Track *cl, const Params *svp,
                      Track *sv)
{
    WireBuf *b = &p->buf, tmp;
    size_t mark = b->len;
    bool app_reset = false;
    wire_msg_begin(b, PqMsg_Query);
    size_t start = b->len;
    /* What the server has that the client wants in no form goes back to its default. */
    for (int i = sv->nsets - 1; i >= 0; i--) {
        const char *n = sv->sets[i].name;
        if (track_find_set(cl, n) || params_get(want, n)) continue;
        put_sep(b, start);
        put_reset(b, n);
        p->wait |= security_guc(n);
        if (strcmp(n, "application_name") == 0) app_reset = true;
        set_remove_at(sv, i);
    }
    /* Startup GUCs not overridden by a recorded SET. */
    for (int i = 0; i < want->n; i++) {
        const char *n = want->name[i], *v = want->value[i], *have = params_get(svp, n);
        if (track_find_set(cl, n)) continue;
        if (have && strcmp(have, v) == 0) continue;
        wire_buf_init(&tmp);
        track_put_set(&tmp, n, v);
        wire_put_u8(&tmp, 0);
        const TrackSet *s = track_find_set(sv, n);
        bool same = !have && s && s->sql && !tmp.oom && strcmp(s->sql, (char *)tmp.data) == 0;
        if (!same) {
            p->wait |= security_guc(n);
            put_sep(b, start);
            wire_put_bytes(b, tmp.data, tmp.len - 1);
            if (tmp.oom || !track_set(sv, n, (char *)tmp.data)) b->oom = true;
        }
        wire_buf_free(&tmp);
    }
    /* A client that names no application sees "", as connecting directly; the server may have
     * been opened for one that did (and RESET returns to that). */
    const char *app = params_get(svp, "application_name");
    if (!params_get(want, "application_name") && !track_find_set(cl, "application_name") &&
        (app_reset || (app && app[0]))) {
        put_sep(b, start);
        track_put_set(b, "application_name", "");
    }
    /* The client's recorded settings, in their order. */
    for (int i = 0; i < cl->nsets; i++) {
        const TrackSet *c = &cl->sets[i], *s = track_find_set(sv, c->name);
        if (!c->sql || (s && s->sql && strcmp(s->sql, c->sql) == 0)) continue;
        put_sep(b, start);
        p->wait |= security_guc(c->name);
        wire_put_bytes(b, c->sql, strlen(c->sql));
        if (!track_set(sv, c->name, c->sql)) b->oom = true;
    }
    if (b->len == start) {
        b->len = mark; /* nothing to set: drop the empty Query */
        return !b->oom;
    }
    wire_put_u8(b, 0);
    wire_msg_end(b);
    return !b->oom && plan_step(p, TRACK_STEP_SETS, NULL);
}

static void put_sync(WireBuf *b)
{
    wire_msg_begin(b, PqMsg_Sync);
    wire_msg_end(b);
}

/* The statements part: Closes with one Sync, then each Parse with its own Sync. */
static bool plan_stmts(TrackPlan *p, const Track *cl, Track *sv)
{
    WireBuf *b = &p->buf;
    bool closed = false;
    if (cl->digest == sv->digest && cl->nstmts == sv->nstmts) return true;
    for (int i = sv->nstmts - 1; i >= 0; i--) {
        const TrackStmt *s = &sv->stmts[i], *c = track_find_stmt(cl, s->name);
        if (c && c->hash == s->hash && s->hash != 0) continue;
        wire_msg_begin(b, PqMsg_Close);
        wire_put_u8(b, 'S');
        wire_put_string(b, s->name);
        wire_msg_end(b);
        stmt_remove_at(sv, i);
        closed = true;
    }
    if (closed) {
        put_sync(b);
        if (!plan_step(p, TRACK_STEP_CLOSES, NULL)) return false;
    }
    for (int i = 0; i < cl->nstmts; i++) {
        const TrackStmt *c = &cl->stmts[i];
        if (track_find_stmt(sv, c->name) || !c->msg) continue; /* same body: kept above */
        wire_put_bytes(b, c->msg, c->len);
        put_sync(b);
        if (!track_stmt_add(sv, c->name, c->hash, NULL, 0, 0) ||
            !plan_step(p, TRACK_STEP_PARSE, c->name))
            return false;
    }
    return !b->oom;
}

bool track_plan(TrackPlan *plan, const Params *want, const Track *cl, const Params *sv_params,
                Track *sv)
{
    return plan_sets(plan, want, cl, sv_params, sv) && plan_stmts(plan, cl, sv);
}
