/* test_scram.c - Check suite for proxy/scram.c: RFC 7677's test vector, a verifier made by
 * Postgres 15, a client side written here the way libpq computes it, every way a client message
 * can be wrong, mock users failing like wrong passwords, and libpq itself logging in through a
 * small server thread that speaks the Authentication messages with auth.c and scram.c. */
#include "auth.h"
#include "pqmsg.h"
#include "scram.h"
#include "wire.h"

#include <arpa/inet.h>
#include <check.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* RFC 7677 section 3. */
#define RFC_CNONCE       "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE       "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT_B64     "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT_B64 ",i=4096"
#define RFC_CLIENT_FINAL                                                                           \
    "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* pencil's verifier for that salt, from Python's hashlib.pbkdf2_hmac and hmac. */
#define RFC_VERIFIER                                                                               \
    "SCRAM-SHA-256$4096:" RFC_SALT_B64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"            \
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

/* From Postgres 15 (password_encryption = scram-sha-256 / md5), passwords in the comments. */
#define USERLIST                                                                                   \
    "\"alice\" \"SCRAM-SHA-256$4096:fsnkdAvOFLGoLR596OIqcw==$"                                     \
    "R7f0GGd015H1CEqoDQN3Fsb/0HbCYUd6GENN2K2zruo=:8WmUp0Ek1xSIesF3CrBJQMMUsrptq52gT/"              \
    "1zhsWcQGs=\"\n"                                    /* wonderland */                           \
    "\"bob\" \"md58cc7ff7afbc8551bd526b65944c17b36\"\n" /* builder */                              \
    "\"carol\" \"secret\"\n"                            /* plain */                                \
    "\"user\" \"" RFC_VERIFIER "\"\n"                   /* pencil */

static AuthFile *userlist(const char *text)
{
    char err[256];
    AuthFile *af = auth_file_parse(text, strlen(text), "u.txt", err, sizeof err);
    ck_assert_msg(af != NULL, "%s", err);
    return af;
}

/* Step helpers: the result, with the server message copied into out. */
static ScramResult step1(ScramState *st, const char *msg, char *out, size_t outcap, char *err)
{
    const char *o = NULL;
    size_t olen = 0;
    ScramResult r = scram_step_first(st, (const uint8_t *)msg, strlen(msg), &o, &olen, err, 256);
    if (r == SCRAM_OK) {
        ck_assert_uint_lt(olen, outcap);
        memcpy(out, o, olen);
        out[olen] = '\0';
    }
    return r;
}

static ScramResult step2(ScramState *st, const char *msg, char *out, size_t outcap, char *err)
{
    const char *o = NULL;
    size_t olen = 0;
    ScramResult r = scram_step_final(st, (const uint8_t *)msg, strlen(msg), &o, &olen, err, 256);
    if (r == SCRAM_OK) {
        ck_assert_uint_lt(olen, outcap);
        memcpy(out, o, olen);
        out[olen] = '\0';
    }
    return r;
}

START_TEST(test_rfc7677_verifier)
{
    AuthFile *af = userlist(USERLIST);
    ScramState st;
    char out[256], err[256];
    ck_assert(scram_init(&st, auth_file_find(af, "user")));
    ck_assert(scram_test_override(&st, RFC_SNONCE, NULL, 0));
    ck_assert_int_eq(step1(&st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_OK);
    ck_assert_str_eq(out, RFC_SERVER_FIRST);
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_OK);
    ck_assert_str_eq(out, RFC_SERVER_FINAL);
    ck_assert_int_eq(st.step, SCRAM_ST_DONE);
    scram_free(&st);
    scram_free(&st); /* twice is harmless */
    auth_file_free(af);
}
END_TEST

/* A plain secret: the verifier is derived on the spot; with RFC 7677's salt it is its vector. */
START_TEST(test_rfc7677_plain)
{
    AuthFile *af = userlist("\"user\" \"pencil\"\n");
    static const uint8_t salt[] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
                                   0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
    ScramState st;
    char out[256], err[256];
    ck_assert(scram_init(&st, auth_file_find(af, "user")));
    ck_assert(scram_test_override(&st, RFC_SNONCE, salt, sizeof salt));
    ck_assert_int_eq(step1(&st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_OK);
    ck_assert_str_eq(out, RFC_SERVER_FIRST);
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_OK);
    ck_assert_str_eq(out, RFC_SERVER_FINAL);
    scram_free(&st);

    /* Without the override: a random 16-byte salt, 4096 iterations, a 24-char server nonce. */
    ck_assert(scram_init(&st, auth_file_find(af, "user")));
    ck_assert_int_eq(step1(&st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_OK);
    ck_assert_int_eq(strncmp(out, "r=" RFC_CNONCE, 22), 0);
    ck_assert_int_eq(strlen(out), 2 + 20 + 24 + 3 + 24 + 7);
    ck_assert_str_eq(out + strlen(out) - 7, ",i=4096");
    ck_assert(strncmp(out + 46, ",s=", 3) == 0 && strncmp(out + 49, RFC_SALT_B64, 24) != 0);
    scram_free(&st);
    auth_file_free(af);
}
END_TEST

START_TEST(test_b64)
{
    uint8_t out[8];
    size_t n = 99;
    char enc[16];
    ck_assert(scram_b64_decode("", 0, out, sizeof out, &n) && n == 0);
    ck_assert(scram_b64_decode("QQ==", 4, out, sizeof out, &n) && n == 1 && out[0] == 'A');
    ck_assert(scram_b64_decode("QUI=", 4, out, sizeof out, &n) && n == 2);
    ck_assert(scram_b64_decode("QUJD", 4, out, sizeof out, &n) && n == 3);
    ck_assert(scram_b64_decode("QUJDRA==", 8, out, sizeof out, &n) && n == 4);
    ck_assert_mem_eq(out, "ABCD", 4);
    static const char *const bad[] = {"Q",    "QQ=",  "QQ",    "Q===", "====",     "QQ=A",
                                      "Q=Q=", "QU I", "QUI\n", "QU-_", "QUJD\0AAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!scram_b64_decode(bad[i], i == 10 ? 8 : strlen(bad[i]), out, sizeof out, &n),
                      "accepted '%s'", bad[i]);
    ck_assert(!scram_b64_decode("QUJDRA==", 8, out, 3, &n)); /* over outcap */
    ck_assert(scram_b64_encode((const uint8_t *)"ABCD", 4, enc, sizeof enc));
    ck_assert_str_eq(enc, "QUJDRA==");
    ck_assert(!scram_b64_encode((const uint8_t *)"ABCD", 4, enc, 8)); /* no room for the NUL */
    ck_assert(scram_b64_encode((const uint8_t *)"", 0, enc, 1) && enc[0] == '\0');
}
END_TEST

/* ---- A client side, computed the way libpq's fe-auth-scram.c does ---- */

typedef struct Client {
    const char *gs2; /* "n,," or "y,," */
    char first_bare[160];
    char nonce[160]; /* client + server nonce, from server-first */
    uint8_t server_sig[AUTH_KEY_LEN];
} Client;

static void client_first(Client *c, const char *gs2, const char *cnonce, char *out, size_t cap)
{
    c->gs2 = gs2;
    snprintf(c->first_bare, sizeof c->first_bare, "n=,r=%s", cnonce); /* libpq sends no name */
    snprintf(out, cap, "%s%s", gs2, c->first_bare);
}

/* client-final-message answering server_first; `ext` ("" or ",x=...") goes before the proof. */
static void client_final(Client *c, const char *password, const char *server_first, const char *ext,
                         char *out, size_t cap)
{
    char salt_b64[160], cbind[16], without[512], am[1024], proof_b64[64];
    uint8_t salt[128], salted[AUTH_KEY_LEN], ck[AUTH_KEY_LEN], stored[AUTH_KEY_LEN];
    uint8_t sk[AUTH_KEY_LEN], sig[AUTH_KEY_LEN], proof[AUTH_KEY_LEN];
    size_t slen;
    int iter;
    ck_assert_int_eq(sscanf(server_first, "r=%159[^,],s=%159[^,],i=%d", c->nonce, salt_b64, &iter),
                     3);
    ck_assert(strncmp(c->nonce, c->first_bare + 5, strlen(c->first_bare + 5)) == 0);
    ck_assert(scram_b64_decode(salt_b64, strlen(salt_b64), salt, sizeof salt, &slen));
    ck_assert(scram_salted_password(password, salt, slen, iter, salted));
    ck_assert(scram_hmac(salted, "Client Key", 10, ck) && scram_sha256(ck, AUTH_KEY_LEN, stored));
    ck_assert(scram_hmac(salted, "Server Key", 10, sk));
    ck_assert(scram_b64_encode((const uint8_t *)c->gs2, strlen(c->gs2), cbind, sizeof cbind));
    int n = snprintf(without, sizeof without, "c=%s,r=%s%s", cbind, c->nonce, ext);
    ck_assert(n > 0 && (size_t)n < sizeof without);
    n = snprintf(am, sizeof am, "%s,%s,%s", c->first_bare, server_first, without);
    ck_assert(n > 0 && (size_t)n < sizeof am);
    ck_assert(scram_hmac(stored, am, strlen(am), sig));
    for (int i = 0; i < AUTH_KEY_LEN; i++)
        proof[i] = ck[i] ^ sig[i];
    ck_assert(scram_hmac(sk, am, strlen(am), c->server_sig));
    ck_assert(scram_b64_encode(proof, AUTH_KEY_LEN, proof_b64, sizeof proof_b64));
    n = snprintf(out, cap, "%s,p=%s", without, proof_b64);
    ck_assert(n > 0 && (size_t)n < cap);
}

/* libpq refuses a server-final that does not prove the server knew the verifier. */
static void client_check_final(const Client *c, const char *server_final)
{
    char want[64] = "v=";
    ck_assert(scram_b64_encode(c->server_sig, AUTH_KEY_LEN, want + 2, sizeof want - 2));
    ck_assert_str_eq(server_final, want);
}

/* A whole exchange for u; returns the final step's result (err says why). */
static ScramResult exchange(const AuthUser *u, const char *gs2, const char *password,
                            const char *ext, char *err)
{
    ScramState st;
    Client c;
    char first[256], sfirst[256], fin[512], out[256];
    ck_assert(scram_init(&st, u));
    client_first(&c, gs2, "fyko+d2lbbFgONRv9qkxdawL", first, sizeof first);
    ck_assert_int_eq(step1(&st, first, sfirst, sizeof sfirst, err), SCRAM_OK);
    client_final(&c, password, sfirst, ext, fin, sizeof fin);
    ScramResult r = step2(&st, fin, out, sizeof out, err);
    if (r == SCRAM_OK) client_check_final(&c, out);
    scram_free(&st);
    return r;
}

START_TEST(test_postgres_verifier)
{
    AuthFile *af = userlist(USERLIST);
    const AuthUser *alice = auth_file_find(af, "alice"), *carol = auth_file_find(af, "carol");
    char err[256];
    ck_assert_int_eq(exchange(alice, "n,,", "wonderland", "", err), SCRAM_OK);
    ck_assert_int_eq(exchange(alice, "y,,", "wonderland", "", err), SCRAM_OK);
    ck_assert_int_eq(exchange(alice, "n,,", "wonderland", ",x=ext", err), SCRAM_OK);
    ck_assert_int_eq(exchange(alice, "n,,", "wonderlanD", "", err), SCRAM_FAILED);
    ck_assert_str_eq(err, "client proof does not match");
    ck_assert_int_eq(exchange(carol, "n,,", "secret", "", err), SCRAM_OK);
    ck_assert_int_eq(exchange(carol, "n,,", "secret ", "", err), SCRAM_FAILED);
    /* An md5 secret cannot run SCRAM; an empty plain one never logs in. */
    ScramState st;
    ck_assert(!scram_init(&st, auth_file_find(af, "bob")));
    scram_free(&st);
    AuthFile *empty = userlist("\"e\" \"\"\n");
    ck_assert(!scram_init(&st, auth_file_find(empty, "e")));
    scram_free(&st);
    ck_assert(!scram_init(&st, NULL));
    scram_free(&st);
    auth_file_free(empty);
    auth_file_free(af);
}
END_TEST

typedef struct MsgCase {
    const char *msg;
    ScramResult want;
    const char *err; /* expected in err, or NULL */
} MsgCase;

#define RFC_NONCE RFC_CNONCE RFC_SNONCE
#define RFC_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static const MsgCase final_cases[] = {
    {RFC_CLIENT_FINAL, SCRAM_OK, NULL},
    {"c=biws,r=" RFC_NONCE ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SCRAM_FAILED,
     "client proof does not match"},
    /* An extension the client did not sign. */
    {"c=biws,r=" RFC_NONCE ",x=y,p=" RFC_PROOF, SCRAM_FAILED, "client proof does not match"},
    {"c=biws,r=" RFC_CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,p=" RFC_PROOF, SCRAM_MALFORMED,
     "nonce does not match"},
    {"c=biws,r=" RFC_CNONCE ",p=" RFC_PROOF, SCRAM_MALFORMED, "nonce does not match"},
    {"c=biws,r=" RFC_NONCE "x,p=" RFC_PROOF, SCRAM_MALFORMED, "nonce does not match"},
    {"c=eSws,r=" RFC_NONCE ",p=" RFC_PROOF, SCRAM_MALFORMED, "unexpected channel-binding"},
    {"c=biws=,r=" RFC_NONCE ",p=" RFC_PROOF, SCRAM_MALFORMED, "unexpected channel-binding"},
    {"r=" RFC_NONCE ",p=" RFC_PROOF, SCRAM_MALFORMED, "expected attribute \"c\""},
    {"c=biws,p=" RFC_PROOF, SCRAM_MALFORMED, "expected attribute \"r\""},
    {"c=biws,r=" RFC_NONCE ",p=dHzb!apWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", SCRAM_MALFORMED,
     "malformed proof"},
    {"c=biws,r=" RFC_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ", SCRAM_MALFORMED,
     "malformed proof"},
    {"c=biws,r=" RFC_NONCE ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", SCRAM_MALFORMED,
     "malformed proof"}, /* 31 bytes */
    {"c=biws,r=" RFC_NONCE ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SCRAM_MALFORMED,
     "malformed proof"}, /* 33 bytes */
    {"c=biws,r=" RFC_NONCE ",p=", SCRAM_MALFORMED, "malformed proof"},
    {"c=biws,r=" RFC_NONCE, SCRAM_MALFORMED, "expected attribute \"p\""},
    {"c=biws,r=" RFC_NONCE ",", SCRAM_MALFORMED, "expected attribute \"p\""},
    {"c=biws,r=" RFC_NONCE ",pp", SCRAM_MALFORMED, "expected attribute \"p\""},
    {RFC_CLIENT_FINAL ",x=y", SCRAM_MALFORMED, "garbage at end"},
    {RFC_CLIENT_FINAL ",", SCRAM_MALFORMED, "garbage at end"},
    {"", SCRAM_MALFORMED, "empty"},
};

/* A state that has sent RFC 7677's server-first. */
static void rfc_state(ScramState *st, const AuthFile *af)
{
    char out[256], err[256];
    ck_assert(scram_init(st, auth_file_find(af, "user")));
    ck_assert(scram_test_override(st, RFC_SNONCE, NULL, 0));
    ck_assert_int_eq(step1(st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_OK);
}

START_TEST(test_client_final)
{
    const MsgCase *c = &final_cases[_i];
    AuthFile *af = userlist(USERLIST);
    ScramState st;
    char out[256], err[256];
    rfc_state(&st, af);
    ScramResult r = step2(&st, c->msg, out, sizeof out, err);
    ck_assert_msg(r == c->want, "'%s': result %d, want %d (%s)", c->msg, r, c->want, err);
    if (c->err) ck_assert_msg(strstr(err, c->err) != NULL, "'%s' lacks '%s'", err, c->err);
    ck_assert_int_eq(st.step, r == SCRAM_OK ? SCRAM_ST_DONE : SCRAM_ST_ERROR);
    scram_free(&st);
    auth_file_free(af);
}
END_TEST

/* Every truncation of a good client-final, and a NUL inside one, fails without a crash. */
START_TEST(test_final_truncated)
{
    AuthFile *af = userlist(USERLIST);
    const char *good = RFC_CLIENT_FINAL;
    char err[256];
    for (size_t n = 0; n < strlen(good); n++) {
        ScramState st;
        const char *out;
        size_t olen;
        rfc_state(&st, af);
        ScramResult r = scram_step_final(&st, (const uint8_t *)good, n, &out, &olen, err, 256);
        ck_assert_msg(r == SCRAM_MALFORMED, "prefix of %zu bytes: %d (%s)", n, r, err);
        scram_free(&st);
    }
    char withnul[256];
    strcpy(withnul, good);
    withnul[10] = '\0';
    ScramState st;
    const char *out;
    size_t olen;
    rfc_state(&st, af);
    ck_assert_int_eq(
        scram_step_final(&st, (const uint8_t *)withnul, strlen(good), &out, &olen, err, sizeof err),
        SCRAM_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
    scram_free(&st);
    auth_file_free(af);
}
END_TEST

static const MsgCase first_cases[] = {
    {"n,,n=,r=abc", SCRAM_OK, NULL},
    {"y,,n=,r=abc", SCRAM_OK, NULL},
    {"n,,n=whoever,r=abc", SCRAM_OK, NULL}, /* the name is ignored, as in Postgres */
    {"n,,n=,r=abc,x=ext,y=", SCRAM_OK, NULL},
    {"p=tls-server-end-point,,n=,r=abc", SCRAM_MALFORMED,
     "the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message "
     "includes channel binding data"},
    {"p,,n=,r=abc", SCRAM_MALFORMED, "channel binding"},
    {"n,a=admin,n=,r=abc", SCRAM_UNSUPPORTED, "authorization identity"},
    {"n,,m=ext,n=,r=abc", SCRAM_UNSUPPORTED, "unsupported SCRAM extension"},
    {"x,,n=,r=abc", SCRAM_MALFORMED, "bad gs2 header"},
    {"nn,,n=,r=abc", SCRAM_MALFORMED, "comma expected"},
    {"n,n=,r=abc", SCRAM_MALFORMED, "bad gs2 header"},
    {"n,,r=abc", SCRAM_MALFORMED, "expected attribute \"n\""},
    {"n,,n=", SCRAM_MALFORMED, "expected attribute \"n\""},
    {"n,,n=,", SCRAM_MALFORMED, "expected attribute \"r\""},
    {"n,,n=,x=abc", SCRAM_MALFORMED, "expected attribute \"r\""},
    {"n,,n=,r=", SCRAM_MALFORMED, "nonce is empty or not printable"},
    {"n,,n=,r=,x=y", SCRAM_MALFORMED, "nonce is empty or not printable"},
    {"n,,n=,r=ab c", SCRAM_MALFORMED, "not printable"},
    {"n,,n=,r=ab\x7f", SCRAM_MALFORMED, "not printable"},
    {"n,,n=,r=ab\xc3\xa9", SCRAM_MALFORMED, "not printable"},
    {"n,,n=,r=abc,xx", SCRAM_MALFORMED, "bad attribute"},
    {"n,,n=,r=abc,", SCRAM_MALFORMED, "bad attribute"},
    {"n", SCRAM_MALFORMED, "comma expected"},
    {"n,", SCRAM_MALFORMED, "bad gs2 header"},
    {"", SCRAM_MALFORMED, "empty"},
};

START_TEST(test_client_first)
{
    const MsgCase *c = &first_cases[_i];
    AuthFile *af = userlist(USERLIST);
    ScramState st;
    char out[256], err[256];
    ck_assert(scram_init(&st, auth_file_find(af, "alice")));
    ScramResult r = step1(&st, c->msg, out, sizeof out, err);
    ck_assert_msg(r == c->want, "'%s': result %d, want %d (%s)", c->msg, r, c->want, err);
    if (c->err) ck_assert_msg(strstr(err, c->err) != NULL, "'%s' lacks '%s'", err, c->err);
    if (r == SCRAM_OK) ck_assert_int_eq(strncmp(out, "r=abc", 5), 0);
    scram_free(&st);
    auth_file_free(af);
}
END_TEST

START_TEST(test_first_truncated)
{
    AuthFile *af = userlist(USERLIST);
    const char *good = RFC_CLIENT_FIRST;
    char err[256];
    for (size_t n = 0; n <= strlen(good); n++) {
        ScramState st;
        const char *out;
        size_t olen;
        ck_assert(scram_init(&st, auth_file_find(af, "user")));
        ScramResult r = scram_step_first(&st, (const uint8_t *)good, n, &out, &olen, err, 256);
        /* "n,,n=user,r=" is 12 bytes; from one nonce character on it is a valid message. */
        ck_assert_msg(r == (n > 12 ? SCRAM_OK : SCRAM_MALFORMED), "%zu bytes: %d", n, r);
        scram_free(&st);
    }
    auth_file_free(af);
}
END_TEST

START_TEST(test_sequence)
{
    AuthFile *af = userlist(USERLIST);
    ScramState st;
    char out[256], err[256];
    ck_assert(scram_init(&st, auth_file_find(af, "user")));
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_MALFORMED);
    ck_assert_str_eq(err, "SCRAM exchange out of sequence");
    ck_assert_int_eq(step1(&st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_MALFORMED);
    scram_free(&st);

    rfc_state(&st, af);
    ck_assert(!scram_test_override(&st, "x", NULL, 0)); /* too late */
    ck_assert_int_eq(step1(&st, RFC_CLIENT_FIRST, out, sizeof out, err), SCRAM_MALFORMED);
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_MALFORMED);
    scram_free(&st);

    rfc_state(&st, af);
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_OK);
    ck_assert_int_eq(step2(&st, RFC_CLIENT_FINAL, out, sizeof out, err), SCRAM_MALFORMED);
    scram_free(&st);

    ck_assert(scram_init(&st, auth_file_find(af, "user")));
    ck_assert(!scram_test_override(&st, "a,b", NULL, 0));
    ck_assert(!scram_test_override(&st, "", NULL, 0));
    static const uint8_t salt[4] = {1, 2, 3, 4};
    ck_assert(!scram_test_override(&st, NULL, salt, sizeof salt)); /* not a plain secret */
    scram_free(&st);
    auth_file_free(af);
}
END_TEST

/* Random and bit-flipped messages: never a crash, never a success. */
START_TEST(test_fuzz)
{
    AuthFile *af = userlist(USERLIST);
    unsigned seed = 12345;
    char err[256];
    for (int i = 0; i < 3000; i++) {
        uint8_t buf[160];
        size_t len = (size_t)rand_r(&seed) % sizeof buf;
        const char *base = i % 2 ? RFC_CLIENT_FINAL : RFC_CLIENT_FIRST;
        size_t blen = strlen(base);
        if (i % 3 == 0) { /* random bytes */
            for (size_t j = 0; j < len; j++)
                buf[j] = (uint8_t)rand_r(&seed);
        } else { /* the good message with one byte changed */
            memcpy(buf, base, blen);
            size_t at = (size_t)rand_r(&seed) % blen;
            buf[at] ^= (uint8_t)(1 + rand_r(&seed) % 255);
            len = blen;
            /* The proof's last base64 digit carries two padding bits: some changes keep it. */
            if (i % 2 && at == blen - 2) continue;
        }
        ScramState st;
        const char *out;
        size_t olen;
        if (i % 2 == 0) {
            ck_assert(scram_init(&st, auth_file_find(af, "user")));
            ck_assert(scram_test_override(&st, RFC_SNONCE, NULL, 0));
            scram_step_first(&st, buf, len, &out, &olen, err, sizeof err);
        } else {
            rfc_state(&st, af);
            ck_assert_int_ne(scram_step_final(&st, buf, len, &out, &olen, err, sizeof err),
                             SCRAM_OK);
        }
        scram_free(&st);
    }
    auth_file_free(af);
}
END_TEST

/* An unknown user: the same messages as a real one (stable salt, same shape), and at the end
 * the same result as a wrong password. */
START_TEST(test_mock_exchange)
{
    AuthFile *af = userlist(USERLIST);
    AuthMockKey key;
    AuthMockUser m1, m2;
    ck_assert(auth_mock_key_init(&key));
    const AuthUser *mock = auth_mock_user(&key, "mallory", AUTH_SECRET_SCRAM, &m1);
    ScramState a, b, real;
    char out_a[256], out_b[256], out_r[256], err[256];
    ck_assert(scram_init(&a, mock));
    ck_assert(scram_init(&b, auth_mock_user(&key, "mallory", AUTH_SECRET_SCRAM, &m2)));
    ck_assert(scram_init(&real, auth_file_find(af, "alice")));
    ck_assert_int_eq(step1(&a, RFC_CLIENT_FIRST, out_a, sizeof out_a, err), SCRAM_OK);
    ck_assert_int_eq(step1(&b, RFC_CLIENT_FIRST, out_b, sizeof out_b, err), SCRAM_OK);
    ck_assert_int_eq(step1(&real, RFC_CLIENT_FIRST, out_r, sizeof out_r, err), SCRAM_OK);
    ck_assert_int_eq(strlen(out_a), strlen(out_r));
    ck_assert_str_eq(strstr(out_a, ",s="), strstr(out_b, ",s=")); /* same salt each time */
    ck_assert_int_eq(strlen(strstr(out_a, ",s=")), strlen(strstr(out_r, ",s=")));
    scram_free(&a);
    scram_free(&b);
    scram_free(&real);

    char err_mock[256], err_wrong[256];
    ck_assert_int_eq(exchange(mock, "n,,", "anything", "", err_mock), SCRAM_FAILED);
    ck_assert_int_eq(exchange(auth_file_find(af, "alice"), "n,,", "anything", "", err_wrong),
                     SCRAM_FAILED);
    ck_assert_str_eq(err_mock, "no such user (mock authentication)"); /* for the log only */
    ck_assert_str_eq(err_wrong, "client proof does not match");
    /* Malformed input is still caught first, as for a real user. */
    ck_assert(scram_init(&a, mock));
    ck_assert_int_eq(step1(&a, "p=x,,n=,r=abc", out_a, sizeof out_a, err), SCRAM_MALFORMED);
    scram_free(&a);
    auth_file_free(af);
}
END_TEST

/* ---- libpq logging in through a one-connection server thread ---- */

typedef enum { FAKE_PLAIN, FAKE_MD5, FAKE_SCRAM } FakeMethod;

typedef struct Fake {
    int lfd, port;
    FakeMethod method;
    const AuthFile *af;
    AuthMockKey key;
    pthread_t th;
    char detail[256]; /* why the server refused, for the log */
} Fake;

static bool fake_write(int fd, WireBuf *b)
{
    bool ok = !b->oom && write(fd, b->data, b->len) == (ssize_t)b->len;
    b->len = 0;
    return ok;
}

static bool fake_read_n(int fd, uint8_t *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return false;
        got += (size_t)r;
    }
    return true;
}

/* One frontend message of the given type; its body (NUL-terminated) in buf. */
static bool fake_read_msg(int fd, uint8_t want, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t hdr[5];
    if (!fake_read_n(fd, hdr, 5) || hdr[0] != want) return false;
    uint32_t n = wire_be32(hdr + 1);
    if (wire_check_frontend(hdr[0], n, PQ_LARGE_MSG_MAX) != WIRE_OK || n - 4 >= cap) return false;
    *len = n - 4;
    buf[*len] = '\0';
    return fake_read_n(fd, buf, *len);
}

static bool fake_password(Fake *f, int fd, WireBuf *b, const char **pw, uint8_t *buf, size_t cap)
{
    size_t len;
    (void)f;
    return fake_write(fd, b) && fake_read_msg(fd, PqMsg_PasswordMessage, buf, cap, &len) &&
           auth_parse_password(buf, len, pw);
}

static bool fake_scram(Fake *f, int fd, WireBuf *b, const AuthUser *u)
{
    uint8_t buf[2048];
    size_t len, dlen, olen;
    const char *mech, *out;
    const uint8_t *data;
    ScramState st;
    AuthMockUser mock;
    bool ok = false;
    if (!scram_init(&st, u)) { /* md5 secret under scram-sha-256: fail like a wrong password */
        scram_free(&st);
        if (!scram_init(&st, auth_mock_user(&f->key, u->name, AUTH_SECRET_SCRAM, &mock))) goto done;
    }
    auth_build_sasl_request(b);
    if (!fake_write(fd, b) || !fake_read_msg(fd, PqMsg_PasswordMessage, buf, sizeof buf, &len) ||
        !auth_parse_sasl_initial(buf, len, &mech, &data, &dlen) ||
        strcmp(mech, SCRAM_MECHANISM) != 0 ||
        scram_step_first(&st, data, dlen, &out, &olen, f->detail, sizeof f->detail) != SCRAM_OK)
        goto done;
    auth_build_sasl_continue(b, out, olen);
    if (!fake_write(fd, b) || !fake_read_msg(fd, PqMsg_PasswordMessage, buf, sizeof buf, &len) ||
        scram_step_final(&st, buf, len, &out, &olen, f->detail, sizeof f->detail) != SCRAM_OK)
        goto done;
    auth_build_sasl_final(b, out, olen);
    ok = true;
done:
    scram_free(&st);
    return ok;
}

/* Authenticate `user` as the proxy will: real or mock user, then the method's exchange. */
static bool fake_auth(Fake *f, int fd, WireBuf *b, const char *user)
{
    uint8_t buf[2048], salt[4] = {0x01, 0x02, 0x03, 0x04};
    const char *pw;
    AuthMockUser mock;
    const AuthUser *u = auth_file_find(f->af, user);
    if (!u)
        u = auth_mock_user(&f->key, user, auth_file_mock_kind(f->af, f->method == FAKE_MD5), &mock);
    if (f->method == FAKE_PLAIN) {
        auth_build_cleartext_request(b);
        return fake_password(f, fd, b, &pw, buf, sizeof buf) && auth_plain_check(u, user, pw);
    }
    if (auth_use_md5(u, f->method == FAKE_MD5)) {
        auth_build_md5_request(b, salt);
        return fake_password(f, fd, b, &pw, buf, sizeof buf) && auth_md5_check(u, user, salt, pw);
    }
    return fake_scram(f, fd, b, u);
}

static void *fake_server(void *arg)
{
    Fake *f = arg;
    uint8_t pkt[PQ_STARTUP_MAX];
    WireStartup su;
    const char *state;
    char err[256];
    WireBuf b;
    wire_buf_init(&b);
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    uint32_t len = 0;
    if (!fake_read_n(fd, pkt, 4) || !(len = wire_startup_len(pkt)) ||
        !fake_read_n(fd, pkt + 4, len - 4) ||
        !wire_parse_startup(pkt, len, &su, &state, err, sizeof err) || su.kind != WIRE_SU_STARTUP)
        goto done;
    if (fake_auth(f, fd, &b, su.user)) {
        wire_build_auth_ok(&b);
        wire_build_backend_key(&b, 42, 4242);
        wire_build_ready(&b, 'I');
    } else {
        char msg[256];
        auth_fail_message(msg, sizeof msg, su.user);
        wire_build_error(&b, "FATAL", SQLSTATE_INVALID_PASSWORD, msg);
    }
    if (fake_write(fd, &b)) (void)!read(fd, pkt, 1); /* until Terminate or close */
done:
    wire_buf_free(&b);
    close(fd);
    return NULL;
}

static void fake_start(Fake *f, FakeMethod method, const AuthFile *af)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    memset(f, 0, sizeof *f);
    f->method = method;
    f->af = af;
    ck_assert(auth_mock_key_init(&f->key));
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->lfd, 0);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(f->lfd, 1), 0);
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    ck_assert_int_eq(pthread_create(&f->th, NULL, fake_server, f), 0);
}

/* Connect with libpq; NULL on success, else libpq's error message (caller frees). The server's
 * reason for refusing goes to detail. */
static char *libpq_login(FakeMethod method, const AuthFile *af, const char *user,
                         const char *password, char detail[256])
{
    Fake f;
    char conninfo[512];
    fake_start(&f, method, af);
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user='%s' password='%s' dbname=x sslmode=disable "
             "gssencmode=disable connect_timeout=10",
             f.port, user, password);
    PGconn *conn = PQconnectdb(conninfo);
    char *err = PQstatus(conn) == CONNECTION_OK ? NULL : strdup(PQerrorMessage(conn));
    PQfinish(conn);
    pthread_join(f.th, NULL);
    close(f.lfd);
    memcpy(detail, f.detail, sizeof f.detail);
    return err;
}

static void login_ok(FakeMethod method, const AuthFile *af, const char *user, const char *pw)
{
    char detail[256];
    char *err = libpq_login(method, af, user, pw, detail);
    ck_assert_msg(err == NULL, "method %d, user %s: %s", method, user, err);
}

/* Fails with exactly Postgres's message for a wrong password, the server having refused for
 * `why` (unless NULL); returns the message (caller frees). */
static char *login_fails(FakeMethod method, const AuthFile *af, const char *user, const char *pw,
                         const char *why)
{
    char detail[256], want[256];
    char *err = libpq_login(method, af, user, pw, detail);
    ck_assert_msg(err != NULL, "method %d, user %s: logged in", method, user);
    snprintf(want, sizeof want, "FATAL:  password authentication failed for user \"%s\"\n", user);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
    if (why) ck_assert_str_eq(detail, why);
    return err;
}

START_TEST(test_libpq_scram)
{
    AuthFile *af = userlist(USERLIST);
    login_ok(FAKE_SCRAM, af, "alice", "wonderland"); /* libpq checks our server signature */
    login_ok(FAKE_SCRAM, af, "carol", "secret");     /* plain secret: derived verifier */
    login_ok(FAKE_SCRAM, af, "user", "pencil");
    free(login_fails(FAKE_SCRAM, af, "alice", "wonderlan", "client proof does not match"));
    /* md5 secret: no SCRAM possible, so a mock exchange that fails at the end. */
    free(login_fails(FAKE_SCRAM, af, "bob", "builder", "no such user (mock authentication)"));
    auth_file_free(af);
}
END_TEST

START_TEST(test_libpq_md5_and_plain)
{
    AuthFile *af = userlist(USERLIST);
    login_ok(FAKE_MD5, af, "bob", "builder");
    login_ok(FAKE_MD5, af, "carol", "secret");
    login_ok(FAKE_MD5, af, "alice", "wonderland"); /* SCRAM secret: SCRAM, as Postgres does */
    free(login_fails(FAKE_MD5, af, "bob", "builde", NULL));
    login_ok(FAKE_PLAIN, af, "alice", "wonderland");
    login_ok(FAKE_PLAIN, af, "bob", "builder");
    login_ok(FAKE_PLAIN, af, "carol", "secret");
    free(login_fails(FAKE_PLAIN, af, "carol", "Secret", NULL));
    auth_file_free(af);
}
END_TEST

/* An unknown user and a wrong password give the client identical errors (and the same exchange:
 * a mock user gets the method most users get). */
START_TEST(test_libpq_unknown_user)
{
    AuthFile *with = userlist(USERLIST);
    AuthFile *without = userlist("\"alice\" \"wonderland\"\n\"bob\" \"builder\"\n");
    static const FakeMethod methods[] = {FAKE_SCRAM, FAKE_MD5, FAKE_PLAIN};
    for (size_t i = 0; i < 3; i++) {
        bool scram = methods[i] == FAKE_SCRAM;
        char *wrong = login_fails(methods[i], with, "carol", "nope",
                                  scram ? "client proof does not match" : NULL);
        char *unknown = login_fails(methods[i], without, "carol", "nope",
                                    scram ? "no such user (mock authentication)" : NULL);
        ck_assert_str_eq(strstr(wrong, "FATAL"), strstr(unknown, "FATAL")); /* ports differ */
        free(wrong);
        free(unknown);
    }
    auth_file_free(with);
    auth_file_free(without);
}
END_TEST

static Suite *scram_suite(void)
{
    Suite *s = suite_create("scram");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc7677_verifier);
    tcase_add_test(tc, test_rfc7677_plain);
    tcase_add_test(tc, test_b64);
    tcase_add_test(tc, test_postgres_verifier);
    tcase_add_loop_test(tc, test_client_final, 0,
                        (int)(sizeof final_cases / sizeof final_cases[0]));
    tcase_add_test(tc, test_final_truncated);
    tcase_add_loop_test(tc, test_client_first, 0,
                        (int)(sizeof first_cases / sizeof first_cases[0]));
    tcase_add_test(tc, test_first_truncated);
    tcase_add_test(tc, test_sequence);
    tcase_add_test(tc, test_fuzz);
    tcase_add_test(tc, test_mock_exchange);
    tcase_add_test(tc, test_libpq_scram);
    tcase_add_test(tc, test_libpq_md5_and_plain);
    tcase_add_test(tc, test_libpq_unknown_user);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scram_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
