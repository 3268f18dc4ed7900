/* it_cancel.c - cancel requests through pgpin (driven by cancel.sh).
 *
 * The instance at PGPIN_IT_PROXY serves appdb and canceldb (= appdb, pool_size=20);
 * PGPIN_IT_DIRECT is the Postgres behind it, used to watch pg_stat_activity. A query counts as
 * running once Postgres shows it active with its application_name. */
#include "itlib.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB          "appdb"
#define POOL_DB     "canceldb"
#define NPOOL       20
#define VICTIM      7
#define WAIT_MS     10000
#define CANCEL_CODE 80877102u
#define CANCEL_MAX  2.0 /* s: the issue asks for < 1 s; this is the hard functional bound */

/* Backends running pg_sleep whose application_name matches the LIKE pattern. */
static long running(PGconn *direct, const char *app_like)
{
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%s' "
             "AND state = 'active' AND query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()",
             app_like);
    return it_value_long(direct, q);
}

/* Wait (bounded) until n such backends run. */
static void wait_running(PGconn *direct, const char *app_like, long n)
{
    long got = -1;
    for (int i = 0; i < 200; i++) {
        got = running(direct, app_like);
        if (got == n) return;
        usleep(50 * 1000);
    }
    ck_abort_msg("%ld of %ld queries (%s) running after 10 s", got, n, app_like);
}

/* Drain a libpq async query: the SQLSTATE of its error ("" if none) and the time it ended. */
static void finish(PGconn *c, char state[6], ExecStatusType *st)
{
    PGresult *r;
    state[0] = 0;
    *st = PGRES_COMMAND_OK;
    while ((r = PQgetResult(c)) != NULL) {
        const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (s) snprintf(state, 6, "%s", s);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) *st = PQresultStatus(r);
        PQclear(r);
    }
}

static long backend_pid(PGconn *c)
{
    return it_value_long(c, "SELECT pg_backend_pid()");
}

START_TEST(test_pqcancel)
{
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=it_cancel_one");
    long pid = backend_pid(c);
    ck_assert(PQsendQuery(c, "SELECT pg_sleep(30)"));
    wait_running(d, "it_cancel_one", 1);
    PGcancel *cc = PQgetCancel(c);
    char err[256] = "", state[6];
    ExecStatusType st;
    double t0 = it_now();
    ck_assert_msg(PQcancel(cc, err, sizeof err), "PQcancel: %s", err);
    PQfreeCancel(cc);
    finish(c, state, &st);
    double dt = it_now() - t0;
    fprintf(stderr, "it_cancel: PQcancel of pg_sleep(30): error %s after %.3f s\n", state, dt);
    ck_assert_str_eq(state, "57014");
    ck_assert_msg(dt < CANCEL_MAX, "cancel took %.3f s", dt);
    ck_assert_int_eq(running(d, "it_cancel_one"), 0);
    /* Only the statement was cancelled: same session, same server. */
    ck_assert_int_eq(backend_pid(c), pid);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    PQfinish(c);
    PQfinish(d);
}
END_TEST

/* A cancel that arrives while nothing runs changes nothing, not even the next query. */
START_TEST(test_cancel_idle)
{
    PGconn *c = it_connect(IT_PROXY, DB, "application_name=it_cancel_idle");
    PGcancel *cc = PQgetCancel(c);
    char err[256] = "";
    ck_assert_msg(PQcancel(cc, err, sizeof err), "PQcancel: %s", err);
    PQfreeCancel(cc);
    usleep(300 * 1000);
    ck_assert_int_eq(it_value_long(c, "SELECT count(*) FROM pg_sleep(0.5)"), 1);
    PQfinish(c);
}
END_TEST

/* ---- raw sockets: the key pgpin handed out, and wrong ones ---- */

typedef struct RawSess {
    int fd;
    uint32_t pid, key;
} RawSess;

static void raw_session(RawSess *s, const char *app)
{
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, "application_name", app, NULL};
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    bool have_key = false;
    s->fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(s->fd, buf, n));
    for (int i = 0; i < 100; i++) {
        ItMsg m;
        ck_assert_int_eq(it_raw_read(s->fd, &m, WAIT_MS), IT_RAW_MSG);
        char t = m.type;
        ck_assert_msg(t != 'E', "startup: %s", it_msg_field(&m, 'M'));
        if (t == 'K') {
            ck_assert_uint_eq(m.len, 8);
            s->pid = wire_be32(m.body);
            s->key = wire_be32(m.body + 4);
            have_key = true;
        }
        it_msg_free(&m);
        if (t == 'Z') break;
    }
    ck_assert_msg(have_key, "no BackendKeyData");
}

static void raw_query(int fd, const char *sql)
{
    size_t l = strlen(sql) + 1;
    unsigned char m[256];
    ck_assert_uint_lt(l + 5, sizeof m);
    m[0] = 'Q';
    it_put32(m + 1, (uint32_t)(l + 4));
    memcpy(m + 5, sql, l);
    ck_assert(it_raw_send(fd, m, l + 5));
}

/* Read to ReadyForQuery: the error's SQLSTATE, or "" after a clean run. */
static void raw_result(int fd, char state[6])
{
    state[0] = 0;
    for (int i = 0; i < 100; i++) {
        ItMsg m;
        ck_assert_int_eq(it_raw_read(fd, &m, WAIT_MS), IT_RAW_MSG);
        char t = m.type;
        if (t == 'E') snprintf(state, 6, "%s", it_msg_field(&m, 'C'));
        it_msg_free(&m);
        if (t == 'Z') return;
    }
    ck_abort_msg("no ReadyForQuery");
}

/* Send a CancelRequest; as Postgres, the proxy answers nothing and closes. */
static void raw_cancel(uint32_t pid, uint32_t key)
{
    unsigned char b[16];
    it_put32(b, 16);
    it_put32(b + 4, CANCEL_CODE);
    it_put32(b + 8, pid);
    it_put32(b + 12, key);
    int fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(fd, b, sizeof b));
    char state[6];
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, state);
    close(fd);
    ck_assert_msg(o == IT_OUT_CLOSED, "CancelRequest answered: %s %s", it_outcome_name(o), state);
}

START_TEST(test_wrong_key)
{
    RawSess s = {.fd = -1};
    char state[6];
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    raw_session(&s, "it_cancel_raw");
    /* Wrong key, right pid; right key, wrong pid; both wrong by one bit. */
    const uint32_t pids[] = {s.pid, s.pid + 1, s.pid ^ 1u};
    const uint32_t keys[] = {s.key ^ 0x5a5a5a5au, s.key, s.key ^ 0x80000000u};
    double t0 = it_now();
    raw_query(s.fd, "SELECT pg_sleep(2)");
    wait_running(d, "it_cancel_raw", 1);
    for (int i = 0; i < 3; i++)
        raw_cancel(pids[i], keys[i]);
    raw_result(s.fd, state);
    double dt = it_now() - t0;
    fprintf(stderr, "it_cancel: pg_sleep(2) with 3 wrong cancels: '%s' after %.3f s\n", state, dt);
    ck_assert_msg(state[0] == 0, "query failed with %s after wrong cancel keys", state);
    ck_assert_msg(dt >= 1.9, "pg_sleep(2) ended after %.3f s", dt);

    /* The control: the right pid and key cancel at once. */
    t0 = it_now();
    raw_query(s.fd, "SELECT pg_sleep(30)");
    wait_running(d, "it_cancel_raw", 1);
    raw_cancel(s.pid, s.key);
    raw_result(s.fd, state);
    dt = it_now() - t0;
    fprintf(stderr, "it_cancel: right key: '%s' after %.3f s\n", state, dt);
    ck_assert_str_eq(state, "57014");
    ck_assert_msg(dt < CANCEL_MAX + 1, "cancel with the right key took %.3f s", dt);
    close(s.fd);
    PQfinish(d);
}
END_TEST

/* 20 clients on 20 servers of one pool, all in pg_sleep(5); cancelling client #7 cancels
 * exactly that one. */
START_TEST(test_twenty_clients)
{
    PGconn *d = it_connect(IT_DIRECT, DB, NULL);
    PGconn *c[NPOOL];
    char extra[64];
    for (int i = 0; i < NPOOL; i++) {
        snprintf(extra, sizeof extra, "application_name=it_cancel_pool_%02d", i);
        c[i] = it_connect(IT_PROXY, POOL_DB, extra);
    }
    double t0 = it_now();
    for (int i = 0; i < NPOOL; i++)
        ck_assert(PQsendQuery(c[i], "SELECT pg_sleep(5)"));
    wait_running(d, "it\\_cancel\\_pool\\_%", NPOOL);
    PGcancel *cc = PQgetCancel(c[VICTIM]);
    char err[256] = "";
    double tc = it_now();
    ck_assert_msg(PQcancel(cc, err, sizeof err), "PQcancel: %s", err);
    PQfreeCancel(cc);

    bool done[NPOOL] = {false};
    char state[NPOOL][6];
    ExecStatusType st[NPOOL];
    double t_end[NPOOL];
    int left = NPOOL;
    long others_running = -1;
    while (left > 0 && it_now() - t0 < 30) {
        struct pollfd p[NPOOL];
        int map[NPOOL], np = 0;
        for (int i = 0; i < NPOOL; i++) {
            if (done[i]) continue;
            p[np] = (struct pollfd){.fd = PQsocket(c[i]), .events = POLLIN};
            map[np++] = i;
        }
        poll(p, (nfds_t)np, 100);
        for (int k = 0; k < np; k++) {
            int i = map[k];
            ck_assert(PQconsumeInput(c[i]));
            if (PQisBusy(c[i])) continue;
            finish(c[i], state[i], &st[i]);
            t_end[i] = it_now();
            done[i] = true;
            left--;
            /* Right after the victim ends, the other 19 must still be sleeping. */
            if (i == VICTIM) others_running = running(d, "it\\_cancel\\_pool\\_%");
        }
    }
    ck_assert_msg(left == 0, "%d queries still running after 30 s", left);
    fprintf(stderr, "it_cancel: client #%d: '%s' %.3f s after PQcancel; %ld others running then\n",
            VICTIM, state[VICTIM], t_end[VICTIM] - tc, others_running);
    ck_assert_str_eq(state[VICTIM], "57014");
    ck_assert_msg(t_end[VICTIM] - tc < CANCEL_MAX, "cancel took %.3f s", t_end[VICTIM] - tc);
    ck_assert_int_eq(others_running, NPOOL - 1);
    for (int i = 0; i < NPOOL; i++) {
        if (i == VICTIM) continue;
        ck_assert_msg(st[i] == PGRES_TUPLES_OK && state[i][0] == 0,
                      "client #%d: %s %s (cancelled with #%d?)", i, PQresStatus(st[i]), state[i],
                      VICTIM);
        ck_assert_msg(t_end[i] - t0 > 4.5, "client #%d ended after %.3f s", i, t_end[i] - t0);
    }
    for (int i = 0; i < NPOOL; i++) {
        ck_assert_int_eq(it_value_long(c[i], "SELECT 1"), 1);
        PQfinish(c[i]);
    }
    PQfinish(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("it_cancel");
    it_add_case(s, "pqcancel", test_pqcancel, 60);
    it_add_case(s, "cancel_idle", test_cancel_idle, 60);
    it_add_case(s, "wrong_key", test_wrong_key, 60);
    it_add_case(s, "twenty_clients", test_twenty_clients, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
