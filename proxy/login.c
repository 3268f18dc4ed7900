/* login.c - client authentication: the server half of Postgres's password exchanges. Unknown
 * users run the same exchange against a mock secret and fail with the same message. */
#include "login.h"

#include "auth.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "pqmsg.h"
#include "scram.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { LOGIN_CLEARTEXT, LOGIN_MD5, LOGIN_SCRAM } LoginMethod;

struct Login {
    LoginMethod method;
    const AuthUser *user;
    AuthMockUser mock;
    uint8_t salt[4];
    ScramState scram;
    bool scram_live;
};

static void login_fail(Client *cl)
{
    char msg[256];
    auth_fail_message(msg, sizeof msg, cl->su.user);
    log_info(cl->tag, "password authentication failed for %s", cl->su.user);
    client_fail(cl, SQLSTATE_INVALID_PASSWORD, msg);
}

/* Send the request a builder made; false after failing the client. */
static bool send_request(Client *cl, WireBuf *b)
{
    bool ok = conn_send(cl->bev, b);
    wire_buf_free(b);
    if (!ok) client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
    return ok;
}

bool login_start(Client *cl)
{
    const Config *cfg = cl->cfg;
    WireBuf b;
    wire_buf_init(&b);
    if (cfg->auth_type == CFG_AUTH_TRUST) return true;
    struct Login *lg = calloc(1, sizeof *lg);
    if (!lg) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return false;
    }
    cl->login = lg;
    bool md5_ok = cfg->auth_type == CFG_AUTH_MD5;
    lg->user = cfg->auth ? auth_file_find(cfg->auth, cl->su.user) : NULL;
    if (!lg->user)
        lg->user = auth_mock_user(&cl->px->mock_key, cl->su.user,
                                  auth_file_mock_kind(cfg->auth, md5_ok), &lg->mock);
    if (cfg->auth_type == CFG_AUTH_PLAIN) {
        lg->method = LOGIN_CLEARTEXT;
        auth_build_cleartext_request(&b);
        send_request(cl, &b);
    } else if (auth_use_md5(lg->user, md5_ok)) {
        lg->method = LOGIN_MD5;
        if (RAND_bytes(lg->salt, sizeof lg->salt) != 1) {
            client_fail(cl, SQLSTATE_INTERNAL_ERROR, "random number generator failed");
            return false;
        }
        auth_build_md5_request(&b, lg->salt);
        send_request(cl, &b);
    } else {
        lg->method = LOGIN_SCRAM;
        /* An md5 secret cannot do SCRAM: run the exchange on a mock secret so it fails the
         * same way a wrong password does. */
        if (!scram_init(&lg->scram, lg->user)) {
            lg->user = auth_mock_user(&cl->px->mock_key, cl->su.user, AUTH_SECRET_SCRAM, &lg->mock);
            if (!scram_init(&lg->scram, lg->user)) {
                client_fail(cl, SQLSTATE_INTERNAL_ERROR, "SCRAM setup failed");
                return false;
            }
        }
        lg->scram_live = true;
        auth_build_sasl_request(&b);
        send_request(cl, &b);
    }
    return false;
}

/* SASLInitialResponse: mechanism name, int32 length (or -1), data. */
static bool scram_first(Client *cl, struct Login *lg, const uint8_t *body, uint32_t len)
{
    const char *mech, *out;
    const uint8_t *data;
    size_t n, outlen;
    char err[200];
    WireBuf b;
    if (!auth_parse_sasl_initial(body, len, &mech, &data, &n)) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "malformed SASLInitialResponse message");
        return false;
    }
    if (strcmp(mech, SCRAM_MECHANISM) != 0) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION,
                    "client selected an invalid SASL authentication mechanism");
        return false;
    }
    ScramResult res = scram_step_first(&lg->scram, data, n, &out, &outlen, err, sizeof err);
    if (res == SCRAM_OK) {
        wire_buf_init(&b);
        auth_build_sasl_continue(&b, out, outlen);
        send_request(cl, &b);
        return false;
    }
    if (res == SCRAM_FAILED)
        login_fail(cl);
    else
        client_fail(cl,
                    res == SCRAM_UNSUPPORTED ? SQLSTATE_FEATURE_NOT_SUPPORTED
                    : res == SCRAM_INTERNAL  ? SQLSTATE_INTERNAL_ERROR
                                             : SQLSTATE_PROTOCOL_VIOLATION,
                    err);
    return false;
}

static bool scram_final(Client *cl, struct Login *lg, const uint8_t *body, uint32_t len)
{
    char err[200];
    const char *out;
    size_t outlen;
    WireBuf b;
    ScramResult res = scram_step_final(&lg->scram, body, len, &out, &outlen, err, sizeof err);
    if (res == SCRAM_OK) {
        wire_buf_init(&b);
        auth_build_sasl_final(&b, out, outlen);
        return send_request(cl, &b);
    }
    if (res == SCRAM_FAILED)
        login_fail(cl);
    else
        client_fail(
            cl, res == SCRAM_INTERNAL ? SQLSTATE_INTERNAL_ERROR : SQLSTATE_PROTOCOL_VIOLATION, err);
    return false;
}

/* PasswordMessage with a NUL-terminated password (cleartext or md5 response). */
static bool password_msg(Client *cl, struct Login *lg, const uint8_t *body, uint32_t len)
{
    const char *pw;
    if (!auth_parse_password(body, len, &pw)) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "invalid password packet");
        return false;
    }
    bool ok = lg->method == LOGIN_MD5 ? auth_md5_check(lg->user, cl->su.user, lg->salt, pw)
                                      : auth_plain_check(lg->user, cl->su.user, pw);
    if (!ok) login_fail(cl);
    return ok;
}

bool login_message(Client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
    struct Login *lg = cl->login;
    if (type != PqMsg_PasswordMessage || !lg) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION,
                    "expected password response during authentication");
        return false;
    }
    if (lg->method != LOGIN_SCRAM) return password_msg(cl, lg, body, len);
    if (lg->scram.step == SCRAM_ST_FIRST) return scram_first(cl, lg, body, len);
    return scram_final(cl, lg, body, len);
}

void login_free(Client *cl)
{
    struct Login *lg = cl->login;
    if (!lg) return;
    if (lg->scram_live) scram_free(&lg->scram);
    free(lg);
    cl->login = NULL;
}
