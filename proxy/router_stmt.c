/* router_stmt.c - the query analysis's statements (see router_query.c): the top-level SELECT,
 * INSERT, UPDATE and DELETE, then the decision: which route the pins, follows and links allow,
 * and the keys it reads at Bind time. */
#include "router_query.h"

#include <stdio.h>
#include <string.h>

/* ---- Statements ---- */

static void rq_arm(RQ *q, int block)
{
    int *a = RQ_ADD(q, arm_top, narms, caparms);
    if (a) *a = block;
}

/* The leaves of the top-level set operation are arms of their own; INTERSECT and EXCEPT do
 * not distribute over shards. */
static void rq_top_arms(RQ *q, uint32_t p, int holder)
{
    const JsonDoc *d = q->d;
    uint32_t op = json_member(d, p, "op");
    if (rq_failed(q)) return;
    if (!op || rj_eq(d, op, "SETOP_NONE")) {
        int b = rq_select(q, p, -1, holder, q->narms);
        if (b >= 0) rq_arm(q, b);
        return;
    }
    if (!rj_eq(d, op, "SETOP_UNION"))
        q->top_nondist = "INTERSECT or EXCEPT does not combine shard by shard";
    if (rj_true(d, p, "all")) q->top_all = true;
    if (json_member(d, p, "withClause") && holder >= 0 && p != q->blocks[holder].stmt)
        q->top_nondist = "a WITH inside an arm of its UNION"; /* keep it simple */
    rq_top_arms(q, json_member(d, p, "larg"), holder);
    rq_top_arms(q, json_member(d, p, "rarg"), holder);
}

static void rq_top_select(RQ *q, uint32_t p)
{
    const JsonDoc *d = q->d;
    uint32_t op = json_member(d, p, "op");
    q->top_select = p;
    q->pb->p.stmt_kind = SQL_K_SELECT;
    if (!op || rj_eq(d, op, "SETOP_NONE")) {
        int b = rq_select(q, p, -1, -1, 0);
        if (b >= 0) rq_arm(q, b);
        return;
    }
    int holder = rq_block_new(q, -1, -1, -1, p);
    if (holder < 0) return;
    uint32_t with = json_member(d, p, "withClause");
    if (with) rq_with(q, holder, with);
    rq_top_arms(q, json_member(d, p, "larg"), holder);
    rq_top_arms(q, json_member(d, p, "rarg"), holder);
    if (!rj_eq(d, op, "SETOP_UNION"))
        q->top_nondist = "INTERSECT or EXCEPT does not combine shard by shard";
    if (rj_true(d, p, "all")) q->top_all = true;
    rq_scan_member(q, holder, p, "sortClause");
    rq_scan_member(q, holder, p, "limitCount");
    rq_scan_member(q, holder, p, "limitOffset");
}

static const char *rq_keyname(const RQ *q, int r)
{
    return rq_tables[q->refs[r].table].key;
}

/* A write's target table: returns its ref (-1 on refusal). */
static int rq_target(RQ *q, int block, uint32_t p)
{
    int r0 = q->nrefs;
    uint32_t rv = json_member(q->d, p, "relation");
    int st = rv ? rq_rangevar(q, block, rv) : ST_X;
    if (rq_failed(q) || q->nrefs == r0) return -1;
    q->blocks[block].state = st;
    q->target = r0;
    if (q->refs[r0].kind == RR_CATALOG) {
        rpb_refuse(q->pb, "it writes a system catalog");
        return -1;
    }
    if (q->refs[r0].kind == RR_DERIVED) {
        rpb_refuse(q->pb, "it writes a WITH query");
        return -1;
    }
    return r0;
}

/* SET col = ...: the key column cannot change (the row would have to move between shards). */
static void rq_set_list(RQ *q, int t, uint32_t tl)
{
    const JsonDoc *d = q->d;
    for (int i = 0; i < rj_count(d, tl) && !rq_failed(q); i++) {
        uint32_t rt = rj_typed(d, rj_elem(d, tl, i), "ResTarget");
        uint32_t name = rt ? json_member(d, rt, "name") : 0;
        if (!name) continue;
        if (q->refs[t].kind == RR_SHARDED && rj_eq(d, name, rq_keyname(q, t)))
            rpb_refuse(q->pb, "it changes %s.%s: a row cannot move between shards",
                       rq_tables[q->refs[t].table].name, rq_keyname(q, t));
        if (q->refs[t].table == 0 && rj_eq(d, name, "deduplication_id")) {
            uint32_t v = rq_value_node(d, json_member(d, rt, "val"));
            if (v && !rj_true(d, v, "isnull")) q->pb->p.flags |= ROUTE_F_DEDUP; /* a new id */
        }
    }
}

static void rq_update_delete(RQ *q, uint32_t p, bool update)
{
    const JsonDoc *d = q->d;
    q->write = true;
    q->pb->p.stmt_kind = update ? SQL_K_UPDATE : SQL_K_DELETE;
    int b = rq_block_new(q, -1, -1, 0, p);
    if (b < 0) return;
    rq_arm(q, b);
    uint32_t with = json_member(d, p, "withClause");
    if (with) rq_with(q, b, with);
    int ref0 = q->nrefs;
    int t = rq_target(q, b, p);
    if (t < 0) return;
    uint32_t from = rj_array(d, p, update ? "fromClause" : "usingClause");
    for (int i = 0; i < rj_count(d, from) && !rq_failed(q); i++)
        q->blocks[b].state = st_inner(q->blocks[b].state, rq_from(q, b, rj_elem(d, from, i)));
    if (update) rq_set_list(q, t, rj_array(d, p, "targetList"));
    rq_scan_member(q, b, p, "targetList");
    uint32_t where = json_member(d, p, "whereClause");
    if (where) {
        rq_scan(q, b, where, d->n[where].end);
        rq_cond(q, b, where, (RSet){.lo = ref0, .hi = q->nrefs, .block = b});
    }
    q->returning = rj_array(d, p, "returningList") != 0;
    rq_scan_member(q, b, p, "returningList");
}

/* INSERT ... VALUES: each row's key cell must be a value. */
static void rq_insert_values(RQ *q, int b, int t, int keypos, uint32_t lists)
{
    const JsonDoc *d = q->d;
    int nrows = rj_count(d, lists), src0 = q->nsrcs;
    for (int r = 0; r < nrows; r++) {
        uint32_t items = rj_array(d, rj_typed(d, rj_elem(d, lists, r), "List"), "items");
        uint32_t v = rq_value_node(d, rj_elem(d, items, keypos));
        if (!v) {
            rpb_refuse(q->pb,
                       "the %s of the row it inserts into %s%s%.0d is not a parameter or "
                       "a literal",
                       rq_keyname(q, t), rq_tables[q->refs[t].table].name,
                       nrows > 1 ? ", row " : "", nrows > 1 ? r + 1 : 0);
            return;
        }
        rq_value_src(q, v);
    }
    rq_pin(q, t, src0, nrows, nrows > 1);
    q->rows_mode = nrows > 1;
    q->row_src0 = src0;
    q->nrows = nrows;
    rq_xwhy(q, b, "its rows come from a VALUES list");
    rq_scan(q, b, lists, d->n[lists].end);
}

/* INSERT ... SELECT: the key comes from what the SELECT yields at keypos. */
static void rq_insert_select(RQ *q, int b, int t, int keypos, uint32_t sel)
{
    const JsonDoc *d = q->d;
    int c = rq_select(q, sel, -1, b, 0);
    if (c < 0 || rq_failed(q)) return;
    const RBlock *cb = &q->blocks[c];
    uint32_t tl = rj_array(d, sel, "targetList");
    RTerm k = {.k = TM_NONE};
    bool star = false;
    for (int i = 0; i <= keypos && i < rj_count(d, tl); i++) {
        uint32_t val = json_member(d, rj_typed(d, rj_elem(d, tl, i), "ResTarget"), "val");
        uint32_t cr = rj_typed(d, val, "ColumnRef"), f = cr ? rj_array(d, cr, "fields") : 0;
        star |= f && rj_typed(d, rj_elem(d, f, rj_count(d, f) - 1), "A_Star");
    }
    if (!cb->setop && !star && keypos < cb->ncols) k = q->cols[cb->col0 + keypos].term;
    if (k.k == TM_SRC || k.k == TM_LIST) {
        rq_pin(q, t, k.src0, k.nsrc, k.k == TM_LIST);
        rq_xwhy(q, b, "it inserts rows made from values, not from rows of sharded tables");
    } else if (k.k == TM_KEY) {
        rq_follow(q, t, k.ref);
        if (!k.opaque && rq_simple(cb) && cb->state == ST_P) {
            rq_link(q, t, k.ref, false);
            q->blocks[b].state = ST_P;
        } else {
            rq_xwhy(q, b, "it inserts rows its SELECT computes across shards");
        }
    } else {
        rpb_refuse(q->pb,
                   "the %s it inserts into %s is not a parameter, a literal or the workflow ID of "
                   "the rows it reads",
                   rq_keyname(q, t), rq_tables[q->refs[t].table].name);
    }
}

static void rq_insert(RQ *q, uint32_t p)
{
    const JsonDoc *d = q->d;
    q->write = true;
    q->pb->p.stmt_kind = SQL_K_INSERT;
    int b = rq_block_new(q, -1, -1, 0, p);
    if (b < 0) return;
    rq_arm(q, b);
    uint32_t with = json_member(d, p, "withClause");
    if (with) rq_with(q, b, with);
    int t = rq_target(q, b, p);
    if (t < 0) return;
    bool sharded = q->refs[t].kind == RR_SHARDED;
    if (sharded && strcmp(rq_tables[q->refs[t].table].name, "notifications") == 0)
        q->notify = true; /* dbos_notifications_trigger runs pg_notify in the transaction */
    const char *tname = rq_tables[q->refs[t].table].name;
    uint32_t cols = rj_array(d, p, "cols"),
             sel = rj_typed(d, json_member(d, p, "selectStmt"), "SelectStmt");
    int keypos = -1;
    for (int i = 0; i < rj_count(d, cols); i++) {
        uint32_t rt = rj_typed(d, rj_elem(d, cols, i), "ResTarget");
        uint32_t name = rt ? json_member(d, rt, "name") : 0;
        if (sharded && rj_eq(d, name, rq_keyname(q, t))) {
            keypos = i;
            if (rj_array(d, rt, "indirection")) keypos = -2;
        }
        if (q->refs[t].table == 0 && rj_eq(d, name, "deduplication_id"))
            q->pb->p.flags |= ROUTE_F_DEDUP;
    }
    q->blocks[b].state = ST_X;
    if (sharded && (!cols || keypos < 0 || !sel)) {
        rpb_refuse(q->pb, "it inserts into %s without naming its %s column%s", tname,
                   rq_keyname(q, t), !cols ? " (no column list)" : "");
        return;
    }
    uint32_t lists = sel ? rj_array(d, sel, "valuesLists") : 0;
    if (sharded && lists)
        rq_insert_values(q, b, t, keypos, lists);
    else if (sharded)
        rq_insert_select(q, b, t, keypos, sel);
    else if (sel)
        rq_select(q, sel, -1, b, 0);
    uint32_t oc = json_member(d, p, "onConflictClause");
    if (oc) {
        rq_set_list(q, t, rj_array(d, oc, "targetList"));
        rq_scan(q, b, oc, d->n[oc].end);
    }
    q->returning = rj_array(d, p, "returningList") != 0;
    rq_scan_member(q, b, p, "returningList");
}

/* ---- The decision ---- */

static int uf_find(RQ *q, int r)
{
    while (q->refs[r].uf != r) {
        q->refs[r].uf = q->refs[q->refs[r].uf].uf;
        r = q->refs[r].uf;
    }
    return r;
}

static bool rq_is_sharded(const RQ *q, int r)
{
    return q->refs[r].kind == RR_SHARDED || q->refs[r].kind == RR_PSEUDO;
}

/* Each sharded ref's routing pin: a single value where one reaches it (directly or along
 * follows), else a list. */
static bool rq_choose_pins(RQ *q)
{
    for (int pass = 0; pass < 2; pass++) {
        bool list = pass == 1;
        for (int i = 0; i < q->npins; i++)
            if (q->pins[i].list == list && q->refs[q->pins[i].ref].chosen < 0)
                q->refs[q->pins[i].ref].chosen = i;
        for (bool changed = true; changed;) {
            changed = false;
            for (int i = 0; i < q->nfollows; i++) {
                RRef *x = &q->refs[q->follows[i].a];
                const RRef *y = &q->refs[q->follows[i].b];
                if (x->chosen < 0 && y->chosen >= 0 && q->pins[y->chosen].list == list) {
                    x->chosen = y->chosen;
                    changed = true;
                }
            }
        }
    }
    for (int r = 0; r < q->nrefs; r++)
        if (rq_is_sharded(q, r) && q->refs[r].chosen < 0) return false;
    return true;
}

/* Whether every arm can run shard by shard: its rows from sharded tables, all its sharded refs
 * co-located. Sets *why when not. */
static bool rq_distributive(RQ *q, bool *per_shard, const char **why, int *ra, int *rb)
{
    *per_shard = false;
    for (int i = 0; i < q->nlinks; i++) {
        if (q->links[i].per_shard && !q->write) continue;
        int a = uf_find(q, q->links[i].a), b = uf_find(q, q->links[i].b);
        if (a != b) {
            q->refs[a].uf = b;
            *per_shard |= q->links[i].per_shard;
        }
    }
    if (q->top_nondist) {
        *why = q->top_nondist;
        return false;
    }
    for (int i = 0; i < q->nctes; i++) {
        if (q->ctes[i].uses > 1 && q->ctes[i].block >= 0 && q->blocks[q->ctes[i].block].sharded) {
            *why = "a WITH query over sharded tables is used more than once";
            return false;
        }
    }
    for (int r = 0; r < q->nrefs; r++) {
        if (rq_is_sharded(q, r) && q->refs[r].arm < 0) {
            *why = "a WITH query over sharded tables is shared by the arms of its UNION";
            return false;
        }
    }
    for (int a = 0; a < q->narms; a++) {
        const RBlock *tb = &q->blocks[q->arm_top[a]];
        if (tb->state != ST_P) {
            *why = tb->state == ST_X && q->x_why ? q->x_why
                   : q->narms > 1                ? "an arm of its UNION reads no sharded table"
                                  : "its rows do not come from a sharded table (a table-less "
                                    "SELECT or copied tables around a subquery)";
            return false;
        }
        if (q->narms > 1 && !rq_simple(tb)) { /* the merge sees the union, not the arms */
            *why = "an arm of its UNION aggregates, limits or numbers rows on each shard";
            return false;
        }
        if (q->narms > 1 && tb->distinct && q->top_all) {
            *why = "an arm of its UNION ALL is DISTINCT on each shard only";
            return false;
        }
        int root = -1, first = -1;
        for (int r = 0; r < q->nrefs; r++) {
            if (!rq_is_sharded(q, r) || q->refs[r].arm != a) continue;
            int u = uf_find(q, r);
            if (root < 0) {
                root = u;
                first = r;
            } else if (u != root) {
                *ra = first;
                *rb = r;
                *why = NULL;
                return false;
            }
        }
    }
    return true;
}

static void rq_emit_keys(RQ *q)
{
    const JsonDoc *d = q->d;
    bool *done = calloc((size_t)q->npins + 1, 1);
    if (!done) {
        q->pb->oom = true;
        return;
    }
    for (int r = 0; r < q->nrefs && !q->pb->oom; r++) {
        if (!rq_is_sharded(q, r) || done[q->refs[r].chosen]) continue;
        const RPin *pin = &q->pins[q->refs[r].chosen];
        done[q->refs[r].chosen] = true;
        for (int s = pin->src0; s < pin->src0 + pin->nsrc; s++) {
            const RSrcQ *src = &q->srcs[s];
            RouteKey k = {.src = src->kind,
                          .param = src->param,
                          .null_refuses = src->null_refuses,
                          .row = q->rows_mode ? s - q->row_src0 : -1};
            char *v = NULL;
            const char *val = "";
            if (src->kind == ROUTE_SRC_CONST)
                val = src->lit >= 0 ? q->lits[src->lit]
                      : src->node   ? (v = rj_dup(d, src->node))
                                    : "";
            if (!val) {
                q->pb->oom = true;
                break;
            }
            bool dup = false; /* the same value twice routes the same */
            for (int i = 0; i < q->pb->nkeys && !q->rows_mode && !dup; i++) {
                const RouteKey *o = &q->pb->keys[i];
                dup = o->src == k.src && o->param == k.param && o->null_refuses == k.null_refuses &&
                      (k.src != ROUTE_SRC_CONST || strcmp(o->value, val) == 0);
            }
            if (!dup) rpb_key(q->pb, &k, val, strlen(val));
            free(v);
        }
    }
    free(done);
}

static void rq_refuse_unrouted(RQ *q, const char *why, int ra, int rb)
{
    int un = -1;
    for (int r = 0; r < q->nrefs && un < 0; r++)
        if (rq_is_sharded(q, r) && q->refs[r].chosen < 0) un = r;
    if (why)
        rpb_refuse(q->pb,
                   "it reads %s rows that may be on any shard without a workflow ID to route by, "
                   "and it cannot run shard by shard: %s",
                   rq_tname(q, un), why);
    else
        rpb_refuse(q->pb,
                   "it combines %s and %s rows that are not matched on their workflow ID, so "
                   "they may be on different shards",
                   rq_tname(q, ra), rq_tname(q, rb));
}

static void rq_decide(RQ *q)
{
    RPlanB *pb = q->pb;
    int nsh = 0, reftarget = -1;
    for (int r = 0; r < q->nrefs; r++)
        nsh += rq_is_sharded(q, r);
    if (q->target >= 0 && q->refs[q->target].kind == RR_REFTABLE) reftarget = q->target;
    if (q->write) pb->p.flags |= ROUTE_F_WRITE;
    if (q->notify) pb->p.flags |= ROUTE_F_NO_PREPARE;
    if (q->returning) pb->p.flags |= ROUTE_F_RETURNING;
    if (q->locking) pb->p.flags |= ROUTE_F_LOCKING;
    if (nsh == 0 && reftarget >= 0 && q->notify) {
        rpb_refuse(pb, "it calls pg_notify() in a write to a copied table: every shard would "
                       "notify");
        return;
    }
    if (nsh == 0) {
        pb->p.kind = reftarget >= 0 ? ROUTE_REF_WRITE
                     : q->setcfg    ? ROUTE_SESSION_ALL
                     : q->notify    ? ROUTE_NOTIFY_ONE
                                    : ROUTE_REF_READ;
        if (q->setcfg_local) pb->p.flags |= ROUTE_F_TXN_SCOPED;
        return;
    }
    if (reftarget >= 0) {
        rpb_refuse(pb, "it writes the reference table %s from rows of sharded tables",
                   rq_tables[q->refs[reftarget].table].name);
        return;
    }
    if (q->setcfg || q->session_fn) {
        rpb_refuse(pb, "it mixes set_config(), advisory locks or sequences with sharded tables");
        return;
    }
    bool pinned = rq_choose_pins(q), per_shard;
    const char *why = NULL;
    int ra = -1, rb = -1;
    bool dist = rq_distributive(q, &per_shard, &why, &ra, &rb);
    if (dist) {
        pb->p.kind = pinned ? ROUTE_KEY : q->write ? ROUTE_ALL_WRITE : ROUTE_FANOUT_READ;
        pb->p.all_ok = true;
        if (per_shard) pb->p.flags |= ROUTE_F_LIMIT_PER_SHARD;
        if (q->top_select)
            rm_select(q->st, q->top_select, pb);
        else
            rm_write(pb, q->returning);
        if (pb->p.kind == ROUTE_FANOUT_READ && !pb->p.merge.ok) {
            rpb_refuse(pb, "it reads rows of every shard and %s", pb->merge_reason);
            return;
        }
        if (pinned) rq_emit_keys(q);
        return;
    }
    if (!pinned) {
        rq_refuse_unrouted(q, why, ra, rb);
        return;
    }
    pb->p.kind = ROUTE_KEY;
    pb->p.key_one = true;
    pb->p.merge.ok = true;
    if (q->rows_mode && nsh == 1 && rm_rows(q->st, q->nrows, pb)) {
        pb->p.kind = ROUTE_KEY_ROWS;
        pb->p.key_one = false;
        rm_write(pb, q->returning);
    }
    rq_emit_keys(q);
}

static void rq_free(RQ *q)
{
    for (int i = 0; i < q->nlits; i++)
        free(q->lits[i]);
    free(q->lits);
    free(q->refs);
    free(q->blocks);
    free(q->cols);
    free(q->ctes);
    free(q->srcs);
    free(q->pins);
    free(q->follows);
    free(q->links);
    free(q->subs);
    free(q->arm_top);
}

void rq_plan_dml(const RStmt *st, uint32_t stmt, RPlanB *pb)
{
    RQ q = {.st = st, .d = st->d, .pb = pb, .target = -1};
    const JsonDoc *d = st->d;
    uint32_t p = rj_node(d, stmt);
    if (json_key_is(d, p, "SelectStmt"))
        rq_top_select(&q, p);
    else if (json_key_is(d, p, "InsertStmt"))
        rq_insert(&q, p);
    else if (json_key_is(d, p, "UpdateStmt"))
        rq_update_delete(&q, p, true);
    else if (json_key_is(d, p, "DeleteStmt"))
        rq_update_delete(&q, p, false);
    if (!rq_failed(&q)) rq_decide(&q);
    rq_free(&q);
}
