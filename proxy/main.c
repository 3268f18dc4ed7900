/* main.c - command line, config load, workers, signals and the main loop. The main thread owns
 * signals and the configuration; workers run the proxy (worker.c). */
#include "budget.h"
#include "checkup.h"
#include "config.h"
#include "log.h"
#include "pause.h"
#include "pool.h"
#include "proxy.h"
#include "tls.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "pgpin %s - a session-aware PostgreSQL proxy for DBOS\n\n"
            "Usage: pgpin CONFIG         run the proxy with the INI file CONFIG\n"
            "       pgpin check CONFIG   check every [databases] server: reachable, its\n"
            "                            connection budget, LISTEN/NOTIFY end to end; prints a\n"
            "                            table, exits 0 all pass, 1 any failure, 2 bad config\n"
            "       pgpin --version      print the version\n"
            "       pgpin --help         this text\n\n"
            "Signals: SIGHUP reloads CONFIG, SIGTERM drains (finish transactions, up to\n"
            "shutdown_timeout), SIGINT stops at once. Logs go to stderr.\n",
            PGPIN_VERSION);
}

/* The client TLS context cfg asks for (certificates are read each time). */
static bool tls_build(const Config *cfg, SSL_CTX **out)
{
    char err[512];
    *out = tls_server_ctx_new(cfg, err, sizeof err);
    if (!*out && err[0]) {
        log_error(NULL, "client TLS: %s", err);
        return false;
    }
    return true;
}

/* Tell every worker reload attempt seq is over (after its MSG_RELOAD, in queue order): the
 * admin console's RELOAD answers then. text: the error, or keys that need a restart. */
static void reload_notify(Root *root, unsigned seq, bool ok, const char *text)
{
    for (int i = 0; i < root->nworkers; i++) {
        Msg *m = calloc(1, sizeof *m);
        if (!m) continue;
        m->kind = MSG_RELOADED;
        m->seq = seq;
        m->ok = ok;
        m->text = text && text[0] ? strdup(text) : NULL;
        worker_post(root->workers[i], m);
    }
}

static void reload(Root *root)
{
    char err[512], keys[256] = "";
    SSL_CTX *tls = NULL;
    unsigned seq = atomic_fetch_add(&root->reload_seq, 1) + 1;
    Config *cfg = cfg_load(root->cfg_path, err, sizeof err);
    if (cfg && cfg_sharding_unsupported(cfg, err, sizeof err)) {
        log_error(NULL, "reload failed, keeping the running configuration: %s", err);
        reload_notify(root, seq, false, err);
        cfg_unref(cfg);
        return;
    }
    if (!cfg || !tls_build(cfg, &tls)) {
        log_error(NULL, "reload failed, keeping the running configuration: %s",
                  cfg ? "client TLS setup failed" : err);
        reload_notify(root, seq, false, cfg ? "client TLS setup failed" : err);
        cfg_unref(cfg);
        return;
    }
    if (cfg_restart_keys_changed(root->cfg, cfg, keys, sizeof keys) > 0)
        log_warn(NULL, "changed keys need a restart to take effect: %s", keys);
    cfg_unref(root->cfg);
    root->cfg = cfg;
    if (root->tls) SSL_CTX_free(root->tls);
    root->tls = tls;
    log_set_level(cfg->log_level);
    for (int i = 0; i < root->nworkers; i++) {
        Msg *m = calloc(1, sizeof *m);
        if (!m) continue;
        m->kind = MSG_RELOAD;
        m->cfg = cfg_ref(cfg);
        if (tls && SSL_CTX_up_ref(tls)) m->tls = tls;
        worker_post(root->workers[i], m);
    }
    log_info(NULL, "configuration reloaded from %s", root->cfg_path);
    reload_notify(root, seq, true, keys);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    Root *root = arg;
    (void)what;
    if (sig == SIGHUP) {
        reload(root);
    } else if (sig == SIGTERM) {
        log_info(NULL, "SIGTERM: draining (shutdown_timeout %gs)", root->cfg->shutdown_timeout);
        worker_broadcast(root, MSG_DRAIN, NULL);
    } else {
        log_info(NULL, "SIGINT: stopping now");
        worker_broadcast(root, MSG_STOP, NULL);
    }
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    Root *root = arg;
    uint64_t n = 0;
    (void)what;
    if (read(fd, &n, sizeof n) == sizeof n) root->nexited += (int)n;
    if (root->nexited >= root->nworkers) event_base_loopexit(root->base, NULL);
}

/* Fail early when another process holds the port: workers bind with SO_REUSEPORT, which would
 * otherwise happily share it with another pgpin. */
static bool probe_one(const char *addr, const char *port, const struct addrinfo *ai, void *arg)
{
    (void)arg;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1;
    bool ok = true;
    if (fd < 0) return true; /* the workers' bind will say what is wrong */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE) {
        log_error(NULL, "cannot listen on %s port %s: %s", addr, port, strerror(errno));
        ok = false;
    }
    close(fd);
    return ok;
}

static bool port_free(const Config *cfg)
{
    return worker_each_listen_addr(cfg, probe_one, NULL);
}

/* Every client and server is a descriptor: take the hard limit, as far as it goes. */
static void raise_fd_limit(const Config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < (rlim_t)cfg->max_client_conn * 2)
        log_warn(NULL, "open files limit %llu is low for max_client_conn = %d",
                 (unsigned long long)rl.rlim_cur, cfg->max_client_conn);
}

static int worker_count(const Config *cfg)
{
    long n = cfg->workers > 0 ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static bool root_init(Root *root)
{
    root->exit_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    root->budget_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    root->base = event_base_new();
    pthread_mutex_init(&root->lock, NULL);
    if (root->exit_fd < 0 || root->budget_fd < 0 || !root->base || !budget_start(root) ||
        !auth_mock_key_init(&root->mock_key) || !tls_build(root->cfg, &root->tls) ||
        !port_free(root->cfg))
        return false;
    root->sig_hup = evsignal_new(root->base, SIGHUP, signal_cb, root);
    root->sig_term = evsignal_new(root->base, SIGTERM, signal_cb, root);
    root->sig_int = evsignal_new(root->base, SIGINT, signal_cb, root);
    root->exit_ev = event_new(root->base, root->exit_fd, EV_READ | EV_PERSIST, exit_cb, root);
    if (!root->sig_hup || !root->sig_term || !root->sig_int || !root->exit_ev) return false;
    event_add(root->sig_hup, NULL);
    event_add(root->sig_term, NULL);
    event_add(root->sig_int, NULL);
    event_add(root->exit_ev, NULL);
    int n = worker_count(root->cfg);
    root->workers = calloc((size_t)n, sizeof *root->workers);
    if (!root->workers) return false;
    for (int i = 0; i < n; i++) {
        root->workers[i] = calloc(1, sizeof **root->workers);
        if (!root->workers[i]) return false;
        root->nworkers++;
        if (!worker_init(root->workers[i], root, i, root->cfg, root->tls)) return false;
    }
    for (int i = 0; i < n; i++)
        if (!worker_start(root->workers[i])) return false;
    return true;
}

static void root_free(Root *root)
{
    /* Workers still running (start-up failed half way) are told to stop, then joined. */
    worker_broadcast(root, MSG_STOP, NULL);
    for (int i = 0; i < root->nworkers; i++)
        worker_join(root->workers[i]);
    for (int i = 0; i < root->nworkers; i++) {
        worker_free(root->workers[i]);
        free(root->workers[i]);
    }
    free(root->workers);
    pool_shared_free(root);
    budget_free_all(root);
    pause_free(root);
    if (root->budget_fd >= 0) close(root->budget_fd);
    struct event *evs[] = {root->sig_hup, root->sig_term, root->sig_int, root->exit_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i]) event_free(evs[i]);
    if (root->base) event_base_free(root->base);
    if (root->exit_fd >= 0) close(root->exit_fd);
    if (root->tls) SSL_CTX_free(root->tls);
    cfg_unref(root->cfg);
    pthread_mutex_destroy(&root->lock);
}

/* pgpin check CONFIG: no proxy, no threads; the exit status is checkup_run's. */
static int main_check(const char *path)
{
    char err[512];
    Config *cfg = cfg_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "pgpin check: %s\n", err);
        return CHECKUP_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = checkup_run(cfg, stdout);
    cfg_unref(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0) {
        if (argc == 3) return main_check(argv[2]);
        usage(stderr);
        return CHECKUP_EXIT_USAGE;
    }
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
    Root root = {.cfg_path = argv[1], .exit_fd = -1, .budget_fd = -1};
    root.cfg = cfg_load(argv[1], err, sizeof err);
    if (!root.cfg || cfg_sharding_unsupported(root.cfg, err, sizeof err)) {
        fprintf(stderr, "pgpin: %s\n", err);
        cfg_unref(root.cfg);
        return 1;
    }
    log_set_level(root.cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(root.cfg);
    if (!root_init(&root)) {
        root_free(&root);
        return 1;
    }
    log_info(NULL, "pgpin %s started: %d worker%s, listening on %s port %d", PGPIN_VERSION,
             root.nworkers, root.nworkers == 1 ? "" : "s", root.cfg->listen_addr,
             root.cfg->listen_port);
    event_base_dispatch(root.base);
    root_free(&root);
    log_info(NULL, "pgpin stopped");
    return root.exit_code;
}
