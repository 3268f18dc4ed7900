/* scram.c - server side of SCRAM-SHA-256 on OpenSSL (see scram.h).
 *
 * Client messages are copied once into a NUL-terminated buffer after checking they hold no NUL
 * byte and are not over SCRAM_MAX_MSG, so the attribute scanner below is bounded by that
 * terminator. Messages to the client echo only what the client sent or what we made. */
#include "scram.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_MAX_MSG 16384 /* bytes; libpq's messages are ~100 bytes, Postgres caps at 10000 */
#define MALFORMED     "malformed SCRAM message"

/* ---- Primitives ---- */

bool scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len,
                           int iterations, uint8_t out[AUTH_KEY_LEN])
{
    size_t pwlen = strlen(password);
    if (iterations < 1 || pwlen > INT_MAX || salt_len > INT_MAX) return false;
    return PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len, iterations, EVP_sha256(),
                             AUTH_KEY_LEN, out) == 1;
}

bool scram_hmac(const uint8_t key[AUTH_KEY_LEN], const void *msg, size_t len,
                uint8_t out[AUTH_KEY_LEN])
{
    unsigned int outlen = 0;
    return HMAC(EVP_sha256(), key, AUTH_KEY_LEN, msg, len, out, &outlen) != NULL &&
           outlen == AUTH_KEY_LEN;
}

bool scram_sha256(const void *msg, size_t len, uint8_t out[AUTH_KEY_LEN])
{
    unsigned int outlen = 0;
    return EVP_Digest(msg, len, out, &outlen, EVP_sha256(), NULL) == 1 && outlen == AUTH_KEY_LEN;
}

bool scram_derive_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                       uint8_t stored_key[AUTH_KEY_LEN], uint8_t server_key[AUTH_KEY_LEN])
{
    uint8_t salted[AUTH_KEY_LEN], client_key[AUTH_KEY_LEN];
    bool ok = scram_salted_password(password, salt, salt_len, iterations, salted) &&
              scram_hmac(salted, "Client Key", 10, client_key) &&
              scram_hmac(salted, "Server Key", 10, server_key) &&
              scram_sha256(client_key, AUTH_KEY_LEN, stored_key);
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return ok;
}

bool scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t outcap)
{
    if (len > INT_MAX / 2 || outcap < SCRAM_B64_LEN(len) + 1) return false;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return true;
}

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t pad = 0;
    if (len % 4 != 0) return false;
    if (len > 0 && in[len - 1] == '=') pad = in[len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_char(in[i])) return false;
    size_t n = len / 4 * 3 - pad;
    if (n > outcap) return false;
    /* A quartet at a time: EVP_DecodeBlock counts '=' as zero bytes, which we drop. */
    for (size_t i = 0, o = 0; i < len; i += 4) {
        unsigned char q[3];
        if (EVP_DecodeBlock(q, (const unsigned char *)in + i, 4) != 3) return false;
        size_t take = n - o < 3 ? n - o : 3;
        memcpy(out + o, q, take);
        o += take;
    }
    *outlen = n;
    return true;
}

/* ---- Exchange ---- */

static ScramResult scram_error(ScramState *st, ScramResult r, char *err, size_t errlen,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static ScramResult scram_error(ScramState *st, ScramResult r, char *err, size_t errlen,
                               const char *fmt, ...)
{
    st->step = SCRAM_ST_ERROR;
    if (errlen == 0) return r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return r;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E (no ','), at least one. */
static bool scram_printable(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7E || c == ',') return false;
    }
    return true;
}

bool scram_init(ScramState *st, const AuthUser *u)
{
    memset(st, 0, sizeof *st);
    st->step = SCRAM_ST_ERROR;
    if (!u) return false;
    st->mock = u->mock;
    switch (u->kind) {
    case AUTH_SECRET_SCRAM:
        st->iterations = u->u.scram.iterations;
        st->salt = u->u.scram.salt;
        st->salt_len = u->u.scram.salt_len;
        memcpy(st->stored_key, u->u.scram.stored_key, AUTH_KEY_LEN);
        memcpy(st->server_key, u->u.scram.server_key, AUTH_KEY_LEN);
        break;
    case AUTH_SECRET_PLAIN:
        /* As Postgres 10 did for plain-text passwords: a fresh verifier per exchange. */
        if (!u->u.plain || !u->u.plain[0]) return false; /* never logs in */
        st->plain = u->u.plain;
        st->iterations = SCRAM_ITERATIONS;
        st->salt = st->salt_buf;
        st->salt_len = SCRAM_SALT_LEN;
        if (RAND_bytes(st->salt_buf, SCRAM_SALT_LEN) != 1) return false;
        if (!scram_derive_keys(st->plain, st->salt, st->salt_len, st->iterations, st->stored_key,
                               st->server_key))
            return false;
        break;
    case AUTH_SECRET_MD5: return false; /* md5(password || user) cannot give SCRAM keys */
    default: abort();
    }
    st->step = SCRAM_ST_FIRST;
    return true;
}

bool scram_test_override(ScramState *st, const char *server_nonce, const uint8_t *salt,
                         size_t salt_len)
{
    if (st->step != SCRAM_ST_FIRST) return false;
    if (server_nonce) {
        size_t n = strlen(server_nonce);
        if (n >= sizeof st->server_nonce || !scram_printable(server_nonce, n)) return false;
        memcpy(st->server_nonce, server_nonce, n + 1);
    }
    if (!salt) return true;
    if (!st->plain || salt_len == 0 || salt_len > SCRAM_SALT_LEN) return false;
    memcpy(st->salt_buf, salt, salt_len);
    st->salt_len = salt_len;
    return scram_derive_keys(st->plain, st->salt, st->salt_len, st->iterations, st->stored_key,
                             st->server_key);
}

/* A NUL-terminated copy of a client message, or NULL: *oom tells a failed allocation from a
 * message that is empty, too long or holds a NUL byte. */
static char *scram_copy(const uint8_t *msg, size_t len, bool *oom)
{
    *oom = false;
    if (!msg || len == 0 || len > SCRAM_MAX_MSG || memchr(msg, '\0', len)) return NULL;
    char *s = malloc(len + 1);
    if (!s) {
        *oom = true;
        return NULL;
    }
    memcpy(s, msg, len);
    s[len] = '\0';
    return s;
}

/* Read "<attr>=<value>" at *pp, where attr is `want` (or any letter when want is 0); the value
 * runs to the next ',' or the end. Leaves *pp on that ',' or NUL. */
static bool scram_attr(const char **pp, char want, char *got, const char **val, size_t *vlen)
{
    const char *p = *pp;
    char a = p[0];
    if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')) || (want && a != want)) return false;
    if (p[1] != '=') return false;
    p += 2;
    *vlen = strcspn(p, ",");
    *val = p;
    if (got) *got = a;
    *pp = p + *vlen;
    return true;
}

/* gs2-header of client-first-message: "n,," or "y,,"; leaves *pp at client-first-message-bare. */
static ScramResult scram_parse_gs2(ScramState *st, const char **pp, char *err, size_t errlen)
{
    const char *p = *pp;
    switch (*p) {
    case 'n':
    case 'y': break; /* 'y': client could bind, thinks we cannot: true, we offer no -PLUS */
    case 'p':
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": the client selected SCRAM-SHA-256 without channel "
                                     "binding, but the SCRAM message includes channel binding "
                                     "data");
    default: return scram_error(st, SCRAM_MALFORMED, err, errlen, MALFORMED ": bad gs2 header");
    }
    char flag = *p++;
    if (*p != ',')
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": comma expected after the channel-binding flag");
    p++;
    if (*p == 'a')
        return scram_error(st, SCRAM_UNSUPPORTED, err, errlen,
                           "client uses authorization identity, but it is not supported");
    if (*p != ',')
        return scram_error(st, SCRAM_MALFORMED, err, errlen, MALFORMED ": bad gs2 header");
    st->gs2_header[0] = flag;
    st->gs2_header[1] = ',';
    st->gs2_header[2] = ',';
    st->gs2_header[3] = '\0';
    *pp = p + 1;
    return SCRAM_OK;
}

/* client-first-message = gs2-header "n=" user ",r=" nonce ["," extensions]. */
static ScramResult scram_parse_first(ScramState *st, char *err, size_t errlen)
{
    const char *p = st->first, *val;
    size_t vlen;
    ScramResult r = scram_parse_gs2(st, &p, err, errlen);
    if (r != SCRAM_OK) return r;
    st->first_bare = p;
    if (*p == 'm')
        return scram_error(st, SCRAM_UNSUPPORTED, err, errlen,
                           "client requires an unsupported SCRAM extension");
    /* The user name is ignored, as in Postgres: the startup packet's is the one that counts. */
    if (!scram_attr(&p, 'n', NULL, &val, &vlen) || *p != ',')
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": expected attribute \"n\" in client-first-message");
    p++;
    if (!scram_attr(&p, 'r', NULL, &st->cnonce, &st->cnonce_len))
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": expected attribute \"r\" in client-first-message");
    if (!scram_printable(st->cnonce, st->cnonce_len))
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": the client nonce is empty or not printable");
    while (*p == ',') { /* optional extensions: none supported, so skipped */
        p++;
        if (!scram_attr(&p, 0, NULL, &val, &vlen))
            return scram_error(st, SCRAM_MALFORMED, err, errlen,
                               MALFORMED ": bad attribute in client-first-message");
    }
    return SCRAM_OK;
}

static void scram_put(char **w, const char *s, size_t n)
{
    memcpy(*w, s, n);
    *w += n;
}

/* server-first-message = "r=" client-nonce server-nonce ",s=" salt ",i=" iterations. */
static ScramResult scram_build_first(ScramState *st)
{
    if (st->server_nonce[0] == '\0') {
        uint8_t raw[SCRAM_NONCE_RAW_LEN];
        if (RAND_bytes(raw, sizeof raw) != 1) return SCRAM_INTERNAL;
        if (!scram_b64_encode(raw, sizeof raw, st->server_nonce, sizeof st->server_nonce))
            return SCRAM_INTERNAL;
    }
    char iter[16];
    int itlen = snprintf(iter, sizeof iter, "%d", st->iterations);
    size_t snlen = strlen(st->server_nonce), saltlen = SCRAM_B64_LEN(st->salt_len);
    size_t cap = 2 + st->cnonce_len + snlen + 3 + saltlen + 3 + (size_t)itlen + 1;
    char *buf = malloc(cap), *w = buf;
    if (!buf) return SCRAM_INTERNAL;
    scram_put(&w, "r=", 2);
    scram_put(&w, st->cnonce, st->cnonce_len);
    scram_put(&w, st->server_nonce, snlen);
    scram_put(&w, ",s=", 3);
    if (!scram_b64_encode(st->salt, st->salt_len, w, saltlen + 1)) {
        free(buf);
        return SCRAM_INTERNAL;
    }
    w += saltlen;
    scram_put(&w, ",i=", 3);
    scram_put(&w, iter, (size_t)itlen);
    *w = '\0';
    st->server_first = buf;
    st->server_first_len = (size_t)(w - buf);
    return SCRAM_OK;
}

ScramResult scram_step_first(ScramState *st, const uint8_t *msg, size_t len, const char **out,
                             size_t *outlen, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    if (st->step != SCRAM_ST_FIRST)
        return scram_error(st, SCRAM_MALFORMED, err, errlen, "SCRAM exchange out of sequence");
    bool oom;
    st->first = scram_copy(msg, len, &oom);
    if (!st->first)
        return oom ? scram_error(st, SCRAM_INTERNAL, err, errlen, "out of memory")
                   : scram_error(st, SCRAM_MALFORMED, err, errlen,
                                 MALFORMED ": client-first-message is empty, too long or holds "
                                           "a NUL byte");
    ScramResult r = scram_parse_first(st, err, errlen);
    if (r != SCRAM_OK) return r;
    if (scram_build_first(st) != SCRAM_OK)
        return scram_error(st, SCRAM_INTERNAL, err, errlen, "out of memory or RNG failure");
    st->step = SCRAM_ST_FINAL;
    *out = st->server_first;
    *outlen = st->server_first_len;
    return SCRAM_OK;
}

/* client-final-message = "c=" b64(gs2-header) ",r=" nonce ["," extensions] ",p=" proof.
 * Returns the proof and the length of client-final-message-without-proof. */
static ScramResult scram_parse_final(ScramState *st, const char *fin, uint8_t proof[AUTH_KEY_LEN],
                                     size_t *without_proof, char *err, size_t errlen)
{
    const char *p = fin, *val, *attr_start;
    size_t vlen, snlen = strlen(st->server_nonce), plen;
    char cbind[8], attr;
    if (!scram_attr(&p, 'c', NULL, &val, &vlen) || *p != ',')
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": expected attribute \"c\" in client-final-message");
    if (!scram_b64_encode((const uint8_t *)st->gs2_header, 3, cbind, sizeof cbind) || vlen != 4 ||
        memcmp(val, cbind, 4) != 0)
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": unexpected channel-binding attribute in "
                                     "client-final-message");
    p++;
    if (!scram_attr(&p, 'r', NULL, &val, &vlen))
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": expected attribute \"r\" in client-final-message");
    if (vlen != st->cnonce_len + snlen || memcmp(val, st->cnonce, st->cnonce_len) != 0 ||
        memcmp(val + st->cnonce_len, st->server_nonce, snlen) != 0)
        return scram_error(st, SCRAM_MALFORMED, err, errlen, MALFORMED ": nonce does not match");
    do {
        attr_start = p;
        bool comma = *p == ',';
        if (comma) p++;
        if (!comma || !scram_attr(&p, 0, &attr, &val, &vlen))
            return scram_error(st, SCRAM_MALFORMED, err, errlen,
                               MALFORMED ": expected attribute \"p\" in client-final-message");
    } while (attr != 'p');
    if (*p != '\0')
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": garbage at end of client-final-message");
    if (!scram_b64_decode(val, vlen, proof, AUTH_KEY_LEN, &plen) || plen != AUTH_KEY_LEN)
        return scram_error(st, SCRAM_MALFORMED, err, errlen,
                           MALFORMED ": malformed proof in client-final-message");
    *without_proof = (size_t)(attr_start - fin);
    return SCRAM_OK;
}

/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); it must hash to StoredKey. On success,
 * server-final-message = "v=" b64(HMAC(ServerKey, AuthMessage)). */
static ScramResult scram_verify(ScramState *st, const char *fin, size_t without_proof,
                                const uint8_t proof[AUTH_KEY_LEN], char *err, size_t errlen)
{
    size_t bare = strlen(st->first_bare);
    size_t len = bare + 1 + st->server_first_len + 1 + without_proof;
    char *am = malloc(len), *w = am;
    if (!am) return scram_error(st, SCRAM_INTERNAL, err, errlen, "out of memory");
    scram_put(&w, st->first_bare, bare);
    scram_put(&w, ",", 1);
    scram_put(&w, st->server_first, st->server_first_len);
    scram_put(&w, ",", 1);
    scram_put(&w, fin, without_proof);
    uint8_t sig[AUTH_KEY_LEN], key[AUTH_KEY_LEN], hashed[AUTH_KEY_LEN], server_sig[AUTH_KEY_LEN];
    bool ok = scram_hmac(st->stored_key, am, len, sig);
    for (size_t i = 0; i < AUTH_KEY_LEN; i++)
        key[i] = proof[i] ^ sig[i];
    ok = ok && scram_sha256(key, AUTH_KEY_LEN, hashed) &&
         scram_hmac(st->server_key, am, len, server_sig);
    free(am);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) return scram_error(st, SCRAM_INTERNAL, err, errlen, "HMAC failed");
    bool match = CRYPTO_memcmp(hashed, st->stored_key, AUTH_KEY_LEN) == 0;
    if (st->mock || !match)
        return scram_error(st, SCRAM_FAILED, err, errlen, "%s",
                           st->mock ? "no such user (mock authentication)"
                                    : "client proof does not match");
    memcpy(st->server_final, "v=", 2);
    if (!scram_b64_encode(server_sig, AUTH_KEY_LEN, st->server_final + 2,
                          sizeof st->server_final - 2))
        return scram_error(st, SCRAM_INTERNAL, err, errlen, "base64 failed");
    return SCRAM_OK;
}

ScramResult scram_step_final(ScramState *st, const uint8_t *msg, size_t len, const char **out,
                             size_t *outlen, char *err, size_t errlen)
{
    if (errlen) err[0] = '\0';
    if (st->step != SCRAM_ST_FINAL)
        return scram_error(st, SCRAM_MALFORMED, err, errlen, "SCRAM exchange out of sequence");
    bool oom;
    char *fin = scram_copy(msg, len, &oom);
    if (!fin)
        return oom ? scram_error(st, SCRAM_INTERNAL, err, errlen, "out of memory")
                   : scram_error(st, SCRAM_MALFORMED, err, errlen,
                                 MALFORMED ": client-final-message is empty, too long or holds "
                                           "a NUL byte");
    uint8_t proof[AUTH_KEY_LEN];
    size_t without_proof = 0;
    ScramResult r = scram_parse_final(st, fin, proof, &without_proof, err, errlen);
    if (r == SCRAM_OK) r = scram_verify(st, fin, without_proof, proof, err, errlen);
    free(fin);
    if (r != SCRAM_OK) return r;
    st->step = SCRAM_ST_DONE;
    *out = st->server_final;
    *outlen = strlen(st->server_final);
    return SCRAM_OK;
}

void scram_free(ScramState *st)
{
    free(st->first);
    free(st->server_first);
    OPENSSL_cleanse(st, sizeof *st);
    st->step = SCRAM_ST_ERROR;
}
