/* sql_bench.c - pgpin_sql_bench: what statement classification costs, per statement, for
 * statement shapes DBOS sends (reference/dbos-sysdb.md) and a few others.
 *
 *   cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j2 \
 *       --target pgpin_sql_bench && ./build/bench/pgpin_sql_bench [iterations]
 *
 * Columns (ns per call, best of 3 rounds): pg_query_parse alone (JSON), pg_query_parse_protobuf
 * alone, sql_classify_parse (parse + walk), sql_prefilter (whether or not it is sure), and
 * sql_classify on a warm cache (the pre-filter's answer, or the pre-filter giving up plus a
 * hit). */
#include "sql.h"

#include <pg_query.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const bench_stmts[] = {
    "SELECT status FROM \"dbos\".workflow_status WHERE workflow_uuid=$1",
    "SELECT output, error, child_workflow_id, function_name, serialization FROM "
    "\"dbos\".operation_outputs WHERE workflow_uuid=$1 AND function_id=$2",
    "INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, output, error, "
    "function_name, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization, "
    "application_name, retention_timestamp) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10, "
    "(EXTRACT(EPOCH FROM now())*1000)::bigint) ON CONFLICT (workflow_uuid,function_id) DO UPDATE "
    "SET completed_at_epoch_ms = operation_outputs.completed_at_epoch_ms RETURNING "
    "completed_at_epoch_ms",
    "UPDATE \"dbos\".workflow_status SET status=$2, updated_at=$6, deduplication_id=NULL, "
    "completed_at=$6, owner_xid=$3 WHERE workflow_uuid=$1 AND status=$4 AND owner_xid=$5",
    "SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1 FOR NO KEY UPDATE",
    "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 AND "
    "(application_version=$3 OR application_version IS NULL) ORDER BY priority ASC, created_at "
    "ASC LIMIT 10 FOR UPDATE SKIP LOCKED",
    "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
    "BEGIN ISOLATION LEVEL READ COMMITTED",
    "COMMIT",
    "SET idle_in_transaction_session_timeout = 60000",
    "LISTEN dbos_notifications_channel",
};
#define NSTMTS (sizeof bench_stmts / sizeof *bench_stmts)

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef enum { B_PG_JSON, B_PG_PROTOBUF, B_PARSE, B_PREFILTER, B_CACHED, B_NCOLS } BenchCol;

/* One call of column col's function; *sink keeps its result alive. */
static void bench_one(BenchCol col, const char *q, size_t len, SqlCache *cache,
                      volatile unsigned *sink)
{
    switch (col) {
    case B_PG_JSON: {
        PgQueryParseResult r = pg_query_parse(q);
        *sink += r.error != NULL;
        pg_query_free_parse_result(r);
        break;
    }
    case B_PG_PROTOBUF: {
        PgQueryProtobufParseResult r = pg_query_parse_protobuf(q);
        *sink += r.error != NULL;
        pg_query_free_protobuf_parse_result(r);
        break;
    }
    case B_PARSE: {
        SqlInfo info;
        if (sql_classify_parse(q, len, &info)) *sink += info.flags;
        sql_info_free(&info);
        break;
    }
    case B_PREFILTER: {
        SqlStmt st;
        *sink += sql_prefilter(q, len, &st);
        break;
    }
    case B_CACHED: {
        const SqlInfo *info = sql_classify(cache, q, len);
        *sink += info ? info->flags : 0;
        break;
    }
    case B_NCOLS: break;
    }
}

static double bench_col(BenchCol col, const char *q, int iters, SqlCache *cache)
{
    volatile unsigned sink = 0;
    size_t len = strlen(q);
    double best = 1e30;
    int n = col <= B_PARSE ? iters / 20 + 1 : iters; /* parsing is ~100x slower */
    for (int round = 0; round < 3; round++) {
        double t0 = bench_now();
        for (int i = 0; i < n; i++)
            bench_one(col, q, len, cache, &sink);
        double ns = (bench_now() - t0) / n;
        if (ns < best) best = ns;
    }
    return best;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 200000;
    if (iters < 1) iters = 1;
    SqlCache *cache = sql_cache_new(1024, 1 << 20);
    if (!cache) return 1;
    printf("%-5s %9s %9s %9s %9s %9s  %s\n", "len", "pg_json", "pg_proto", "parse", "prefilt",
           "cached", "statement (how sql_classify answers)");
    for (size_t s = 0; s < NSTMTS; s++) {
        const char *q = bench_stmts[s];
        const SqlInfo *info = sql_classify(cache, q, strlen(q)); /* warm */
        double ns[B_NCOLS];
        for (int c = 0; c < B_NCOLS; c++)
            ns[c] = bench_col((BenchCol)c, q, iters, cache);
        printf("%-5zu %9.0f %9.0f %9.0f %9.0f %9.0f  %.40s%s (%s)\n", strlen(q), ns[B_PG_JSON],
               ns[B_PG_PROTOBUF], ns[B_PARSE], ns[B_PREFILTER], ns[B_CACHED], q,
               strlen(q) > 40 ? "..." : "",
               info && (info->flags & SQL_F_PREFILTERED) ? "pre-filter" : "cache hit");
    }
    SqlCacheStats st;
    sql_cache_stats(cache, &st);
    printf("cache: %llu pre-filtered, %llu hits, %llu parses, %zu entries, %zu bytes\n",
           (unsigned long long)st.prefiltered, (unsigned long long)st.hits,
           (unsigned long long)st.parses, st.entries, st.bytes);
    sql_cache_free(cache);
    return 0;
}
