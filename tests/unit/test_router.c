/* test_router.c - Check suite for the routing planner (proxy/router*.c): the plan of every
 * statement family DBOS sends (router_cases_dbos.h, from shared/reference/dbos-sysdb.md), the
 * planner's edge cases and refusals (router_cases_edge.h), the statement each shard runs when
 * rows merge, the configured schema, statement ranges, unplannable texts, messages, the plan
 * cache, deep nesting, and planning from two threads at once. Bind time is
 * test_router_bind.c. */
#include "router.h"
#include "router_cases_dbos.h"
#include "router_cases_edge.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---- */

/* What every plan must satisfy, whatever the text. */
static void check_plan(const RoutePlan *p, size_t textlen)
{
    ck_assert_uint_le((size_t)p->loc + p->len, textlen);
    ck_assert_int_ge(p->kind, ROUTE_REFUSE);
    ck_assert_int_le(p->kind, ROUTE_SESSION_ALL);
    if (p->kind == ROUTE_REFUSE) ck_assert(p->reason && p->reason[0]);
    for (int i = 0; i < p->nkeys; i++) {
        const RouteKey *k = &p->keys[i];
        if (k->src == ROUTE_SRC_PARAM || k->src == ROUTE_SRC_ARRAY) ck_assert_uint_ge(k->param, 1);
        if (k->src == ROUTE_SRC_CONST) ck_assert_uint_eq(strlen(k->value), k->len);
        if (p->kind == ROUTE_KEY_ROWS) ck_assert(k->row >= 0 && k->row < p->nrows);
    }
    if (p->kind == ROUTE_KEY_ROWS) {
        ck_assert_int_ge(p->nrows, 2);
        for (int i = 0; i < p->nrows; i++) {
            ck_assert(p->rows[i].start >= p->loc && p->rows[i].end <= p->loc + p->len);
            ck_assert(p->rows[i].start < p->rows[i].end);
            if (i) ck_assert_uint_gt(p->rows[i].start, p->rows[i - 1].end);
        }
    }
    if (p->merge.shard_sql) { /* what the shards run must parse */
        RouteInfo in;
        const char *s = p->merge.shard_sql;
        ck_assert(router_plan_uncached(s, strlen(s), "dbos", &in));
        ck_assert_int_eq(in.nplans, 1);
        ck_assert_msg(!in.plans[0].reason || !strstr(in.plans[0].reason, "cannot parse"),
                      "rewritten text does not parse: %s", s);
        route_info_free(&in);
    }
}

/* The descriptions of every statement of sql, joined by " | "; caller frees. */
static char *describe_all(const char *sql, size_t len, const char *schema, RouteInfo *keep)
{
    RouteInfo in;
    ck_assert_msg(router_plan_uncached(sql, len, schema, &in), "OOM on %s", sql);
    size_t cap = 256 + 2048 * (size_t)in.nplans, used = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    out[0] = '\0';
    for (int i = 0; i < in.nplans; i++) {
        check_plan(&in.plans[i], len);
        char d[2048];
        router_describe(&in.plans[i], d, sizeof d);
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " | " : "", d);
    }
    if (keep)
        *keep = in;
    else
        route_info_free(&in);
    return out;
}

static void expect(const char *sql, const char *want)
{
    char *got = describe_all(sql, strlen(sql), "dbos", NULL);
    ck_assert_msg(strcmp(got, want) == 0, "\n  sql:  %s\n  got:  %s\n  want: %s", sql, got, want);
    free(got);
}

/* ---- Every DBOS statement family ---- */

START_TEST(test_dbos)
{
    const RouteCase *c = &route_dbos[_i];
    char *got = describe_all(c->sql, strlen(c->sql), "dbos", NULL);
    ck_assert_msg(strcmp(got, c->plan) == 0, "\n  %s\n  sql:  %s\n  got:  %s\n  want: %s",
                  c->family, c->sql, got, c->plan);
    free(got);
}
END_TEST

/* Each family of the reference is covered: the ids of section 2.1 all appear. */
START_TEST(test_dbos_coverage)
{
    static const char *const ids[] = {
        "A1", "A2",  "A3", "A4",  "A5",  "A6", "A7", "A8", "B1", "B2", "B3", "B4",  "B6",
        "B7", "B8",  "B9", "B10", "B11", "C1", "C4", "C5", "C6", "C7", "C8", "C10", "C11",
        "D1", "D2",  "D3", "D4",  "D5",  "E1", "E2", "E3", "E4", "E5", "E6", "E7",  "E8",
        "E9", "E10", "F1", "F2",  "F3",  "F4", "F5", "F6", "F7", "F8", "G",  "1.4", "2.3"};
    size_t n = sizeof route_dbos / sizeof *route_dbos;
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++) {
            const char *f = route_dbos[k].family;
            size_t l = strlen(ids[i]);
            for (const char *at = strstr(f, ids[i]); at && !found; at = strstr(at + 1, ids[i]))
                found = (at == f || at[-1] == '/' || at[-1] == ' ') &&
                        (at[l] == ' ' || at[l] == '/' || at[l] == ',' || at[l] == '\0');
        }
        ck_assert_msg(found, "family %s has no case", ids[i]);
    }
}
END_TEST

/* What kind of statement each plan says it is, for the runtime's transaction logic. */
START_TEST(test_stmt_kinds)
{
    static const struct {
        const char *sql;
        SqlKind kinds[4];
    } cases[] = {
        {"BEGIN; SELECT 1; COMMIT", {SQL_K_BEGIN, SQL_K_SELECT, SQL_K_COMMIT}},
        {"SAVEPOINT a; RELEASE a; ROLLBACK TO a; ROLLBACK",
         {SQL_K_SAVEPOINT, SQL_K_RELEASE, SQL_K_ROLLBACK_TO, SQL_K_ROLLBACK}},
        {"INSERT INTO dbos.queues (name) VALUES ('q'); UPDATE dbos.queues SET name = 'r'; "
         "DELETE FROM dbos.queues",
         {SQL_K_INSERT, SQL_K_UPDATE, SQL_K_DELETE}},
        {"SET LOCAL a = 1; SET a = 1; SHOW a; LISTEN c",
         {SQL_K_SET, SQL_K_SET, SQL_K_SHOW, SQL_K_LISTEN}},
        {"DISCARD ALL; DISCARD PLANS; EXPLAIN SELECT 1; CREATE TABLE t (a int)",
         {SQL_K_DISCARD_ALL, SQL_K_DISCARD, SQL_K_EXPLAIN, SQL_K_UTILITY}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        RouteInfo in;
        ck_assert(router_plan_uncached(cases[i].sql, strlen(cases[i].sql), "dbos", &in));
        for (int k = 0; k < in.nplans; k++)
            ck_assert_msg(in.plans[k].stmt_kind == cases[i].kinds[k], "%s: statement %d is %s",
                          cases[i].sql, k, sql_kind_str(in.plans[k].stmt_kind));
        route_info_free(&in);
    }
}
END_TEST

/* ---- The planner's edge cases ---- */

START_TEST(test_edge)
{
    expect(route_edge[_i].sql, route_edge[_i].plan);
}
END_TEST

/* ---- What each shard runs when rows merge ---- */

static const struct {
    const char *sql, *shard_sql; /* shard_sql NULL: the statement as sent */
} shard_sql_cases[] = {
    /* E1 dequeue: the sort columns go first, the merge strips them. */
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 "
     "ORDER BY priority ASC, created_at ASC LIMIT 10 FOR UPDATE SKIP LOCKED",
     "SELECT \"priority\" AS \"?pgpin_sort_1\", \"created_at\" AS \"?pgpin_sort_2\", "
     "workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 ORDER BY "
     "priority ASC, created_at ASC LIMIT 10 FOR UPDATE SKIP LOCKED"},
    /* F7: each shard returns LIMIT + OFFSET rows and skips none; $5 stays referenced. */
    {"SELECT workflow_uuid, created_at FROM dbos.workflow_status ORDER BY created_at DESC LIMIT "
     "$4 OFFSET $5",
     "SELECT workflow_uuid, created_at FROM dbos.workflow_status ORDER BY created_at DESC LIMIT "
     "($4::int8 + $5::int8) OFFSET (0 * $5::int8)"},
    /* G: a literal LIMIT, a parameter OFFSET. */
    {"SELECT created_at FROM dbos.workflow_status ORDER BY created_at DESC LIMIT 1 OFFSET $1",
     "SELECT created_at FROM dbos.workflow_status ORDER BY created_at DESC LIMIT (1 + $1::int8) "
     "OFFSET (0 * $1::int8)"},
    /* F8: literals fold. */
    {"SELECT DISTINCT workflow_uuid FROM dbos.workflow_status ORDER BY workflow_uuid LIMIT 1 "
     "OFFSET 500",
     "SELECT DISTINCT workflow_uuid FROM dbos.workflow_status ORDER BY workflow_uuid LIMIT 501 "
     "OFFSET 0"},
    /* OFFSET before LIMIT, FETCH FIRST spelling. */
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at OFFSET $1 ROWS FETCH "
     "FIRST $2 ROWS ONLY",
     "SELECT \"created_at\" AS \"?pgpin_sort_1\", workflow_uuid FROM dbos.workflow_status ORDER "
     "BY created_at OFFSET (0 * $1::int8) ROWS FETCH FIRST ($2::int8 + $1::int8) ROWS ONLY"},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT ALL OFFSET 5",
     "SELECT workflow_uuid FROM dbos.workflow_status LIMIT ALL OFFSET 0"},
    /* Positions in ORDER BY move past the added columns; a repeated key is added once. */
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at DESC NULLS LAST, "
     "priority NULLS FIRST, 1 DESC, created_at",
     "SELECT \"created_at\" AS \"?pgpin_sort_1\", \"priority\" AS \"?pgpin_sort_2\", "
     "workflow_uuid FROM dbos.workflow_status ORDER BY created_at DESC NULLS LAST, priority "
     "NULLS FIRST, 3 DESC, created_at"},
    /* Qualified and quoted names are quoted back exactly. */
    {"SELECT ws.workflow_uuid FROM dbos.workflow_status ws ORDER BY ws.\"created_at\"",
     "SELECT \"ws\".\"created_at\" AS \"?pgpin_sort_1\", ws.workflow_uuid FROM "
     "dbos.workflow_status ws ORDER BY ws.\"created_at\""},
    /* Nothing to change: the statement as sent. */
    {"SELECT created_at FROM dbos.workflow_status ORDER BY created_at LIMIT 5", NULL},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT 5 OFFSET 0", NULL},
    {"SELECT count(*) FROM dbos.workflow_status WHERE queue_name = $1", NULL},
};

START_TEST(test_shard_sql)
{
    RouteInfo in;
    const char *sql = shard_sql_cases[_i].sql, *want = shard_sql_cases[_i].shard_sql;
    char *d = describe_all(sql, strlen(sql), "dbos", &in);
    ck_assert_int_eq(in.nplans, 1);
    const RoutePlan *p = &in.plans[0];
    ck_assert_msg(p->kind == ROUTE_FANOUT_READ && p->merge.ok, "%s: %s", sql, d);
    if (!want)
        ck_assert_msg(!p->merge.shard_sql, "%s: rewrote to %s", sql, p->merge.shard_sql);
    else
        ck_assert_msg(p->merge.shard_sql && strcmp(p->merge.shard_sql, want) == 0,
                      "\n  sql:  %s\n  got:  %s\n  want: %s", sql,
                      p->merge.shard_sql ? p->merge.shard_sql : "(none)", want);
    free(d);
    route_info_free(&in);
}
END_TEST

/* In a text of several statements the rewrite is of its own statement only. */
START_TEST(test_shard_sql_multi)
{
    const char *sql = "SELECT 1; /* c */ SELECT workflow_uuid FROM dbos.workflow_status ORDER BY "
                      "created_at LIMIT 2 OFFSET 1;";
    RouteInfo in;
    char *d = describe_all(sql, strlen(sql), "dbos", &in);
    ck_assert_int_eq(in.nplans, 2);
    ck_assert_str_eq(in.plans[1].merge.shard_sql,
                     "SELECT \"created_at\" AS \"?pgpin_sort_1\", workflow_uuid FROM "
                     "dbos.workflow_status ORDER BY created_at LIMIT 3 OFFSET 0");
    free(d);
    route_info_free(&in);
}
END_TEST

/* Sort keys too long to add in front are refused, never cut short (found by fuzz_router). */
START_TEST(test_shard_sql_too_long)
{
    char sql[2048] = "SELECT workflow_uuid FROM dbos.workflow_status ORDER BY ";
    for (int i = 0; i < 15; i++) { /* 15 names of 63 bytes, quoted, do not fit in 1 kB */
        size_t n = strlen(sql);
        snprintf(sql + n, sizeof sql - n, "%s\"c%02d_%s\"", i ? ", " : "", i,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\"x");
    }
    char *got = describe_all(sql, strlen(sql), "dbos", NULL);
    ck_assert_str_eq(got, "REFUSE: it reads rows of every shard and its ORDER BY is too long to "
                          "rewrite");
    free(got);
    /* Quotes inside a name are doubled back. */
    const char *q = "SELECT workflow_uuid FROM dbos.workflow_status ORDER BY \"a\"\"b\"";
    RouteInfo in;
    got = describe_all(q, strlen(q), "dbos", &in);
    ck_assert_str_eq(in.plans[0].merge.shard_sql,
                     "SELECT \"a\"\"b\" AS \"?pgpin_sort_1\", workflow_uuid FROM "
                     "dbos.workflow_status ORDER BY \"a\"\"b\"");
    free(got);
    route_info_free(&in);
}
END_TEST

/* ---- The configured schema ---- */

START_TEST(test_schema)
{
    static const struct {
        const char *schema, *sql, *plan;
    } cases[] = {
        {"tenant_a", "SELECT * FROM tenant_a.workflow_status WHERE workflow_uuid = $1",
         "KEY each keys=$1"},
        {"tenant_a", "SELECT * FROM workflow_status WHERE workflow_uuid = $1", "KEY each keys=$1"},
        {"tenant_a", "SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1",
         "REFUSE: it uses dbos.workflow_status, which is not a DBOS system table: pgpin cannot "
         "tell whether its rows are split across the shards or copied on each"},
        {"tenant_a", "SELECT tenant_a.enqueue_workflow('w', 'q', workflow_id => $1)",
         "KEY one keys=$1! +write"},
        {"tenant_a", "SELECT dbos.enqueue_workflow('w', 'q', workflow_id => $1)", "REF_READ"},
        {"tenant_a", "SELECT * FROM tenant_a.queues", "REF_READ"},
        {"DBOS", "SELECT * FROM \"DBOS\".workflow_status WHERE workflow_uuid = $1",
         "KEY each keys=$1"},
        {"DBOS", "SELECT * FROM DBOS.workflow_status WHERE workflow_uuid = $1",
         "REFUSE: it uses dbos.workflow_status, which is not a DBOS system table: pgpin cannot "
         "tell whether its rows are split across the shards or copied on each"},
        {"my\"s", "SELECT * FROM \"my\"\"s\".notifications WHERE destination_uuid = $1",
         "KEY each keys=$1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = describe_all(cases[i].sql, strlen(cases[i].sql), cases[i].schema, NULL);
        ck_assert_msg(strcmp(got, cases[i].plan) == 0, "%s / %s: %s", cases[i].schema, cases[i].sql,
                      got);
        free(got);
    }
}
END_TEST

/* ---- Texts ---- */

START_TEST(test_locations)
{
    const char *sql = "  -- lead\n BEGIN ;SELECT 1\n; /* x */ LISTEN c;;COMMIT";
    RouteInfo in;
    ck_assert(router_plan_uncached(sql, strlen(sql), "dbos", &in));
    ck_assert_int_eq(in.nplans, 4);
    static const char *const want[] = {"BEGIN", "SELECT 1", "LISTEN c", "COMMIT"};
    for (int i = 0; i < 4; i++) {
        const RoutePlan *p = &in.plans[i];
        ck_assert_msg(strstr(sql + p->loc, want[i]) == sql + p->loc ||
                          memmem(sql + p->loc, p->len, want[i], strlen(want[i])),
                      "statement %d at %u+%u", i, p->loc, p->len);
        ck_assert_uint_le(p->loc + p->len, strlen(sql));
    }
    route_info_free(&in);
    /* Not NUL-terminated: only the given bytes. */
    const char buf[] = "SELECT 1; SELECT 2 garbage that is not part of it";
    ck_assert(router_plan_uncached(buf, 18, "dbos", &in));
    ck_assert_int_eq(in.nplans, 2);
    ck_assert_uint_eq(in.plans[1].loc + in.plans[1].len, 18);
    route_info_free(&in);
}
END_TEST

START_TEST(test_unplannable)
{
    RouteInfo in;
    /* Nothing to plan. */
    static const char *const empty[] = {"", " ", ";", " ; ;", "-- c", "/* c */"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        ck_assert(router_plan_uncached(empty[i], strlen(empty[i]), "dbos", &in));
        ck_assert_int_eq(in.nplans, 0);
        route_info_free(&in);
    }
    ck_assert(router_plan_uncached(NULL, 0, "dbos", &in));
    ck_assert_int_eq(in.nplans, 0);
    route_info_free(&in);
    /* A NUL byte. */
    ck_assert(router_plan_uncached("SELECT 1\0; DROP TABLE x", 23, "dbos", &in));
    ck_assert_int_eq(in.nplans, 1);
    ck_assert_int_eq(in.plans[0].kind, ROUTE_REFUSE);
    ck_assert_ptr_nonnull(strstr(in.plans[0].reason, "NUL byte"));
    route_info_free(&in);
    /* Too long to parse. */
    size_t n = SQL_PARSE_MAX_LEN + 1;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    memcpy(big, "SELECT 1", 8);
    ck_assert(router_plan_uncached(big, n, "dbos", &in));
    ck_assert_int_eq(in.plans[0].kind, ROUTE_REFUSE);
    ck_assert_ptr_nonnull(strstr(in.plans[0].reason, "too long"));
    route_info_free(&in);
    free(big);
    /* Syntax errors, including syntax newer than Postgres 15. */
    static const char *const bad[] = {"SELEC 1", "SELECT (", "SELECT 'abc", "MERGE INTO x",
                                      "SELECT JSON_OBJECT('a': 1)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert(router_plan_uncached(bad[i], strlen(bad[i]), "dbos", &in));
        ck_assert_int_eq(in.nplans, 1);
        ck_assert_int_eq(in.plans[0].kind, ROUTE_REFUSE);
        ck_assert_msg(strstr(in.plans[0].reason, "cannot parse"), "%s: %s", bad[i],
                      in.plans[0].reason);
        route_info_free(&in);
    }
}
END_TEST

START_TEST(test_refusal_message)
{
    RouteInfo in;
    const char *sql = "SELECT 1;\n  COPY   dbos.workflow_status\n\tTO STDOUT";
    ck_assert(router_plan_uncached(sql, strlen(sql), "dbos", &in));
    char buf[512];
    router_refusal(&in.plans[1], sql, NULL, buf, sizeof buf);
    ck_assert_str_eq(buf, "pgpin cannot run this statement on a sharded database: COPY is not "
                          "routed on a sharded database: COPY dbos.workflow_status TO STDOUT");
    router_refusal(&in.plans[1], sql, "its workflow IDs are on different shards", buf, sizeof buf);
    ck_assert_str_eq(buf, "pgpin cannot run this statement on a sharded database: its workflow "
                          "IDs are on different shards: COPY dbos.workflow_status TO STDOUT");
    router_refusal(&in.plans[1], sql, NULL, buf, 40); /* truncated, terminated */
    ck_assert_uint_eq(strlen(buf), 39);
    route_info_free(&in);
    /* A long statement is cut at 80 bytes. */
    char longsql[400] = "DO $$ BEGIN PERFORM 1; ";
    while (strlen(longsql) < 300)
        strcat(longsql, "PERFORM 2; ");
    strcat(longsql, "END $$");
    ck_assert(router_plan_uncached(longsql, strlen(longsql), "dbos", &in));
    router_refusal(&in.plans[0], longsql, NULL, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "PERFORM 2; PERFORM"));
    ck_assert_str_eq(buf + strlen(buf) - 3, "...");
    route_info_free(&in);
}
END_TEST

START_TEST(test_describe_truncates)
{
    RouteInfo in;
    const char *sql = "SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN ($1,$2,$3,$4)";
    ck_assert(router_plan_uncached(sql, strlen(sql), "dbos", &in));
    char buf[12];
    memset(buf, 'x', sizeof buf);
    router_describe(&in.plans[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "KEY each ke");
    router_describe(&in.plans[0], buf, 1);
    ck_assert_str_eq(buf, "");
    route_info_free(&in);
    ck_assert_str_eq(route_kind_str(ROUTE_FANOUT_READ), "FANOUT_READ");
    ck_assert_str_eq(route_kind_str((RouteKind)99), "?");
}
END_TEST

/* ---- Size and nesting ---- */

START_TEST(test_many_keys)
{
    size_t cap = 16 + 8 * 2000 + 100, n;
    char *sql = malloc(cap);
    ck_assert_ptr_nonnull(sql);
    n = (size_t)snprintf(sql, cap, "SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (");
    for (int i = 1; i <= 2000; i++)
        n += (size_t)snprintf(sql + n, cap - n, "%s$%d", i > 1 ? "," : "", i);
    snprintf(sql + n, cap - n, ")");
    RouteInfo in;
    ck_assert(router_plan_uncached(sql, strlen(sql), "dbos", &in));
    ck_assert_int_eq(in.plans[0].kind, ROUTE_KEY);
    ck_assert_int_eq(in.plans[0].nkeys, 2000);
    ck_assert_uint_eq(in.plans[0].keys[1999].param, 2000);
    route_info_free(&in);
    free(sql);
}
END_TEST

START_TEST(test_deep_nesting)
{
    /* Subqueries 300 deep: refused (not a crash, not a stack overflow). */
    size_t cap = 300 * 40 + 200, n = 0;
    char *sql = malloc(cap);
    ck_assert_ptr_nonnull(sql);
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(sql + n, cap - n, "SELECT * FROM (");
    n += (size_t)snprintf(sql + n, cap - n, "SELECT * FROM dbos.workflow_status");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(sql + n, cap - n, ") s%d", i);
    RouteInfo in;
    ck_assert(router_plan_uncached(sql, n, "dbos", &in));
    ck_assert_int_eq(in.nplans, 1);
    ck_assert_int_eq(in.plans[0].kind, ROUTE_REFUSE);
    route_info_free(&in);
    /* A deep expression is no problem: expressions are scanned flat. */
    n = (size_t)snprintf(sql, cap,
                         "SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1 "
                         "AND priority = ");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(sql + n, cap - n, "(");
    n += (size_t)snprintf(sql + n, cap - n, "1");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(sql + n, cap - n, ")");
    ck_assert(router_plan_uncached(sql, n, "dbos", &in));
    ck_assert_int_eq(in.plans[0].kind, ROUTE_KEY);
    route_info_free(&in);
    free(sql);
}
END_TEST

/* ---- Cache ---- */

START_TEST(test_cache)
{
    ck_assert_ptr_null(route_cache_new(0));
    RouteCache *c = route_cache_new(2);
    ck_assert_ptr_nonnull(c);
    const char *a = "SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1";
    const char *b = "SELECT count(*) FROM dbos.workflow_status";
    const char *x = "SELECT 1";
    uint64_t hits, misses;
    size_t entries;
    const RouteInfo *pa = router_plan(c, "dbos", a, strlen(a));
    ck_assert_ptr_nonnull(pa);
    ck_assert_int_eq(pa->plans[0].kind, ROUTE_KEY);
    ck_assert_ptr_eq(router_plan(c, "dbos", a, strlen(a)), pa); /* a hit: the same answer */
    route_cache_stats(c, &hits, &misses, &entries);
    ck_assert_uint_eq(hits, 1);
    ck_assert_uint_eq(misses, 1);
    ck_assert_uint_eq(entries, 1);
    /* The schema is part of the key: in schema "other", dbos.workflow_status is unknown. */
    const RouteInfo *po = router_plan(c, "other", a, strlen(a));
    ck_assert_int_eq(po->plans[0].kind, ROUTE_REFUSE);
    ck_assert_int_eq(router_plan(c, "dbos", b, strlen(b))->plans[0].kind, ROUTE_FANOUT_READ);
    ck_assert_int_eq(router_plan(c, "dbos", x, strlen(x))->plans[0].kind, ROUTE_REF_READ);
    route_cache_stats(c, &hits, &misses, &entries);
    ck_assert_uint_eq(misses, 4);
    ck_assert_uint_eq(entries, 2); /* evicted down to its size */
    /* Whatever was evicted is planned again, with the same answer. */
    for (int round = 0; round < 3; round++) {
        ck_assert_int_eq(router_plan(c, "dbos", a, strlen(a))->plans[0].kind, ROUTE_KEY);
        ck_assert_int_eq(router_plan(c, "dbos", b, strlen(b))->plans[0].kind, ROUTE_FANOUT_READ);
    }
    /* A text too large to plan is answered and not kept. */
    size_t n = SQL_PARSE_MAX_LEN + 10;
    char *big = malloc(n);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', n);
    const RouteInfo *pb = router_plan(c, "dbos", big, n);
    ck_assert_int_eq(pb->plans[0].kind, ROUTE_REFUSE);
    route_cache_stats(c, &hits, &misses, &entries);
    ck_assert_uint_eq(entries, 2);
    free(big);
    ck_assert_int_eq(router_plan(c, "dbos", "", 0)->nplans, 0);
    route_cache_free(c);
    route_cache_free(NULL);
}
END_TEST

/* Many texts through a small cache: every answer equals the uncached one. */
START_TEST(test_cache_churn)
{
    RouteCache *c = route_cache_new(8);
    size_t n = sizeof route_dbos / sizeof *route_dbos;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            const char *sql = route_dbos[(i * 7 + (size_t)round) % n].sql;
            const RouteInfo *in = router_plan(c, "dbos", sql, strlen(sql));
            ck_assert_ptr_nonnull(in);
            char want[4096] = "", got[4096] = "";
            char *w = describe_all(sql, strlen(sql), "dbos", NULL);
            snprintf(want, sizeof want, "%s", w);
            free(w);
            size_t used = 0;
            for (int k = 0; k < in->nplans; k++) {
                char d[2048];
                router_describe(&in->plans[k], d, sizeof d);
                used += (size_t)snprintf(got + used, sizeof got - used, "%s%s", k ? " | " : "", d);
            }
            ck_assert_str_eq(got, want);
        }
    }
    route_cache_free(c);
}
END_TEST

/* ---- Threads ---- */

static void *plan_all_cb(void *arg)
{
    (void)arg;
    size_t n = sizeof route_dbos / sizeof *route_dbos;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < n; i++) {
            RouteInfo in;
            if (!router_plan_uncached(route_dbos[i].sql, strlen(route_dbos[i].sql), "dbos", &in))
                return (void *)1;
            char d[2048], all[4096] = "";
            size_t used = 0;
            for (int k = 0; k < in.nplans; k++) {
                router_describe(&in.plans[k], d, sizeof d);
                used += (size_t)snprintf(all + used, sizeof all - used, "%s%s", k ? " | " : "", d);
            }
            route_info_free(&in);
            if (strcmp(all, route_dbos[i].plan) != 0) return (void *)2;
        }
    }
    return NULL;
}

START_TEST(test_two_threads)
{
    pthread_t t[2];
    void *rc[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, plan_all_cb, NULL), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_join(t[i], &rc[i]), 0);
        ck_assert_ptr_null(rc[i]);
    }
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("dbos");
    tcase_add_loop_test(tc, test_dbos, 0, (int)(sizeof route_dbos / sizeof *route_dbos));
    tcase_add_test(tc, test_dbos_coverage);
    tcase_add_test(tc, test_stmt_kinds);
    suite_add_tcase(s, tc);
    tc = tcase_create("edge");
    tcase_add_loop_test(tc, test_edge, 0, (int)(sizeof route_edge / sizeof *route_edge));
    tcase_add_loop_test(tc, test_shard_sql, 0,
                        (int)(sizeof shard_sql_cases / sizeof *shard_sql_cases));
    tcase_add_test(tc, test_shard_sql_multi);
    tcase_add_test(tc, test_shard_sql_too_long);
    tcase_add_test(tc, test_schema);
    suite_add_tcase(s, tc);
    tc = tcase_create("texts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_locations);
    tcase_add_test(tc, test_unplannable);
    tcase_add_test(tc, test_refusal_message);
    tcase_add_test(tc, test_describe_truncates);
    tcase_add_test(tc, test_many_keys);
    tcase_add_test(tc, test_deep_nesting);
    tcase_add_test(tc, test_cache);
    tcase_add_test(tc, test_cache_churn);
    tcase_add_test(tc, test_two_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
