/* scram.h - server side of SASL SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres runs it, on
 * OpenSSL primitives.
 *
 * As in Postgres: only SCRAM-SHA-256 is offered (no -PLUS, so no channel binding), the user name
 * inside the exchange is ignored (the startup packet's counts), and a failed proof is reported
 * as a wrong password. A mock user (auth_mock_user) runs the same exchange and fails at the end.
 *
 * Flow: scram_init, then scram_step_first(SASLInitialResponse data) -> SASLContinue data, then
 * scram_step_final(SASLResponse data) -> SASLFinal data, then AuthenticationOk; scram_free. */
#ifndef PGPIN_SCRAM_H
#define PGPIN_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

#define SCRAM_MECHANISM     "SCRAM-SHA-256"
#define SCRAM_ITERATIONS    4096 /* for verifiers derived from plain secrets (Postgres's default) */
#define SCRAM_SALT_LEN      16   /* bytes of a derived salt */
#define SCRAM_NONCE_RAW_LEN 18   /* random bytes of the server nonce, base64 on the wire */
#define SCRAM_NONCE_MAX     64   /* chars of a server nonce set by scram_test_override */
#define SCRAM_B64_LEN(n)    (((n) + 2) / 3 * 4) /* chars base64 needs for n bytes, padded */

typedef enum {
    SCRAM_OK = 0,      /* *out holds the next server message */
    SCRAM_MALFORMED,   /* client's fault, protocol violation (08P01); err says why */
    SCRAM_UNSUPPORTED, /* authzid or a mandatory extension asked for (0A000); err says why */
    SCRAM_FAILED,      /* wrong password or mock user: send 28P01 with auth_fail_message() */
    SCRAM_INTERNAL,    /* out of memory or RNG failure (XX000) */
} ScramResult;

typedef enum {
    SCRAM_ST_FIRST = 0, /* waiting for client-first-message */
    SCRAM_ST_FINAL,     /* server-first sent, waiting for client-final-message */
    SCRAM_ST_DONE,      /* proof verified, server-final produced */
    SCRAM_ST_ERROR,     /* a step failed; the exchange is over */
} ScramStep;

typedef struct ScramState {
    ScramStep step;
    bool mock;
    const char *plain; /* plain secret (borrowed from the AuthUser), else NULL */
    int iterations;
    const uint8_t *salt; /* the verifier's salt, or salt_buf */
    size_t salt_len;
    uint8_t salt_buf[SCRAM_SALT_LEN];
    uint8_t stored_key[AUTH_KEY_LEN];
    uint8_t server_key[AUTH_KEY_LEN];
    char server_nonce[SCRAM_NONCE_MAX + 1]; /* "" until made */
    char gs2_header[4];                     /* "n,," or "y,," */
    char *first;            /* copy of client-first-message, NUL-terminated (owned) */
    const char *first_bare; /* client-first-message-bare, inside first */
    const char *cnonce;     /* client nonce inside first (not NUL-terminated) */
    size_t cnonce_len;
    char *server_first; /* owned */
    size_t server_first_len;
    char server_final[2 + SCRAM_B64_LEN(AUTH_KEY_LEN) + 1];
} ScramState;

/* Start an exchange for user u (real or mock, borrowed for the state's life). A plain secret
 * gets a verifier derived on the spot (random salt, SCRAM_ITERATIONS). Returns false when SCRAM
 * cannot run for u -- an md5 secret (md5(password || user) gives no SCRAM keys) or an empty plain
 * secret -- or when the RNG or PBKDF2 failed. The caller then runs an md5 challenge if md5 is
 * allowed and the secret is md5, else the exchange for auth_mock_user(..., AUTH_SECRET_SCRAM), so
 * the client fails as with a wrong password (as Postgres does). st needs scram_free either way. */
bool scram_init(ScramState *st, const AuthUser *u) __attribute__((warn_unused_result));

/* Consume client-first-message (data of SASLInitialResponse, not NUL-terminated) and produce
 * server-first-message in *out and *outlen, owned by st until scram_free. err gets a client-facing
 * reason on SCRAM_MALFORMED or SCRAM_UNSUPPORTED, never quoting a secret. */
ScramResult scram_step_first(ScramState *st, const uint8_t *msg, size_t len, const char **out,
                             size_t *outlen, char *err, size_t errlen);

/* Consume client-final-message (SASLResponse data) and verify the proof. SCRAM_OK: *out holds
 * server-final-message (send it as SASLFinal, then AuthenticationOk). SCRAM_FAILED: err says why
 * for the log (not for the client). */
ScramResult scram_step_final(ScramState *st, const uint8_t *msg, size_t len, const char **out,
                             size_t *outlen, char *err, size_t errlen);

/* Release what st holds and wipe its keys. Safe on a zeroed or already freed state. */
void scram_free(ScramState *st);

/* Tests only: before scram_step_first, use `server_nonce` (printable, no ',', at most
 * SCRAM_NONCE_MAX chars) instead of a random one, and for a plain secret, the
 * given salt instead of a random one. NULL leaves either alone. Returns false on bad input. */
bool scram_test_override(ScramState *st, const char *server_nonce, const uint8_t *salt,
                         size_t salt_len) __attribute__((warn_unused_result));

/* ---- Primitives, shared with auth.c and the tests' client side. All return false on an
 * OpenSSL failure. ---- */

/* SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations). */
bool scram_salted_password(const char *password, const uint8_t *salt, size_t salt_len,
                           int iterations, uint8_t out[AUTH_KEY_LEN]);
/* HMAC-SHA-256 of msg under a 32-byte key. */
bool scram_hmac(const uint8_t key[AUTH_KEY_LEN], const void *msg, size_t len,
                uint8_t out[AUTH_KEY_LEN]);
/* SHA-256. */
bool scram_sha256(const void *msg, size_t len, uint8_t out[AUTH_KEY_LEN]);
/* StoredKey and ServerKey of a password, as a verifier holds them. */
bool scram_derive_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
                       uint8_t stored_key[AUTH_KEY_LEN], uint8_t server_key[AUTH_KEY_LEN]);

/* Base64 with padding. Encode writes SCRAM_B64_LEN(len) chars and a NUL; false if outcap is too
 * small. Decode is strict (length a multiple of 4, alphabet, at most two trailing '='); false on
 * bad input or when the result exceeds outcap. */
bool scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t outcap);
bool scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
    __attribute__((warn_unused_result));

#endif
