/* test_wire.c - Check suite for proxy/wire.c: the bounded reader, header checks, the startup
 * packet parser and the message builders, all fed raw protocol bytes assembled by hand. */
#include "pqmsg.h"
#include "wire.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Raw packet assembly ---- */

#define PKT_MAX 12000

/* Hand-assembled protocol bytes. */
typedef struct Pkt {
    uint8_t b[PKT_MAX];
    size_t n;
} Pkt;

static void pk_raw(Pkt *p, const void *src, size_t n)
{
    ck_assert_uint_le(p->n + n, PKT_MAX);
    memcpy(p->b + p->n, src, n);
    p->n += n;
}

static void pk_u8(Pkt *p, uint8_t v)
{
    pk_raw(p, &v, 1);
}

static void pk_be32(Pkt *p, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    pk_raw(p, x, 4);
}

/* A string with its NUL. */
static void pk_str(Pkt *p, const char *s)
{
    pk_raw(p, s, strlen(s) + 1);
}

/* Overwrite the int32 at offset `at` with v. */
static void pk_patch32(Pkt *p, size_t at, uint32_t v)
{
    p->b[at] = (uint8_t)(v >> 24);
    p->b[at + 1] = (uint8_t)(v >> 16);
    p->b[at + 2] = (uint8_t)(v >> 8);
    p->b[at + 3] = (uint8_t)v;
}

/* A startup-phase packet: length placeholder, then the code/version. */
static void su_begin(Pkt *p, uint32_t code)
{
    p->n = 0;
    pk_be32(p, 0);
    pk_be32(p, code);
}

static void su_param(Pkt *p, const char *name, const char *value)
{
    pk_str(p, name);
    pk_str(p, value);
}

/* Patch the length word to the bytes assembled so far. */
static void su_seal(Pkt *p)
{
    pk_patch32(p, 0, (uint32_t)p->n);
}

/* Final terminator, then the length. */
static void su_end(Pkt *p)
{
    pk_u8(p, 0);
    su_seal(p);
}

static Pkt pkt; /* per-test scratch; Check forks each test */

static void parse_ok(const Pkt *p, WireStartup *su)
{
    const char *st = NULL;
    char err[256] = "";
    ck_assert_msg(wire_parse_startup(p->b, p->n, su, &st, err, sizeof err), "rejected: %s", err);
}

/* Parsing must fail with `sqlstate` and an error holding `want`. */
static void parse_fails(const Pkt *p, const char *sqlstate, const char *want)
{
    WireStartup su;
    const char *st = NULL;
    char err[256] = "";
    ck_assert(!wire_parse_startup(p->b, p->n, &su, &st, err, sizeof err));
    ck_assert_str_eq(st, sqlstate);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
}

/* ---- WireReader ---- */

START_TEST(test_get_u8)
{
    const uint8_t buf[] = {0xab};
    WireReader r;
    uint8_t v = 0;
    wire_reader_init(&r, buf, 1);
    ck_assert(!wire_at_end(&r));
    ck_assert(wire_get_u8(&r, &v));
    ck_assert_uint_eq(v, 0xab);
    ck_assert(wire_at_end(&r));
    ck_assert(!wire_get_u8(&r, &v));
    ck_assert(wire_at_end(&r));
}
END_TEST

START_TEST(test_get_i16)
{
    const uint8_t buf[] = {0xff, 0xfe, 0x12};
    WireReader r;
    int16_t v = 0;
    wire_reader_init(&r, buf, 2);
    ck_assert(wire_get_i16(&r, &v));
    ck_assert_int_eq(v, -2);
    ck_assert(wire_at_end(&r));
    wire_reader_init(&r, buf + 1, 1); /* one byte short */
    ck_assert(!wire_get_i16(&r, &v));
    ck_assert_ptr_eq(r.p, buf + 1);
    ck_assert_uint_eq(r.left, 1);
}
END_TEST

START_TEST(test_get_i32_u32)
{
    const uint8_t buf[] = {0x80, 0x00, 0x00, 0x01};
    WireReader r;
    int32_t i = 0;
    uint32_t u = 0;
    wire_reader_init(&r, buf, 4);
    ck_assert(wire_get_i32(&r, &i));
    ck_assert_int_eq(i, INT32_MIN + 1);
    ck_assert(wire_at_end(&r));
    wire_reader_init(&r, buf, 4);
    ck_assert(wire_get_u32(&r, &u));
    ck_assert_uint_eq(u, 0x80000001u);
    ck_assert(wire_at_end(&r));
}
END_TEST

START_TEST(test_get_i32_short)
{
    const uint8_t buf[] = {1, 2, 3};
    WireReader r;
    int32_t i = 7;
    uint32_t u = 7;
    wire_reader_init(&r, buf, 3);
    ck_assert(!wire_get_i32(&r, &i));
    ck_assert(!wire_get_u32(&r, &u));
    ck_assert_int_eq(i, 7);
    ck_assert_uint_eq(u, 7);
    ck_assert_ptr_eq(r.p, buf);
    ck_assert_uint_eq(r.left, 3);
}
END_TEST

START_TEST(test_get_bytes)
{
    const uint8_t buf[] = {1, 2, 3, 4, 5};
    const uint8_t *out = NULL;
    WireReader r;
    wire_reader_init(&r, buf, 5);
    ck_assert(wire_get_bytes(&r, 0, &out));
    ck_assert_uint_eq(r.left, 5);
    ck_assert(!wire_get_bytes(&r, 6, &out));
    ck_assert_uint_eq(r.left, 5);
    ck_assert(wire_get_bytes(&r, 5, &out));
    ck_assert_ptr_eq(out, buf);
    ck_assert(wire_at_end(&r));
}
END_TEST

START_TEST(test_get_string)
{
    const char buf[] = "ab\0cd";
    const char *s = NULL;
    WireReader r;
    wire_reader_init(&r, buf, 3);
    ck_assert(wire_get_string(&r, &s));
    ck_assert_str_eq(s, "ab");
    ck_assert_ptr_eq(s, buf);
    ck_assert(wire_at_end(&r));
    ck_assert(!wire_get_string(&r, &s));
}
END_TEST

START_TEST(test_get_string_unterminated)
{
    const char buf[] = "abc"; /* the NUL is just past the bound */
    const char *s = NULL;
    WireReader r;
    wire_reader_init(&r, buf, 3);
    ck_assert(!wire_get_string(&r, &s));
    ck_assert_ptr_null(s);
    ck_assert_ptr_eq(r.p, (const uint8_t *)buf);
    ck_assert_uint_eq(r.left, 3);
}
END_TEST

START_TEST(test_get_string_empty)
{
    const uint8_t buf[] = {0, 'x'};
    const char *s = NULL;
    uint8_t c = 0;
    WireReader r;
    wire_reader_init(&r, buf, 2);
    ck_assert(wire_get_string(&r, &s));
    ck_assert_str_eq(s, "");
    ck_assert_uint_eq(r.left, 1);
    ck_assert(wire_get_u8(&r, &c));
    ck_assert_uint_eq(c, 'x');
    ck_assert(wire_at_end(&r));
}
END_TEST

START_TEST(test_reader_empty)
{
    const uint8_t buf[1] = {0};
    const char *s;
    uint8_t c;
    WireReader r;
    wire_reader_init(&r, buf, 0);
    ck_assert(wire_at_end(&r));
    ck_assert(!wire_get_u8(&r, &c));
    ck_assert(!wire_get_string(&r, &s));
    ck_assert(wire_at_end(&r));
}
END_TEST

/* ---- wire_check_frontend ---- */

static const uint8_t fe_fixed[] = {'S', 'H', 'X', 'c'};
static const uint8_t fe_small[] = {'E', 'D', 'C', 'f', 'p'};
static const uint8_t fe_large[] = {'Q', 'P', 'B', 'F', 'd'};
static const uint8_t fe_all[] = {'S', 'H', 'X', 'c', 'E', 'D', 'C',
                                 'f', 'p', 'Q', 'P', 'B', 'F', 'd'};
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAXPKT   (1024u * 1024u)

START_TEST(test_fe_legal)
{
    uint8_t t = fe_all[_i];
    ck_assert_msg(wire_check_frontend(t, 4, MAXPKT) == WIRE_OK, "type '%c'", t);
}
END_TEST

START_TEST(test_fe_short_length)
{
    uint8_t t = fe_all[_i];
    for (uint32_t len = 0; len < 4; len++)
        ck_assert_msg(wire_check_frontend(t, len, MAXPKT) == WIRE_BAD_LENGTH, "'%c' len %u", t,
                      len);
}
END_TEST

START_TEST(test_fe_fixed)
{
    uint8_t t = fe_fixed[_i];
    ck_assert_int_eq(wire_check_frontend(t, 5, MAXPKT), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_frontend(t, 10001, MAXPKT), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_frontend(t, 0xffffffffu, MAXPKT), WIRE_BAD_LENGTH);
}
END_TEST

START_TEST(test_fe_small)
{
    uint8_t t = fe_small[_i];
    ck_assert_int_eq(wire_check_frontend(t, PQ_SMALL_MSG_MAX, MAXPKT), WIRE_OK);
    ck_assert_int_eq(wire_check_frontend(t, PQ_SMALL_MSG_MAX + 1, MAXPKT), WIRE_TOO_LONG);
    ck_assert_int_eq(wire_check_frontend(t, 0xffffffffu, MAXPKT), WIRE_TOO_LONG);
}
END_TEST

START_TEST(test_fe_large)
{
    uint8_t t = fe_large[_i];
    ck_assert_int_eq(wire_check_frontend(t, MAXPKT, MAXPKT), WIRE_OK);
    ck_assert_int_eq(wire_check_frontend(t, MAXPKT + 1, MAXPKT), WIRE_TOO_LONG);
    ck_assert_int_eq(wire_check_frontend(t, PQ_LARGE_MSG_MAX, PQ_LARGE_MSG_MAX), WIRE_OK);
    ck_assert_int_eq(wire_check_frontend(t, PQ_LARGE_MSG_MAX + 1, PQ_LARGE_MSG_MAX), WIRE_TOO_LONG);
    ck_assert_int_eq(wire_check_frontend(t, 0xffffffffu, PQ_LARGE_MSG_MAX), WIRE_TOO_LONG);
}
END_TEST

START_TEST(test_fe_unknown)
{
    const uint8_t bad[] = {'!', 0, 'Z', 'R', 'K', 'T', 'I', 'A', 0xff};
    for (int i = 0; i < NELEM(bad); i++)
        ck_assert_msg(wire_check_frontend(bad[i], 4, MAXPKT) == WIRE_BAD_TYPE, "type 0x%02x",
                      bad[i]);
}
END_TEST

START_TEST(test_check_str)
{
    ck_assert_str_eq(wire_check_str(WIRE_OK), "ok");
    ck_assert_str_eq(wire_check_str(WIRE_BAD_TYPE), "invalid message type");
    ck_assert_str_eq(wire_check_str(WIRE_BAD_LENGTH), "invalid message length");
    ck_assert_str_eq(wire_check_str(WIRE_TOO_LONG), "message too long");
}
END_TEST

/* ---- wire_check_backend ---- */

static const uint8_t be_four[] = {'1', '2', '3', 'n', 'I', 'c'};
static const uint8_t be_var[] = {'R', 'C', 'G', 'H', 'W', 'D', 'E', 'V',
                                 'v', 'N', 'A', 't', 'S', 's', 'T', 'd'};

START_TEST(test_be_four)
{
    uint8_t t = be_four[_i];
    ck_assert_int_eq(wire_check_backend(t, 4), WIRE_OK);
    ck_assert_int_eq(wire_check_backend(t, 3), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_backend(t, 5), WIRE_BAD_LENGTH);
}
END_TEST

START_TEST(test_be_ready_and_key)
{
    ck_assert_int_eq(wire_check_backend('Z', 5), WIRE_OK);
    ck_assert_int_eq(wire_check_backend('Z', 4), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_backend('Z', 6), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_backend('K', 12), WIRE_OK);
    ck_assert_int_eq(wire_check_backend('K', 11), WIRE_BAD_LENGTH);
    ck_assert_int_eq(wire_check_backend('K', 13), WIRE_BAD_LENGTH);
}
END_TEST

START_TEST(test_be_var)
{
    uint8_t t = be_var[_i];
    ck_assert_int_eq(wire_check_backend(t, 4), WIRE_OK);
    ck_assert_int_eq(wire_check_backend(t, PQ_LARGE_MSG_MAX), WIRE_OK);
    ck_assert_int_eq(wire_check_backend(t, PQ_LARGE_MSG_MAX + 1), WIRE_TOO_LONG);
    ck_assert_int_eq(wire_check_backend(t, 0xffffffffu), WIRE_TOO_LONG);
}
END_TEST

START_TEST(test_be_short_length)
{
    const uint8_t types[] = {'Z', 'K', '1', 'R', 'D', '!'};
    for (int i = 0; i < NELEM(types); i++)
        for (uint32_t len = 0; len < 4; len++)
            ck_assert_int_eq(wire_check_backend(types[i], len), WIRE_BAD_LENGTH);
}
END_TEST

START_TEST(test_be_unknown)
{
    const uint8_t bad[] = {'!', 0, 'Q', 'P', 'B', 'X', 'p', 'F', 0xff};
    for (int i = 0; i < NELEM(bad); i++)
        ck_assert_msg(wire_check_backend(bad[i], 4) == WIRE_BAD_TYPE, "type 0x%02x", bad[i]);
}
END_TEST

/* ---- wire_startup_len ---- */

static uint32_t startup_len_of(uint32_t v)
{
    uint8_t h[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return wire_startup_len(h);
}

START_TEST(test_startup_len)
{
    ck_assert_uint_eq(startup_len_of(0), 0);
    ck_assert_uint_eq(startup_len_of(7), 0);
    ck_assert_uint_eq(startup_len_of(8), 8);
    ck_assert_uint_eq(startup_len_of(10000), 10000);
    ck_assert_uint_eq(startup_len_of(10001), 0);
    ck_assert_uint_eq(startup_len_of(0xffffffffu), 0);
    ck_assert_uint_eq(startup_len_of(0x80000008u), 0); /* negative as int32 */
}
END_TEST

/* ---- wire_parse_startup ---- */

START_TEST(test_startup_valid)
{
    WireStartup su;
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "alice");
    su_param(&pkt, "database", "shop");
    su_param(&pkt, "application_name", "psql");
    su_param(&pkt, "options", "-c search_path=x");
    su_end(&pkt);
    parse_ok(&pkt, &su);
    ck_assert_int_eq(su.kind, WIRE_SU_STARTUP);
    ck_assert_uint_eq(su.version, PQ_PROTOCOL_3_0);
    ck_assert_int_eq(su.nparams, 4);
    ck_assert_str_eq(su.user, "alice");
    ck_assert_str_eq(su.database, "shop");
    ck_assert_str_eq(su.names[2], "application_name");
    ck_assert_str_eq(su.values[2], "psql");
    ck_assert_str_eq(su.names[3], "options");
    ck_assert_str_eq(su.values[3], "-c search_path=x");
    ck_assert_ptr_eq(su.user, (const char *)pkt.b + 13); /* borrowed from the packet */
}
END_TEST

START_TEST(test_startup_db_defaults_to_user)
{
    WireStartup su;
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    su_end(&pkt);
    parse_ok(&pkt, &su);
    ck_assert_int_eq(su.nparams, 1);
    ck_assert_str_eq(su.database, "bob");
}
END_TEST

START_TEST(test_startup_empty_db_defaults_to_user)
{
    WireStartup su;
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "database", "");
    su_param(&pkt, "user", "bob");
    su_end(&pkt);
    parse_ok(&pkt, &su);
    ck_assert_str_eq(su.database, "bob");
}
END_TEST

/* An 8-byte special request: kind k for the code; with a trailing byte it is refused. */
static void check_request8(uint32_t code, WireStartupKind k)
{
    WireStartup su;
    su_begin(&pkt, code);
    su_seal(&pkt);
    parse_ok(&pkt, &su);
    ck_assert_int_eq(su.kind, k);
    pk_u8(&pkt, 0);
    su_seal(&pkt);
    parse_fails(&pkt, "08P01", "invalid length of");
}

START_TEST(test_ssl_request)
{
    check_request8(PQ_SSL_CODE, WIRE_SU_SSL);
}
END_TEST

START_TEST(test_gssenc_request)
{
    check_request8(PQ_GSSENC_CODE, WIRE_SU_GSSENC);
}
END_TEST

START_TEST(test_cancel_request)
{
    WireStartup su;
    su_begin(&pkt, PQ_CANCEL_CODE);
    pk_be32(&pkt, 4242);
    pk_be32(&pkt, 0xdeadbeef);
    su_seal(&pkt);
    ck_assert_uint_eq(pkt.n, 16);
    parse_ok(&pkt, &su);
    ck_assert_int_eq(su.kind, WIRE_SU_CANCEL);
    ck_assert_uint_eq(su.cancel_pid, 4242);
    ck_assert_uint_eq(su.cancel_key, 0xdeadbeef);
}
END_TEST

START_TEST(test_cancel_bad_length)
{
    su_begin(&pkt, PQ_CANCEL_CODE);
    pk_be32(&pkt, 4242);
    su_seal(&pkt); /* 12 bytes */
    parse_fails(&pkt, "08P01", "invalid length of cancel request");
    pk_be32(&pkt, 1);
    pk_be32(&pkt, 2);
    su_seal(&pkt); /* 20 bytes */
    parse_fails(&pkt, "08P01", "invalid length of cancel request");
}
END_TEST

START_TEST(test_startup_version2)
{
    su_begin(&pkt, 2u << 16);
    su_param(&pkt, "user", "bob");
    su_end(&pkt);
    parse_fails(&pkt, "0A000", "unsupported frontend protocol 2.0");
    pk_patch32(&pkt, 4, 4u << 16);
    parse_fails(&pkt, "0A000", "unsupported frontend protocol 4.0");
}
END_TEST

START_TEST(test_startup_version31)
{
    WireStartup su;
    su_begin(&pkt, 3u << 16 | 1);
    su_param(&pkt, "user", "bob");
    su_param(&pkt, "_pq_.ext", "on");
    su_end(&pkt);
    parse_ok(&pkt, &su);
    ck_assert_uint_eq(su.version, 3u << 16 | 1);
    ck_assert_int_eq(su.nparams, 2);
}
END_TEST

START_TEST(test_startup_no_terminator)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    su_seal(&pkt);
    parse_fails(&pkt, "08P01", "invalid startup packet layout");
}
END_TEST

START_TEST(test_startup_value_truncated)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    pk_str(&pkt, "user");
    pk_raw(&pkt, "bo", 2); /* no NUL */
    su_seal(&pkt);
    parse_fails(&pkt, "08P01", "invalid startup packet layout");
}
END_TEST

START_TEST(test_startup_trailing)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    pk_u8(&pkt, 0);
    pk_raw(&pkt, "x", 2);
    su_seal(&pkt);
    parse_fails(&pkt, "08P01", "invalid startup packet layout");
}
END_TEST

START_TEST(test_startup_length_mismatch)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    su_end(&pkt);
    pk_patch32(&pkt, 0, (uint32_t)pkt.n + 1);
    parse_fails(&pkt, "08P01", "invalid length of startup packet");
    pk_patch32(&pkt, 0, (uint32_t)pkt.n - 1);
    parse_fails(&pkt, "08P01", "invalid length of startup packet");
}
END_TEST

START_TEST(test_startup_too_short_or_long)
{
    const uint8_t four[4] = {0, 0, 0, 4};
    WireStartup su;
    const char *st;
    char err[128];
    ck_assert(!wire_parse_startup(four, 4, &su, &st, err, sizeof err));
    ck_assert_str_eq(st, "08P01");
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    char big[PQ_STARTUP_MAX];
    memset(big, 'v', sizeof big);
    /* "x\0", the value's NUL and the terminator bring the total to exactly 10001 bytes. */
    big[PQ_STARTUP_MAX + 1 - pkt.n - 4] = '\0';
    su_param(&pkt, "x", big);
    su_end(&pkt);
    ck_assert_uint_eq(pkt.n, PQ_STARTUP_MAX + 1);
    parse_fails(&pkt, "08P01", "invalid length of startup packet");
}
END_TEST

START_TEST(test_startup_no_user)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "database", "shop");
    su_end(&pkt);
    parse_fails(&pkt, "28000", "no PostgreSQL user name");
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_end(&pkt); /* no parameters at all */
    parse_fails(&pkt, "28000", "no PostgreSQL user name");
}
END_TEST

START_TEST(test_startup_empty_user)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "");
    su_param(&pkt, "database", "shop");
    su_end(&pkt);
    parse_fails(&pkt, "28000", "no PostgreSQL user name");
}
END_TEST

/* user plus n-1 more parameters. */
static void startup_with_params(int n)
{
    char name[16];
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    for (int i = 1; i < n; i++) {
        snprintf(name, sizeof name, "p%d", i);
        su_param(&pkt, name, "v");
    }
    su_end(&pkt);
}

START_TEST(test_startup_param_limit)
{
    WireStartup su;
    startup_with_params(WIRE_MAX_STARTUP_PARAMS);
    parse_ok(&pkt, &su);
    ck_assert_int_eq(su.nparams, WIRE_MAX_STARTUP_PARAMS);
    startup_with_params(WIRE_MAX_STARTUP_PARAMS + 1);
    parse_fails(&pkt, "08P01", "too many startup parameters");
}
END_TEST

START_TEST(test_startup_name_without_value)
{
    su_begin(&pkt, PQ_PROTOCOL_3_0);
    su_param(&pkt, "user", "bob");
    pk_str(&pkt, "application_name");
    su_seal(&pkt); /* packet ends after the name */
    parse_fails(&pkt, "08P01", "invalid startup packet layout");
    pk_u8(&pkt, 0);
    su_seal(&pkt); /* name, empty value, then no terminator */
    parse_fails(&pkt, "08P01", "invalid startup packet layout");
}
END_TEST

/* ---- Builders ---- */

static uint32_t declared_len(const WireBuf *b, size_t at)
{
    return wire_be32(b->data + at + 1);
}

/* The field codes of an Error/Notice body, in order. */
static void field_codes(const uint8_t *body, size_t len, char *out, size_t outlen)
{
    WireReader r;
    uint8_t c;
    const char *s;
    size_t n = 0;
    wire_reader_init(&r, body, len);
    while (wire_get_u8(&r, &c) && c != 0 && n + 1 < outlen) {
        out[n++] = (char)c;
        ck_assert(wire_get_string(&r, &s));
    }
    out[n] = '\0';
}

START_TEST(test_build_error)
{
    WireBuf b;
    const char *st, *sev, *msg;
    char codes[8];
    wire_buf_init(&b);
    wire_build_error(&b, "FATAL", "28P01", "password authentication failed for user \"bob\"");
    ck_assert_uint_eq(b.data[0], 'E');
    ck_assert_uint_eq(b.len, declared_len(&b, 0) + 1);
    ck_assert(wire_parse_error(b.data + 5, b.len - 5, &st, &sev, &msg));
    ck_assert_str_eq(st, "28P01");
    ck_assert_str_eq(sev, "FATAL");
    ck_assert_str_eq(msg, "password authentication failed for user \"bob\"");
    field_codes(b.data + 5, b.len - 5, codes, sizeof codes);
    ck_assert_str_eq(codes, "SVCM");
    ck_assert_uint_eq(b.data[b.len - 1], 0);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_notice)
{
    WireBuf b;
    const char *st, *sev, *msg;
    wire_buf_init(&b);
    wire_build_notice(&b, "00000", "hello");
    ck_assert_uint_eq(b.data[0], 'N');
    ck_assert_uint_eq(b.len, declared_len(&b, 0) + 1);
    ck_assert(wire_parse_error(b.data + 5, b.len - 5, &st, &sev, &msg));
    ck_assert_str_eq(st, "00000");
    ck_assert_str_eq(sev, "NOTICE");
    ck_assert_str_eq(msg, "hello");
    wire_buf_free(&b);
}
END_TEST

static void assert_bytes(const WireBuf *b, const uint8_t *want, size_t n)
{
    ck_assert_uint_eq(b->len, n);
    ck_assert_msg(memcmp(b->data, want, n) == 0, "bytes differ");
}

START_TEST(test_build_auth_ok)
{
    const uint8_t want[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_auth_ok(&b);
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_param_status)
{
    const uint8_t want[] = {'S', 0, 0, 0, 15, 'T', 'i', 'm', 'e', 'Z', 'o', 'n', 'e', 0, 'U', 0};
    const char *name, *value;
    WireBuf b;
    wire_buf_init(&b);
    wire_build_param_status(&b, "TimeZone", "U");
    assert_bytes(&b, want, sizeof want);
    ck_assert(wire_parse_param_status(b.data + 5, b.len - 5, &name, &value));
    ck_assert_str_eq(name, "TimeZone");
    ck_assert_str_eq(value, "U");
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_backend_key)
{
    const uint8_t want[] = {'K', 0, 0, 0, 12, 1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_backend_key(&b, 0x01020304u, 0xdeadbeefu);
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_ready)
{
    const uint8_t want[] = {'Z', 0, 0, 0, 5, 'I', 'Z', 0, 0, 0, 5, 'T'};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_ready(&b, 'I');
    wire_build_ready(&b, 'T');
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_query)
{
    const uint8_t want[] = {'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_query(&b, "SELECT 1");
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_negotiate_none)
{
    const uint8_t want[] = {'v', 0, 0, 0, 12, 0, 3, 0, 0, 0, 0, 0, 0};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_negotiate_version(&b, 0, 0, NULL);
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_build_negotiate_unrec)
{
    const char *const unrec[] = {"_pq_.a", "_pq_.bb"};
    const uint8_t want[] = {'v', 0,   0,   0,   27,  0, 3,   0,   0,   0,   0,   0,   2,   '_',
                            'p', 'q', '_', '.', 'a', 0, '_', 'p', 'q', '_', '.', 'b', 'b', 0};
    WireBuf b;
    wire_buf_init(&b);
    wire_build_negotiate_version(&b, 0, 2, unrec);
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_put_ints)
{
    const uint8_t want[] = {0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0x78};
    WireBuf b;
    wire_buf_init(&b);
    wire_put_i16(&b, -2);
    wire_put_i32(&b, -1);
    wire_put_i32(&b, 0x12345678);
    assert_bytes(&b, want, sizeof want);
    wire_buf_free(&b);
}
END_TEST

#define BIG_SQL 100000

START_TEST(test_buf_growth)
{
    char *sql = malloc(BIG_SQL + 1);
    ck_assert_ptr_nonnull(sql);
    for (size_t i = 0; i < BIG_SQL; i++)
        sql[i] = (char)('a' + i % 26);
    sql[BIG_SQL] = '\0';
    WireBuf b;
    wire_buf_init(&b);
    wire_build_ready(&b, 'I'); /* inline storage */
    ck_assert_ptr_eq(b.data, b.small);
    wire_build_query(&b, sql);
    ck_assert(!b.oom);
    ck_assert_ptr_ne(b.data, b.small);
    ck_assert_uint_eq(b.len, 6 + 1 + 4 + BIG_SQL + 1);
    ck_assert_uint_eq(declared_len(&b, 0), 5);
    ck_assert_uint_eq(b.data[6], 'Q');
    ck_assert_uint_eq(declared_len(&b, 6), 4 + BIG_SQL + 1);
    ck_assert(memcmp(b.data + 11, sql, BIG_SQL + 1) == 0);
    wire_buf_free(&b);
    ck_assert_ptr_eq(b.data, b.small);
    ck_assert_uint_eq(b.len, 0);
    free(sql);
}
END_TEST

START_TEST(test_buf_grow_inside_message)
{
    uint8_t chunk[100];
    memset(chunk, 0x5a, sizeof chunk);
    WireBuf b;
    wire_buf_init(&b);
    wire_build_auth_ok(&b);
    wire_msg_begin(&b, 'd');
    for (int i = 0; i < 10; i++) /* crosses 256 while the message is open */
        wire_put_bytes(&b, chunk, sizeof chunk);
    wire_msg_end(&b);
    ck_assert_uint_eq(b.len, 9 + 5 + 1000);
    ck_assert_uint_eq(b.data[9], 'd');
    ck_assert_uint_eq(declared_len(&b, 9), 1004);
    ck_assert_uint_eq(declared_len(&b, 0), 8);
    ck_assert_uint_eq(b.data[b.len - 1], 0x5a);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_buf_oom_sticky)
{
    WireBuf b;
    wire_buf_init(&b);
    wire_build_ready(&b, 'I');
    b.oom = true;
    wire_build_query(&b, "SELECT 1");
    wire_put_u8(&b, 1);
    ck_assert_uint_eq(b.len, 6);
    ck_assert_uint_eq(declared_len(&b, 0), 5);
    wire_buf_free(&b);
    ck_assert(!b.oom);
}
END_TEST

/* ---- Parsers of backend bodies ---- */

START_TEST(test_param_status_malformed)
{
    const char *n, *v;
    ck_assert(!wire_parse_param_status((const uint8_t *)"a\0b\0x", 5, &n, &v)); /* trailing */
    ck_assert(!wire_parse_param_status((const uint8_t *)"a\0b", 3, &n, &v));    /* value no NUL */
    ck_assert(!wire_parse_param_status((const uint8_t *)"ab", 2, &n, &v));      /* name no NUL */
    ck_assert(!wire_parse_param_status((const uint8_t *)"", 0, &n, &v));
    ck_assert(wire_parse_param_status((const uint8_t *)"a\0\0", 3, &n, &v));
    ck_assert_str_eq(n, "a");
    ck_assert_str_eq(v, "");
}
END_TEST

START_TEST(test_parse_error_unknown_fields)
{
    const char *st, *sev, *msg;
    pkt.n = 0;
    pk_u8(&pkt, 'S');
    pk_str(&pkt, "ERREUR");
    pk_u8(&pkt, 'q');
    pk_str(&pkt, "mystery");
    pk_u8(&pkt, 'D');
    pk_str(&pkt, "detail");
    pk_u8(&pkt, 'M');
    pk_str(&pkt, "boom");
    pk_u8(&pkt, 'V');
    pk_str(&pkt, "ERROR");
    pk_u8(&pkt, 0);
    ck_assert(wire_parse_error(pkt.b, pkt.n, &st, &sev, &msg));
    ck_assert_str_eq(st, "");
    ck_assert_str_eq(sev, "ERROR"); /* V (not localized) wins over S */
    ck_assert_str_eq(msg, "boom");
}
END_TEST

START_TEST(test_parse_error_v_before_s)
{
    const char *st, *sev, *msg;
    const uint8_t body[] = "VERROR\0SERREUR\0C42P01\0";
    ck_assert(wire_parse_error(body, sizeof body, &st, &sev, &msg));
    ck_assert_str_eq(sev, "ERROR");
    ck_assert_str_eq(st, "42P01");
    ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(test_parse_error_malformed)
{
    const char *st, *sev, *msg;
    const uint8_t noterm[] = "SERROR\0C42P01\0"; /* minus the literal's NUL: no terminator */
    ck_assert(!wire_parse_error(noterm, sizeof noterm - 1, &st, &sev, &msg));
    const uint8_t nonul[] = {'M', 'b', 'o'}; /* field value without NUL */
    ck_assert(!wire_parse_error(nonul, sizeof nonul, &st, &sev, &msg));
    const uint8_t trailing[] = {'M', 'x', 0, 0, 'z'};
    ck_assert(!wire_parse_error(trailing, sizeof trailing, &st, &sev, &msg));
    ck_assert(!wire_parse_error(trailing, 0, &st, &sev, &msg));
    const uint8_t empty[] = {0};
    ck_assert(wire_parse_error(empty, 1, &st, &sev, &msg));
    ck_assert_str_eq(st, "");
    ck_assert_str_eq(msg, "");
}
END_TEST

/* Regression: a reader over (NULL, 0) is a valid empty reader; wire_get_string once passed
 * NULL to memchr (UBSan aborted). */
START_TEST(test_known_bug_null_reader)
{
    WireReader r;
    const char *s;
    wire_reader_init(&r, NULL, 0);
    ck_assert(!wire_get_string(&r, &s));
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tr = tcase_create("reader");
    tcase_add_test(tr, test_get_u8);
    tcase_add_test(tr, test_get_i16);
    tcase_add_test(tr, test_get_i32_u32);
    tcase_add_test(tr, test_get_i32_short);
    tcase_add_test(tr, test_get_bytes);
    tcase_add_test(tr, test_get_string);
    tcase_add_test(tr, test_get_string_unterminated);
    tcase_add_test(tr, test_get_string_empty);
    tcase_add_test(tr, test_reader_empty);
    suite_add_tcase(s, tr);

    TCase *th = tcase_create("headers");
    tcase_add_loop_test(th, test_fe_legal, 0, NELEM(fe_all));
    tcase_add_loop_test(th, test_fe_short_length, 0, NELEM(fe_all));
    tcase_add_loop_test(th, test_fe_fixed, 0, NELEM(fe_fixed));
    tcase_add_loop_test(th, test_fe_small, 0, NELEM(fe_small));
    tcase_add_loop_test(th, test_fe_large, 0, NELEM(fe_large));
    tcase_add_test(th, test_fe_unknown);
    tcase_add_test(th, test_check_str);
    tcase_add_loop_test(th, test_be_four, 0, NELEM(be_four));
    tcase_add_test(th, test_be_ready_and_key);
    tcase_add_loop_test(th, test_be_var, 0, NELEM(be_var));
    tcase_add_test(th, test_be_short_length);
    tcase_add_test(th, test_be_unknown);
    suite_add_tcase(s, th);

    TCase *ts = tcase_create("startup");
    tcase_add_test(ts, test_startup_len);
    tcase_add_test(ts, test_startup_valid);
    tcase_add_test(ts, test_startup_db_defaults_to_user);
    tcase_add_test(ts, test_startup_empty_db_defaults_to_user);
    tcase_add_test(ts, test_ssl_request);
    tcase_add_test(ts, test_gssenc_request);
    tcase_add_test(ts, test_cancel_request);
    tcase_add_test(ts, test_cancel_bad_length);
    tcase_add_test(ts, test_startup_version2);
    tcase_add_test(ts, test_startup_version31);
    tcase_add_test(ts, test_startup_no_terminator);
    tcase_add_test(ts, test_startup_value_truncated);
    tcase_add_test(ts, test_startup_trailing);
    tcase_add_test(ts, test_startup_length_mismatch);
    tcase_add_test(ts, test_startup_too_short_or_long);
    tcase_add_test(ts, test_startup_no_user);
    tcase_add_test(ts, test_startup_empty_user);
    tcase_add_test(ts, test_startup_param_limit);
    tcase_add_test(ts, test_startup_name_without_value);
    suite_add_tcase(s, ts);

    TCase *tb = tcase_create("builders");
    tcase_add_test(tb, test_build_error);
    tcase_add_test(tb, test_build_notice);
    tcase_add_test(tb, test_build_auth_ok);
    tcase_add_test(tb, test_build_param_status);
    tcase_add_test(tb, test_build_backend_key);
    tcase_add_test(tb, test_build_ready);
    tcase_add_test(tb, test_build_query);
    tcase_add_test(tb, test_build_negotiate_none);
    tcase_add_test(tb, test_build_negotiate_unrec);
    tcase_add_test(tb, test_put_ints);
    tcase_add_test(tb, test_buf_growth);
    tcase_add_test(tb, test_buf_grow_inside_message);
    tcase_add_test(tb, test_buf_oom_sticky);
    tcase_add_test(tb, test_param_status_malformed);
    tcase_add_test(tb, test_parse_error_unknown_fields);
    tcase_add_test(tb, test_parse_error_v_before_s);
    tcase_add_test(tb, test_parse_error_malformed);
    suite_add_tcase(s, tb);

    {
        TCase *tk = tcase_create("regressions");
        tcase_add_test(tk, test_known_bug_null_reader);
        suite_add_tcase(s, tk);
    }
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wire_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
