/* it_auto.c - pool_mode = auto through pgpin (tests/integration/auto.sh starts the instances;
 * IT_AUTO_PART picks the part):
 *   main   pool_mode = auto, default_pool_size = 4: 40 libpq clients x 200 parameterised
 *          queries with their own session SETs (read back) and named prepared statements use
 *          at most 4 server connections; LISTEN pins the listener (same backend pid for life)
 *          and it receives every NOTIFY, one sent inside a transaction only after COMMIT, while
 *          the others keep multiplexing; each pin reason keeps its state, transaction-scoped
 *          state does not pin; SET LOCAL, a rolled back SET, RESET, RESET ALL, DISCARD ALL and
 *          DEALLOCATE are honoured on whatever server comes next; same-named statements of two
 *          clients do not mix; cancel reaches the running query; pinned servers do not count
 *          against the pool size.
 *          A raw-protocol client's Close('S') is honoured on every server; a server lost
 *          mid-transaction fails only its client.
 *   idle   client_idle_timeout = 1: a client between transactions is closed, one inside a
 *          transaction is not.
 *   perdb  pool_mode = session globally, database appdb with pool_mode=auto (pool_size=2) and
 *          sessdb in session mode: appdb multiplexes 10 clients on 2 servers, sessdb does not.
 * Most checks run while background clients keep the pool's servers busy, so that a client
 * switches servers between its transactions (each check also asserts that it did). */
#include "itlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#define POOL 4

static const char *part(void)
{
    const char *p = getenv("IT_AUTO_PART");
    return p ? p : "main";
}

/* ---- Background load: clients running short queries until stopped ---- */

typedef struct Load {
    pthread_t th[16];
    int n;
    atomic_bool stop;
    atomic_int errors;
    const char *db;
} Load;

static void *load_main(void *arg)
{
    Load *l = arg;
    PGconn *c = it_connect_raw(IT_PROXY, l->db, NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        atomic_fetch_add(&l->errors, 1);
        PQfinish(c);
        return NULL;
    }
    while (!atomic_load(&l->stop)) {
        PGresult *r = PQexec(c, "SELECT pg_sleep(0.002)");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) atomic_fetch_add(&l->errors, 1);
        PQclear(r);
    }
    PQfinish(c);
    return NULL;
}

static void load_start(Load *l, int n, const char *db)
{
    memset(l, 0, sizeof *l);
    l->n = n;
    l->db = db;
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(pthread_create(&l->th[i], NULL, load_main, l), 0);
}

static void load_stop(Load *l)
{
    atomic_store(&l->stop, true);
    for (int i = 0; i < l->n; i++)
        pthread_join(l->th[i], NULL);
    ck_assert_int_eq(atomic_load(&l->errors), 0);
}

/* Distinct backend pids seen, up to 64. */
typedef struct Pids {
    int v[64], n;
} Pids;

static void pids_add(Pids *p, int pid)
{
    for (int i = 0; i < p->n; i++)
        if (p->v[i] == pid) return;
    if (p->n < 64) p->v[p->n++] = pid;
}

static int pid_of(PGconn *c)
{
    return (int)it_value_long(c, "SELECT pg_backend_pid()");
}

/* Value of a setting, compared; frees. */
static void expect_setting(PGconn *c, const char *name, const char *want, const char *ctx)
{
    char q[200];
    snprintf(q, sizeof q, "SELECT current_setting('%s')", name);
    char *v = it_value(c, q);
    ck_assert_msg(strcmp(v, want) == 0, "%s: %s is '%s', want '%s'", ctx, name, v, want);
    free(v);
}

/* Backends of database db in pg_stat_activity other than the caller's. */
static long backends(PGconn *direct, const char *db)
{
    char q[300];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
             "backend_type = 'client backend' AND pid <> pg_backend_pid() AND "
             "application_name <> 'pgpin-limits'",
             db);
    return it_value_long(direct, q);
}

/* ---- 40 libpq clients ---- */

#define NCLIENTS 40
#define NQUERIES 200

typedef struct Worker {
    int i;
    char err[300];
    Pids pids;
    long peak; /* not used by clients */
} Worker;

static void *client_main(void *arg)
{
    Worker *w = arg;
    char q[200], v[32], want_st[32], want_app[32], want_c[16];
    PGconn *c = it_connect_raw(IT_PROXY, "appdb", NULL);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(w->err, sizeof w->err, "connect: %s", PQerrorMessage(c));
        goto out;
    }
    snprintf(want_st, sizeof want_st, "%dms", 10001 + w->i);
    snprintf(want_app, sizeof want_app, "libpq-%d", w->i);
    snprintf(want_c, sizeof want_c, "%d", w->i);
    snprintf(q, sizeof q,
             "SET statement_timeout = %d; SET application_name = '%s'; SET pgpin.client = '%d'",
             10001 + w->i, want_app, w->i);
    PGresult *r = PQexec(c, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(w->err, sizeof w->err, "SET: %s", PQerrorMessage(c));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    const char *sql = "SELECT $1::int + 1, current_setting('statement_timeout'), "
                      "current_setting('application_name'), current_setting('pgpin.client'), "
                      "pg_backend_pid()";
    r = PQprepare(c, "read_back", sql, 1, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(w->err, sizeof w->err, "PQprepare: %s", PQerrorMessage(c));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    for (int k = 0; k < NQUERIES; k++) {
        int val = w->i * 100000 + k;
        snprintf(v, sizeof v, "%d", val);
        const char *params[1] = {v};
        bool tx = k % 4 == 3;
        if (tx) PQclear(PQexec(c, "BEGIN"));
        r = k % 2 ? PQexecPrepared(c, "read_back", 1, params, NULL, NULL, 0)
                  : PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
        if (tx) PQclear(PQexec(c, "COMMIT"));
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            snprintf(w->err, sizeof w->err, "query %d: %s", k, PQerrorMessage(c));
            PQclear(r);
            goto out;
        }
        if (atoi(PQgetvalue(r, 0, 0)) != val + 1 || strcmp(PQgetvalue(r, 0, 1), want_st) ||
            strcmp(PQgetvalue(r, 0, 2), want_app) || strcmp(PQgetvalue(r, 0, 3), want_c)) {
            snprintf(w->err, sizeof w->err, "query %d: got %s %s %s %s, want %d %s %s %s", k,
                     PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                     PQgetvalue(r, 0, 3), val + 1, want_st, want_app, want_c);
            PQclear(r);
            goto out;
        }
        pids_add(&w->pids, atoi(PQgetvalue(r, 0, 4)));
        PQclear(r);
    }
out:
    PQfinish(c);
    return NULL;
}

typedef struct Sampler {
    pthread_t th;
    atomic_bool stop;
    atomic_long peak;
    const char *db;
} Sampler;

static void *sampler_main(void *arg)
{
    Sampler *s = arg;
    PGconn *d = it_connect_raw(IT_DIRECT, "postgres", NULL);
    while (PQstatus(d) == CONNECTION_OK && !atomic_load(&s->stop)) {
        char q[300];
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                 "backend_type = 'client backend' AND application_name <> 'pgpin-limits'",
                 s->db);
        PGresult *r = PQexec(d, q);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            long n = atol(PQgetvalue(r, 0, 0));
            if (n > atomic_load(&s->peak)) atomic_store(&s->peak, n);
        }
        PQclear(r);
        usleep(20000);
    }
    PQfinish(d);
    return NULL;
}

START_TEST(libpq_40_clients)
{
    static Worker w[NCLIENTS];
    pthread_t th[NCLIENTS];
    Sampler s = {.db = "appdb"};
    Pids all = {0};
    ck_assert_int_eq(pthread_create(&s.th, NULL, sampler_main, &s), 0);
    for (int i = 0; i < NCLIENTS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].i = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, client_main, &w[i]), 0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&s.stop, true);
    pthread_join(s.th, NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        ck_assert_msg(w[i].err[0] == 0, "client %d: %s", i, w[i].err);
        for (int k = 0; k < w[i].pids.n; k++)
            pids_add(&all, w[i].pids.v[k]);
    }
    printf("# 40 libpq clients x %d queries: %d distinct backends, peak %ld in "
           "pg_stat_activity\n",
           NQUERIES, all.n, atomic_load(&s.peak));
    ck_assert_msg(all.n <= POOL, "%d backends served 40 clients (pool size %d)", all.n, POOL);
    ck_assert_msg(atomic_load(&s.peak) <= POOL, "pg_stat_activity peaked at %ld backends",
                  atomic_load(&s.peak));
}
END_TEST

/* ---- LISTEN ---- */

/* Column `name` of the SHOW CLIENTS row of client c (its BackendKeyData pid is pgpin's id),
 * as a malloc'd string ("" for NULL). */
static char *show_client(PGconn *admin, PGconn *c, const char *name)
{
    char id[32];
    snprintf(id, sizeof id, "C-%u", (unsigned)PQbackendPID(c));
    PGresult *r = it_exec_res(admin, "SHOW CLIENTS");
    int cid = PQfnumber(r, "id"), cw = PQfnumber(r, "worker"), cn = PQfnumber(r, name);
    ck_assert(cid >= 0 && cw >= 0 && cn >= 0);
    char *v = NULL;
    for (int i = 0; i < PQntuples(r) && !v; i++)
        if (strcmp(PQgetvalue(r, i, cid), id) == 0 &&
            (unsigned)atoi(PQgetvalue(r, i, cw)) == (unsigned)PQbackendPID(c) >> 24)
            v = strdup(PQgetvalue(r, i, cn));
    PQclear(r);
    ck_assert_msg(v != NULL, "%s not in SHOW CLIENTS", id);
    return v;
}

/* Notifications received by c within ms, appended to got (payloads joined by ','). */
static int drain_notifies(PGconn *c, int ms, char *got, size_t gotlen)
{
    int n = 0;
    double end = it_now() + ms / 1000.0;
    for (;;) {
        PGnotify *nf;
        ck_assert_int_eq(PQconsumeInput(c), 1);
        while ((nf = PQnotifies(c)) != NULL) {
            size_t l = strlen(got);
            snprintf(got + l, gotlen - l, "%s%s", l ? "," : "", nf->extra);
            PQfreemem(nf);
            n++;
        }
        double left = end - it_now();
        if (left <= 0) break;
        it_wait_readable(PQsocket(c), (int)(left * 1000) + 1);
    }
    return n;
}

START_TEST(listen_pinned)
{
    Load l;
    Pids senders = {0};
    char got[4096] = "", q[100];
    PGconn *lc = it_connect(IT_PROXY, "appdb", NULL);
    it_exec(lc, "LISTEN auto_ch");
    int lpid = pid_of(lc);
    load_start(&l, 6, "appdb");
    PGconn *s = it_connect(IT_PROXY, "appdb", NULL);
    for (int k = 0; k < 50; k++) {
        snprintf(q, sizeof q, "NOTIFY auto_ch, 'm%d'", k);
        it_exec(s, q);
        int p = pid_of(s);
        ck_assert_msg(p != lpid, "a sender got the listener's pinned backend %d", p);
        pids_add(&senders, p);
        ck_assert_int_eq(pid_of(lc), lpid);
    }
    /* Inside a transaction: delivered only after COMMIT. */
    it_exec(s, "BEGIN");
    it_exec(s, "NOTIFY auto_ch, 'in-tx'");
    int n = drain_notifies(lc, 50, got, sizeof got);
    ck_assert_msg(strstr(got, "in-tx") == NULL, "delivered before COMMIT");
    usleep(300000);
    n += drain_notifies(lc, 10, got, sizeof got);
    ck_assert_msg(strstr(got, "in-tx") == NULL, "delivered before COMMIT");
    it_exec(s, "COMMIT");
    for (int tries = 0; tries < 50 && n < 51; tries++)
        n += drain_notifies(lc, 100, got, sizeof got);
    load_stop(&l);
    ck_assert_msg(n == 51, "listener got %d of 51 notifications: %s", n, got);
    for (int k = 0; k < 50; k++) {
        snprintf(q, sizeof q, "m%d,", k);
        ck_assert_msg(strstr(got, q) != NULL || k == 49, "m%d missing", k);
    }
    ck_assert_msg(strstr(got, "in-tx") != NULL, "the transaction's notification is missing");
    ck_assert_int_eq(pid_of(lc), lpid);
    printf("# listener kept backend %d; the sender used %d backends\n", lpid, senders.n);
    ck_assert_msg(senders.n >= 2, "the sender never switched servers (%d)", senders.n);
    /* SHOW CLIENTS says who is pinned and why; SHOW POOLS the mode. */
    PGconn *a = it_connect(IT_PROXY, "pgpin", NULL);
    char *v = show_client(a, lc, "pinned");
    ck_assert_str_eq(v, "LISTEN");
    free(v);
    v = show_client(a, s, "pinned");
    ck_assert_str_eq(v, "");
    free(v);
    v = show_client(a, s, "state");
    ck_assert_str_eq(v, "idle");
    free(v);
    PGresult *r = it_exec_res(a, "SHOW POOLS");
    ck_assert_str_eq(PQgetvalue(r, 0, PQfnumber(r, "pool_mode")), "auto");
    PQclear(r);
    PQfinish(a);
    PQfinish(s);
    PQfinish(lc);
}
END_TEST

/* ---- Pin reasons: the state survives while others keep the pool busy ---- */

static void pin_case(const char *setup, const char *probe, const char *want)
{
    Load l;
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    it_exec(c, setup);
    int pid = pid_of(c);
    load_start(&l, 8, "appdb");
    for (int k = 0; k < 40; k++) {
        char *v = it_value(c, probe);
        ck_assert_msg(strcmp(v, want) == 0, "after \"%s\": %s gave '%s'", setup, probe, v);
        free(v);
        ck_assert_int_eq(pid_of(c), pid);
        usleep(2000);
    }
    load_stop(&l);
    PQfinish(c);
}

START_TEST(pin_temp_table)
{
    pin_case("CREATE TEMP TABLE auto_t AS SELECT 7 AS x", "SELECT x FROM auto_t", "7");
}
END_TEST

START_TEST(pin_advisory_lock)
{
    pin_case("SELECT pg_advisory_lock(4242)",
             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND "
             "pid = pg_backend_pid()",
             "1");
}
END_TEST

START_TEST(pin_with_hold)
{
    Load l;
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    it_exec(c, "DECLARE auto_cur CURSOR WITH HOLD FOR SELECT g FROM generate_series(1, 100) g");
    load_start(&l, 8, "appdb");
    for (int k = 1; k <= 40; k++) {
        long v = it_value_long(c, "FETCH NEXT FROM auto_cur");
        ck_assert_int_eq(v, k);
        usleep(2000);
    }
    load_stop(&l);
    PQfinish(c);
}
END_TEST

START_TEST(pin_sql_prepare)
{
    pin_case("PREPARE auto_p AS SELECT 41 + 1", "EXECUTE auto_p", "42");
}
END_TEST

START_TEST(pin_load)
{
    pin_case("LOAD 'auto_explain'", "SELECT current_setting('auto_explain.log_min_duration')",
             "-1");
}
END_TEST

/* State that ends with its transaction does not pin: the client keeps switching servers. */
START_TEST(no_pin_transaction_scoped)
{
    static const char *const stmts[] = {
        "BEGIN; SELECT pg_advisory_xact_lock(4243); COMMIT",
        "BEGIN; CREATE TEMP TABLE auto_x (a int) ON COMMIT DROP; COMMIT",
        "BEGIN; SET LOCAL statement_timeout = 1000; COMMIT",
        "BEGIN; DECLARE auto_c CURSOR FOR SELECT 1; CLOSE auto_c; COMMIT",
        "SELECT set_config('pgpin.local', 'x', true)",
    };
    Load l;
    Pids p = {0};
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    load_start(&l, 8, "appdb");
    for (int k = 0; k < 40; k++) {
        it_exec(c, stmts[k % 5]);
        pids_add(&p, pid_of(c));
        usleep(2000);
    }
    load_stop(&l);
    ck_assert_msg(p.n >= 2, "transaction-scoped state pinned the client (1 backend)");
    PQfinish(c);
}
END_TEST

/* ---- Recorded session state ---- */

/* Run probe on c n times under load; every answer must be want; c must switch servers. */
static void follow(PGconn *c, const char *name, const char *want, const char *ctx)
{
    Pids p = {0};
    for (int k = 0; k < 40; k++) {
        expect_setting(c, name, want, ctx);
        pids_add(&p, pid_of(c));
        usleep(2000);
    }
    ck_assert_msg(p.n >= 2, "%s: the client never switched servers", ctx);
}

START_TEST(set_semantics)
{
    Load l;
    PGconn *c = it_connect(IT_PROXY, "appdb", "options='-c work_mem=1234kB'");
    load_start(&l, 8, "appdb");
    follow(c, "work_mem", "1234kB", "startup option");
    it_exec(c, "SET work_mem = '2MB'");
    it_exec(c, "SET search_path = auto_a, public");
    follow(c, "work_mem", "2MB", "SET");
    follow(c, "search_path", "auto_a, public", "SET search_path");
    /* SET LOCAL stays in its transaction. */
    it_exec(c, "BEGIN");
    it_exec(c, "SET LOCAL work_mem = '3MB'");
    expect_setting(c, "work_mem", "3MB", "SET LOCAL inside");
    it_exec(c, "COMMIT");
    follow(c, "work_mem", "2MB", "after SET LOCAL");
    /* A SET in a transaction that rolls back, or fails, is not kept. */
    it_exec(c, "BEGIN");
    it_exec(c, "SET work_mem = '5MB'");
    it_exec(c, "ROLLBACK");
    follow(c, "work_mem", "2MB", "after a rolled back SET");
    it_exec(c, "BEGIN");
    it_exec(c, "SET work_mem = '6MB'");
    it_expect_error(c, "SELECT 1/0", "22012");
    it_exec(c, "COMMIT");
    follow(c, "work_mem", "2MB", "after a failed transaction's SET");
    it_expect_error(c, "SET work_mem = '7MB'; SELECT 1/0", "22012");
    follow(c, "work_mem", "2MB", "after a failed implicit transaction's SET");
    /* A committed transaction's SET is kept; set_config(..., false) too. */
    it_exec(c, "BEGIN; SET work_mem = '8MB'; COMMIT");
    follow(c, "work_mem", "8MB", "after a committed transaction's SET");
    /* RESET returns to the startup value, RESET ALL too. */
    it_exec(c, "RESET work_mem");
    follow(c, "work_mem", "1234kB", "RESET");
    it_exec(c, "SET work_mem = '9MB'");
    it_exec(c, "RESET ALL");
    follow(c, "work_mem", "1234kB", "RESET ALL");
    follow(c, "search_path", "\"$user\", public", "RESET ALL search_path");
    load_stop(&l);
    PQfinish(c);
}
END_TEST

START_TEST(set_config_recorded)
{
    Load l;
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    load_start(&l, 8, "appdb");
    it_exec(c, "SELECT set_config('pgpin.sc', 'v1', false)");
    follow(c, "pgpin.sc", "v1", "set_config(..., false)");
    it_exec(c, "SELECT set_config('pgpin.sc', 'v2', true)");
    follow(c, "pgpin.sc", "v1", "set_config(..., true) stays local");
    load_stop(&l);
    PQfinish(c);
}
END_TEST

START_TEST(discard_all)
{
    Load l;
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    load_start(&l, 8, "appdb");
    it_exec(c, "SET work_mem = '2MB'");
    PQclear(PQprepare(c, "auto_d", "SELECT 5", 0, NULL));
    it_exec(c, "DISCARD ALL");
    follow(c, "work_mem", "4MB", "after DISCARD ALL");
    PGresult *r = PQexecPrepared(c, "auto_d", 0, NULL, NULL, NULL, 0);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000");
    PQclear(r);
    load_stop(&l);
    PQfinish(c);
}
END_TEST

/* Two clients, one statement name, two bodies; DEALLOCATE drops it. */
START_TEST(prepared_names)
{
    Load l;
    Pids pa = {0};
    PGconn *a = it_connect(IT_PROXY, "appdb", NULL), *b = it_connect(IT_PROXY, "appdb", NULL);
    PGresult *r;
    r = PQprepare(a, "same", "SELECT 'a' || $1::text", 1, NULL);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQprepare(b, "same", "SELECT 'b' || $1::text || pg_backend_pid()::text", 1, NULL);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    load_start(&l, 6, "appdb");
    for (int k = 0; k < 100; k++) {
        const char *p[1] = {"x"};
        PGconn *c = k % 2 ? b : a;
        r = PQexecPrepared(c, "same", 1, p, NULL, NULL, 0);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%d: %s", k, PQerrorMessage(c));
        ck_assert_int_eq(PQgetvalue(r, 0, 0)[0], k % 2 ? 'b' : 'a');
        PQclear(r);
        if (k % 2 == 0) pids_add(&pa, pid_of(a));
    }
    ck_assert_msg(pa.n >= 2, "the client never switched servers");
    it_exec(a, "DEALLOCATE same");
    for (int k = 0; k < 10; k++) {
        r = PQexecPrepared(a, "same", 0, NULL, NULL, NULL, 0);
        ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000");
        PQclear(r);
        /* a's name is free again: prepare it anew (no "already exists" from a server). */
        r = PQprepare(a, "same", "SELECT 'a2'", 0, NULL);
        ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(a));
        PQclear(r);
        r = PQexecPrepared(a, "same", 0, NULL, NULL, NULL, 0);
        ck_assert_str_eq(PQgetvalue(r, 0, 0), "a2");
        PQclear(r);
        it_exec(a, "DEALLOCATE ALL");
    }
    load_stop(&l);
    PQfinish(a);
    PQfinish(b);
}
END_TEST

START_TEST(cancel_running)
{
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL);
    char err[256];
    ck_assert_int_eq(PQsendQuery(c, "SELECT pg_sleep(20)"), 1);
    usleep(300000);
    PGcancel *cc = PQgetCancel(c);
    double t0 = it_now();
    ck_assert_int_eq(PQcancel(cc, err, sizeof err), 1);
    PQfreeCancel(cc);
    PGresult *r;
    const char *st = "";
    while ((r = PQgetResult(c)) != NULL) {
        if (PQresultStatus(r) == PGRES_FATAL_ERROR) st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        ck_assert_str_eq(st, "57014");
        PQclear(r);
    }
    ck_assert_msg(it_now() - t0 < 5, "cancel took %.1f s", it_now() - t0);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    PQfinish(c);
}
END_TEST

/* Pinned servers are outside the pool size: POOL + 2 listeners still leave room. */
START_TEST(pinned_outside_pool)
{
    PGconn *ls[POOL + 2];
    for (int i = 0; i < POOL + 2; i++) {
        ls[i] = it_connect(IT_PROXY, "appdb", NULL);
        it_exec(ls[i], "LISTEN auto_many");
    }
    PGconn *c = it_connect(IT_PROXY, "appdb", "connect_timeout=10");
    double t0 = it_now();
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    ck_assert_msg(it_now() - t0 < 3, "a client waited %.1f s behind pinned listeners",
                  it_now() - t0);
    PGconn *d = it_connect(IT_DIRECT, "postgres", NULL);
    long n = backends(d, "appdb");
    ck_assert_msg(n <= 2 * POOL + 2, "%ld backends", n);
    for (int i = 0; i < POOL + 2; i++)
        PQfinish(ls[i]);
    PQfinish(c);
    PQfinish(d);
}
END_TEST

/* ---- Raw protocol: Close('S') is honoured ---- */

/* Send the messages in b, then read until ReadyForQuery; returns the types seen ("1", "3",
 * "2", "D:<first column>", "E:<sqlstate>") joined, into out. */
static void raw_round(int fd, WireBuf *b, char *out, size_t cap)
{
    ItMsg m;
    size_t o = 0;
    ck_assert(!b->oom && it_raw_send(fd, b->data, b->len));
    out[0] = '\0';
    for (;;) {
        ck_assert_int_eq(it_raw_read(fd, &m, 10000), IT_RAW_MSG);
        if (m.type == 'Z') {
            it_msg_free(&m);
            break;
        }
        if (m.type == 'D' && m.len >= 6) {
            uint32_t n = wire_be32(m.body + 2);
            o += (size_t)snprintf(out + o, cap - o, "D:%.*s ", (int)n, (const char *)m.body + 6);
        } else if (m.type == 'E') {
            o += (size_t)snprintf(out + o, cap - o, "E:%s ", it_msg_field(&m, 'C'));
        } else if (m.type != 'T' && m.type != 'C' && m.type != 'N') {
            o += (size_t)snprintf(out + o, cap - o, "%c ", m.type);
        }
        it_msg_free(&m);
    }
}

static void put_parse(WireBuf *b, const char *name, const char *sql)
{
    wire_msg_begin(b, 'P');
    wire_put_string(b, name);
    wire_put_string(b, sql);
    wire_put_i16(b, 0);
    wire_msg_end(b);
}

static void put_exec(WireBuf *b, const char *name)
{
    wire_msg_begin(b, 'B');
    wire_put_string(b, "");
    wire_put_string(b, name);
    wire_put_i16(b, 0), wire_put_i16(b, 0), wire_put_i16(b, 0);
    wire_msg_end(b);
    wire_msg_begin(b, 'E');
    wire_put_string(b, "");
    wire_put_i32(b, 0);
    wire_msg_end(b);
}

static void put_simple(WireBuf *b, uint8_t type, char kind, const char *name)
{
    wire_msg_begin(b, type);
    if (kind) wire_put_u8(b, (uint8_t)kind);
    if (name) wire_put_string(b, name);
    wire_msg_end(b);
}

START_TEST(protocol_close)
{
    unsigned char buf[256];
    char got[512], why[200], want[64];
    const char *kv[] = {"user", "postgres", "database", "appdb", NULL};
    Load l;
    WireBuf b;
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ck_assert_msg(it_raw_until_ready(fd, 10000, why, sizeof why), "%s", why);
    load_start(&l, 8, "appdb");
    for (int k = 0; k < 30; k++) {
        /* Prepare s1 with body k, use it (another transaction: maybe another server), close
         * it: the next Parse of s1 must not meet "already exists" anywhere. */
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d", k);
        wire_buf_init(&b);
        put_parse(&b, "s1", sql);
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "1 ") == 0, "Parse %d: %s", k, got);
        wire_buf_free(&b);
        wire_buf_init(&b);
        put_exec(&b, "s1");
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        snprintf(want, sizeof want, "2 D:%d ", k);
        ck_assert_msg(strcmp(got, want) == 0, "Execute %d: %s", k, got);
        wire_buf_free(&b);
        wire_buf_init(&b);
        put_simple(&b, 'C', 'S', "s1");
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "3 ") == 0, "Close %d: %s", k, got);
        wire_buf_free(&b);
    }
    /* A closed statement is gone for the client, whichever server it gets. */
    wire_buf_init(&b);
    put_exec(&b, "s1");
    put_simple(&b, 'S', 0, NULL);
    raw_round(fd, &b, got, sizeof got);
    ck_assert_msg(strcmp(got, "E:26000 ") == 0, "after Close: %s", got);
    wire_buf_free(&b);
    load_stop(&l);
    close(fd);
}
END_TEST

/* A named Parse skipped because an earlier message of its batch failed does not exist: the
 * client prepares it again later and must not meet "already exists" (pgjdbc executeBatch,
 * psycopg pipelines and pgx batches do this). */
START_TEST(skipped_parse)
{
    unsigned char buf[256];
    char got[512], why[200], name[16], want[32];
    const char *kv[] = {"user", "postgres", "database", "appdb", NULL};
    Load l;
    WireBuf b;
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ck_assert_msg(it_raw_until_ready(fd, 10000, why, sizeof why), "%s", why);
    load_start(&l, 8, "appdb");
    for (int k = 0; k < 20; k++) {
        snprintf(name, sizeof name, "sk%d", k);
        /* Batch: a failing statement, then Parse of a new name: skipped. */
        wire_buf_init(&b);
        put_parse(&b, "", "SELECT 1/0");
        put_exec(&b, "");
        put_parse(&b, name, "SELECT 7");
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "1 E:22012 ") == 0, "failing batch %d: %s", k, got);
        wire_buf_free(&b);
        /* The driver prepares it again (maybe on another server). */
        wire_buf_init(&b);
        put_parse(&b, name, "SELECT 8");
        put_exec(&b, name);
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        snprintf(want, sizeof want, "1 2 D:8 ");
        ck_assert_msg(strcmp(got, want) == 0, "Parse again %d: %s", k, got);
        wire_buf_free(&b);
        /* And a Parse that fails by itself is gone too. */
        wire_buf_init(&b);
        put_parse(&b, "bad", "SELEC 1");
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "E:42601 ") == 0, "bad Parse %d: %s", k, got);
        wire_buf_free(&b);
        wire_buf_init(&b);
        put_exec(&b, name);
        put_simple(&b, 'S', 0, NULL);
        raw_round(fd, &b, got, sizeof got);
        ck_assert_msg(strcmp(got, "2 D:8 ") == 0, "use %d: %s", k, got);
        wire_buf_free(&b);
    }
    load_stop(&l);
    close(fd);
}
END_TEST

/* The server dies mid-transaction: that client gets an error, the others go on. */
START_TEST(server_loss)
{
    PGconn *c = it_connect(IT_PROXY, "appdb", NULL), *o = it_connect(IT_PROXY, "appdb", NULL);
    PGconn *d = it_connect(IT_DIRECT, "postgres", NULL);
    char q[100];
    it_exec(c, "BEGIN");
    int pid = pid_of(c);
    snprintf(q, sizeof q, "SELECT pg_terminate_backend(%d)", pid);
    it_exec(d, q);
    PGresult *r = PQexec(c, "SELECT 1");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    for (int k = 0; k < 20; k++)
        ck_assert_int_eq(it_value_long(o, "SELECT 1"), 1);
    PGconn *n = it_connect(IT_PROXY, "appdb", NULL);
    ck_assert_int_eq(it_value_long(n, "SELECT 1"), 1);
    PQfinish(c), PQfinish(o), PQfinish(n), PQfinish(d);
}
END_TEST

/* ---- idle: client_idle_timeout = 1 ---- */

START_TEST(idle_timeout)
{
    PGconn *idle = it_connect(IT_PROXY, "appdb", NULL), *tx = it_connect(IT_PROXY, "appdb", NULL);
    ck_assert_int_eq(it_value_long(idle, "SELECT 1"), 1);
    it_exec(tx, "BEGIN");
    sleep(3);
    /* Between transactions, holding no server: closed. */
    PGresult *r = PQexec(idle, "SELECT 1");
    ck_assert_int_ne(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    /* Inside a transaction (it holds its server): kept. */
    ck_assert_int_eq(it_value_long(tx, "SELECT 1"), 1);
    it_exec(tx, "COMMIT");
    PQfinish(idle), PQfinish(tx);
}
END_TEST

/* ---- perdb ---- */

START_TEST(per_database_mode)
{
    PGconn *a[10], *s[3];
    Pids pa = {0};
    for (int i = 0; i < 10; i++) {
        a[i] = it_connect(IT_PROXY, "appdb", NULL);
        pids_add(&pa, pid_of(a[i]));
    }
    for (int i = 0; i < 10; i++)
        pids_add(&pa, pid_of(a[i]));
    ck_assert_msg(pa.n <= 2, "10 auto clients of appdb used %d backends (pool_size=2)", pa.n);
    /* sessdb is in session mode: 3 clients, 3 backends held for their lives. */
    Pids ps = {0};
    for (int i = 0; i < 3; i++) {
        s[i] = it_connect(IT_PROXY, "sessdb", NULL);
        pids_add(&ps, pid_of(s[i]));
    }
    ck_assert_int_eq(ps.n, 3);
    PGconn *d = it_connect(IT_DIRECT, "postgres", NULL);
    ck_assert_int_eq(backends(d, "sessdb"), 3);
    for (int i = 0; i < 10; i++)
        PQfinish(a[i]);
    for (int i = 0; i < 3; i++)
        PQfinish(s[i]);
    PQfinish(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("auto");
    if (strcmp(part(), "perdb") == 0) {
        it_add_case(s, "per_database_mode", per_database_mode, 60);
    } else if (strcmp(part(), "idle") == 0) {
        it_add_case(s, "idle_timeout", idle_timeout, 60);
    } else {
        it_add_case(s, "libpq_40_clients", libpq_40_clients, 180);
        it_add_case(s, "listen_pinned", listen_pinned, 60);
        it_add_case(s, "pin_temp_table", pin_temp_table, 60);
        it_add_case(s, "pin_advisory_lock", pin_advisory_lock, 60);
        it_add_case(s, "pin_with_hold", pin_with_hold, 60);
        it_add_case(s, "pin_sql_prepare", pin_sql_prepare, 60);
        it_add_case(s, "pin_load", pin_load, 60);
        it_add_case(s, "no_pin_transaction_scoped", no_pin_transaction_scoped, 60);
        it_add_case(s, "set_semantics", set_semantics, 120);
        it_add_case(s, "set_config_recorded", set_config_recorded, 60);
        it_add_case(s, "discard_all", discard_all, 60);
        it_add_case(s, "prepared_names", prepared_names, 60);
        it_add_case(s, "cancel_running", cancel_running, 60);
        it_add_case(s, "pinned_outside_pool", pinned_outside_pool, 60);
        it_add_case(s, "protocol_close", protocol_close, 60);
        it_add_case(s, "server_loss", server_loss, 60);
        it_add_case(s, "skipped_parse", skipped_parse, 60);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
