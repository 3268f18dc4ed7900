/* it_shape.c - write-rate shaping through pgpin (tests/integration/shape.sh starts an instance
 * per part with the settings named here; IT_SHAPE_PART picks the part):
 *   order   write_rate = 20: a pipeline of write, read, write, ... returns in order and the
 *           table equals the serial result; reads of another client never wait for writes
 *   fair    write_rate = 100: a client pipelining writes without pause and a light client
 *           writing one at a time: the light one gets at least 40% of the rate
 *   cancel  write_rate = 1: a waiting write cancelled returns 57014 at once, in autocommit and
 *           inside a transaction block (which is then aborted, as Postgres would have it)
 *   maxwait write_rate = 1, write_max_wait = 0.3: a write waiting longer fails with 53400
 *   auto    pool_mode = auto, pool_size 2, write_rate 20: writers wait without a server, a
 *           reader is not held behind them */
#include "itlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *part(void)
{
    const char *p = getenv("IT_SHAPE_PART");
    return p ? p : "";
}

static void make_table(void)
{
    PGconn *d = it_connect(IT_DIRECT, "appdb", NULL);
    it_exec(d, "DROP TABLE IF EXISTS shape_rows");
    it_exec(d, "CREATE TABLE shape_rows (who text, n int)");
    PQfinish(d);
}

/* Use up the burst so the next write has to wait for its token. */
static void drain_tokens(PGconn *c, int n)
{
    for (int i = 0; i < n; i++)
        it_exec(c, "INSERT INTO shape_rows VALUES ('drain', 0)");
}

START_TEST(test_order)
{
    make_table();
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    ck_assert(PQenterPipelineMode(c));
    const int n = 20;
    char sql[128];
    for (int i = 0; i < n; i++) {
        if (i % 2 == 0)
            snprintf(sql, sizeof sql, "INSERT INTO shape_rows VALUES ('p', %d)", i);
        else
            snprintf(sql, sizeof sql, "SELECT count(*) FROM shape_rows WHERE who = 'p'");
        ck_assert(PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0));
        ck_assert(PQpipelineSync(c));
    }
    /* While the pipeline waits for tokens, another client's reads go straight through. */
    PGconn *r = it_connect(IT_PROXY, "appdb", NULL);
    double t0 = it_now();
    for (int i = 0; i < 5; i++)
        it_exec(r, "SELECT count(*) FROM shape_rows");
    double reads = it_now() - t0;
    PQfinish(r);
    for (int i = 0; i < n; i++) {
        PGresult *res = PQgetResult(c);
        ck_assert_ptr_nonnull(res);
        if (i % 2 == 0) {
            ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "insert %d: %s", i,
                          PQresultErrorMessage(res));
        } else {
            ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "select %d: %s", i,
                          PQresultErrorMessage(res));
            /* Serial order: the reads see exactly the inserts before them. */
            ck_assert_int_eq(atoi(PQgetvalue(res, 0, 0)), (i + 1) / 2);
        }
        PQclear(res);
        ck_assert_ptr_null(PQgetResult(c));
        res = PQgetResult(c);
        ck_assert(PQresultStatus(res) == PGRES_PIPELINE_SYNC);
        PQclear(res);
    }
    ck_assert(PQexitPipelineMode(c));
    ck_assert_msg(reads < 1.0, "5 reads took %.2f s behind shaped writes", reads);
    long rows = it_value_long(c, "SELECT count(*) FROM shape_rows WHERE who = 'p'");
    ck_assert_int_eq(rows, n / 2);
    PQfinish(c);
}
END_TEST

typedef struct Writer {
    const char *who;
    bool pipelined;
    atomic_bool *stop;
    int sent;
    char err[256];
} Writer;

static void *writer_main(void *arg)
{
    Writer *w = arg;
    PGconn *c = it_connect_raw(IT_PROXY, "appdb", NULL);
    char sql[128];
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(w->err, sizeof w->err, "%s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    snprintf(sql, sizeof sql, "INSERT INTO shape_rows VALUES ('%s', 1)", w->who);
    if (w->pipelined) {
        /* Keep up to 50 writes in flight: it offers far more than the shaped rate. */
        int inflight = 0;
        PQenterPipelineMode(c);
        while (!atomic_load(w->stop) || inflight > 0) {
            while (!atomic_load(w->stop) && inflight < 50) {
                PQsendQueryParams(c, sql, 0, NULL, NULL, NULL, NULL, 0);
                PQpipelineSync(c);
                inflight++;
            }
            PQflush(c);
            PGresult *r = PQgetResult(c);
            if (!r) continue;
            if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) inflight--;
            PQclear(r);
        }
        PQexitPipelineMode(c);
    } else {
        while (!atomic_load(w->stop)) {
            PGresult *r = PQexec(c, sql);
            if (PQresultStatus(r) == PGRES_COMMAND_OK) w->sent++;
            PQclear(r);
        }
    }
    PQfinish(c);
    return NULL;
}

START_TEST(test_fair)
{
    make_table();
    atomic_bool stop = false;
    Writer heavy = {.who = "heavy", .pipelined = true, .stop = &stop};
    Writer light = {.who = "light", .pipelined = false, .stop = &stop};
    pthread_t th[2];
    ck_assert_int_eq(pthread_create(&th[0], NULL, writer_main, &heavy), 0);
    usleep(300 * 1000); /* the heavy one is flooding before the light one starts */
    double t0 = it_now();
    ck_assert_int_eq(pthread_create(&th[1], NULL, writer_main, &light), 0);
    sleep(5);
    atomic_store(&stop, true);
    pthread_join(th[1], NULL);
    double secs = it_now() - t0;
    pthread_join(th[0], NULL);
    ck_assert_msg(!heavy.err[0] && !light.err[0], "%s %s", heavy.err, light.err);
    PGconn *d = it_connect(IT_DIRECT, "appdb", NULL);
    long lightn = it_value_long(d, "SELECT count(*) FROM shape_rows WHERE who = 'light'");
    long heavyn = it_value_long(d, "SELECT count(*) FROM shape_rows WHERE who = 'heavy'");
    PQfinish(d);
    double rate = lightn / secs;
    printf("fair: light %ld writes (%.1f/s), heavy %ld, in %.1f s at write_rate 100\n", lightn,
           rate, heavyn, secs);
    ck_assert_int_eq(lightn, light.sent);
    ck_assert_msg(rate >= 40, "light client got %.1f writes/s of 100", rate);
    ck_assert_msg(heavyn > 0, "heavy client got nothing");
    /* SHOW LIMITS counts them (the admin console, as admin user postgres). */
    PGconn *a = it_connect(IT_PROXY, "pgpin", NULL);
    PGresult *lr = it_exec_res(a, "SHOW LIMITS");
    int ca = PQfnumber(lr, "writes_admitted"), cd = PQfnumber(lr, "writes_delayed");
    int cr = PQfnumber(lr, "write_rate");
    ck_assert(ca >= 0 && cd >= 0 && cr >= 0 && PQntuples(lr) == 1);
    ck_assert_msg(atol(PQgetvalue(lr, 0, ca)) >= lightn + heavyn, "admitted %s",
                  PQgetvalue(lr, 0, ca));
    ck_assert_msg(atol(PQgetvalue(lr, 0, cd)) > 0, "delayed %s", PQgetvalue(lr, 0, cd));
    ck_assert_msg(atof(PQgetvalue(lr, 0, cr)) == 100, "write_rate %s", PQgetvalue(lr, 0, cr));
    PQclear(lr);
    PQfinish(a);
    /* Shaped at all: the two together stayed near 100/s (burst 10, the heavy client's head
     * start and its last pipeline included). */
    ck_assert_msg(lightn + heavyn <= 100 * (secs + 0.6) + 10 + 20, "%ld writes in %.1f s",
                  lightn + heavyn, secs);
}
END_TEST

/* Send `sql` on c, cancel it after 200 ms, and return how long the error took (seconds after
 * the cancel) with its SQLSTATE in state. */
static double cancel_one(PGconn *c, const char *sql, char state[6])
{
    ck_assert(PQsendQuery(c, sql));
    usleep(200 * 1000);
    PGcancel *cn = PQgetCancel(c);
    char err[256];
    double t0 = it_now();
    ck_assert(PQcancel(cn, err, sizeof err));
    PQfreeCancel(cn);
    PGresult *r;
    state[0] = '\0';
    while ((r = PQgetResult(c)) != NULL) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (s) snprintf(state, 6, "%s", s);
        PQclear(r);
    }
    return it_now() - t0;
}

START_TEST(test_cancel)
{
    make_table();
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    char state[6];
    drain_tokens(c, 2);
    double took = cancel_one(c, "INSERT INTO shape_rows VALUES ('cancel', 1)", state);
    ck_assert_str_eq(state, "57014");
    ck_assert_msg(took < 0.5, "cancel took %.2f s", took);
    /* Inside a block: the transaction is aborted, as after a cancelled statement. */
    drain_tokens(c, 2);
    it_exec(c, "BEGIN");
    took = cancel_one(c, "INSERT INTO shape_rows VALUES ('cancel', 2)", state);
    ck_assert_str_eq(state, "57014");
    ck_assert_msg(took < 0.5, "cancel in a block took %.2f s", took);
    it_expect_error(c, "SELECT 1", "25P02");
    it_exec(c, "ROLLBACK");
    ck_assert_int_eq(it_value_long(c, "SELECT count(*) FROM shape_rows WHERE who = 'cancel'"), 0);
    /* The session goes on: a later write is admitted when its token comes. */
    it_exec(c, "INSERT INTO shape_rows VALUES ('after', 1)");
    PQfinish(c);
}
END_TEST

START_TEST(test_max_wait)
{
    make_table();
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    drain_tokens(c, 1); /* the one token there is: the next write would wait about 1 s */
    double t0 = it_now();
    PGresult *r = PQexec(c, "INSERT INTO shape_rows VALUES ('late', 1)");
    double took = it_now() - t0;
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ck_assert_msg(s && strcmp(s, "53400") == 0, "got %s: %s", s ? s : "no error",
                  PQresultErrorMessage(r));
    ck_assert_msg(strstr(PQresultErrorMessage(r), "write_max_wait"), "message: %s",
                  PQresultErrorMessage(r));
    ck_assert_msg(took >= 0.25 && took < 0.9, "error after %.2f s (write_max_wait 0.3)", took);
    PQclear(r);
    ck_assert_int_eq(it_value_long(c, "SELECT count(*) FROM shape_rows WHERE who = 'late'"), 0);
    PQfinish(c);
}
END_TEST

typedef struct AutoWriter {
    int id;
    char err[256];
} AutoWriter;

static void *auto_writer_main(void *arg)
{
    AutoWriter *w = arg;
    PGconn *c = it_connect_raw(IT_PROXY, "appdb", NULL);
    char sql[128];
    for (int i = 0; i < 5 && PQstatus(c) == CONNECTION_OK && !w->err[0]; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO shape_rows VALUES ('auto', %d)", w->id);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            snprintf(w->err, sizeof w->err, "%s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (PQstatus(c) != CONNECTION_OK) snprintf(w->err, sizeof w->err, "%s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
}

/* pool_mode = auto, pool_size 2, write_rate 20: ten writers wait for tokens without holding a
 * server, so a reader's queries go straight through; every write lands, shaped. */
START_TEST(test_auto_mode)
{
    make_table();
    AutoWriter w[10];
    pthread_t th[10];
    PGconn *r = it_connect(IT_PROXY, "appdb", NULL);
    double t0 = it_now(), worst = 0;
    for (int i = 0; i < 10; i++) {
        w[i] = (AutoWriter){.id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, auto_writer_main, &w[i]), 0);
    }
    usleep(300 * 1000);
    for (int i = 0; i < 10; i++) {
        double q0 = it_now();
        it_exec(r, "SELECT count(*) FROM shape_rows");
        if (it_now() - q0 > worst) worst = it_now() - q0;
        usleep(50 * 1000);
    }
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(!w[i].err[0], "writer %d: %s", i, w[i].err);
    }
    double secs = it_now() - t0;
    ck_assert_int_eq(it_value_long(r, "SELECT count(*) FROM shape_rows WHERE who = 'auto'"), 50);
    PQfinish(r);
    printf("auto: 50 writes in %.2f s at write_rate 20; slowest read %.3f s\n", secs, worst);
    ck_assert_msg(secs >= (50 - 2) / 20.0 - 0.2, "50 writes in %.2f s: not shaped", secs);
    ck_assert_msg(worst < 0.5, "a read took %.3f s while writes waited", worst);
}
END_TEST

/* write_rate = auto: flood writes for a few seconds, then read the rate SHOW LIMITS shows.
 * IT_SHAPE_AIMD=down (a latency target no commit meets: the rate falls from 1000) or up (a
 * target every commit meets, writes waiting: it climbs). */
START_TEST(test_aimd)
{
    const char *dir = getenv("IT_SHAPE_AIMD");
    ck_assert_ptr_nonnull(dir);
    make_table();
    atomic_bool stop = false;
    Writer w = {.who = "aimd", .pipelined = true, .stop = &stop};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    sleep(4);
    atomic_store(&stop, true);
    pthread_join(th, NULL);
    ck_assert_msg(!w.err[0], "%s", w.err);
    PGconn *a = it_connect(IT_PROXY, "pgpin", NULL);
    PGresult *lr = it_exec_res(a, "SHOW LIMITS");
    double rate = atof(PQgetvalue(lr, 0, PQfnumber(lr, "write_rate")));
    PQclear(lr);
    PQfinish(a);
    printf("aimd %s: write_rate after 4 s of writes: %.1f/s (started at 1000)\n", dir, rate);
    if (strcmp(dir, "down") == 0)
        ck_assert_msg(rate < 300, "rate %.1f did not fall", rate);
    else
        ck_assert_msg(rate > 1100, "rate %.1f did not climb", rate);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shape");
    const char *p = part();
    if (strcmp(p, "order") == 0) it_add_case(s, "pipeline_order", test_order, 60);
    if (strcmp(p, "fair") == 0) it_add_case(s, "fair_share", test_fair, 60);
    if (strcmp(p, "cancel") == 0) it_add_case(s, "cancel_waiting_write", test_cancel, 60);
    if (strcmp(p, "maxwait") == 0) it_add_case(s, "write_max_wait", test_max_wait, 60);
    if (strcmp(p, "auto") == 0) it_add_case(s, "auto_mode", test_auto_mode, 60);
    if (strncmp(p, "aimd", 4) == 0) it_add_case(s, "write_rate_auto", test_aimd, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
