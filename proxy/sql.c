/* sql.c - statement classification (see sql.h): the libpg_query parse, the walk over its JSON
 * tree, and the one-block SqlInfo answers are built into. The pre-filter is in sql_lex.c (with
 * the lexer it runs on), the cache in sql_cache.c. */
#include "sql.h"

#include "json.h"
#include "sql_lex.h"

#include <pg_query.h>
#include <stdlib.h>
#include <string.h>

/* ---- Builder: statements, sets and strings grow here, then move into one block ---- */

/* String references are offset + 1 into SqlBuild.str; 0 stands for NULL. */
typedef struct SqlBStmt {
    SqlStmt s;
    size_t name;
} SqlBStmt;

typedef struct SqlBSet {
    SqlSet s;
    size_t name, sql;
} SqlBSet;

#define SQL_REC_MAX 16 /* recordable set_config calls per statement; more pin */

typedef struct SqlBuild {
    const char *text; /* the client's text (not NUL-terminated) */
    size_t len;
    const JsonDoc *d;
    SqlBStmt *st;
    SqlBSet *se;
    char *str;
    int nst, capst, nse, capse;
    size_t nstr, capstr;
    bool oom;
    uint32_t rec[SQL_REC_MAX]; /* FuncCall nodes of set_config calls that may be recorded */
    int nrec;
} SqlBuild;

static bool sql_b_grow(SqlBuild *b, void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap) return true;
    int ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) {
        b->oom = true;
        return false;
    }
    *arr = p;
    *cap = ncap;
    return true;
}

static bool sql_b_reserve(SqlBuild *b, size_t n)
{
    if (b->oom) return false;
    if (b->capstr - b->nstr >= n) return true;
    size_t cap = b->capstr ? b->capstr : 128;
    while (cap - b->nstr < n)
        cap *= 2;
    char *p = realloc(b->str, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->str = p;
    b->capstr = cap;
    return true;
}

static void sql_b_append(SqlBuild *b, const char *s, size_t n)
{
    if (!sql_b_reserve(b, n)) return;
    memcpy(b->str + b->nstr, s, n);
    b->nstr += n;
}

/* Finish the string begun at offset start: NUL-terminate, return its reference (0 on OOM). */
static size_t sql_b_close(SqlBuild *b, size_t start)
{
    sql_b_append(b, "", 1);
    return b->oom ? 0 : start + 1;
}

static size_t sql_b_str(SqlBuild *b, const char *s, size_t n)
{
    size_t start = b->nstr;
    sql_b_append(b, s, n);
    return sql_b_close(b, start);
}

/* Append JSON string node i unescaped (no NUL); lowercased (ASCII, as Postgres folds names)
 * when asked. Anything but a string appends nothing. */
static void sql_b_json_append(SqlBuild *b, uint32_t i, bool lower)
{
    if (!i || b->d->n[i].type != JSON_STR) return;
    if (!sql_b_reserve(b, (size_t)b->d->n[i].vallen + 1)) return;
    char *dst = b->str + b->nstr;
    size_t n = json_str_copy(b->d, i, dst);
    for (size_t k = 0; lower && k < n; k++)
        if (dst[k] >= 'A' && dst[k] <= 'Z') dst[k] = (char)(dst[k] + ('a' - 'A'));
    b->nstr += n;
}

/* JSON string node i as a string of its own: its reference, 0 on OOM. */
static size_t sql_b_json(SqlBuild *b, uint32_t i, bool lower)
{
    size_t start = b->nstr;
    sql_b_json_append(b, i, lower);
    return sql_b_close(b, start);
}

/* Append the string ref refers to (without its NUL). Reserves first: the source lives in the
 * buffer that may move. */
static void sql_b_append_ref(SqlBuild *b, size_t ref)
{
    size_t n = ref ? strlen(b->str + ref - 1) : 0;
    if (!ref) b->oom = true;
    if (!sql_b_reserve(b, n)) return;
    memcpy(b->str + b->nstr, b->str + ref - 1, n);
    b->nstr += n;
}

/* Append a SQL string literal of the string ref refers to: '...' with quotes doubled, or E'...'
 * when it holds a backslash, so it reads the same whatever standard_conforming_strings says. */
static void sql_b_literal(SqlBuild *b, size_t ref)
{
    size_t n = ref ? strlen(b->str + ref - 1) : 0;
    if (!ref) b->oom = true;
    if (!sql_b_reserve(b, 2 * n + 3)) return; /* nothing below moves the buffer */
    const char *s = b->str + ref - 1;
    char *o = b->str + b->nstr;
    bool bs = memchr(s, '\\', n) != NULL;
    if (bs) *o++ = 'E';
    *o++ = '\'';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'' || (bs && s[i] == '\\')) *o++ = s[i];
        *o++ = s[i];
    }
    *o++ = '\'';
    b->nstr = (size_t)(o - b->str);
}

static int sql_b_stmt(SqlBuild *b, SqlKind kind, uint32_t loc, uint32_t len)
{
    if (!sql_b_grow(b, (void **)&b->st, &b->capst, b->nst + 1, sizeof *b->st)) return -1;
    b->st[b->nst] = (SqlBStmt){.s = {.kind = kind, .loc = loc, .len = len, .first_set = b->nse}};
    return b->nst++;
}

static void sql_b_set(SqlBuild *b, int si, SqlSetKind kind, size_t name, size_t sql)
{
    if (b->oom || !sql || (kind != SQL_SET_RESET_ALL && !name)) {
        b->oom = true; /* a reference is 0 only when memory ran out */
        return;
    }
    if (!sql_b_grow(b, (void **)&b->se, &b->capse, b->nse + 1, sizeof *b->se)) return;
    b->se[b->nse++] = (SqlBSet){.s = {.kind = kind, .stmt = si}, .name = name, .sql = sql};
    b->st[si].s.nsets++;
}

static void sql_b_free(SqlBuild *b)
{
    free(b->st);
    free(b->se);
    free(b->str);
}

/* Move what b holds into one block owned by out. False when memory ran out. */
static bool sql_b_finish(SqlBuild *b, SqlInfo *out)
{
    memset(out, 0, sizeof *out);
    if (b->oom) return false;
    size_t sz_st = (size_t)b->nst * sizeof(SqlStmt), sz_se = (size_t)b->nse * sizeof(SqlSet);
    if (sz_st + sz_se + b->nstr == 0) return true;
    char *blk = malloc(sz_st + sz_se + b->nstr); /* both structs hold pointers: aligned */
    if (!blk) return false;
    SqlStmt *st = (SqlStmt *)(void *)blk;
    SqlSet *se = (SqlSet *)(void *)(blk + sz_st);
    char *strs = blk + sz_st + sz_se;
    if (b->nstr) memcpy(strs, b->str, b->nstr);
    for (int i = 0; i < b->nst; i++) {
        st[i] = b->st[i].s;
        st[i].name = b->st[i].name ? strs + b->st[i].name - 1 : NULL;
        out->flags |= st[i].flags;
        out->pin |= st[i].pin;
    }
    for (int i = 0; i < b->nse; i++) {
        se[i] = b->se[i].s;
        se[i].name = b->se[i].name ? strs + b->se[i].name - 1 : NULL;
        se[i].sql = strs + b->se[i].sql - 1;
    }
    *out = (SqlInfo){.flags = out->flags,
                     .pin = out->pin,
                     .nstmts = b->nst,
                     .nsets = b->nse,
                     .stmts = b->nst ? st : NULL,
                     .sets = b->nse ? se : NULL,
                     .block_ = blk};
    return true;
}

void sql_info_free(SqlInfo *info)
{
    free(info->block_);
    memset(info, 0, sizeof *info);
}

/* One statement and nothing else (pre-filtered or unparsable texts). */
static bool sql_info_single(const SqlStmt *st, SqlInfo *out)
{
    SqlBuild b = {0};
    if (sql_b_stmt(&b, st->kind, st->loc, st->len) >= 0) {
        b.st[0].s.flags = st->flags;
        b.st[0].s.pin = st->pin;
    }
    bool ok = sql_b_finish(&b, out);
    sql_b_free(&b);
    return ok;
}

static bool sql_info_unparsable(size_t len, SqlInfo *out)
{
    SqlStmt st = {.kind = SQL_K_UNKNOWN,
                  .flags = SQL_F_WRITE,
                  .pin = SQL_PIN_UNPARSABLE,
                  .len = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len};
    return sql_info_single(&st, out);
}

/* ---- Reading libpg_query's tree ---- */

/* A node is an object with one member named after its type: {"FuncCall": {...}}. Returns that
 * member (its payload object, whose key is the type), or 0. */
static uint32_t sql_node(const JsonDoc *d, uint32_t obj)
{
    if (!obj || d->n[obj].type != JSON_OBJ) return 0;
    uint32_t c = json_first(d, obj);
    return c && d->n[c].type == JSON_OBJ ? c : 0;
}

/* The string node of {"String": {"sval": "..."}}, or 0. */
static uint32_t sql_string(const JsonDoc *d, uint32_t obj)
{
    uint32_t p = sql_node(d, obj);
    return p && json_key_is(d, p, "String") ? json_member(d, p, "sval") : 0;
}

/* The last element of a name list (a function's own name), or 0. */
static uint32_t sql_last_name(const JsonDoc *d, uint32_t list)
{
    uint32_t last = 0;
    if (!list || d->n[list].type != JSON_ARR) return 0;
    for (uint32_t c = json_first(d, list); c; c = json_next(d, list, c))
        last = c;
    return sql_string(d, last);
}

typedef enum { SQL_C_OTHER, SQL_C_STR, SQL_C_INT, SQL_C_BOOL, SQL_C_NULL } SqlConstType;

typedef struct SqlConst {
    SqlConstType type;
    uint32_t str; /* SQL_C_STR: the string node */
    int64_t i;    /* SQL_C_INT */
    bool b;       /* SQL_C_BOOL */
} SqlConst;

/* A constant argument (an A_Const node). Defaults are left out of the JSON: {"boolval": {}} is
 * false and {"ival": {}} is 0. */
static SqlConst sql_const(const JsonDoc *d, uint32_t obj)
{
    SqlConst c = {.type = SQL_C_OTHER};
    uint32_t p = sql_node(d, obj), m, v;
    if (!p || !json_key_is(d, p, "A_Const")) return c;
    if ((m = json_member(d, p, "isnull")) && d->n[m].type == JSON_TRUE) {
        c.type = SQL_C_NULL;
    } else if ((m = json_member(d, p, "sval"))) {
        if ((c.str = json_member(d, m, "sval")) && d->n[c.str].type == JSON_STR) c.type = SQL_C_STR;
    } else if ((m = json_member(d, p, "boolval"))) {
        v = json_member(d, m, "boolval");
        c.b = v && d->n[v].type == JSON_TRUE;
        c.type = SQL_C_BOOL;
    } else if ((m = json_member(d, p, "ival"))) {
        v = json_member(d, m, "ival");
        if (!v || json_int(d, v, &c.i)) c.type = SQL_C_INT;
    }
    return c;
}

/* A boolean constant as Postgres's parse_bool reads the spellings a client would write. */
static bool sql_const_bool(const JsonDoc *d, const SqlConst *c, bool *out)
{
    static const char *const yes[] = {"t", "true", "on", "y", "yes", "1"};
    static const char *const no[] = {"f", "false", "off", "n", "no", "0"};
    if (c->type == SQL_C_BOOL) {
        *out = c->b;
        return true;
    }
    if (c->type != SQL_C_STR) return false;
    const unsigned char *p = (const unsigned char *)d->text + d->n[c->str].val;
    size_t n = d->n[c->str].vallen;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (sql_lex_word_is(p, n, yes[i]) || sql_lex_word_is(p, n, no[i])) {
            *out = sql_lex_word_is(p, n, yes[i]);
            return true;
        }
    }
    return false;
}

static bool sql_name_in(const JsonDoc *d, uint32_t name, const char *const *list)
{
    for (; *list; list++)
        if (json_str_is(d, name, *list)) return true;
    return false;
}

/* A RangeVar that makes a temporary relation (TEMP, or the pg_temp schema). */
static bool sql_rangevar_temp(const JsonDoc *d, uint32_t rv)
{
    uint32_t m;
    if (!rv) return false;
    if ((m = json_member(d, rv, "relpersistence")) && json_str_is(d, m, "t")) return true;
    return (m = json_member(d, rv, "schemaname")) && json_str_is(d, m, "pg_temp");
}

/* An IntoClause (SELECT INTO, CREATE TABLE AS) making a temp table that outlives its
 * transaction (ON COMMIT DROP does not). */
static bool sql_into_temp(const JsonDoc *d, uint32_t into)
{
    uint32_t oc = json_member(d, into, "onCommit");
    return sql_rangevar_temp(d, json_member(d, into, "rel")) &&
           !(oc && json_str_is(d, oc, "ONCOMMIT_DROP"));
}

/* ---- Walking a statement ---- */

#define SQL_KEY_IS(d, k, lit)                                                                      \
    ((d)->n[k].keylen == sizeof(lit) - 1 &&                                                        \
     memcmp((d)->text + (d)->n[k].key, lit, sizeof(lit) - 1) == 0)

/* Only the plain call form: no FILTER, OVER, ORDER BY, *, DISTINCT or VARIADIC. */
static bool sql_funccall_plain(const JsonDoc *d, uint32_t fc)
{
    for (uint32_t c = json_first(d, fc); c; c = json_next(d, fc, c))
        if (!SQL_KEY_IS(d, c, "funcname") && !SQL_KEY_IS(d, c, "args") &&
            !SQL_KEY_IS(d, c, "funcformat") && !SQL_KEY_IS(d, c, "location"))
            return false;
    return true;
}

/* set_config(name, value, is_local): a local call ends with its transaction; a session call with
 * constant arguments that is a target of a simple SELECT is recorded; any other pins. */
static void sql_set_config(SqlBuild *b, int si, uint32_t fc, bool recordable)
{
    const JsonDoc *d = b->d;
    uint32_t args = json_member(d, fc, "args");
    SqlConst a[3];
    int n = 0;
    bool local = false;
    for (uint32_t c = args ? json_first(d, args) : 0; c; c = json_next(d, args, c), n++)
        if (n < 3) a[n] = sql_const(d, c);
    bool local_known = n == 3 && sql_const_bool(d, &a[2], &local);
    if (local_known && local) return;
    if (!recordable || !local_known || a[0].type != SQL_C_STR ||
        (a[1].type != SQL_C_STR && a[1].type != SQL_C_NULL) || !sql_funccall_plain(d, fc)) {
        b->st[si].s.pin |= SQL_PIN_SET_CONFIG;
        return;
    }
    size_t name = sql_b_json(b, a[0].str, true), raw = sql_b_json(b, a[0].str, false);
    size_t val = a[1].type == SQL_C_STR ? sql_b_json(b, a[1].str, false) : 0;
    size_t start = b->nstr;
    sql_b_append(b, "SELECT pg_catalog.set_config(", 29);
    sql_b_literal(b, raw);
    sql_b_append(b, ", ", 2);
    if (val)
        sql_b_literal(b, val);
    else
        sql_b_append(b, "NULL", 4);
    sql_b_append(b, ", false)", 8);
    sql_b_set(b, si, SQL_SET_VALUE, name, sql_b_close(b, start));
}

static const char *const sql_fn_advisory[] = {
    "pg_advisory_lock",
    "pg_advisory_lock_shared", /* session level: pin */
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared", /* (the _xact_ ones end with it) */
    NULL,
};
static const char *const sql_fn_write[] = {"nextval", "setval", "pg_notify", NULL};

static void sql_funccall(SqlBuild *b, int si, uint32_t fc)
{
    const JsonDoc *d = b->d;
    uint32_t name = sql_last_name(d, json_member(d, fc, "funcname"));
    if (!name) return;
    if (sql_name_in(d, name, sql_fn_advisory)) {
        b->st[si].s.pin |= SQL_PIN_ADVISORY_LOCK;
    } else if (json_str_is(d, name, "set_config")) {
        bool rec = false;
        for (int i = 0; i < b->nrec; i++)
            rec |= b->rec[i] == fc;
        sql_set_config(b, si, fc, rec);
    } else if (sql_name_in(d, name, sql_fn_write)) {
        b->st[si].s.flags |= SQL_F_WRITE;
    }
}

/* Search the subtree [from, to) for what makes a statement write or pin wherever it sits:
 * function calls, data-modifying statements (CTEs), locking clauses, SELECT INTO. With create,
 * any name qualified by pg_temp makes a temporary object. */
static void sql_scan(SqlBuild *b, int si, uint32_t from, uint32_t to, bool create)
{
    const JsonDoc *d = b->d;
    for (uint32_t k = from; k < to && !b->oom; k++) {
        SqlStmt *s = &b->st[si].s;
        uint32_t m;
        if (d->n[k].keylen < 6) continue;
        if (SQL_KEY_IS(d, k, "FuncCall")) {
            sql_funccall(b, si, k);
        } else if (SQL_KEY_IS(d, k, "InsertStmt") || SQL_KEY_IS(d, k, "UpdateStmt") ||
                   SQL_KEY_IS(d, k, "DeleteStmt") || SQL_KEY_IS(d, k, "MergeStmt")) {
            s->flags |= SQL_F_WRITE;
        } else if (SQL_KEY_IS(d, k, "lockingClause")) {
            s->flags |= SQL_F_WRITE | SQL_F_LOCKING;
        } else if (SQL_KEY_IS(d, k, "intoClause")) {
            s->flags |= SQL_F_WRITE;
            if (sql_into_temp(d, k)) s->pin |= SQL_PIN_TEMP_OBJECT;
        } else if (create && SQL_KEY_IS(d, k, "schemaname") && json_str_is(d, k, "pg_temp")) {
            s->pin |= SQL_PIN_TEMP_OBJECT;
        } else if (create && SQL_KEY_IS(d, k, "String") && (m = json_member(d, k, "sval")) &&
                   json_str_is(d, m, "pg_temp")) {
            s->pin |= SQL_PIN_TEMP_OBJECT;
        }
    }
}

/* A SELECT with nothing but a target list: its set_config(...) targets may be recorded. */
static void sql_select(SqlBuild *b, int si, uint32_t p)
{
    const JsonDoc *d = b->d;
    bool simple = true;
    b->nrec = 0;
    for (uint32_t c = json_first(d, p); c; c = json_next(d, p, c))
        simple &= SQL_KEY_IS(d, c, "targetList") || SQL_KEY_IS(d, c, "limitOption") ||
                  SQL_KEY_IS(d, c, "op");
    uint32_t tl = simple ? json_member(d, p, "targetList") : 0;
    for (uint32_t c = tl ? json_first(d, tl) : 0; c; c = json_next(d, tl, c)) {
        uint32_t rt = sql_node(d, c), val, fc;
        if (!rt || !(val = json_member(d, rt, "val")) || !(fc = sql_node(d, val))) continue;
        if (SQL_KEY_IS(d, fc, "FuncCall") && b->nrec < SQL_REC_MAX) b->rec[b->nrec++] = fc;
    }
    sql_scan(b, si, p, d->n[p].end, false);
    b->nrec = 0;
}

/* The statement's own text without blanks and comments around it: what replays a SET. */
static size_t sql_b_stmt_text(SqlBuild *b, int si)
{
    size_t start = b->st[si].s.loc, n = b->st[si].s.len;
    if (sql_lex_trim(b->text, &start, &n)) return sql_b_str(b, b->text + start, n);
    /* Not sure where it ends: keep it whole; a newline ends any trailing -- comment. */
    size_t at = b->nstr;
    sql_b_append(b, b->text + start, n);
    sql_b_append(b, "\n", 1);
    return sql_b_close(b, at);
}

/* SET SESSION CHARACTERISTICS AS TRANSACTION ...: one SET default_<option> each. */
static void sql_set_characteristics(SqlBuild *b, int si, uint32_t args)
{
    const JsonDoc *d = b->d;
    for (uint32_t c = args ? json_first(d, args) : 0; c && !b->oom; c = json_next(d, args, c)) {
        uint32_t de = sql_node(d, c), defname;
        if (!de || !(defname = json_member(d, de, "defname")) || d->n[defname].type != JSON_STR)
            continue;
        size_t at = b->nstr;
        sql_b_append(b, "default_", 8);
        sql_b_json_append(b, defname, true);
        size_t name = sql_b_close(b, at);
        SqlConst v = sql_const(d, json_member(d, de, "arg"));
        size_t val = v.type == SQL_C_STR ? sql_b_json(b, v.str, false) : 0;
        if (v.type != SQL_C_INT && !val) { /* not a shape we know: the statement itself */
            sql_b_set(b, si, SQL_SET_VALUE, name, sql_b_stmt_text(b, si));
            continue;
        }
        at = b->nstr;
        sql_b_append(b, "SET ", 4);
        sql_b_append_ref(b, name);
        if (val) { /* an isolation level */
            sql_b_append(b, " = ", 3);
            sql_b_literal(b, val);
        } else { /* READ ONLY / DEFERRABLE are 1, their negations 0 */
            sql_b_append(b, v.i ? " = on" : " = off", v.i ? 5 : 6);
        }
        sql_b_set(b, si, SQL_SET_VALUE, name, sql_b_close(b, at));
    }
}

/* SET, RESET, RESET ALL; SET LOCAL and SET TRANSACTION end with the transaction. */
static void sql_variable_set(SqlBuild *b, int si, uint32_t p)
{
    const JsonDoc *d = b->d;
    uint32_t kind = json_member(d, p, "kind"), local = json_member(d, p, "is_local");
    uint32_t name = json_member(d, p, "name");
    if (local && d->n[local].type == JSON_TRUE) return;
    if (kind && json_str_is(d, kind, "VAR_SET_MULTI")) {
        if (name && json_str_is(d, name, "SESSION CHARACTERISTICS"))
            sql_set_characteristics(b, si, json_member(d, p, "args"));
        return; /* SET TRANSACTION ..., SET TRANSACTION SNAPSHOT */
    }
    if (kind && json_str_is(d, kind, "VAR_RESET_ALL")) {
        sql_b_set(b, si, SQL_SET_RESET_ALL, 0, sql_b_stmt_text(b, si));
        return;
    }
    if (!name || d->n[name].type != JSON_STR) { /* every other kind names its setting */
        b->st[si].s.flags |= SQL_F_WRITE;
        b->st[si].s.pin |= SQL_PIN_UNPARSABLE;
        return;
    }
    /* VAR_SET_VALUE, VAR_SET_DEFAULT (SET x TO DEFAULT), VAR_SET_CURRENT (FROM CURRENT). */
    SqlSetKind k = kind && json_str_is(d, kind, "VAR_RESET") ? SQL_SET_RESET : SQL_SET_VALUE;
    size_t gname = sql_b_json(b, name, true);
    sql_b_set(b, si, k, gname, sql_b_stmt_text(b, si));
}

static const struct {
    const char *kind;
    SqlKind k;
} sql_txn_kinds[] = {
    {"TRANS_STMT_BEGIN", SQL_K_BEGIN},
    {"TRANS_STMT_START", SQL_K_BEGIN},
    {"TRANS_STMT_COMMIT", SQL_K_COMMIT},
    {"TRANS_STMT_ROLLBACK", SQL_K_ROLLBACK},
    {"TRANS_STMT_SAVEPOINT", SQL_K_SAVEPOINT},
    {"TRANS_STMT_RELEASE", SQL_K_RELEASE},
    {"TRANS_STMT_ROLLBACK_TO", SQL_K_ROLLBACK_TO},
    {"TRANS_STMT_PREPARE", SQL_K_PREPARE_TXN},
    {"TRANS_STMT_COMMIT_PREPARED", SQL_K_COMMIT_PREPARED},
    {"TRANS_STMT_ROLLBACK_PREPARED", SQL_K_ROLLBACK_PREPARED},
};

SqlKind sql_txn_kind(const struct JsonDoc *d, uint32_t kind)
{
    for (size_t i = 0; kind && i < sizeof sql_txn_kinds / sizeof *sql_txn_kinds; i++)
        if (json_str_is(d, kind, sql_txn_kinds[i].kind)) return sql_txn_kinds[i].k;
    return SQL_K_UNKNOWN;
}

static void sql_transaction(SqlBuild *b, int si, uint32_t p)
{
    const JsonDoc *d = b->d;
    SqlStmt *s = &b->st[si].s;
    uint32_t kind = json_member(d, p, "kind"), chain = json_member(d, p, "chain"), name;
    s->kind = SQL_K_UTILITY; /* an unknown kind: a write, conservatively */
    s->flags |= SQL_F_WRITE;
    SqlKind k = sql_txn_kind(d, kind);
    if (k != SQL_K_UNKNOWN) {
        s->kind = k;
        s->flags &= ~SQL_F_WRITE;
    }
    if (chain && d->n[chain].type == JSON_TRUE) s->flags |= SQL_F_CHAIN;
    if ((name = json_member(d, p, "savepoint_name")) || (name = json_member(d, p, "gid")))
        b->st[si].name = sql_b_json(b, name, false);
}

/* EXPLAIN runs its statement only with ANALYZE (on unless its argument says false). */
static bool sql_explain_analyze(const JsonDoc *d, uint32_t p)
{
    uint32_t opts = json_member(d, p, "options");
    for (uint32_t c = opts ? json_first(d, opts) : 0; c; c = json_next(d, opts, c)) {
        uint32_t de = sql_node(d, c), name = de ? json_member(d, de, "defname") : 0, str;
        if (!name || !json_str_is(d, name, "analyze")) continue;
        uint32_t arg = json_member(d, de, "arg");
        bool on = true;
        SqlConst v = {.type = SQL_C_OTHER};
        if ((str = sql_string(d, arg))) v = (SqlConst){.type = SQL_C_STR, .str = str};
        if (arg && !str && sql_node(d, arg) && json_key_is(d, sql_node(d, arg), "Integer"))
            return json_member(d, sql_node(d, arg), "ival") != 0; /* {} is 0 */
        if (v.type == SQL_C_STR) sql_const_bool(d, &v, &on);
        return on;
    }
    return false;
}

/* How a statement type is walked after its table entry is applied. */
typedef enum {
    SQL_W_NONE,    /* nothing in it runs now, or nothing matters */
    SQL_W_SCAN,    /* search all of it */
    SQL_W_SELECT,  /* search all; set_config targets may be recorded */
    SQL_W_SET,     /* VariableSetStmt */
    SQL_W_TXN,     /* TransactionStmt */
    SQL_W_DISCARD, /* DISCARD ALL or another */
    SQL_W_COPY,    /* FROM writes; search the query */
    SQL_W_DECLARE, /* WITH HOLD pins; search the query */
    SQL_W_EXPLAIN, /* ANALYZE: the statement it runs */
    SQL_W_CREATE,  /* CREATE TABLE: temp unless ON COMMIT DROP; search the rest */
    SQL_W_CTAS,    /* CREATE TABLE AS: the same, for its IntoClause */
    SQL_W_TEMPREL, /* CREATE SEQUENCE / VIEW: is the relation (member `arg`) temp; no search */
    SQL_W_FUNC,    /* CREATE FUNCTION pg_temp.f: temp; its body does not run now */
} SqlWalk;

typedef struct SqlType {
    const char *type; /* libpg_query's node name */
    SqlKind kind;
    unsigned flags, pin;
    const char *name; /* member holding SqlStmt.name */
    SqlWalk walk;
    const char *arg; /* SQL_W_TEMPREL: the RangeVar member */
} SqlType;

static const SqlType sql_types[] = {
    {"SelectStmt", SQL_K_SELECT, 0, 0, NULL, SQL_W_SELECT, NULL},
    {"InsertStmt", SQL_K_INSERT, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL},
    {"UpdateStmt", SQL_K_UPDATE, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL},
    {"DeleteStmt", SQL_K_DELETE, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL},
    {"MergeStmt", SQL_K_MERGE, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL},
    {"CopyStmt", SQL_K_COPY, 0, 0, NULL, SQL_W_COPY, NULL},
    {"VariableSetStmt", SQL_K_SET, 0, 0, NULL, SQL_W_SET, NULL},
    {"ConstraintsSetStmt", SQL_K_SET, 0, 0, NULL, SQL_W_NONE, NULL}, /* transaction-scoped */
    {"VariableShowStmt", SQL_K_SHOW, 0, 0, NULL, SQL_W_NONE, NULL},
    {"TransactionStmt", SQL_K_BEGIN, 0, 0, NULL, SQL_W_TXN, NULL},
    {"ListenStmt", SQL_K_LISTEN, 0, SQL_PIN_LISTEN, "conditionname", SQL_W_NONE, NULL},
    {"UnlistenStmt", SQL_K_UNLISTEN, 0, 0, "conditionname", SQL_W_NONE, NULL},
    {"NotifyStmt", SQL_K_NOTIFY, SQL_F_WRITE, 0, "conditionname", SQL_W_NONE, NULL},
    {"DiscardStmt", SQL_K_DISCARD, 0, 0, NULL, SQL_W_DISCARD, NULL},
    {"DeallocateStmt", SQL_K_DEALLOCATE, 0, 0, "name", SQL_W_NONE, NULL},
    {"PrepareStmt", SQL_K_PREPARE, 0, SQL_PIN_PREPARE, "name", SQL_W_NONE, NULL},
    {"ExecuteStmt", SQL_K_EXECUTE, SQL_F_WRITE, 0, "name", SQL_W_SCAN, NULL},
    {"DeclareCursorStmt", SQL_K_DECLARE, 0, 0, "portalname", SQL_W_DECLARE, NULL},
    {"FetchStmt", SQL_K_FETCH, 0, 0, "portalname", SQL_W_NONE, NULL},
    {"ClosePortalStmt", SQL_K_CLOSE, 0, 0, "portalname", SQL_W_NONE, NULL},
    {"ExplainStmt", SQL_K_EXPLAIN, 0, 0, NULL, SQL_W_EXPLAIN, NULL},
    {"CallStmt", SQL_K_CALL, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL},
    {"DoStmt", SQL_K_DO, SQL_F_WRITE, 0, NULL, SQL_W_NONE, NULL},
    {"LoadStmt", SQL_K_LOAD, 0, SQL_PIN_LOAD, NULL, SQL_W_NONE, NULL},
    {"CreateStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_CREATE, NULL},
    {"CreateTableAsStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_CTAS, NULL},
    {"CreateSeqStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_TEMPREL, "sequence"},
    {"ViewStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_TEMPREL, "view"},
    {"CreateFunctionStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_FUNC, NULL},
    {"RuleStmt", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_NONE, NULL}, /* actions run later */
};

/* Any other statement: a write, searched whole; a CREATE-like one for pg_temp names too. */
static const SqlType sql_type_other = {"", SQL_K_UTILITY, SQL_F_WRITE, 0, NULL, SQL_W_SCAN, NULL};

static const SqlType *sql_type_find(const JsonDoc *d, uint32_t p)
{
    for (size_t i = 0; i < sizeof sql_types / sizeof *sql_types; i++)
        if (json_key_is(d, p, sql_types[i].type)) return &sql_types[i];
    return &sql_type_other;
}

static bool sql_type_creates(const JsonDoc *d, uint32_t p)
{
    const char *k = d->text + d->n[p].key;
    size_t n = d->n[p].keylen;
    return (n > 6 && memcmp(k, "Create", 6) == 0) || (n > 6 && memcmp(k, "Define", 6) == 0) ||
           json_key_is(d, p, "CompositeTypeStmt");
}

static void sql_stmt_node(SqlBuild *b, int si, uint32_t obj);

/* Apply the walk of type t to payload p of statement si. */
static void sql_stmt_walk(SqlBuild *b, int si, const SqlType *t, uint32_t p)
{
    const JsonDoc *d = b->d;
    SqlStmt *s = &b->st[si].s;
    uint32_t m;
    switch (t->walk) {
    case SQL_W_NONE: break;
    case SQL_W_SCAN:
        sql_scan(b, si, p, d->n[p].end, t == &sql_type_other && sql_type_creates(d, p));
        break;
    case SQL_W_SELECT: sql_select(b, si, p); break;
    case SQL_W_SET: sql_variable_set(b, si, p); break;
    case SQL_W_TXN: sql_transaction(b, si, p); break;
    case SQL_W_DISCARD:
        if ((m = json_member(d, p, "target")) && json_str_is(d, m, "DISCARD_ALL"))
            s->kind = SQL_K_DISCARD_ALL;
        break;
    case SQL_W_COPY:
        if ((m = json_member(d, p, "is_from")) && d->n[m].type == JSON_TRUE)
            s->flags |= SQL_F_WRITE;
        sql_scan(b, si, p, d->n[p].end, false);
        break;
    case SQL_W_DECLARE: {
        int64_t opts = 0; /* CURSOR_OPT_HOLD = 0x20 (parsenodes.h) */
        if ((m = json_member(d, p, "options")) && json_int(d, m, &opts) && (opts & 0x20))
            s->pin |= SQL_PIN_HOLD_CURSOR;
        sql_scan(b, si, p, d->n[p].end, false);
        break;
    }
    case SQL_W_EXPLAIN:
        if (sql_explain_analyze(d, p) && (m = json_member(d, p, "query"))) {
            sql_stmt_node(b, si, m); /* ExplainableStmt: no EXPLAIN inside, so no deeper */
            s = &b->st[si].s;
            s->kind = SQL_K_EXPLAIN;
            b->st[si].name = 0;
        }
        break;
    case SQL_W_CREATE:
        m = json_member(d, p, "oncommit");
        if (sql_rangevar_temp(d, json_member(d, p, "relation")) &&
            !(m && json_str_is(d, m, "ONCOMMIT_DROP")))
            s->pin |= SQL_PIN_TEMP_OBJECT;
        sql_scan(b, si, p, d->n[p].end, false);
        break;
    case SQL_W_CTAS:
        if (sql_into_temp(d, json_member(d, p, "into"))) s->pin |= SQL_PIN_TEMP_OBJECT;
        sql_scan(b, si, p, d->n[p].end, false);
        break;
    case SQL_W_TEMPREL:
        if (sql_rangevar_temp(d, json_member(d, p, t->arg))) s->pin |= SQL_PIN_TEMP_OBJECT;
        break;
    case SQL_W_FUNC:
        m = json_member(d, p, "funcname");
        if (m && json_first(d, m) && json_next(d, m, json_first(d, m)) &&
            (m = sql_string(d, json_first(d, m))) && json_str_is(d, m, "pg_temp"))
            s->pin |= SQL_PIN_TEMP_OBJECT;
        break;
    }
}

/* Classify the statement node obj ({"SelectStmt": {...}}) into statement si. */
static void sql_stmt_node(SqlBuild *b, int si, uint32_t obj)
{
    const JsonDoc *d = b->d;
    uint32_t p = sql_node(d, obj), m;
    if (!p) {
        b->st[si].s = (SqlStmt){.kind = SQL_K_UNKNOWN,
                                .flags = SQL_F_WRITE,
                                .pin = SQL_PIN_UNPARSABLE,
                                .loc = b->st[si].s.loc,
                                .len = b->st[si].s.len,
                                .first_set = b->st[si].s.first_set};
        return;
    }
    const SqlType *t = sql_type_find(d, p);
    SqlStmt *s = &b->st[si].s;
    s->kind = t->kind;
    s->flags |= t->flags;
    s->pin |= t->pin;
    if (t->name && (m = json_member(d, p, t->name)) && d->n[m].type == JSON_STR)
        b->st[si].name = sql_b_json(b, m, false);
    sql_stmt_walk(b, si, t, p);
    s = &b->st[si].s;
    if (t->flags & SQL_F_WRITE) s->flags &= ~SQL_F_LOCKING; /* it writes anyway */
}

/* Walk libpg_query's JSON for text; false only when out of memory. */
static bool sql_walk_tree(const char *text, size_t len, const char *json, SqlInfo *out)
{
    JsonDoc d;
    SqlBuild b = {.text = text, .len = len, .d = &d};
    JsonResult jr = json_parse(&d, json, strlen(json));
    uint32_t stmts = jr == JSON_OK ? json_member(&d, 0, "stmts") : 0;
    bool ok = stmts && d.n[stmts].type == JSON_ARR;
    for (uint32_t c = ok ? json_first(&d, stmts) : 0; c && ok && !b.oom;
         c = json_next(&d, stmts, c)) {
        int64_t loc = 0, slen = 0;
        uint32_t m;
        if ((m = json_member(&d, c, "stmt_location")) && !json_int(&d, m, &loc)) ok = false;
        if ((m = json_member(&d, c, "stmt_len")) && !json_int(&d, m, &slen)) ok = false;
        if (loc < 0 || slen < 0 || (size_t)loc > len || (size_t)slen > len - (size_t)loc)
            ok = false;
        if (!ok) break;
        if (slen == 0) slen = (int64_t)len - loc; /* the last statement: the rest of the text */
        int si = sql_b_stmt(&b, SQL_K_UNKNOWN, (uint32_t)loc, (uint32_t)slen);
        if (si >= 0) sql_stmt_node(&b, si, json_member(&d, c, "stmt"));
    }
    json_free(&d);
    if (jr == JSON_NOMEM) b.oom = true;
    if (!b.oom && !ok) { /* libpg_query gave something we cannot read: conservative */
        sql_b_free(&b);
        return sql_info_unparsable(len, out);
    }
    ok = sql_b_finish(&b, out);
    sql_b_free(&b);
    return ok;
}

bool sql_classify_parse(const char *text, size_t len, SqlInfo *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0) text = "";
    /* A NUL ends the text for Postgres too (the Query message is a C string); anything after it
     * would make the message malformed. */
    if (len > SQL_PARSE_MAX_LEN || memchr(text, '\0', len)) return sql_info_unparsable(len, out);
    char *z = malloc(len + 1);
    if (!z) return false;
    memcpy(z, text, len);
    z[len] = '\0';
    PgQueryParseResult r = pg_query_parse(z);
    free(z);
    bool ok = r.error || !r.parse_tree ? sql_info_unparsable(len, out)
                                       : sql_walk_tree(text, len, r.parse_tree, out);
    pg_query_free_parse_result(r);
    return ok;
}

bool sql_classify_uncached(const char *text, size_t len, SqlInfo *out)
{
    SqlStmt st;
    if (!sql_prefilter(text, len, &st)) return sql_classify_parse(text, len, out);
    if (!sql_info_single(&st, out)) return false;
    out->flags |= SQL_F_PREFILTERED;
    return true;
}

/* ---- Names ---- */

const char *sql_pin_reason_str(unsigned pin_bit)
{
    switch (pin_bit) {
    case SQL_PIN_LISTEN: return "LISTEN";
    case SQL_PIN_ADVISORY_LOCK: return "session advisory lock";
    case SQL_PIN_TEMP_OBJECT: return "temporary object";
    case SQL_PIN_HOLD_CURSOR: return "cursor WITH HOLD";
    case SQL_PIN_PREPARE: return "SQL PREPARE";
    case SQL_PIN_LOAD: return "LOAD";
    case SQL_PIN_SET_CONFIG: return "set_config with non-constant arguments";
    case SQL_PIN_UNPARSABLE: return "unparsable statement";
    default: return "unknown";
    }
}

const char *sql_kind_str(SqlKind kind)
{
    static const char *const names[] = {
        [SQL_K_UNKNOWN] = "UNKNOWN",
        [SQL_K_SELECT] = "SELECT",
        [SQL_K_INSERT] = "INSERT",
        [SQL_K_UPDATE] = "UPDATE",
        [SQL_K_DELETE] = "DELETE",
        [SQL_K_MERGE] = "MERGE",
        [SQL_K_COPY] = "COPY",
        [SQL_K_SET] = "SET",
        [SQL_K_SHOW] = "SHOW",
        [SQL_K_BEGIN] = "BEGIN",
        [SQL_K_COMMIT] = "COMMIT",
        [SQL_K_ROLLBACK] = "ROLLBACK",
        [SQL_K_SAVEPOINT] = "SAVEPOINT",
        [SQL_K_RELEASE] = "RELEASE",
        [SQL_K_ROLLBACK_TO] = "ROLLBACK TO",
        [SQL_K_PREPARE_TXN] = "PREPARE TRANSACTION",
        [SQL_K_COMMIT_PREPARED] = "COMMIT PREPARED",
        [SQL_K_ROLLBACK_PREPARED] = "ROLLBACK PREPARED",
        [SQL_K_LISTEN] = "LISTEN",
        [SQL_K_UNLISTEN] = "UNLISTEN",
        [SQL_K_NOTIFY] = "NOTIFY",
        [SQL_K_DISCARD_ALL] = "DISCARD ALL",
        [SQL_K_DISCARD] = "DISCARD",
        [SQL_K_DEALLOCATE] = "DEALLOCATE",
        [SQL_K_PREPARE] = "PREPARE",
        [SQL_K_EXECUTE] = "EXECUTE",
        [SQL_K_DECLARE] = "DECLARE",
        [SQL_K_FETCH] = "FETCH",
        [SQL_K_CLOSE] = "CLOSE",
        [SQL_K_EXPLAIN] = "EXPLAIN",
        [SQL_K_CALL] = "CALL",
        [SQL_K_DO] = "DO",
        [SQL_K_LOAD] = "LOAD",
        [SQL_K_UTILITY] = "UTILITY",
    };
    return (unsigned)kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "UNKNOWN";
}
