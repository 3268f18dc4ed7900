/* login.c - client authentication: the server half of Postgres's password exchanges. Unknown
 * users run the same exchange against a mock secret and fail with the same message. */
#include "login.h"

#include "auth.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "pqmsg.h"
#include "scram.h"
#include "tcp.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { LOGIN_CLEARTEXT, LOGIN_MD5, LOGIN_SCRAM } LoginMethod;

struct Login {
    LoginMethod method;
    const AuthUser *user;
    AuthMockUser mock;
    AuthUser derived; /* a plain secret turned into a SCRAM verifier */
    uint8_t salt[4];
    ScramState scram;
    bool scram_live;
    AuthFile *found; /* auth_query's answer, as a one-line auth file */
    PGconn *q_conn;  /* auth_query connection */
    struct event *q_ev;
    bool q_sent;
};

static void login_fail(Client *cl)
{
    char msg[256];
    auth_fail_message(msg, sizeof msg, cl->user);
    log_info(cl->tag, "password authentication failed for %s", cl->user);
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

/* Send the first request for the secret lg->user holds (a mock one for unknown users). */
/* A plain secret under SCRAM gets the salt an unknown name would get (an HMAC of the name), so
 * two attempts cannot tell "exists with a plain password" from "unknown" by a changing salt. */
static void login_derive(Client *cl, struct Login *lg)
{
    const char *plain = lg->user->u.plain;
    const AuthUser *m =
        auth_mock_user(&cl->px->root->mock_key, cl->user, AUTH_SECRET_SCRAM, &lg->mock);
    lg->derived = *m; /* its salt points into lg->mock, which stays put */
    lg->derived.mock = false;
    if (!plain[0] ||
        !scram_derive_keys(plain, m->u.scram.salt, m->u.scram.salt_len, m->u.scram.iterations,
                           lg->derived.u.scram.stored_key, lg->derived.u.scram.server_key)) {
        lg->user = m; /* an empty password never authenticates: fail like a wrong one */
        return;
    }
    lg->user = &lg->derived;
}

static void login_challenge(Client *cl, struct Login *lg)
{
    const Config *cfg = cl->cfg;
    bool md5_ok = cfg->auth_type == CFG_AUTH_MD5;
    WireBuf b;
    wire_buf_init(&b);
    if (!lg->user)
        lg->user = auth_mock_user(&cl->px->root->mock_key, cl->user,
                                  auth_file_mock_kind(cfg->auth, md5_ok), &lg->mock);
    if (cfg->auth_type == CFG_AUTH_PLAIN) {
        lg->method = LOGIN_CLEARTEXT;
        auth_build_cleartext_request(&b);
    } else if (auth_use_md5(lg->user, md5_ok)) {
        lg->method = LOGIN_MD5;
        if (RAND_bytes(lg->salt, sizeof lg->salt) != 1) {
            client_fail(cl, SQLSTATE_INTERNAL_ERROR, "random number generator failed");
            return;
        }
        auth_build_md5_request(&b, lg->salt);
    } else {
        lg->method = LOGIN_SCRAM;
        if (lg->user->kind == AUTH_SECRET_PLAIN) login_derive(cl, lg);
        /* An md5 secret cannot do SCRAM: run the exchange on a mock secret so it fails the
         * same way a wrong password does. */
        if (!scram_init(&lg->scram, lg->user)) {
            lg->user =
                auth_mock_user(&cl->px->root->mock_key, cl->user, AUTH_SECRET_SCRAM, &lg->mock);
            if (!scram_init(&lg->scram, lg->user)) {
                client_fail(cl, SQLSTATE_INTERNAL_ERROR, "SCRAM setup failed");
                return;
            }
        }
        lg->scram_live = true;
        auth_build_sasl_request(&b);
    }
    send_request(cl, &b);
}

/* ---- auth_query: users not in the auth file are looked up through the server, as
 * auth_user, with libpq's async API on the event loop. ---- */

static void query_done(Client *cl, struct Login *lg, PGresult *res)
{
    char line[AUTH_MAX_USER + AUTH_MAX_SECRET + 16], err[200];
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
        PQnfields(res) >= 2 && !PQgetisnull(res, 0, 1)) {
        /* Reuse the auth file parser: one line in its format ("" escapes a quote). */
        size_t n = 0;
        const char *parts[2] = {cl->user, PQgetvalue(res, 0, 1)};
        for (int k = 0; k < 2; k++) {
            line[n++] = '"';
            for (const char *c = parts[k]; *c && n + 4 < sizeof line; c++) {
                if (*c == '"') line[n++] = '"';
                line[n++] = *c;
            }
            line[n++] = '"';
            line[n++] = ' ';
        }
        line[n] = '\0';
        lg->found = auth_file_parse(line, n, "auth_query", err, sizeof err);
        if (lg->found) lg->user = auth_file_find(lg->found, cl->user);
    } else if (res && PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_warn(cl->tag, "auth_query failed: %s", PQresultErrorMessage(res));
    }
    PQclear(res);
    login_challenge(cl, lg);
}

static void query_cb(evutil_socket_t fd, short what, void *arg);

static void query_wait(Client *cl, struct Login *lg, short what)
{
    event_assign(lg->q_ev, cl->px->base, PQsocket(lg->q_conn), what, query_cb, cl);
    event_add(lg->q_ev, NULL);
}

static void query_cb(evutil_socket_t fd, short what, void *arg)
{
    Client *cl = arg;
    struct Login *lg = cl->login;
    (void)fd, (void)what;
    if (!lg->q_sent) {
        PostgresPollingStatusType st = PQconnectPoll(lg->q_conn);
        if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
            query_wait(cl, lg, st == PGRES_POLLING_READING ? EV_READ : EV_WRITE);
            return;
        }
        const char *params[1] = {cl->user};
        if (st != PGRES_POLLING_OK || PQsetnonblocking(lg->q_conn, 1) != 0 ||
            !PQsendQueryParams(lg->q_conn, cl->cfg->auth_query, 1, NULL, params, NULL, NULL, 0)) {
            log_warn(cl->tag, "auth_query connection failed: %s", PQerrorMessage(lg->q_conn));
            login_challenge(cl, lg);
            return;
        }
        lg->q_sent = true;
    } else if (!PQconsumeInput(lg->q_conn)) {
        query_done(cl, lg, NULL);
        return;
    }
    if (PQflush(lg->q_conn) == 1 || PQisBusy(lg->q_conn)) {
        query_wait(cl, lg, PQflush(lg->q_conn) == 1 ? EV_WRITE : EV_READ);
        return;
    }
    PGresult *res = PQgetResult(lg->q_conn), *extra;
    while ((extra = PQgetResult(lg->q_conn)) != NULL)
        PQclear(extra);
    query_done(cl, lg, res);
}

/* Start the lookup; false when it cannot start (the caller challenges with a mock secret). */
static bool query_start(Client *cl, struct Login *lg)
{
    const CfgDatabase *db = cfg_find_db(cl->cfg, cl->database);
    const char *keys[5 + TCP_LIBPQ_MAX], *vals[5 + TCP_LIBPQ_MAX];
    TcpLibpqText tcp;
    if (!db) return false;
    int n = tcp_libpq_params(cl->cfg, keys, vals, &tcp);
    keys[n] = "dbname", vals[n++] = db->conninfo;
    keys[n] = "user", vals[n++] = cl->cfg->auth_user;
    if (!db->has_dbname) keys[n] = "dbname", vals[n++] = cl->database;
    keys[n] = "fallback_application_name", vals[n++] = "pgpin auth_query";
    keys[n] = NULL, vals[n] = NULL;
    lg->q_conn = PQconnectStartParams(keys, vals, 1);
    lg->q_ev = event_new(cl->px->base, -1, 0, query_cb, cl);
    if (!lg->q_conn || !lg->q_ev || PQstatus(lg->q_conn) == CONNECTION_BAD) return false;
    query_wait(cl, lg, EV_WRITE);
    return true;
}

bool login_start(Client *cl)
{
    const Config *cfg = cl->cfg;
    if (cfg->auth_type == CFG_AUTH_TRUST) return true;
    struct Login *lg = calloc(1, sizeof *lg);
    if (!lg) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return false;
    }
    cl->login = lg;
    lg->user = cfg->auth ? auth_file_find(cfg->auth, cl->user) : NULL;
    if (!lg->user && cfg->auth_user[0] && query_start(cl, lg)) return false;
    login_challenge(cl, lg);
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
    bool ok = lg->method == LOGIN_MD5 ? auth_md5_check(lg->user, cl->user, lg->salt, pw)
                                      : auth_plain_check(lg->user, cl->user, pw);
    if (!ok) login_fail(cl);
    return ok;
}

bool login_message(Client *cl, uint8_t type, const uint8_t *body, uint32_t len)
{
    struct Login *lg = cl->login;
    if (type != PqMsg_PasswordMessage || !lg || !lg->user) { /* !user: nothing asked yet */
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
    if (lg->q_ev) event_free(lg->q_ev);
    if (lg->q_conn) PQfinish(lg->q_conn);
    auth_file_free(lg->found);
    free(lg);
    cl->login = NULL;
}
