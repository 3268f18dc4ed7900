/* pool.c - session pools: idle servers (LIFO, so warm connections are reused), FIFO waiters,
 * a size cap per pool, reset on release. */
#include "pool.h"

#include "budget.h"
#include "client.h"
#include "log.h"
#include "pause.h"
#include "server.h"
#include "shape.h"
#include "pqmsg.h"
#include "worker.h"

#include <stdlib.h>
#include <string.h>

/* Connection attempts after a failure back off from POOL_BACKOFF_MIN, doubling, to
 * POOL_BACKOFF_MAX seconds, each with jitter (see pool_backoff). */
#define POOL_BACKOFF_MIN 0.1
#define POOL_BACKOFF_MAX 5.0

static void pool_retry_cb(evutil_socket_t fd, short what, void *arg);
static const char *pool_read_only(const Server *sv, bool own_sets);

static void pool_set_target(Pool *pool, const CfgDatabase *db)
{
    pool->has_user = db->has_user;
    pool->has_dbname = db->has_dbname;
    pool->size = db->pool_size;
    pool->min_size = db->min_pool_size;
}

/* The cross-worker counters for (dbname, user); created on first use. */
static SharedPool *shared_get(Root *root, const char *dbname, const char *user)
{
    SharedPool *sp;
    pthread_mutex_lock(&root->lock);
    for (sp = root->shared; sp; sp = sp->next)
        if (strcmp(sp->dbname, dbname) == 0 && strcmp(sp->user, user) == 0) break;
    if (!sp && (sp = calloc(1, sizeof *sp)) != NULL) {
        sp->dbname = strdup(dbname);
        sp->user = strdup(user);
        if (!sp->dbname || !sp->user) {
            free(sp->dbname), free(sp->user), free(sp);
            sp = NULL;
        } else {
            sp->next = root->shared;
            root->shared = sp;
        }
    }
    pthread_mutex_unlock(&root->lock);
    return sp;
}

void pool_shared_free(Root *root)
{
    SharedPool *sp, *next;
    for (sp = root->shared; sp; sp = next) {
        next = sp->next;
        for (Server *sv = sp->handoff, *n; sv; sv = n) {
            n = sv->handoff_next;
            server_free(sv);
        }
        free(sp->dbname), free(sp->user), free(sp);
    }
    root->shared = NULL;
}

/* Starved pools are counted per (database, user) across workers, then per server. */
static void pool_set_starved(Pool *pool, bool starved)
{
    if (pool->starved == starved) return;
    pool->starved = starved;
    int before = atomic_fetch_add(&pool->shared->nstarved, starved ? 1 : -1);
    if (starved && before == 0) atomic_fetch_add(&pool->budget->nstarved, 1);
    if (!starved && before == 1) atomic_fetch_sub(&pool->budget->nstarved, 1);
}

/* While other pools of the same server starve, a pool holds no more than an even share of
 * the grant (max-min fairness across pools; FIFO within each). */
static bool pool_over_share(const Pool *pool, int have)
{
    int starved = atomic_load(&pool->budget->nstarved);
    int others = starved - (atomic_load(&pool->shared->nstarved) > 0);
    if (others <= 0 || !budget_full(pool->budget)) return false;
    int share = atomic_load(&pool->budget->total) / (others + 1);
    return have >= (share < 1 ? 1 : share);
}

/* Claim one server slot: the pool's cap (shared by all workers), then the server's budget. */
static bool pool_reserve(Pool *pool)
{
    int n = atomic_load(&pool->shared->nservers);
    do {
        if (n >= pool->size) return false;
    } while (!atomic_compare_exchange_weak(&pool->shared->nservers, &n, n + 1));
    if (!pool_over_share(pool, n) && budget_reserve(pool->budget)) {
        pool_set_starved(pool, false);
        return true;
    }
    atomic_fetch_sub(&pool->shared->nservers, 1);
    /* Only clients waiting make a pool starved (min_pool_size top-ups do not). */
    pool_set_starved(pool, pool->nwaiting > pool->nconnecting);
    return false;
}

/* Start one server connection if the shared cap allows. */
static bool pool_open_one(Pool *pool)
{
    if (!pool_reserve(pool)) return false;
    return server_open(pool) != NULL; /* a failure gives the slot back in server_close */
}

void pool_server_gone(Pool *pool, Server *sv)
{
    if (!sv->pinned) atomic_fetch_sub(&pool->shared->nservers, 1);
    if (sv->backend_pid) budget_pid_del(sv->budget, sv->backend_pid);
    budget_release(sv->budget);
    /* Capacity freed while clients wait for it elsewhere: tell their workers (this one too:
     * another pool of the same server may starve here; it runs on the next loop turn). */
    if (atomic_load(&sv->budget->nstarved) > 0)
        worker_broadcast(pool->px->root, MSG_SERVICE, NULL);
    else if (atomic_load(&pool->shared->nwaiting) > pool->nwaiting)
        worker_broadcast(pool->px->root, MSG_SERVICE, pool->px);
}

/* ---- Hand-over of idle servers between workers (rare path, under root->lock) ---- */

static void pool_hand_over(Pool *pool, Server *sv)
{
    Root *root = pool->px->root;
    Proxy *from = pool->px;
    SharedPool *sp = pool->shared;
    if (!server_detach(sv)) {
        server_close(sv, "slot wanted by another worker");
        return;
    }
    pthread_mutex_lock(&root->lock);
    sv->handoff_next = sp->handoff;
    sp->handoff = sv;
    atomic_fetch_add(&sp->nhandoff, 1);
    pthread_mutex_unlock(&root->lock);
    worker_broadcast(root, MSG_SERVICE, from);
}

/* Adopt one handed-over server into pool's idle list; false when there is none. */
static bool pool_take_handoff(Pool *pool)
{
    Root *root = pool->px->root;
    SharedPool *sp = pool->shared;
    if (atomic_load(&sp->nhandoff) == 0) return false; /* a peek; the lock decides */
    pthread_mutex_lock(&root->lock);
    Server *sv = sp->handoff;
    if (sv) {
        sp->handoff = sv->handoff_next;
        atomic_fetch_sub(&sp->nhandoff, 1);
    }
    pthread_mutex_unlock(&root->lock);
    if (!sv) return false;
    sv->handoff_next = NULL;
    if (server_adopt(sv, pool)) {
        sv->state = SV_IDLE;
        sv->idle_since = proxy_now();
        TAILQ_INSERT_HEAD(&pool->idle, sv, idle_link);
        sv->idle_listed = true;
        pool->nidle++;
    }
    return true;
}

Pool *pool_get(Proxy *px, const CfgDatabase *db, const char *dbname, const char *user)
{
    Pool *pool;
    TAILQ_FOREACH(pool, &px->pools, link)
    {
        if (!pool->orphan && strcmp(pool->dbname, dbname) == 0 && strcmp(pool->user, user) == 0)
            return pool;
    }
    pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->px = px;
    pool->dbname = strdup(dbname);
    pool->user = strdup(user);
    pool->conninfo = strdup(db->conninfo);
    pool->shared = shared_get(px->root, dbname, user);
    pool->budget = budget_get(px->root, db->conninfo, db->has_user ? NULL : user,
                              db->has_dbname ? NULL : dbname);
    if (!pool->dbname || !pool->user || !pool->conninfo || !pool->shared || !pool->budget) {
        free(pool->dbname), free(pool->user), free(pool->conninfo), free(pool);
        return NULL;
    }
    pool->retry_ev = evtimer_new(px->base, pool_retry_cb, pool);
    if (!pool->retry_ev) {
        free(pool->dbname), free(pool->user), free(pool->conninfo), free(pool);
        return NULL;
    }
    pool->tsa = (int)budget_conninfo_tsa(db->conninfo);
    pool_set_target(pool, db);
    shape_configure(pool, db);
    pool->paused = pause_is_paused(px->root, dbname); /* PAUSE came before the pool (pause.c) */
    TAILQ_INIT(&pool->servers);
    TAILQ_INIT(&pool->idle);
    TAILQ_INIT(&pool->waiters);
    TAILQ_INSERT_TAIL(&px->pools, pool, link);
    log_info(NULL, "new pool %s/%s (size %d)", dbname, user, pool->size);
    if (pool->size < 5)
        log_warn(NULL, "pool %s/%s: pool_size %d is below 5, the smallest pool DBOS advises",
                 dbname, user, pool->size);
    return pool;
}

void pool_enqueue(Pool *pool, Client *cl)
{
    cl->pool = pool;
    cl->state = CL_WAITING;
    cl->queued = true;
    cl->wait_since = proxy_now();
    TAILQ_INSERT_TAIL(&pool->waiters, cl, wait_link);
    pool->nwaiting++;
    atomic_fetch_add(&pool->shared->nwaiting, 1);
    pool_service(pool);
}

void pool_dequeue(Pool *pool, Client *cl)
{
    if (!cl->queued) return;
    TAILQ_REMOVE(&pool->waiters, cl, wait_link);
    cl->queued = false;
    pool->nwaiting--;
    atomic_fetch_sub(&pool->shared->nwaiting, 1);
    if (pool->nwaiting == 0) pool_set_starved(pool, false);
}

/* The idle server to give cl: the most recently used one, unless one of the next few was
 * left in exactly cl's session state (then no sync is needed). FIFO order of clients stays. */
static Server *pool_pick_idle(Pool *pool, const Client *cl)
{
    Server *first = TAILQ_FIRST(&pool->idle), *sv = first;
    for (int n = 0; sv && n < 16; sv = TAILQ_NEXT(sv, idle_link), n++)
        if (sv->state_sig == cl->state_sig) return sv;
    return first;
}

void pool_service(Pool *pool)
{
    Proxy *px = pool->px;
    if (pool->paused) return;
    while (pool->nwaiting > 0 && (pool->nidle > 0 || pool_take_handoff(pool))) {
        if (pool->nidle == 0) continue;
        Client *cl = TAILQ_FIRST(&pool->waiters);
        Server *sv = pool_pick_idle(pool, cl);
        TAILQ_REMOVE(&pool->idle, sv, idle_link);
        sv->idle_listed = false;
        pool->nidle--;
        pool_dequeue(pool, cl);
        server_attach(sv, cl);
    }
    if (px->draining || (pool->retry_at > 0 && proxy_now() < pool->retry_at)) return;
    /* While the server is down, one attempt at a time probes it (waiters are not failed). */
    while (pool->nwaiting > pool->nconnecting && pool->nservers < pool->size &&
           !(pool->down && pool->nconnecting > 0))
        if (!pool_open_one(pool)) break;
    /* Still short, other workers hold slots and none of their clients wait: ask them to give
     * idle ones back. (When theirs wait too, their servers are busy serving them; asking
     * would only bounce messages between workers.) */
    if (pool->nwaiting > pool->nconnecting &&
        atomic_load(&pool->shared->nservers) > pool->nservers &&
        atomic_load(&pool->shared->nwaiting) == pool->nwaiting)
        worker_broadcast(px->root, MSG_SERVICE, px);
}

void pool_service_all(Proxy *px)
{
    Pool *pool;
    TAILQ_FOREACH(pool, &px->pools, link)
    {
        if (pool->nwaiting > 0) {
            pool_service(pool);
            continue;
        }
        /* Give idle servers back to the cap for the workers whose clients wait. */
        int want = atomic_load(&pool->shared->nwaiting);
        Server *sv;
        while (want-- > 0 && (sv = TAILQ_FIRST(&pool->idle)) != NULL) {
            TAILQ_REMOVE(&pool->idle, sv, idle_link);
            sv->idle_listed = false;
            pool->nidle--;
            pool_hand_over(pool, sv);
        }
        /* Other pools of the same server starve for its budget: idle servers here go. */
        while (atomic_load(&pool->budget->nstarved) > 0 && budget_full(pool->budget) &&
               (sv = TAILQ_FIRST(&pool->idle)))
            server_close(sv, "budget wanted by another pool");
    }
}

void pool_free(Pool *pool)
{
    if (pool->retry_ev) event_free(pool->retry_ev);
    free(pool->dbname), free(pool->user), free(pool->conninfo), free(pool);
}

/* Why a server let go by its client cannot be reused, or NULL. */
static const char *pool_reuse_refusal(Server *sv)
{
    Pool *pool = sv->pool;
    const Config *cfg = sv->px->cfg;
    if (sv->lost) return "server connection lost";
    if (sv->retire) {
        /* A write refused (25006) where the server says it is read-only: not the client's
         * transaction, the server. Its other connections go too. */
        const char *ro = pool_read_only(sv, false);
        if (ro) pool_retire_host(pool, sv, ro);
        return sv->retire;
    }
    if (!server_is_clean(sv)) return "released in a transaction or mid-request";
    if (sv->px->draining) return "shutting down";
    if (pool->orphan || sv->generation != pool->generation) return "configuration changed";
    if (!sv->pinned && atomic_load(&pool->shared->nservers) > pool->size)
        return "pool_size lowered";
    if (cfg->server_lifetime > 0 && proxy_now() - sv->created_at > cfg->server_lifetime)
        return "server_lifetime reached";
    return NULL;
}

/* A pinned client's server is given up: back under the pool's size if there is room. */
static bool pool_unpin_server(Server *sv)
{
    Pool *pool = sv->pool;
    int n = atomic_load(&pool->shared->nservers);
    do {
        if (n >= pool->size) return false;
    } while (!atomic_compare_exchange_weak(&pool->shared->nservers, &n, n + 1));
    sv->pinned = false;
    pool->npinned--;
    pool->nservers++;
    return true;
}

void pool_pin_server(Server *sv)
{
    Pool *pool = sv->pool;
    if (sv->pinned) return;
    sv->pinned = true;
    pool->nservers--;
    pool->npinned++;
    atomic_fetch_sub(&pool->shared->nservers, 1);
    /* The slot it held is free for the others now (here, or a worker whose clients wait). */
    if (pool->nwaiting > 0)
        pool_service(pool);
    else if (atomic_load(&pool->shared->nwaiting) > 0)
        worker_broadcast(pool->px->root, MSG_SERVICE, pool->px);
}

void pool_return(Server *sv)
{
    const char *why = pool_reuse_refusal(sv);
    if (why)
        server_close(sv, why);
    else
        pool_server_idle(sv);
}

void pool_release(Server *sv)
{
    const char *why = pool_reuse_refusal(sv);
    if (!why && sv->pinned && !pool_unpin_server(sv)) why = "pinned client left, pool is full";
    if (why) {
        server_close(sv, why);
        return;
    }
    if (sv->px->cfg->server_reset_query[0])
        server_reset(sv);
    else
        pool_server_idle(sv);
}

/* Why sv's server does not qualify for the pool's target_session_attrs any more, or NULL.
 * Asked when sv goes idle: after its reset, or (auto mode) with the settings the clients' sync
 * applied recorded in sv->track, so a client's own SET default_transaction_read_only is not
 * taken for the server's (own_sets). */
static const char *pool_read_only(const Server *sv, bool own_sets)
{
    if (sv->pool->tsa == BUDGET_TSA_ANY) return NULL;
    const char *hs = params_get(&sv->params, "in_hot_standby");
    const char *ro = params_get(&sv->params, "default_transaction_read_only");
    if (sv->pool->tsa != BUDGET_TSA_ANY && hs && strcmp(hs, "on") == 0)
        return "server is in hot standby mode";
    if (sv->pool->tsa == BUDGET_TSA_READ_WRITE && ro && strcmp(ro, "on") == 0 &&
        !(own_sets && track_find_set(&sv->track, "default_transaction_read_only")))
        return "server is read-only (default_transaction_read_only = on)";
    return NULL;
}

void pool_retire_host(Pool *pool, Server *sv, const char *why)
{
    Server *s;
    log_warn(sv->tag, "%s at %s: the pool's connections there are retired", why, sv->addr);
    TAILQ_FOREACH(s, &pool->servers, link)
    {
        if (s->state != SV_CONNECTING && strcmp(s->addr, sv->addr) == 0) s->retire = why;
    }
    /* Closing serves waiters, which may change the lists: look again after each one. Idle
     * servers close; sessions idle on one end (the others when their request is answered). */
    for (bool again = true; again;) {
        again = false;
        TAILQ_FOREACH(s, &pool->idle, idle_link)
        {
            if (!s->retire) continue;
            server_close(s, why);
            again = true;
            break;
        }
        TAILQ_FOREACH(s, &pool->servers, link)
        {
            if (again) break;
            if (s == sv || !s->retire || s->state != SV_ACTIVE || !server_is_clean(s)) continue;
            again = server_end_retired(s);
        }
    }
    budget_follow(pool->budget); /* its control connection is likely on the same server */
}

void pool_server_idle(Server *sv)
{
    Pool *pool = sv->pool;
    if (sv->px->draining) {
        server_close(sv, "shutting down");
        return;
    }
    const char *ro = pool_read_only(sv, true);
    if (ro) {
        pool_retire_host(pool, sv, ro);
        server_close(sv, ro);
        return;
    }
    /* Clients of another worker wait for a slot and none here do: hand the connection over
     * (cheaper than closing it and having them open a new one). */
    if (pool->nwaiting == 0 && atomic_load(&pool->shared->nwaiting) > 0) {
        sv->state = SV_IDLE;
        pool_hand_over(pool, sv);
        return;
    }
    /* Over its share while other pools of the server starve: give the slot back. */
    if (pool_over_share(pool, atomic_load(&pool->shared->nservers) - 1) ||
        (pool->nwaiting == 0 && atomic_load(&pool->budget->nstarved) > 0 &&
         budget_full(pool->budget))) {
        server_close(sv, "budget wanted by another pool");
        return;
    }
    sv->state = SV_IDLE;
    sv->idle_since = proxy_now();
    if (pool->down)
        log_info(NULL, "pool %s/%s: server reachable again after %.1f s (%s)", pool->dbname,
                 pool->user, proxy_now() - pool->down_since, sv->addr);
    pool->down = false;
    pool->backoff = pool->retry_at = 0; /* the server is reachable again */
    TAILQ_INSERT_HEAD(&pool->idle, sv, idle_link);
    sv->idle_listed = true;
    pool->nidle++;
    pool_service(pool);
}

static void pool_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pool_service(arg);
}

/* Schedule the next attempt: the backoff doubles (POOL_BACKOFF_MIN to POOL_BACKOFF_MAX) and the
 * wait is drawn from its upper half ("equal jitter"), so the pools and pgpin instances that lost
 * a server together do not come back to it in step. */
static void pool_backoff(Pool *pool)
{
    pool->backoff = pool->backoff > 0 ? pool->backoff * 2 : POOL_BACKOFF_MIN;
    if (pool->backoff > POOL_BACKOFF_MAX) pool->backoff = POOL_BACKOFF_MAX;
    double delay = pool->backoff * (0.5 + 0.5 * proxy_random(pool->px) / 4294967296.0);
    pool->retry_at = proxy_now() + delay;
    struct timeval tv = {(time_t)delay, (suseconds_t)((delay - (double)(time_t)delay) * 1e6)};
    evtimer_add(pool->retry_ev, &tv);
}

void pool_connect_failed(Pool *pool, const char *sqlstate, const char *msg, bool transient)
{
    /* The server is full: a capacity signal, not the clients' error. They keep waiting (up
     * to query_wait_timeout) while the budget is lowered and read again. */
    if (strcmp(sqlstate, SQLSTATE_TOO_MANY_CONNECTIONS) == 0) {
        budget_overflow(pool->budget);
        pool_set_starved(pool, pool->nwaiting > 0);
        pool->retry_at = proxy_now() + 0.05;
        return;
    }
    bool established = pool->nservers - pool->nconnecting > 0;
    if (transient && !established) {
        /* Down, restarting, or no primary yet: waiters wait (query_wait_timeout) while the
         * server is probed with backoff; the last error tells the ones that give up why. */
        if (!pool->down) {
            pool->down_since = proxy_now();
            log_warn(NULL, "pool %s/%s: server unreachable (%s); clients wait while pgpin retries",
                     pool->dbname, pool->user, msg);
        }
        pool->down = true;
        snprintf(pool->down_sqlstate, sizeof pool->down_sqlstate, "%s", sqlstate);
        snprintf(pool->down_msg, sizeof pool->down_msg, "%s", msg);
    } else if (!transient && !established) {
        /* An error waiting will not cure (database, login, certificate): with no established
         * server to wait for, waiters get it now, as a direct connection would have. */
        Client *cl;
        pool->down = false;
        while ((cl = TAILQ_FIRST(&pool->waiters)) != NULL)
            client_fail(cl, sqlstate, msg);
    }
    pool_backoff(pool);
}

static void pool_trim(Pool *pool, double now, const Config *cfg)
{
    Server *sv, *prev;
    /* Oldest-idle first: the tail of the LIFO list. */
    for (sv = TAILQ_LAST(&pool->idle, Server_tq); sv; sv = prev) {
        prev = TAILQ_PREV(sv, Server_tq, idle_link);
        if (cfg->server_lifetime > 0 && now - sv->created_at > cfg->server_lifetime)
            server_close(sv, "server_lifetime reached");
        else if (cfg->server_idle_timeout > 0 && now - sv->idle_since > cfg->server_idle_timeout &&
                 pool->nservers > pool->min_size)
            server_close(sv, "server_idle_timeout reached");
    }
}

void pool_janitor(Proxy *px)
{
    double now = proxy_now();
    Pool *pool;
    TAILQ_FOREACH(pool, &px->pools, link)
    {
        /* Servers handed over for clients that stopped waiting: someone must own them. */
        while (pool_take_handoff(pool)) {
        }
        pool_trim(pool, now, px->cfg);
        pool_service(pool); /* retries after a connect failure's backoff */
        while (!pool->orphan && !px->draining && pool->nservers < pool->min_size &&
               now >= pool->retry_at && !(pool->down && pool->nconnecting > 0))
            if (!pool_open_one(pool)) break;
    }
}

static void pool_close_idle_one(Pool *pool, const char *why)
{
    Server *sv;
    while ((sv = TAILQ_FIRST(&pool->idle)) != NULL)
        server_close(sv, why);
}

void pool_reload(Proxy *px)
{
    Pool *pool;
    TAILQ_FOREACH(pool, &px->pools, link)
    {
        if (pool->orphan) continue;
        const CfgDatabase *db = cfg_find_db(px->cfg, pool->dbname);
        if (!db) {
            pool->orphan = true;
            pool_close_idle_one(pool, "database removed from config");
            continue;
        }
        if (strcmp(db->conninfo, pool->conninfo) != 0 || db->has_user != pool->has_user ||
            db->has_dbname != pool->has_dbname) {
            char *ci = strdup(db->conninfo);
            if (!ci) continue;
            free(pool->conninfo);
            pool->conninfo = ci;
            pool->tsa = (int)budget_conninfo_tsa(ci);
            pool->generation++;
            pool_close_idle_one(pool, "conninfo changed");
            Budget *b = budget_get(px->root, db->conninfo, db->has_user ? NULL : pool->user,
                                   db->has_dbname ? NULL : pool->dbname);
            if (b && b != pool->budget) {
                bool starved = pool->starved;
                pool_set_starved(pool, false);
                pool->budget = b;
                pool_set_starved(pool, starved);
            }
        }
        pool_set_target(pool, db);
        shape_configure(pool, db);
        /* A smaller pool_size: idle servers above it go now, busy ones when released. */
        Server *sv;
        while (atomic_load(&pool->shared->nservers) > pool->size &&
               (sv = TAILQ_LAST(&pool->idle, Server_tq)) != NULL)
            server_close(sv, "pool_size lowered");
        pool_service(pool);
    }
}

void pool_close_idle(Proxy *px)
{
    Pool *pool;
    TAILQ_FOREACH(pool, &px->pools, link) pool_close_idle_one(pool, "shutting down");
}
