/* worker.c - worker threads. Each owns an event loop with SO_REUSEPORT listeners (the kernel
 * spreads connections), its clients, pools and servers; pool caps and the client count are
 * shared atomically through the Root. Other threads reach a worker only by posting a Msg and
 * poking its eventfd, so the data path takes no lock. */
#include "worker.h"

#include "admin.h"
#include "client.h"
#include "log.h"
#include "metrics.h"
#include "pause.h"
#include "pool.h"
#include "server.h"
#include "snapshot.h"
#include "shape.h"
#include "sql.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)l, (void)sa, (void)socklen;
    client_accept(arg, fd);
}

/* After a failed accept, listening stops for this long. */
#define ACCEPT_PAUSE_USEC 100000
/* At most one "accept failed" line per this many seconds. */
#define ACCEPT_LOG_GAP 10.0

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *w = arg;
    (void)fd, (void)what;
    for (int i = 0; i < w->nlisteners; i++)
        evconnlistener_enable(w->listeners[i]);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    Proxy *w = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval pause = {0, ACCEPT_PAUSE_USEC};
    double now = proxy_now();
    (void)l;
    /* Out of descriptors (EMFILE) or memory: the connection stays queued and the listening
     * socket readable, so accepting again at once would spin at full speed, logging each
     * time. Stop for a moment instead; the clients wait in the backlog meanwhile. */
    w->accept_failed++;
    if (now - w->accept_logged_at >= ACCEPT_LOG_GAP) {
        log_warn(NULL,
                 "accept failed: %s (%lu times since the last report); accepting again "
                 "every %d ms until it works",
                 evutil_socket_error_to_string(err), w->accept_failed, ACCEPT_PAUSE_USEC / 1000);
        w->accept_logged_at = now;
        w->accept_failed = 0;
    }
    if (!w->accept_timer) return;
    for (int i = 0; i < w->nlisteners; i++)
        evconnlistener_disable(w->listeners[i]);
    evtimer_add(w->accept_timer, &pause);
}

bool worker_each_listen_addr(const Config *cfg, ListenAddrFn fn, void *arg)
{
    char *addrs = strdup(cfg->listen_addr), *save = NULL, port[16];
    bool ok = addrs != NULL;
    snprintf(port, sizeof port, "%d", cfg->listen_port);
    for (char *a = ok ? strtok_r(addrs, ", ", &save) : NULL; a && ok;
         a = strtok_r(NULL, ", ", &save)) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
        int rc = getaddrinfo(strcmp(a, "*") == 0 ? NULL : a, port, &hints, &res);
        if (rc != 0) {
            log_error(NULL, "cannot resolve listen_addr %s: %s", a, gai_strerror(rc));
            ok = false;
            break;
        }
        for (struct addrinfo *ai = res; ai && ok; ai = ai->ai_next)
            ok = fn(a, port, ai, arg);
        freeaddrinfo(res);
    }
    free(addrs);
    return ok;
}

static bool listen_one(const char *addr, const char *port, const struct addrinfo *ai, void *arg)
{
    Proxy *w = arg;
    if (w->nlisteners == 16) return true;
    struct evconnlistener *l = evconnlistener_new_bind(
        w->base, accept_cb, w, LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE,
        1024, ai->ai_addr, (int)ai->ai_addrlen);
    if (!l) {
        log_error(NULL, "cannot listen on %s port %s: %s", addr, port, strerror(errno));
        return false;
    }
    evconnlistener_set_error_cb(l, accept_error_cb);
    w->listeners[w->nlisteners++] = l;
    return true;
}

/* Bind one SO_REUSEPORT listener per address of each listen_addr item. */
static bool worker_listen(Proxy *w)
{
    return worker_each_listen_addr(w->cfg, listen_one, w) && w->nlisteners > 0;
}

static void worker_close_listeners(Proxy *w)
{
    /* Close the sockets, not just stop accepting: the kernel would keep completing
     * handshakes into the backlog and those clients would hang instead of being refused. */
    for (int i = 0; i < w->nlisteners; i++)
        evconnlistener_free(w->listeners[i]);
    w->nlisteners = 0;
}

/* ---- Draining and stopping ---- */

static void shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *w = arg;
    (void)fd, (void)what;
    log_warn(NULL, "shutdown_timeout reached: closing %d clients", w->nclients);
    Client *cl;
    while ((cl = TAILQ_FIRST(&w->clients)) != NULL)
        client_close(cl, "shutdown_timeout");
    event_base_loopexit(w->base, NULL);
}

static void worker_drain(Proxy *w)
{
    if (w->draining) return;
    w->draining = true;
    worker_close_listeners(w);
    double t = w->cfg->shutdown_timeout;
    struct timeval tv = {(time_t)t, (suseconds_t)((t - (double)(time_t)t) * 1e6)};
    w->shutdown_timer = evtimer_new(w->base, shutdown_timeout_cb, w);
    if (w->shutdown_timer) evtimer_add(w->shutdown_timer, &tv);
    Client *cl, *next;
    for (cl = TAILQ_FIRST(&w->clients); cl; cl = next) {
        next = TAILQ_NEXT(cl, link);
        client_drain(cl);
    }
    proxy_maybe_finish_drain(w);
}

/* ---- Messages from other threads ---- */

static void worker_reload(Proxy *w, Msg *m)
{
    cfg_unref(w->cfg);
    w->cfg = m->cfg;
    if (w->tls) SSL_CTX_free(w->tls); /* connections keep their own reference */
    w->tls = m->tls;
    m->cfg = NULL, m->tls = NULL;
    pool_reload(w);
}

static void worker_handle(Proxy *w, Msg *m)
{
    switch (m->kind) {
    case MSG_RELOAD: worker_reload(w, m); break;
    case MSG_DRAIN: worker_drain(w); break;
    case MSG_STOP: event_base_loopexit(w->base, NULL); break;
    case MSG_CANCEL: client_cancel_local(w, m->pid, m->key); break;
    case MSG_SERVICE: pool_service_all(w); break;
    case MSG_RELOADED: admin_reloaded(w, m->seq, m->ok, m->text); break;
    case MSG_SNAPSHOT: snapshot_fill(w, m->snapshot); break;
    case MSG_SNAPSHOT_DONE: snapshot_finish(w, m->snapshot); break;
    case MSG_PAUSE:
    case MSG_RESUME: pause_apply(w, m->kind == MSG_PAUSE, m->text); break;
    }
}

/* Free a message; one never handled (its worker stopped) lets go of its snapshot too. */
static void msg_free(Msg *m, bool handled)
{
    if (!handled) snapshot_drop(m);
    cfg_unref(m->cfg);
    if (m->tls) SSL_CTX_free(m->tls);
    free(m->text);
    free(m);
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *w = arg;
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn(NULL, "eventfd: %s", strerror(errno));
    pthread_mutex_lock(&w->mq_lock);
    Msg *m = w->mq;
    w->mq = NULL;
    pthread_mutex_unlock(&w->mq_lock);
    /* The queue was pushed at its head: reverse it to handle messages in order. */
    Msg *rev = NULL;
    while (m) {
        Msg *next = m->next;
        m->next = rev;
        rev = m;
        m = next;
    }
    while (rev) {
        Msg *next = rev->next;
        worker_handle(w, rev);
        msg_free(rev, true);
        rev = next;
    }
}

void worker_post(Proxy *w, Msg *m)
{
    uint64_t one = 1;
    pthread_mutex_lock(&w->mq_lock);
    m->next = w->mq;
    w->mq = m;
    pthread_mutex_unlock(&w->mq_lock);
    if (write(w->wake_fd, &one, sizeof one) < 0) log_warn(NULL, "eventfd: %s", strerror(errno));
}

void worker_broadcast(Root *root, MsgKind kind, const Proxy *except)
{
    for (int i = 0; i < root->nworkers; i++) {
        if (root->workers[i] == except) continue;
        Msg *m = calloc(1, sizeof *m);
        if (!m) continue;
        m->kind = kind;
        worker_post(root->workers[i], m);
    }
}

/* ---- Timers ---- */

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pool_janitor(arg);
    client_janitor(arg);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    Proxy *w = arg;
    Client *cl;
    Server *sv;
    (void)fd, (void)what;
    while ((cl = TAILQ_FIRST(&w->dead_clients)) != NULL) {
        TAILQ_REMOVE(&w->dead_clients, cl, link);
        client_free(cl);
    }
    while ((sv = TAILQ_FIRST(&w->dead_servers)) != NULL) {
        TAILQ_REMOVE(&w->dead_servers, sv, link);
        server_free(sv);
    }
}

/* ---- Life cycle ---- */

bool worker_init(Proxy *w, Root *root, int index, Config *cfg, struct ssl_ctx_st *tls)
{
    struct timeval sec = {1, 0};
    w->root = root;
    w->index = index;
    w->cfg = cfg_ref(cfg);
    if (tls && SSL_CTX_up_ref(tls)) w->tls = tls;
    w->wake_fd = -1;
    TAILQ_INIT(&w->clients);
    TAILQ_INIT(&w->dead_clients);
    TAILQ_INIT(&w->dead_servers);
    TAILQ_INIT(&w->pools);
    pthread_mutex_init(&w->mq_lock, NULL);
    w->rng = ((uint64_t)proxy_random_seed() << 8) ^ (uint64_t)(index + 1);
    w->base = event_base_new();
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->base || w->wake_fd < 0) return false;
    w->janitor = event_new(w->base, -1, EV_PERSIST, janitor_cb, w);
    w->reaper = event_new(w->base, -1, 0, reap_cb, w);
    w->wake_ev = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST, wake_cb, w);
    w->accept_timer = evtimer_new(w->base, accept_resume_cb, w);
    if (!w->janitor || !w->reaper || !w->wake_ev || !w->accept_timer) return false;
    event_add(w->janitor, &sec);
    event_add(w->wake_ev, NULL);
    /* /metrics lives on worker 0's loop: snapshots start from there. */
    if (index == 0 && cfg->metrics_listen[0] && !(w->metrics = metrics_start(w))) return false;
    return worker_listen(w);
}

static void *worker_main(void *arg)
{
    Proxy *w = arg;
    uint64_t one = 1;
    event_base_dispatch(w->base);
    /* Tell the main thread this worker is done. */
    if (write(w->root->exit_fd, &one, sizeof one) < 0)
        log_warn(NULL, "eventfd: %s", strerror(errno));
    return NULL;
}

bool worker_start(Proxy *w)
{
    sigset_t all, old;
    /* Signals belong to the main thread: workers start with them blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return false;
    w->started = true;
    return true;
}

void worker_join(Proxy *w)
{
    if (w->started) pthread_join(w->thread, NULL);
    w->started = false;
}

void worker_free(Proxy *w)
{
    worker_join(w);
    Client *cl;
    Pool *pool;
    w->draining = true; /* released servers close instead of resetting; nothing reopens */
    while ((cl = TAILQ_FIRST(&w->clients)) != NULL)
        client_close(cl, "stopping");
    TAILQ_FOREACH(pool, &w->pools, link)
    {
        Server *sv;
        while ((sv = TAILQ_FIRST(&pool->servers)) != NULL)
            server_close(sv, "stopping");
    }
    reap_cb(-1, 0, w);
    while ((pool = TAILQ_FIRST(&w->pools)) != NULL) {
        TAILQ_REMOVE(&w->pools, pool, link);
        pool_free(pool);
    }
    worker_close_listeners(w);
    metrics_free(w->metrics);
    w->metrics = NULL;
    struct event *evs[] = {w->janitor, w->reaper, w->shutdown_timer, w->wake_ev, w->accept_timer};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i]) event_free(evs[i]);
    Msg *m = w->mq;
    while (m) {
        Msg *next = m->next;
        msg_free(m, false);
        m = next;
    }
    if (w->wake_fd >= 0) close(w->wake_fd);
    if (w->base) event_base_free(w->base);
    if (w->tls) SSL_CTX_free(w->tls);
    sql_cache_free(w->sqlcache);
    shape_worker_free(w);
    cfg_unref(w->cfg);
    pthread_mutex_destroy(&w->mq_lock);
}
