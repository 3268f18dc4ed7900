/* server.c - backend connections: libpq opens them without blocking (every auth method, TLS
 * mode and multi-host option libpq knows), then pgpin relays raw protocol over the socket. */
#include "server.h"

#include "auto.h"
#include "budget.h"
#include "client.h"
#include "conn.h"
#include "log.h"
#include "pool.h"
#include "pqmsg.h"
#include "shape.h"
#include "tcp.h"

#include <event2/bufferevent_ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GUCs Postgres reports with ParameterStatus (15, plus what later versions add). libpq has no
 * way to list them, so we ask for each by name after the connection is up. */
static const char *const reported_gucs[] = {
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "scram_iterations",
    "search_path",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
};

static void server_read_cb(struct bufferevent *bev, void *arg);
static void server_write_cb(struct bufferevent *bev, void *arg);
static void server_event_cb(struct bufferevent *bev, short what, void *arg);
static void server_poll_cb(evutil_socket_t fd, short what, void *arg);

bool server_is_clean(const Server *sv)
{
    return sv->state != SV_CLOSED && sv->inflight == 0 && !sv->unsynced && sv->txstatus == 'I' &&
           sv->rx.remain == 0 && !sv->fatal && !sv->lost && !sv->held_fatal;
}

/* ---- Opening ---- */

static void server_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    Server *sv = arg;
    Pool *pool = sv->pool;
    (void)fd, (void)what;
    char msg[160];
    snprintf(msg, sizeof msg, "could not connect to server for database \"%s\": timeout",
             pool->dbname);
    log_warn(sv->tag, "%s", msg);
    server_close(sv, "connect timeout");
    pool_connect_failed(pool, SQLSTATE_CONNECTION_FAILURE, msg, true);
}

static bool server_wait(Server *sv, short what)
{
    event_assign(sv->ev, sv->px->base, PQsocket(sv->conn), what, server_poll_cb, sv);
    return event_add(sv->ev, NULL) == 0;
}

Server *server_open(Pool *pool)
{
    Proxy *px = pool->px;
    const char *keys[6 + TCP_LIBPQ_MAX], *vals[6 + TCP_LIBPQ_MAX];
    TcpLibpqText tcp;
    /* Keepalives and tcp_user_timeout first: the conninfo's own settings override them. */
    int n = tcp_libpq_params(px->cfg, keys, vals, &tcp);
    keys[n] = "dbname", vals[n++] = pool->conninfo;
    if (!pool->has_user) keys[n] = "user", vals[n++] = pool->user;
    if (!pool->has_dbname) keys[n] = "dbname", vals[n++] = pool->dbname;
    /* Start with the application_name of the client it is opened for: RESET (DISCARD ALL)
     * returns to it, so the next client of the same application needs no SET round trip.
     * (Only this one: a value the server could reject would fail every waiter's connect.) */
    const Client *first = TAILQ_FIRST(&pool->waiters);
    const char *app = first ? params_get(&first->want, "application_name") : NULL;
    if (app) keys[n] = "application_name", vals[n++] = app;
    keys[n] = NULL, vals[n] = NULL;

    Server *sv = calloc(1, sizeof *sv);
    if (!sv) return NULL;
    sv->px = px;
    sv->pool = pool;
    sv->state = SV_CONNECTING;
    sv->generation = pool->generation;
    sv->budget = pool->budget;
    sv->created_at = proxy_now();
    sv->txstatus = 'I';
    /* The worker's index in the top byte, as for clients: tags are unique process-wide. */
    snprintf(sv->tag, sizeof sv->tag, "S-%u",
             (uint32_t)px->index << 24 | (++px->next_id & 0xffffff));
    TAILQ_INSERT_TAIL(&pool->servers, sv, link);
    pool->nservers++;
    pool->nconnecting++;
    sv->ev = event_new(px->base, -1, 0, server_poll_cb, sv);
    sv->timeout = evtimer_new(px->base, server_connect_timeout_cb, sv);
    sv->conn = PQconnectStartParams(keys, vals, 1);
    if (!sv->ev || !sv->timeout || !sv->conn || PQstatus(sv->conn) == CONNECTION_BAD) {
        char msg[512];
        const char *text = sv->conn ? PQerrorMessage(sv->conn) : "out of memory";
        const char *st = server_classify_error(text, msg, sizeof msg);
        bool transient = sv->conn && server_error_transient(st, text);
        log_warn(sv->tag, "cannot start connection to %s: %s", pool->dbname, msg);
        server_close(sv, "connect start failed");
        pool_connect_failed(pool, st, msg, transient);
        return NULL;
    }
    double t = px->cfg->server_connect_timeout;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    if (t > 0) evtimer_add(sv->timeout, &tv);
    log_debug(sv->tag, "connecting for %s/%s", pool->dbname, pool->user);
    server_wait(sv, EV_WRITE); /* libpq: start as if PQconnectPoll said "writing" */
    return sv;
}

/* A bufferevent on px's loop over the libpq socket (and TLS session). False when out of
 * memory. */
static bool server_bind(Server *sv, Proxy *px)
{
    evutil_socket_t fd = PQsocket(sv->conn);
    if (sv->tls)
        sv->bev = bufferevent_openssl_socket_new(px->base, fd, PQsslStruct(sv->conn, "OpenSSL"),
                                                 BUFFEREVENT_SSL_OPEN, 0);
    else
        sv->bev = bufferevent_socket_new(px->base, fd, 0);
    if (!sv->bev) return false;
    bufferevent_setcb(sv->bev, server_read_cb, server_write_cb, server_event_cb, sv);
    conn_setup(sv->bev);
    bufferevent_enable(sv->bev, EV_READ);
    return true;
}

bool server_detach(Server *sv)
{
    Pool *pool = sv->pool;
    if (sv->state != SV_IDLE || sv->idle_listed || sv->client ||
        evbuffer_get_length(bufferevent_get_input(sv->bev)) > 0 ||
        evbuffer_get_length(bufferevent_get_output(sv->bev)) > 0)
        return false;
    TAILQ_REMOVE(&pool->servers, sv, link);
    pool->nservers--;          /* the shared slot travels with the server */
    bufferevent_free(sv->bev); /* does not close the socket: libpq owns it */
    event_free(sv->ev);
    event_free(sv->timeout);
    sv->bev = NULL, sv->ev = sv->timeout = NULL;
    sv->px = NULL, sv->pool = NULL;
    return true;
}

bool server_adopt(Server *sv, Pool *pool)
{
    Proxy *px = pool->px;
    sv->px = px;
    sv->pool = pool;
    sv->ev = event_new(px->base, -1, 0, server_poll_cb, sv);
    sv->timeout = evtimer_new(px->base, server_connect_timeout_cb, sv);
    TAILQ_INSERT_TAIL(&pool->servers, sv, link);
    pool->nservers++;
    if (!sv->ev || !sv->timeout || !server_bind(sv, px)) {
        server_close(sv, "out of memory");
        return false;
    }
    log_debug(sv->tag, "handed over to worker %d", px->index);
    return true;
}

static void server_connected(Server *sv)
{
    Proxy *px = sv->px;
    evtimer_del(sv->timeout);
    PQsetnonblocking(sv->conn, 1);
    sv->backend_pid = PQbackendPID(sv->conn);
    budget_pid_add(sv->budget, sv->backend_pid);
    for (size_t i = 0; i < sizeof reported_gucs / sizeof reported_gucs[0]; i++) {
        const char *v = PQparameterStatus(sv->conn, reported_gucs[i]);
        if (v) params_set(&sv->params, reported_gucs[i], v);
    }
    sv->tls = PQsslInUse(sv->conn);
    snprintf(sv->addr, sizeof sv->addr, "%s:%s", PQhost(sv->conn), PQport(sv->conn));
    sv->pool->nconnecting--;
    sv->state = SV_IDLE; /* pool_server_idle sets the lists up */
    if (!server_bind(sv, px)) {
        server_close(sv, "out of memory");
        return;
    }
    log_info(sv->tag, "connected to %s as %s at %s (backend pid %d%s)", sv->pool->dbname,
             PQuser(sv->conn), sv->addr, sv->backend_pid, PQsslInUse(sv->conn) ? ", TLS" : "");
    pool_server_idle(sv);
}

static void server_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    Server *sv = arg;
    (void)fd, (void)what;
    switch (PQconnectPoll(sv->conn)) {
    case PGRES_POLLING_READING: server_wait(sv, EV_READ); return;
    case PGRES_POLLING_WRITING: server_wait(sv, EV_WRITE); return;
    case PGRES_POLLING_OK: server_connected(sv); return;
    default: {
        char msg[512];
        Pool *pool = sv->pool;
        const char *st = server_classify_error(PQerrorMessage(sv->conn), msg, sizeof msg);
        bool transient = server_error_transient(st, PQerrorMessage(sv->conn));
        log_warn(sv->tag, "connection to %s failed: %s", pool->dbname, msg);
        server_close(sv, "connect failed");
        pool_connect_failed(pool, st, msg, transient);
        return;
    }
    }
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *server_classify_error(const char *libpq_msg, char *msg, size_t msglen)
{
    /* libpq says 'connection to server at "h" (a), port p failed: FATAL:  text\n', once per
     * attempt: keep the last attempt's server text, which a direct client would have seen. */
    const char *p = NULL;
    for (const char *q = strstr(libpq_msg, "FATAL:  "); q; q = strstr(q + 1, "FATAL:  "))
        p = q;
    bool from_server = p != NULL;
    p = p ? p + 8 : libpq_msg;
    snprintf(msg, msglen, "%s", p);
    msg[strcspn(msg, "\n")] = '\0';
    if (!from_server) return SQLSTATE_CONNECTION_FAILURE;
    /* Match the start of Postgres's own wording, so quoted names cannot mislead us. */
    if (starts(p, "database \"")) return SQLSTATE_INVALID_CATALOG_NAME;
    if (starts(p, "password authentication failed")) return SQLSTATE_INVALID_PASSWORD;
    if (starts(p, "role \"")) return SQLSTATE_INVALID_AUTH_SPEC;
    if (starts(p, "sorry, too many clients") || starts(p, "remaining connection slots") ||
        starts(p, "too many connections"))
        return SQLSTATE_TOO_MANY_CONNECTIONS;
    if (starts(p, "the database system is")) return SQLSTATE_CANNOT_CONNECT_NOW;
    return SQLSTATE_CONNECTION_FAILURE;
}

bool server_error_transient(const char *sqlstate, const char *libpq_msg)
{
    /* What a server that is down, restarting, promoting or failing over says; not what a wrong
     * database, login, certificate or address says (those fail the waiting clients at once). */
    static const char *const signs[] = {
        "Connection refused",
        "No such file or directory", /* a Unix socket gone with its server */
        "timeout expired",
        "server closed the connection unexpectedly",
        "could not receive data from server",
        "could not send",
        "Connection reset by peer",
        "Connection timed out",
        "No route to host",
        "Network is unreachable",
        "SSL SYSCALL error",
        "terminating connection due to",
        "session is read-only", /* target_session_attrs: the primary is gone or demoted */
        "server is in hot standby mode",
        "the database system is",
    };
    if (strcmp(sqlstate, SQLSTATE_CANNOT_CONNECT_NOW) == 0) return true;
    if (strcmp(sqlstate, SQLSTATE_CONNECTION_FAILURE) != 0) return false;
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (strstr(libpq_msg, signs[i])) return true;
    return false;
}

/* ---- Parameter sync and reset ---- */

static void sync_free(Server *sv)
{
    for (int i = 0; i < sv->nsync; i++)
        free(sv->sync[i].name);
    free(sv->sync);
    sv->sync = NULL;
    sv->nsync = sv->sync_pos = 0;
    sv->sync_piped = false;
}

void server_attach(Server *sv, Client *cl)
{
    TrackPlan plan;
    track_plan_init(&plan);
    sv->client = cl;
    cl->server = sv;
    if (!track_plan(&plan, &cl->want, auto_client_track(cl), &sv->params, &sv->track)) {
        track_plan_free(&plan);
        track_sets_unknown(&sv->track);
        track_stmts_unknown(&sv->track);
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return;
    }
    if (plan.nsteps == 0) {
        track_plan_free(&plan);
        sv->state = SV_ACTIVE;
        client_attached(cl);
        return;
    }
    sv->state = SV_SYNCING;
    sv->inflight += plan.nsteps; /* each step ends with one ReadyForQuery */
    sv->sync = plan.steps, sv->nsync = plan.nsteps, sv->sync_pos = 0;
    /* A linked-again client's messages may follow the sync at once (its replies are swallowed
     * first): no round trip. Not at login (the startup reply shows the synced parameters) and
     * not for role changes (the messages must not run if they fail). */
    sv->sync_piped = cl->started && !plan.wait;
    plan.steps = NULL, plan.nsteps = 0;
    log_debug(sv->tag, "syncing %s's state (%d steps%s)", cl->tag, sv->nsync,
              sv->sync_piped ? ", pipelined" : "");
    bool sent = conn_send(sv->bev, &plan.buf);
    track_plan_free(&plan);
    if (!sent) {
        server_close(sv, "out of memory");
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
    } else if (sv->sync_piped) {
        client_attached(cl);
    }
}

/* The ReadyForQuery of one sync step arrived. False: the server is gone. */
static bool server_sync_step_done(Server *sv)
{
    Client *cl = sv->client;
    if (++sv->sync_pos < sv->nsync) return true;
    bool piped = sv->sync_piped;
    sync_free(sv);
    sv->state = SV_ACTIVE;
    if (!piped) {
        client_attached(cl);
        return sv->state != SV_CLOSED;
    }
    /* Already linked: the client may have sent nothing (then let go), or be throttled. */
    if (cl->auto_mode && auto_release_if_idle(cl)) return true;
    if (conn_unthrottle(cl->bev, &cl->rx, sv->bev)) client_wake_reader(cl);
    return sv->state != SV_CLOSED;
}

void server_reset(Server *sv)
{
    WireBuf b;
    wire_buf_init(&b);
    const char *q = sv->px->cfg->server_reset_query;
    wire_build_query(&b, q);
    /* DISCARD ALL leaves nothing behind; another reset query, who knows. */
    if (strcasecmp(q, "DISCARD ALL") == 0) {
        track_clear_sets(&sv->track);
        track_stmts_clear(&sv->track);
    } else {
        track_sets_unknown(&sv->track);
        track_stmts_unknown(&sv->track);
    }
    sv->state = SV_RESETTING;
    sv->state_sig = 0;
    sv->inflight++;
    if (!conn_send(sv->bev, &b)) server_close(sv, "out of memory");
    wire_buf_free(&b);
}

/* ---- Reading ---- */

/* A ParameterStatus of sv's. A server that turns hot standby under a pool that wants a primary
 * is retired with its idle siblings on the same host (default_transaction_read_only is judged
 * where a client's own SET can be told apart from the server's setting: pool_server_idle). */
static void server_note_param(Server *sv, const char *name, const char *value)
{
    if (sv->pool->tsa != BUDGET_TSA_ANY && strcasecmp(name, "in_hot_standby") == 0 &&
        strcmp(value, "on") == 0)
        pool_retire_host(sv->pool, sv, "server is in hot standby mode");
}

/* A whole backend message outside ACTIVE (sync, reset, idle). False: the server is closed. */
static bool server_control_msg(Server *sv, uint8_t type, const uint8_t *body, uint32_t n)
{
    const char *name, *value, *st, *sev, *msg;
    switch (type) {
    case PqMsg_ParameterStatus:
        if (wire_parse_param_status(body, n, &name, &value)) {
            params_set(&sv->params, name, value);
            server_note_param(sv, name, value);
        }
        return sv->state != SV_CLOSED;
    case PqMsg_ErrorResponse:
        if (!wire_parse_error(body, n, &st, &sev, &msg)) st = sev = msg = "";
        if (sv->state == SV_SYNCING && sv->client && sv->sync_pos < sv->nsync &&
            sv->sync[sv->sync_pos].kind == TRACK_STEP_PARSE && strcmp(sev, "ERROR") == 0) {
            /* The client's own Parse had succeeded elsewhere; here it fails (a dropped table):
             * forget the statement, the client's next use of it fails as it would have. */
            auto_sync_parse_failed(sv->client, sv, sv->sync[sv->sync_pos].name);
            return true;
        }
        log_warn(sv->tag, "%s during %s: %s", st,
                 sv->state == SV_SYNCING     ? "parameter sync"
                 : sv->state == SV_RESETTING ? "reset"
                                             : "idle",
                 msg);
        if (sv->state == SV_SYNCING && sv->client) {
            Client *cl = sv->client;
            char text[512];
            snprintf(text, sizeof text, "%s", msg);
            if (sv->sync_piped) { /* the client's messages are already behind it */
                server_close(sv, "state sync failed");
                client_fail(cl, st[0] ? st : SQLSTATE_PROTOCOL_VIOLATION, text);
                return false;
            }
            sv->client = NULL;
            cl->server = NULL;
            sync_free(sv);
            track_sets_unknown(&sv->track);
            track_stmts_unknown(&sv->track);
            sv->state_sig = 0;
            sv->state = SV_RESETTING; /* finish the query, then reset as usual */
            client_fail(cl, st[0] ? st : SQLSTATE_PROTOCOL_VIOLATION, text);
            return true;
        }
        if (sv->state == SV_IDLE || strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0) {
            server_close(sv, "error from server");
            return false;
        }
        sv->fatal = true; /* a failed reset: do not reuse */
        return true;
    case PqMsg_ReadyForQuery:
        sv->txstatus = (char)body[0];
        if (sv->inflight > 0) sv->inflight--;
        if (sv->state == SV_SYNCING) return server_sync_step_done(sv);
        if (sv->state == SV_IDLE || sv->inflight > 0) {
            if (sv->state == SV_IDLE) server_close(sv, "unexpected ReadyForQuery");
            return sv->state != SV_CLOSED;
        }
        if (!server_is_clean(sv)) {
            server_close(sv, "reset failed");
            return false;
        } else {
            pool_server_idle(sv);
        }
        return true;
    default: return true; /* CommandComplete, NoticeResponse, NotificationResponse, ... */
    }
}

static void server_consume(Server *sv)
{
    struct bufferevent *bev = sv->bev;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint8_t type, msg[CONN_INSPECT_MAX + 1];
    uint32_t len;
    while (sv->state != SV_ACTIVE && sv->state != SV_CLOSED && conn_peek_header(in, &type, &len)) {
        if (wire_check_backend(type, len) != WIRE_OK || len > CONN_INSPECT_MAX) {
            server_close(sv, "invalid message from server");
            return;
        }
        if (evbuffer_get_length(in) < (size_t)len + 1) return;
        /* Taken out before it is handled: handling may hand the server to another worker,
         * which needs an empty input buffer and frees this bufferevent. */
        if (evbuffer_remove(in, msg, (size_t)len + 1) != (int)len + 1) return;
        if (!server_control_msg(sv, type, msg + 5, len - 4) || sv->bev != bev) return;
    }
    if (sv->state == SV_ACTIVE && evbuffer_get_length(in) > 0) server_relay(sv);
}

/* A FATAL from sv's server can be kept from its client and told as an ERROR when the
 * connection ends: an auto-mode client outside a transaction block and between whole messages
 * loses nothing it would keep, and its next transaction gets another server. */
static bool server_may_hide_fatal(const Server *sv)
{
    const Client *cl = sv->client;
    return cl->auto_mode && !cl->pin_reason && !cl->drain_close && sv->txstatus == 'I' &&
           !sv->unsynced && cl->rx.remain == 0;
}

/* Inspect a whole message being relayed to the client (ReadyForQuery, ParameterStatus,
 * ErrorResponse); it is still in the input buffer afterwards. True: drop it, do not relay it
 * (a FATAL held back, see server_may_hide_fatal). */
static bool server_inspect(Server *sv, uint8_t type, const uint8_t *body, uint32_t n)
{
    const char *a, *b, *c;
    PoolStats *st = &sv->pool->stats;
    if (type == PqMsg_ReadyForQuery) {
        sv->txstatus = (char)body[0];
        if (sv->inflight > 0 && --sv->inflight == 0) {
            double now = proxy_now();
            st->query_us += (uint64_t)((now - sv->req_start) * 1e6);
            if (sv->txstatus == 'I') st->xacts++;
            if (sv->client->shape) shape_ready(sv->client, sv->txstatus);
            sv->client->last_active = now; /* idle time counts from the end of a result */
        }
    } else if (type == PqMsg_ParameterStatus) {
        if (wire_parse_param_status(body, n, &a, &b)) {
            params_set(&sv->params, a, b);
            server_note_param(sv, a, b);
        }
    } else if (type == PqMsg_ErrorResponse && wire_parse_error(body, n, &a, &b, &c)) {
        bool fatal = strcmp(b, "FATAL") == 0 || strcmp(b, "PANIC") == 0;
        stats_add_error(st, a);
        if (fatal && server_may_hide_fatal(sv)) {
            sv->held_fatal = true;
            snprintf(sv->lost_sqlstate, sizeof sv->lost_sqlstate, "%s", a);
            snprintf(sv->lost_msg, sizeof sv->lost_msg, "%s", c);
            log_info(sv->tag, "%s from server: %s (%s is told with an ERROR)", a, c,
                     sv->client->tag);
            return true;
        }
        if (sv->client->auto_mode) auto_server_error(sv->client, sv);
        if (fatal) sv->fatal = true;
        /* Opened for read-write, refused a write: a read-only server (or the client's own
         * read-only transaction, which costs only a new connection). */
        if (strcmp(a, SQLSTATE_READ_ONLY_TX) == 0 && sv->pool->tsa == BUDGET_TSA_READ_WRITE &&
            !sv->retire)
            sv->retire = "read-only server (25006 read_only_sql_transaction)";
    }
    return false;
}

bool server_end_retired(Server *sv)
{
    Client *cl = sv->client;
    char msg[300];
    /* An unpinned auto-mode client lets go of it at this ReadyForQuery anyway. */
    if (!cl || (cl->auto_mode && !cl->pin_reason)) return false;
    snprintf(msg, sizeof msg,
             "terminating connection: %s (pgpin follows the pool's target_session_attrs; "
             "connect again)",
             sv->retire);
    client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN, msg);
    return true;
}

/* Relay server -> client by whole or partial messages (forward by length). */
void server_relay(Server *sv)
{
    Client *cl = sv->client;
    struct evbuffer *in = bufferevent_get_input(sv->bev);
    struct evbuffer *out = bufferevent_get_output(cl->bev);
    uint8_t type;
    uint32_t len;
    while (!sv->rx.paused && sv->state == SV_ACTIVE) {
        if (sv->rx.remain > 0) {
            if (!conn_move(in, out, &sv->rx)) break;
            continue;
        }
        if (!conn_peek_header(in, &type, &len)) break;
        if (type == PqMsg_ParseComplete && cl->autost) auto_parse_complete(cl);
        if (wire_check_backend(type, len) != WIRE_OK) {
            log_error(sv->tag, "invalid message from server (type 0x%02x, length %u)", type, len);
            server_close(sv, "protocol violation by server");
            client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "server sent an invalid message");
            return;
        }
        if ((type == PqMsg_ReadyForQuery || type == PqMsg_ParameterStatus ||
             type == PqMsg_ErrorResponse ||
             (type == PqMsg_CommandComplete && auto_wants_tags(cl))) &&
            len <= CONN_INSPECT_MAX) {
            if (evbuffer_get_length(in) < (size_t)len + 1) break;
            uint8_t *p = evbuffer_pullup(in, (ssize_t)len + 1);
            if (p && type == PqMsg_CommandComplete) {
                auto_command_complete(cl, p + 5, len - 4);
            } else if (p && server_inspect(sv, type, p + 5, len - 4)) {
                evbuffer_drain(in, (size_t)len + 1);
                continue;
            }
        }
        sv->rx.remain = len + 1;
        sv->pool->stats.bytes_out += len + 1;
        if (type == PqMsg_ReadyForQuery) {
            conn_move(in, out, &sv->rx);
            if (cl->drain_close && server_is_clean(sv)) {
                client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN,
                            "terminating connection due to administrator command");
                return;
            }
            if (sv->retire && server_is_clean(sv) && server_end_retired(sv)) return;
            if (cl->auto_mode && auto_ready(cl, sv)) {
                conn_flush(cl->bev); /* sv went back to the pool */
                return;
            }
        }
    }
    conn_flush(cl->bev);
    conn_throttle(sv->bev, &sv->rx, cl->bev);
}

static void server_read_cb(struct bufferevent *bev, void *arg)
{
    Server *sv = arg;
    (void)bev;
    if (sv->state == SV_ACTIVE)
        server_relay(sv);
    else if (sv->state != SV_CLOSED)
        server_consume(sv);
}

static void server_write_cb(struct bufferevent *bev, void *arg)
{
    Server *sv = arg;
    Client *cl = sv->client;
    conn_written(bev);
    if ((sv->state == SV_ACTIVE || sv->sync_piped) && cl &&
        conn_unthrottle(cl->bev, &cl->rx, sv->bev))
        client_wake_reader(cl);
}

/* sv's connection ended; what happens to its client:
 *   - not yet logged in, or its messages still waiting for a sync: it queues again;
 *   - auto mode outside a transaction block: each unanswered request fails with the server's
 *     error (or 08006) as an ERROR, and the session goes on (client_server_lost);
 *   - otherwise its session ends: with the FATAL the server sent, or 08006. */
static void server_lost(Server *sv, int err)
{
    Client *cl = sv->client;
    bool mid_message = sv->rx.remain > 0, told = sv->fatal, held = sv->held_fatal;
    bool syncing = sv->state == SV_SYNCING, requeue = syncing && !sv->sync_piped;
    /* Requests of the client's own not yet answered (sync steps are pgpin's). */
    int unanswered = sv->inflight - (syncing ? sv->nsync - sv->sync_pos : 0);
    bool keep = cl && cl->started && !requeue && !mid_message && !told && !sv->unsynced &&
                sv->txstatus == 'I' && cl->auto_mode && !cl->pin_reason && !cl->drain_close &&
                cl->rx.remain == 0;
    char st[6], msg[256];
    snprintf(st, sizeof st, "%s", held ? sv->lost_sqlstate : SQLSTATE_CONNECTION_FAILURE);
    /* ETIMEDOUT and the like: a keepalive or tcp_user_timeout found the server gone. */
    if (held)
        snprintf(msg, sizeof msg, "%s", sv->lost_msg);
    else if (err)
        snprintf(msg, sizeof msg, "server connection lost: %s", evutil_socket_error_to_string(err));
    else
        snprintf(msg, sizeof msg, "server closed the connection unexpectedly");
    log_warn(sv->tag, "server connection lost%s", told || held ? " after FATAL" : "");
    server_close(sv, "server closed the connection");
    if (!cl) return;
    if (!cl->started || requeue)
        client_requeue(cl);
    else if (keep)
        client_server_lost(cl, unanswered > 0 ? unanswered : 0, st, msg);
    else if (mid_message || told)
        client_close(cl, "server connection lost");
    else
        client_fail(cl, st, msg);
}

static void server_event_cb(struct bufferevent *bev, short what, void *arg)
{
    Server *sv = arg;
    /* Read first: later calls may overwrite the socket error. */
    int err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    sv->lost = true; /* not clean any more: the last relay below cannot give it to anyone */
    if (sv->state == SV_ACTIVE && sv->client) {
        sv->rx.paused = false; /* whatever arrived before EOF goes to the client now */
        server_relay(sv);
    }
    server_lost(sv, err);
}

/* ---- Closing ---- */

void server_close(Server *sv, const char *why)
{
    if (sv->state == SV_CLOSED) return;
    Pool *pool = sv->pool;
    bool connecting = sv->state == SV_CONNECTING;
    log_debug(sv->tag, "closing: %s", why);
    if (connecting) pool->nconnecting--;
    if (sv->idle_listed) {
        sv->idle_listed = false;
        TAILQ_REMOVE(&pool->idle, sv, idle_link);
        pool->nidle--;
    }
    TAILQ_REMOVE(&pool->servers, sv, link);
    if (sv->pinned)
        pool->npinned--;
    else
        pool->nservers--;
    pool_server_gone(pool, sv);
    if (sv->client) sv->client->server = NULL;
    sv->client = NULL;
    sv->state = SV_CLOSED;
    if (sv->bev) bufferevent_disable(sv->bev, EV_READ | EV_WRITE);
    if (sv->ev) event_del(sv->ev);
    if (sv->timeout) event_del(sv->timeout);
    TAILQ_INSERT_TAIL(&sv->px->dead_servers, sv, link);
    proxy_schedule_reap(sv->px);
    /* A failed attempt is followed by pool_connect_failed, which decides about retrying. */
    if (!connecting) pool_service(pool);
}

void server_free(Server *sv)
{
    if (sv->bev) bufferevent_free(sv->bev);
    if (sv->conn) PQfinish(sv->conn); /* closes the socket (and TLS) libpq opened */
    if (sv->ev) event_free(sv->ev);
    if (sv->timeout) event_free(sv->timeout);
    params_free(&sv->params);
    sync_free(sv);
    track_free(&sv->track);
    free(sv);
}

/* ---- Cancel: PQcancel blocks, so it runs on a short-lived thread. ---- */

static void *cancel_thread(void *arg)
{
    PGcancel *c = arg;
    char err[256];
    PQcancel(c, err, sizeof err);
    PQfreeCancel(c);
    return NULL;
}

void server_cancel(Server *sv)
{
    PGcancel *c = PQgetCancel(sv->conn);
    pthread_t t;
    pthread_attr_t attr;
    if (!c) return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, cancel_thread, c) != 0) PQfreeCancel(c);
    pthread_attr_destroy(&attr);
}
