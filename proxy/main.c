/* main.c - command line, config load, listeners, signals and the run loop. */
#include "client.h"
#include "config.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "server.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "pgpin %s - a session-aware PostgreSQL proxy for DBOS\n\n"
            "Usage: pgpin CONFIG      run the proxy with the INI file CONFIG\n"
            "       pgpin --version   print the version\n"
            "       pgpin --help      this text\n\n"
            "Signals: SIGHUP reloads CONFIG, SIGTERM drains (finish transactions, up to\n"
            "shutdown_timeout), SIGINT stops at once. Logs go to stderr.\n",
            PGPIN_VERSION);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)l, (void)sa, (void)socklen;
    client_accept(arg, fd);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l, (void)arg;
    log_warn(NULL, "accept failed: %s", strerror(errno)); /* e.g. EMFILE: keep running */
}

/* Bind one listener per address of each comma-separated listen_addr item ("*" = any). */
static bool listen_all(Proxy *px)
{
    char *addrs = strdup(px->cfg->listen_addr), *save = NULL, port[16];
    snprintf(port, sizeof port, "%d", px->cfg->listen_port);
    for (char *a = strtok_r(addrs, ", ", &save); a; a = strtok_r(NULL, ", ", &save)) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE},
                        *res, *ai;
        int rc = getaddrinfo(strcmp(a, "*") == 0 ? NULL : a, port, &hints, &res);
        if (rc != 0) {
            log_error(NULL, "cannot resolve listen_addr %s: %s", a, gai_strerror(rc));
            free(addrs);
            return false;
        }
        for (ai = res; ai && px->nlisteners < 16; ai = ai->ai_next) {
            struct evconnlistener *l = evconnlistener_new_bind(
                px->base, accept_cb, px, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 1024,
                ai->ai_addr, (int)ai->ai_addrlen);
            if (!l) {
                log_error(NULL, "cannot listen on %s port %s: %s", a, port, strerror(errno));
                freeaddrinfo(res);
                free(addrs);
                return false;
            }
            evconnlistener_set_error_cb(l, accept_error_cb);
            px->listeners[px->nlisteners++] = l;
        }
        freeaddrinfo(res);
    }
    free(addrs);
    log_info(NULL, "listening on %s port %d", px->cfg->listen_addr, px->cfg->listen_port);
    return px->nlisteners > 0;
}

/* Keys the config accepts ahead of the code that implements them: say so, never pretend. */
static void warn_unimplemented(const Config *cfg)
{
    if (cfg->pool_mode == CFG_POOL_AUTO)
        log_warn(NULL, "pool_mode = auto is not implemented yet: every client gets a session "
                       "(session mode keeps all session semantics)");
    if (cfg->workers > 1)
        log_warn(NULL, "workers = %d: multi-threading is not implemented yet, using one thread",
                 cfg->workers);
}

/* Swap in the client TLS context cfg asks for (certificates are re-read each time). */
static bool tls_setup(Proxy *px, const Config *cfg)
{
    char err[512];
    SSL_CTX *ctx = tls_server_ctx_new(cfg, err, sizeof err);
    if (!ctx && err[0]) {
        log_error(NULL, "client TLS: %s", err);
        return false;
    }
    if (px->tls) SSL_CTX_free(px->tls); /* connections keep their own reference */
    px->tls = ctx;
    return true;
}

static void reload(Proxy *px)
{
    char err[512], keys[256];
    Config *cfg = cfg_load(px->cfg_path, err, sizeof err);
    if (!cfg || !tls_setup(px, cfg)) {
        log_error(NULL, "reload failed, keeping the running configuration: %s",
                  cfg ? "client TLS setup failed" : err);
        cfg_unref(cfg);
        return;
    }
    if (cfg_restart_keys_changed(px->cfg, cfg, keys, sizeof keys) > 0)
        log_warn(NULL, "changed keys need a restart to take effect: %s", keys);
    cfg_unref(px->cfg);
    px->cfg = cfg;
    log_set_level(cfg->log_level);
    warn_unimplemented(cfg);
    pool_reload(px);
    log_info(NULL, "configuration reloaded from %s", px->cfg_path);
}

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *px = arg;
    (void)fd, (void)what;
    log_warn(NULL, "shutdown_timeout reached: closing %d clients", px->nclients);
    Client *cl;
    while ((cl = TAILQ_FIRST(&px->clients)) != NULL)
        client_close(cl, "shutdown_timeout");
    event_base_loopexit(px->base, NULL);
}

static void drain(Proxy *px)
{
    if (px->draining) return;
    px->draining = true;
    log_info(NULL, "SIGTERM: draining %d clients (shutdown_timeout %gs)", px->nclients,
             px->cfg->shutdown_timeout);
    /* Close the sockets, not just stop accepting: the kernel would keep completing
     * handshakes into the backlog and those clients would hang instead of being refused. */
    for (int i = 0; i < px->nlisteners; i++)
        evconnlistener_free(px->listeners[i]);
    px->nlisteners = 0;
    double t = px->cfg->shutdown_timeout;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    px->shutdown_timer = evtimer_new(px->base, shutdown_timeout_cb, px);
    if (px->shutdown_timer) evtimer_add(px->shutdown_timer, &tv);
    Client *cl, *next;
    for (cl = TAILQ_FIRST(&px->clients); cl; cl = next) {
        next = TAILQ_NEXT(cl, link);
        client_drain(cl);
    }
    proxy_maybe_finish_drain(px);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    Proxy *px = arg;
    (void)what;
    if (sig == SIGHUP) {
        reload(px);
    } else if (sig == SIGTERM) {
        drain(px);
    } else {
        log_info(NULL, "SIGINT: stopping now");
        event_base_loopexit(px->base, NULL);
    }
}

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pool_janitor(arg);
    client_janitor(arg);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *px = arg;
    Client *cl;
    Server *sv;
    (void)fd, (void)what;
    while ((cl = TAILQ_FIRST(&px->dead_clients)) != NULL) {
        TAILQ_REMOVE(&px->dead_clients, cl, link);
        client_free(cl);
    }
    while ((sv = TAILQ_FIRST(&px->dead_servers)) != NULL) {
        TAILQ_REMOVE(&px->dead_servers, sv, link);
        server_free(sv);
    }
}

static bool proxy_init(Proxy *px)
{
    struct timeval sec = {1, 0};
    TAILQ_INIT(&px->clients);
    TAILQ_INIT(&px->dead_clients);
    TAILQ_INIT(&px->dead_servers);
    TAILQ_INIT(&px->pools);
    if (RAND_bytes((unsigned char *)&px->rng, sizeof px->rng) != 1 || px->rng == 0)
        px->rng = (uint64_t)time(NULL) | 1;
    if (!auth_mock_key_init(&px->mock_key) || !tls_setup(px, px->cfg)) return false;
    px->base = event_base_new();
    if (!px->base) return false;
    px->sig_hup = evsignal_new(px->base, SIGHUP, signal_cb, px);
    px->sig_term = evsignal_new(px->base, SIGTERM, signal_cb, px);
    px->sig_int = evsignal_new(px->base, SIGINT, signal_cb, px);
    px->janitor = event_new(px->base, -1, EV_PERSIST, janitor_cb, px);
    px->reaper = event_new(px->base, -1, 0, reap_cb, px);
    if (!px->sig_hup || !px->sig_term || !px->sig_int || !px->janitor || !px->reaper) return false;
    event_add(px->sig_hup, NULL);
    event_add(px->sig_term, NULL);
    event_add(px->sig_int, NULL);
    event_add(px->janitor, &sec);
    return listen_all(px);
}

static void proxy_teardown(Proxy *px)
{
    Client *cl;
    Pool *pool;
    while ((cl = TAILQ_FIRST(&px->clients)) != NULL)
        client_close(cl, "stopping");
    TAILQ_FOREACH(pool, &px->pools, link)
    {
        Server *sv;
        while ((sv = TAILQ_FIRST(&pool->servers)) != NULL)
            server_close(sv, "stopping");
    }
    reap_cb(-1, 0, px);
    while ((pool = TAILQ_FIRST(&px->pools)) != NULL) {
        TAILQ_REMOVE(&px->pools, pool, link);
        free(pool->dbname), free(pool->user), free(pool->conninfo), free(pool);
    }
    for (int i = 0; i < px->nlisteners; i++)
        evconnlistener_free(px->listeners[i]);
    struct event *evs[] = {px->sig_hup, px->sig_term, px->sig_int,
                           px->janitor, px->reaper,   px->shutdown_timer};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i]) event_free(evs[i]);
    if (px->base) event_base_free(px->base);
    if (px->tls) SSL_CTX_free(px->tls);
    cfg_unref(px->cfg);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("pgpin %s\n", PGPIN_VERSION);
        return 0;
    }
    char err[512];
    Proxy px = {.cfg_path = argv[1]};
    px.cfg = cfg_load(argv[1], err, sizeof err);
    if (!px.cfg) {
        fprintf(stderr, "pgpin: %s\n", err);
        return 1;
    }
    log_set_level(px.cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    if (!proxy_init(&px)) {
        proxy_teardown(&px);
        return 1;
    }
    log_info(NULL, "pgpin %s started", PGPIN_VERSION);
    warn_unimplemented(px.cfg);
    event_base_dispatch(px.base);
    proxy_teardown(&px);
    log_info(NULL, "pgpin stopped");
    return px.exit_code;
}
