/* fuzz_sql.c - libFuzzer target: statement classification (proxy/sql.c, sql_lex.c, json.c over
 * libpg_query, sql_cache.c) on arbitrary text.
 *
 * Input: the statement text, handed over as an exact-size heap copy without a NUL. Checked: the
 * parser's answer is well formed (ranges inside the text, sets pointing at their statements,
 * unions of the statements' flags and pins); when the pre-filter answers and the text parses,
 * the two agree; a cache (made once, shared by all inputs, so eviction runs too) returns the
 * same answer. */
#include "fuzz_util.h"
#include "sql.h"

#define FUZZ_SQL_MAX 65536 /* longer texts only make runs slower */

/* Made once; lives for the process (reachable, so not a leak). */
static SqlCache *cache;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cache = sql_cache_new(64, 1 << 16);
    FUZZ_ASSERT(cache != NULL);
    return 0;
}

static void sql_check_info(const SqlInfo *in, size_t len)
{
    unsigned flags = 0, pin = 0;
    FUZZ_ASSERT(in->nstmts >= 0 && in->nsets >= 0);
    for (int i = 0; i < in->nstmts; i++) {
        const SqlStmt *s = &in->stmts[i];
        FUZZ_ASSERT(s->kind >= SQL_K_UNKNOWN && s->kind <= SQL_K_UTILITY);
        FUZZ_ASSERT((size_t)s->loc + s->len <= len);
        FUZZ_ASSERT(s->first_set >= 0 && s->nsets >= 0 && s->first_set + s->nsets <= in->nsets);
        FUZZ_ASSERT(!(s->flags & SQL_F_LOCKING) || (s->flags & SQL_F_WRITE));
        FUZZ_ASSERT(s->pin < (1u << SQL_PIN_COUNT));
        flags |= s->flags;
        pin |= s->pin;
    }
    FUZZ_ASSERT((in->flags & ~SQL_F_PREFILTERED) == flags && in->pin == pin);
    for (int i = 0; i < in->nsets; i++) {
        const SqlSet *t = &in->sets[i];
        FUZZ_ASSERT(t->stmt >= 0 && t->stmt < in->nstmts);
        FUZZ_ASSERT(i >= in->stmts[t->stmt].first_set &&
                    i < in->stmts[t->stmt].first_set + in->stmts[t->stmt].nsets);
        FUZZ_ASSERT(t->sql != NULL && t->sql[0] != '\0');
        FUZZ_ASSERT((t->name != NULL) == (t->kind != SQL_SET_RESET_ALL));
    }
}

/* Same verdict (what the consumers act on). */
static void sql_check_same(const SqlInfo *a, const SqlInfo *b)
{
    FUZZ_ASSERT((a->flags & ~SQL_F_PREFILTERED) == (b->flags & ~SQL_F_PREFILTERED));
    FUZZ_ASSERT(a->pin == b->pin && a->nstmts == b->nstmts && a->nsets == b->nsets);
    for (int i = 0; i < a->nstmts; i++)
        FUZZ_ASSERT(a->stmts[i].kind == b->stmts[i].kind && a->stmts[i].loc == b->stmts[i].loc &&
                    a->stmts[i].len == b->stmts[i].len);
    for (int i = 0; i < a->nsets; i++)
        FUZZ_ASSERT(strcmp(a->sets[i].sql, b->sets[i].sql) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_SQL_MAX) return 0;
    char *text = (char *)fuzz_dup(data, size);
    SqlInfo parsed;
    FUZZ_ASSERT(sql_classify_parse(text, size, &parsed));
    sql_check_info(&parsed, size);
    SqlStmt st;
    if (sql_prefilter(text, size, &st)) {
        SqlInfo one = {.flags = st.flags | SQL_F_PREFILTERED, .nstmts = 1, .stmts = &st};
        sql_check_info(&one, size);
        if (parsed.pin != SQL_PIN_UNPARSABLE) sql_check_same(&one, &parsed);
    }
    const SqlInfo *cached = sql_classify(cache, text, size);
    FUZZ_ASSERT(cached != NULL);
    sql_check_info(cached, size);
    if (!(cached->flags & SQL_F_PREFILTERED)) sql_check_same(cached, &parsed);
    sql_info_free(&parsed);
    free(text);
    return 0;
}
