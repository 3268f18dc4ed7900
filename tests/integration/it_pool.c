/* it_pool.c - session pooling through pgpin: the pool size bounds the server connections that
 * many concurrent clients use, and a server connection handed to a new client carries none of
 * the previous client's session state.
 *
 * The pgpin config must have (client-facing name = Postgres database of the same name):
 *   pooltest = ... dbname=pooltest pool_size=5
 *   reuse    = ... dbname=reuse pool_size=1 */
#include "itlib.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_DB   "pooltest"
#define POOL_SIZE 5
#define NCLIENTS  50
#define NSLEEPS   3
#define REUSE_DB  "reuse"

typedef struct Worker {
    pthread_t tid;
    int id;
    bool ok;
    char err[256];
} Worker;

typedef struct Sampler {
    pthread_t tid;
    atomic_bool stop;
    atomic_int samples;
    int max_seen;
    char err[256];
} Sampler;

static atomic_int g_started;

static void *worker_main(void *arg)
{
    Worker *w = arg;
    char extra[64];
    snprintf(extra, sizeof extra, "application_name=it_pool_%d", w->id);
    atomic_fetch_add(&g_started, 1);
    PGconn *c = it_connect_raw(IT_PROXY, POOL_DB, extra);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(w->err, sizeof w->err, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    for (int i = 0; i < NSLEEPS; i++) {
        PGresult *r = PQexec(c, "SELECT pg_sleep(0.05)");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(w->err, sizeof w->err, "query %d: %s", i, PQerrorMessage(c));
            PQclear(r);
            PQfinish(c);
            return NULL;
        }
        PQclear(r);
    }
    PQfinish(c);
    w->ok = true;
    return NULL;
}

/* Polls pg_stat_activity every 10 ms on its own direct connection (to another database, so it
 * never counts itself) for the backends connected to the pool's database. */
static void *sampler_main(void *arg)
{
    Sampler *s = arg;
    PGconn *c = it_connect_raw(IT_DIRECT, "postgres", "application_name=it_pool_sampler");
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(s->err, sizeof s->err, "sampler connect: %s", PQerrorMessage(c));
        PQfinish(c);
        atomic_store(&s->samples, -1);
        return NULL;
    }
    const char *q = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" POOL_DB
                    "' AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                    "AND application_name <> 'pgpin-limits'"; /* its budget reader */
    for (int i = 0; i < 100000 && !atomic_load(&s->stop); i++) {
        PGresult *r = PQexec(c, q);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            snprintf(s->err, sizeof s->err, "sampler query: %s", PQerrorMessage(c));
            PQclear(r);
            break;
        }
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (n > s->max_seen) s->max_seen = n;
        atomic_fetch_add(&s->samples, 1);
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    PQfinish(c);
    return NULL;
}

START_TEST(test_pool_limit)
{
    static Worker workers[NCLIENTS];
    static Sampler sampler;
    memset(workers, 0, sizeof workers);
    memset(&sampler, 0, sizeof sampler);

    ck_assert_int_eq(pthread_create(&sampler.tid, NULL, sampler_main, &sampler), 0);
    for (int i = 0; i < 500 && atomic_load(&sampler.samples) == 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    ck_assert_msg(atomic_load(&sampler.samples) > 0, "sampler did not start: %s", sampler.err);

    double t0 = it_now();
    for (int i = 0; i < NCLIENTS; i++) {
        workers[i].id = i;
        ck_assert_int_eq(pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(workers[i].tid, NULL);
    double elapsed = it_now() - t0;
    nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    atomic_store(&sampler.stop, true);
    pthread_join(sampler.tid, NULL);

    int failed = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        if (!workers[i].ok) {
            failed++;
            fprintf(stderr, "it_pool: client %d failed: %s\n", i, workers[i].err);
        }
    }
    fprintf(stderr, "it_pool: %d clients in %.2f s, %d samples, max %d server backends\n", NCLIENTS,
            elapsed, atomic_load(&sampler.samples), sampler.max_seen);
    ck_assert_msg(failed == 0, "%d of %d clients failed", failed, NCLIENTS);
    ck_assert_msg(sampler.err[0] == 0, "%s", sampler.err);
    ck_assert_msg(sampler.max_seen > 0, "never saw a backend on %s", POOL_DB);
    if (it_through_proxy()) {
        ck_assert_msg(sampler.max_seen <= POOL_SIZE, "saw %d backends on %s, pool_size is %d",
                      sampler.max_seen, POOL_DB, POOL_SIZE);
        /* The sampler can miss a short spike; the time it took cannot: with at most POOL_SIZE
         * servers, NCLIENTS sessions of NSLEEPS x 50 ms need this long at least. */
        double floor = 0.9 * NCLIENTS * NSLEEPS * 0.05 / POOL_SIZE;
        ck_assert_msg(elapsed >= floor, "%d clients took %.2f s < %.2f s: more than %d servers?",
                      NCLIENTS, elapsed, floor, POOL_SIZE);
    }
}
END_TEST

START_TEST(test_session_reset)
{
    PGconn *a = it_connect(IT_PROXY, REUSE_DB, "application_name=it-reuse-a");
    it_exec(a, "SET search_path = foo");
    it_exec(a, "SET work_mem = '7MB'");
    it_exec(a, "SET application_name = 'it-reuse-a2'");
    it_exec(a, "CREATE TEMP TABLE it_tmp (x int)");
    it_exec(a, "PREPARE it_p AS SELECT 1");
    it_exec(a, "LISTEN it_reuse_chan");
    PQclear(it_exec_res(a, "SELECT pg_advisory_lock(4242)"));
    PGresult *r = PQprepare(a, "it_proto_stmt", "SELECT 2", 0, NULL);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    long pid_a = it_value_long(a, "SELECT pg_backend_pid()");
    PQfinish(a);

    PGconn *b = it_connect(IT_PROXY, REUSE_DB, "application_name=it-reuse-b");
    long pid_b = it_value_long(b, "SELECT pg_backend_pid()");
    if (it_through_proxy())
        ck_assert_msg(pid_b == pid_a, "pool_size=1 but client B got backend %ld, A had %ld", pid_b,
                      pid_a);
    char *v = it_value(b, "SHOW search_path");
    ck_assert_str_eq(v, "\"$user\", public");
    free(v);
    v = it_value(b, "SHOW work_mem");
    ck_assert_str_eq(v, "4MB");
    free(v);
    v = it_value(b, "SELECT to_regclass('pg_temp.it_tmp') IS NULL");
    ck_assert_str_eq(v, "t");
    free(v);
    it_expect_error(b, "SELECT * FROM it_tmp", "42P01");
    it_expect_error(b, "EXECUTE it_p", "26000");
    ck_assert_int_eq(it_value_long(b, "SELECT count(*) FROM pg_listening_channels()"), 0);
    ck_assert_int_eq(it_value_long(b, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND pid = pg_backend_pid()"),
                     0);
    r = PQdescribePrepared(b, "it_proto_stmt");
    ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR,
                  "protocol-level statement of client A visible to client B");
    PQclear(r);

    /* B is told, and has, its own application_name, not A's. */
    const char *app = PQparameterStatus(b, "application_name");
    ck_assert_msg(app && strcmp(app, "it-reuse-b") == 0, "B's ParameterStatus application_name=%s",
                  app ? app : "(none)");
    v = it_value(b, "SHOW application_name");
    ck_assert_str_eq(v, "it-reuse-b");
    free(v);
    PQfinish(b);

    /* C sends no application_name: what it is told must match the server, and not be A's/B's. */
    PGconn *c = it_connect(IT_PROXY, REUSE_DB, NULL);
    app = PQparameterStatus(c, "application_name");
    v = it_value(c, "SHOW application_name");
    ck_assert_msg(app && strcmp(app, v) == 0, "C told application_name=%s but server has %s",
                  app ? app : "(none)", v);
    ck_assert_msg(strncmp(v, "it-reuse-", 9) != 0, "C inherited application_name %s", v);
    free(v);
    PQfinish(c);
}
END_TEST

START_TEST(test_disconnect_in_transaction)
{
    PGconn *d = it_connect(IT_DIRECT, REUSE_DB, NULL);
    it_exec(d, "DROP TABLE IF EXISTS it_reuse_rows");
    it_exec(d, "CREATE TABLE it_reuse_rows (x int)");

    PGconn *a = it_connect(IT_PROXY, REUSE_DB, NULL);
    it_exec(a, "BEGIN");
    it_exec(a, "INSERT INTO it_reuse_rows VALUES (1)");
    PQfinish(a); /* leaves without COMMIT */

    PGconn *b = it_connect(IT_PROXY, REUSE_DB, NULL);
    ck_assert_int_eq(PQtransactionStatus(b), PQTRANS_IDLE);
    ck_assert_int_eq(it_value_long(b, "SELECT count(*) FROM it_reuse_rows"), 0);
    /* A fresh transaction, not one still open from A. */
    it_exec(b, "BEGIN");
    ck_assert_int_eq(PQtransactionStatus(b), PQTRANS_INTRANS);
    it_exec(b, "COMMIT");
    PQfinish(b);

    ck_assert_int_eq(it_value_long(d, "SELECT count(*) FROM it_reuse_rows"), 0);
    it_exec(d, "DROP TABLE it_reuse_rows");
    PQfinish(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("it_pool");
    it_add_case(s, "pool_limit", test_pool_limit, 120);
    it_add_case(s, "session_reset", test_session_reset, 60);
    it_add_case(s, "disconnect_in_transaction", test_disconnect_in_transaction, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
