/* auth.h - client authentication building blocks: the auth file (PgBouncer's userlist.txt
 * format), md5 and cleartext password checks, mock users for unknown names, and the
 * Authentication* / PasswordMessage codec.
 *
 * An AuthFile is immutable after auth_file_load() and hangs off the refcounted Config snapshot,
 * so any thread may read it without locks. No function here logs; no error message quotes a
 * secret. */
#ifndef PGPIN_AUTH_H
#define PGPIN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define AUTH_MAX_USER   127  /* bytes of a user name in the auth file */
#define AUTH_MAX_SECRET 2047 /* bytes of a secret in the auth file */
#define AUTH_KEY_LEN    32   /* SHA-256 output: StoredKey, ServerKey, proofs */
#define AUTH_MD5_LEN    35   /* "md5" + 32 lowercase hex digits */

/* Authentication request codes (the int32 after an 'R' message's length). */
#define AUTH_REQ_OK            0
#define AUTH_REQ_CLEARTEXT     3
#define AUTH_REQ_MD5           5
#define AUTH_REQ_SASL          10
#define AUTH_REQ_SASL_CONTINUE 11
#define AUTH_REQ_SASL_FINAL    12

typedef enum {
    AUTH_SECRET_PLAIN = 0, /* the password itself */
    AUTH_SECRET_MD5,       /* "md5" + hex(md5(password || user)) */
    AUTH_SECRET_SCRAM,     /* Postgres's SCRAM-SHA-256 verifier */
} AuthSecretKind;

/* A SCRAM-SHA-256 verifier: SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>. */
typedef struct AuthScram {
    int iterations;
    const uint8_t *salt; /* owned by the AuthFile (or the mock user) */
    size_t salt_len;
    uint8_t stored_key[AUTH_KEY_LEN];
    uint8_t server_key[AUTH_KEY_LEN];
} AuthScram;

typedef struct AuthUser {
    const char *name;
    AuthSecretKind kind;
    int line;  /* line of the auth file that defined it; 0 for a mock user */
    bool mock; /* stands in for an unknown user: every check fails */
    union {
        const char *plain;          /* AUTH_SECRET_PLAIN: NUL-terminated password */
        char md5[AUTH_MD5_LEN + 1]; /* AUTH_SECRET_MD5: "md5..." as stored */
        AuthScram scram;            /* AUTH_SECRET_SCRAM */
    } u;
} AuthUser;

typedef struct AuthFile AuthFile;

/* ---- The auth file ----
 * Each line: "user" "secret" [ignored fields...]. Fields are double-quoted with "" for a literal
 * quote; lines starting with ';' or '#' (after blanks) are comments; blank lines are fine. A
 * secret is SCRAM-SHA-256$..., "md5" + 32 lowercase hex digits, or else the plain password (as
 * Postgres decides); a secret starting SCRAM-SHA-256$ that does not parse is an error, not a
 * password. An empty secret never authenticates. A user listed twice keeps the last entry, as
 * in PgBouncer.
 *
 * How a connection uses this (auth_type != trust):
 *   u = auth_file_find(af, user), or if NULL
 *       auth_mock_user(key, user, auth_file_mock_kind(af, type == md5), &mock);
 *   plain: cleartext request, auth_plain_check(u, user, password);
 *   md5/scram-sha-256: auth_use_md5(u, type == md5) ? md5 request + auth_md5_check
 *       : scram_init(u) -- if it refuses (md5 secret under scram-sha-256), run the exchange with
 *         auth_mock_user(key, user, AUTH_SECRET_SCRAM, &mock) so it fails like a wrong password;
 *   every failure: 28P01 with auth_fail_message(). */

/* Load and parse `path`. Returns a new AuthFile (caller frees with auth_file_free), or NULL with
 * "FILE:LINE: what is wrong" (or "FILE: ...") in err, always NUL-terminated when errlen > 0.
 * Messages never contain a secret. */
AuthFile *auth_file_load(const char *path, char *err, size_t errlen);

/* Same from text in memory; `name` stands for the file in messages (unit tests). */
AuthFile *auth_file_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);

/* The entry for `user` (exact, case-sensitive), or NULL. Lives as long as the AuthFile.
 * O(log n). */
const AuthUser *auth_file_find(const AuthFile *af, const char *user);

/* Number of distinct users. */
size_t auth_file_count(const AuthFile *af);

/* For an unknown user: the secret kind of the mock user (md5 when md5 is allowed and most users
 * would get an md5 challenge, else SCRAM), so that the challenge an unknown name gets looks like
 * the one most names get. af may be NULL. */
AuthSecretKind auth_file_mock_kind(const AuthFile *af, bool md5_allowed);

/* Postgres's rule for auth_type md5: an md5 challenge when the secret is md5 or plain, else
 * SCRAM. md5_allowed is false for scram-sha-256. */
bool auth_use_md5(const AuthUser *u, bool md5_allowed);

/* Free the file and wipe its secrets. NULL is ignored. */
void auth_file_free(AuthFile *af);

/* ---- Password checks: constant-time compares, false on any mismatch or error. ---- */

/* The client's md5 response ("md5" + hex(md5(hex(md5(password || user)) || salt))) against a
 * plain or md5 secret; `user` is the login name (an md5 secret has it baked in already). A SCRAM
 * secret or a mock user gives false. */
bool auth_md5_check(const AuthUser *u, const char *user, const uint8_t salt[4],
                    const char *client_response);

/* A cleartext password against any secret kind; a SCRAM secret costs one PBKDF2 run with its
 * stored iteration count. Passwords are used as bytes: Postgres's SASLprep only changes
 * non-ASCII input, so non-ASCII passwords must already be in SASLprep (NFKC) form. */
bool auth_plain_check(const AuthUser *u, const char *user, const char *password);

/* ---- Mock users: unknown names go through the same exchange and fail like a wrong password
 * (Postgres's "mock authentication"). The key is made once per process and kept in the root
 * context, so the fake salt a name gets is stable for the life of the process. ---- */
typedef struct AuthMockKey {
    uint8_t key[32];
} AuthMockKey;

/* Fill k with random bytes. Returns false if the RNG failed. */
bool auth_mock_key_init(AuthMockKey *k) __attribute__((warn_unused_result));

/* Storage for one mock user; user.u.scram.salt points into it, so it must not be copied or
 * moved while in use. Lives with the connection that needs it. */
typedef struct AuthMockUser {
    AuthUser user;
    uint8_t salt[16];
} AuthMockUser;

/* A mock user for `name` with a secret of `kind` (AUTH_SECRET_MD5 for an md5 challenge, any
 * other kind gives SCRAM with SCRAM_ITERATIONS): salt and keys are HMACs of the name, so repeated
 * attempts see the same salt, as for a real user. `name` is borrowed (it must outlive m).
 * Returns &m->user. */
const AuthUser *auth_mock_user(const AuthMockKey *k, const char *name, AuthSecretKind kind,
                               AuthMockUser *m);

/* The one message for a wrong password and an unknown user alike (SQLSTATE 28P01):
 * password authentication failed for user "NAME". */
void auth_fail_message(char *buf, size_t len, const char *user);

/* ---- Authentication messages ---- */

/* 'R' requests. */
void auth_build_cleartext_request(WireBuf *b);
void auth_build_md5_request(WireBuf *b, const uint8_t salt[4]);
void auth_build_sasl_request(WireBuf *b); /* offers SCRAM-SHA-256 only (no -PLUS) */
void auth_build_sasl_continue(WireBuf *b, const char *data, size_t len);
void auth_build_sasl_final(WireBuf *b, const char *data, size_t len);

/* A PasswordMessage body (after the 5-byte header) holding one NUL-terminated string with nothing
 * after it; *password points into body. */
bool auth_parse_password(const uint8_t *body, size_t len, const char **password) WIRE_WUR;

/* A SASLInitialResponse body: mechanism name, int32 length (-1 = no data), data. *data points into
 * body and is NOT NUL-terminated. */
bool auth_parse_sasl_initial(const uint8_t *body, size_t len, const char **mechanism,
                             const uint8_t **data, size_t *datalen) WIRE_WUR;

#endif
