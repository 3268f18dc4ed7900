/* auth.c - the auth file (PgBouncer's userlist.txt), password checks, mock users and the
 * Authentication message codec (see auth.h).
 *
 * Secrets are wiped (OPENSSL_cleanse) from every buffer that held them once it is done with, and
 * are compared in constant time: hashes of equal length, never the raw strings. */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pqmsg.h"
#include "scram.h"

#define AUTH_MAX_FILE (64 << 20) /* bytes; 100k users take ~20 MB */
#define SCRAM_PREFIX  "SCRAM-SHA-256$"

struct AuthFile {
    AuthUser *users; /* sorted by name, unique */
    size_t n, cap;
    size_t n_challenge_md5; /* users whose secret is md5 or plain */
};

typedef struct AuthParse {
    AuthFile *af;
    const char *name; /* file name for messages */
    int line;
    char *err;
    size_t errlen;
} AuthParse;

static void auth_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void auth_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "FILE:LINE: " + message. Returns false so parsers can `return auth_fail(...)`. */
static bool auth_fail(AuthParse *ap, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool auth_fail(AuthParse *ap, const char *fmt, ...)
{
    if (ap->errlen == 0) return false;
    int n = snprintf(ap->err, ap->errlen, "%s:%d: ", ap->name, ap->line);
    if (n >= 0 && (size_t)n < ap->errlen) {
        va_list va;
        va_start(va, fmt);
        vsnprintf(ap->err + n, ap->errlen - (size_t)n, fmt, va);
        va_end(va);
    }
    return false;
}

static void auth_user_wipe(AuthUser *u)
{
    if (u->kind == AUTH_SECRET_PLAIN && u->u.plain) {
        OPENSSL_cleanse((char *)u->u.plain, strlen(u->u.plain));
        free((char *)u->u.plain);
    } else if (u->kind == AUTH_SECRET_SCRAM) {
        free((uint8_t *)u->u.scram.salt);
    }
    free((char *)u->name);
    OPENSSL_cleanse(u, sizeof *u);
}

void auth_file_free(AuthFile *af)
{
    if (!af) return;
    for (size_t i = 0; i < af->n; i++)
        auth_user_wipe(&af->users[i]);
    free(af->users);
    free(af);
}

/* ---- Secrets ---- */

/* "md5" + 32 lowercase hex digits, as Postgres recognises an md5 secret. */
static bool auth_is_md5(const char *s, size_t n)
{
    return n == AUTH_MD5_LEN && memcmp(s, "md5", 3) == 0 &&
           strspn(s + 3, "0123456789abcdef") == AUTH_MD5_LEN - 3;
}

/* A decimal iteration count in [1, INT_MAX] spanning [s, end). */
static bool auth_parse_iter(const char *s, const char *end, int *out)
{
    long long v = 0;
    if (s == end || end - s > 10) return false;
    for (const char *c = s; c < end; c++) {
        if (*c < '0' || *c > '9') return false;
        v = v * 10 + (*c - '0');
    }
    if (v < 1 || v > INT_MAX) return false;
    *out = (int)v;
    return true;
}

/* SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. Returns a reason or NULL; on success
 * sc->salt is allocated. */
static const char *auth_parse_scram(const char *s, AuthScram *sc)
{
    const char *p = s + strlen(SCRAM_PREFIX), *colon = strchr(p, ':');
    const char *dollar = colon ? strchr(colon, '$') : NULL;
    const char *colon2 = dollar ? strchr(dollar, ':') : NULL;
    size_t n;
    if (!colon2) return "expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>";
    if (!auth_parse_iter(p, colon, &sc->iterations)) return "bad iteration count";
    const char *salt = colon + 1, *stored = dollar + 1, *server = colon2 + 1;
    size_t salt_b64 = (size_t)(dollar - salt), cap = salt_b64 / 4 * 3;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return "out of memory";
    if (!scram_b64_decode(salt, salt_b64, buf, cap, &n) || n == 0) {
        free(buf);
        return "bad salt";
    }
    sc->salt = buf;
    sc->salt_len = n;
    if (!scram_b64_decode(stored, (size_t)(colon2 - stored), sc->stored_key, AUTH_KEY_LEN, &n) ||
        n != AUTH_KEY_LEN)
        return "bad StoredKey";
    if (!scram_b64_decode(server, strlen(server), sc->server_key, AUTH_KEY_LEN, &n) ||
        n != AUTH_KEY_LEN)
        return "bad ServerKey";
    return NULL;
}

/* Classify `secret` and store it in u (which owns what it allocates, even on failure). */
static bool auth_set_secret(AuthParse *ap, AuthUser *u, const char *secret, size_t len)
{
    if (strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0) {
        /* Postgres would take a broken verifier for a password; a typo should not log in. */
        u->kind = AUTH_SECRET_SCRAM;
        const char *why = auth_parse_scram(secret, &u->u.scram);
        if (why)
            return auth_fail(ap, "user \"%s\": malformed SCRAM-SHA-256 secret (%s)", u->name, why);
        return true;
    }
    if (auth_is_md5(secret, len)) {
        u->kind = AUTH_SECRET_MD5;
        memcpy(u->u.md5, secret, AUTH_MD5_LEN + 1);
    } else {
        u->kind = AUTH_SECRET_PLAIN;
        if (!(u->u.plain = strdup(secret))) return auth_fail(ap, "out of memory");
    }
    return true;
}

/* ---- Parsing ---- */

/* A double-quoted field at *pp (on its opening quote) that must close before `end`; "" stands
 * for one quote. Returns 1 with the text in out, 0 if unterminated, -1 if over cap - 1 bytes. */
static int auth_read_quoted(const char **pp, const char *end, char *out, size_t cap, size_t *outlen)
{
    const char *p = *pp + 1;
    size_t n = 0;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return 0;
        size_t chunk = (size_t)(q - p);
        bool doubled = q + 1 < end && q[1] == '"';
        if (n + chunk + doubled >= cap) return -1;
        memcpy(out + n, p, chunk);
        n += chunk;
        if (!doubled) {
            out[n] = '\0';
            *outlen = n;
            *pp = q + 1;
            return 1;
        }
        out[n++] = '"';
        p = q + 2;
    }
}

static const char *auth_skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v'))
        p++;
    return p;
}

static bool auth_add_user(AuthParse *ap, const char *name, const char *secret, size_t slen)
{
    AuthFile *af = ap->af;
    if (af->n == af->cap) {
        size_t cap = af->cap ? af->cap * 2 : 64;
        AuthUser *users = realloc(af->users, cap * sizeof *users);
        if (!users) return auth_fail(ap, "out of memory");
        af->users = users;
        af->cap = cap;
    }
    AuthUser *u = &af->users[af->n];
    memset(u, 0, sizeof *u);
    u->line = ap->line;
    if (!(u->name = strdup(name))) return auth_fail(ap, "out of memory");
    af->n++; /* counted now so that auth_file_free releases a half-built entry */
    return auth_set_secret(ap, u, secret, slen);
}

/* One line, [p, end) without its '\n': "user" "secret" [ignored...], a comment or blanks. */
static bool auth_parse_line(AuthParse *ap, const char *p, const char *end)
{
    char name[AUTH_MAX_USER + 1], secret[AUTH_MAX_SECRET + 1];
    size_t nlen, slen;
    p = auth_skip_blanks(p, end);
    if (p == end || *p == ';' || *p == '#') return true;
    if (*p != '"') return auth_fail(ap, "expected a double-quoted user name");
    int r = auth_read_quoted(&p, end, name, sizeof name, &nlen);
    if (r == 0) return auth_fail(ap, "unterminated user name");
    if (r < 0) return auth_fail(ap, "user name longer than %d bytes", AUTH_MAX_USER);
    if (nlen == 0) return auth_fail(ap, "empty user name");
    p = auth_skip_blanks(p, end);
    /* Not naming the user: with the secret missing, the "name" may be a mistyped line. */
    if (p == end || *p != '"')
        return auth_fail(ap, "expected a double-quoted secret after the user name");
    r = auth_read_quoted(&p, end, secret, sizeof secret, &slen);
    bool ok;
    if (r == 0)
        ok = auth_fail(ap, "user \"%s\": unterminated secret", name);
    else if (r < 0)
        ok = auth_fail(ap, "user \"%s\": secret longer than %d bytes", name, AUTH_MAX_SECRET);
    else
        ok = auth_add_user(ap, name, secret, slen);
    OPENSSL_cleanse(secret, sizeof secret);
    return ok; /* anything after the secret is ignored, as PgBouncer does */
}

static int auth_user_cmp(const void *a, const void *b)
{
    const AuthUser *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Sort by name and keep the last entry of a name defined twice (PgBouncer's rule). */
static void auth_finish(AuthFile *af)
{
    size_t w = 0;
    if (af->n > 1) qsort(af->users, af->n, sizeof *af->users, auth_user_cmp);
    for (size_t i = 0; i < af->n; i++) {
        AuthUser *u = &af->users[i];
        if (i + 1 < af->n && strcmp(u->name, af->users[i + 1].name) == 0) {
            auth_user_wipe(u);
            continue;
        }
        if (u->kind != AUTH_SECRET_SCRAM) af->n_challenge_md5++;
        if (w != i) {
            af->users[w] = *u;
            OPENSSL_cleanse(u, sizeof *u);
        }
        w++;
    }
    af->n = w;
}

AuthFile *auth_file_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    AuthFile *af = calloc(1, sizeof *af);
    if (!af) {
        auth_err(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    AuthParse ap = {.af = af, .name = name, .err = err, .errlen = errlen};
    const char *p = text, *end = text + len;
    bool ok = true;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p += 3;
    while (ok && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
        ap.line++;
        if (memchr(p, '\0', (size_t)(eol - p)))
            ok = auth_fail(&ap, "NUL byte in file");
        else
            ok = auth_parse_line(&ap, p, eol);
        p = nl ? nl + 1 : end;
    }
    if (!ok) {
        auth_file_free(af);
        return NULL;
    }
    auth_finish(af);
    return af;
}

/* Grow a buffer that may hold secrets: copy, then wipe the old one (realloc would leave it). */
static char *auth_grow(char *buf, size_t len, size_t cap)
{
    char *nb = malloc(cap);
    if (nb) memcpy(nb, buf, len);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return nb;
}

/* The file's bytes (caller wipes and frees), or NULL with err set. */
static char *auth_read(const char *path, size_t *lenp, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        auth_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len < cap) continue;
        if (cap >= AUTH_MAX_FILE) {
            auth_err(err, errlen, "%s: larger than %d bytes", path, AUTH_MAX_FILE);
            goto fail;
        }
        buf = auth_grow(buf, len, cap *= 2);
    }
    if (!buf) {
        auth_err(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (ferror(f)) {
        auth_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    *lenp = len;
    return buf;
fail:
    if (buf) OPENSSL_cleanse(buf, len);
    free(buf);
    fclose(f);
    return NULL;
}

AuthFile *auth_file_load(const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    if (errlen) err[0] = '\0';
    char *text = auth_read(path, &len, err, errlen);
    if (!text) return NULL;
    AuthFile *af = auth_file_parse(text, len, path, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    return af;
}

static int auth_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const AuthUser *)elem)->name);
}

const AuthUser *auth_file_find(const AuthFile *af, const char *user)
{
    if (!af || !user || af->n == 0) return NULL;
    return bsearch(user, af->users, af->n, sizeof *af->users, auth_key_cmp);
}

size_t auth_file_count(const AuthFile *af)
{
    return af ? af->n : 0;
}

AuthSecretKind auth_file_mock_kind(const AuthFile *af, bool md5_allowed)
{
    bool md5 = md5_allowed && af && af->n_challenge_md5 * 2 > af->n;
    return md5 ? AUTH_SECRET_MD5 : AUTH_SECRET_SCRAM;
}

bool auth_use_md5(const AuthUser *u, bool md5_allowed)
{
    return md5_allowed && u && (u->kind == AUTH_SECRET_MD5 || u->kind == AUTH_SECRET_PLAIN);
}

/* ---- Checks ---- */

static void auth_hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* hex(md5(a || b)) into out (33 bytes). */
static bool auth_md5_hex(const void *a, size_t alen, const void *b, size_t blen, char *out)
{
    uint8_t d[16];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, a, alen) == 1 && EVP_DigestUpdate(ctx, b, blen) == 1 &&
              EVP_DigestFinal_ex(ctx, d, &dlen) == 1 && dlen == sizeof d;
    EVP_MD_CTX_free(ctx);
    if (ok) auth_hex(d, sizeof d, out);
    return ok;
}

/* A plain secret that can log in: Postgres refuses empty passwords. */
static bool auth_plain_usable(const AuthUser *u)
{
    return u->kind == AUTH_SECRET_PLAIN && u->u.plain && u->u.plain[0];
}

bool auth_md5_check(const AuthUser *u, const char *user, const uint8_t salt[4],
                    const char *client_response)
{
    char inner[33], want[AUTH_MD5_LEN + 1] = "md5";
    if (!u || !user || !client_response) return false;
    if (u->kind == AUTH_SECRET_MD5)
        memcpy(inner, u->u.md5 + 3, sizeof inner);
    else if (!auth_plain_usable(u) ||
             !auth_md5_hex(u->u.plain, strlen(u->u.plain), user, strlen(user), inner))
        return false;
    bool ok = auth_md5_hex(inner, 32, salt, 4, want + 3) &&
              strlen(client_response) == AUTH_MD5_LEN &&
              CRYPTO_memcmp(want, client_response, AUTH_MD5_LEN) == 0;
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(want, sizeof want);
    return ok && !u->mock;
}

static bool auth_plain_vs_scram(const AuthScram *sc, const char *password)
{
    uint8_t stored[AUTH_KEY_LEN], server[AUTH_KEY_LEN];
    bool ok = scram_derive_keys(password, sc->salt, sc->salt_len, sc->iterations, stored, server);
    ok = ok && (CRYPTO_memcmp(stored, sc->stored_key, AUTH_KEY_LEN) |
                CRYPTO_memcmp(server, sc->server_key, AUTH_KEY_LEN)) == 0;
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(server, sizeof server);
    return ok;
}

bool auth_plain_check(const AuthUser *u, const char *user, const char *password)
{
    uint8_t a[AUTH_KEY_LEN], b[AUTH_KEY_LEN];
    char md5[AUTH_MD5_LEN + 1] = "md5";
    bool ok = false;
    if (!u || !user || !password || !password[0]) return false;
    switch (u->kind) {
    case AUTH_SECRET_PLAIN:
        /* Hashes, so the compare takes the same time whatever the lengths. */
        ok = auth_plain_usable(u) && scram_sha256(password, strlen(password), a) &&
             scram_sha256(u->u.plain, strlen(u->u.plain), b) &&
             CRYPTO_memcmp(a, b, AUTH_KEY_LEN) == 0;
        break;
    case AUTH_SECRET_MD5:
        ok = auth_md5_hex(password, strlen(password), user, strlen(user), md5 + 3) &&
             CRYPTO_memcmp(md5, u->u.md5, AUTH_MD5_LEN) == 0;
        break;
    case AUTH_SECRET_SCRAM: ok = auth_plain_vs_scram(&u->u.scram, password); break;
    default: abort();
    }
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    OPENSSL_cleanse(md5, sizeof md5);
    return ok && !u->mock;
}

/* ---- Mock users ---- */

bool auth_mock_key_init(AuthMockKey *k)
{
    return RAND_bytes(k->key, sizeof k->key) == 1;
}

/* HMAC(HMAC(key, tag), name): one value per purpose and name. Zeros if HMAC fails: the user is
 * a mock and fails anyway. */
static void auth_mock_derive(const AuthMockKey *k, const char *tag, const char *name,
                             uint8_t out[AUTH_KEY_LEN])
{
    uint8_t sub[AUTH_KEY_LEN];
    if (!scram_hmac(k->key, tag, strlen(tag), sub) || !scram_hmac(sub, name, strlen(name), out))
        memset(out, 0, AUTH_KEY_LEN);
    OPENSSL_cleanse(sub, sizeof sub);
}

const AuthUser *auth_mock_user(const AuthMockKey *k, const char *name, AuthSecretKind kind,
                               AuthMockUser *m)
{
    uint8_t h[AUTH_KEY_LEN];
    memset(m, 0, sizeof *m);
    AuthUser *u = &m->user;
    u->name = name;
    u->mock = true;
    if (kind == AUTH_SECRET_MD5) {
        u->kind = AUTH_SECRET_MD5;
        auth_mock_derive(k, "md5", name, h);
        memcpy(u->u.md5, "md5", 3);
        auth_hex(h, 16, u->u.md5 + 3);
        return u;
    }
    u->kind = AUTH_SECRET_SCRAM;
    auth_mock_derive(k, "salt", name, h);
    memcpy(m->salt, h, sizeof m->salt);
    u->u.scram.salt = m->salt;
    u->u.scram.salt_len = sizeof m->salt;
    u->u.scram.iterations = SCRAM_ITERATIONS;
    auth_mock_derive(k, "stored", name, u->u.scram.stored_key);
    auth_mock_derive(k, "server", name, u->u.scram.server_key);
    return u;
}

void auth_fail_message(char *buf, size_t len, const char *user)
{
    if (len) snprintf(buf, len, "password authentication failed for user \"%s\"", user ? user : "");
}

/* ---- Messages ---- */

static void auth_build_request(WireBuf *b, int32_t code, const void *data, size_t len)
{
    wire_msg_begin(b, PqMsg_Authentication);
    wire_put_i32(b, code);
    if (len) wire_put_bytes(b, data, len);
    wire_msg_end(b);
}

void auth_build_cleartext_request(WireBuf *b)
{
    auth_build_request(b, AUTH_REQ_CLEARTEXT, NULL, 0);
}

void auth_build_md5_request(WireBuf *b, const uint8_t salt[4])
{
    auth_build_request(b, AUTH_REQ_MD5, salt, 4);
}

void auth_build_sasl_request(WireBuf *b)
{
    /* The mechanism list: each name NUL-terminated, then an empty name. */
    auth_build_request(b, AUTH_REQ_SASL, SCRAM_MECHANISM "\0", sizeof SCRAM_MECHANISM + 1);
}

void auth_build_sasl_continue(WireBuf *b, const char *data, size_t len)
{
    auth_build_request(b, AUTH_REQ_SASL_CONTINUE, data, len);
}

void auth_build_sasl_final(WireBuf *b, const char *data, size_t len)
{
    auth_build_request(b, AUTH_REQ_SASL_FINAL, data, len);
}

bool auth_parse_password(const uint8_t *body, size_t len, const char **password)
{
    WireReader r;
    wire_reader_init(&r, body, len);
    return wire_get_string(&r, password) && wire_at_end(&r);
}

bool auth_parse_sasl_initial(const uint8_t *body, size_t len, const char **mechanism,
                             const uint8_t **data, size_t *datalen)
{
    WireReader r;
    int32_t n;
    wire_reader_init(&r, body, len);
    if (!wire_get_string(&r, mechanism) || !wire_get_i32(&r, &n)) return false;
    if (n == -1) {
        *data = NULL;
        *datalen = 0;
        return wire_at_end(&r);
    }
    if (n < 0 || !wire_get_bytes(&r, (size_t)n, data)) return false;
    *datalen = (size_t)n;
    return wire_at_end(&r);
}
