/* test_conn.c - Check suite for proxy/conn.c (framing and forward-by-length on evbuffers,
 * backpressure on bufferevent pairs), Params (proxy.c) and server_classify_error (server.c). */
#include "conn.h"
#include "pqmsg.h"
#include "server.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---- */

/* A whole message: type, length word (len = 4 + body), body of `body` bytes of a pattern
 * seeded by `seed`. Caller frees. */
static uint8_t *make_msg(uint8_t type, size_t body, uint8_t seed, size_t *total)
{
    uint32_t len = (uint32_t)(body + 4);
    uint8_t *m = malloc(body + 5);
    ck_assert_ptr_nonnull(m);
    m[0] = type;
    m[1] = (uint8_t)(len >> 24);
    m[2] = (uint8_t)(len >> 16);
    m[3] = (uint8_t)(len >> 8);
    m[4] = (uint8_t)len;
    for (size_t i = 0; i < body; i++)
        m[5 + i] = (uint8_t)(seed + i * 31 + (i >> 11));
    *total = body + 5;
    return m;
}

/* The evbuffer holds exactly want[0..n). */
static void assert_evbuf(struct evbuffer *b, const uint8_t *want, size_t n)
{
    ck_assert_uint_eq(evbuffer_get_length(b), n);
    if (n == 0) return;
    uint8_t *p = evbuffer_pullup(b, (ev_ssize_t)n);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(memcmp(p, want, n) == 0, "contents differ");
}

/* ---- conn_peek_header ---- */

START_TEST(test_peek_short)
{
    const uint8_t hdr[5] = {'Q', 0, 0, 0, 9};
    struct evbuffer *in = evbuffer_new();
    uint8_t type = 0;
    uint32_t len = 0;
    for (int n = 0; n < 5; n++) {
        ck_assert_msg(!conn_peek_header(in, &type, &len), "%d bytes", n);
        ck_assert_int_eq(evbuffer_add(in, hdr + n, 1), 0);
    }
    ck_assert(conn_peek_header(in, &type, &len));
    ck_assert_uint_eq(type, 'Q');
    ck_assert_uint_eq(len, 9);
    ck_assert_uint_eq(evbuffer_get_length(in), 5); /* peeked, not consumed */
    evbuffer_free(in);
}
END_TEST

START_TEST(test_peek_split)
{
    const uint8_t hdr[6] = {'D', 0x01, 0x02, 0x03, 0x04, 0x99};
    struct evbuffer *in = evbuffer_new();
    uint8_t type = 0;
    uint32_t len = 0;
    evbuffer_add(in, hdr, 2);
    ck_assert(!conn_peek_header(in, &type, &len));
    evbuffer_add(in, hdr + 2, 4); /* a separate chain, plus a body byte */
    ck_assert(conn_peek_header(in, &type, &len));
    ck_assert_uint_eq(type, 'D');
    ck_assert_uint_eq(len, 0x01020304u);
    evbuffer_free(in);
}
END_TEST

START_TEST(test_peek_big_length)
{
    const uint8_t hdr[5] = {'d', 0xff, 0xff, 0xff, 0xfe};
    struct evbuffer *in = evbuffer_new();
    uint8_t type;
    uint32_t len;
    evbuffer_add(in, hdr, 5);
    ck_assert(conn_peek_header(in, &type, &len));
    ck_assert_uint_eq(len, 0xfffffffeu);
    evbuffer_free(in);
}
END_TEST

/* ---- conn_move ---- */

START_TEST(test_move_byte_by_byte)
{
    size_t total;
    uint8_t *m = make_msg('Q', 40, 1, &total);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    Relay r = {.remain = (uint32_t)total};
    for (size_t i = 0; i < total; i++) {
        evbuffer_add(in, m + i, 1);
        bool done = conn_move(in, out, &r);
        ck_assert_msg(done == (i + 1 == total), "byte %zu", i);
        ck_assert_uint_eq(r.remain, total - i - 1);
        ck_assert_uint_eq(evbuffer_get_length(in), 0);
    }
    assert_evbuf(out, m, total);
    evbuffer_free(in), evbuffer_free(out), free(m);
}
END_TEST

START_TEST(test_move_chunks)
{
    const size_t chunks[] = {3, 1, 100, 7, 500, 394};
    size_t total, off = 0;
    uint8_t *m = make_msg('d', 1000, 2, &total);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    Relay r = {.remain = (uint32_t)total};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        evbuffer_add(in, m + off, chunks[i]);
        off += chunks[i];
        ck_assert(conn_move(in, out, &r) == (off == total));
        ck_assert_uint_eq(r.remain, total - off);
    }
    ck_assert_uint_eq(off, total);
    assert_evbuf(out, m, total);
    evbuffer_free(in), evbuffer_free(out), free(m);
}
END_TEST

START_TEST(test_move_stops_at_boundary)
{
    size_t t1, t2;
    uint8_t *a = make_msg('D', 20, 3, &t1), *b = make_msg('C', 13, 4, &t2);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    evbuffer_add(in, a, t1);
    evbuffer_add(in, b, t2);
    Relay r = {.remain = (uint32_t)t1};
    ck_assert(conn_move(in, out, &r));
    ck_assert_uint_eq(r.remain, 0);
    assert_evbuf(out, a, t1);
    assert_evbuf(in, b, t2);
    ck_assert(conn_move(in, out, &r)); /* nothing left to move: moves nothing */
    assert_evbuf(in, b, t2);
    evbuffer_free(in), evbuffer_free(out), free(a), free(b);
}
END_TEST

START_TEST(test_move_tail_with_next)
{
    size_t t1, t2;
    uint8_t *a = make_msg('D', 50, 5, &t1), *b = make_msg('Z', 1, 6, &t2);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    Relay r = {.remain = (uint32_t)t1};
    evbuffer_add(in, a, 10);
    ck_assert(!conn_move(in, out, &r));
    evbuffer_add(in, a + 10, t1 - 10); /* the rest and the next message arrive together */
    evbuffer_add(in, b, t2);
    ck_assert(conn_move(in, out, &r));
    assert_evbuf(out, a, t1);
    assert_evbuf(in, b, t2);
    evbuffer_free(in), evbuffer_free(out), free(a), free(b);
}
END_TEST

START_TEST(test_move_empty_input)
{
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    Relay r = {.remain = 10};
    ck_assert(!conn_move(in, out, &r));
    ck_assert_uint_eq(r.remain, 10);
    ck_assert_uint_eq(evbuffer_get_length(out), 0);
    evbuffer_free(in), evbuffer_free(out);
}
END_TEST

#define BIG_BODY  (8u * 1024 * 1024)
#define BIG_CHUNK 65537u

/* out holds exactly want[0..n), compared a slice at a time (no 8 MB pullup). */
static void assert_evbuf_drain(struct evbuffer *b, const uint8_t *want, size_t n)
{
    static uint8_t tmp[BIG_CHUNK];
    ck_assert_uint_eq(evbuffer_get_length(b), n);
    for (size_t off = 0; off < n;) {
        int got = evbuffer_remove(b, tmp, sizeof tmp);
        ck_assert_int_gt(got, 0);
        ck_assert_msg(memcmp(tmp, want + off, (size_t)got) == 0, "differs near %zu", off);
        off += (size_t)got;
    }
}

START_TEST(test_move_large)
{
    size_t total, t2, off = 0;
    uint8_t *m = make_msg('d', BIG_BODY, 7, &total), *next = make_msg('c', 0, 0, &t2);
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    Relay r = {.remain = (uint32_t)total};
    while (off < total) {
        size_t n = total - off < BIG_CHUNK ? total - off : BIG_CHUNK;
        evbuffer_add(in, m + off, n);
        off += n;
        if (off == total) evbuffer_add(in, next, t2);
        ck_assert(conn_move(in, out, &r) == (off == total));
        ck_assert_uint_eq(r.remain, total - off);
    }
    assert_evbuf(in, next, t2);
    assert_evbuf_drain(out, m, total);
    evbuffer_free(in), evbuffer_free(out), free(m), free(next);
}
END_TEST

/* ---- conn_throttle / conn_unthrottle on bufferevent pairs (no loop is run) ---- */

typedef struct Pair {
    struct event_base *base;
    struct bufferevent *a[2], *b[2]; /* src = a[0], dst = b[0]; b[1] never reads */
} Pair;

static void pair_open(Pair *p)
{
    p->base = event_base_new();
    ck_assert_ptr_nonnull(p->base);
    ck_assert_int_eq(bufferevent_pair_new(p->base, 0, p->a), 0);
    ck_assert_int_eq(bufferevent_pair_new(p->base, 0, p->b), 0);
    bufferevent_enable(p->a[0], EV_READ);
}

static void pair_close(Pair *p)
{
    bufferevent_free(p->a[0]), bufferevent_free(p->a[1]);
    bufferevent_free(p->b[0]), bufferevent_free(p->b[1]);
    event_base_free(p->base);
}

/* Grow dst's output to exactly n bytes. */
static void fill_output(struct bufferevent *dst, size_t n)
{
    static const uint8_t zero[4096];
    struct evbuffer *o = bufferevent_get_output(dst);
    while (evbuffer_get_length(o) < n) {
        size_t k = n - evbuffer_get_length(o);
        evbuffer_add(o, zero, k < sizeof zero ? k : sizeof zero);
    }
    ck_assert_uint_eq(evbuffer_get_length(o), n);
}

/* Shrink dst's output to n bytes, as if the bufferevent had written the rest: its start is
 * frozen (only the bufferevent's own writer drains it), so thaw it around the drain. */
static void drain_output_to(struct bufferevent *dst, size_t n)
{
    struct evbuffer *o = bufferevent_get_output(dst);
    evbuffer_unfreeze(o, 1);
    ck_assert_int_eq(evbuffer_drain(o, evbuffer_get_length(o) - n), 0);
    evbuffer_freeze(o, 1);
    ck_assert_uint_eq(evbuffer_get_length(o), n);
}

START_TEST(test_throttle_below_high)
{
    Pair p;
    Relay r = {0};
    pair_open(&p);
    fill_output(p.b[0], CONN_HIGH_WATER - 1);
    conn_throttle(p.a[0], &r, p.b[0]);
    ck_assert(!r.paused);
    ck_assert(bufferevent_get_enabled(p.a[0]) & EV_READ);
    pair_close(&p);
}
END_TEST

/* Pause src: dst's output at the high mark. */
static void throttle_at_high(Pair *p, Relay *r)
{
    size_t lo = 1, hi = 1;
    fill_output(p->b[0], CONN_HIGH_WATER);
    conn_throttle(p->a[0], r, p->b[0]);
    ck_assert(r->paused);
    ck_assert(!(bufferevent_get_enabled(p->a[0]) & EV_READ));
    bufferevent_getwatermark(p->b[0], EV_WRITE, &lo, &hi);
    ck_assert_uint_eq(lo, CONN_LOW_WATER);
}

START_TEST(test_throttle_at_high)
{
    Pair p;
    Relay r = {0};
    pair_open(&p);
    throttle_at_high(&p, &r);
    conn_throttle(p.a[0], &r, p.b[0]); /* already paused: no change */
    ck_assert(r.paused);
    ck_assert(!(bufferevent_get_enabled(p.a[0]) & EV_READ));
    pair_close(&p);
}
END_TEST

START_TEST(test_unthrottle_at_low)
{
    Pair p;
    Relay r = {0};
    size_t lo = 1, hi = 1;
    pair_open(&p);
    throttle_at_high(&p, &r);
    drain_output_to(p.b[0], CONN_LOW_WATER + 1);
    ck_assert(!conn_unthrottle(p.a[0], &r, p.b[0])); /* one byte over the low mark */
    ck_assert(r.paused);
    drain_output_to(p.b[0], CONN_LOW_WATER);
    ck_assert(conn_unthrottle(p.a[0], &r, p.b[0]));
    ck_assert(!r.paused);
    ck_assert(bufferevent_get_enabled(p.a[0]) & EV_READ);
    bufferevent_getwatermark(p.b[0], EV_WRITE, &lo, &hi);
    ck_assert_uint_eq(lo, 0);
    ck_assert(!conn_unthrottle(p.a[0], &r, p.b[0])); /* not paused: nothing to resume */
    pair_close(&p);
}
END_TEST

START_TEST(test_conn_send)
{
    Pair p;
    WireBuf b;
    const uint8_t want[] = {'Z', 0, 0, 0, 5, 'I'};
    pair_open(&p);
    wire_buf_init(&b);
    wire_build_ready(&b, 'I');
    ck_assert(conn_send(p.b[0], &b));
    assert_evbuf(bufferevent_get_output(p.b[0]), want, sizeof want);
    b.oom = true;
    ck_assert(!conn_send(p.b[0], &b));
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_output(p.b[0])), sizeof want);
    wire_buf_free(&b);
    pair_close(&p);
}
END_TEST

/* ---- Params ---- */

START_TEST(test_params_case_insensitive)
{
    Params p = {0};
    ck_assert(params_set(&p, "DateStyle", "ISO, MDY"));
    ck_assert_str_eq(params_get(&p, "datestyle"), "ISO, MDY");
    ck_assert_str_eq(params_get(&p, "DATESTYLE"), "ISO, MDY");
    ck_assert_ptr_null(params_get(&p, "TimeZone"));
    ck_assert(params_set(&p, "datestyle", "German"));
    ck_assert_int_eq(p.n, 1);
    ck_assert_str_eq(params_get(&p, "DateStyle"), "German");
    params_free(&p);
}
END_TEST

START_TEST(test_params_copies)
{
    Params p = {0};
    char name[] = "TimeZone", value[] = "UTC";
    ck_assert(params_set(&p, name, value));
    name[0] = 'X', value[0] = 'X';
    ck_assert_str_eq(params_get(&p, "timezone"), "UTC");
    params_free(&p);
    ck_assert_int_eq(p.n, 0);
    ck_assert_ptr_null(params_get(&p, "TimeZone"));
    ck_assert(params_set(&p, "a", "b")); /* usable again after free */
    params_free(&p);
}
END_TEST

START_TEST(test_params_cap)
{
    Params p = {0};
    char name[16];
    for (int i = 0; i < PARAMS_MAX; i++) {
        snprintf(name, sizeof name, "g%d", i);
        ck_assert(params_set(&p, name, "v"));
    }
    ck_assert(!params_set(&p, "one_more", "v"));
    ck_assert_int_eq(p.n, PARAMS_MAX);
    ck_assert_ptr_null(params_get(&p, "one_more"));
    ck_assert(params_set(&p, "G0", "w")); /* overwriting at the cap still works */
    ck_assert_str_eq(params_get(&p, "g0"), "w");
    params_free(&p);
}
END_TEST

/* ---- server_classify_error ---- */

#define LIBPQ_AT "connection to server at \"127.0.0.1\", port 5432 failed: "

static const struct {
    const char *in, *sqlstate, *msg;
} classify_cases[] = {
    {LIBPQ_AT "FATAL:  database \"x\" does not exist\n", "3D000", "database \"x\" does not exist"},
    {LIBPQ_AT "FATAL:  password authentication failed for user \"bob\"\n", "28P01",
     "password authentication failed for user \"bob\""},
    {LIBPQ_AT "FATAL:  role \"bob\" does not exist\n", "28000", "role \"bob\" does not exist"},
    {LIBPQ_AT "FATAL:  sorry, too many clients already\n", "53300",
     "sorry, too many clients already"},
    {LIBPQ_AT "FATAL:  remaining connection slots are reserved for non-replication superuser "
              "connections\n",
     "53300", "remaining connection slots are reserved for non-replication superuser connections"},
    {LIBPQ_AT "FATAL:  the database system is starting up\n", "57P03",
     "the database system is starting up"},
    {LIBPQ_AT "FATAL:  the database system is shutting down\n", "57P03",
     "the database system is shutting down"},
    {LIBPQ_AT "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
              "connections?\n",
     "08006", LIBPQ_AT "Connection refused"},
    /* Postgres sends 28000 for this one too. */
    {LIBPQ_AT "FATAL:  role \"x\" is not permitted to log in\nDETAIL:  more\n", "28000",
     "role \"x\" is not permitted to log in"},
};

START_TEST(test_classify)
{
    char msg[512];
    memset(msg, 'Z', sizeof msg);
    const char *st = server_classify_error(classify_cases[_i].in, msg, sizeof msg);
    ck_assert_str_eq(st, classify_cases[_i].sqlstate);
    ck_assert_str_eq(msg, classify_cases[_i].msg);
    ck_assert_ptr_null(strchr(msg, '\n'));
}
END_TEST

/* Regressions: messages that once misclassified. Each expects what Postgres itself sends. */
static const struct {
    const char *in, *sqlstate;
} classify_bugs[] = {
    /* "database" inside a role name wins over the role check. */
    {LIBPQ_AT "FATAL:  role \"database_owner\" does not exist\n", "28000"},
    /* A user name is matched as text too. */
    {LIBPQ_AT "FATAL:  password authentication failed for user \"database does not exist\"\n",
     "28P01"},
    /* Postgres sends 57P03 (CAC_NOTCONSISTENT / CAC_NOTHOTSTANDBY) for these. */
    {LIBPQ_AT "FATAL:  the database system is not yet accepting connections\nDETAIL:  Consistent "
              "recovery state has not been yet reached.\n",
     "57P03"},
    {LIBPQ_AT "FATAL:  the database system is not accepting connections\nDETAIL:  Hot standby "
              "mode is disabled.\n",
     "57P03"},
};

START_TEST(test_classify_known_bugs)
{
    char msg[512];
    const char *st = server_classify_error(classify_bugs[_i].in, msg, sizeof msg);
    ck_assert_msg(strcmp(st, classify_bugs[_i].sqlstate) == 0, "'%s': got %s, want %s", msg, st,
                  classify_bugs[_i].sqlstate);
}
END_TEST

START_TEST(test_classify_small_buffer)
{
    char msg[10];
    msg[9] = 'Z';
    const char *st = server_classify_error(LIBPQ_AT "FATAL:  sorry, too many clients already\n",
                                           msg, sizeof msg - 1);
    ck_assert_str_eq(msg, "sorry, t"); /* truncated, terminated, nothing past the bound */
    ck_assert_uint_eq(msg[9], 'Z');
    ck_assert_ptr_nonnull(st);
}
END_TEST

/* ---- server_error_transient: which failed connects make waiters wait ---- */

#define LIBPQ_AT2 "connection to server at \"127.0.0.1\", port 5433 failed: "

static const struct {
    const char *in;
    bool transient;
} transient_cases[] = {
    /* Down, restarting, promoting: waiting may cure it. */
    {LIBPQ_AT "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
              "connections?\n",
     true},
    {LIBPQ_AT "FATAL:  the database system is starting up\n", true},
    {LIBPQ_AT "FATAL:  the database system is shutting down\n", true},
    {LIBPQ_AT "FATAL:  the database system is in recovery mode\n", true},
    {LIBPQ_AT "server closed the connection unexpectedly\n\tThis probably means the server "
              "terminated abnormally\n\tbefore or while processing the request.\n",
     true},
    {"connection to server on socket \"/run/postgresql/.s.PGSQL.5432\" failed: No such file or "
     "directory\n\tIs the server running locally and accepting connections on that socket?\n",
     true},
    {LIBPQ_AT "timeout expired\n", true},
    /* target_session_attrs=read-write while only a standby answers (multi-host: one line each). */
    {LIBPQ_AT "Connection refused\n\tIs the server running on that host and accepting TCP/IP "
              "connections?\n" LIBPQ_AT2 "session is read-only\n",
     true},
    {LIBPQ_AT2 "server is in hot standby mode\n", true},
    /* Waiting will not cure these: the waiters get them at once. */
    {LIBPQ_AT "FATAL:  database \"x\" does not exist\n", false},
    {LIBPQ_AT "FATAL:  password authentication failed for user \"bob\"\n", false},
    {LIBPQ_AT "FATAL:  role \"bob\" does not exist\n", false},
    {LIBPQ_AT "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"x\", database \"y\", "
              "no encryption\n",
     false},
    {LIBPQ_AT "server certificate for \"localhost\" does not match host name \"127.0.0.1\"\n",
     false},
    {LIBPQ_AT "SSL error: certificate verify failed\n", false},
    {"could not translate host name \"nosuchhost\" to address: Name or service not known\n", false},
};

START_TEST(test_transient)
{
    char msg[512];
    const char *in = transient_cases[_i].in;
    const char *st = server_classify_error(in, msg, sizeof msg);
    ck_assert_msg(server_error_transient(st, in) == transient_cases[_i].transient,
                  "'%s' (%s): want %s", msg, st,
                  transient_cases[_i].transient ? "transient" : "permanent");
}
END_TEST

static Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tf = tcase_create("framing");
    tcase_add_test(tf, test_peek_short);
    tcase_add_test(tf, test_peek_split);
    tcase_add_test(tf, test_peek_big_length);
    tcase_add_test(tf, test_move_byte_by_byte);
    tcase_add_test(tf, test_move_chunks);
    tcase_add_test(tf, test_move_stops_at_boundary);
    tcase_add_test(tf, test_move_tail_with_next);
    tcase_add_test(tf, test_move_empty_input);
    tcase_add_test(tf, test_move_large);
    tcase_set_timeout(tf, 60);
    suite_add_tcase(s, tf);

    TCase *tb = tcase_create("backpressure");
    tcase_add_test(tb, test_throttle_below_high);
    tcase_add_test(tb, test_throttle_at_high);
    tcase_add_test(tb, test_unthrottle_at_low);
    tcase_add_test(tb, test_conn_send);
    suite_add_tcase(s, tb);

    TCase *tp = tcase_create("params");
    tcase_add_test(tp, test_params_case_insensitive);
    tcase_add_test(tp, test_params_copies);
    tcase_add_test(tp, test_params_cap);
    suite_add_tcase(s, tp);

    TCase *tc = tcase_create("classify");
    tcase_add_loop_test(tc, test_classify, 0,
                        (int)(sizeof classify_cases / sizeof classify_cases[0]));
    tcase_add_test(tc, test_classify_small_buffer);
    tcase_add_loop_test(tc, test_transient, 0,
                        (int)(sizeof transient_cases / sizeof transient_cases[0]));
    suite_add_tcase(s, tc);

    {
        TCase *tk = tcase_create("regressions");
        tcase_add_loop_test(tk, test_classify_known_bugs, 0,
                            (int)(sizeof classify_bugs / sizeof classify_bugs[0]));
        suite_add_tcase(s, tk);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
