/* router_merge.c - how the rows of several shards combine into the answer one database would
 * give (RouteMerge in router.h), the statement each shard runs for that (sort columns added in
 * front, OFFSET folded into LIMIT), and the VALUES rows of a multi-row INSERT with the text each
 * shard's part of it becomes. */
#include "router_int.h"
#include "sql_lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RM_MAX_OUT 1664 /* Postgres's MaxTupleAttributeNumber: more columns cannot be */

/* An output column of the SELECT whose list names the answer's columns. */
typedef struct RmOut {
    uint32_t val;  /* the ResTarget's expression (an object) */
    uint32_t name; /* its name: AS, else a column's or function's own; 0 when neither */
} RmOut;

/* A text edit of the statement: replace [pos, pos + del) by ins. */
typedef struct RmEdit {
    uint32_t pos, del;
    char ins[1024];
} RmEdit;

typedef struct Rm {
    const RStmt *st;
    const JsonDoc *d;
    RPlanB *pb;
    RmOut out[RM_MAX_OUT];
    int nout;
    bool star;           /* SELECT * somewhere in the list: columns not countable */
    uint32_t hidden[16]; /* sort columns added in front (ColumnRef payloads) */
    int nhidden;
    RmEdit edits[24];
    int nedits;
} Rm;

static void rm_no(Rm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rm_no(Rm *m, const char *fmt, ...)
{
    RPlanB *pb = m->pb;
    if (!pb->p.merge.ok) return;
    pb->p.merge.ok = false;
    char tmp[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(pb->merge_reason);
    pb->merge_reason = strdup(tmp);
    if (!pb->merge_reason) pb->oom = true;
}

static bool rm_edit(Rm *m, uint32_t pos, uint32_t del, const char *ins)
{
    if (m->nedits == (int)(sizeof m->edits / sizeof *m->edits) ||
        strlen(ins) >= sizeof m->edits[0].ins) {
        rm_no(m, "its ORDER BY is too long to rewrite");
        return false;
    }
    RmEdit *e = &m->edits[m->nedits++];
    e->pos = pos;
    e->del = del;
    snprintf(e->ins, sizeof e->ins, "%s", ins);
    return true;
}

/* The token at loc (a location libpg_query gave): its kind and end. */
static SqlTokKind rm_token(const Rm *m, int64_t loc, size_t *start, size_t *stop)
{
    if (loc < m->st->loc || loc >= (int64_t)m->st->loc + m->st->len) return SQL_TOK_BAIL;
    size_t pos = (size_t)loc;
    SqlTokKind k = sql_lex_token(m->st->text, m->st->loc + m->st->len, &pos, start, stop);
    return *start == (size_t)loc ? k : SQL_TOK_BAIL;
}

/* ---- Output columns ---- */

static uint32_t rm_implicit_name(const JsonDoc *d, uint32_t val)
{
    uint32_t p = rj_node(d, val);
    for (int guard = 0; p && guard < 16 && json_key_is(d, p, "TypeCast"); guard++) {
        uint32_t inner = rj_node(d, json_member(d, p, "arg"));
        if (!inner || json_key_is(d, inner, "A_Const")) break;
        p = inner;
    }
    if (p && json_key_is(d, p, "ColumnRef")) {
        uint32_t f = rj_array(d, p, "fields");
        return rj_string(d, rj_elem(d, f, rj_count(d, f) - 1));
    }
    if (p && json_key_is(d, p, "FuncCall")) {
        uint32_t f = rj_array(d, p, "funcname");
        return rj_string(d, rj_elem(d, f, rj_count(d, f) - 1));
    }
    return 0;
}

static void rm_outputs(Rm *m, uint32_t tl)
{
    const JsonDoc *d = m->d;
    for (uint32_t c = tl ? json_first(d, tl) : 0; c && m->nout < RM_MAX_OUT;
         c = json_next(d, tl, c)) {
        uint32_t rt = rj_typed(d, c, "ResTarget"), val = rt ? json_member(d, rt, "val") : 0;
        uint32_t cr = rj_typed(d, val, "ColumnRef"), f = cr ? rj_array(d, cr, "fields") : 0;
        if (f && rj_typed(d, rj_elem(d, f, rj_count(d, f) - 1), "A_Star")) m->star = true;
        uint32_t name = rt ? json_member(d, rt, "name") : 0;
        m->out[m->nout++] = (RmOut){.val = val, .name = name ? name : rm_implicit_name(d, val)};
    }
}

/* ---- Aggregates ---- */

static bool rm_is_agg_call(const JsonDoc *d, uint32_t fc)
{
    static const char *const aggs[] = {
        "count",   "sum",       "min",        "max",      "avg",       "every", "bool_and",
        "bool_or", "array_agg", "string_agg", "json_agg", "jsonb_agg", NULL};
    if (rj_true(d, fc, "agg_star") || rj_true(d, fc, "agg_distinct") ||
        json_member(d, fc, "agg_order") || rj_true(d, fc, "agg_within_group"))
        return true;
    uint32_t f = rj_array(d, fc, "funcname");
    uint32_t name = rj_string(d, rj_elem(d, f, rj_count(d, f) - 1));
    for (const char *const *a = aggs; *a; a++)
        if (name && rj_eq(d, name, *a)) return true;
    return false;
}

/* Whether the list holds an aggregate call outside subqueries (a window call is not one). */
static bool rm_has_agg(const JsonDoc *d, uint32_t node)
{
    for (uint32_t k = node; node && k < d->n[node].end;) {
        if (json_key_is(d, k, "SubLink") && d->n[k].type == JSON_OBJ) {
            k = d->n[k].end;
            continue;
        }
        if (json_key_is(d, k, "FuncCall") && d->n[k].type == JSON_OBJ &&
            !json_member(d, k, "over") && rm_is_agg_call(d, k))
            return true;
        k++;
    }
    return false;
}

static bool rm_has_window(const JsonDoc *d, uint32_t node)
{
    for (uint32_t k = node; node && k < d->n[node].end;) {
        if (json_key_is(d, k, "SubLink") && d->n[k].type == JSON_OBJ) {
            k = d->n[k].end;
            continue;
        }
        if (json_key_is(d, k, "FuncCall") && d->n[k].type == JSON_OBJ && json_member(d, k, "over"))
            return true;
        k++;
    }
    return false;
}

/* How output column val combines; false when it does not. */
static bool rm_agg_of(const JsonDoc *d, uint32_t val, RouteAgg *out)
{
    uint32_t fc = rj_typed(d, val, "FuncCall");
    if (rj_typed(d, val, "A_Const")) {
        *out = ROUTE_AGG_SAME;
        return true;
    }
    if (!fc || json_member(d, fc, "over") || rj_true(d, fc, "agg_distinct") ||
        json_member(d, fc, "agg_order") || rj_true(d, fc, "agg_within_group"))
        return false;
    uint32_t f = rj_array(d, fc, "funcname");
    int n = rj_count(d, f);
    if (n == 2 && !rj_eq(d, rj_string(d, rj_elem(d, f, 0)), "pg_catalog")) return false;
    uint32_t name = rj_string(d, rj_elem(d, f, n - 1));
    if (rj_eq(d, name, "count") || rj_eq(d, name, "sum"))
        *out = ROUTE_AGG_SUM;
    else if (rj_eq(d, name, "min"))
        *out = ROUTE_AGG_MIN;
    else if (rj_eq(d, name, "max"))
        *out = ROUTE_AGG_MAX;
    else
        return false;
    return true;
}

/* GROUP BY item g as an output column index, or -1. */
static int rm_group_col(const Rm *m, uint32_t g)
{
    const JsonDoc *d = m->d;
    uint32_t c = rj_typed(d, g, "A_Const");
    if (c) {
        int64_t k = rj_int(d, json_member(d, c, "ival"), "ival", 0);
        return !m->star && k >= 1 && k <= m->nout ? (int)k - 1 : -1;
    }
    if (!rj_typed(d, g, "ColumnRef")) return -1;
    for (int i = 0; i < m->nout; i++)
        if (m->out[i].val && rj_equal_noloc(d, g, m->out[i].val)) return i;
    return -1;
}

static void rm_aggregate(Rm *m, uint32_t sel)
{
    const JsonDoc *d = m->d;
    RPlanB *pb = m->pb;
    uint32_t group = rj_array(d, sel, "groupClause");
    if (json_member(d, sel, "havingClause")) return rm_no(m, "its HAVING filters partial groups");
    if (m->star) return rm_no(m, "it aggregates with * in its select list");
    bool grouped[RM_MAX_OUT] = {false};
    for (int i = 0; i < rj_count(d, group); i++) {
        int col = rm_group_col(m, rj_elem(d, group, i));
        if (col < 0)
            return rm_no(m, "a GROUP BY item is not one of its output columns, so equal groups "
                            "of different shards cannot be matched");
        grouped[col] = true;
    }
    pb->agg = calloc((size_t)m->nout, sizeof *pb->agg);
    if (!pb->agg) {
        pb->oom = true;
        return;
    }
    pb->nagg = m->nout;
    for (int i = 0; i < m->nout; i++) {
        if (grouped[i]) {
            pb->agg[i] = ROUTE_AGG_GROUP;
        } else if (!rm_agg_of(d, m->out[i].val, &pb->agg[i])) {
            return rm_no(m,
                         "its column %d is neither a GROUP BY column nor a plain count, sum, "
                         "min or max, so per-shard values do not combine",
                         i + 1);
        }
    }
    if (group && (json_member(d, sel, "limitCount") || json_member(d, sel, "limitOffset")))
        return rm_no(m, "a LIMIT or OFFSET over groups would apply before the groups of "
                        "different shards combine");
    if (json_member(d, sel, "limitOffset"))
        rm_no(m, "an OFFSET over an aggregate would skip each shard's partial row");
}

/* ---- ORDER BY ---- */

static int rm_hidden(Rm *m, uint32_t cr)
{
    for (int i = 0; i < m->nhidden; i++)
        if (rj_equal_noloc(m->d, m->hidden[i], cr)) return i;
    if (m->nhidden == (int)(sizeof m->hidden / sizeof *m->hidden)) return -1;
    m->hidden[m->nhidden] = cr;
    return m->nhidden++;
}

/* The column an ORDER BY item sorts on: >= 0 an output column, <= -2 hidden column -(n+2),
 * -1 when it cannot be merged (reason set). */
static int rm_sort_col(Rm *m, uint32_t node, bool can_hide)
{
    const JsonDoc *d = m->d;
    uint32_t c = rj_typed(d, node, "A_Const"), cr = rj_typed(d, node, "ColumnRef");
    if (c && json_member(d, c, "ival")) {
        int64_t k = rj_int(d, json_member(d, c, "ival"), "ival", 0);
        if (m->star || k < 1 || k > m->nout) {
            rm_no(m, "its ORDER BY position is not a column pgpin can count");
            return -1;
        }
        return (int)k - 1;
    }
    uint32_t f = cr ? rj_array(d, cr, "fields") : 0;
    if (cr && rj_count(d, f) == 1) { /* a bare name: an output column's name first */
        uint32_t name = rj_string(d, rj_elem(d, f, 0));
        int found = -1, n = 0;
        for (int i = 0; i < m->nout; i++)
            if (m->out[i].name && name && rj_same(d, m->out[i].name, name)) found = i, n++;
        if (n == 1 && !m->star) return found;
        if (n > 1) {
            rm_no(m, "its ORDER BY name matches several output columns");
            return -1;
        }
        if (n == 1) { /* named in the list, but where is it after the * ? */
            rm_no(m, "its ORDER BY names a column pgpin cannot place next to a *");
            return -1;
        }
    }
    for (int i = 0; i < m->nout && !m->star; i++)
        if (m->out[i].val && rj_equal_noloc(d, node, m->out[i].val)) return i;
    if (cr && can_hide && rj_string(d, rj_elem(d, f, rj_count(d, f) - 1))) {
        int h = rm_hidden(m, cr);
        if (h >= 0) return -(h + 2);
    }
    rm_no(m, "it sorts on an expression that is not in its select list");
    return -1;
}

/* A quoted identifier chain for ColumnRef cr ("ws"."created_at"). */
static bool rm_quote_colref(const JsonDoc *d, uint32_t cr, char *buf, size_t len)
{
    uint32_t f = rj_array(d, cr, "fields");
    size_t n = 0;
    for (int i = 0; i < rj_count(d, f); i++) {
        char *z = rj_dup(d, rj_string(d, rj_elem(d, f, i)));
        if (!z) return false;
        size_t need = (i ? 1 : 0) + 2 + 1; /* '.', the quotes, the NUL */
        for (const char *p = z; *p; p++)
            need += *p == '"' ? 2 : 1;
        if (n + need > len) {
            free(z);
            return false;
        }
        if (i) buf[n++] = '.';
        buf[n++] = '"';
        for (const char *p = z; *p; p++) {
            if (*p == '"') buf[n++] = '"';
            buf[n++] = *p;
        }
        buf[n++] = '"';
        free(z);
    }
    buf[n] = '\0';
    return n > 0;
}

static void rm_order(Rm *m, uint32_t sel, uint32_t leaf, bool can_hide)
{
    const JsonDoc *d = m->d;
    RPlanB *pb = m->pb;
    uint32_t sort = rj_array(d, sel, "sortClause");
    int n = rj_count(d, sort);
    if (!n) return;
    int cols[64];
    if (n > 64) return rm_no(m, "it sorts on more than 64 keys");
    pb->sort = calloc((size_t)n, sizeof *pb->sort);
    if (!pb->sort) {
        pb->oom = true;
        return;
    }
    for (int i = 0; i < n && pb->p.merge.ok; i++) {
        uint32_t sb = rj_typed(d, rj_elem(d, sort, i), "SortBy");
        if (!sb || json_member(d, sb, "useOp")) return rm_no(m, "it sorts with USING");
        uint32_t dir = json_member(d, sb, "sortby_dir"), nulls = json_member(d, sb, "sortby_nulls");
        bool desc = dir && rj_eq(d, dir, "SORTBY_DESC");
        cols[i] = rm_sort_col(m, json_member(d, sb, "node"), can_hide);
        pb->sort[i] =
            (RouteSort){.desc = desc,
                        .nulls_first = nulls && rj_eq(d, nulls, "SORTBY_NULLS_FIRST")  ? true
                                       : nulls && rj_eq(d, nulls, "SORTBY_NULLS_LAST") ? false
                                                                                       : desc};
    }
    if (!pb->p.merge.ok) return;
    pb->nsort = n;
    pb->p.merge.hidden = (uint16_t)m->nhidden;
    for (int i = 0; i < n; i++) /* hidden columns come first in the shards' rows */
        pb->sort[i].col = (uint16_t)(cols[i] >= 0 ? cols[i] + m->nhidden : -cols[i] - 2);
    if (!m->nhidden) return;
    /* Put them in front, and move ORDER BY positions past them. */
    uint32_t first = rj_typed(d, rj_elem(d, rj_array(d, leaf, "targetList"), 0), "ResTarget");
    int64_t at = rj_int(d, first, "location", -1);
    char ins[sizeof m->edits[0].ins] = "", one[600];
    for (int h = 0; h < m->nhidden; h++) {
        size_t used = strlen(ins);
        if (!rm_quote_colref(d, m->hidden[h], one, sizeof one) ||
            snprintf(ins + used, sizeof ins - used, "%s AS \"?pgpin_sort_%d\", ", one, h + 1) >=
                (int)(sizeof ins - used))
            return rm_no(m, "its ORDER BY is too long to rewrite");
    }
    if (at < 0 || !rm_edit(m, (uint32_t)at, 0, ins)) return rm_no(m, "cannot rewrite its list");
    for (int i = 0; i < n; i++) {
        uint32_t sb = rj_typed(d, rj_elem(d, sort, i), "SortBy");
        uint32_t c = rj_typed(d, json_member(d, sb, "node"), "A_Const");
        if (!c) continue;
        size_t s, e;
        char num[24];
        if (rm_token(m, rj_int(d, c, "location", -1), &s, &e) != SQL_TOK_NUMBER)
            return rm_no(m, "cannot rewrite its ORDER BY position");
        snprintf(num, sizeof num, "%d", cols[i] + 1 + m->nhidden);
        rm_edit(m, (uint32_t)s, (uint32_t)(e - s), num);
    }
}

/* ---- LIMIT / OFFSET ---- */

/* A LIMIT or OFFSET value; *tok gets its token's range for rewriting. */
static bool rm_val(Rm *m, uint32_t obj, RouteVal *v, size_t *s, size_t *e)
{
    const JsonDoc *d = m->d;
    uint32_t c = rj_typed(d, obj, "A_Const"), pr = rj_typed(d, obj, "ParamRef");
    *v = (RouteVal){.kind = ROUTE_VAL_NONE};
    *s = *e = 0;
    if (!obj) return true;
    if (c && rj_true(d, c, "isnull")) {
        v->kind = ROUTE_VAL_ALL;
        return true;
    }
    int64_t loc = rj_int(d, c ? c : pr, "location", -1);
    SqlTokKind k = rm_token(m, loc, s, e);
    if (c && json_member(d, c, "ival") && k == SQL_TOK_NUMBER && *e - *s <= 18) {
        v->kind = ROUTE_VAL_CONST;
        for (size_t i = *s; i < *e; i++)
            v->value = v->value * 10 + (m->st->text[i] - '0');
        return true;
    }
    if (pr && k == SQL_TOK_PARAM) {
        int64_t n = rj_int(d, pr, "number", 0);
        if (n < 1 || n > 65535) return false;
        v->kind = ROUTE_VAL_PARAM;
        v->param = (uint16_t)n;
        return true;
    }
    return false;
}

/* Each shard must return its first LIMIT + OFFSET rows and skip none: the merge skips OFFSET. */
static void rm_limit(Rm *m, uint32_t sel)
{
    const JsonDoc *d = m->d;
    RouteMerge *mg = &m->pb->p.merge;
    uint32_t opt = json_member(d, sel, "limitOption");
    size_t ls, le, os, oe;
    if (opt && rj_eq(d, opt, "LIMIT_OPTION_WITH_TIES"))
        return rm_no(m, "FETCH ... WITH TIES does not merge");
    if (!rm_val(m, json_member(d, sel, "limitCount"), &mg->limit, &ls, &le) ||
        !rm_val(m, json_member(d, sel, "limitOffset"), &mg->offset, &os, &oe))
        return rm_no(m, "its LIMIT or OFFSET is not a number or a parameter");
    if (mg->offset.kind == ROUTE_VAL_NONE || mg->offset.kind == ROUTE_VAL_ALL ||
        (mg->offset.kind == ROUTE_VAL_CONST && mg->offset.value == 0))
        return; /* no rows to skip: each shard's first LIMIT rows are enough */
    char buf[64];
    const char *t = m->st->text;
    if (mg->limit.kind == ROUTE_VAL_CONST && mg->offset.kind == ROUTE_VAL_CONST &&
        mg->limit.value < INT64_MAX / 2 && mg->offset.value < INT64_MAX / 2) {
        snprintf(buf, sizeof buf, "%lld", (long long)(mg->limit.value + mg->offset.value));
    } else {
        snprintf(buf, sizeof buf, "(%.*s%s + %.*s%s)", (int)(le - ls), t + ls,
                 mg->limit.kind == ROUTE_VAL_PARAM ? "::int8" : "", (int)(oe - os), t + os,
                 mg->offset.kind == ROUTE_VAL_PARAM ? "::int8" : "");
    }
    if (mg->limit.kind == ROUTE_VAL_CONST || mg->limit.kind == ROUTE_VAL_PARAM)
        rm_edit(m, (uint32_t)ls, (uint32_t)(le - ls), buf);
    if (mg->offset.kind == ROUTE_VAL_CONST)
        snprintf(buf, sizeof buf, "0");
    else
        snprintf(buf, sizeof buf, "(0 * %.*s::int8)", (int)(oe - os), t + os);
    rm_edit(m, (uint32_t)os, (uint32_t)(oe - os), buf);
}

static int rm_edit_cmp(const void *a, const void *b)
{
    const RmEdit *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The statement with the edits applied. */
static void rm_apply(Rm *m)
{
    const RStmt *st = m->st;
    if (!m->nedits || !m->pb->p.merge.ok) return;
    qsort(m->edits, (size_t)m->nedits, sizeof *m->edits, rm_edit_cmp);
    size_t cap = st->len + 1;
    for (int i = 0; i < m->nedits; i++)
        cap += strlen(m->edits[i].ins);
    char *out = malloc(cap), *o = out;
    if (!out) {
        m->pb->oom = true;
        return;
    }
    size_t first = st->loc, n = st->len; /* without the comments and blanks in front */
    if (!sql_lex_trim(st->text, &first, &n)) first = st->loc;
    uint32_t at = (uint32_t)first, end = st->loc + st->len;
    for (int i = 0; i < m->nedits; i++) {
        const RmEdit *e = &m->edits[i];
        if (e->pos < at || e->pos + e->del > end) {
            free(out);
            return rm_no(m, "cannot rewrite it");
        }
        memcpy(o, st->text + at, e->pos - at);
        o += e->pos - at;
        o += sprintf(o, "%s", e->ins);
        at = e->pos + e->del;
    }
    memcpy(o, st->text + at, end - at);
    o[end - at] = '\0';
    m->pb->shard_sql = out;
}

/* The SELECT whose list names the columns (the leftmost arm of a set operation); *ops gets
 * bit 0 for UNION ALL, bit 1 for UNION, bit 2 for INTERSECT / EXCEPT. */
static uint32_t rm_leaf(const JsonDoc *d, uint32_t sel, unsigned *ops, int depth)
{
    uint32_t op = json_member(d, sel, "op");
    if (!op || rj_eq(d, op, "SETOP_NONE") || depth > 1000) return sel;
    *ops |= !rj_eq(d, op, "SETOP_UNION") ? 4u : rj_true(d, sel, "all") ? 1u : 2u;
    rm_leaf(d, json_member(d, sel, "rarg"), ops, depth + 1);
    return rm_leaf(d, json_member(d, sel, "larg"), ops, depth + 1);
}

void rm_select(const RStmt *st, uint32_t sel, RPlanB *pb)
{
    Rm *m = calloc(1, sizeof *m);
    if (!m) {
        pb->oom = true;
        return;
    }
    const JsonDoc *d = st->d;
    *m = (Rm){.st = st, .d = d, .pb = pb};
    pb->p.merge = (RouteMerge){.ok = true};
    unsigned ops = 0;
    uint32_t leaf = rm_leaf(d, sel, &ops, 0);
    int setop = ops == 0 ? -1 : ops == 1 ? 1 : ops == 2 ? 2 : 0;
    rm_outputs(m, rj_array(d, leaf, "targetList"));
    uint32_t distinct = rj_array(d, leaf, "distinctClause");
    bool agg =
        setop == -1 && (rm_has_agg(d, rj_array(d, sel, "targetList")) ||
                        json_member(d, sel, "groupClause") || json_member(d, sel, "havingClause"));
    if (setop == 0) rm_no(m, "it mixes UNION with UNION ALL, INTERSECT or EXCEPT");
    if (setop == 2) pb->p.merge.distinct = true;
    if (setop == -1 && distinct) {
        if (rj_count(d, distinct) > 1 || rj_node(d, rj_elem(d, distinct, 0)))
            rm_no(m, "DISTINCT ON picks one row per group on each shard");
        pb->p.merge.distinct = true;
    }
    if (setop == -1 && rm_has_window(d, rj_array(d, sel, "targetList")))
        rm_no(m, "its window functions see one shard's rows only");
    if (agg) rm_aggregate(m, sel);
    if (pb->p.merge.ok) rm_order(m, sel, leaf, setop == -1 && !agg && !distinct);
    if (pb->p.merge.ok) rm_limit(m, sel);
    rm_apply(m);
    free(m);
}

void rm_write(RPlanB *pb, bool returning)
{
    (void)returning; /* RETURNING rows and command tags concatenate and add up */
    pb->p.merge = (RouteMerge){.ok = true};
}

/* ---- Multi-row INSERT ... VALUES ---- */

bool rm_rows(const RStmt *st, int nrows, RPlanB *pb)
{
    enum { BEFORE, EXPECT_ROW, IN_ROW, AFTER_ROW, DONE } state = BEFORE;
    const char *t = st->text;
    size_t end = st->loc + st->len, pos = st->loc, s, e;
    int depth = 0, row = -1, nparams = 0, cap = 0;
    RouteRow *rows = calloc((size_t)nrows, sizeof *rows);
    RouteParamRef *params = NULL;
    if (!rows) goto oom;
    for (;;) {
        SqlTokKind k = sql_lex_token(t, end, &pos, &s, &e);
        if (k == SQL_TOK_END) break;
        if (k == SQL_TOK_BAIL) goto fail;
        if (k == SQL_TOK_PARAM) {
            long n = 0; /* the text need not be NUL-terminated: digits in [s + 1, e) */
            for (size_t i = s + 1; i < e && n <= 65535; i++)
                n = n * 10 + (t[i] - '0');
            if (n < 1 || n > 65535) goto fail;
            if (nparams == cap) {
                cap = cap ? cap * 2 : 16;
                RouteParamRef *np = realloc(params, (size_t)cap * sizeof *np);
                if (!np) goto oom;
                params = np;
            }
            params[nparams++] = (RouteParamRef){
                .loc = (uint32_t)s, .len = (uint32_t)(e - s), .number = (uint16_t)n};
        }
        bool open = k == SQL_TOK_OTHER && t[s] == '(', close = k == SQL_TOK_OTHER && t[s] == ')';
        switch (state) {
        case BEFORE:
            if (depth == 0 && k == SQL_TOK_WORD && e - s == 6 &&
                sql_lex_word_is((const unsigned char *)t + s, 6, "values"))
                state = EXPECT_ROW;
            break;
        case EXPECT_ROW:
            if (!open || ++row >= nrows) goto fail;
            rows[row].start = (uint32_t)s;
            state = IN_ROW;
            break;
        case IN_ROW:
            if (close && depth == 1) {
                rows[row].end = (uint32_t)e;
                state = AFTER_ROW;
            }
            break;
        case AFTER_ROW: state = k == SQL_TOK_OTHER && t[s] == ',' ? EXPECT_ROW : DONE; break;
        case DONE: break;
        }
        if (open) depth++;
        if (close && --depth < 0) goto fail;
    }
    if (row != nrows - 1 || (state != AFTER_ROW && state != DONE)) goto fail;
    pb->rows = rows;
    pb->nrows = nrows;
    pb->params = params;
    pb->nparams = nparams;
    return true;
oom:
    pb->oom = true;
fail:
    free(rows);
    free(params);
    return false;
}

/* Append text[from, to) to o, renumbering the parameters in it. */
static char *rm_copy(const RoutePlan *p, const char *text, uint32_t from, uint32_t to, char *o,
                     const uint16_t *renum)
{
    for (int i = 0; i < p->nparams; i++) {
        const RouteParamRef *r = &p->params[i];
        if (r->loc < from || r->loc >= to) continue;
        memcpy(o, text + from, r->loc - from);
        o += r->loc - from;
        o += sprintf(o, "$%u", (unsigned)renum[r->number]);
        from = r->loc + r->len;
    }
    memcpy(o, text + from, to - from);
    return o + (to - from);
}

char *router_rows_sql(const RoutePlan *p, const char *text, const int *rows, int nrows,
                      uint16_t *param_map, int *nparams)
{
    if (p->kind != ROUTE_KEY_ROWS || nrows < 1 || p->nrows < 1) return NULL;
    uint32_t head_end = p->rows[0].start, tail = p->rows[p->nrows - 1].end;
    uint32_t stmt_end = p->loc + p->len;
    bool *used = calloc(65536, sizeof *used);
    uint16_t *renum = calloc(65536, sizeof *renum);
    size_t cap = (size_t)(head_end - p->loc) + (stmt_end - tail) + 1;
    for (int i = 0; i < nrows; i++)
        cap += p->rows[rows[i]].end - p->rows[rows[i]].start + 2;
    cap += (size_t)p->nparams * 6; /* "$65535" is at most as long as any old token + 5 */
    char *out = malloc(cap), *o = out;
    if (!used || !renum || !out) goto fail;
    /* Which old parameters the kept text uses, then new numbers in their order. */
    for (int i = 0; i < p->nparams; i++) {
        uint32_t loc = p->params[i].loc;
        bool kept = loc < head_end || loc >= tail;
        for (int r = 0; r < nrows && !kept; r++)
            kept = loc >= p->rows[rows[r]].start && loc < p->rows[rows[r]].end;
        if (kept) used[p->params[i].number] = true;
    }
    int n = 0;
    for (int old = 1; old < 65536; old++) {
        if (!used[old]) continue;
        renum[old] = (uint16_t)++n;
        if (param_map) param_map[n - 1] = (uint16_t)old;
    }
    o = rm_copy(p, text, p->loc, head_end, o, renum);
    for (int r = 0; r < nrows; r++) {
        if (r) o += sprintf(o, ", ");
        o = rm_copy(p, text, p->rows[rows[r]].start, p->rows[rows[r]].end, o, renum);
    }
    o = rm_copy(p, text, tail, stmt_end, o, renum);
    *o = '\0';
    if (nparams) *nparams = n;
    free(used);
    free(renum);
    return out;
fail:
    free(used);
    free(renum);
    free(out);
    return NULL;
}
