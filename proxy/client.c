/* client.c - frontend connections: SSLRequest/GSSENCRequest/CancelRequest/StartupMessage,
 * then a relay to the server the client owns for its session. */
#include "client.h"

#include "admin.h"
#include "auto.h"
#include "budget.h"
#include "conn.h"
#include "log.h"
#include "login.h"
#include "pause.h"
#include "tls.h"
#include "worker.h"
#include "pool.h"
#include "pqmsg.h"
#include "server.h"
#include "shape.h"
#include "tcp.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a client may send before it has a server (pipelined after startup). */
#define CLIENT_PRELINK_MAX (1024 * 1024)

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void client_timer_cb(evutil_socket_t fd, short what, void *arg);
static void client_queue(Client *cl);
static void client_relay(Client *cl);

/* The peer's address for SHOW CLIENTS (admin.c), read once. */
static void client_peer(Client *cl)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(cl->fd, (struct sockaddr *)&ss, &len) != 0) return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, cl->peer_addr, sizeof cl->peer_addr);
        cl->peer_port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, cl->peer_addr, sizeof cl->peer_addr);
        cl->peer_port = ntohs(a->sin6_port);
    }
}

static void timer_start(Client *cl, double seconds)
{
    evtimer_del(cl->timer);
    if (seconds <= 0) return;
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
    evtimer_add(cl->timer, &tv);
}

void client_accept(Proxy *px, evutil_socket_t fd)
{
    Client *cl = calloc(1, sizeof *cl);
    int one = 1;
    if (!cl) {
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    cl->px = px;
    cl->cfg = cfg_ref(px->cfg);
    /* Keepalives (and the user timeout): a client that vanished lets its server go. */
    if (!tcp_setup_client(fd, cl->cfg)) log_debug(NULL, "tcp options: %s", strerror(errno));
    cl->state = CL_STARTUP;
    /* The worker's index rides in the top byte, so a CancelRequest reaching any worker finds
     * the one that holds the client. */
    cl->key_pid = (uint32_t)px->index << 24 | (++px->next_id & 0xffffff);
    cl->key_secret = proxy_random(px);
    snprintf(cl->tag, sizeof cl->tag, "C-%u", cl->key_pid);
    TAILQ_INSERT_TAIL(&px->clients, cl, link);
    px->nclients++;
    atomic_fetch_add(&px->root->nclients, 1);
    cl->fd = fd;
    cl->accepted_at = proxy_now();
    client_peer(cl);
    /* The plain bufferevent does not own fd: a TLS one replaces it after SSLRequest. */
    cl->bev = bufferevent_socket_new(px->base, fd, 0);
    cl->timer = evtimer_new(px->base, client_timer_cb, cl);
    if (!cl->bev || !cl->timer) {
        client_close(cl, "out of memory");
        return;
    }
    bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
    conn_setup(cl->bev);
    bufferevent_enable(cl->bev, EV_READ);
    timer_start(cl, cl->cfg->client_login_timeout);
}

/* ---- Startup ---- */

/* Split libpq's `options` (-c name=value, -cname=value, --name=value; backslash escapes) into
 * cl->want. False with a message for anything else. */
static bool parse_options(Client *cl, const char *opts, char *err, size_t errlen)
{
    char tok[1024];
    bool expect_c = false;
    const char *s = opts;
    for (;;) {
        size_t n = 0;
        while (*s == ' ' || *s == '\t' || *s == '\n')
            s++;
        if (!*s) break;
        while (*s && *s != ' ' && *s != '\t' && *s != '\n' && n + 1 < sizeof tok) {
            if (*s == '\\' && s[1]) s++;
            tok[n++] = *s++;
        }
        tok[n] = '\0';
        const char *kv = tok;
        if (!expect_c && strcmp(tok, "-c") == 0) {
            expect_c = true;
            continue;
        }
        if (!expect_c && strncmp(tok, "-c", 2) == 0)
            kv = tok + 2;
        else if (!expect_c && strncmp(tok, "--", 2) == 0)
            kv = tok + 2;
        else if (!expect_c)
            goto bad;
        expect_c = false;
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv) goto bad;
        *eq = '\0';
        if (!params_set(&cl->want, kv, eq + 1)) goto bad;
    }
    if (!expect_c) return true;
bad:
    snprintf(err, errlen, "unsupported startup option in \"options\": %.200s", opts);
    return false;
}

/* Turn startup parameters into the GUCs to apply. False after failing the client. */
static bool client_collect_params(Client *cl, const WireStartup *su)
{
    const char *unrec[WIRE_MAX_STARTUP_PARAMS];
    int nunrec = 0;
    char err[300];
    for (int i = 0; i < su->nparams; i++) {
        const char *n = su->names[i], *v = su->values[i];
        if (strcmp(n, "user") == 0 || strcmp(n, "database") == 0) continue;
        if (strncmp(n, "_pq_.", 5) == 0) {
            unrec[nunrec++] = n;
        } else if (strcmp(n, "replication") == 0) {
            if (strcmp(v, "false") && strcmp(v, "off") && strcmp(v, "0") && strcmp(v, "no")) {
                client_fail(cl, SQLSTATE_FEATURE_NOT_SUPPORTED,
                            "replication connections are not supported by pgpin");
                return false;
            }
        } else if (strcmp(n, "options") == 0) {
            if (!parse_options(cl, v, err, sizeof err)) {
                client_fail(cl, SQLSTATE_FEATURE_NOT_SUPPORTED, err);
                return false;
            }
        } else if (!params_set(&cl->want, n, v)) {
            client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "too many startup parameters");
            return false;
        }
    }
    if (nunrec > 0 || (su->version & 0xffff) != 0) {
        /* We speak 3.0 and no protocol extensions: say so, as Postgres does. */
        WireBuf b;
        wire_buf_init(&b);
        wire_build_negotiate_version(&b, 0, nunrec, unrec);
        conn_send(cl->bev, &b);
        wire_buf_free(&b);
    }
    return true;
}

/* Authenticated (or trust): find the database and queue for a server. */
static void client_login_ok(Client *cl)
{
    Proxy *px = cl->px;
    char msg[300];
    login_free(cl);
    if (admin_wanted(cl)) { /* database "pgpin": pgpin's own console (admin.c) */
        admin_start(cl);
        return;
    }
    const CfgDatabase *db = cfg_find_db(cl->cfg, cl->database);
    if (!db) {
        snprintf(msg, sizeof msg, "database \"%.200s\" does not exist in pgpin's [databases]",
                 cl->database);
        client_fail(cl, SQLSTATE_INVALID_CATALOG_NAME, msg);
        return;
    }
    Pool *pool = pool_get(px, db, cl->database, cl->user);
    if (!pool || !auto_client_init(cl, db->pool_mode == CFG_POOL_AUTO)) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return;
    }
    cl->pool = pool;
    log_info(cl->tag, "login %s@%s", cl->user, cl->database);
    client_queue(cl);
}

/* Wait in the pool's queue for a server (at login, and in auto mode before each transaction). */
static void client_queue(Client *cl)
{
    double wait = cl->cfg->query_wait_timeout, notice = cl->cfg->query_wait_notice;
    cl->wait_noticed = false;
    cl->state_sig = auto_state_sig(cl);
    timer_start(cl, notice > 0 && (wait <= 0 || notice < wait) ? notice : wait);
    pool_enqueue(cl->pool, cl);
}

/* Why cl waits: the server is unreachable, its budget, or its pool's size. */
static void client_wait_reason(Client *cl, char *buf, size_t len)
{
    Pool *pool = cl->pool;
    if (pool->down) {
        snprintf(buf, len, "server unreachable for %.0f s, pgpin retries with backoff: %.250s",
                 proxy_now() - pool->down_since, pool->down_msg);
        return;
    }
    budget_describe(pool->budget, buf, len);
    if (buf[0]) return;
    if (pool->paused)
        snprintf(buf, len, "database \"%.100s\" is paused", pool->dbname);
    else
        snprintf(buf, len, "pool %.100s/%.100s is full: pool_size %d, %d open", pool->dbname,
                 pool->user, pool->size, atomic_load(&pool->shared->nservers));
}

/* query_wait_notice passed: tell the client it is queued and why, once. */
static void client_wait_notice(Client *cl)
{
    char why[400], msg[512];
    WireBuf b;
    double waited = proxy_now() - cl->wait_since, limit = cl->cfg->query_wait_timeout;
    cl->wait_noticed = true;
    client_wait_reason(cl, why, sizeof why);
    snprintf(msg, sizeof msg, "pgpin: waiting %.0f s for a server connection: %s", waited, why);
    wire_buf_init(&b);
    /* libpq takes notices only after AuthenticationOk. It is sent as late as this so that a
     * login the server refuses at once looks as it would from Postgres (no AuthenticationOk
     * before the error). */
    if (!cl->auth_ok_sent) wire_build_auth_ok(&b);
    wire_build_notice(&b, "00000", msg);
    cl->auth_ok_sent = conn_send(cl->bev, &b);
    wire_buf_free(&b);
    if (limit > 0) timer_start(cl, limit - waited > 0.001 ? limit - waited : 0.001);
}

/* TLS rules on the finished startup: required, and for verify-full the certificate's CN must be
 * the user name. False after failing the client. */
static bool client_tls_ok(Client *cl)
{
    CfgSslMode mode = cl->cfg->client_tls_sslmode;
    char cn[256];
    if (!cl->tls) {
        if (mode < CFG_SSL_REQUIRE) return true;
        client_fail(cl, SQLSTATE_INVALID_AUTH_SPEC,
                    "SSL required: pgpin's client_tls_sslmode refuses unencrypted connections");
        return false;
    }
    if (mode != CFG_SSL_VERIFY_FULL) return true;
    SSL *ssl = bufferevent_openssl_get_ssl(cl->bev);
    if (ssl && tls_peer_cn(ssl, cn, sizeof cn) && strcmp(cn, cl->user) == 0) return true;
    client_fail(cl, SQLSTATE_INVALID_AUTH_SPEC,
                "certificate common name does not match the user name");
    return false;
}

static void client_startup_done(Client *cl, const WireStartup *su)
{
    cl->user = su->user;
    cl->database = su->database;
    /* Checked here, as Postgres does, not at accept: an SSLRequest is still answered (libpq
     * hides errors sent in reply to it) and a CancelRequest still served when full. */
    if (atomic_load(&cl->px->root->nclients) > cl->cfg->max_client_conn) {
        client_fail(cl, SQLSTATE_TOO_MANY_CONNECTIONS,
                    "no more connections allowed (max_client_conn)");
        return;
    }
    if (!client_collect_params(cl, su) || !client_tls_ok(cl)) return;
    if (cl->px->draining) {
        client_fail(cl, SQLSTATE_CANNOT_CONNECT_NOW, "pgpin is shutting down");
        return;
    }
    cl->state = CL_AUTH;
    if (login_start(cl)) client_login_ok(cl);
}

/* SSLRequest: answer 'S' and start the handshake on the same socket, or 'N'. */
static void client_ssl_request(Client *cl)
{
    Proxy *px = cl->px;
    if (!px->tls || cl->tls) {
        conn_write(cl->bev, "N", 1);
        return;
    }
    /* Bytes after the request would have been sent in the clear (CVE-2021-23222 class). */
    if (evbuffer_get_length(bufferevent_get_input(cl->bev)) > 0) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "received unencrypted data after SSL request");
        return;
    }
    SSL *ssl = SSL_new(px->tls);
    /* The plain bufferevent's output is empty: write the one byte directly, then swap. */
    if (!ssl || write(cl->fd, "S", 1) != 1) {
        if (ssl) SSL_free(ssl);
        client_close(cl, "cannot start TLS");
        return;
    }
    struct bufferevent *tb = bufferevent_openssl_socket_new(
        px->base, cl->fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!tb) {
        SSL_free(ssl);
        client_close(cl, "cannot start TLS");
        return;
    }
    bufferevent_free(cl->bev);
    cl->bev = tb;
    cl->tls = true;
    bufferevent_setcb(cl->bev, client_read_cb, client_write_cb, client_event_cb, cl);
    bufferevent_enable(cl->bev, EV_READ);
}

void client_cancel_local(Proxy *px, uint32_t pid, uint32_t key)
{
    Client *t;
    TAILQ_FOREACH(t, &px->clients, link)
    {
        if (t->key_pid == pid && t->key_secret == key) {
            if (shape_cancel(t)) return; /* a write waiting for its token: 57014 now */
            if (t->server && (t->server->state == SV_ACTIVE || t->server->sync_piped))
                server_cancel(t->server);
            return;
        }
    }
}

static void client_cancel_request(Client *cl, uint32_t pid, uint32_t key)
{
    Root *root = cl->px->root;
    int target = (int)(pid >> 24);
    if (target == cl->px->index) {
        client_cancel_local(cl->px, pid, key);
    } else if (target < root->nworkers) {
        Msg *m = calloc(1, sizeof *m);
        if (m) {
            m->kind = MSG_CANCEL, m->pid = pid, m->key = key;
            worker_post(root->workers[target], m);
        }
    }
    client_close(cl, "cancel request"); /* Postgres answers nothing either */
}

/* One startup-phase packet is buffered whole. False when more bytes are needed. */
static bool client_startup_packet(Client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    uint8_t hdr[4];
    const char *st;
    char err[200];
    WireStartup su; /* on the stack: only user and database outlive this function */
    if (evbuffer_copyout(in, hdr, 4) != 4) return false;
    uint32_t len = wire_startup_len(hdr);
    if (len == 0) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, "invalid length of startup packet");
        return true;
    }
    if (evbuffer_get_length(in) < len) return false;
    free(cl->startup);
    cl->startup = malloc(len);
    if (!cl->startup || evbuffer_remove(in, cl->startup, len) != (int)len) {
        client_close(cl, "out of memory");
        return true;
    }
    if (!wire_parse_startup(cl->startup, len, &su, &st, err, sizeof err)) {
        client_fail(cl, st, err);
        return true;
    }
    switch (su.kind) {
    case WIRE_SU_SSL: client_ssl_request(cl); return true;
    case WIRE_SU_GSSENC: conn_write(cl->bev, "N", 1); return true; /* no GSSAPI */
    case WIRE_SU_CANCEL: client_cancel_request(cl, su.cancel_pid, su.cancel_key); return true;
    case WIRE_SU_STARTUP: client_startup_done(cl, &su); return true;
    }
    return true;
}

/* ---- Attached: relay ---- */

/* Auto mode: linked again for the next transaction. */
static void client_relinked(Client *cl)
{
    evtimer_del(cl->timer);
    cl->state = CL_ACTIVE;
    stats_add_wait(&cl->pool->stats, proxy_now() - cl->wait_since);
    log_debug(cl->tag, "linked to %s", cl->server->tag);
    bufferevent_enable(cl->bev, EV_READ);
    client_relay(cl);
    if (cl->state == CL_ACTIVE) auto_release_if_idle(cl);
}

void client_attached(Client *cl)
{
    Server *sv = cl->server;
    WireBuf b;
    if (cl->started) {
        client_relinked(cl);
        return;
    }
    cl->started = true;
    wire_buf_init(&b);
    if (!cl->auth_ok_sent) wire_build_auth_ok(&b);
    cl->auth_ok_sent = true; /* a wait NOTICE in a later auto-mode wait must not send it again */
    for (int i = 0; i < sv->params.n; i++)
        wire_build_param_status(&b, sv->params.name[i], sv->params.value[i]);
    wire_build_backend_key(&b, cl->key_pid, cl->key_secret);
    wire_build_ready(&b, sv->txstatus);
    evtimer_del(cl->timer);
    cl->state = CL_ACTIVE;
    cl->last_active = proxy_now();
    stats_add_wait(&cl->pool->stats, cl->last_active - cl->wait_since);
    bool ok = conn_send(cl->bev, &b);
    wire_buf_free(&b);
    if (!ok) {
        client_close(cl, "out of memory");
        return;
    }
    log_debug(cl->tag, "linked to %s", sv->tag);
    bufferevent_enable(cl->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(cl->bev)) > 0) client_wake_reader(cl);
    if (cl->auto_mode && cl->state == CL_ACTIVE) auto_release_if_idle(cl);
}

/* Note what a frontend message does to the server's request accounting. */
static void count_request(Client *cl, Server *sv, uint8_t type)
{
    switch (type) {
    case PqMsg_Sync: sv->unsynced = false; /* fall through */
    case PqMsg_Query:
    case PqMsg_FunctionCall:
        if (sv->inflight++ == 0) sv->req_start = cl->last_active;
        cl->pool->stats.queries++;
        break;
    case PqMsg_Parse:
    case PqMsg_Bind:
    case PqMsg_Describe:
    case PqMsg_Execute:
    case PqMsg_Close:
    case PqMsg_Flush: sv->unsynced = true; break;
    default: break;
    }
}

/* A frontend message header is acceptable: else the client is failed and false returned. */
static bool client_check_header(Client *cl, uint8_t type, uint32_t len)
{
    char msg[120];
    WireCheck chk = wire_check_frontend(type, len, (uint32_t)cl->cfg->max_packet_size);
    if (chk == WIRE_OK) return true;
    if (chk == WIRE_BAD_TYPE)
        snprintf(msg, sizeof msg, "invalid frontend message type %d", type);
    else
        snprintf(msg, sizeof msg, "%s (type '%c', length %u)", wire_check_str(chk), type, len);
    client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION, msg);
    return false;
}

/* Auto mode: show a message to auto.c before it is relayed (Query, Parse and Close whole).
 * 1: relay it; 0: wait for the rest of it; -1: the client was closed. */
static int client_auto_msg(Client *cl, Server *sv, struct evbuffer *in, uint8_t type, uint32_t len)
{
    const uint8_t *body = NULL;
    if (type == PqMsg_Query || type == PqMsg_Parse || type == PqMsg_Close) {
        if (evbuffer_get_length(in) < (size_t)len + 1) return 0;
        uint8_t *p = evbuffer_pullup(in, (ssize_t)len + 1);
        if (!p) {
            client_close(cl, "out of memory");
            return -1;
        }
        body = p + 5;
    }
    if (!auto_client_msg(cl, sv, type, body, len - 4)) {
        client_fail(cl, SQLSTATE_INTERNAL_ERROR, "out of memory");
        return -1;
    }
    return 1;
}

static void client_relay(Client *cl)
{
    Server *sv = cl->server;
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    struct evbuffer *out = bufferevent_get_output(sv->bev);
    uint8_t type;
    uint32_t len;
    while (!cl->rx.paused && cl->state == CL_ACTIVE) {
        if (cl->rx.remain > 0) {
            if (!conn_move(in, out, &cl->rx)) break;
            continue;
        }
        if (!conn_peek_header(in, &type, &len)) break;
        if (!client_check_header(cl, type, len)) return;
        if (type == PqMsg_Terminate) {
            evbuffer_drain(in, 5);
            client_close(cl, "client terminated");
            return;
        }
        if (cl->pool->paused && pause_hold(cl)) break; /* PAUSE: held at a boundary (pause.c) */
        if (shape_active(cl) || cl->shape) {
            int r = shape_client_msg(cl, in, type, len); /* write shaping (shape.c) */
            if (r == SHAPE_AGAIN) continue;
            if (r != SHAPE_RELAY) {
                if (r == SHAPE_CLOSED) return;
                break;
            }
        }
        if (cl->auto_mode && !cl->pin_reason) {
            int r = client_auto_msg(cl, sv, in, type, len);
            if (r < 0) return;
            if (r == 0) break;
        }
        count_request(cl, sv, type);
        cl->rx.remain = len + 1;
        cl->pool->stats.bytes_in += len + 1;
    }
    conn_flush(sv->bev);
    conn_throttle(cl->bev, &cl->rx, sv->bev);
}

/* Auto mode, between transactions: the first message queues the client for a server. */
static void client_idle_read(Client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    uint8_t type;
    uint32_t len;
    for (;;) {
        if (!conn_peek_header(in, &type, &len) || !client_check_header(cl, type, len)) return;
        if (type == PqMsg_Terminate) {
            evbuffer_drain(in, 5);
            client_close(cl, "client terminated");
            return;
        }
        /* A write waits for its token before it takes a server. */
        int r = shape_active(cl) || cl->shape ? shape_client_msg(cl, in, type, len) : SHAPE_RELAY;
        if (r == SHAPE_AGAIN) continue;
        if (r == SHAPE_RELAY) client_queue(cl);
        return;
    }
}

void client_resume_input(Client *cl)
{
    if (cl->state == CL_ACTIVE && cl->server)
        client_relay(cl);
    else if (cl->state == CL_IDLE)
        client_idle_read(cl);
}

void client_wake_reader(Client *cl)
{
    if (cl->state == CL_ACTIVE && cl->server) client_relay(cl);
}

void client_requeue(Client *cl)
{
    log_info(cl->tag, "its server was lost before use: waiting for another");
    cl->state_sig = auto_state_sig(cl);
    pool_enqueue(cl->pool, cl);
}

void client_server_lost(Client *cl, int unanswered, const char *sqlstate, const char *msg)
{
    WireBuf b;
    wire_buf_init(&b);
    for (int i = 0; i < unanswered; i++) {
        wire_build_error(&b, "ERROR", sqlstate, msg);
        wire_build_ready(&b, 'I');
    }
    log_info(cl->tag, "server lost: %d request(s) failed with %s; the session goes on", unanswered,
             sqlstate);
    if (unanswered > 0) stats_add_error(&cl->pool->stats, sqlstate);
    auto_server_lost(cl);
    cl->state = CL_IDLE;
    cl->rx.paused = false; /* its server's output is gone with it */
    bool ok = conn_send(cl->bev, &b);
    wire_buf_free(&b);
    if (!ok) {
        client_close(cl, "out of memory");
        return;
    }
    bufferevent_enable(cl->bev, EV_READ);
    client_idle_read(cl); /* what it sent meanwhile starts its next transaction */
}

/* One whole message during authentication. False when more bytes are needed. */
static bool client_auth_packet(Client *cl)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    uint8_t type;
    uint32_t len;
    if (!conn_peek_header(in, &type, &len)) return false;
    if (type != PqMsg_PasswordMessage || len < 4 || len > PQ_SMALL_MSG_MAX) {
        client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION,
                    "expected password response during authentication");
        return true;
    }
    if (evbuffer_get_length(in) < (size_t)len + 1) return false;
    uint8_t *p = evbuffer_pullup(in, (ssize_t)len + 1);
    if (!p) {
        client_close(cl, "out of memory");
        return true;
    }
    bool done = login_message(cl, type, p + 5, len - 4);
    evbuffer_drain(in, (size_t)len + 1);
    if (done) client_login_ok(cl);
    return true;
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
    Client *cl = arg;
    switch (cl->state) {
    case CL_STARTUP:
        while (cl->state == CL_STARTUP && client_startup_packet(cl)) {
        }
        break;
    case CL_AUTH:
        while (cl->state == CL_AUTH && client_auth_packet(cl)) {
        }
        break;
    case CL_WAITING:
        /* Pipelined before we have a server: hold it, but only so much. */
        if (evbuffer_get_length(bufferevent_get_input(bev)) > CLIENT_PRELINK_MAX)
            bufferevent_disable(bev, EV_READ);
        break;
    case CL_ACTIVE:
        cl->last_active = proxy_now();
        client_relay(cl);
        break;
    case CL_IDLE:
        cl->last_active = proxy_now();
        client_idle_read(cl);
        break;
    case CL_ADMIN: admin_read(cl); break;
    case CL_FLUSH_CLOSE: evbuffer_drain(bufferevent_get_input(bev), (size_t)-1); break;
    case CL_CLOSED: break;
    }
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
    Client *cl = arg;
    conn_written(bev);
    if (cl->state == CL_FLUSH_CLOSE) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) client_close(cl, "error sent");
        return;
    }
    Server *sv = cl->server;
    if (cl->state == CL_ACTIVE && sv && conn_unthrottle(sv->bev, &sv->rx, cl->bev))
        server_relay(sv);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    Client *cl = arg;
    int err = (what & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
    (void)bev;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) return;
    /* A keepalive or tcp_user_timeout found the client gone: worth a line at info. */
    if (err == ETIMEDOUT)
        log_info(cl->tag, "client connection lost: %s%s", evutil_socket_error_to_string(err),
                 cl->server ? ", letting its server go" : "");
    client_close(cl, err ? evutil_socket_error_to_string(err) : "client disconnected");
}

static void client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    Client *cl = arg;
    char msg[600];
    (void)fd, (void)what;
    if (cl->state == CL_STARTUP || cl->state == CL_AUTH) {
        SSL *ssl = cl->tls ? bufferevent_openssl_get_ssl(cl->bev) : NULL;
        if (ssl && !SSL_is_init_finished(ssl)) /* no channel to say anything on */
            client_close(cl, "client_login_timeout during the TLS handshake");
        else
            client_fail(cl, SQLSTATE_PROTOCOL_VIOLATION,
                        "client_login_timeout: startup not completed");
    } else if (cl->state == CL_WAITING && !cl->wait_noticed && cl->cfg->query_wait_notice > 0) {
        client_wait_notice(cl);
    } else if (cl->state == CL_WAITING) {
        char why[400];
        client_wait_reason(cl, why, sizeof why);
        snprintf(msg, sizeof msg,
                 "no server connection for database \"%.100s\" within query_wait_timeout (%gs): "
                 "%s",
                 cl->database, cl->cfg->query_wait_timeout, why);
        /* An unreachable server: its own error class (08, 57), which drivers retry. */
        client_fail(cl, cl->pool->down ? cl->pool->down_sqlstate : SQLSTATE_TOO_MANY_CONNECTIONS,
                    msg);
    } else if (cl->state == CL_FLUSH_CLOSE) {
        client_close(cl, "client did not read its error");
    }
}

/* ---- Ending ---- */

/* Let go of the pool queue place or the server. */
static void client_unlink(Client *cl)
{
    if (cl->queued) pool_dequeue(cl->pool, cl);
    Server *sv = cl->server;
    if (sv) {
        cl->server = NULL;
        sv->client = NULL;
        if (cl->auto_mode && !cl->pin_reason) {
            sv->state_sig = auto_state_sig(cl);
            pool_return(sv); /* no session state to reset: the next sync handles it */
        } else
            pool_release(sv);
    }
}

void client_fail(Client *cl, const char *sqlstate, const char *msg)
{
    if (cl->state == CL_CLOSED || cl->state == CL_FLUSH_CLOSE) return;
    /* Mid-message toward the client: an error now would corrupt the stream. */
    if (cl->server && cl->server->rx.remain > 0) {
        client_close(cl, msg);
        return;
    }
    log_info(cl->tag, "closing with %s: %s", sqlstate, msg);
    if (cl->pool) stats_add_error(&cl->pool->stats, sqlstate);
    client_unlink(cl);
    WireBuf b;
    wire_buf_init(&b);
    wire_build_error(&b, "FATAL", sqlstate, msg);
    bool ok = conn_send(cl->bev, &b);
    wire_buf_free(&b);
    cl->state = CL_FLUSH_CLOSE;
    if (!ok) {
        client_close(cl, "out of memory");
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
        client_close(cl, "error sent"); /* written at once */
        return;
    }
    bufferevent_disable(cl->bev, EV_READ);
    bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
    timer_start(cl, 5.0); /* a client that never reads its error is dropped */
}

void client_close(Client *cl, const char *why)
{
    Proxy *px = cl->px;
    if (cl->state == CL_CLOSED) return;
    log_debug(cl->tag, "closing: %s", why);
    client_unlink(cl);
    shape_client_free(cl); /* out of the write queue: no token goes to a closed client */
    cl->state = CL_CLOSED;
    if (cl->bev) bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
    if (cl->timer) evtimer_del(cl->timer);
    TAILQ_REMOVE(&px->clients, cl, link);
    px->nclients--;
    atomic_fetch_sub(&px->root->nclients, 1);
    TAILQ_INSERT_TAIL(&px->dead_clients, cl, link);
    proxy_schedule_reap(px);
    proxy_maybe_finish_drain(px);
}

void client_drain(Client *cl)
{
    switch (cl->state) {
    case CL_STARTUP:
    case CL_AUTH:
    case CL_WAITING:
    case CL_ADMIN: client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN, "pgpin is shutting down"); break;
    case CL_IDLE:
        client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN,
                    "terminating connection due to administrator command");
        break;
    case CL_ACTIVE:
        if (cl->server && server_is_clean(cl->server))
            client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN,
                        "terminating connection due to administrator command");
        else
            cl->drain_close = true;
        break;
    case CL_FLUSH_CLOSE:
    case CL_CLOSED: break;
    }
}

void client_janitor(Proxy *px)
{
    double idle = px->cfg->client_idle_timeout, now = proxy_now();
    Client *cl, *next;
    if (idle <= 0) return;
    for (cl = TAILQ_FIRST(&px->clients); cl; cl = next) {
        next = TAILQ_NEXT(cl, link);
        /* A client PAUSE holds is not idle: its next message is waiting for RESUME. */
        bool quiet = cl->state == CL_IDLE || (cl->state == CL_ACTIVE && !cl->held && cl->server &&
                                              server_is_clean(cl->server));
        if (quiet && now - cl->last_active > idle)
            client_fail(cl, SQLSTATE_ADMIN_SHUTDOWN,
                        "closing connection after client_idle_timeout");
    }
}

void client_free(Client *cl)
{
    if (cl->bev) bufferevent_free(cl->bev); /* a TLS bufferevent closes fd and frees SSL */
    if (!cl->tls) evutil_closesocket(cl->fd);
    if (cl->timer) event_free(cl->timer);
    login_free(cl);
    auto_client_free(cl);
    admin_free(cl);
    params_free(&cl->want);
    cfg_unref(cl->cfg);
    free(cl->startup);
    free(cl);
}
