/* test_sql_cache.c - Check suite for proxy/sql_cache.c: a cached answer is the uncached one,
 * hits and misses are counted, texts one byte apart never share an answer, and the entry and
 * byte bounds hold through eviction and heavy index churn. */
#include "sql.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SqlInfo cls(const char *sql)
{
    SqlInfo in;
    ck_assert_msg(sql_classify_uncached(sql, strlen(sql), &in), "OOM on %s", sql);
    return in;
}

static bool info_same(const SqlInfo *a, const SqlInfo *b)
{
    if ((a->flags & ~SQL_F_PREFILTERED) != (b->flags & ~SQL_F_PREFILTERED) || a->pin != b->pin ||
        a->nstmts != b->nstmts || a->nsets != b->nsets)
        return false;
    for (int i = 0; i < a->nstmts; i++)
        if (a->stmts[i].kind != b->stmts[i].kind || a->stmts[i].flags != b->stmts[i].flags ||
            a->stmts[i].loc != b->stmts[i].loc || a->stmts[i].len != b->stmts[i].len)
            return false;
    for (int i = 0; i < a->nsets; i++)
        if (strcmp(a->sets[i].sql, b->sets[i].sql) != 0) return false;
    return true;
}

START_TEST(test_cache_hit)
{
    SqlCache *c = sql_cache_new(64, 1 << 16);
    ck_assert_ptr_nonnull(c);
    static const char *const texts[] = {
        "SET idle_in_transaction_session_timeout = 60000",  /* parsed */
        "SELECT status FROM workflow_status WHERE id = $1", /* pre-filtered */
        "SELECT 1 FROM t FOR UPDATE; LISTEN x",             /* parsed */
        "",
    };
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            const SqlInfo *ci = sql_classify(c, texts[i], strlen(texts[i]));
            ck_assert_ptr_nonnull(ci);
            SqlInfo u = cls(texts[i]);
            ck_assert_msg(info_same(ci, &u), "round %d: %s", round, texts[i]);
            sql_info_free(&u);
        }
    }
    SqlCacheStats st;
    sql_cache_stats(c, &st);
    ck_assert_uint_eq(st.parses, 3); /* the empty text parses to nothing, once */
    ck_assert_uint_eq(st.prefiltered, 1);
    ck_assert_uint_eq(st.hits, 8);
    ck_assert_uint_eq(st.entries, 4);
    ck_assert_uint_gt(st.bytes, 0);
    ck_assert_uint_eq(st.evictions, 0);

    /* Same length, one byte apart: no false hit. */
    const SqlInfo *a = sql_classify(c, "LISTEN aaaa", 11);
    ck_assert_uint_eq(a->pin, SQL_PIN_LISTEN);
    const SqlInfo *b = sql_classify(c, "NOTIFY aaaa", 11);
    ck_assert_uint_eq(b->pin, 0);
    ck_assert_uint_eq(b->flags, SQL_F_WRITE);
    ck_assert_str_eq(b->stmts[0].name, "aaaa");
    sql_cache_free(c);
    sql_cache_free(NULL);
    ck_assert_ptr_null(sql_cache_new(0, 100));
    ck_assert_ptr_null(sql_cache_new(10, 0));
}
END_TEST

START_TEST(test_cache_eviction)
{
    SqlCache *c = sql_cache_new(4, 1 << 20);
    char sql[64];
    /* A hot statement used between every new one stays (CLOCK gives it second chances). */
    const char *hot = "SET hot = 1";
    for (int i = 0; i < 40; i++) {
        ck_assert_ptr_nonnull(sql_classify(c, hot, strlen(hot)));
        snprintf(sql, sizeof sql, "SET cold_%d = %d", i, i);
        const SqlInfo *ci = sql_classify(c, sql, strlen(sql));
        ck_assert_ptr_nonnull(ci);
        ck_assert_int_eq(ci->nsets, 1);
        ck_assert_str_eq(ci->sets[0].sql, sql);
    }
    SqlCacheStats st;
    sql_cache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 4);
    ck_assert_uint_eq(st.parses, 41);
    ck_assert_uint_eq(st.hits, 39);
    ck_assert_uint_eq(st.evictions, 37);
    /* Evicted texts come back right (parsed again). */
    const SqlInfo *ci = sql_classify(c, "SET cold_0 = 0", 14);
    ck_assert_str_eq(ci->sets[0].name, "cold_0");
    sql_cache_free(c);

    /* The byte bound: small entries only, however many slots. */
    c = sql_cache_new(1000, 4096);
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof sql, "LISTEN channel_number_%d", i);
        ck_assert_ptr_nonnull(sql_classify(c, sql, strlen(sql)));
        sql_cache_stats(c, &st);
        ck_assert_uint_le(st.bytes, 4096);
    }
    ck_assert_uint_lt(st.entries, 200);
    ck_assert_uint_gt(st.evictions, 0);
    sql_cache_free(c);
}
END_TEST

/* Many inserts and removals through one small index: every surviving text is still found. */
START_TEST(test_cache_index_churn)
{
    SqlCache *c = sql_cache_new(7, 1 << 20);
    char sql[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(sql, sizeof sql, "SELECT %d FOR UPDATE", i % 23);
        const SqlInfo *ci = sql_classify(c, sql, strlen(sql));
        ck_assert_ptr_nonnull(ci);
        ck_assert_uint_eq(ci->flags, SQL_F_WRITE | SQL_F_LOCKING);
    }
    SqlCacheStats st;
    sql_cache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 7);
    ck_assert_uint_eq(st.hits + st.parses, 2000);
    ck_assert_uint_eq(st.parses - st.evictions, 7);
    sql_cache_free(c);
}
END_TEST

static Suite *sql_cache_suite(void)
{
    Suite *s = suite_create("sql_cache");
    TCase *tk = tcase_create("cache");
    tcase_add_test(tk, test_cache_hit);
    tcase_add_test(tk, test_cache_eviction);
    tcase_add_test(tk, test_cache_index_churn);
    suite_add_tcase(s, tk);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sql_cache_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
