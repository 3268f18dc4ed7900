/* it_budget.c - the connection budget against a Postgres started with max_connections = 30 and
 * superuser_reserved_connections = 3 (tests/integration/budget.sh starts it and the pgpin
 * instances; IT_BUDGET_PART picks the part):
 *   one   150 clients x 20 transactions through one pgpin while 6 foreign connections are held:
 *         all succeed, and pgpin's connections never pass max - reserved - others - headroom
 *   two   the same load split over two pgpin instances (PGPIN_IT_PROXY2): their sum never
 *         passes max - reserved - others
 *   wait  a budget of 2 server connections: the third client gets the NOTICE, then 53300
 *         naming the server, its budget and its use
 *   full  Postgres itself answers 53300 (foreign connections took every slot): the client
 *         waits instead of failing and is served once slots free up
 * A sampler on a direct connection counts backends every 100 ms. */
#include "itlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONN   30
#define RESERVED   3
#define HEADROOM   2 /* 5% of 30 rounds to 2, the minimum */
#define NCLIENTS   150
#define NXACTS     20
#define MAXFOREIGN 40

static const char *part(void)
{
    const char *p = getenv("IT_BUDGET_PART");
    return p ? p : "";
}

/* ---- Foreign connections: direct, application_name "foreign" ---- */

static PGconn *foreign[MAXFOREIGN];
static int nforeign;

/* Open up to n foreign connections; stops at the first the server refuses. Returns how many. */
static int foreign_open(int n)
{
    int opened = 0;
    while (opened < n && nforeign < MAXFOREIGN) {
        PGconn *c = it_connect_raw(IT_DIRECT, "appdb", "application_name=foreign");
        if (PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            break;
        }
        foreign[nforeign++] = c;
        opened++;
    }
    return opened;
}

static void foreign_close(int n)
{
    while (n-- > 0 && nforeign > 0)
        PQfinish(foreign[--nforeign]);
}

/* ---- Sampler ---- */

typedef struct Sampler {
    pthread_t thread;
    atomic_bool stop;
    int limit; /* pgpin's connections must stay <= limit... */
    int max_seen, others_seen, samples, over;
    char why[256];
} Sampler;

static void *sampler_main(void *arg)
{
    Sampler *s = arg;
    PGconn *c = it_connect_raw(IT_DIRECT, "appdb", "application_name=sampler");
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(s->why, sizeof s->why, "sampler cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    while (!atomic_load(&s->stop)) {
        PGresult *r = PQexec(c, "SELECT count(*) FILTER (WHERE application_name NOT IN "
                                "('foreign', 'sampler', 'setup')), count(*) FILTER (WHERE "
                                "application_name IN ('foreign', 'sampler', 'setup')) FROM "
                                "pg_stat_activity WHERE backend_type = 'client backend'");
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            int ours = atoi(PQgetvalue(r, 0, 0)), others = atoi(PQgetvalue(r, 0, 1));
            s->samples++;
            if (ours > s->max_seen) s->max_seen = ours;
            if (others > s->others_seen) s->others_seen = others;
            if (ours > s->limit && !s->over++)
                snprintf(s->why, sizeof s->why, "%d pgpin connections with %d others (limit %d)",
                         ours, others, s->limit);
        }
        PQclear(r);
        usleep(100 * 1000);
    }
    PQfinish(c);
    return NULL;
}

static void sampler_start(Sampler *s, int limit)
{
    memset(s, 0, sizeof *s);
    s->limit = limit;
    ck_assert_int_eq(pthread_create(&s->thread, NULL, sampler_main, s), 0);
    usleep(300 * 1000); /* let it connect before pgpin reads the budget */
}

static void sampler_stop(Sampler *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
}

/* ---- Load: clients that each log in, run short transactions and leave ---- */

typedef struct Load {
    const char *proxy; /* conninfo without dbname */
    int id;
    char err[256];
} Load;

static void *client_main(void *arg)
{
    Load *l = arg;
    char ci[512], sql[128];
    snprintf(ci, sizeof ci, "%s dbname=appdb application_name=budget-client connect_timeout=60",
             l->proxy);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(l->err, sizeof l->err, "client %d: %s", l->id, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    for (int i = 0; i < NXACTS && !l->err[0]; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO budget_rows SELECT %d, %d FROM pg_sleep(0.01)",
                 l->id, i);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            snprintf(l->err, sizeof l->err, "client %d: %s", l->id, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return NULL;
}

static void make_table(void)
{
    PGconn *setup = it_connect(IT_DIRECT, "appdb", "application_name=setup");
    it_exec(setup, "DROP TABLE IF EXISTS budget_rows");
    it_exec(setup, "CREATE TABLE budget_rows (client int, n int)");
    PQfinish(setup);
}

/* Run NCLIENTS clients, spread over the proxies; every one must succeed. */
static void run_load(const char *const *proxies, int nproxies)
{
    static Load loads[NCLIENTS];
    pthread_t th[NCLIENTS];
    PGconn *setup;
    for (int i = 0; i < NCLIENTS; i++) {
        loads[i] = (Load){.proxy = proxies[i % nproxies], .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, client_main, &loads[i]), 0);
    }
    int failed = 0;
    const char *first = NULL;
    for (int i = 0; i < NCLIENTS; i++) {
        pthread_join(th[i], NULL);
        if (loads[i].err[0] && !failed++) first = loads[i].err;
    }
    ck_assert_msg(failed == 0, "%d of %d clients failed; first: %s", failed, NCLIENTS,
                  first ? first : "");
    setup = it_connect(IT_DIRECT, "appdb", "application_name=setup");
    ck_assert_int_eq(it_value_long(setup, "SELECT count(*) FROM budget_rows"), NCLIENTS * NXACTS);
    PQfinish(setup);
}

START_TEST(test_one_instance)
{
    Sampler s;
    make_table();
    ck_assert_int_eq(foreign_open(6), 6);
    /* others = 6 foreign + the sampler */
    sampler_start(&s, MAX_CONN - RESERVED - 7 - HEADROOM);
    const char *proxies[] = {it_conninfo(IT_PROXY)};
    run_load(proxies, 1);
    sampler_stop(&s);
    foreign_close(nforeign);
    ck_assert_msg(!s.why[0], "%s", s.why);
    ck_assert_msg(s.samples >= 5, "only %d samples", s.samples);
    ck_assert_msg(s.others_seen == 7 || s.others_seen == 8 /* the final count's connection */,
                  "others seen %d, expected 7", s.others_seen);
    printf("one instance: %d samples, at most %d pgpin connections (limit %d)\n", s.samples,
           s.max_seen, s.limit);
}
END_TEST

START_TEST(test_two_instances)
{
    Sampler s;
    const char *second = getenv("PGPIN_IT_PROXY2");
    ck_assert_msg(second != NULL, "PGPIN_IT_PROXY2 not set");
    make_table();
    ck_assert_int_eq(foreign_open(6), 6);
    sampler_start(&s, MAX_CONN - RESERVED - 7);
    const char *proxies[] = {it_conninfo(IT_PROXY), second};
    run_load(proxies, 2);
    sampler_stop(&s);
    foreign_close(nforeign);
    ck_assert_msg(!s.why[0], "%s", s.why);
    ck_assert_msg(s.samples >= 5, "only %d samples", s.samples);
    printf("two instances: %d samples, at most %d pgpin connections together (limit %d)\n",
           s.samples, s.max_seen, s.limit);
}
END_TEST

/* Start a raw login through pgpin as application_name=app; returns the socket. */
static int raw_login(void)
{
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", "appdb", NULL};
    size_t n = it_build_startup(buf, sizeof buf, 196608, kv);
    int fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(fd, buf, n));
    return fd;
}

START_TEST(test_wait_notice_and_timeout)
{
    /* budget = 30 - 3 - others - 2 = 3 (the control connection and two servers): 22 others */
    ck_assert_int_eq(foreign_open(22), 22);
    PGconn *a = it_connect(IT_PROXY, "appdb", NULL);
    PGconn *b = it_connect(IT_PROXY, "appdb", NULL);
    it_exec(a, "SELECT 1");
    it_exec(b, "SELECT 1");
    int fd = raw_login();
    ItMsg m;
    bool notice = false, error = false;
    double t0 = it_now(), t_notice = 0, t_error = 0;
    char notice_text[512] = "", error_text[512] = "", code[6] = "";
    while (!error && it_now() - t0 < 10) {
        ItRawResult r = it_raw_read(fd, &m, 10000);
        if (r != IT_RAW_MSG) break;
        if (m.type == 'N') {
            notice = true;
            t_notice = it_now() - t0;
            snprintf(notice_text, sizeof notice_text, "%s", it_msg_field(&m, 'M'));
        } else if (m.type == 'E') {
            error = true;
            t_error = it_now() - t0;
            snprintf(error_text, sizeof error_text, "%s", it_msg_field(&m, 'M'));
            snprintf(code, sizeof code, "%s", it_msg_field(&m, 'C'));
        }
        it_msg_free(&m);
    }
    close(fd);
    PQfinish(a);
    PQfinish(b);
    foreign_close(nforeign);
    ck_assert_msg(notice, "no NOTICE while waiting");
    ck_assert_msg(t_notice >= 0.8 && t_notice < 2.5, "notice after %.2f s (query_wait_notice 1)",
                  t_notice);
    ck_assert_msg(strstr(notice_text, "budget") && strstr(notice_text, "127.0.0.1:"),
                  "notice does not say why: %s", notice_text);
    ck_assert_msg(error, "no error after query_wait_timeout");
    ck_assert_str_eq(code, "53300");
    ck_assert_msg(t_error >= 2.8 && t_error < 6, "error after %.2f s (query_wait_timeout 3)",
                  t_error);
    ck_assert_msg(strstr(error_text, "query_wait_timeout") && strstr(error_text, "budget") &&
                      strstr(error_text, "in use") && strstr(error_text, "max_connections 30"),
                  "53300 message lacks server, budget or use: %s", error_text);
    printf("notice at %.2f s: %s\nerror at %.2f s: %s\n", t_notice, notice_text, t_error,
           error_text);
}
END_TEST

START_TEST(test_server_full_waits)
{
    /* pgpin reads a roomy budget first, then foreign superuser connections take every slot
     * Postgres has (reserved ones too): its next server connection gets 53300. */
    PGconn *a = it_connect(IT_PROXY, "appdb", NULL);
    it_exec(a, "SELECT 1");
    foreign_open(MAXFOREIGN);
    ck_assert_msg(nforeign >= 20, "only %d foreign connections", nforeign);
    char ci[512];
    snprintf(ci, sizeof ci, "%s dbname=appdb connect_timeout=30", it_conninfo(IT_PROXY));
    PGconn *b = PQconnectStart(ci);
    ck_assert(b != NULL);
    double t0 = it_now(), freed_at = 0;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED && it_now() - t0 < 20) {
        if (freed_at == 0 && it_now() - t0 > 2) {
            foreign_close(15); /* room again; the client must get in without an error */
            freed_at = it_now() - t0;
        }
        it_wait_readable(PQsocket(b), 100);
        st = PQconnectPoll(b);
    }
    double took = it_now() - t0;
    ck_assert_msg(st == PGRES_POLLING_OK, "client failed instead of waiting: %s",
                  PQerrorMessage(b));
    ck_assert_msg(took >= 1.9, "connected after %.2f s, before the slots were freed", took);
    it_exec(b, "SELECT 1");
    printf("server full: client waited %.2f s and got in (slots freed at %.2f s)\n", took,
           freed_at);
    PQfinish(b);
    PQfinish(a);
    foreign_close(nforeign);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("budget");
    const char *p = part();
    if (strcmp(p, "one") == 0) it_add_case(s, "one_instance", test_one_instance, 120);
    if (strcmp(p, "two") == 0) it_add_case(s, "two_instances", test_two_instances, 120);
    if (strcmp(p, "wait") == 0)
        it_add_case(s, "wait_notice_and_timeout", test_wait_notice_and_timeout, 60);
    if (strcmp(p, "full") == 0) it_add_case(s, "server_full_waits", test_server_full_waits, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
