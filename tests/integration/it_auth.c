/* it_auth.c - client authentication through pgpin, for one auth_type (driven by auth.sh).
 *
 * Users come from the environment (auth.sh creates them in Postgres and copies the secrets it
 * reads from pg_authid into the auth_file):
 *   IT_AUTH_TYPE          trust, plain, md5 or scram-sha-256 (pgpin's auth_type)
 *   IT_AUTH_SCRAM_USER/PW a user whose secret is SCRAM-SHA-256 (IT_AUTH_SCRAM_SALT: its salt)
 *   IT_AUTH_MD5_USER/PW   a user whose secret is md5
 *   IT_AUTH_PLAIN_USER/PW a user whose secret is the password in clear text
 *   IT_AUTH_UNKNOWN_USER  a name the auth_file does not have (nor Postgres), and
 *   IT_AUTH_UNKNOWN_PW    the password it tries
 *   IT_AUTH_WRONG_PW      a password nobody has
 * Each login is tried with libpq and with a client written here on a raw socket (cleartext, md5
 * and SCRAM-SHA-256 on OpenSSL primitives, not on pgpin's code), which sees the request types,
 * the SCRAM salt and the exact ErrorResponse fields. */
#include "itlib.h"

#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DB      "appdb"
#define WAIT_MS 10000

#define AUTH_OK            0
#define AUTH_CLEARTEXT     3
#define AUTH_MD5           5
#define AUTH_SASL          10
#define AUTH_SASL_CONTINUE 11
#define AUTH_SASL_FINAL    12

typedef enum { M_TRUST, M_PLAIN, M_MD5, M_SCRAM } Mode;
typedef enum { K_SCRAM, K_MD5, K_PLAIN, K_UNKNOWN } Kind;

typedef struct User {
    Kind kind;
    const char *name;
    const char *pw; /* the right password (unknown user: some password) */
} User;

static Mode g_mode;
static User g_users[4];
static const char *g_wrong_pw, *g_scram_salt;

static const char *env_req(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "it_auth: environment variable %s is not set\n", name);
        exit(2);
    }
    return v;
}

static const char *kind_name(Kind k)
{
    static const char *n[] = {"scram-secret", "md5-secret", "plain-secret", "unknown"};
    return n[k];
}

/* Whether the right password logs this user in under the current auth_type. */
static bool expect_ok(const User *u)
{
    if (g_mode == M_TRUST) return u->kind != K_UNKNOWN; /* Postgres has no such role */
    if (u->kind == K_UNKNOWN) return false;
    /* md5(password || user) gives no SCRAM keys: Postgres fails these users too. */
    return !(g_mode == M_SCRAM && u->kind == K_MD5);
}

/* ---- a raw-socket client ---- */

static void send_msg(int fd, char type, const void *body, size_t len)
{
    unsigned char *m = malloc(len + 5);
    ck_assert_ptr_nonnull(m);
    m[0] = (unsigned char)type;
    it_put32(m + 1, (uint32_t)(len + 4));
    if (len) memcpy(m + 5, body, len);
    ck_assert_msg(it_raw_send(fd, m, len + 5), "send '%c' failed", type);
    free(m);
}

static void b64_encode(const unsigned char *in, size_t len, char *out, size_t cap)
{
    ck_assert_uint_ge(cap, (len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* Strict enough for the salts we get; returns the decoded length or -1. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4 || len / 4 * 3 > cap) return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
    if (n < 0) return -1;
    if (len >= 1 && in[len - 1] == '=') n--;
    if (len >= 2 && in[len - 2] == '=') n--;
    return n;
}

static void hmac256(const unsigned char *key, size_t klen, const void *msg, size_t len,
                    unsigned char out[32])
{
    unsigned int n = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)klen, msg, len, out, &n));
    ck_assert_uint_eq(n, 32);
}

typedef enum { INJECT_NONE, INJECT_FIRST, INJECT_SECOND } Inject;

typedef struct Login {
    int first_code;     /* first Authentication request code, -1 if an error came first */
    bool ok;            /* ReadyForQuery reached */
    char sqlstate[6];   /* of the ErrorResponse, else "" */
    char norm_err[600]; /* the ErrorResponse's fields, the user name replaced by <USER> */
    bool closed;        /* the connection was closed after the ErrorResponse */
    char salt[64];      /* SCRAM: s= and i= of server-first-message */
    int iterations;
    char why[300];
} Login;

/* "C=..|M=..|" over every field, with each occurrence of user replaced. */
static void normalize_error(const ItMsg *m, const char *user, char *out, size_t cap)
{
    size_t n = 0, ul = strlen(user);
    out[0] = 0;
    for (size_t i = 0; i < m->len && m->body[i] && n + 8 < cap;) {
        char code = (char)m->body[i++];
        const char *v = (const char *)m->body + i;
        n += (size_t)snprintf(out + n, cap - n, "%c=", code);
        for (const char *s = v; *s && n + 8 < cap;) {
            if (ul && strncmp(s, user, ul) == 0) {
                n += (size_t)snprintf(out + n, cap - n, "<USER>");
                s += ul;
            } else {
                out[n++] = *s++;
            }
        }
        if (n + 2 < cap) out[n++] = '|';
        out[n] = 0;
        i += strlen(v) + 1;
    }
}

/* After an ErrorResponse the server closes: wait (bounded) for EOF. */
static bool wait_eof(int fd)
{
    char buf[512];
    double deadline = it_now() + WAIT_MS / 1000.0;
    for (int i = 0; i < 1000; i++) {
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0 || it_wait_readable(fd, left) <= 0) return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

/* Read one message; an ErrorResponse ends the login (recorded in lg). Returns true for a
 * message other than 'E' (in m, caller frees). */
static bool next_msg(int fd, Login *lg, const char *user, ItMsg *m)
{
    ItRawResult r = it_raw_read(fd, m, WAIT_MS);
    if (r != IT_RAW_MSG) {
        snprintf(lg->why, sizeof lg->why, "read result %d", (int)r);
        it_msg_free(m);
        return false;
    }
    if (m->type == 'E') {
        const char *c = it_msg_field(m, 'C'), *msg = it_msg_field(m, 'M');
        snprintf(lg->sqlstate, sizeof lg->sqlstate, "%s", c ? c : "?");
        normalize_error(m, user, lg->norm_err, sizeof lg->norm_err);
        snprintf(lg->why, sizeof lg->why, "ErrorResponse %s: %s", c ? c : "?", msg ? msg : "?");
        it_msg_free(m);
        lg->closed = wait_eof(fd);
        return false;
    }
    return true;
}

/* A frontend message that is not a password message where one is due. */
static void inject_query(int fd, Login *lg, const char *user)
{
    const char q[] = "SELECT 1";
    ItMsg m;
    send_msg(fd, 'Q', q, sizeof q);
    if (next_msg(fd, lg, user, &m)) {
        snprintf(lg->why, sizeof lg->why, "answered the Query with '%c'", m.type);
        it_msg_free(&m);
    }
}

static bool auth_code(const ItMsg *m, int *code)
{
    if (m->type != 'R' || m->len < 4) return false;
    *code = (int)wire_be32(m->body);
    return true;
}

/* SCRAM-SHA-256 (RFC 5802/7677) client: the SASL request was just read. */
static void scram_login(int fd, Login *lg, const char *user, const char *pw, Inject inject,
                        const ItMsg *req)
{
    ItMsg m;
    int code;
    char cnonce[32], first_bare[64], final_wo[256], proof_b64[64], msg[1024];
    unsigned char raw[18];
    const char mech[] = "SCRAM-SHA-256";
    /* The mechanism list must offer SCRAM-SHA-256 (and, without channel binding, nothing
     * else that we would have to pick). */
    ck_assert_msg(req->len > 4 && strcmp((const char *)req->body + 4, mech) == 0,
                  "SASL request does not offer %s first", mech);
    ck_assert_int_eq(RAND_bytes(raw, sizeof raw), 1);
    b64_encode(raw, sizeof raw, cnonce, sizeof cnonce);
    snprintf(first_bare, sizeof first_bare, "n=,r=%s", cnonce);
    /* SASLInitialResponse: mechanism, int32 length, client-first-message ("n,," + bare). */
    size_t dl = 3 + strlen(first_bare), n = 0;
    unsigned char body[256];
    memcpy(body, mech, sizeof mech);
    n += sizeof mech;
    it_put32(body + n, (uint32_t)dl);
    n += 4;
    memcpy(body + n, "n,,", 3);
    memcpy(body + n + 3, first_bare, dl - 3);
    n += dl;
    send_msg(fd, 'p', body, n);

    if (!next_msg(fd, lg, user, &m)) return;
    if (!auth_code(&m, &code) || code != AUTH_SASL_CONTINUE) {
        snprintf(lg->why, sizeof lg->why, "expected SASLContinue, got '%c'", m.type);
        it_msg_free(&m);
        return;
    }
    char server_first[512];
    snprintf(server_first, sizeof server_first, "%.*s", (int)(m.len - 4), m.body + 4);
    it_msg_free(&m);
    /* r=<cnonce><snonce>,s=<salt>,i=<iterations> */
    char *r = strstr(server_first, "r="), *s = strstr(server_first, ",s="),
         *i = strstr(server_first, ",i=");
    ck_assert_msg(r == server_first && s && i && i > s, "bad server-first-message '%s'",
                  server_first);
    ck_assert_msg(strncmp(r + 2, cnonce, strlen(cnonce)) == 0 && s - r - 2 > (long)strlen(cnonce),
                  "server nonce does not extend ours: '%s'", server_first);
    snprintf(lg->salt, sizeof lg->salt, "%.*s", (int)(i - s - 3), s + 3);
    lg->iterations = atoi(i + 3);
    if (inject == INJECT_SECOND) {
        inject_query(fd, lg, user);
        return;
    }

    unsigned char salt[64], salted[32], ckey[32], skey[32], stored[32], csig[32], proof[32],
        ssig[32];
    int sl = b64_decode(lg->salt, strlen(lg->salt), salt, sizeof salt);
    ck_assert_msg(sl > 0 && lg->iterations > 0, "bad salt/iterations in '%s'", server_first);
    ck_assert_int_eq(
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sl, lg->iterations, EVP_sha256(), 32, salted),
        1);
    hmac256(salted, 32, "Client Key", 10, ckey);
    SHA256(ckey, 32, stored);
    snprintf(final_wo, sizeof final_wo, "c=biws,r=%.*s", (int)(s - r - 2), r + 2);
    snprintf(msg, sizeof msg, "%s,%s,%s", first_bare, server_first, final_wo);
    hmac256(stored, 32, msg, strlen(msg), csig);
    for (int k = 0; k < 32; k++)
        proof[k] = ckey[k] ^ csig[k];
    b64_encode(proof, 32, proof_b64, sizeof proof_b64);
    char final[400];
    int fl = snprintf(final, sizeof final, "%s,p=%s", final_wo, proof_b64);
    send_msg(fd, 'p', final, (size_t)fl);

    if (!next_msg(fd, lg, user, &m)) return;
    if (!auth_code(&m, &code) || code != AUTH_SASL_FINAL) {
        snprintf(lg->why, sizeof lg->why, "expected SASLFinal, got '%c'", m.type);
        it_msg_free(&m);
        return;
    }
    /* The server proves it knows the secret too. */
    char want[80], ssig_b64[64];
    hmac256(salted, 32, "Server Key", 10, skey);
    hmac256(skey, 32, msg, strlen(msg), ssig);
    b64_encode(ssig, 32, ssig_b64, sizeof ssig_b64);
    snprintf(want, sizeof want, "v=%s", ssig_b64);
    bool sig_ok = m.len - 4 == strlen(want) && memcmp(m.body + 4, want, strlen(want)) == 0;
    it_msg_free(&m);
    ck_assert_msg(sig_ok, "%s: server signature does not verify", user);
}

/* Log in as user with pw on a raw socket (pw NULL: must not be asked for one). */
static void raw_login(const char *user, const char *pw, Inject inject, Login *lg)
{
    unsigned char buf[512];
    const char *kv[] = {"user", user, "database", DB, "application_name", "it_auth", NULL};
    ItMsg m;
    int code;
    memset(lg, 0, sizeof *lg);
    lg->first_code = -1;
    int fd = it_raw_connect(IT_PROXY);
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert_msg(n > 0 && it_raw_send(fd, buf, n), "startup send failed");
    if (!next_msg(fd, lg, user, &m)) goto out;
    if (!auth_code(&m, &code)) {
        snprintf(lg->why, sizeof lg->why, "first message '%c', not Authentication", m.type);
        it_msg_free(&m);
        goto out;
    }
    lg->first_code = code;
    if (code != AUTH_OK && inject == INJECT_FIRST) {
        it_msg_free(&m);
        inject_query(fd, lg, user);
        goto out;
    }
    if (code != AUTH_OK) ck_assert_msg(pw != NULL, "%s: asked for a password (%d)", user, code);
    if (code == AUTH_CLEARTEXT) {
        send_msg(fd, 'p', pw, strlen(pw) + 1);
    } else if (code == AUTH_MD5) {
        /* "md5" + md5(md5(password || user) || salt) */
        char inner[33], cat[64], resp[36] = "md5";
        ck_assert_uint_eq(m.len, 8);
        snprintf(cat, sizeof cat, "%s%s", pw, user);
        it_md5_hex(cat, strlen(cat), inner);
        memcpy(cat, inner, 32);
        memcpy(cat + 32, m.body + 4, 4);
        it_md5_hex(cat, 36, resp + 3);
        send_msg(fd, 'p', resp, strlen(resp) + 1);
    } else if (code == AUTH_SASL) {
        scram_login(fd, lg, user, pw, inject, &m);
        if (lg->sqlstate[0] || lg->why[0]) {
            it_msg_free(&m);
            goto out;
        }
    } else if (code != AUTH_OK) {
        snprintf(lg->why, sizeof lg->why, "unexpected Authentication request %d", code);
        it_msg_free(&m);
        goto out;
    }
    it_msg_free(&m);
    if (code != AUTH_OK) {
        if (!next_msg(fd, lg, user, &m)) goto out;
        bool ok = auth_code(&m, &code) && code == AUTH_OK;
        if (!ok) snprintf(lg->why, sizeof lg->why, "expected AuthenticationOk, got '%c'", m.type);
        it_msg_free(&m);
        if (!ok) goto out;
    }
    lg->ok = it_raw_until_ready(fd, WAIT_MS, lg->why, sizeof lg->why);
    if (lg->ok) send_msg(fd, 'X', NULL, 0);
out:
    close(fd);
}

/* ---- libpq ---- */

static PGconn *pq_login(const char *user, const char *pw)
{
    char extra[512];
    if (pw)
        snprintf(extra, sizeof extra, "user='%s' password='%s' application_name=it_auth", user, pw);
    else
        snprintf(extra, sizeof extra, "user='%s' application_name=it_auth", user);
    return it_connect_raw(IT_PROXY, DB, extra);
}

static char *fail_text(const char *user)
{
    char *s = malloc(200);
    ck_assert_ptr_nonnull(s);
    snprintf(s, 200, "password authentication failed for user \"%s\"", user);
    return s;
}

/* libpq's whole error text with user replaced (messages of different users compared). */
static char *pq_error_norm(PGconn *c, const char *user)
{
    const char *e = PQerrorMessage(c);
    size_t ul = strlen(user), cap = strlen(e) * 2 + 16, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    for (const char *s = e; *s && n + 8 < cap;) {
        if (strncmp(s, user, ul) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "<USER>");
            s += ul;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = 0;
    return out;
}

START_TEST(test_libpq_login)
{
    for (int k = 0; k < 3; k++) {
        const User *u = &g_users[k];
        PGconn *c = pq_login(u->name, g_mode == M_TRUST ? NULL : u->pw);
        bool ok = PQstatus(c) == CONNECTION_OK;
        fprintf(stderr, "it_auth[%s]: libpq %-13s right password -> %s\n", getenv("IT_AUTH_TYPE"),
                kind_name(u->kind), ok ? "logged in" : PQerrorMessage(c));
        if (expect_ok(u)) {
            ck_assert_msg(ok, "%s (%s): %s", u->name, kind_name(u->kind), PQerrorMessage(c));
            char *who = it_value(c, "SELECT current_user");
            ck_assert_str_eq(who, u->name);
            free(who);
            ck_assert_int_eq(it_value_long(c, "SELECT 6 * 7"), 42);
            ck_assert_int_eq(PQconnectionUsedPassword(c), g_mode != M_TRUST);
        } else {
            char *want = fail_text(u->name);
            ck_assert_msg(!ok, "%s (%s) logged in under %s", u->name, kind_name(u->kind),
                          getenv("IT_AUTH_TYPE"));
            ck_assert_msg(strstr(PQerrorMessage(c), want), "%s: '%s'", u->name, PQerrorMessage(c));
            free(want);
        }
        PQfinish(c);
    }
}
END_TEST

/* Password methods: no password at hand means libpq gives up (and says it needs one). */
START_TEST(test_libpq_no_password)
{
    for (int k = 0; k < 3; k++) {
        const User *u = &g_users[k];
        PGconn *c = pq_login(u->name, NULL);
        if (g_mode == M_TRUST) {
            ck_assert_msg(PQstatus(c) == CONNECTION_OK, "trust: %s", PQerrorMessage(c));
            ck_assert_int_eq(PQconnectionUsedPassword(c), 0);
        } else {
            ck_assert_msg(PQstatus(c) != CONNECTION_OK, "%s logged in without a password", u->name);
            ck_assert_msg(PQconnectionNeedsPassword(c), "%s: %s", u->name, PQerrorMessage(c));
        }
        PQfinish(c);
    }
}
END_TEST

/* A wrong password and an unknown user: the same failure, word for word but the name. */
START_TEST(test_libpq_wrong_password)
{
    const User *unk = &g_users[K_UNKNOWN];
    PGconn *cu = pq_login(unk->name, unk->pw);
    ck_assert_msg(PQstatus(cu) != CONNECTION_OK, "unknown user %s logged in", unk->name);
    char *nu = pq_error_norm(cu, unk->name);
    fprintf(stderr, "it_auth[%s]: libpq unknown user -> %s", getenv("IT_AUTH_TYPE"),
            PQerrorMessage(cu));
    for (int k = 0; k < 3; k++) {
        const User *u = &g_users[k];
        PGconn *c = pq_login(u->name, g_wrong_pw);
        if (g_mode == M_TRUST) {
            /* trust asks for nothing, so the password is never sent. */
            ck_assert_msg(PQstatus(c) == CONNECTION_OK, "trust: %s", PQerrorMessage(c));
            ck_assert_int_eq(PQconnectionUsedPassword(c), 0);
            PQfinish(c);
            continue;
        }
        ck_assert_msg(PQstatus(c) != CONNECTION_OK, "%s logged in with a wrong password", u->name);
        char *want = fail_text(u->name), *nk = pq_error_norm(c, u->name);
        ck_assert_msg(strstr(PQerrorMessage(c), want), "%s: '%s'", u->name, PQerrorMessage(c));
        ck_assert_msg(strcmp(nk, nu) == 0,
                      "wrong password (%s) and unknown user differ:\n  '%s'\n  '%s'",
                      kind_name(u->kind), nk, nu);
        free(want);
        free(nk);
        PQfinish(c);
    }
    free(nu);
    PQfinish(cu);
}
END_TEST

/* Which exchange each user gets, as Postgres would choose it. */
START_TEST(test_raw_request_kind)
{
    for (int k = 0; k < 4; k++) {
        const User *u = &g_users[k];
        Login lg;
        raw_login(u->name, u->pw, INJECT_NONE, &lg);
        fprintf(stderr, "it_auth[%s]: raw %-13s first request %d %s\n", getenv("IT_AUTH_TYPE"),
                kind_name(u->kind), lg.first_code, lg.sqlstate);
        int want;
        switch (g_mode) {
        case M_TRUST: want = u->kind == K_UNKNOWN ? -1 : AUTH_OK; break;
        case M_PLAIN: want = AUTH_CLEARTEXT; break;
        case M_SCRAM: want = AUTH_SASL; break;
        case M_MD5:
        default:
            want = u->kind == K_SCRAM ? AUTH_SASL : AUTH_MD5;
            /* Unknown users get whichever exchange most users in the file get. */
            if (u->kind == K_UNKNOWN && (lg.first_code == AUTH_SASL || lg.first_code == AUTH_MD5))
                want = lg.first_code;
            break;
        }
        ck_assert_msg(lg.first_code == want, "%s (%s): first request %d, expected %d (%s)", u->name,
                      kind_name(u->kind), lg.first_code, want, lg.why);
        if (g_mode == M_TRUST && u->kind == K_UNKNOWN)
            ck_assert_msg(strcmp(lg.sqlstate, "28000") == 0, "trust, no such role: %s", lg.why);
    }
}
END_TEST

/* Right passwords on the raw client: logged in, or 28P01 where Postgres refuses too. */
START_TEST(test_raw_login)
{
    for (int k = 0; k < 3; k++) {
        const User *u = &g_users[k];
        Login lg;
        raw_login(u->name, u->pw, INJECT_NONE, &lg);
        if (expect_ok(u)) {
            ck_assert_msg(lg.ok, "%s (%s): %s", u->name, kind_name(u->kind), lg.why);
        } else {
            ck_assert_msg(!lg.ok, "%s (%s) logged in", u->name, kind_name(u->kind));
            ck_assert_msg(strcmp(lg.sqlstate, "28P01") == 0, "%s (%s): %s", u->name,
                          kind_name(u->kind), lg.why);
            ck_assert_msg(lg.closed, "%s: connection not closed after the error", u->name);
        }
    }
}
END_TEST

START_TEST(test_raw_wrong_password)
{
    if (g_mode == M_TRUST) return;
    Login lu;
    const User *unk = &g_users[K_UNKNOWN];
    raw_login(unk->name, unk->pw, INJECT_NONE, &lu);
    ck_assert_msg(!lu.ok && strcmp(lu.sqlstate, "28P01") == 0, "unknown user: %s", lu.why);
    ck_assert_msg(lu.closed, "unknown user: connection not closed after the error");
    fprintf(stderr, "it_auth[%s]: raw unknown user -> %s\n", getenv("IT_AUTH_TYPE"), lu.norm_err);
    for (int k = 0; k < 3; k++) {
        const User *u = &g_users[k];
        Login lg;
        raw_login(u->name, g_wrong_pw, INJECT_NONE, &lg);
        ck_assert_msg(!lg.ok, "%s logged in with a wrong password", u->name);
        ck_assert_msg(strcmp(lg.sqlstate, "28P01") == 0, "%s (%s), wrong password: %s", u->name,
                      kind_name(u->kind), lg.why);
        ck_assert_msg(lg.closed, "%s: connection not closed after the error", u->name);
        ck_assert_msg(strstr(lg.norm_err, "S=FATAL|"), "%s: %s", u->name, lg.norm_err);
        ck_assert_msg(strstr(lg.norm_err, "M=password authentication failed for user "
                                          "\"<USER>\"|"),
                      "%s: %s", u->name, lg.norm_err);
        ck_assert_msg(strcmp(lg.norm_err, lu.norm_err) == 0,
                      "ErrorResponse for a wrong password (%s) differs from the unknown user's:\n"
                      "  %s\n  %s",
                      kind_name(u->kind), lg.norm_err, lu.norm_err);
    }
}
END_TEST

/* Anything but a PasswordMessage where one is due: 08P01 and a close, known user or not. */
START_TEST(test_non_password_message)
{
    if (g_mode == M_TRUST) return;
    for (int k = 0; k < 4; k++) {
        const User *u = &g_users[k];
        for (Inject in = INJECT_FIRST; in <= INJECT_SECOND; in++) {
            Login lg;
            raw_login(u->name, u->pw, in, &lg);
            if (in == INJECT_SECOND && lg.first_code != AUTH_SASL) continue;
            ck_assert_msg(
                strcmp(lg.sqlstate, "08P01") == 0 && lg.closed,
                "%s (%s), Query instead of %s: %s (closed %d)", u->name, kind_name(u->kind),
                in == INJECT_FIRST ? "the first answer" : "SASLResponse", lg.why, lg.closed);
        }
    }
}
END_TEST

/* SCRAM: a real user gets the salt of its secret; an unknown user gets a salt that looks the
 * same and stays the same (as Postgres's mock salts do). */
START_TEST(test_scram_salt)
{
    if (g_mode != M_SCRAM && g_mode != M_MD5) return;
    Login lg, u1, u2;
    raw_login(g_users[K_SCRAM].name, g_wrong_pw, INJECT_NONE, &lg);
    ck_assert_int_eq(lg.first_code, AUTH_SASL);
    ck_assert_msg(strcmp(lg.salt, g_scram_salt) == 0, "salt %s, the secret has %s", lg.salt,
                  g_scram_salt);
    ck_assert_int_eq(lg.iterations, 4096);
    raw_login(g_users[K_UNKNOWN].name, g_wrong_pw, INJECT_NONE, &u1);
    if (u1.first_code != AUTH_SASL) return; /* md5 mode may challenge unknown users with md5 */
    raw_login(g_users[K_UNKNOWN].name, g_wrong_pw, INJECT_NONE, &u2);
    unsigned char tmp[64];
    fprintf(stderr, "it_auth[%s]: unknown user salt %s i=%d; again %s\n", getenv("IT_AUTH_TYPE"),
            u1.salt, u1.iterations, u2.salt);
    ck_assert_int_eq(u1.iterations, lg.iterations);
    ck_assert_int_eq(b64_decode(u1.salt, strlen(u1.salt), tmp, sizeof tmp),
                     b64_decode(lg.salt, strlen(lg.salt), tmp, sizeof tmp));
    ck_assert_str_eq(u1.salt, u2.salt);
}
END_TEST

/* client_login_timeout (IT_AUTH_LOGIN_TIMEOUT seconds) covers the password exchange: a client
 * that never answers the request is told 08P01 and closed. */
START_TEST(test_auth_stall)
{
    const char *lt = getenv("IT_AUTH_LOGIN_TIMEOUT");
    double limit = lt ? atof(lt) : 0;
    if (g_mode == M_TRUST || limit <= 0) return;
    unsigned char buf[256];
    const char *kv[] = {"user", g_users[K_SCRAM].name, "database", DB, NULL};
    ItMsg m;
    int fd = it_raw_connect(IT_PROXY);
    double t0 = it_now();
    size_t n = it_build_startup(buf, sizeof buf, 3u << 16, kv);
    ck_assert(it_raw_send(fd, buf, n));
    ck_assert_int_eq(it_raw_read(fd, &m, WAIT_MS), IT_RAW_MSG);
    ck_assert_int_eq(m.type, 'R');
    it_msg_free(&m);
    char state[6];
    ItOutcome o = it_raw_outcome(fd, (int)(limit * 1000) + 5000, state);
    double dt = it_now() - t0;
    close(fd);
    fprintf(stderr, "it_auth[%s]: no answer to the password request -> %s %s after %.2f s\n",
            getenv("IT_AUTH_TYPE"), it_outcome_name(o), state, dt);
    ck_assert_msg(o == IT_OUT_ERROR && strcmp(state, "08P01") == 0, "%s %s", it_outcome_name(o),
                  state);
    ck_assert_msg(dt > limit - 0.5 && dt < limit + 4, "closed after %.2f s (timeout %.0f s)", dt,
                  limit);
}
END_TEST

int main(void)
{
    const char *mode = env_req("IT_AUTH_TYPE");
    if (strcmp(mode, "trust") == 0)
        g_mode = M_TRUST;
    else if (strcmp(mode, "plain") == 0)
        g_mode = M_PLAIN;
    else if (strcmp(mode, "md5") == 0)
        g_mode = M_MD5;
    else if (strcmp(mode, "scram-sha-256") == 0)
        g_mode = M_SCRAM;
    else {
        fprintf(stderr, "it_auth: bad IT_AUTH_TYPE %s\n", mode);
        return 2;
    }
    g_users[K_SCRAM] = (User){K_SCRAM, env_req("IT_AUTH_SCRAM_USER"), env_req("IT_AUTH_SCRAM_PW")};
    g_users[K_MD5] = (User){K_MD5, env_req("IT_AUTH_MD5_USER"), env_req("IT_AUTH_MD5_PW")};
    g_users[K_PLAIN] = (User){K_PLAIN, env_req("IT_AUTH_PLAIN_USER"), env_req("IT_AUTH_PLAIN_PW")};
    g_users[K_UNKNOWN] =
        (User){K_UNKNOWN, env_req("IT_AUTH_UNKNOWN_USER"), env_req("IT_AUTH_UNKNOWN_PW")};
    g_wrong_pw = env_req("IT_AUTH_WRONG_PW");
    g_scram_salt = env_req("IT_AUTH_SCRAM_SALT");
    /* Only what the tests pass may count. */
    unsetenv("PGPASSWORD");
    setenv("PGPASSFILE", "/nonexistent/pgpass", 1);
    unsetenv("PGUSER");
    unsetenv("PGSSLMODE");

    Suite *s = suite_create("it_auth");
    it_add_case(s, "libpq_login", test_libpq_login, 60);
    it_add_case(s, "libpq_no_password", test_libpq_no_password, 60);
    it_add_case(s, "libpq_wrong_password", test_libpq_wrong_password, 60);
    it_add_case(s, "raw_request_kind", test_raw_request_kind, 60);
    it_add_case(s, "raw_login", test_raw_login, 60);
    it_add_case(s, "raw_wrong_password", test_raw_wrong_password, 60);
    it_add_case(s, "non_password_message", test_non_password_message, 60);
    it_add_case(s, "scram_salt", test_scram_salt, 60);
    it_add_case(s, "auth_stall", test_auth_stall, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
