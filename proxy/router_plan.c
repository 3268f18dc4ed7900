/* router_plan.c - planning a text (see router.h): libpg_query's parse, the statements that are
 * not queries (transaction control, session settings, LISTEN/NOTIFY, DDL, what is refused),
 * the plan builder and the one block a RouteInfo lives in. Queries are router_query.c's. */
#include "router_int.h"

#include <pg_query.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON of libpg_query's tree ---- */

uint32_t rj_node(const JsonDoc *d, uint32_t obj)
{
    if (!obj || obj >= d->count || d->n[obj].type != JSON_OBJ) return 0;
    uint32_t c = json_first(d, obj);
    return c && d->n[c].type == JSON_OBJ ? c : 0;
}

uint32_t rj_typed(const JsonDoc *d, uint32_t obj, const char *type)
{
    uint32_t p = rj_node(d, obj);
    return p && json_key_is(d, p, type) ? p : 0;
}

uint32_t rj_string(const JsonDoc *d, uint32_t obj)
{
    uint32_t p = rj_typed(d, obj, "String"), s = p ? json_member(d, p, "sval") : 0;
    return s && d->n[s].type == JSON_STR ? s : 0;
}

uint32_t rj_array(const JsonDoc *d, uint32_t obj, const char *key)
{
    uint32_t m = obj ? json_member(d, obj, key) : 0;
    return m && d->n[m].type == JSON_ARR ? m : 0;
}

int rj_count(const JsonDoc *d, uint32_t arr)
{
    int n = 0;
    if (!arr || d->n[arr].type != JSON_ARR) return 0;
    for (uint32_t c = json_first(d, arr); c; c = json_next(d, arr, c))
        n++;
    return n;
}

uint32_t rj_elem(const JsonDoc *d, uint32_t arr, int i)
{
    if (!arr || i < 0 || d->n[arr].type != JSON_ARR) return 0;
    for (uint32_t c = json_first(d, arr); c; c = json_next(d, arr, c))
        if (i-- == 0) return c;
    return 0;
}

int64_t rj_int(const JsonDoc *d, uint32_t obj, const char *key, int64_t def)
{
    uint32_t m = obj ? json_member(d, obj, key) : 0;
    int64_t v;
    return m && json_int(d, m, &v) ? v : def;
}

bool rj_true(const JsonDoc *d, uint32_t obj, const char *key)
{
    uint32_t m = obj ? json_member(d, obj, key) : 0;
    return m && d->n[m].type == JSON_TRUE;
}

/* Unescaped text of string node s into buf (room for vallen + 1), or into a malloc'd buffer
 * when it does not fit (*heap set). */
static const char *rj_text(const JsonDoc *d, uint32_t s, char *buf, size_t cap, char **heap,
                           size_t *n)
{
    *heap = NULL;
    size_t need = (size_t)d->n[s].vallen + 1;
    char *dst = need <= cap ? buf : (*heap = malloc(need));
    if (!dst) return NULL;
    *n = json_str_copy(d, s, dst);
    return dst;
}

bool rj_eq(const JsonDoc *d, uint32_t s, const char *z)
{
    if (!s || d->n[s].type != JSON_STR) return false;
    const char *raw = d->text + d->n[s].val;
    size_t rn = d->n[s].vallen, zn = strlen(z);
    if (!memchr(raw, '\\', rn)) return rn == zn && memcmp(raw, z, zn) == 0;
    char buf[256], *heap;
    size_t n;
    const char *t = rj_text(d, s, buf, sizeof buf, &heap, &n);
    bool eq = t && n == zn && memcmp(t, z, zn) == 0;
    free(heap);
    return eq;
}

bool rj_same(const JsonDoc *d, uint32_t a, uint32_t b)
{
    if (!a || !b || d->n[a].type != JSON_STR || d->n[b].type != JSON_STR) return false;
    const char *ra = d->text + d->n[a].val, *rb = d->text + d->n[b].val;
    size_t na = d->n[a].vallen, nb = d->n[b].vallen;
    if (!memchr(ra, '\\', na) && !memchr(rb, '\\', nb)) return na == nb && memcmp(ra, rb, na) == 0;
    char *z = rj_dup(d, b);
    bool eq = z && rj_eq(d, a, z);
    free(z);
    return eq;
}

char *rj_dup(const JsonDoc *d, uint32_t s)
{
    if (!s || d->n[s].type != JSON_STR) return NULL;
    char *z = malloc((size_t)d->n[s].vallen + 1);
    if (z) json_str_copy(d, s, z);
    return z;
}

static bool rj_eq_rec(const JsonDoc *d, uint32_t a, uint32_t b, int depth)
{
    const JsonNode *x = &d->n[a], *y = &d->n[b];
    if (depth > 256 || x->type != y->type) return false;
    if (x->type != JSON_OBJ && x->type != JSON_ARR)
        return x->vallen == y->vallen && memcmp(d->text + x->val, d->text + y->val, x->vallen) == 0;
    uint32_t i = json_first(d, a), j = json_first(d, b);
    for (;;) {
        while (i && json_key_is(d, i, "location"))
            i = json_next(d, a, i);
        while (j && json_key_is(d, j, "location"))
            j = json_next(d, b, j);
        if (!i || !j) return !i && !j;
        if (d->n[i].keylen != d->n[j].keylen ||
            memcmp(d->text + d->n[i].key, d->text + d->n[j].key, d->n[i].keylen) != 0 ||
            !rj_eq_rec(d, i, j, depth + 1))
            return false;
        i = json_next(d, a, i);
        j = json_next(d, b, j);
    }
}

bool rj_equal_noloc(const JsonDoc *d, uint32_t a, uint32_t b)
{
    return a && b && rj_eq_rec(d, a, b, 0);
}

/* ---- Building ---- */

static char *rpb_vstrf(RPlanB *pb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static char *rpb_vstrf(RPlanB *pb, const char *fmt, va_list ap)
{
    char tmp[512];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    char *z = strdup(tmp);
    if (!z) pb->oom = true;
    return z;
}

char *rpb_strf(RPlanB *pb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *z = rpb_vstrf(pb, fmt, ap);
    va_end(ap);
    return z;
}

void rpb_refuse(RPlanB *pb, const char *fmt, ...)
{
    if (pb->p.kind == ROUTE_REFUSE && pb->reason) return; /* the first reason wins */
    va_list ap;
    va_start(ap, fmt);
    free(pb->reason);
    pb->reason = rpb_vstrf(pb, fmt, ap);
    va_end(ap);
    pb->p.kind = ROUTE_REFUSE;
}

bool rpb_key(RPlanB *pb, const RouteKey *k, const char *value, size_t len)
{
    if (pb->nkeys == pb->capkeys) {
        int cap = pb->capkeys ? pb->capkeys * 2 : 4;
        RouteKey *keys = realloc(pb->keys, (size_t)cap * sizeof *keys);
        if (!keys) goto oom;
        pb->keys = keys;
        pb->capkeys = cap;
    }
    RouteKey *o = &pb->keys[pb->nkeys];
    *o = *k;
    o->value = NULL;
    o->len = 0;
    if (k->src == ROUTE_SRC_CONST) {
        char *v = malloc(len + 1);
        if (!v) goto oom;
        memcpy(v, value, len);
        v[len] = '\0';
        o->value = v;
        o->len = (uint32_t)len;
    }
    pb->nkeys++;
    return true;
oom:
    pb->oom = true;
    return false;
}

static void rpb_free(RPlanB *pb)
{
    for (int i = 0; i < pb->nkeys; i++)
        free((char *)pb->keys[i].value);
    free(pb->keys);
    free(pb->reason);
    free(pb->rows);
    free(pb->params);
    free(pb->sort);
    free(pb->agg);
    free(pb->merge_reason);
    free(pb->shard_sql);
    memset(pb, 0, sizeof *pb);
}

#define RP_ALIGN(n) (((n) + 7) & ~(size_t)7)

static size_t rp_strsize(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* The block size for the plans. */
static size_t rp_size(const RPlanB *pbs, int n)
{
    size_t sz = RP_ALIGN((size_t)n * sizeof(RoutePlan));
    for (int i = 0; i < n; i++) {
        const RPlanB *pb = &pbs[i];
        sz += RP_ALIGN((size_t)pb->nkeys * sizeof(RouteKey));
        sz += RP_ALIGN((size_t)pb->nrows * sizeof(RouteRow));
        sz += RP_ALIGN((size_t)pb->nparams * sizeof(RouteParamRef));
        sz += RP_ALIGN((size_t)pb->nsort * sizeof(RouteSort));
        sz += RP_ALIGN((size_t)pb->nagg * sizeof(RouteAgg));
        for (int k = 0; k < pb->nkeys; k++)
            sz += rp_strsize(pb->keys[k].value);
        sz += rp_strsize(pb->reason) + rp_strsize(pb->merge_reason) + rp_strsize(pb->shard_sql);
        sz = RP_ALIGN(sz);
    }
    return sz;
}

static void *rp_take(char **at, const void *src, size_t bytes)
{
    if (!bytes) return NULL;
    void *dst = *at;
    memcpy(dst, src, bytes);
    *at += RP_ALIGN(bytes);
    return dst;
}

static const char *rp_str(char **at, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *dst = *at;
    memcpy(dst, s, n);
    *at += n;
    return dst;
}

/* Move the plans into one block owned by out. */
static bool rp_finish(RPlanB *pbs, int n, RouteInfo *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n; i++)
        if (pbs[i].oom) return false;
    if (n <= 0) return true;
    char *blk = malloc(rp_size(pbs, n)), *at = blk;
    if (!blk) return false;
    RoutePlan *plans = (RoutePlan *)(void *)blk;
    at += RP_ALIGN((size_t)n * sizeof(RoutePlan));
    for (int i = 0; i < n; i++) {
        RPlanB *pb = &pbs[i];
        RoutePlan *p = &plans[i];
        *p = pb->p;
        RouteKey *keys = rp_take(&at, pb->keys, (size_t)pb->nkeys * sizeof(RouteKey));
        p->rows = rp_take(&at, pb->rows, (size_t)pb->nrows * sizeof(RouteRow));
        p->params = rp_take(&at, pb->params, (size_t)pb->nparams * sizeof(RouteParamRef));
        p->merge.sort = rp_take(&at, pb->sort, (size_t)pb->nsort * sizeof(RouteSort));
        p->merge.agg = rp_take(&at, pb->agg, (size_t)pb->nagg * sizeof(RouteAgg));
        for (int k = 0; k < pb->nkeys; k++)
            keys[k].value = rp_str(&at, pb->keys[k].value);
        p->keys = keys;
        p->nkeys = pb->nkeys;
        p->nrows = pb->nrows;
        p->nparams = pb->nparams;
        p->merge.nsort = pb->nsort;
        p->merge.nagg = pb->nagg;
        p->reason = rp_str(&at, pb->reason);
        p->merge.reason = rp_str(&at, pb->merge_reason);
        p->merge.shard_sql = rp_str(&at, pb->shard_sql);
        at = blk + RP_ALIGN((size_t)(at - blk));
    }
    *out = (RouteInfo){.nplans = n, .plans = plans, .block_ = blk};
    return true;
}

void route_info_free(RouteInfo *info)
{
    free(info->block_);
    memset(info, 0, sizeof *info);
}

/* ---- Statements that are not queries ---- */

typedef struct RpUtil {
    const char *type; /* libpg_query node name */
    RouteKind kind;
    SqlKind sk;
    unsigned flags;
    const char *refuse; /* ROUTE_REFUSE: the reason */
} RpUtil;

#define RP_CLUSTER                                                                                 \
    "it acts on the whole Postgres server, not on one database: run it on each "                   \
    "shard's server directly"

static const RpUtil rp_utils[] = {
    {"VariableShowStmt", ROUTE_REF_READ, SQL_K_SHOW, 0, NULL},
    {"ConstraintsSetStmt", ROUTE_TXN, SQL_K_SET, ROUTE_F_TXN_SCOPED, NULL},
    {"ListenStmt", ROUTE_LISTEN_ALL, SQL_K_LISTEN, ROUTE_F_NO_PREPARE, NULL},
    {"UnlistenStmt", ROUTE_UNLISTEN_ALL, SQL_K_UNLISTEN, ROUTE_F_NO_PREPARE, NULL},
    {"NotifyStmt", ROUTE_NOTIFY_ONE, SQL_K_NOTIFY, ROUTE_F_NO_PREPARE, NULL},
    {"DeallocateStmt", ROUTE_SESSION_ALL, SQL_K_DEALLOCATE, 0, NULL},
    {"LoadStmt", ROUTE_SESSION_ALL, SQL_K_LOAD, 0, NULL},
    {"PrepareStmt", ROUTE_REFUSE, SQL_K_PREPARE, 0,
     "SQL-level PREPARE / EXECUTE is not routed on a sharded database (the protocol's "
     "prepared statements are)"},
    {"ExecuteStmt", ROUTE_REFUSE, SQL_K_EXECUTE, 0,
     "SQL-level PREPARE / EXECUTE is not routed on a sharded database (the protocol's "
     "prepared statements are)"},
    {"DeclareCursorStmt", ROUTE_REFUSE, SQL_K_DECLARE, 0,
     "cursors are not supported on a sharded database"},
    {"FetchStmt", ROUTE_REFUSE, SQL_K_FETCH, 0, "cursors are not supported on a sharded database"},
    {"CopyStmt", ROUTE_REFUSE, SQL_K_COPY, 0, "COPY is not routed on a sharded database"},
    {"CallStmt", ROUTE_REFUSE, SQL_K_CALL, 0,
     "CALL runs a procedure whose reads and writes pgpin cannot see"},
    {"DoStmt", ROUTE_REFUSE, SQL_K_DO, 0, "DO runs code whose reads and writes pgpin cannot see"},
    {"MergeStmt", ROUTE_REFUSE, SQL_K_MERGE, 0, "MERGE is not routed on a sharded database"},
    {"CreateTableAsStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0,
     "CREATE TABLE AS would copy each shard's rows into a table of its own"},
    {"CreatedbStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"DropdbStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterDatabaseStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterDatabaseSetStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterDatabaseRefreshCollStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"CreateRoleStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterRoleStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterRoleSetStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"DropRoleStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"GrantRoleStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"CreateTableSpaceStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"DropTableSpaceStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterTableSpaceOptionsStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterSystemStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"CreateSubscriptionStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"AlterSubscriptionStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"DropSubscriptionStmt", ROUTE_REFUSE, SQL_K_UTILITY, 0, RP_CLUSTER},
    {"CheckPointStmt", ROUTE_DDL_ALL, SQL_K_UTILITY, 0, NULL},
};

static void rp_transaction(const JsonDoc *d, uint32_t p, RPlanB *pb)
{
    uint32_t kind = json_member(d, p, "kind");
    pb->p.kind = ROUTE_TXN;
    pb->p.stmt_kind = sql_txn_kind(d, kind);
    SqlKind k = pb->p.stmt_kind;
    if (k == SQL_K_PREPARE_TXN || k == SQL_K_COMMIT_PREPARED || k == SQL_K_ROLLBACK_PREPARED)
        rpb_refuse(pb, "two-phase commit commands are pgpin's own on a sharded database (it "
                       "prepares transactions that span shards itself)");
    else if (k == SQL_K_UNKNOWN)
        rpb_refuse(pb, "an unknown transaction command");
}

static void rp_variable_set(const JsonDoc *d, uint32_t p, RPlanB *pb)
{
    uint32_t kind = json_member(d, p, "kind"), name = json_member(d, p, "name");
    pb->p.stmt_kind = SQL_K_SET;
    pb->p.kind = ROUTE_SESSION_ALL;
    if (rj_true(d, p, "is_local") ||
        (kind && rj_eq(d, kind, "VAR_SET_MULTI") && rj_eq(d, name, "TRANSACTION"))) {
        pb->p.kind = ROUTE_TXN;
        pb->p.flags |= ROUTE_F_TXN_SCOPED;
    } else if (kind && rj_eq(d, kind, "VAR_SET_MULTI") && rj_eq(d, name, "TRANSACTION SNAPSHOT")) {
        rpb_refuse(pb, "SET TRANSACTION SNAPSHOT names a snapshot of one server");
    }
}

/* EXPLAIN: without ANALYZE it runs nothing (the first shard's plan answers); with ANALYZE it
 * runs the statement, which must then be on one shard. */
static void rp_explain(const RStmt *st, uint32_t p, RPlanB *pb)
{
    const JsonDoc *d = st->d;
    bool analyze = false;
    uint32_t opts = rj_array(d, p, "options");
    for (int i = 0; i < rj_count(d, opts); i++) {
        uint32_t de = rj_typed(d, rj_elem(d, opts, i), "DefElem");
        if (!de || !rj_eq(d, json_member(d, de, "defname"), "analyze")) continue;
        uint32_t arg = json_member(d, de, "arg"), s = rj_string(d, arg);
        uint32_t iv = rj_typed(d, arg, "Integer");
        analyze = !arg ||
                  (s && !rj_eq(d, s, "false") && !rj_eq(d, s, "off") && !rj_eq(d, s, "0")) ||
                  (iv && json_member(d, iv, "ival"));
    }
    pb->p.stmt_kind = SQL_K_EXPLAIN;
    uint32_t query = json_member(d, p, "query"), qp = rj_node(d, query);
    bool dml = qp && (json_key_is(d, qp, "SelectStmt") || json_key_is(d, qp, "InsertStmt") ||
                      json_key_is(d, qp, "UpdateStmt") || json_key_is(d, qp, "DeleteStmt"));
    if (!analyze) {
        pb->p.kind = ROUTE_REF_READ;
        return;
    }
    if (!dml) {
        rpb_refuse(pb, "EXPLAIN ANALYZE of this statement is not routed");
        return;
    }
    rq_plan_dml(st, query, pb);
    pb->p.stmt_kind = SQL_K_EXPLAIN;
    pb->p.flags &= ~ROUTE_F_RETURNING;
    if (pb->p.kind == ROUTE_REFUSE) return;
    if (pb->p.kind != ROUTE_KEY) {
        rpb_refuse(pb, "EXPLAIN ANALYZE runs the statement on every shard, and their plans do "
                       "not merge");
        return;
    }
    pb->p.key_one = true; /* one shard's EXPLAIN output, no merge */
    pb->p.all_ok = false;
}

/* Any other utility statement (DDL, GRANT, COMMENT, TRUNCATE, LOCK, ...): every shard. */
static void rp_ddl(const JsonDoc *d, uint32_t p, RPlanB *pb)
{
    pb->p.kind = ROUTE_DDL_ALL;
    pb->p.stmt_kind = SQL_K_UTILITY;
    pb->p.flags |= ROUTE_F_WRITE;
    bool concurrent = rj_true(d, p, "concurrent");
    uint32_t params = rj_array(d, p, "params"); /* REINDEX (CONCURRENTLY) */
    for (int i = 0; i < rj_count(d, params); i++) {
        uint32_t de = rj_typed(d, rj_elem(d, params, i), "DefElem");
        if (de && rj_eq(d, json_member(d, de, "defname"), "concurrently")) concurrent = true;
    }
    if (concurrent) pb->p.flags |= ROUTE_F_NO_TXN;
}

static void rp_stmt(const RStmt *st, uint32_t stmt, RPlanB *pb)
{
    const JsonDoc *d = st->d;
    uint32_t p = rj_node(d, stmt);
    pb->p.kind = ROUTE_REF_READ;
    if (!p) {
        rpb_refuse(pb, "libpg_query gave a statement pgpin cannot read");
        return;
    }
    if (json_key_is(d, p, "SelectStmt") || json_key_is(d, p, "InsertStmt") ||
        json_key_is(d, p, "UpdateStmt") || json_key_is(d, p, "DeleteStmt")) {
        rq_plan_dml(st, stmt, pb);
        return;
    }
    if (json_key_is(d, p, "TransactionStmt")) return rp_transaction(d, p, pb);
    if (json_key_is(d, p, "VariableSetStmt")) return rp_variable_set(d, p, pb);
    if (json_key_is(d, p, "ExplainStmt")) return rp_explain(st, p, pb);
    if (json_key_is(d, p, "DiscardStmt")) {
        uint32_t t = json_member(d, p, "target");
        pb->p.kind = ROUTE_SESSION_ALL;
        pb->p.stmt_kind = t && rj_eq(d, t, "DISCARD_ALL") ? SQL_K_DISCARD_ALL : SQL_K_DISCARD;
        return;
    }
    if (json_key_is(d, p, "VacuumStmt")) { /* VACUUM cannot run in a transaction, ANALYZE can */
        pb->p.kind = ROUTE_DDL_ALL;
        pb->p.stmt_kind = SQL_K_UTILITY;
        if (rj_true(d, p, "is_vacuumcmd")) pb->p.flags |= ROUTE_F_NO_TXN;
        return;
    }
    if (json_key_is(d, p, "ClosePortalStmt")) {
        pb->p.stmt_kind = SQL_K_CLOSE;
        pb->p.kind = ROUTE_SESSION_ALL;
        if (json_member(d, p, "portalname"))
            rpb_refuse(pb, "cursors are not supported on a sharded database");
        return;
    }
    for (size_t i = 0; i < sizeof rp_utils / sizeof *rp_utils; i++) {
        const RpUtil *u = &rp_utils[i];
        if (!json_key_is(d, p, u->type)) continue;
        pb->p.kind = u->kind;
        pb->p.stmt_kind = u->sk;
        pb->p.flags |= u->flags;
        if (u->refuse) rpb_refuse(pb, "%s", u->refuse);
        return;
    }
    rp_ddl(d, p, pb);
}

/* ---- Planning a text ---- */

static bool rp_single_refusal(size_t len, const char *reason, RouteInfo *out)
{
    RPlanB pb = {.p = {.stmt_kind = SQL_K_UNKNOWN,
                       .len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len,
                       .merge = {.ok = true}}};
    rpb_refuse(&pb, "%s", reason);
    bool ok = rp_finish(&pb, 1, out);
    rpb_free(&pb);
    return ok;
}

static bool rp_walk(const char *text, size_t len, const char *schema, const char *json,
                    RouteInfo *out)
{
    JsonDoc d;
    JsonResult jr = json_parse(&d, json, strlen(json));
    uint32_t stmts = jr == JSON_OK ? json_member(&d, 0, "stmts") : 0; /* the root is node 0 */
    if (stmts && d.n[stmts].type != JSON_ARR) stmts = 0;
    int n = rj_count(&d, stmts);
    RPlanB *pbs = n > 0 ? calloc((size_t)n, sizeof *pbs) : NULL;
    bool ok = jr != JSON_NOMEM && (n == 0 || pbs);
    for (int i = 0; ok && i < n; i++) {
        uint32_t c = rj_elem(&d, stmts, i);
        int64_t loc = rj_int(&d, c, "stmt_location", 0), slen = rj_int(&d, c, "stmt_len", 0);
        if (loc < 0 || slen < 0 || (size_t)loc > len || (size_t)slen > len - (size_t)loc) break;
        if (slen == 0) slen = (int64_t)len - loc; /* the last statement: the rest of the text */
        RStmt st = {.d = &d,
                    .text = text,
                    .textlen = len,
                    .loc = (uint32_t)loc,
                    .len = (uint32_t)slen,
                    .schema = schema};
        pbs[i].p.loc = st.loc;
        pbs[i].p.len = st.len;
        pbs[i].p.merge.ok = true; /* nothing to merge until a plan says what */
        rp_stmt(&st, json_member(&d, c, "stmt"), &pbs[i]);
        if (pbs[i].p.kind == ROUTE_REFUSE && !pbs[i].reason) ok = false;
    }
    ok = ok && rp_finish(pbs, n, out);
    for (int i = 0; i < n; i++)
        rpb_free(&pbs[i]);
    free(pbs);
    json_free(&d);
    return ok;
}

bool router_plan_uncached(const char *text, size_t len, const char *schema, RouteInfo *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) text = "";
    if (len > SQL_PARSE_MAX_LEN || memchr(text, '\0', len))
        return rp_single_refusal(len, "it is too long to plan or holds a NUL byte", out);
    char *z = malloc(len + 1);
    if (!z) return false;
    memcpy(z, text, len);
    z[len] = '\0';
    PgQueryParseResult r = pg_query_parse(z);
    free(z);
    bool ok;
    if (r.error || !r.parse_tree) {
        char why[300];
        snprintf(why, sizeof why, "pgpin cannot parse it (%s)",
                 r.error && r.error->message ? r.error->message : "no parse tree");
        ok = rp_single_refusal(len, why, out);
    } else {
        ok = rp_walk(text, len, schema, r.parse_tree, out);
    }
    pg_query_free_parse_result(r);
    return ok;
}

/* ---- Names and messages ---- */

void router_refusal(const RoutePlan *p, const char *text, const char *reason, char *buf, size_t len)
{
    char stmt[81];
    size_t n = 0;
    bool blank = false;
    if (!reason) reason = p->reason ? p->reason : "it cannot be routed";
    for (uint32_t i = p->loc; text && i < p->loc + p->len && n < sizeof stmt - 1; i++) {
        char c = text[i];
        bool ws = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (ws) {
            blank = n > 0;
            continue;
        }
        if (blank && n < sizeof stmt - 2) stmt[n++] = ' ';
        blank = false;
        stmt[n++] = c;
    }
    stmt[n] = '\0';
    snprintf(buf, len, "pgpin cannot run this statement on a sharded database: %s: %s%s", reason,
             stmt, n == sizeof stmt - 1 ? "..." : "");
}

const char *route_kind_str(RouteKind kind)
{
    static const char *const names[] = {
        [ROUTE_REFUSE] = "REFUSE",           [ROUTE_KEY] = "KEY",
        [ROUTE_KEY_ROWS] = "KEY_ROWS",       [ROUTE_ALL_WRITE] = "ALL_WRITE",
        [ROUTE_FANOUT_READ] = "FANOUT_READ", [ROUTE_REF_WRITE] = "REF_WRITE",
        [ROUTE_REF_READ] = "REF_READ",       [ROUTE_DDL_ALL] = "DDL_ALL",
        [ROUTE_LISTEN_ALL] = "LISTEN_ALL",   [ROUTE_UNLISTEN_ALL] = "UNLISTEN_ALL",
        [ROUTE_NOTIFY_ONE] = "NOTIFY_ONE",   [ROUTE_TXN] = "TXN",
        [ROUTE_SESSION_ALL] = "SESSION_ALL",
    };
    return (unsigned)kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "?";
}

typedef struct RpBuf {
    char *buf;
    size_t len, used;
} RpBuf;

static void rp_put(RpBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp_put(RpBuf *b, const char *fmt, ...)
{
    if (b->used + 1 >= b->len) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->buf + b->used, b->len - b->used, fmt, ap);
    va_end(ap);
    b->used += w > 0 ? (size_t)w : 0;
    if (b->used >= b->len) b->used = b->len - 1;
}

static void rp_put_val(RpBuf *b, const char *name, RouteVal v)
{
    if (v.kind == ROUTE_VAL_NONE) return;
    if (v.kind == ROUTE_VAL_CONST) rp_put(b, " %s=%lld", name, (long long)v.value);
    if (v.kind == ROUTE_VAL_PARAM) rp_put(b, " %s=$%u", name, (unsigned)v.param);
    if (v.kind == ROUTE_VAL_ALL) rp_put(b, " %s=all", name);
}

static void rp_put_merge(RpBuf *b, const RouteMerge *m)
{
    if (!m->ok) {
        rp_put(b, " merge-no(%s)", m->reason ? m->reason : "?");
        return;
    }
    size_t mark = b->used;
    rp_put(b, " merge(");
    size_t start = b->used;
    if (m->distinct) rp_put(b, " distinct");
    if (m->hidden) rp_put(b, " hidden=%u", (unsigned)m->hidden);
    for (int i = 0; i < m->nsort; i++) {
        const RouteSort *s = &m->sort[i];
        rp_put(b, "%s%u%s%s", i ? "," : " sort=", (unsigned)s->col, s->desc ? "d" : "",
               s->nulls_first == s->desc ? ""
               : s->nulls_first          ? "nf"
                                         : "nl");
    }
    rp_put_val(b, "limit", m->limit);
    rp_put_val(b, "offset", m->offset);
    for (int i = 0; i < m->nagg; i++)
        rp_put(b, "%s%c", i ? "" : " agg=", "GSNX="[m->agg[i]]);
    if (b->used == start) { /* nothing to say: plain concatenation */
        b->used = mark;
        b->buf[mark] = '\0';
        return;
    }
    memmove(b->buf + start, b->buf + start + 1, b->used - start); /* drop the first blank */
    b->used--;
    rp_put(b, ")");
}

void router_describe(const RoutePlan *p, char *buf, size_t len)
{
    static const char *const flags[] = {"write", "locking", "returning",  "limit-per-shard",
                                        "dedup", "no-txn",  "txn-scoped", "no-prepare"};
    RpBuf b = {.buf = buf, .len = len};
    if (!len) return;
    buf[0] = '\0';
    rp_put(&b, "%s", route_kind_str(p->kind));
    if (p->kind == ROUTE_KEY) rp_put(&b, p->key_one ? " one" : " each");
    for (int i = 0; i < p->nkeys; i++) {
        const RouteKey *k = &p->keys[i];
        rp_put(&b, "%s", i ? "," : " keys=");
        if (k->src == ROUTE_SRC_PARAM) rp_put(&b, "$%u", (unsigned)k->param);
        if (k->src == ROUTE_SRC_ARRAY) rp_put(&b, "$%u[]", (unsigned)k->param);
        if (k->src == ROUTE_SRC_NULL) rp_put(&b, "NULL");
        if (k->src == ROUTE_SRC_CONST) rp_put(&b, "'%.*s'", (int)k->len, k->value);
        if (k->null_refuses) rp_put(&b, "!");
    }
    if (p->kind == ROUTE_KEY_ROWS) rp_put(&b, " rows=%d", p->nrows);
    for (size_t i = 0; i < sizeof flags / sizeof *flags && p->kind != ROUTE_REFUSE; i++)
        if (p->flags & (1u << i)) rp_put(&b, " +%s", flags[i]);
    bool merges = p->kind == ROUTE_FANOUT_READ || (p->kind == ROUTE_KEY && !p->key_one);
    if (merges) rp_put_merge(&b, &p->merge);
    if (p->kind == ROUTE_REFUSE) rp_put(&b, ": %s", p->reason ? p->reason : "?");
}
