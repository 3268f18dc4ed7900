/* router_from.c - the query analysis's walk (see router_query.c): subqueries and function calls
 * in expressions, FROM items (tables, joins, subqueries, functions) and query levels (SELECT,
 * VALUES, set operations, WITH). */
#include "router_query.h"

#include <stdio.h>
#include <string.h>

/* ---- Expressions: subqueries and function calls anywhere ---- */

/* dbos.enqueue_workflow(... workflow_id ...) / dbos.send_message(destination_id, ...): a write
 * of a sharded row keyed by that argument. */
static void rq_dbos_call(RQ *q, int block, uint32_t fc, const char *argname, int pos, bool gen)
{
    const JsonDoc *d = q->d;
    uint32_t args = rj_array(d, fc, "args"), arg = 0, dedup = 0;
    for (int i = 0; i < rj_count(d, args); i++) {
        uint32_t a = rj_elem(d, args, i), na = rj_typed(d, a, "NamedArgExpr");
        uint32_t nm = na ? json_member(d, na, "name") : 0;
        if (na ? rj_eq(d, nm, argname) : i == pos) arg = na ? json_member(d, na, "arg") : a;
        if (na ? rj_eq(d, nm, "deduplication_id") : i == 10)
            dedup = na ? json_member(d, na, "arg") : a;
    }
    q->write = true;
    if (!gen) q->notify = true; /* send_message inserts a notification: its trigger notifies */
    if (gen && dedup) {
        uint32_t v = rq_value_node(d, dedup);
        if (!v || !rj_true(d, v, "isnull")) q->pb->p.flags |= ROUTE_F_DEDUP;
    }
    int r = rq_ref_new(q, RR_PSEUDO, block);
    if (r < 0) return;
    RTerm t = arg ? rq_term(q, block, arg) : (RTerm){.k = TM_NONE};
    if (t.k == TM_SRC) {
        if (gen && q->srcs[t.src0].kind == ROUTE_SRC_NULL) t.k = TM_NONE;
        q->srcs[t.src0].null_refuses = gen;
        if (t.k == TM_SRC) rq_pin(q, r, t.src0, 1, false);
    } else if (t.k == TM_KEY) {
        if (!t.opaque) rq_link(q, r, t.ref, false);
        rq_follow(q, r, t.ref);
    }
    if (t.k == TM_NONE && gen)
        rpb_refuse(q->pb,
                   "it calls dbos.enqueue_workflow() without a workflow_id parameter or literal: "
                   "the server would make one up on whichever shard runs it");
}

static void rq_funccall(RQ *q, int block, uint32_t fc)
{
    const JsonDoc *d = q->d;
    uint32_t names = rj_array(d, fc, "funcname");
    int n = rj_count(d, names);
    uint32_t name = rj_string(d, rj_elem(d, names, n - 1));
    uint32_t schema = n >= 2 ? rj_string(d, rj_elem(d, names, n - 2)) : 0;
    RBlock *b = &q->blocks[block];
    if (!name) return;
    if (json_member(d, fc, "over")) {
        b->window = true;
    } else if (rj_true(d, fc, "agg_star") || rj_true(d, fc, "agg_distinct") ||
               json_member(d, fc, "agg_order") || rj_true(d, fc, "agg_within_group") ||
               (rq_name_in(d, name, rq_aggs) && (!schema || rj_eq(d, schema, "pg_catalog")))) {
        b->agg = true;
    }
    bool dbos = schema && rj_eq(d, schema, q->st->schema);
    if ((dbos || !schema) && rj_eq(d, name, "enqueue_workflow")) {
        rq_dbos_call(q, block, fc, "workflow_id", 6, true);
    } else if ((dbos || !schema) && rj_eq(d, name, "send_message")) {
        rq_dbos_call(q, block, fc, "destination_id", 0, false);
    } else if (dbos) {
        char *fn = rj_dup(d, name);
        rpb_refuse(q->pb, "it calls the DBOS function %s.%s(), whose rows pgpin cannot route",
                   q->st->schema, fn ? fn : "?");
        free(fn);
    } else if (schema && !rj_eq(d, schema, "pg_catalog")) {
        return; /* some other schema's function: opaque, as documented */
    } else if (rj_eq(d, name, "pg_notify")) {
        q->notify = true;
    } else if (rj_eq(d, name, "set_config")) {
        uint32_t c3 = rj_typed(d, rj_elem(d, rj_array(d, fc, "args"), 2), "A_Const");
        uint32_t sv = json_member(d, json_member(d, c3, "sval"), "sval");
        q->setcfg = true;
        if (rj_true(d, json_member(d, c3, "boolval"), "boolval") ||
            (sv && (rj_eq(d, sv, "true") || rj_eq(d, sv, "t") || rj_eq(d, sv, "on"))))
            q->setcfg_local = true;
    } else if (rq_name_in(d, name, rq_advisory) || rq_name_in(d, name, rq_sequences)) {
        q->session_fn = true;
    }
}

/* Search [from, to) for subqueries (each analysed as a block of its own, scoped in `block`)
 * and function calls; subqueries' insides are theirs, not this block's. */
void rq_scan(RQ *q, int block, uint32_t from, uint32_t to)
{
    const JsonDoc *d = q->d;
    for (uint32_t k = from; k < to && !rq_failed(q);) {
        if (json_key_is(d, k, "SubLink") && d->n[k].type == JSON_OBJ) {
            uint32_t sel = rj_typed(d, json_member(d, k, "subselect"), "SelectStmt");
            int c = sel ? rq_select(q, sel, block, block, q->blocks[block].arm) : -1;
            RSub *s = RQ_ADD(q, subs, nsubs, capsubs);
            if (s) *s = (RSub){.node = k, .block = c};
            k = d->n[k].end;
            continue;
        }
        if (json_key_is(d, k, "FuncCall") && d->n[k].type == JSON_OBJ) rq_funccall(q, block, k);
        k++;
    }
}

void rq_scan_member(RQ *q, int block, uint32_t obj, const char *key)
{
    uint32_t m = json_member(q->d, obj, key);
    if (m) rq_scan(q, block, m, q->d->n[m].end);
}

/* ---- FROM ---- */

static bool rq_enter(RQ *q)
{
    if (++q->depth <= RQ_MAX_DEPTH) return true;
    rpb_refuse(q->pb, "it nests queries or joins more than %d levels deep", RQ_MAX_DEPTH);
    return false;
}

/* A CTE visible from block by name, or -1. */
static int rq_cte_find(const RQ *q, int block, uint32_t name)
{
    for (int b = block; b >= 0; b = q->blocks[b].outer)
        for (int i = 0; i < q->nctes; i++)
            if (q->ctes[i].owner == b && q->ctes[i].visible && rj_same(q->d, q->ctes[i].name, name))
                return i;
    return -1;
}

/* Output columns of a derived ref: the block's, renamed by colnames (an alias's or a CTE's). */
static void rq_derived_cols(RQ *q, int r, int child, uint32_t colnames)
{
    const JsonDoc *d = q->d;
    int n = child >= 0 ? q->blocks[child].ncols : 0;
    int col0 = q->ncols;
    for (int i = 0; i < n && !q->pb->oom; i++) {
        RCol c = q->cols[q->blocks[child].col0 + i];
        uint32_t nm = rj_string(d, rj_elem(d, colnames, i));
        if (nm) c = (RCol){.name = nm, .term = c.term};
        RCol *o = RQ_ADD(q, cols, ncols, capcols);
        if (o) *o = c;
    }
    q->refs[r].col0 = col0;
    q->refs[r].ncols = q->ncols - col0;
    q->refs[r].cols_open = child < 0 || q->blocks[child].cols_open;
}

static int rq_derived_state(RQ *q, int block, int child)
{
    const RBlock *c = &q->blocks[child];
    if (!c->sharded) return ST_R;
    if (rq_simple(c) && c->state == ST_P) return ST_P;
    rq_xwhy(q, block,
            c->recursive ? "a recursive WITH over sharded tables"
                         : "a subquery in FROM that is not a plain filter of sharded rows");
    return ST_X;
}

int rq_rangevar(RQ *q, int block, uint32_t rv)
{
    const JsonDoc *d = q->d;
    uint32_t rel = json_member(d, rv, "relname"), schema = json_member(d, rv, "schemaname");
    uint32_t alias = json_member(d, json_member(d, rv, "alias"), "aliasname");
    int cte = schema ? -1 : rq_cte_find(q, block, rel);
    int r;
    if (cte >= 0) {
        r = rq_ref_new(q, RR_DERIVED, block);
        if (r < 0) return ST_X;
        q->refs[r].child = q->ctes[cte].block;
        q->refs[r].relname = rel;
        q->refs[r].alias = alias;
        if (q->ctes[cte].block >= 0) q->ctes[cte].uses++; /* not a recursive self-reference */
        if (q->ctes[cte].block < 0) {                     /* WITH RECURSIVE referring to itself */
            q->refs[r].cols_open = true;
            return ST_R;
        }
        rq_derived_cols(q, r, q->ctes[cte].block, q->ctes[cte].colnames);
        uint32_t cn = rj_array(d, json_member(d, rv, "alias"), "colnames");
        if (cn) {
            for (int i = 0; i < q->refs[r].ncols && i < rj_count(d, cn); i++)
                q->cols[q->refs[r].col0 + i].name = rj_string(d, rj_elem(d, cn, i));
        }
        return rq_derived_state(q, block, q->ctes[cte].block);
    }
    int t = -1;
    RRefKind kind;
    bool dbos = !schema || rj_eq(d, schema, q->st->schema);
    if (dbos && (t = rq_table_find(d, rel)) >= 0) {
        kind = rq_tables[t].key ? RR_SHARDED : RR_REFTABLE;
    } else if ((schema &&
                (rj_eq(d, schema, "pg_catalog") || rj_eq(d, schema, "information_schema"))) ||
               (!schema && rel && d->n[rel].vallen > 3 &&
                memcmp(d->text + d->n[rel].val, "pg_", 3) == 0)) {
        kind = RR_CATALOG;
    } else {
        char *sn = schema ? rj_dup(d, schema) : NULL, *tn = rj_dup(d, rel);
        rpb_refuse(q->pb,
                   "it uses %s%s%s, which is not a DBOS system table: pgpin cannot tell whether "
                   "its rows are split across the shards or copied on each",
                   sn ? sn : "", sn ? "." : "", tn ? tn : "?");
        free(sn);
        free(tn);
        return ST_X;
    }
    if ((r = rq_ref_new(q, kind, block)) < 0) return ST_X;
    q->refs[r].table = t;
    q->refs[r].relname = rel;
    q->refs[r].schema = schema;
    q->refs[r].alias = alias;
    return kind == RR_SHARDED ? ST_P : ST_R;
}

/* unnest(keys) [AS a[(c)]]: a column of key values; any other function: copied rows. */
static int rq_rangefunc(RQ *q, int block, uint32_t rf)
{
    const JsonDoc *d = q->d;
    uint32_t fns = rj_array(d, rf, "functions"), al = json_member(d, rf, "alias");
    uint32_t alias = json_member(d, al, "aliasname"), colnames = rj_array(d, al, "colnames");
    rq_scan(q, block, fns, d->n[fns].end);
    uint32_t first = rj_array(d, rj_typed(d, rj_elem(d, fns, 0), "List"), "items");
    uint32_t fc = rj_typed(d, rj_elem(d, first, 0), "FuncCall");
    uint32_t names = fc ? rj_array(d, fc, "funcname") : 0;
    uint32_t fname = rj_string(d, rj_elem(d, names, rj_count(d, names) - 1));
    uint32_t args = fc ? rj_array(d, fc, "args") : 0;
    bool unnest =
        rj_count(d, fns) == 1 && fname && rj_eq(d, fname, "unnest") && rj_count(d, args) == 1 &&
        !rj_true(d, rf, "ordinality") &&
        (rj_count(d, names) == 1 || rj_eq(d, rj_string(d, rj_elem(d, names, 0)), "pg_catalog"));
    RTerm t = unnest ? rq_array_term(q, rj_elem(d, args, 0)) : (RTerm){.k = TM_NONE};
    int r = rq_ref_new(q, t.k == TM_LIST ? RR_VALUES : RR_FUNC, block);
    if (r < 0) return ST_R;
    q->refs[r].alias = alias;
    q->refs[r].relname = alias ? 0 : fname;
    q->refs[r].col0 = q->ncols;
    if (t.k == TM_LIST) {
        RCol *c = RQ_ADD(q, cols, ncols, capcols);
        uint32_t cn = rj_string(d, rj_elem(d, colnames, 0));
        if (c) *c = (RCol){.name = cn ? cn : alias ? alias : fname, .term = t};
    } else {
        for (int i = 0; i < rj_count(d, colnames); i++) {
            RCol *c = RQ_ADD(q, cols, ncols, capcols);
            if (c) *c = (RCol){.name = rj_string(d, rj_elem(d, colnames, i))};
        }
        q->refs[r].cols_open = !colnames;
    }
    q->refs[r].ncols = q->ncols - q->refs[r].col0;
    return ST_R;
}

/* JOIN ... USING (col, ...): col = col across the two sides. */
static void rq_using(RQ *q, int block, uint32_t list, int lo, int mid, int hi, RSet s)
{
    const JsonDoc *d = q->d;
    for (int i = 0; i < rj_count(d, list); i++) {
        uint32_t name = rj_string(d, rj_elem(d, list, i));
        RTerm side[2] = {{.k = TM_NONE}, {.k = TM_NONE}};
        for (int k = 0; k < 2 && name; k++) {
            int yes = 0, maybe = 0;
            for (int r = k ? mid : lo; r < (k ? hi : mid); r++) {
                RTerm t;
                if (q->refs[r].block != block) continue;
                RHas h = rq_has(q, r, name, &t);
                yes += h == HAS_YES;
                maybe += h == HAS_MAYBE;
                if (h == HAS_YES) side[k] = t;
            }
            if (yes != 1 || maybe) side[k].k = TM_NONE;
        }
        rq_relate(q, side[0], side[1], s);
    }
}

static int rq_join(RQ *q, int block, uint32_t j)
{
    const JsonDoc *d = q->d;
    int lo = q->nrefs;
    int ls = rq_from(q, block, json_member(d, j, "larg"));
    int mid = q->nrefs;
    int rs = rq_from(q, block, json_member(d, j, "rarg"));
    int hi = q->nrefs;
    if (rq_failed(q)) return ST_X;
    uint32_t jt = json_member(d, j, "jointype");
    RSet s = {.lo = lo, .hi = hi, .block = block};
    int st;
    if (rj_eq(d, jt, "JOIN_INNER")) {
        st = st_inner(ls, rs);
    } else if (rj_eq(d, jt, "JOIN_LEFT")) {
        st = st_left(ls, rs);
        s.lo = mid;
    } else if (rj_eq(d, jt, "JOIN_RIGHT")) {
        st = st_left(rs, ls);
        s.hi = mid;
    } else {
        st = ls == rs && ls != ST_X ? ls : ST_X;
        s.hi = s.lo; /* FULL: restricts neither side */
    }
    if (st == ST_X && ls != ST_X && rs != ST_X)
        rq_xwhy(q, block, "an outer join that keeps rows of a copied table against sharded ones");
    uint32_t quals = json_member(d, j, "quals");
    if (quals) {
        rq_scan(q, block, quals, d->n[quals].end);
        rq_cond(q, block, quals, s);
    }
    uint32_t using = rj_array(d, j, "usingClause");
    if (using) rq_using(q, block, using, lo, mid, hi, s);
    return st;
}

int rq_from(RQ *q, int block, uint32_t item)
{
    const JsonDoc *d = q->d;
    uint32_t p = rj_node(d, item);
    int st = ST_X;
    if (!p || rq_failed(q) || !rq_enter(q)) return ST_X;
    if (json_key_is(d, p, "RangeVar")) {
        st = rq_rangevar(q, block, p);
    } else if (json_key_is(d, p, "JoinExpr")) {
        st = rq_join(q, block, p);
    } else if (json_key_is(d, p, "RangeSubselect")) {
        bool lateral = rj_true(d, p, "lateral");
        uint32_t sel = rj_typed(d, json_member(d, p, "subquery"), "SelectStmt");
        uint32_t al = json_member(d, p, "alias");
        int c = sel ? rq_select(q, sel, lateral ? block : q->blocks[block].scope, block,
                                q->blocks[block].arm)
                    : -1;
        int r = c >= 0 ? rq_ref_new(q, RR_DERIVED, block) : -1;
        if (r >= 0) {
            q->refs[r].child = c;
            q->refs[r].alias = json_member(d, al, "aliasname");
            rq_derived_cols(q, r, c, rj_array(d, al, "colnames"));
            st = rq_derived_state(q, block, c);
        }
    } else if (json_key_is(d, p, "RangeFunction")) {
        st = rq_rangefunc(q, block, p);
    } else {
        rpb_refuse(q->pb, "it reads from a %.*s, which pgpin does not route", (int)d->n[p].keylen,
                   d->text + d->n[p].key);
    }
    q->depth--;
    return st;
}

/* ---- Query levels ---- */

void rq_with(RQ *q, int block, uint32_t with)
{
    const JsonDoc *d = q->d;
    uint32_t ctes = rj_array(d, with, "ctes");
    bool recursive = rj_true(d, with, "recursive");
    for (int i = 0; i < rj_count(d, ctes) && !rq_failed(q); i++) {
        uint32_t cte = rj_typed(d, rj_elem(d, ctes, i), "CommonTableExpr");
        uint32_t query = cte ? json_member(d, cte, "ctequery") : 0;
        uint32_t sel = rj_typed(d, query, "SelectStmt");
        if (!sel) {
            rpb_refuse(q->pb, "it has a data-modifying WITH, which pgpin does not route");
            return;
        }
        RCte *c = RQ_ADD(q, ctes, nctes, capctes);
        if (!c) return;
        *c = (RCte){.name = json_member(d, cte, "ctename"),
                    .owner = block,
                    .block = -1,
                    .visible = recursive,
                    .colnames = rj_array(d, cte, "aliascolnames")};
        int idx = q->nctes - 1;
        int cb = rq_select(q, sel, q->blocks[block].scope, block, q->blocks[block].arm);
        q->ctes[idx].block = cb;
        q->ctes[idx].visible = true;
        if (cb >= 0 && recursive) q->blocks[cb].recursive = true;
    }
}

/* A VALUES list as a query level: columns column1..N, each a list term when all its cells
 * are values. */
static void rq_values(RQ *q, int block, uint32_t lists)
{
    const JsonDoc *d = q->d;
    int nrows = rj_count(d, lists);
    uint32_t row0 = rj_array(d, rj_typed(d, rj_elem(d, lists, 0), "List"), "items");
    int ncols = rj_count(d, row0);
    q->blocks[block].col0 = q->ncols;
    for (int c = 0; c < ncols && !q->pb->oom; c++) {
        bool values = true;
        for (int r = 0; r < nrows && values; r++) {
            uint32_t items = rj_array(d, rj_typed(d, rj_elem(d, lists, r), "List"), "items");
            values = rq_value_node(d, rj_elem(d, items, c)) != 0;
        }
        RTerm t = {.k = TM_NONE};
        if (values) {
            int src0 = q->nsrcs;
            for (int r = 0; r < nrows; r++) {
                uint32_t items = rj_array(d, rj_typed(d, rj_elem(d, lists, r), "List"), "items");
                rq_value_src(q, rq_value_node(d, rj_elem(d, items, c)));
            }
            t = (RTerm){.k = TM_LIST, .src0 = src0, .nsrc = q->nsrcs - src0};
        }
        static const char *const names[] = {"column1", "column2", "column3", "column4",
                                            "column5", "column6", "column7", "column8"};
        RCol *col = RQ_ADD(q, cols, ncols, capcols);
        if (col) *col = (RCol){.lit = c < 8 ? names[c] : NULL, .term = t};
    }
    q->blocks[block].ncols = q->ncols - q->blocks[block].col0;
    q->blocks[block].cols_open = ncols > 8;
    rq_scan(q, block, lists, d->n[lists].end);
}

/* The name Postgres gives an output column without AS (FigureColname, the common cases). */
static uint32_t rq_colname(const JsonDoc *d, uint32_t val, bool *open)
{
    uint32_t p = rj_node(d, val);
    for (int guard = 0; p && guard < 16 && json_key_is(d, p, "TypeCast"); guard++) {
        uint32_t inner = rj_node(d, json_member(d, p, "arg"));
        if (!inner || json_key_is(d, inner, "A_Const")) break;
        p = inner;
    }
    if (!p) return 0;
    if (json_key_is(d, p, "ColumnRef")) {
        uint32_t f = rj_array(d, p, "fields");
        return rj_string(d, rj_elem(d, f, rj_count(d, f) - 1));
    }
    if (json_key_is(d, p, "FuncCall")) {
        uint32_t f = rj_array(d, p, "funcname");
        return rj_string(d, rj_elem(d, f, rj_count(d, f) - 1));
    }
    if (json_key_is(d, p, "SubLink")) *open = true; /* named after what it holds */
    return 0;
}

/* Output columns of a plain SELECT (for whoever uses it as a derived table). */
static void rq_outputs(RQ *q, int block, uint32_t tl)
{
    const JsonDoc *d = q->d;
    RBlock *b = &q->blocks[block];
    b->col0 = q->ncols;
    for (int i = 0; i < rj_count(d, tl) && !q->pb->oom; i++) {
        uint32_t rt = rj_typed(d, rj_elem(d, tl, i), "ResTarget");
        uint32_t val = rt ? json_member(d, rt, "val") : 0;
        uint32_t cr = rj_typed(d, val, "ColumnRef"), f = cr ? rj_array(d, cr, "fields") : 0;
        if (f && rj_typed(d, rj_elem(d, f, rj_count(d, f) - 1), "A_Star")) {
            /* SELECT * / t.*: the key columns of the tables it spans are among them. */
            uint32_t qual =
                rj_count(d, f) >= 2 ? rj_string(d, rj_elem(d, f, rj_count(d, f) - 2)) : 0;
            for (int r = 0; r < q->nrefs; r++) {
                const RRef *ref = &q->refs[r];
                if (ref->block != block || ref->kind != RR_SHARDED) continue;
                if (qual && !rq_qual_matches(q, ref, qual, 0)) continue;
                RCol *c = RQ_ADD(q, cols, ncols, capcols);
                if (c)
                    *c = (RCol){.lit = rq_tables[ref->table].key,
                                .term = {.k = TM_KEY, .ref = r, .via = r}};
            }
            q->blocks[block].cols_open = true;
            continue;
        }
        bool open = false;
        uint32_t name = rt ? json_member(d, rt, "name") : 0;
        if (!name) name = rq_colname(d, val, &open);
        RTerm t = val ? rq_term(q, block, val) : (RTerm){.k = TM_NONE};
        RCol *c = RQ_ADD(q, cols, ncols, capcols);
        if (c) *c = (RCol){.name = name, .lit = name ? NULL : "?column?", .term = t};
        if (open) q->blocks[block].cols_open = true;
    }
    q->blocks[block].ncols = q->ncols - q->blocks[block].col0;
}

static const char *const rq_select_rest[] = {"targetList",  "groupClause",    "havingClause",
                                             "sortClause",  "windowClause",   "limitCount",
                                             "limitOffset", "distinctClause", NULL};

/* A set operation below the top: one block (not a plain filter), its arms inside. */
static int rq_setop(RQ *q, uint32_t p, int scope, int outer, int arm)
{
    const JsonDoc *d = q->d;
    int b = rq_block_new(q, scope, outer, arm, p);
    if (b < 0) return -1;
    q->blocks[b].setop = true;
    uint32_t with = json_member(d, p, "withClause");
    if (with) rq_with(q, b, with);
    int first = -1;
    static const char *const sides[] = {"larg", "rarg"};
    for (int i = 0; i < 2 && !rq_failed(q); i++) {
        uint32_t side = json_member(d, p, sides[i]);
        int c = side ? rq_select(q, side, scope, b, arm) : -1;
        if (first < 0) first = c;
    }
    if (first >= 0) { /* the first arm names the columns; what they hold is not followed */
        q->blocks[b].col0 = q->ncols;
        for (int i = 0; i < q->blocks[first].ncols && !q->pb->oom; i++) {
            RCol c = q->cols[q->blocks[first].col0 + i];
            c.term = (RTerm){.k = TM_NONE};
            RCol *o = RQ_ADD(q, cols, ncols, capcols);
            if (o) *o = c;
        }
        q->blocks[b].ncols = q->ncols - q->blocks[b].col0;
        q->blocks[b].cols_open = q->blocks[first].cols_open;
    }
    q->blocks[b].state = q->blocks[b].sharded ? ST_X : ST_R;
    rq_scan_member(q, b, p, "sortClause");
    rq_scan_member(q, b, p, "limitCount");
    rq_scan_member(q, b, p, "limitOffset");
    return b;
}

/* A SELECT payload (SELECT, VALUES, or a set operation) as a query level. */
int rq_select(RQ *q, uint32_t p, int scope, int outer, int arm)
{
    const JsonDoc *d = q->d;
    if (rq_failed(q) || !rq_enter(q)) return -1;
    uint32_t op = json_member(d, p, "op");
    if (op && !rj_eq(d, op, "SETOP_NONE")) {
        int b = rq_setop(q, p, scope, outer, arm);
        q->depth--;
        return b;
    }
    int b = rq_block_new(q, scope, outer, arm, p);
    if (b < 0) {
        q->depth--;
        return -1;
    }
    uint32_t with = json_member(d, p, "withClause"), m;
    if (with) rq_with(q, b, with);
    if (json_member(d, p, "intoClause")) rpb_refuse(q->pb, "SELECT INTO is not routed");
    uint32_t lists = rj_array(d, p, "valuesLists");
    if (lists) {
        rq_values(q, b, lists);
        q->depth--;
        return b;
    }
    uint32_t from = rj_array(d, p, "fromClause");
    int st = ST_R, ref0 = q->nrefs;
    for (int i = 0; i < rj_count(d, from) && !rq_failed(q); i++)
        st = st_inner(st, rq_from(q, b, rj_elem(d, from, i)));
    if (q->blocks[b].state != ST_X) q->blocks[b].state = st;
    uint32_t where = json_member(d, p, "whereClause");
    if (where) {
        rq_scan(q, b, where, d->n[where].end);
        rq_cond(q, b, where, (RSet){.lo = ref0, .hi = q->nrefs, .block = b});
    }
    for (const char *const *k = rq_select_rest; *k; k++)
        rq_scan_member(q, b, p, *k);
    RBlock *blk = &q->blocks[b];
    blk->group = rj_array(d, p, "groupClause") != 0;
    blk->having = json_member(d, p, "havingClause") != 0;
    blk->window |= rj_array(d, p, "windowClause") != 0;
    m = rj_array(d, p, "distinctClause");
    blk->distinct = m != 0;
    blk->distinct_on = m && (rj_count(d, m) > 1 || rj_node(d, rj_elem(d, m, 0)));
    uint32_t lc = json_member(d, p, "limitCount");
    blk->limit = json_member(d, p, "limitOffset") ||
                 (lc && !rj_true(d, rj_typed(d, lc, "A_Const"), "isnull"));
    if (rj_array(d, p, "lockingClause")) q->locking = true;
    rq_outputs(q, b, rj_array(d, p, "targetList"));
    q->depth--;
    return b;
}
