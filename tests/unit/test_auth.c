/* test_auth.c - Check suite for proxy/auth.c: the userlist.txt parser (quotes, comments,
 * malformed lines with their line numbers and no secret in any message), lookups among
 * thousands of users, md5 and cleartext checks against vectors computed elsewhere (Python's
 * hashlib, a real Postgres 15), mock users and the Authentication message codec. */
#include "auth.h"
#include "pqmsg.h"
#include "scram.h"
#include "wire.h"

#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PGPIN_SOURCE_DIR
#error "PGPIN_SOURCE_DIR must name the source tree (set in tests/CMakeLists.txt)"
#endif

#define SAMPLE_USERLIST PGPIN_SOURCE_DIR "/config/userlist.txt"

/* From Postgres 15: SET password_encryption = ...; CREATE ROLE ... PASSWORD ...;
 * SELECT rolpassword FROM pg_authid. */
#define ALICE_SCRAM                                                                                \
    "SCRAM-SHA-256$4096:fsnkdAvOFLGoLR596OIqcw==$R7f0GGd015H1CEqoDQN3Fsb/0HbCYUd6GENN2K2zruo=:"    \
    "8WmUp0Ek1xSIesF3CrBJQMMUsrptq52gT/1zhsWcQGs="    /* password "wonderland" */
#define BOB_MD5 "md58cc7ff7afbc8551bd526b65944c17b36" /* password "builder" */

static AuthFile *parse_ok(const char *text)
{
    char err[512];
    AuthFile *af = auth_file_parse(text, strlen(text), "u.txt", err, sizeof err);
    ck_assert_msg(af != NULL, "unexpected error: %s", err);
    return af;
}

static void parse_fails(const char *text, size_t len, const char *want)
{
    char err[512];
    AuthFile *af = auth_file_parse(text, len, "u.txt", err, sizeof err);
    ck_assert_msg(af == NULL, "parsed, expected '%s'", want);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err,
                  want);
}

START_TEST(test_sample_userlist)
{
    char err[512];
    AuthFile *af = auth_file_load(SAMPLE_USERLIST, err, sizeof err);
    ck_assert_msg(af != NULL, "%s", err);
    ck_assert_int_eq(auth_file_count(af), 4);
    const AuthUser *alice = auth_file_find(af, "alice"), *bob = auth_file_find(af, "bob");
    const AuthUser *carol = auth_file_find(af, "carol"), *weird = auth_file_find(af, "we\"ird");
    ck_assert(alice && bob && carol && weird);
    ck_assert_int_eq(alice->kind, AUTH_SECRET_SCRAM);
    ck_assert_int_eq(alice->u.scram.iterations, 4096);
    ck_assert_int_eq(alice->u.scram.salt_len, 16);
    ck_assert_int_eq(bob->kind, AUTH_SECRET_MD5);
    ck_assert_str_eq(bob->u.md5, BOB_MD5);
    ck_assert_int_eq(carol->kind, AUTH_SECRET_PLAIN);
    ck_assert_str_eq(carol->u.plain, "secret");
    ck_assert_int_eq(weird->kind, AUTH_SECRET_SCRAM);
    ck_assert(!alice->mock && !carol->mock);
    ck_assert_ptr_null(auth_file_find(af, "Alice"));
    ck_assert_ptr_null(auth_file_find(af, "we\"\"ird"));
    ck_assert_ptr_null(auth_file_find(af, ""));
    ck_assert_ptr_null(auth_file_find(af, NULL));
    ck_assert_ptr_null(auth_file_find(NULL, "alice"));
    auth_file_free(af);
    auth_file_free(NULL);
}
END_TEST

START_TEST(test_lexical)
{
    AuthFile *af = parse_ok("\xEF\xBB\xBF; comment\n"
                            "# another\n"
                            "   ; indented comment\n"
                            "\n"
                            "  \t\r\n"
                            "\"a\"\"b\" \"p\"\"w\"\"\"\n"
                            "\t\"tab\"\t\"x\"  \"extra\" field ignored\r\n"
                            "\"close\"\"y\"\"\" \"z\"\n"
                            "\"sp ace\" \"with space \"\n"
                            "\"dup\" \"first\"\n"
                            "\"dup\" \"second\"\n"
                            "\"md5upper\" \"md58CC7FF7AFBC8551BD526B65944C17B36\"\n"
                            "\"md5short\" \"md5abc\"\n"
                            "\"last\" \"no newline\"");
    ck_assert_int_eq(auth_file_count(af), 8);
    ck_assert_str_eq(auth_file_find(af, "a\"b")->u.plain, "p\"w\"");
    ck_assert_str_eq(auth_file_find(af, "tab")->u.plain, "x");
    ck_assert_str_eq(auth_file_find(af, "close\"y\"")->u.plain, "z");
    ck_assert_str_eq(auth_file_find(af, "sp ace")->u.plain, "with space ");
    const AuthUser *dup = auth_file_find(af, "dup");
    ck_assert_str_eq(dup->u.plain, "second"); /* the last line wins, as in PgBouncer */
    ck_assert_int_eq(dup->line, 11);
    /* Not lowercase md5 hex: a plain password, as Postgres decides. */
    ck_assert_int_eq(auth_file_find(af, "md5upper")->kind, AUTH_SECRET_PLAIN);
    ck_assert_int_eq(auth_file_find(af, "md5short")->kind, AUTH_SECRET_PLAIN);
    ck_assert_str_eq(auth_file_find(af, "last")->u.plain, "no newline");
    auth_file_free(af);

    af = parse_ok("");
    ck_assert_int_eq(auth_file_count(af), 0);
    ck_assert_ptr_null(auth_file_find(af, "x"));
    auth_file_free(af);
}
END_TEST

typedef struct BadCase {
    const char *text, *want;
} BadCase;

static const BadCase bad_cases[] = {
    {"user \"s3cr3t\"\n", "u.txt:1: expected a double-quoted user name"},
    {"; c\n\n\"user\n", "u.txt:3: unterminated user name"},
    {"\"user\"\n", "u.txt:1: expected a double-quoted secret after the user name"},
    {"\"user\" s3cr3t\n", "u.txt:1: expected a double-quoted secret after the user name"},
    {"\"user\"\"s3cr3t\"\n", "u.txt:1: expected a double-quoted secret after the user name"},
    {"\"ok\" \"x\"\n\"user\" \"s3cr3t\n\"\n", "u.txt:2: user \"user\": unterminated secret"},
    {"\"\" \"s3cr3t\"\n", "u.txt:1: empty user name"},
    {"\"u\" \"SCRAM-SHA-256$s3cr3t\"\n",
     "u.txt:1: user \"u\": malformed SCRAM-SHA-256 secret (expected SCRAM-SHA-256$<iterations>:"},
    {"\"u\" \"SCRAM-SHA-256$0:c2FsdA==$s3cr3t:s3cr3t\"\n", "u.txt:1: user \"u\": malformed "
                                                           "SCRAM-SHA-256 secret (bad iteration "
                                                           "count)"},
    {"\"u\" \"SCRAM-SHA-256$99999999999:c2FsdA==$s3cr3t:s3cr3t\"\n", "u.txt:1: user \"u\": "
                                                                     "malformed SCRAM-SHA-256 "
                                                                     "secret (bad iteration"},
    {"\"u\" \"SCRAM-SHA-256$4x:c2FsdA==$s3cr3t:s3cr3t\"\n", "u.txt:1: user \"u\": malformed"},
    {"\"u\" \"SCRAM-SHA-256$4096:c2Fsd$s3cr3t:s3cr3t\"\n", "u.txt:1: user \"u\": malformed "
                                                           "SCRAM-SHA-256 secret (bad salt)"},
    {"\"u\" \"SCRAM-SHA-256$4096:$s3cr3t:s3cr3t\"\n", "u.txt:1: user \"u\": malformed "
                                                      "SCRAM-SHA-256 secret (bad salt)"},
    {"\"u\" \"SCRAM-SHA-256$4096:c2FsdA==$czNjcjN0:"
     "8WmUp0Ek1xSIesF3CrBJQMMUsrptq52gT/1zhsWcQGs=\"\n",
     "u.txt:1: user \"u\": malformed SCRAM-SHA-256 secret (bad StoredKey)"},
    {"\"u\" \"SCRAM-SHA-256$4096:c2FsdA==$R7f0GGd015H1CEqoDQN3Fsb/0HbCYUd6GENN2K2zruo=:"
     "8WmUp0Ek1xSIesF3CrBJQMMUsrptq52gT/1zhsWcQGs\"\n",
     "u.txt:1: user \"u\": malformed SCRAM-SHA-256 secret (bad ServerKey)"},
    {"\"u\" \"SCRAM-SHA-256$4096:c2FsdA==$R7f0GGd015H1CEqoDQN3Fsb/0HbCYUd6GENN2K2zruo=:"
     "8WmUp0Ek1xSIesF3CrBJQMMUsrptq52gT/1zhsWcQGs=x\"\n",
     "u.txt:1: user \"u\": malformed SCRAM-SHA-256 secret (bad ServerKey)"},
};

START_TEST(test_malformed)
{
    const BadCase *c = &bad_cases[_i];
    parse_fails(c->text, strlen(c->text), c->want);
    char err[512];
    ck_assert_ptr_null(auth_file_parse(c->text, strlen(c->text), "u.txt", err, sizeof err));
    ck_assert_msg(strstr(err, "s3cr3t") == NULL && strstr(err, "czNjcjN0") == NULL &&
                      strstr(err, "8WmUp0") == NULL,
                  "secret echoed: %s", err);
}
END_TEST

START_TEST(test_limits)
{
    char text[4200];
    memset(text, 'u', sizeof text);
    text[0] = '"';
    strcpy(text + 128, "\" \"x\"\n"); /* a 127-byte name fits */
    AuthFile *af = parse_ok(text);
    char name[128];
    memset(name, 'u', 127);
    name[127] = '\0';
    ck_assert_ptr_nonnull(auth_file_find(af, name));
    auth_file_free(af);
    strcpy(text + 129, "\" \"x\"\n");
    parse_fails(text, strlen(text), "u.txt:1: user name longer than 127 bytes");

    memset(text, 's', sizeof text);
    memcpy(text, "\"u\" \"", 5);
    strcpy(text + 5 + 2047, "\"\n");
    af = parse_ok(text);
    ck_assert_int_eq(strlen(auth_file_find(af, "u")->u.plain), 2047);
    auth_file_free(af);
    strcpy(text + 5 + 2048, "\"\n");
    parse_fails(text, strlen(text), "u.txt:1: user \"u\": secret longer than 2047 bytes");

    static const char nul[] = "\"a\" \"b\"\n\n\"c\" \"d\0\"\n";
    parse_fails(nul, sizeof nul - 1, "u.txt:3: NUL byte in file");
}
END_TEST

/* Thousands of users: each found, in O(log n), whatever order the file lists them in. */
START_TEST(test_many_users)
{
    enum { N = 5000 };
    size_t cap = N * 64, len = 0;
    char *text = malloc(cap);
    for (int i = N - 1; i >= 0; i--)
        len += (size_t)snprintf(text + len, cap - len, "\"user%05d\" \"pw%d\"\n", i * 7 % N, i);
    AuthFile *af = auth_file_parse(text, len, "big.txt", NULL, 0);
    ck_assert_ptr_nonnull(af);
    ck_assert_int_eq(auth_file_count(af), N);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "user%05d", i);
        const AuthUser *u = auth_file_find(af, name);
        ck_assert_msg(u != NULL, "%s missing", name);
        ck_assert_str_eq(u->name, name);
    }
    ck_assert_ptr_null(auth_file_find(af, "user5000"));
    ck_assert_ptr_null(auth_file_find(af, "user"));
    ck_assert_ptr_null(auth_file_find(af, "aaa"));
    ck_assert_ptr_null(auth_file_find(af, "zzz"));
    auth_file_free(af);
    free(text);
}
END_TEST

START_TEST(test_load_errors)
{
    char err[512];
    ck_assert_ptr_null(auth_file_load("/nonexistent/users.txt", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/users.txt: cannot open: No such file or directory");
    ck_assert_ptr_null(auth_file_load("/tmp", err, sizeof err));
    ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
    ck_assert_ptr_null(auth_file_load("/nonexistent", NULL, 0));

    char path[] = "/tmp/pgpin-test-auth-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    static const char text[] = "\"ok\" \"pw\"\n\"bad\" \"s3cr3t\n";
    ck_assert_int_eq(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    ck_assert_ptr_null(auth_file_load(path, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want, "%s:2: user \"bad\": unterminated secret", path);
    ck_assert_str_eq(err, want);
    unlink(path);
}
END_TEST

/* hex(md5(a || b)), straight from OpenSSL. */
static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[33])
{
    uint8_t d[16];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert(ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) && EVP_DigestUpdate(ctx, a, alen) &&
              EVP_DigestUpdate(ctx, b, blen) && EVP_DigestFinal_ex(ctx, d, NULL));
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* What a client answers to an md5 challenge, given hex(md5(password || user)). */
static void md5_response(const char *inner_hex, const uint8_t salt[4], char out[36])
{
    memcpy(out, "md5", 3);
    md5_hex(inner_hex, 32, salt, 4, out + 3);
}

static AuthFile *sample(void)
{
    AuthFile *af = auth_file_load(SAMPLE_USERLIST, NULL, 0);
    ck_assert_ptr_nonnull(af);
    return af;
}

/* Expected responses from Python: "md5" + md5(md5(password + user).hexdigest() + salt). */
START_TEST(test_md5_check)
{
    static const uint8_t salt1[4] = {1, 2, 3, 4}, salt2[4] = {0xde, 0xad, 0xbe, 0xef};
    AuthFile *af = sample();
    const AuthUser *bob = auth_file_find(af, "bob"), *carol = auth_file_find(af, "carol");
    const AuthUser *alice = auth_file_find(af, "alice");
    ck_assert(auth_md5_check(bob, "bob", salt1, "md51f7acc39a16390680a63f641f291fd5b"));
    ck_assert(!auth_md5_check(bob, "bob", salt2, "md51f7acc39a16390680a63f641f291fd5b"));
    ck_assert(!auth_md5_check(bob, "bob", salt1, "md51f7acc39a16390680a63f641f291fd5c"));
    ck_assert(!auth_md5_check(bob, "bob", salt1, "MD51f7acc39a16390680a63f641f291fd5b"));
    ck_assert(!auth_md5_check(bob, "bob", salt1, "md51f7acc39a16390680a63f641f291fd5"));
    ck_assert(!auth_md5_check(bob, "bob", salt1, "md51f7acc39a16390680a63f641f291fd5bb"));
    ck_assert(!auth_md5_check(bob, "bob", salt1, ""));
    ck_assert(!auth_md5_check(bob, "bob", salt1, NULL));
    /* A plain secret is hashed with the login name. */
    ck_assert(auth_md5_check(carol, "carol", salt2, "md585317d8c1fef279c1ab9583d4febfcfb"));
    ck_assert(!auth_md5_check(carol, "carol2", salt2, "md585317d8c1fef279c1ab9583d4febfcfb"));
    ck_assert(!auth_md5_check(carol, "carol", salt1, "md585317d8c1fef279c1ab9583d4febfcfb"));
    /* SCRAM secrets cannot answer an md5 challenge. */
    ck_assert(!auth_md5_check(alice, "alice", salt1, "md51f7acc39a16390680a63f641f291fd5b"));
    ck_assert(!auth_md5_check(NULL, "bob", salt1, "md51f7acc39a16390680a63f641f291fd5b"));
    auth_file_free(af);

    /* An empty plain secret never logs in, even with the matching response. */
    af = parse_ok("\"e\" \"\"\n");
    char inner[33], resp[AUTH_MD5_LEN + 1];
    md5_hex("e", 1, "", 0, inner);
    md5_response(inner, salt1, resp);
    ck_assert(!auth_md5_check(auth_file_find(af, "e"), "e", salt1, resp));
    ck_assert(!auth_plain_check(auth_file_find(af, "e"), "e", ""));
    auth_file_free(af);
}
END_TEST

START_TEST(test_plain_check)
{
    AuthFile *af = sample();
    const AuthUser *alice = auth_file_find(af, "alice"), *bob = auth_file_find(af, "bob");
    const AuthUser *carol = auth_file_find(af, "carol"), *weird = auth_file_find(af, "we\"ird");
    ck_assert(auth_plain_check(carol, "carol", "secret"));
    ck_assert(!auth_plain_check(carol, "carol", "secre"));
    ck_assert(!auth_plain_check(carol, "carol", "secret2"));
    ck_assert(!auth_plain_check(carol, "carol", ""));
    ck_assert(auth_plain_check(bob, "bob", "builder"));
    ck_assert(!auth_plain_check(bob, "bobby", "builder")); /* md5 bakes the name in */
    ck_assert(!auth_plain_check(bob, "bob", "Builder"));
    /* SCRAM verifiers made by Postgres 15. */
    ck_assert(auth_plain_check(alice, "alice", "wonderland"));
    ck_assert(!auth_plain_check(alice, "alice", "wonderlan"));
    ck_assert(auth_plain_check(weird, "we\"ird", "p@ss w0rd"));
    ck_assert(!auth_plain_check(weird, "we\"ird", "p@ss w0rd "));
    ck_assert(!auth_plain_check(NULL, "x", "y"));
    ck_assert(!auth_plain_check(carol, "carol", NULL));
    auth_file_free(af);

    /* RFC 7677's user, verifier computed with Python's hashlib.pbkdf2_hmac. */
    af = parse_ok("\"user\" \"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"\n");
    ck_assert(auth_plain_check(auth_file_find(af, "user"), "user", "pencil"));
    ck_assert(!auth_plain_check(auth_file_find(af, "user"), "user", "pencil2"));
    auth_file_free(af);
}
END_TEST

START_TEST(test_mock_users)
{
    AuthMockKey k1, k2;
    ck_assert(auth_mock_key_init(&k1));
    ck_assert(auth_mock_key_init(&k2));
    AuthMockUser a, b, c, d;
    const AuthUser *ua = auth_mock_user(&k1, "mallory", AUTH_SECRET_SCRAM, &a);
    const AuthUser *ub = auth_mock_user(&k1, "mallory", AUTH_SECRET_SCRAM, &b);
    const AuthUser *uc = auth_mock_user(&k1, "trudy", AUTH_SECRET_SCRAM, &c);
    const AuthUser *ud = auth_mock_user(&k2, "mallory", AUTH_SECRET_SCRAM, &d);
    ck_assert_ptr_eq(ua, &a.user);
    ck_assert(ua->mock && ua->kind == AUTH_SECRET_SCRAM);
    ck_assert_str_eq(ua->name, "mallory");
    ck_assert_int_eq(ua->u.scram.iterations, SCRAM_ITERATIONS);
    ck_assert_int_eq(ua->u.scram.salt_len, 16);
    /* The same name gets the same salt each time (a real user's salt does not change). */
    ck_assert_mem_eq(ua->u.scram.salt, ub->u.scram.salt, 16);
    ck_assert_mem_eq(ua->u.scram.stored_key, ub->u.scram.stored_key, AUTH_KEY_LEN);
    ck_assert(memcmp(ua->u.scram.salt, uc->u.scram.salt, 16) != 0);
    ck_assert(memcmp(ua->u.scram.salt, ud->u.scram.salt, 16) != 0);
    ck_assert(!auth_plain_check(ua, "mallory", "anything"));

    const AuthUser *m = auth_mock_user(&k1, "mallory", AUTH_SECRET_MD5, &a);
    ck_assert(m->mock && m->kind == AUTH_SECRET_MD5);
    ck_assert_int_eq(strlen(m->u.md5), AUTH_MD5_LEN);
    ck_assert_int_eq(strncmp(m->u.md5, "md5", 3), 0);
    /* Even the response its own secret would give is refused; a real user with that secret
     * gets in with it. */
    static const uint8_t salt[4] = {9, 8, 7, 6};
    char line[128], resp[AUTH_MD5_LEN + 1];
    snprintf(line, sizeof line, "\"mallory\" \"%s\"\n", m->u.md5);
    AuthFile *same = parse_ok(line);
    const AuthUser *real = auth_file_find(same, "mallory");
    ck_assert(!real->mock);
    md5_response(m->u.md5 + 3, salt, resp);
    ck_assert(auth_md5_check(real, "mallory", salt, resp));
    ck_assert(!auth_md5_check(m, "mallory", salt, resp));
    ck_assert(!auth_plain_check(m, "mallory", "x"));
    auth_file_free(same);

    char msg[128];
    auth_fail_message(msg, sizeof msg, "mallory");
    ck_assert_str_eq(msg, "password authentication failed for user \"mallory\"");
}
END_TEST

START_TEST(test_method_choice)
{
    AuthFile *af = sample(); /* 2 SCRAM, 1 md5, 1 plain */
    ck_assert(!auth_use_md5(auth_file_find(af, "alice"), true));
    ck_assert(auth_use_md5(auth_file_find(af, "bob"), true));
    ck_assert(auth_use_md5(auth_file_find(af, "carol"), true));
    ck_assert(!auth_use_md5(auth_file_find(af, "bob"), false));
    ck_assert(!auth_use_md5(NULL, true));
    ck_assert_int_eq(auth_file_mock_kind(af, true), AUTH_SECRET_SCRAM);
    auth_file_free(af);
    af = parse_ok("\"a\" \"" BOB_MD5 "\"\n\"b\" \"pw\"\n\"c\" \"" ALICE_SCRAM "\"\n");
    ck_assert_int_eq(auth_file_mock_kind(af, true), AUTH_SECRET_MD5);
    ck_assert_int_eq(auth_file_mock_kind(af, false), AUTH_SECRET_SCRAM);
    ck_assert_int_eq(auth_file_mock_kind(NULL, true), AUTH_SECRET_SCRAM);
    auth_file_free(af);
}
END_TEST

/* ---- Authentication messages ---- */

static void assert_bytes(const WireBuf *b, const void *want, size_t len)
{
    ck_assert(!b->oom);
    ck_assert_int_eq(b->len, len);
    ck_assert_mem_eq(b->data, want, len);
}

START_TEST(test_build_requests)
{
    WireBuf b;
    wire_buf_init(&b);
    auth_build_cleartext_request(&b);
    assert_bytes(&b, "R\0\0\0\x08\0\0\0\x03", 9);
    b.len = 0;
    static const uint8_t salt[4] = {0xde, 0xad, 0xbe, 0xef};
    auth_build_md5_request(&b, salt);
    assert_bytes(&b, "R\0\0\0\x0c\0\0\0\x05\xde\xad\xbe\xef", 13);
    b.len = 0;
    auth_build_sasl_request(&b);
    assert_bytes(&b, "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", 24);
    b.len = 0;
    auth_build_sasl_continue(&b, "r=abc", 5);
    assert_bytes(&b, "R\0\0\0\x0d\0\0\0\x0br=abc", 14);
    b.len = 0;
    auth_build_sasl_final(&b, "v=xy", 4);
    assert_bytes(&b, "R\0\0\0\x0c\0\0\0\x0cv=xy", 13);
    /* Each checks out as a backend message. */
    ck_assert_int_eq(wire_check_backend(PqMsg_Authentication, 12), WIRE_OK);
    wire_buf_free(&b);
}
END_TEST

START_TEST(test_parse_password)
{
    const char *pw = NULL;
    ck_assert(auth_parse_password((const uint8_t *)"hunter2", 8, &pw));
    ck_assert_str_eq(pw, "hunter2");
    ck_assert(auth_parse_password((const uint8_t *)"", 1, &pw));
    ck_assert_str_eq(pw, "");
    ck_assert(!auth_parse_password((const uint8_t *)"hunter2", 7, &pw)); /* no NUL */
    ck_assert(!auth_parse_password((const uint8_t *)"a\0b", 4, &pw));    /* bytes after it */
    ck_assert(!auth_parse_password((const uint8_t *)"", 0, &pw));
}
END_TEST

START_TEST(test_parse_sasl_initial)
{
    const char *mech;
    const uint8_t *data;
    size_t len;
    static const uint8_t ok[] = "SCRAM-SHA-256\0\0\0\0\x05n,,n=";
    ck_assert(auth_parse_sasl_initial(ok, sizeof ok - 1, &mech, &data, &len));
    ck_assert_str_eq(mech, SCRAM_MECHANISM);
    ck_assert_int_eq(len, 5);
    ck_assert_mem_eq(data, "n,,n=", 5);
    static const uint8_t none[] = "SCRAM-SHA-256\0\xff\xff\xff\xff";
    ck_assert(auth_parse_sasl_initial(none, sizeof none - 1, &mech, &data, &len));
    ck_assert_ptr_null(data);
    ck_assert_int_eq(len, 0);
    /* Length past the end, short of the end, negative other than -1, truncated header. */
    ck_assert(!auth_parse_sasl_initial(ok, sizeof ok - 2, &mech, &data, &len));
    static const uint8_t extra[] = "SCRAM-SHA-256\0\0\0\0\x04n,,n=";
    ck_assert(!auth_parse_sasl_initial(extra, sizeof extra - 1, &mech, &data, &len));
    static const uint8_t neg[] = "SCRAM-SHA-256\0\xff\xff\xff\xfe";
    ck_assert(!auth_parse_sasl_initial(neg, sizeof neg - 1, &mech, &data, &len));
    ck_assert(!auth_parse_sasl_initial(ok, 16, &mech, &data, &len));
    ck_assert(!auth_parse_sasl_initial(ok, 13, &mech, &data, &len));
    for (size_t i = 0; i < sizeof ok - 1; i++)
        ck_assert(!auth_parse_sasl_initial(ok, i, &mech, &data, &len));
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sample_userlist);
    tcase_add_test(tc, test_lexical);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_many_users);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_md5_check);
    tcase_add_test(tc, test_plain_check);
    tcase_add_test(tc, test_mock_users);
    tcase_add_test(tc, test_method_choice);
    tcase_add_test(tc, test_build_requests);
    tcase_add_test(tc, test_parse_password);
    tcase_add_test(tc, test_parse_sasl_initial);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
