/* it_protocol.c - the PostgreSQL protocol through pgpin: simple and extended queries, pipeline
 * mode, COPY, large values, errors in transactions, LISTEN/NOTIFY, ParameterStatus, fast-path
 * function calls and notices. Every test also passes against Postgres directly. */
#include "itlib.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#define DB "appdb"

START_TEST(test_simple_query)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    ck_assert_int_eq(it_value_long(c, "SELECT sum(g) FROM generate_series(1, 20000) g"),
                     200010000L);

    /* Several statements in one Query message: one result each, then NULL. */
    ck_assert_int_eq(PQsendQuery(c, "SELECT 1 AS a; SELECT 'two' AS b, 3 AS c; SET work_mem = "
                                    "'5MB'; SHOW work_mem"),
                     1);
    const char *want[] = {"1", "two", NULL, "5MB"};
    for (int i = 0; i < 4; i++) {
        PGresult *r = PQgetResult(c);
        ck_assert_ptr_nonnull(r);
        if (want[i]) {
            ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
            ck_assert_str_eq(PQgetvalue(r, 0, 0), want[i]);
        } else {
            ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
            ck_assert_str_eq(PQcmdStatus(r), "SET");
        }
        PQclear(r);
    }
    ck_assert_ptr_null(PQgetResult(c));

    PGresult *r = PQexec(c, "");
    ck_assert_int_eq(PQresultStatus(r), PGRES_EMPTY_QUERY);
    PQclear(r);
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_IDLE);
    PQfinish(c);
}
END_TEST

START_TEST(test_extended_params)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);

    /* Mixed parameter formats, binary results. */
    uint32_t n = htonl(41);
    const unsigned char blob[] = {0, 1, 2, 0xff, 0, 'x'};
    const char *vals[] = {(const char *)&n, "héllo", (const char *)blob};
    int lens[] = {4, 0, sizeof blob};
    int fmts[] = {1, 0, 1};
    PGresult *r = PQexecParams(c, "SELECT $1::int4 + 1, $2::text || '!', $3::bytea", 3, NULL, vals,
                               lens, fmts, 1);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    ck_assert_int_eq(PQgetlength(r, 0, 0), 4);
    uint32_t got;
    memcpy(&got, PQgetvalue(r, 0, 0), 4);
    ck_assert_int_eq(ntohl(got), 42);
    ck_assert_int_eq(PQgetlength(r, 0, 1), (int)strlen("héllo!"));
    ck_assert_int_eq(memcmp(PQgetvalue(r, 0, 1), "héllo!", strlen("héllo!")), 0);
    ck_assert_int_eq(PQgetlength(r, 0, 2), (int)sizeof blob);
    ck_assert_int_eq(memcmp(PQgetvalue(r, 0, 2), blob, sizeof blob), 0);
    PQclear(r);

    /* Text parameters, text results, a NULL parameter. */
    const char *tvals[] = {"7", NULL};
    r = PQexecParams(c, "SELECT $1::int8 * 6, $2::text IS NULL", 2, NULL, tvals, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "42");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "t");
    PQclear(r);

    /* Two named statements side by side, plus the unnamed one, each executed repeatedly. */
    Oid types[] = {20, 25};
    r = PQprepare(c, "it_stmt_a", "SELECT $1::int8 * 2, upper($2)", 2, types);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    r = PQprepare(c, "it_stmt_b", "SELECT $1::int8 + 1000", 1, types);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    r = PQprepare(c, "", "SELECT -$1::int4", 1, NULL);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);

    r = PQdescribePrepared(c, "it_stmt_a");
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    ck_assert_int_eq(PQnparams(r), 2);
    ck_assert_int_eq(PQnfields(r), 2);
    ck_assert_int_eq(PQparamtype(r, 0), 20);
    PQclear(r);

    for (int i = 0; i < 50; i++) {
        char num[32], word[32], want[64];
        snprintf(num, sizeof num, "%d", i);
        snprintf(word, sizeof word, "word%d", i);
        const char *pv[] = {num, word};
        r = PQexecPrepared(c, "it_stmt_a", 2, pv, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        snprintf(want, sizeof want, "%d", 2 * i);
        ck_assert_str_eq(PQgetvalue(r, 0, 0), want);
        snprintf(want, sizeof want, "WORD%d", i);
        ck_assert_str_eq(PQgetvalue(r, 0, 1), want);
        PQclear(r);

        r = PQexecPrepared(c, "it_stmt_b", 1, pv, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_eq(atoi(PQgetvalue(r, 0, 0)), 1000 + i);
        PQclear(r);

        r = PQexecPrepared(c, "", 1, pv, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
        ck_assert_int_eq(atoi(PQgetvalue(r, 0, 0)), -i);
        PQclear(r);
    }

    /* A statement name already in use is the server's error, and the session goes on. */
    r = PQprepare(c, "it_stmt_a", "SELECT 1", 0, NULL);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42P05");
    PQclear(r);
    ck_assert_int_eq(it_value_long(c, "SELECT 5"), 5);
    PQfinish(c);
}
END_TEST

START_TEST(test_pipeline)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    ck_assert_int_eq(PQenterPipelineMode(c), 1);
    enum { NQ = 100 };
    for (int i = 0; i < NQ; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        const char *pv[] = {num};
        ck_assert_int_eq(PQsendQueryParams(c, "SELECT $1::int * 2", 1, NULL, pv, NULL, NULL, 0), 1);
    }
    ck_assert_int_eq(PQpipelineSync(c), 1);
    for (int i = 0; i < NQ; i++) {
        PGresult *r = PQgetResult(c);
        ck_assert_msg(r && PQresultStatus(r) == PGRES_TUPLES_OK, "query %d: %s", i,
                      r ? PQresStatus(PQresultStatus(r)) : "NULL");
        ck_assert_int_eq(atoi(PQgetvalue(r, 0, 0)), 2 * i);
        PQclear(r);
        ck_assert_ptr_null(PQgetResult(c));
    }
    PGresult *r = PQgetResult(c);
    ck_assert_int_eq(PQresultStatus(r), PGRES_PIPELINE_SYNC);
    PQclear(r);

    /* An error aborts the rest of its sync segment only. */
    const char *qs[] = {"SELECT 1", "SELECT 1/0", "SELECT 3"};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(PQsendQueryParams(c, qs[i], 0, NULL, NULL, NULL, NULL, 0), 1);
    ck_assert_int_eq(PQpipelineSync(c), 1);
    ck_assert_int_eq(PQsendQueryParams(c, "SELECT 4", 0, NULL, NULL, NULL, NULL, 0), 1);
    ck_assert_int_eq(PQpipelineSync(c), 1);
    ExecStatusType want[] = {PGRES_TUPLES_OK, PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED};
    for (int i = 0; i < 3; i++) {
        r = PQgetResult(c);
        ck_assert_msg(r && PQresultStatus(r) == want[i], "segment 1 query %d: %s", i,
                      r ? PQresStatus(PQresultStatus(r)) : "NULL");
        PQclear(r);
        ck_assert_ptr_null(PQgetResult(c));
    }
    r = PQgetResult(c);
    ck_assert_int_eq(PQresultStatus(r), PGRES_PIPELINE_SYNC);
    PQclear(r);
    r = PQgetResult(c);
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "4");
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(c));
    r = PQgetResult(c);
    ck_assert_int_eq(PQresultStatus(r), PGRES_PIPELINE_SYNC);
    PQclear(r);
    ck_assert_int_eq(PQexitPipelineMode(c), 1);
    ck_assert_int_eq(it_value_long(c, "SELECT 6"), 6);
    PQfinish(c);
}
END_TEST

/* Read a whole COPY OUT into a malloc'd buffer; *len gets its size. */
static char *copy_out(PGconn *c, const char *sql, size_t *len)
{
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COPY_OUT, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    for (;;) {
        char *row = NULL;
        int k = PQgetCopyData(c, &row, 0);
        if (k == -1) break;
        ck_assert_msg(k > 0, "PQgetCopyData: %s", PQerrorMessage(c));
        if (n + (size_t)k > cap) {
            while (n + (size_t)k > cap)
                cap *= 2;
            out = realloc(out, cap);
            ck_assert_ptr_nonnull(out);
        }
        memcpy(out + n, row, (size_t)k);
        n += (size_t)k;
        PQfreemem(row);
    }
    r = PQgetResult(c);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "end of COPY OUT: %s", PQerrorMessage(c));
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(c));
    *len = n;
    return out;
}

START_TEST(test_copy)
{
    enum { NROWS = 100000 };
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    it_exec(c, "DROP TABLE IF EXISTS it_copy");
    it_exec(c, "CREATE TABLE it_copy (id int PRIMARY KEY, txt text, n numeric)");

    size_t cap = (size_t)NROWS * 64, len = 0;
    char *data = malloc(cap);
    ck_assert_ptr_nonnull(data);
    for (int i = 1; i <= NROWS; i++) {
        len += (size_t)snprintf(data + len, cap - len, "%d\trow-%d-%s\t%d.%02d\n", i, i * 7919,
                                (i % 3) ? "abcdefghij" : "ünïcødé", i / 100, i % 100);
    }
    char sent_md5[33];
    it_md5_hex(data, len, sent_md5);

    PGresult *r = PQexec(c, "COPY it_copy (id, txt, n) FROM STDIN");
    ck_assert_msg(PQresultStatus(r) == PGRES_COPY_IN, "%s", PQerrorMessage(c));
    PQclear(r);
    /* Chunks that do not line up with rows, as a real client may send them. */
    for (size_t off = 0; off < len; off += 7777) {
        size_t k = len - off < 7777 ? len - off : 7777;
        ck_assert_int_eq(PQputCopyData(c, data + off, (int)k), 1);
    }
    ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
    r = PQgetResult(c);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "COPY IN: %s", PQerrorMessage(c));
    ck_assert_str_eq(PQcmdTuples(r), "100000");
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(c));

    const char *q = "COPY (SELECT id, txt, n FROM it_copy ORDER BY id) TO STDOUT";
    size_t dlen = 0, plen = 0;
    char *direct = copy_out(d, q, &dlen);
    char direct_md5[33], proxy_md5[33];
    it_md5_hex(direct, dlen, direct_md5);
    ck_assert_msg(dlen == len && strcmp(direct_md5, sent_md5) == 0,
                  "stored data differs from what was sent: %zu bytes md5 %s vs %zu bytes md5 %s",
                  dlen, direct_md5, len, sent_md5);

    char *proxied = copy_out(c, q, &plen);
    it_md5_hex(proxied, plen, proxy_md5);
    ck_assert_msg(plen == dlen && memcmp(proxied, direct, dlen) == 0,
                  "COPY OUT through pgpin differs: %zu bytes md5 %s vs direct %zu bytes md5 %s",
                  plen, proxy_md5, dlen, direct_md5);
    free(proxied);
    free(direct);

    /* Binary COPY OUT, byte for byte. */
    q = "COPY (SELECT id, txt, n FROM it_copy ORDER BY id) TO STDOUT (FORMAT binary)";
    direct = copy_out(d, q, &dlen);
    proxied = copy_out(c, q, &plen);
    ck_assert_msg(plen == dlen && memcmp(proxied, direct, dlen) == 0,
                  "binary COPY OUT through pgpin differs (%zu vs %zu bytes)", plen, dlen);
    free(proxied);
    free(direct);

    /* A COPY the client aborts leaves the connection usable. */
    r = PQexec(c, "COPY it_copy (id, txt, n) FROM STDIN");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    ck_assert_int_eq(PQputCopyData(c, "100001\tx\t1\n", 11), 1);
    ck_assert_int_eq(PQputCopyEnd(c, "client gave up"), 1);
    r = PQgetResult(c);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "57014");
    PQclear(r);
    ck_assert_ptr_null(PQgetResult(c));
    ck_assert_int_eq(it_value_long(c, "SELECT count(*) FROM it_copy"), NROWS);

    it_exec(c, "DROP TABLE it_copy");
    free(data);
    PQfinish(d);
    PQfinish(c);
}
END_TEST

START_TEST(test_big_bytea)
{
    const size_t size = 64u << 20;
    unsigned char *buf = malloc(size);
    ck_assert_ptr_nonnull(buf);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < size; i += 8) { /* xorshift64: incompressible, reproducible */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(buf + i, &x, 8);
    }
    char local_md5[33];
    it_md5_hex(buf, size, local_md5);

    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    const char *vals[] = {(const char *)buf};
    int lens[] = {(int)size};
    int fmts[] = {1};
    PGresult *r = PQexecParams(c, "SELECT md5($1::bytea), length($1::bytea), $1::bytea", 1, NULL,
                               vals, lens, fmts, 1);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    ck_assert_int_eq(PQgetlength(r, 0, 0), 32);
    char server_md5[33];
    memcpy(server_md5, PQgetvalue(r, 0, 0), 32);
    server_md5[32] = 0;
    ck_assert_msg(strcmp(server_md5, local_md5) == 0, "server saw md5 %s, sent %s", server_md5,
                  local_md5);
    uint32_t slen;
    memcpy(&slen, PQgetvalue(r, 0, 1), 4);
    ck_assert_int_eq(ntohl(slen), size);
    ck_assert_int_eq(PQgetlength(r, 0, 2), (int)size);
    char back_md5[33];
    it_md5_hex(PQgetvalue(r, 0, 2), size, back_md5);
    ck_assert_msg(strcmp(back_md5, local_md5) == 0, "read back md5 %s, sent %s", back_md5,
                  local_md5);
    PQclear(r);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    PQfinish(c);
    free(buf);
}
END_TEST

START_TEST(test_error_in_transaction)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    it_exec(c, "BEGIN");
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_INTRANS);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    it_expect_error(c, "SELECT 1/0", "22012");
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_INERROR);
    it_expect_error(c, "SELECT 2", "25P02");
    it_exec(c, "ROLLBACK");
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_IDLE);
    ck_assert_int_eq(it_value_long(c, "SELECT 3"), 3);

    /* Same through the extended protocol: the error skips to Sync, the next query works. */
    it_exec(c, "BEGIN");
    PGresult *r =
        PQexecParams(c, "SELECT 1/$1::int", 1, NULL, (const char *[]){"0"}, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "22012");
    PQclear(r);
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_INERROR);
    it_exec(c, "ROLLBACK");
    ck_assert_int_eq(it_value_long(c, "SELECT 4"), 4);

    /* An error outside a transaction block. */
    it_expect_error(c, "SELECT * FROM it_no_such_table", "42P01");
    ck_assert_int_eq(PQtransactionStatus(c), PQTRANS_IDLE);
    ck_assert_int_eq(it_value_long(c, "SELECT 5"), 5);
    PQfinish(c);
}
END_TEST

START_TEST(test_listen_notify)
{
    char chan[64], sql[256];
    snprintf(chan, sizeof chan, "it_chan_%d", (int)getpid());
    PGconn *l = it_connect(IT_PROXY, DB, NULL);
    PGconn *n = it_connect(IT_PROXY, DB, NULL);
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    snprintf(sql, sizeof sql, "LISTEN %s", chan);
    it_exec(l, sql);
    snprintf(sql, sizeof sql, "NOTIFY %s, 'from-proxy'", chan);
    it_exec(n, sql);
    snprintf(sql, sizeof sql, "SELECT pg_notify('%s', 'from-direct')", chan);
    it_exec(d, sql);

    bool got_proxy = false, got_direct = false;
    double deadline = it_now() + 15;
    while (!(got_proxy && got_direct) && it_now() < deadline) {
        int w = it_wait_readable(PQsocket(l), 200);
        ck_assert_int_ge(w, 0);
        ck_assert_msg(PQconsumeInput(l) == 1, "PQconsumeInput: %s", PQerrorMessage(l));
        PGnotify *nt;
        while ((nt = PQnotifies(l)) != NULL) {
            ck_assert_str_eq(nt->relname, chan);
            if (strcmp(nt->extra, "from-proxy") == 0) got_proxy = true;
            if (strcmp(nt->extra, "from-direct") == 0) got_direct = true;
            PQfreemem(nt);
        }
    }
    ck_assert_msg(got_proxy, "notification from the other pgpin client not received");
    ck_assert_msg(got_direct, "notification from the direct connection not received");

    /* Also delivered while the listener is busy with its own query. */
    snprintf(sql, sizeof sql, "NOTIFY %s, 'during-query'", chan);
    it_exec(n, sql);
    PQclear(it_exec_res(l, "SELECT pg_sleep(0.2)"));
    bool got_during = false;
    deadline = it_now() + 10;
    while (!got_during && it_now() < deadline) {
        PGnotify *nt;
        while ((nt = PQnotifies(l)) != NULL) {
            if (strcmp(nt->extra, "during-query") == 0) got_during = true;
            PQfreemem(nt);
        }
        if (got_during) break;
        it_wait_readable(PQsocket(l), 200);
        ck_assert_int_eq(PQconsumeInput(l), 1);
    }
    ck_assert_msg(got_during, "notification sent during a query not received");
    PQfinish(d);
    PQfinish(n);
    PQfinish(l);
}
END_TEST

START_TEST(test_parameter_status)
{
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=itest client_encoding=LATIN1");
    const char *app = PQparameterStatus(c, "application_name");
    ck_assert_msg(app && strcmp(app, "itest") == 0, "ParameterStatus application_name = %s",
                  app ? app : "(none)");
    const char *enc = PQparameterStatus(c, "client_encoding");
    ck_assert_msg(enc && strcmp(enc, "LATIN1") == 0, "ParameterStatus client_encoding = %s",
                  enc ? enc : "(none)");
    char *v = it_value(c, "SHOW application_name");
    ck_assert_str_eq(v, "itest");
    free(v);
    v = it_value(c, "SHOW client_encoding");
    ck_assert_str_eq(v, "LATIN1");
    free(v);
    /* What libpq itself depends on must be reported. */
    const char *need[] = {"server_version",    "server_encoding", "standard_conforming_strings",
                          "integer_datetimes", "DateStyle",       "TimeZone"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        ck_assert_msg(PQparameterStatus(c, need[i]) != NULL, "no ParameterStatus %s", need[i]);
    ck_assert_int_ge(PQserverVersion(c), 150000);

    /* A SET of a reported parameter comes back as ParameterStatus. */
    it_exec(c, "SET application_name = 'itest2'");
    app = PQparameterStatus(c, "application_name");
    ck_assert_msg(app && strcmp(app, "itest2") == 0, "after SET: %s", app ? app : "(none)");
    PQfinish(c);
}
END_TEST

START_TEST(test_startup_options)
{
    PGconn *c = it_connect(IT_PROXY, DB, "options='-c work_mem=12MB -c search_path=it_opt'");
    char *v = it_value(c, "SHOW work_mem");
    ck_assert_str_eq(v, "12MB");
    free(v);
    v = it_value(c, "SHOW search_path");
    ck_assert_str_eq(v, "it_opt");
    free(v);
    PQfinish(c);
}
END_TEST

START_TEST(test_fastpath)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    Oid fn = (Oid)it_value_long(c, "SELECT 'pg_backend_pid'::regproc::oid");
    long pid = it_value_long(c, "SELECT pg_backend_pid()");
    int result = 0, rlen = 0;
    PGresult *r = PQfn(c, (int)fn, &result, &rlen, 1, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "PQfn: %s", PQerrorMessage(c));
    PQclear(r);
    ck_assert_int_eq(rlen, 4);
    ck_assert_int_eq(result, pid);

    Oid absfn = (Oid)it_value_long(c, "SELECT 'abs(integer)'::regprocedure::oid");
    PQArgBlock arg = {.len = 4, .isint = 1, .u.integer = -42};
    r = PQfn(c, (int)absfn, &result, &rlen, 1, &arg, 1);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "PQfn abs: %s", PQerrorMessage(c));
    PQclear(r);
    ck_assert_int_eq(result, 42);
    ck_assert_int_eq(it_value_long(c, "SELECT 7"), 7);
    PQfinish(c);
}
END_TEST

typedef struct Notices {
    int count;
    char msg[256];
    char sqlstate[8];
    char severity[16];
} Notices;

static void notice_cb(void *arg, const PGresult *r)
{
    Notices *n = arg;
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    n->count++;
    snprintf(n->msg, sizeof n->msg, "%s", m ? m : "");
    snprintf(n->sqlstate, sizeof n->sqlstate, "%s", s ? s : "");
    snprintf(n->severity, sizeof n->severity, "%s", sev ? sev : "");
}

START_TEST(test_notice)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    Notices n = {0};
    PQsetNoticeReceiver(c, notice_cb, &n);
    it_exec(c, "DO $$BEGIN RAISE NOTICE 'it-notice-%', 42; END$$");
    ck_assert_int_eq(n.count, 1);
    ck_assert_str_eq(n.msg, "it-notice-42");
    ck_assert_str_eq(n.sqlstate, "00000");
    ck_assert_str_eq(n.severity, "NOTICE");
    it_exec(c, "DO $$BEGIN RAISE WARNING 'it-warn' USING ERRCODE = '01000'; END$$");
    ck_assert_int_eq(n.count, 2);
    ck_assert_str_eq(n.msg, "it-warn");
    ck_assert_str_eq(n.severity, "WARNING");
    PQfinish(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("it_protocol");
    it_add_case(s, "simple_query", test_simple_query, 60);
    it_add_case(s, "extended_params", test_extended_params, 60);
    it_add_case(s, "pipeline", test_pipeline, 60);
    it_add_case(s, "copy", test_copy, 180);
    it_add_case(s, "big_bytea", test_big_bytea, 180);
    it_add_case(s, "error_in_transaction", test_error_in_transaction, 60);
    it_add_case(s, "listen_notify", test_listen_notify, 60);
    it_add_case(s, "parameter_status", test_parameter_status, 60);
    it_add_case(s, "startup_options", test_startup_options, 60);
    it_add_case(s, "fastpath", test_fastpath, 60);
    it_add_case(s, "notice", test_notice, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
