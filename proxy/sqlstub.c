/* sqlstub.c - INTERIM lexical classifier (see sqlstub.h); replaced by branch `sql`. */
#include "sqlstub.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define STUB_MAX 16

struct SqlCache {
    SqlInfo info;
    SqlStmt stmts[STUB_MAX];
    SqlSet sets[STUB_MAX];
    char *strings; /* names and statement texts of the last answer */
    size_t used, cap;
};

SqlCache *sql_cache_new(size_t max_entries, size_t max_bytes)
{
    (void)max_entries, (void)max_bytes;
    return calloc(1, sizeof(SqlCache));
}

void sql_cache_free(SqlCache *c)
{
    if (c) free(c->strings);
    free(c);
}

const char *sql_pin_reason_str(unsigned pin_bit)
{
    switch (pin_bit) {
    case SQL_PIN_LISTEN: return "LISTEN";
    case SQL_PIN_ADVISORY_LOCK: return "session advisory lock";
    case SQL_PIN_TEMP_OBJECT: return "temporary table";
    case SQL_PIN_HOLD_CURSOR: return "WITH HOLD cursor";
    case SQL_PIN_PREPARE: return "SQL PREPARE";
    case SQL_PIN_LOAD: return "LOAD";
    case SQL_PIN_SET_CONFIG: return "set_config";
    case SQL_PIN_UNPARSABLE: return "unparsable statement";
    default: return "unknown";
    }
}

static char *keep(SqlCache *c, const char *s, size_t n, bool lower)
{
    if (c->used + n + 1 > c->cap) return NULL; /* sized up front in sql_classify */
    char *d = c->strings + c->used;
    for (size_t i = 0; i < n; i++)
        d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    d[n] = '\0';
    c->used += n + 1;
    return d;
}

/* The next word of s[*i, n) (letters, digits, '_' and '.'), lowercased into w. */
static size_t word(const char *s, size_t n, size_t *i, char *w, size_t wcap)
{
    size_t k = 0;
    while (*i < n && isspace((unsigned char)s[*i]))
        (*i)++;
    while (*i < n && (isalnum((unsigned char)s[*i]) || s[*i] == '_' || s[*i] == '.')) {
        if (k + 1 < wcap) w[k++] = (char)tolower((unsigned char)s[*i]);
        (*i)++;
    }
    w[k] = '\0';
    return k;
}

static bool has(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(s + i, needle, m) == 0) return true;
    return false;
}

static void stub_set(SqlCache *c, SqlStmt *st, SqlSetKind kind, const char *name, size_t nlen,
                     const char *s, size_t n)
{
    SqlInfo *in = &c->info;
    if (in->nsets == STUB_MAX) return;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    SqlSet *x = &c->sets[in->nsets];
    x->kind = kind;
    x->stmt = in->nstmts;
    x->name = name ? keep(c, name, nlen, true) : NULL;
    x->sql = keep(c, s, n, false);
    if (st->nsets++ == 0) st->first_set = in->nsets;
    in->nsets++;
}

static void stub_stmt(SqlCache *c, const char *s, size_t n)
{
    SqlInfo *in = &c->info;
    char w1[64], w2[64], w3[64];
    size_t i = 0;
    if (in->nstmts == STUB_MAX || !word(s, n, &i, w1, sizeof w1)) return;
    SqlStmt *st = &c->stmts[in->nstmts];
    memset(st, 0, sizeof *st);
    st->kind = SQL_K_SELECT;
    size_t after1 = i;
    word(s, n, &i, w2, sizeof w2);
    size_t w2end = i;
    if (strcmp(w1, "listen") == 0) {
        st->kind = SQL_K_LISTEN, st->pin = SQL_PIN_LISTEN;
    } else if (strcmp(w1, "load") == 0) {
        st->kind = SQL_K_LOAD, st->pin = SQL_PIN_LOAD;
    } else if (strcmp(w1, "prepare") == 0 && strcmp(w2, "transaction") != 0) {
        st->kind = SQL_K_PREPARE, st->pin = SQL_PIN_PREPARE;
    } else if (strcmp(w1, "declare") == 0 && has(s, n, "with hold")) {
        st->pin = SQL_PIN_HOLD_CURSOR;
    } else if (strcmp(w1, "create") == 0 &&
               (has(s, n, "create temp") || has(s, n, "create local temp"))) {
        st->pin = SQL_PIN_TEMP_OBJECT;
    } else if (strcmp(w1, "discard") == 0 && strcmp(w2, "all") == 0) {
        st->kind = SQL_K_DISCARD_ALL;
    } else if (strcmp(w1, "deallocate") == 0) {
        st->kind = SQL_K_DEALLOCATE;
        if (strcmp(w2, "prepare") == 0) word(s, n, &i, w2, sizeof w2);
        st->name = strcmp(w2, "all") == 0 ? NULL : keep(c, w2, strlen(w2), false);
    } else if (strcmp(w1, "begin") == 0 || strcmp(w1, "start") == 0) {
        st->kind = SQL_K_BEGIN;
    } else if (strcmp(w1, "commit") == 0 || strcmp(w1, "end") == 0) {
        st->kind = SQL_K_COMMIT;
    } else if (strcmp(w1, "rollback") == 0 || strcmp(w1, "abort") == 0) {
        st->kind = has(s, n, " to ") ? SQL_K_ROLLBACK_TO : SQL_K_ROLLBACK;
    } else if (strcmp(w1, "reset") == 0) {
        st->kind = SQL_K_SET;
        if (strcmp(w2, "all") == 0)
            stub_set(c, st, SQL_SET_RESET_ALL, NULL, 0, s, n);
        else
            stub_set(c, st, SQL_SET_RESET, w2, strlen(w2), s, n);
    } else if (strcmp(w1, "set") == 0) {
        st->kind = SQL_K_SET;
        if (strcmp(w2, "session") == 0) {
            size_t j = w2end;
            word(s, n, &j, w3, sizeof w3);
            if (strcmp(w3, "characteristics") != 0 && strcmp(w3, "authorization") != 0) {
                memcpy(w2, w3, sizeof w2);
                w2end = j;
            }
        }
        if (strcmp(w2, "local") != 0 && strcmp(w2, "transaction") != 0 &&
            strcmp(w2, "constraints") != 0 && strcmp(w2, "session") != 0) {
            if (strcmp(w2, "time") == 0) strcpy(w2, "timezone");
            stub_set(c, st, SQL_SET_VALUE, w2, strlen(w2), s, n);
        }
    }
    (void)after1;
    if (has(s, n, "pg_advisory_lock") || has(s, n, "pg_try_advisory_lock") ||
        has(s, n, "pg_advisory_lock_shared"))
        st->pin |= SQL_PIN_ADVISORY_LOCK;
    if (has(s, n, "set_config(") && !has(s, n, "true)")) st->pin |= SQL_PIN_SET_CONFIG;
    in->pin |= st->pin;
    in->nstmts++;
}

const SqlInfo *sql_classify(SqlCache *c, const char *text, size_t len)
{
    if (c->cap < 2 * len + 256) {
        char *p = realloc(c->strings, 2 * len + 256);
        if (!p) return NULL;
        c->strings = p, c->cap = 2 * len + 256;
    }
    c->used = 0;
    memset(&c->info, 0, sizeof c->info);
    c->info.stmts = c->stmts;
    c->info.sets = c->sets;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == ';') {
            stub_stmt(c, text + start, i - start);
            start = i + 1;
        }
    }
    return &c->info;
}
