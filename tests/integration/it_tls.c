/* it_tls.c - TLS through pgpin, client side and server side (driven by tls.sh).
 *
 * IT_TLS_PART picks what the instance at PGPIN_IT_PROXY is configured for:
 *   require      client_tls_sslmode = require
 *   prefer       client_tls_sslmode = prefer, plus [databases] entries toward a Postgres with
 *                ssl = on that refuses unencrypted connections (hostnossl ... reject):
 *                  sslok      sslmode=verify-full sslrootcert=ca.crt host=127.0.0.1
 *                  sslbadhost the same with host=localhost (the certificate is for 127.0.0.1)
 *                  sslbadca   sslrootcert=other-ca.crt
 *   verify-ca    client_tls_sslmode = verify-ca, client_tls_ca_file = ca.crt
 *   verify-full  client_tls_sslmode = verify-full, client_tls_ca_file = ca.crt
 * IT_TLS_DIR holds the files tls.sh made: ca.crt, other-ca.crt (a CA that signed nothing pgpin
 * shows), client.{crt,key} (CN=postgres, by ca), client-cn.{crt,key} (CN=somebody, by ca),
 * client-other.{crt,key} (CN=postgres, by other-ca). pgpin's and Postgres's certificates are
 * for CN=127.0.0.1 with SAN IP:127.0.0.1 only. */
#include "itlib.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB         "appdb"
#define WAIT_MS    10000
#define BIG_ROWS   10240 /* x 1024 bytes = 10 MiB */
#define BIG_REPEAT 1048576

static const char *g_dir, *g_part;

static const char *f(const char *name)
{
    static char buf[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_dir, name);
    return buf[i];
}

/* it_connect_raw with a printf-made extra. */
static PGconn *conn_fmt(const char *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static PGconn *conn_fmt(const char *db, const char *fmt, ...)
{
    char extra[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(extra, sizeof extra, fmt, ap);
    va_end(ap);
    return it_connect_raw(IT_PROXY, db, extra);
}

static void expect_ok(PGconn *c, const char *what, bool tls)
{
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s: %s", what, PQerrorMessage(c));
    ck_assert_msg(PQsslInUse(c) == tls, "%s: PQsslInUse %d", what, PQsslInUse(c));
    ck_assert_int_eq(it_value_long(c, "SELECT 6 * 7"), 42);
    if (tls)
        fprintf(stderr, "it_tls[%s]: %-40s %s %s\n", g_part, what,
                PQsslAttribute(c, "protocol") ? PQsslAttribute(c, "protocol") : "?",
                PQsslAttribute(c, "cipher") ? PQsslAttribute(c, "cipher") : "?");
}

static void expect_refused(PGconn *c, const char *what, const char *needle)
{
    fprintf(stderr, "it_tls[%s]: %-40s -> %s", g_part, what,
            PQstatus(c) == CONNECTION_OK ? "connected\n" : PQerrorMessage(c));
    ck_assert_msg(PQstatus(c) != CONNECTION_OK, "%s: connected", what);
    if (needle)
        ck_assert_msg(strstr(PQerrorMessage(c), needle), "%s: error without '%s': %s", what, needle,
                      PQerrorMessage(c));
}

/* A plaintext raw startup for db; the answer must be ErrorResponse `state` and a close. */
static void raw_expect_error(const char *db, const char *state)
{
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", db, NULL};
    char got[6];
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, got);
    close(fd);
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(got, state) == 0,
                  "plaintext startup for %s: %s %s, expected ErrorResponse %s", db,
                  it_outcome_name(o), got, state);
}

/* 10 MiB as 10240 rows of 1 KiB and as one value, and 3 MiB up, checked by md5 both ways. */
static void big_transfer(PGconn *c)
{
    double t0 = it_now();
    PGresult *r = it_exec_res(
        c, "SELECT repeat(md5(i::text), 32) FROM generate_series(1, 10240) i ORDER BY i");
    ck_assert_int_eq(PQntuples(r), BIG_ROWS);
    char *all = malloc((size_t)BIG_ROWS * 1024);
    ck_assert_ptr_nonnull(all);
    for (int i = 0; i < BIG_ROWS; i++) {
        ck_assert_int_eq(PQgetlength(r, i, 0), 1024);
        memcpy(all + (size_t)i * 1024, PQgetvalue(r, i, 0), 1024);
    }
    PQclear(r);
    char mine[33];
    it_md5_hex(all, (size_t)BIG_ROWS * 1024, mine);
    free(all);
    char *theirs = it_value(c, "SELECT md5(string_agg(repeat(md5(i::text), 32), '' ORDER BY i)) "
                               "FROM generate_series(1, 10240) i");
    ck_assert_str_eq(mine, theirs);
    free(theirs);

    r = it_exec_res(c, "SELECT repeat('0123456789', 1048576)");
    ck_assert_int_eq(PQgetlength(r, 0, 0), 10 * BIG_REPEAT);
    it_md5_hex(PQgetvalue(r, 0, 0), 10 * BIG_REPEAT, mine);
    PQclear(r);
    theirs = it_value(c, "SELECT md5(repeat('0123456789', 1048576))");
    ck_assert_str_eq(mine, theirs);
    free(theirs);

    size_t up = 3u << 20;
    char *q = malloc(up + 64);
    ck_assert_ptr_nonnull(q);
    int n = snprintf(q, 64, "SELECT md5('");
    for (size_t i = 0; i < up; i++)
        q[n + i] = (char)('a' + i % 26);
    it_md5_hex(q + n, up, mine);
    snprintf(q + n + up, 64, "')");
    theirs = it_value(c, q);
    free(q);
    ck_assert_str_eq(mine, theirs);
    free(theirs);
    fprintf(stderr, "it_tls[%s]: 10 MiB rows + 10 MiB value down, 3 MiB up: %.2f s\n", g_part,
            it_now() - t0);
}

/* PQcancel on a running pg_sleep(30): 57014 well within 2 s (the request itself is plaintext,
 * as libpq 15 sends it, also to an instance that requires TLS). */
static void cancel_sleep(const char *db)
{
    PGconn *c = conn_fmt(db, "sslmode=require application_name=it_tls_cancel");
    PGconn *w = conn_fmt(db, "sslmode=require application_name=it_tls_watch");
    expect_ok(c, "cancel", true);
    expect_ok(w, "cancel watcher", true);
    ck_assert(PQsendQuery(c, "SELECT pg_sleep(30)"));
    /* Running on the server before the cancel is sent. */
    for (int i = 0; i < 100 && it_value_long(w, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                "application_name = 'it_tls_cancel' AND "
                                                "state = 'active'") != 1;
         i++)
        usleep(50 * 1000);
    PQfinish(w);
    PGcancel *cc = PQgetCancel(c);
    char err[256] = "";
    double t0 = it_now();
    ck_assert_msg(PQcancel(cc, err, sizeof err), "PQcancel: %s", err);
    PQfreeCancel(cc);
    PGresult *r;
    const char *st = NULL;
    char state[6] = "";
    while ((r = PQgetResult(c)) != NULL) {
        st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (st) snprintf(state, sizeof state, "%s", st);
        PQclear(r);
    }
    double dt = it_now() - t0;
    fprintf(stderr, "it_tls[%s]: cancel took %.3f s (%s)\n", g_part, dt, state);
    ck_assert_str_eq(state, "57014");
    ck_assert_msg(dt < 2.0, "cancel took %.3f s", dt);
    ck_assert_int_eq(it_value_long(c, "SELECT 1"), 1);
    PQfinish(c);
}

/* ---- client_tls_sslmode = require ---- */

START_TEST(test_require_refuses_plaintext)
{
    PGconn *c = conn_fmt(DB, "sslmode=disable");
    expect_refused(c, "require: sslmode=disable", "SSL required");
    PQfinish(c);
    /* Postgres answers a missing hostssl match with 28000 too. */
    raw_expect_error(DB, "28000");
}
END_TEST

START_TEST(test_require_tls)
{
    PGconn *c = conn_fmt(DB, "sslmode=require");
    expect_ok(c, "require: sslmode=require", true);
    PQfinish(c);
    c = conn_fmt(DB, "sslmode=prefer");
    expect_ok(c, "require: sslmode=prefer", true);
    PQfinish(c);
    c = conn_fmt(DB, "sslmode=verify-ca sslrootcert=%s", f("ca.crt"));
    expect_ok(c, "require: sslmode=verify-ca", true);
    PQfinish(c);
}
END_TEST

START_TEST(test_require_verify_full)
{
    PGconn *c = conn_fmt(DB, "host=127.0.0.1 sslmode=verify-full sslrootcert=%s", f("ca.crt"));
    expect_ok(c, "require: sslmode=verify-full", true);
    PQfinish(c);
    /* The negative controls: this certificate is for 127.0.0.1 only and signed by ca.crt. */
    c = conn_fmt(DB, "host=localhost sslmode=verify-full sslrootcert=%s", f("ca.crt"));
    expect_refused(c, "require: verify-full, host=localhost", "does not match host name");
    PQfinish(c);
    c = conn_fmt(DB, "host=127.0.0.1 sslmode=verify-ca sslrootcert=%s", f("other-ca.crt"));
    expect_refused(c, "require: verify-ca with another CA", "certificate verify failed");
    PQfinish(c);
}
END_TEST

START_TEST(test_require_big_transfer)
{
    PGconn *c = conn_fmt(DB, "host=127.0.0.1 sslmode=verify-full sslrootcert=%s", f("ca.crt"));
    expect_ok(c, "require: big transfer", true);
    big_transfer(c);
    PQfinish(c);
}
END_TEST

START_TEST(test_require_cancel)
{
    cancel_sleep(DB);
}
END_TEST

/* Bytes after an SSLRequest, sent before the 'S', would be read as if encrypted
 * (CVE-2021-23222): the proxy must refuse them. */
START_TEST(test_require_data_after_sslrequest)
{
    unsigned char buf[300];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    const unsigned char ssl[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    memcpy(buf, ssl, 8);
    size_t n = it_build_startup(buf + 8, sizeof buf - 8, 3u << 16, kv);
    int fd = it_raw_connect(IT_PROXY);
    ck_assert(it_raw_send(fd, buf, n + 8));
    char got[6];
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, got);
    close(fd);
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(got, "08P01") == 0,
                  "SSLRequest + startup in one packet: %s %s", it_outcome_name(o), got);
}
END_TEST

/* client_login_timeout (IT_TLS_LOGIN_TIMEOUT s) also bounds a TLS handshake that never starts:
 * 'S', then silence. */
START_TEST(test_require_handshake_stall)
{
    const char *lt = getenv("IT_TLS_LOGIN_TIMEOUT");
    double limit = lt ? atof(lt) : 0;
    ck_assert_msg(limit > 0, "IT_TLS_LOGIN_TIMEOUT not set");
    const unsigned char ssl[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    int fd = it_raw_connect(IT_PROXY);
    double t0 = it_now();
    ck_assert(it_raw_send(fd, ssl, sizeof ssl));
    char b = 0;
    ck_assert_int_eq(it_raw_read_byte(fd, &b, WAIT_MS), 1);
    ck_assert_int_eq(b, 'S');
    int w = it_wait_readable(fd, (int)(limit * 1000) + 8000);
    char buf[256];
    ssize_t n = w == 1 ? recv(fd, buf, sizeof buf, 0) : -2;
    double dt = it_now() - t0;
    close(fd);
    fprintf(stderr, "it_tls[%s]: TLS handshake never started -> %s after %.2f s (timeout %.0f s)\n",
            g_part,
            n == 0    ? "EOF"
            : n > 0   ? "data"
            : n == -2 ? "nothing"
                      : "error",
            dt, limit);
    ck_assert_msg(w == 1, "still open %.1f s after SSLRequest", dt);
    ck_assert_msg(dt > limit - 0.5, "closed after %.2f s, before client_login_timeout", dt);
    ck_assert_msg(dt < limit + 4, "closed only after %.2f s (client_login_timeout %.0f s)", dt,
                  limit);
}
END_TEST

/* ---- client_tls_sslmode = prefer, and TLS toward the server ---- */

START_TEST(test_prefer_both)
{
    PGconn *c = conn_fmt(DB, "sslmode=disable");
    expect_ok(c, "prefer: sslmode=disable", false);
    PQfinish(c);
    c = conn_fmt(DB, "sslmode=prefer");
    expect_ok(c, "prefer: sslmode=prefer", true);
    PQfinish(c);
    c = conn_fmt(DB, "host=127.0.0.1 sslmode=verify-full sslrootcert=%s", f("ca.crt"));
    expect_ok(c, "prefer: sslmode=verify-full", true);
    PQfinish(c);
}
END_TEST

static void server_ssl_in_use(PGconn *c)
{
    char *v = it_value(c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    ck_assert_msg(strcmp(v, "t") == 0, "pg_stat_ssl.ssl = '%s'", v);
    free(v);
    v = it_value(c, "SELECT version || ' ' || cipher FROM pg_stat_ssl "
                    "WHERE pid = pg_backend_pid()");
    fprintf(stderr, "it_tls[%s]: pgpin -> Postgres: %s\n", g_part, v);
    free(v);
}

START_TEST(test_server_verify_full)
{
    /* Plaintext client, TLS server leg. */
    PGconn *c = conn_fmt("sslok", "sslmode=disable");
    expect_ok(c, "server: sslok, plaintext client", false);
    server_ssl_in_use(c);
    PQfinish(c);
    /* TLS on both legs, with a big transfer through both. */
    c = conn_fmt("sslok", "sslmode=require");
    expect_ok(c, "server: sslok, TLS client", true);
    server_ssl_in_use(c);
    big_transfer(c);
    PQfinish(c);
}
END_TEST

START_TEST(test_server_cancel)
{
    cancel_sleep("sslok");
}
END_TEST

static void server_refused(const char *db, const char *needle)
{
    PGconn *c = conn_fmt(db, "sslmode=disable");
    expect_refused(c, db, needle);
    PQfinish(c);
    raw_expect_error(db, "08006");
    /* Still serving, on the good entry too. */
    c = conn_fmt("sslok", "sslmode=require");
    expect_ok(c, "server: sslok after a refused entry", true);
    server_ssl_in_use(c);
    PQfinish(c);
}

START_TEST(test_server_wrong_host)
{
    server_refused("sslbadhost", "does not match host name");
}
END_TEST

START_TEST(test_server_wrong_ca)
{
    server_refused("sslbadca", "certificate verify failed");
}
END_TEST

/* ---- client certificates ---- */

static PGconn *with_cert(const char *cert)
{
    if (!cert) return conn_fmt(DB, "sslmode=require sslcert=%s", f("no-such.crt"));
    char crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.crt", cert);
    snprintf(key, sizeof key, "%s.key", cert);
    return conn_fmt(DB, "host=127.0.0.1 sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s",
                    f("ca.crt"), f(crt), f(key));
}

START_TEST(test_verify_ca)
{
    PGconn *c = with_cert("client");
    expect_ok(c, "verify-ca: client cert by ca", true);
    PQfinish(c);
    c = with_cert("client-cn");
    expect_ok(c, "verify-ca: client cert CN=somebody", true);
    PQfinish(c);
    c = with_cert(NULL);
    expect_refused(c, "verify-ca: no client cert", NULL);
    PQfinish(c);
    c = with_cert("client-other");
    expect_refused(c, "verify-ca: client cert by other CA", NULL);
    PQfinish(c);
    c = conn_fmt(DB, "sslmode=disable");
    expect_refused(c, "verify-ca: plaintext", "SSL required");
    PQfinish(c);
}
END_TEST

START_TEST(test_verify_full)
{
    PGconn *c = with_cert("client");
    expect_ok(c, "verify-full: CN=postgres as postgres", true);
    PQfinish(c);
    c = with_cert("client-cn");
    expect_refused(c, "verify-full: CN=somebody as postgres", "common name does not match");
    PQfinish(c);
    c = with_cert(NULL);
    expect_refused(c, "verify-full: no client cert", NULL);
    PQfinish(c);
    c = with_cert("client-other");
    expect_refused(c, "verify-full: client cert by other CA", NULL);
    PQfinish(c);
}
END_TEST

int main(void)
{
    g_dir = getenv("IT_TLS_DIR");
    g_part = getenv("IT_TLS_PART");
    if (!g_dir || !g_part) {
        fprintf(stderr, "it_tls: IT_TLS_DIR and IT_TLS_PART must be set\n");
        return 2;
    }
    /* Only what the tests pass may count (no ~/.postgresql defaults either). */
    unsetenv("PGSSLMODE");
    unsetenv("PGSSLCERT");
    unsetenv("PGSSLKEY");
    unsetenv("PGSSLROOTCERT");
    setenv("PGSSLCERT", f("no-such.crt"), 1);
    setenv("PGSSLROOTCERT", f("no-such-root.crt"), 1);

    Suite *s = suite_create("it_tls");
    if (strcmp(g_part, "require") == 0) {
        it_add_case(s, "require_refuses_plaintext", test_require_refuses_plaintext, 120);
        it_add_case(s, "require_tls", test_require_tls, 120);
        it_add_case(s, "require_verify_full", test_require_verify_full, 120);
        it_add_case(s, "require_big_transfer", test_require_big_transfer, 120);
        it_add_case(s, "require_cancel", test_require_cancel, 120);
        it_add_case(s, "require_data_after_sslrequest", test_require_data_after_sslrequest, 120);
        it_add_case(s, "require_handshake_stall", test_require_handshake_stall, 120);
    } else if (strcmp(g_part, "prefer") == 0) {
        it_add_case(s, "prefer_both", test_prefer_both, 120);
        it_add_case(s, "server_verify_full", test_server_verify_full, 120);
        it_add_case(s, "server_cancel", test_server_cancel, 120);
        it_add_case(s, "server_wrong_host", test_server_wrong_host, 120);
        it_add_case(s, "server_wrong_ca", test_server_wrong_ca, 120);
    } else if (strcmp(g_part, "verify-ca") == 0) {
        it_add_case(s, "verify_ca", test_verify_ca, 120);
    } else if (strcmp(g_part, "verify-full") == 0) {
        it_add_case(s, "verify_full", test_verify_full, 120);
    } else {
        fprintf(stderr, "it_tls: unknown IT_TLS_PART %s\n", g_part);
        return 2;
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
