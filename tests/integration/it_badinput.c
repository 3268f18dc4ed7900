/* it_badinput.c - malformed and unusual input on raw TCP sockets to pgpin. Each case must end in
 * an ErrorResponse with the expected SQLSTATE (then a close) or a clean close, within 5 s, and
 * pgpin must keep serving: a new libpq client works after every case, and a client connected
 * before the suite started still runs queries at the end. */
#include "itlib.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB              "appdb"
#define WAIT_MS         5000
#define SSL_CODE        80877103u
#define GSS_CODE        80877104u
#define CANCEL_CODE     80877102u
#define PROTO(maj, min) ((uint32_t)(maj) << 16 | (uint32_t)(min))

static PGconn *g_pre; /* connected in main() before any bad input */

/* A fresh libpq client through pgpin still gets answers. */
static void proxy_still_serves(void)
{
    PGconn *c = it_connect(IT_PROXY, DB, NULL);
    ck_assert_int_eq(it_value_long(c, "SELECT 41 + 1"), 42);
    PQfinish(c);
}

/* Read the peer's reaction and require an ErrorResponse with one of the SQLSTATEs in `ok`
 * (space-separated) followed by a close, or a clean close when allow_close. */
static void expect_rejected(int fd, const char *what, const char *ok, bool allow_close)
{
    char state[6];
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, state);
    fprintf(stderr, "it_badinput: %-28s -> %s %s\n", what, it_outcome_name(o), state);
    if (o == IT_OUT_CLOSED) {
        ck_assert_msg(allow_close, "%s: closed without the ErrorResponse (%s)", what, ok);
    } else {
        ck_assert_msg(o == IT_OUT_ERROR, "%s: %s %s", what, it_outcome_name(o), state);
        char padded[64];
        snprintf(padded, sizeof padded, " %s ", ok);
        char needle[10];
        snprintf(needle, sizeof needle, " %s ", state);
        ck_assert_msg(strstr(padded, needle) != NULL, "%s: SQLSTATE %s, expected one of %s", what,
                      state, ok);
    }
    close(fd);
    proxy_still_serves();
}

static void send_or_fail(int fd, const void *buf, size_t len)
{
    ck_assert_msg(it_raw_send(fd, buf, len), "send failed");
}

/* A startup that reaches ReadyForQuery on a fresh socket (optionally after fd is given). */
static void raw_startup(int fd, const char *db)
{
    unsigned char buf[512];
    const char *kv[] = {"user",        "postgres", "database", db, "application_name",
                        "it_badinput", NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    send_or_fail(fd, buf, n);
    char why[256];
    ck_assert_msg(it_raw_until_ready(fd, WAIT_MS, why, sizeof why), "startup: %s", why);
}

/* Simple query on a raw, ready connection; returns the first column of the first row. */
static void raw_query_expect(int fd, const char *sql, const char *want)
{
    size_t l = strlen(sql) + 1;
    unsigned char *m = malloc(l + 5);
    ck_assert_ptr_nonnull(m);
    m[0] = 'Q';
    it_put32(m + 1, (uint32_t)(l + 4));
    memcpy(m + 5, sql, l);
    send_or_fail(fd, m, l + 5);
    free(m);
    bool seen = false;
    for (int i = 0; i < 100; i++) {
        ItMsg msg;
        ItRawResult r = it_raw_read(fd, &msg, WAIT_MS);
        ck_assert_msg(r == IT_RAW_MSG, "raw query %s: read result %d", sql, (int)r);
        char t = msg.type;
        if (t == 'D') {
            /* int16 column count, int32 length, bytes */
            ck_assert_int_ge(msg.len, 6);
            uint32_t vl = (uint32_t)msg.body[2] << 24 | (uint32_t)msg.body[3] << 16 |
                          (uint32_t)msg.body[4] << 8 | msg.body[5];
            ck_assert_int_eq(vl, strlen(want));
            ck_assert_int_eq(memcmp(msg.body + 6, want, vl), 0);
            seen = true;
        }
        ck_assert_msg(t != 'E', "raw query %s: ErrorResponse %s", sql, it_msg_field(&msg, 'M'));
        it_msg_free(&msg);
        if (t == 'Z') break;
    }
    ck_assert_msg(seen, "raw query %s: no DataRow", sql);
}

START_TEST(test_startup_len3)
{
    int fd = it_raw_connect(IT_PROXY);
    const unsigned char b[] = {0, 0, 0, 3};
    send_or_fail(fd, b, sizeof b);
    expect_rejected(fd, "startup length 3", "08P01", true);
}
END_TEST

START_TEST(test_startup_len_huge)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[8];
    it_put32(b, 100000);
    it_put32(b + 4, PROTO(3, 0));
    send_or_fail(fd, b, sizeof b);
    expect_rejected(fd, "startup length 100000", "08P01", true);
}
END_TEST

START_TEST(test_startup_truncated)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[10] = {0};
    it_put32(b, 20);
    it_put32(b + 4, PROTO(3, 0));
    memcpy(b + 8, "us", 2);
    send_or_fail(fd, b, sizeof b);
    shutdown(fd, SHUT_WR);
    expect_rejected(fd, "startup 10 of 20 bytes + EOF", "08P01", true);
}
END_TEST

static void bad_version(uint32_t version, const char *what)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    size_t n = it_build_startup(buf, sizeof buf, version, kv);
    send_or_fail(fd, buf, n);
    /* Postgres itself answers 0A000 (protocol-2 text form for 2.0); pgpin may say 08P01. */
    expect_rejected(fd, what, "08P01 0A000 v2", true);
}

START_TEST(test_startup_version_2)
{
    bad_version(PROTO(2, 0), "protocol version 2.0");
}
END_TEST

START_TEST(test_startup_version_9)
{
    bad_version(PROTO(9, 9), "protocol version 9.9");
}
END_TEST

START_TEST(test_startup_no_terminator)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    n--; /* drop the final NUL that ends the list, and say so in the length */
    it_put32(buf, (uint32_t)n);
    send_or_fail(fd, buf, n);
    expect_rejected(fd, "startup without terminator", "08P01", true);
}
END_TEST

START_TEST(test_startup_odd_params)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    send_or_fail(fd, buf, n);
    expect_rejected(fd, "startup key without value", "08P01", true);
}
END_TEST

START_TEST(test_startup_no_user)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char buf[256];
    const char *kv[] = {"database", DB, NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    send_or_fail(fd, buf, n);
    /* Postgres says 28000 (no user name specified); a protocol violation is fine too. */
    expect_rejected(fd, "startup without user", "08P01 28000", true);
}
END_TEST

START_TEST(test_ssl_request)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[8];
    it_put32(b, 8);
    it_put32(b + 4, SSL_CODE);
    send_or_fail(fd, b, sizeof b);
    char ans = 0;
    ck_assert_int_eq(it_raw_read_byte(fd, &ans, WAIT_MS), 1);
    ck_assert_msg(ans == 'N', "SSLRequest answered '%c'", ans);
    raw_startup(fd, DB);
    raw_query_expect(fd, "SELECT 'after-ssl-no'", "after-ssl-no");
    const unsigned char term[] = {'X', 0, 0, 0, 4};
    send_or_fail(fd, term, sizeof term);
    close(fd);
    proxy_still_serves();
}
END_TEST

START_TEST(test_gssenc_request)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[8];
    it_put32(b, 8);
    it_put32(b + 4, GSS_CODE);
    send_or_fail(fd, b, sizeof b);
    char ans = 0;
    ck_assert_int_eq(it_raw_read_byte(fd, &ans, WAIT_MS), 1);
    if (!it_through_proxy() && ans == 'G') { /* a GSSAPI-enabled Postgres; nothing to follow */
        close(fd);
        return;
    }
    ck_assert_msg(ans == 'N', "GSSENCRequest answered '%c'", ans);
    raw_startup(fd, DB);
    raw_query_expect(fd, "SELECT 'after-gss-no'", "after-gss-no");
    close(fd);
    proxy_still_serves();
}
END_TEST

START_TEST(test_gss_then_ssl_request)
{
    /* Both negotiations on one socket, in libpq's order (gssencmode=prefer, sslmode=prefer). */
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[8];
    it_put32(b, 8);
    it_put32(b + 4, GSS_CODE);
    send_or_fail(fd, b, sizeof b);
    char ans = 0;
    ck_assert_int_eq(it_raw_read_byte(fd, &ans, WAIT_MS), 1);
    if (!it_through_proxy() && ans == 'G') {
        close(fd);
        return;
    }
    ck_assert_msg(ans == 'N', "GSSENCRequest answered '%c'", ans);
    it_put32(b + 4, SSL_CODE);
    send_or_fail(fd, b, sizeof b);
    ck_assert_int_eq(it_raw_read_byte(fd, &ans, WAIT_MS), 1);
    ck_assert_msg(ans == 'N', "SSLRequest after GSSENCRequest answered '%c'", ans);
    raw_startup(fd, DB);
    raw_query_expect(fd, "SELECT 1", "1");
    close(fd);
    proxy_still_serves();
}
END_TEST

START_TEST(test_bad_msg_length)
{
    int fd = it_raw_connect(IT_PROXY);
    raw_startup(fd, DB);
    const unsigned char q[] = {'Q', 0, 0, 0, 2};
    send_or_fail(fd, q, sizeof q);
    expect_rejected(fd, "Query with length 2", "08P01", true);
}
END_TEST

START_TEST(test_huge_msg_length)
{
    int fd = it_raw_connect(IT_PROXY);
    raw_startup(fd, DB);
    unsigned char q[9] = {'Q'};
    it_put32(q + 1, 0x7fffffff);
    memcpy(q + 5, "SELE", 4);
    send_or_fail(fd, q, sizeof q);
    expect_rejected(fd, "Query with length 2^31-1", "08P01", true);
}
END_TEST

START_TEST(test_unknown_msg_type)
{
    int fd = it_raw_connect(IT_PROXY);
    raw_startup(fd, DB);
    const unsigned char q[] = {'!', 0, 0, 0, 4};
    send_or_fail(fd, q, sizeof q);
    expect_rejected(fd, "message type '!'", "08P01", true);
}
END_TEST

START_TEST(test_query_without_nul)
{
    /* Postgres answers ERROR 08P01 and goes on (ReadyForQuery); FATAL + close is fine too. */
    int fd = it_raw_connect(IT_PROXY);
    raw_startup(fd, DB);
    const unsigned char q[] = {'Q', 0, 0, 0, 7, 'a', 'b', 'c'};
    send_or_fail(fd, q, sizeof q);
    ItMsg m;
    ItRawResult r = it_raw_read(fd, &m, WAIT_MS);
    if (r == IT_RAW_CLOSED) {
        fprintf(stderr, "it_badinput: %-28s -> clean close\n", "Query string without NUL");
    } else {
        ck_assert_msg(r == IT_RAW_MSG && m.type == 'E', "Query without NUL: result %d type %c",
                      (int)r, r == IT_RAW_MSG ? m.type : '-');
        const char *st = it_msg_field(&m, 'C'), *sev = it_msg_field(&m, 'V');
        fprintf(stderr, "it_badinput: %-28s -> %s %s\n", "Query string without NUL",
                sev ? sev : "?", st ? st : "?");
        ck_assert_msg(st && strcmp(st, "08P01") == 0, "SQLSTATE %s", st ? st : "(none)");
        bool fatal = sev && strcmp(sev, "FATAL") == 0;
        it_msg_free(&m);
        if (fatal) {
            char state[6];
            ItOutcome o = it_raw_outcome(fd, WAIT_MS, state);
            ck_assert_msg(o == IT_OUT_CLOSED, "after FATAL: %s", it_outcome_name(o));
        } else {
            char why[256];
            ck_assert_msg(it_raw_until_ready(fd, WAIT_MS, why, sizeof why), "after ERROR: %s", why);
            raw_query_expect(fd, "SELECT 'still-here'", "still-here");
        }
    }
    it_msg_free(&m);
    close(fd);
    proxy_still_serves();
}
END_TEST

START_TEST(test_unknown_database)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", "it_no_such_db_xyz", NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    send_or_fail(fd, buf, n);
    expect_rejected(fd, "unknown database", "3D000", false);

    /* And through libpq: a clean failure, not a hang. */
    double t0 = it_now();
    PGconn *c = it_connect_raw(IT_PROXY, "it_no_such_db_xyz", "connect_timeout=10");
    ck_assert_int_eq(PQstatus(c), CONNECTION_BAD);
    ck_assert_msg(it_now() - t0 < 9, "libpq connect to unknown db took %.1f s", it_now() - t0);
    PQfinish(c);
}
END_TEST

START_TEST(test_cancel_bogus)
{
    int fd = it_raw_connect(IT_PROXY);
    unsigned char b[16];
    it_put32(b, 16);
    it_put32(b + 4, CANCEL_CODE);
    it_put32(b + 8, 12345);
    it_put32(b + 12, 67890);
    send_or_fail(fd, b, sizeof b);
    char state[6];
    ItOutcome o = it_raw_outcome(fd, WAIT_MS, state);
    ck_assert_msg(o == IT_OUT_CLOSED, "CancelRequest with a bogus key: %s %s", it_outcome_name(o),
                  state);
    close(fd);
    ck_assert_int_eq(it_value_long(g_pre, "SELECT 1"), 1);
    proxy_still_serves();
}
END_TEST

START_TEST(test_connect_storm)
{
    /* Connections that leave at every point of the startup: nothing, part of a header, part of
     * a packet, a whole startup without waiting for the answer. */
    unsigned char buf[256];
    const char *kv[] = {"user", "postgres", "database", DB, NULL};
    size_t n = it_build_startup(buf, sizeof buf, PROTO(3, 0), kv);
    size_t cut[] = {0, 2, 4, 9, n - 1, n};
    for (int i = 0; i < 120; i++) {
        int fd = it_raw_connect(IT_PROXY);
        size_t k = cut[i % 6];
        if (k) send_or_fail(fd, buf, k);
        close(fd);
    }
    proxy_still_serves();
    ck_assert_int_eq(it_value_long(g_pre, "SELECT 2"), 2);
}
END_TEST

START_TEST(test_preconnected_client)
{
    ck_assert_msg(PQstatus(g_pre) == CONNECTION_OK, "%s", PQerrorMessage(g_pre));
    ck_assert_int_eq(it_value_long(g_pre, "SELECT count(*) FROM generate_series(1, 1000)"), 1000);
    it_exec(g_pre, "BEGIN");
    ck_assert_int_eq(it_value_long(g_pre, "SELECT 3"), 3);
    it_exec(g_pre, "COMMIT");
}
END_TEST

int main(void)
{
    g_pre = it_connect_raw(IT_PROXY, DB, "application_name=it_badinput_pre");
    if (PQstatus(g_pre) != CONNECTION_OK) {
        fprintf(stderr, "it_badinput: cannot connect before the suite: %s", PQerrorMessage(g_pre));
        return 1;
    }
    PGresult *r = PQexec(g_pre, "SELECT pg_backend_pid()");
    long pid = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);

    Suite *s = suite_create("it_badinput");
    it_add_case(s, "startup_len3", test_startup_len3, 60);
    it_add_case(s, "startup_len_huge", test_startup_len_huge, 60);
    it_add_case(s, "startup_truncated", test_startup_truncated, 60);
    it_add_case(s, "startup_version_2", test_startup_version_2, 60);
    it_add_case(s, "startup_version_9", test_startup_version_9, 60);
    it_add_case(s, "startup_no_terminator", test_startup_no_terminator, 60);
    it_add_case(s, "startup_odd_params", test_startup_odd_params, 60);
    it_add_case(s, "startup_no_user", test_startup_no_user, 60);
    it_add_case(s, "ssl_request", test_ssl_request, 60);
    it_add_case(s, "gssenc_request", test_gssenc_request, 60);
    it_add_case(s, "gss_then_ssl_request", test_gss_then_ssl_request, 60);
    it_add_case(s, "bad_msg_length", test_bad_msg_length, 60);
    it_add_case(s, "huge_msg_length", test_huge_msg_length, 60);
    it_add_case(s, "unknown_msg_type", test_unknown_msg_type, 60);
    it_add_case(s, "query_without_nul", test_query_without_nul, 60);
    it_add_case(s, "unknown_database", test_unknown_database, 60);
    it_add_case(s, "cancel_bogus", test_cancel_bogus, 60);
    it_add_case(s, "connect_storm", test_connect_storm, 60);
    it_add_case(s, "preconnected_client", test_preconnected_client, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    /* The same session, in this process too: same backend, still answering. */
    r = PQexec(g_pre, "SELECT pg_backend_pid()");
    long pid2 = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -2;
    PQclear(r);
    if (pid2 != pid) {
        fprintf(stderr, "it_badinput: pre-connected client broken after the suite (%ld/%ld): %s",
                pid, pid2, PQerrorMessage(g_pre));
        failed++;
    }
    PQfinish(g_pre);
    return failed ? 1 : 0;
}
