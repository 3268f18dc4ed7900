/* router_query.c - which shards a SELECT / INSERT / UPDATE / DELETE needs (router.h says what
 * is decided and why that is exact). The statement is walked once over libpg_query's JSON:
 *
 *   blocks  one per query level (the statement, each subquery, CTE, VALUES list), with the
 *           scope its column names resolve in and the "partition state" of its FROM: P when
 *           its rows come from sharded tables (each shard holds a disjoint part), R when from
 *           copies (reference tables, catalogs, VALUES, functions, nothing), X when neither can
 *           be said (an outer join keeping copied rows against sharded ones, a subquery with
 *           LIMIT or aggregates in FROM);
 *   refs    every table, subquery, VALUES list and function in a FROM, and one pseudo reference
 *           per call of dbos.enqueue_workflow / dbos.send_message;
 *   terms   what an expression is to the router: the key column of a sharded ref (reached
 *           directly or through a derived table), a parameter or literal, a list of them;
 *   pins    "ref's key is one of these values", from conjuncts that restrict the ref's rows;
 *   follows "x's keys are among y's" (x = y on keys where x's rows are restricted): a pin of y
 *           pins x;
 *   links   "x and y meet only on equal keys": co-located, the union-find of distributivity.
 * rq_decide then picks the route. */
#include "router_query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The DBOS tables ---- */

static const char *const c_status[] = {"workflow_uuid",
                                       "status",
                                       "name",
                                       "class_name",
                                       "config_name",
                                       "authenticated_user",
                                       "assumed_role",
                                       "authenticated_roles",
                                       "request",
                                       "output",
                                       "error",
                                       "inputs",
                                       "executor_id",
                                       "created_at",
                                       "updated_at",
                                       "application_version",
                                       "application_id",
                                       "recovery_attempts",
                                       "queue_name",
                                       "workflow_timeout_ms",
                                       "workflow_deadline_epoch_ms",
                                       "started_at_epoch_ms",
                                       "deduplication_id",
                                       "priority",
                                       "queue_partition_key",
                                       "forked_from",
                                       "owner_xid",
                                       "parent_workflow_id",
                                       "serialization",
                                       "delay_until_epoch_ms",
                                       "was_forked_from",
                                       "rate_limited",
                                       "completed_at",
                                       "attributes",
                                       "schedule_name",
                                       "debounce_deadline_epoch_ms",
                                       "is_debounced",
                                       "application_name",
                                       "creator_xid",
                                       NULL};
static const char *const c_input[] = {"workflow_uuid", "inputs", "retention_timestamp", NULL};
static const char *const c_output[] = {"workflow_uuid", "output", "error", "retention_timestamp",
                                       NULL};
static const char *const c_opout[] = {
    "workflow_uuid", "function_id",       "function_name",       "output",
    "error",         "child_workflow_id", "started_at_epoch_ms", "completed_at_epoch_ms",
    "serialization", "application_name",  "retention_timestamp", NULL};
static const char *const c_notif[] = {"message_uuid", "destination_uuid",        "topic",
                                      "message",      "created_at_epoch_ms",     "serialization",
                                      "consumed",     "consumed_by_function_id", NULL};
static const char *const c_events[] = {"workflow_uuid", "key", "value", "serialization", NULL};
static const char *const c_history[] = {"workflow_uuid", "function_id",   "key",
                                        "value",         "serialization", NULL};
static const char *const c_streams[] = {"workflow_uuid", "key",           "value", "offset",
                                        "function_id",   "serialization", NULL};
static const char *const c_inputs[] = {"workflow_uuid", "inputs", NULL};
static const char *const c_wqueue[] = {
    "workflow_uuid",       "executor_id",           "queue_name", "created_at_epoch_ms",
    "started_at_epoch_ms", "completed_at_epoch_ms", NULL};
static const char *const c_queues[] = {"queue_id",
                                       "name",
                                       "concurrency",
                                       "worker_concurrency",
                                       "rate_limit_max",
                                       "rate_limit_period_sec",
                                       "priority_enabled",
                                       "partition_queue",
                                       "polling_interval_sec",
                                       "created_at",
                                       "updated_at",
                                       "application_name",
                                       NULL};
static const char *const c_sched[] = {"schedule_id",
                                      "schedule_name",
                                      "workflow_name",
                                      "workflow_class_name",
                                      "schedule",
                                      "status",
                                      "context",
                                      "last_fired_at",
                                      "automatic_backfill",
                                      "cron_timezone",
                                      "queue_name",
                                      "application_name",
                                      NULL};
static const char *const c_versions[] = {"version_id", "version_name",     "version_timestamp",
                                         "created_at", "application_name", NULL};
static const char *const c_kv[] = {"service_name", "workflow_fn_name", "key", "value",
                                   "update_seq",   "update_time",      NULL};
static const char *const c_migr[] = {"version", NULL};
static const char *const c_schedstate[] = {"workflow_fn_name", "last_run_time", NULL};

const RTable rq_tables[] = {
    {"workflow_status", "workflow_uuid", c_status},
    {"workflow_input", "workflow_uuid", c_input},
    {"workflow_output", "workflow_uuid", c_output},
    {"operation_outputs", "workflow_uuid", c_opout},
    {"notifications", "destination_uuid", c_notif},
    {"workflow_events", "workflow_uuid", c_events},
    {"workflow_events_history", "workflow_uuid", c_history},
    {"streams", "workflow_uuid", c_streams},
    {"workflow_inputs", "workflow_uuid", c_inputs}, /* dropped at migration 70 */
    {"workflow_queue", "workflow_uuid", c_wqueue},  /* dropped at migration 70 */
    {"queues", NULL, c_queues},
    {"workflow_schedules", NULL, c_sched},
    {"application_versions", NULL, c_versions},
    {"dbos_migrations", NULL, c_migr},
    {"event_dispatch_kv", NULL, c_kv},       /* legacy */
    {"scheduler_state", NULL, c_schedstate}, /* dropped at migration 70 */
};
const int rq_ntables = (int)(sizeof rq_tables / sizeof *rq_tables);

/* Postgres 15's built-in aggregate functions (by name). */
const char *const rq_aggs[] = {"avg",
                               "bit_and",
                               "bit_or",
                               "bit_xor",
                               "bool_and",
                               "bool_or",
                               "count",
                               "every",
                               "max",
                               "min",
                               "sum",
                               "array_agg",
                               "string_agg",
                               "json_agg",
                               "jsonb_agg",
                               "json_object_agg",
                               "jsonb_object_agg",
                               "xmlagg",
                               "range_agg",
                               "range_intersect_agg",
                               "corr",
                               "covar_pop",
                               "covar_samp",
                               "regr_avgx",
                               "regr_avgy",
                               "regr_count",
                               "regr_intercept",
                               "regr_r2",
                               "regr_slope",
                               "regr_sxx",
                               "regr_sxy",
                               "regr_syy",
                               "stddev",
                               "stddev_pop",
                               "stddev_samp",
                               "variance",
                               "var_pop",
                               "var_samp",
                               "mode",
                               "percentile_cont",
                               "percentile_disc",
                               "rank",
                               "dense_rank",
                               "percent_rank",
                               "cume_dist",
                               "grouping",
                               "any_value",
                               NULL};

const char *const rq_advisory[] = {"pg_advisory_lock",
                                   "pg_advisory_lock_shared",
                                   "pg_try_advisory_lock",
                                   "pg_try_advisory_lock_shared",
                                   "pg_advisory_unlock",
                                   "pg_advisory_unlock_shared",
                                   "pg_advisory_unlock_all",
                                   "pg_advisory_xact_lock",
                                   "pg_advisory_xact_lock_shared",
                                   "pg_try_advisory_xact_lock",
                                   "pg_try_advisory_xact_lock_shared",
                                   NULL};
const char *const rq_sequences[] = {"nextval", "setval", "currval", "lastval", NULL};

/* ---- Small helpers ---- */

bool rq_name_in(const JsonDoc *d, uint32_t s, const char *const *list)
{
    for (; s && *list; list++)
        if (rj_eq(d, s, *list)) return true;
    return false;
}

int rq_table_find(const JsonDoc *d, uint32_t relname)
{
    for (int i = 0; i < rq_ntables; i++)
        if (rj_eq(d, relname, rq_tables[i].name)) return i;
    return -1;
}

/* The table's name for messages. */
const char *rq_tname(const RQ *q, int r)
{
    const RRef *f = &q->refs[r];
    if (f->kind == RR_PSEUDO) return "a DBOS function";
    return f->table >= 0 ? rq_tables[f->table].name : "a subquery";
}

int rq_block_new(RQ *q, int scope, int outer, int arm, uint32_t stmt)
{
    RBlock *b = RQ_ADD(q, blocks, nblocks, capblocks);
    if (!b) return -1;
    *b = (RBlock){.scope = scope, .outer = outer, .arm = arm, .stmt = stmt, .state = ST_R};
    return q->nblocks - 1;
}

int rq_ref_new(RQ *q, RRefKind kind, int block)
{
    RRef *r = RQ_ADD(q, refs, nrefs, caprefs);
    if (!r) return -1;
    int i = q->nrefs - 1;
    *r = (RRef){.kind = kind,
                .block = block,
                .arm = q->blocks[block].arm,
                .table = -1,
                .child = -1,
                .uf = i,
                .chosen = -1};
    if (kind == RR_SHARDED || kind == RR_PSEUDO) {
        for (int b = block; b >= 0; b = q->blocks[b].outer)
            q->blocks[b].sharded = true;
    }
    return i;
}

static int rq_src_new(RQ *q, RouteSrc kind, uint16_t param, uint32_t node, int lit)
{
    RSrcQ *s = RQ_ADD(q, srcs, nsrcs, capsrcs);
    if (!s) return -1;
    *s = (RSrcQ){.kind = kind, .param = param, .node = node, .lit = lit};
    return q->nsrcs - 1;
}

void rq_pin(RQ *q, int ref, int src0, int nsrc, bool list)
{
    RPin *p = RQ_ADD(q, pins, npins, cappins);
    if (p) *p = (RPin){.ref = ref, .src0 = src0, .nsrc = nsrc, .list = list};
}

void rq_follow(RQ *q, int x, int y)
{
    RPair *p = RQ_ADD(q, follows, nfollows, capfollows);
    if (p) *p = (RPair){.a = x, .b = y};
}

void rq_link(RQ *q, int a, int b, bool per_shard)
{
    RPair *p = RQ_ADD(q, links, nlinks, caplinks);
    if (p) *p = (RPair){.a = a, .b = b, .per_shard = per_shard};
}

/* ---- Types and terms ---- */

/* A cast to text or varchar (no typmod): the value, as text. arr: to text[] / varchar[]. */
static bool rq_text_cast(const JsonDoc *d, uint32_t tc, bool arr)
{
    uint32_t tn = json_member(d, tc, "typeName"), names = rj_array(d, tn, "names");
    int n = rj_count(d, names);
    if (!tn || rj_array(d, tn, "typmods") || (rj_array(d, tn, "arrayBounds") != 0) != arr)
        return false;
    if (arr && rj_count(d, rj_array(d, tn, "arrayBounds")) != 1) return false;
    if (n == 2 && !rj_eq(d, rj_string(d, rj_elem(d, names, 0)), "pg_catalog")) return false;
    if (n < 1 || n > 2) return false;
    uint32_t last = rj_string(d, rj_elem(d, names, n - 1));
    return rj_eq(d, last, "text") || rj_eq(d, last, "varchar");
}

/* A key value expression: $n, 'literal', NULL, or those cast to text. Returns its payload
 * (ParamRef or A_Const) or 0. */
uint32_t rq_value_node(const JsonDoc *d, uint32_t obj)
{
    uint32_t p = rj_node(d, obj);
    for (int guard = 0; p && guard < 16 && json_key_is(d, p, "TypeCast"); guard++) {
        if (!rq_text_cast(d, p, false)) return 0;
        p = rj_node(d, json_member(d, p, "arg"));
    }
    if (!p) return 0;
    if (json_key_is(d, p, "ParamRef")) { /* $0 parses; the server rejects it, we do too */
        int64_t n = rj_int(d, p, "number", 0);
        return n >= 1 && n <= 65535 ? p : 0;
    }
    if (json_key_is(d, p, "A_Const") && (json_member(d, p, "sval") || rj_true(d, p, "isnull")))
        return p;
    return 0;
}

/* A source for a value node from rq_value_node. */
int rq_value_src(RQ *q, uint32_t v)
{
    const JsonDoc *d = q->d;
    if (json_key_is(d, v, "ParamRef")) {
        int64_t n = rj_int(d, v, "number", 0);
        if (n < 1 || n > 65535) return -1;
        return rq_src_new(q, ROUTE_SRC_PARAM, (uint16_t)n, 0, -1);
    }
    if (rj_true(d, v, "isnull")) return rq_src_new(q, ROUTE_SRC_NULL, 0, 0, -1);
    uint32_t s = json_member(d, json_member(d, v, "sval"), "sval");
    if (!s) { /* {"sval": {}}: the empty string */
        return rq_src_new(q, ROUTE_SRC_CONST, 0, 0, -1);
    }
    return rq_src_new(q, ROUTE_SRC_CONST, 0, s, -1);
}

RTerm rq_term(RQ *q, int block, uint32_t obj)
{
    const JsonDoc *d = q->d;
    RTerm t = {.k = TM_NONE};
    uint32_t v = rq_value_node(d, obj);
    if (v) {
        int s = rq_value_src(q, v);
        if (s >= 0) t = (RTerm){.k = TM_SRC, .src0 = s, .nsrc = 1};
        return t;
    }
    uint32_t p = rj_node(d, obj);
    for (int guard = 0; p && guard < 16 && json_key_is(d, p, "TypeCast"); guard++) {
        if (!rq_text_cast(d, p, false)) return t;
        p = rj_node(d, json_member(d, p, "arg"));
    }
    if (p && json_key_is(d, p, "ColumnRef")) return rq_colref(q, block, p);
    return t;
}

static void rq_lit_cb(void *arg, const char *el, size_t n)
{
    RQ *q = arg;
    char *copy = malloc(n + 1);
    char **slot = copy ? RQ_ADD(q, lits, nlits, caplits) : NULL;
    if (!slot) {
        free(copy);
        q->pb->oom = true;
        return;
    }
    memcpy(copy, el, n);
    copy[n] = '\0';
    *slot = copy;
    rq_src_new(q, ROUTE_SRC_CONST, 0, 0, q->nlits - 1);
}

/* The elements of an array literal string node as CONST sources (NULLs dropped). */
static RTerm rq_array_literal(RQ *q, uint32_t s)
{
    RTerm t = {.k = TM_NONE};
    char *text = rj_dup(q->d, s);
    char *scratch = text ? malloc(strlen(text) + 1) : NULL;
    int src0 = q->nsrcs;
    if (text && scratch && rb_array_text(text, strlen(text), scratch, rq_lit_cb, q))
        t = (RTerm){.k = TM_LIST, .src0 = src0, .nsrc = q->nsrcs - src0};
    else if (!text || !scratch)
        q->pb->oom = true;
    free(text);
    free(scratch);
    return t;
}

/* A list of value expressions (IN (...), ARRAY[...]) as a list term, or TM_NONE unless every
 * element is a value. */
static RTerm rq_value_list(RQ *q, uint32_t arr)
{
    const JsonDoc *d = q->d;
    RTerm t = {.k = TM_NONE};
    int n = rj_count(d, arr);
    for (int i = 0; i < n; i++)
        if (!rq_value_node(d, rj_elem(d, arr, i))) return t;
    int src0 = q->nsrcs;
    for (int i = 0; i < n; i++)
        if (rq_value_src(q, rq_value_node(d, rj_elem(d, arr, i))) < 0) return t;
    return (RTerm){.k = TM_LIST, .src0 = src0, .nsrc = n};
}

/* The right side of `key = ANY(x)`: an array parameter, ARRAY[...], or an array literal. */
RTerm rq_array_term(RQ *q, uint32_t obj)
{
    const JsonDoc *d = q->d;
    RTerm t = {.k = TM_NONE};
    uint32_t p = rj_node(d, obj);
    if (p && json_key_is(d, p, "TypeCast")) {
        if (!rq_text_cast(d, p, true)) return t;
        p = rj_node(d, json_member(d, p, "arg"));
    }
    if (!p) return t;
    if (json_key_is(d, p, "ParamRef")) {
        int64_t n = rj_int(d, p, "number", 0);
        int s = n >= 1 && n <= 65535 ? rq_src_new(q, ROUTE_SRC_ARRAY, (uint16_t)n, 0, -1) : -1;
        if (s >= 0) t = (RTerm){.k = TM_LIST, .src0 = s, .nsrc = 1};
        return t;
    }
    if (json_key_is(d, p, "A_ArrayExpr")) return rq_value_list(q, rj_array(d, p, "elements"));
    uint32_t s;
    if (json_key_is(d, p, "A_Const") && (s = json_member(d, json_member(d, p, "sval"), "sval")))
        return rq_array_literal(q, s);
    return t;
}

/* ---- Column names ---- */

static bool rq_col_name_is(const RQ *q, const RCol *c, uint32_t name)
{
    if (c->name) return rj_same(q->d, c->name, name);
    return c->lit && rj_eq(q->d, name, c->lit);
}

/* A derived column's term seen from outside the derived ref r. */
static RTerm rq_through(const RQ *q, int r, RTerm t)
{
    if (t.k != TM_KEY) return t;
    const RRef *f = &q->refs[r];
    bool simple = f->kind != RR_DERIVED || (f->child >= 0 && rq_simple(&q->blocks[f->child]));
    t.opaque = t.opaque || !simple;
    t.via = r;
    return t;
}

/* Whether ref r has a column named `name`, and its term. */
RHas rq_has(const RQ *q, int r, uint32_t name, RTerm *term)
{
    const JsonDoc *d = q->d;
    const RRef *f = &q->refs[r];
    *term = (RTerm){.k = TM_NONE};
    switch (f->kind) {
    case RR_SHARDED:
    case RR_REFTABLE:
        for (const char *const *c = rq_tables[f->table].cols; *c; c++) {
            if (!rj_eq(d, name, *c)) continue;
            const char *key = rq_tables[f->table].key;
            if (key && strcmp(key, *c) == 0) *term = (RTerm){.k = TM_KEY, .ref = r, .via = r};
            return HAS_YES;
        }
        /* The key names are known exactly; any other may be a column newer than this list. */
        return rj_eq(d, name, "workflow_uuid") || rj_eq(d, name, "destination_uuid") ? HAS_NO
                                                                                     : HAS_MAYBE;
    case RR_DERIVED:
    case RR_VALUES:
    case RR_FUNC: {
        int found = 0;
        for (int i = 0; i < f->ncols; i++) {
            const RCol *c = &q->cols[f->col0 + i];
            if (!rq_col_name_is(q, c, name)) continue;
            found++;
            *term = rq_through(q, r, c->term);
        }
        if (found > 1) *term = (RTerm){.k = TM_AMBIG};
        return found ? HAS_YES : f->cols_open ? HAS_MAYBE : HAS_NO;
    }
    case RR_CATALOG: return HAS_MAYBE;
    case RR_PSEUDO: return HAS_NO;
    }
    return HAS_MAYBE;
}

/* Does ref r answer to qualifier qual (schema: its schema qualifier, 0 when none)? */
bool rq_qual_matches(const RQ *q, const RRef *f, uint32_t qual, uint32_t schema)
{
    if (f->kind == RR_PSEUDO) return false;
    if (f->alias) return !schema && rj_same(q->d, f->alias, qual);
    if (!f->relname || !rj_same(q->d, f->relname, qual)) return false;
    return !schema || (f->schema && rj_same(q->d, f->schema, schema));
}

RTerm rq_colref(RQ *q, int block, uint32_t cr)
{
    const JsonDoc *d = q->d;
    RTerm none = {.k = TM_NONE}, ambig = {.k = TM_AMBIG};
    uint32_t fields = rj_array(d, cr, "fields");
    int n = rj_count(d, fields);
    uint32_t name = n ? rj_string(d, rj_elem(d, fields, n - 1)) : 0;
    if (!name) return none; /* A_Star */
    uint32_t qual = n >= 2 ? rj_string(d, rj_elem(d, fields, n - 2)) : 0;
    uint32_t schema = n >= 3 ? rj_string(d, rj_elem(d, fields, n - 3)) : 0;
    if (n >= 2 && !qual) return none;
    for (int b = block; b >= 0; b = q->blocks[b].scope) {
        int yes = 0, maybe = 0, match = -1;
        RTerm t = none;
        for (int r = 0; r < q->nrefs; r++) {
            if (q->refs[r].block != b || q->refs[r].kind == RR_PSEUDO) continue;
            if (qual) {
                if (!rq_qual_matches(q, &q->refs[r], qual, schema)) continue;
                yes++;
                match = r;
                continue;
            }
            RTerm rt;
            RHas h = rq_has(q, r, name, &rt);
            yes += h == HAS_YES;
            maybe += h == HAS_MAYBE;
            if (h == HAS_YES) t = rt;
        }
        if (qual) {
            if (yes > 1) return ambig;
            if (yes == 1) {
                RHas h = rq_has(q, match, name, &t);
                return h == HAS_YES ? t : none;
            }
            continue;
        }
        if (yes + maybe == 0) continue;
        return yes == 1 && maybe == 0 ? t : ambig;
    }
    return none;
}

/* ---- Conjuncts ---- */

void rq_relate(RQ *q, RTerm a, RTerm b, RSet s)
{
    if (a.k != TM_KEY) {
        RTerm t = a;
        a = b;
        b = t;
    }
    if (a.k != TM_KEY) return;
    bool ra = rset_has(q, s, a.via) && !a.opaque;
    if (b.k == TM_KEY) {
        if (a.ref == b.ref) return;
        bool rb = rset_has(q, s, b.via) && !b.opaque;
        if (!a.opaque && !b.opaque) rq_link(q, a.ref, b.ref, false);
        if (ra) rq_follow(q, a.ref, b.ref);
        if (rb) rq_follow(q, b.ref, a.ref);
    } else if ((b.k == TM_SRC || b.k == TM_LIST) && ra) {
        rq_pin(q, a.ref, b.src0, b.nsrc, b.k == TM_LIST);
    }
}

static bool rq_op_is_eq(const JsonDoc *d, uint32_t aexpr)
{
    uint32_t name = rj_array(d, aexpr, "name");
    int n = rj_count(d, name);
    if (n == 2 && !rj_eq(d, rj_string(d, rj_elem(d, name, 0)), "pg_catalog")) return false;
    return (n == 1 || n == 2) && rj_eq(d, rj_string(d, rj_elem(d, name, n - 1)), "=");
}

static int rq_sub_block(const RQ *q, uint32_t sublink)
{
    for (int i = 0; i < q->nsubs; i++)
        if (q->subs[i].node == sublink) return q->subs[i].block;
    return -1;
}

/* key IN (SELECT ...) / key = ANY (SELECT ...): a semi-join with the subquery's column. */
static void rq_in_sublink(RQ *q, int block, uint32_t sl, RSet s)
{
    const JsonDoc *d = q->d;
    uint32_t oper = rj_array(d, sl, "operName");
    if (oper && (rj_count(d, oper) != 1 || !rj_eq(d, rj_string(d, rj_elem(d, oper, 0)), "=")))
        return;
    int c = rq_sub_block(q, sl);
    if (c < 0 || q->blocks[c].ncols < 1 || q->blocks[c].setop) return;
    RTerm x = rq_term(q, block, json_member(d, sl, "testexpr"));
    if (x.k != TM_KEY || x.opaque) return;
    RTerm y = q->cols[q->blocks[c].col0].term;
    const RBlock *cb = &q->blocks[c];
    bool rx = rset_has(q, s, x.via);
    if (y.k == TM_KEY && x.ref != y.ref) {
        if (rq_simple(cb) && !y.opaque)
            rq_link(q, x.ref, y.ref, false);
        else if (rq_limit_only(cb) && !y.opaque)
            rq_link(q, x.ref, y.ref, true);
        if (rx) rq_follow(q, x.ref, y.ref);
        if (rq_simple(cb) && !y.opaque) rq_follow(q, y.ref, x.ref);
    } else if ((y.k == TM_SRC || y.k == TM_LIST) && rx) {
        rq_pin(q, x.ref, y.src0, y.nsrc, y.k == TM_LIST || y.nsrc != 1);
    }
}

/* A condition whose top-level AND conjuncts restrict the refs in s. */
void rq_cond(RQ *q, int block, uint32_t obj, RSet s)
{
    const JsonDoc *d = q->d;
    uint32_t p = rj_node(d, obj);
    if (!p || rq_failed(q)) return;
    if (json_key_is(d, p, "BoolExpr")) {
        uint32_t op = json_member(d, p, "boolop"), args = rj_array(d, p, "args");
        if (!op || !rj_eq(d, op, "AND_EXPR")) return;
        for (int i = 0; i < rj_count(d, args); i++)
            rq_cond(q, block, rj_elem(d, args, i), s);
        return;
    }
    if (json_key_is(d, p, "SubLink")) {
        uint32_t k = json_member(d, p, "subLinkType");
        if (k && rj_eq(d, k, "ANY_SUBLINK")) rq_in_sublink(q, block, p, s);
        return;
    }
    if (!json_key_is(d, p, "A_Expr") || !rq_op_is_eq(d, p)) return;
    uint32_t kind = json_member(d, p, "kind");
    uint32_t l = json_member(d, p, "lexpr"), r = json_member(d, p, "rexpr");
    if (rj_eq(d, kind, "AEXPR_OP")) {
        rq_relate(q, rq_term(q, block, l), rq_term(q, block, r), s);
    } else if (rj_eq(d, kind, "AEXPR_OP_ANY")) {
        RTerm k = rq_term(q, block, l);
        if (k.k == TM_KEY) rq_relate(q, k, rq_array_term(q, r), s);
    } else if (rj_eq(d, kind, "AEXPR_IN")) {
        RTerm k = rq_term(q, block, l);
        uint32_t items = rj_array(d, rj_typed(d, r, "List"), "items");
        if (k.k == TM_KEY && items) rq_relate(q, k, rq_value_list(q, items), s);
    }
}
