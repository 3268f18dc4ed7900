/* snapshot.c - collecting every worker's pools, clients and servers through their message
 * queues (see snapshot.h). */
#include "snapshot.h"

#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double snapshot_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void snapshot_free(Snapshot *s)
{
    for (int i = 0; i < s->nparts; i++) {
        SnapPart *p = &s->parts[i];
        for (int j = 0; j < p->npools; j++)
            free(p->pools[j].dbname), free(p->pools[j].user);
        for (int j = 0; j < p->nclients; j++)
            free(p->clients[j].user), free(p->clients[j].dbname), free(p->clients[j].app);
        for (int j = 0; j < p->nservers; j++)
            free(p->servers[j].dbname), free(p->servers[j].user);
        free(p->pools), free(p->clients), free(p->servers);
    }
    free(s->done_msg);
    free(s->budgets);
    free(s);
}

bool snapshot_request(Proxy *origin, unsigned what, SnapDoneFn done, void *arg, uint64_t id)
{
    Root *root = origin->root;
    int n = root->nworkers;
    Snapshot *s = calloc(1, sizeof *s + (size_t)n * sizeof s->parts[0]);
    Msg **msgs = calloc((size_t)n, sizeof *msgs);
    bool ok = s && msgs && (s->done_msg = calloc(1, sizeof *s->done_msg)) != NULL;
    /* Every message is allocated before any is posted: a part can then never go missing. */
    for (int i = 0; ok && i < n; i++)
        ok = (msgs[i] = calloc(1, sizeof *msgs[i])) != NULL;
    if (!ok) {
        for (int i = 0; msgs && i < n; i++)
            free(msgs[i]);
        free(msgs);
        if (s) snapshot_free(s);
        return false;
    }
    atomic_init(&s->pending, n);
    s->what = what;
    s->origin = origin;
    s->done = done;
    s->arg = arg;
    s->id = id;
    s->nparts = n;
    s->done_msg->kind = MSG_SNAPSHOT_DONE;
    s->done_msg->snapshot = s;
    for (int i = 0; i < n; i++) {
        msgs[i]->kind = MSG_SNAPSHOT;
        msgs[i]->snapshot = s;
        worker_post(root->workers[i], msgs[i]);
    }
    free(msgs);
    return true;
}

/* ---- One worker's part ---- */

static const char *server_state_name(ServerState st)
{
    switch (st) {
    case SV_CONNECTING: return "connecting";
    case SV_IDLE: return "idle";
    case SV_SYNCING: return "syncing";
    case SV_ACTIVE: return "active";
    case SV_RESETTING: return "resetting";
    case SV_CLOSED: return "closed";
    }
    return "?";
}

static const char *client_state_name(const Client *cl)
{
    switch (cl->state) {
    case CL_STARTUP:
    case CL_AUTH: return "login";
    case CL_WAITING: return "waiting";
    case CL_ACTIVE: return cl->held ? "held" : "active";
    case CL_ADMIN: return "admin";
    case CL_IDLE: return "idle";
    case CL_FLUSH_CLOSE:
    case CL_CLOSED: return "closing";
    }
    return "?";
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void fill_pool(SnapPool *sp, Pool *pool, double now)
{
    Server *sv;
    sp->dbname = strdup(pool->dbname);
    sp->user = strdup(pool->user);
    sp->budget = pool->budget;
    const CfgDatabase *db = cfg_find_db(pool->px->cfg, pool->dbname);
    sp->mode = db && db->pool_mode == CFG_POOL_AUTO ? "auto" : "session";
    sp->paused = pool->paused;
    sp->size = pool->size;
    sp->cl_waiting = pool->nwaiting;
    /* Every linked client is on one of the pool's servers: count them from there. */
    TAILQ_FOREACH(sv, &pool->servers, link)
    {
        switch (sv->state) {
        case SV_CONNECTING: sp->sv_connecting++; break;
        case SV_IDLE: sp->sv_idle++; break;
        case SV_SYNCING:
            sp->sv_syncing++;
            if (sv->client) sp->cl_waiting++; /* still CL_WAITING until its SETs are done */
            break;
        case SV_ACTIVE:
            sp->sv_active++;
            if (sv->client && sv->client->held)
                sp->cl_held++;
            else if (sv->client)
                sp->cl_active++;
            break;
        case SV_RESETTING: sp->sv_resetting++; break;
        case SV_CLOSED: break;
        }
    }
    Client *first = TAILQ_FIRST(&pool->waiters);
    sp->max_wait = first ? now - first->wait_since : 0;
    sp->stats = pool->stats;
}

static bool fill_pools(Proxy *w, SnapPart *p, double now)
{
    Pool *pool;
    int n = 0;
    TAILQ_FOREACH(pool, &w->pools, link) n++;
    if (n == 0) return true;
    p->pools = calloc((size_t)n, sizeof *p->pools);
    if (!p->pools) return false;
    TAILQ_FOREACH(pool, &w->pools, link) fill_pool(&p->pools[p->npools++], pool, now);
    return true;
}

static void fill_client(SnapClient *sc, const Client *cl, int worker, double now, double wall)
{
    snprintf(sc->tag, sizeof sc->tag, "%s", cl->tag);
    sc->worker = worker;
    sc->user = dup_or_null(cl->user);
    sc->dbname = dup_or_null(cl->database);
    sc->app = dup_or_null(params_get(&cl->want, "application_name"));
    sc->state = client_state_name(cl);
    snprintf(sc->addr, sizeof sc->addr, "%s", cl->peer_addr);
    sc->port = cl->peer_port;
    sc->connect_time = wall - (now - cl->accepted_at);
    sc->wait = cl->state == CL_WAITING ? now - cl->wait_since : 0;
    if (cl->server) snprintf(sc->server, sizeof sc->server, "%s", cl->server->tag);
    /* Session mode holds its server for life; auto mode only when pinned, and says why. */
    sc->pinned = cl->auto_mode ? cl->pin_reason : cl->server ? "session" : NULL;
    sc->tls = cl->tls;
}

static bool fill_clients(Proxy *w, SnapPart *p, unsigned what, double now, double wall)
{
    Client *cl;
    if ((what & SNAP_CLIENTS) && w->nclients > 0) {
        p->clients = calloc((size_t)w->nclients, sizeof *p->clients);
        if (!p->clients) return false;
    }
    TAILQ_FOREACH(cl, &w->clients, link)
    {
        switch (cl->state) {
        case CL_STARTUP:
        case CL_AUTH: p->cl_login++; break;
        case CL_WAITING: p->cl_waiting++; break;
        case CL_ACTIVE: *(cl->held ? &p->cl_held : &p->cl_active) += 1; break;
        case CL_ADMIN: p->cl_admin++; break;
        case CL_IDLE: p->cl_idle++; break;
        case CL_FLUSH_CLOSE:
        case CL_CLOSED: break;
        }
        if (p->clients && p->nclients < w->nclients)
            fill_client(&p->clients[p->nclients++], cl, w->index, now, wall);
    }
    return true;
}

static bool fill_servers(Proxy *w, SnapPart *p, double now, double wall)
{
    Pool *pool;
    Server *sv;
    int n = 0;
    TAILQ_FOREACH(pool, &w->pools, link) n += pool->nservers;
    if (n == 0) return true;
    p->servers = calloc((size_t)n, sizeof *p->servers);
    if (!p->servers) return false;
    TAILQ_FOREACH(pool, &w->pools, link)
    {
        TAILQ_FOREACH(sv, &pool->servers, link)
        {
            if (p->nservers == n) break;
            SnapServer *ss = &p->servers[p->nservers++];
            snprintf(ss->tag, sizeof ss->tag, "%s", sv->tag);
            ss->worker = w->index;
            ss->dbname = strdup(pool->dbname);
            ss->user = strdup(pool->user);
            ss->server = sv->budget ? sv->budget->key : "";
            ss->state = server_state_name(sv->state);
            ss->backend_pid = sv->backend_pid;
            if (sv->client) snprintf(ss->client, sizeof ss->client, "%s", sv->client->tag);
            ss->connect_time = wall - (now - sv->created_at);
            ss->tls = sv->tls;
        }
    }
    return true;
}

void snapshot_fill(Proxy *w, Snapshot *s)
{
    SnapPart *p = &s->parts[w->index];
    double now = proxy_now(), wall = snapshot_wall_now();
    if (!fill_pools(w, p, now)) p->oom = true;
    if (!fill_clients(w, p, s->what, now, wall)) p->oom = true;
    if ((s->what & SNAP_SERVERS) && !fill_servers(w, p, now, wall)) p->oom = true;
    /* The decrement publishes this part (seq_cst); the last worker sees every part. */
    if (atomic_fetch_sub(&s->pending, 1) == 1) {
        Msg *m = s->done_msg;
        s->done_msg = NULL;
        worker_post(s->origin, m);
    }
}

/* ---- Finishing on the origin ---- */

static void read_budgets(Snapshot *s, Root *root)
{
    int n = 0, i = 0;
    Budget *l;
    /* Budgets are only ever added (at the head) and freed after the workers stop: the pointers
     * taken under the lock stay valid, and budget_info locks each one itself. */
    pthread_mutex_lock(&root->lock);
    for (l = root->budgets; l; l = l->next)
        n++;
    s->budgets = n ? calloc((size_t)n, sizeof *s->budgets) : NULL;
    for (l = root->budgets; l && s->budgets; l = l->next)
        s->budgets[i++].budget = l;
    pthread_mutex_unlock(&root->lock);
    if (!s->budgets) return;
    s->nbudgets = n;
    for (i = 0; i < n; i++)
        budget_info(s->budgets[i].budget, &s->budgets[i].info);
}

void snapshot_finish(Proxy *origin, Snapshot *s)
{
    read_budgets(s, origin->root);
    s->done(origin, s);
    snapshot_free(s);
}

void snapshot_drop(Msg *m)
{
    Snapshot *s = m->snapshot;
    if (!s) return;
    m->snapshot = NULL;
    if (m->kind == MSG_SNAPSHOT_DONE || atomic_fetch_sub(&s->pending, 1) == 1) snapshot_free(s);
}

/* ---- Merging ---- */

static int pool_cmp(const void *a, const void *b)
{
    const SnapPool *x = a, *y = b;
    int c = strcmp(x->dbname ? x->dbname : "", y->dbname ? y->dbname : "");
    return c ? c : strcmp(x->user ? x->user : "", y->user ? y->user : "");
}

static void pool_add(SnapPool *a, const SnapPool *b)
{
    a->paused = a->paused || b->paused;
    if (b->size > a->size) a->size = b->size;
    a->cl_active += b->cl_active, a->cl_waiting += b->cl_waiting, a->cl_held += b->cl_held;
    a->sv_active += b->sv_active, a->sv_idle += b->sv_idle;
    a->sv_connecting += b->sv_connecting, a->sv_syncing += b->sv_syncing;
    a->sv_resetting += b->sv_resetting;
    if (b->max_wait > a->max_wait) a->max_wait = b->max_wait;
    stats_merge(&a->stats, &b->stats);
}

SnapPool *snapshot_pools(const Snapshot *s, int *n)
{
    int total = 0, out = 0;
    *n = 0;
    for (int i = 0; i < s->nparts; i++)
        total += s->parts[i].npools;
    if (total == 0) return NULL;
    SnapPool *all = malloc((size_t)total * sizeof *all);
    if (!all) return NULL;
    for (int i = 0; i < s->nparts; i++)
        for (int j = 0; j < s->parts[i].npools; j++)
            all[out++] = s->parts[i].pools[j];
    qsort(all, (size_t)total, sizeof *all, pool_cmp);
    /* Equal (database, user) pairs are adjacent now: fold each run into its first entry. */
    out = 0;
    for (int i = 0; i < total; i++) {
        if (out > 0 && pool_cmp(&all[out - 1], &all[i]) == 0)
            pool_add(&all[out - 1], &all[i]);
        else
            all[out++] = all[i];
    }
    *n = out;
    return all;
}
