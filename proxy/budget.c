/* budget.c - per-server connection budgets read from the server (see budget.h). */
#include "budget.h"

#include "log.h"
#include "proxy.h"
#include "tcp.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads asked for by pools come no closer together than this (seconds), and when the grant is
 * already the whole budget, no closer than BUDGET_FULL_GAP: only others leaving can help. */
#define BUDGET_MIN_GAP  0.005
#define BUDGET_FULL_GAP 0.5
/* Granted when the server cannot be read: the pools' own sizes are the only cap then. */
#define BUDGET_UNCAPPED (INT_MAX / 2)
/* A reading (connecting included) not done after this many seconds beyond
 * server_connect_timeout is given up: the server went away without closing the connection. */
#define BUDGET_READ_SLACK 10.0

/* ---- The reading ---- */

int budget_headroom(double pct, int abs, int max_connections)
{
    if (abs >= 0) return abs;
    int h = (int)ceil(pct * max_connections / 100.0);
    return h < 2 ? 2 : h;
}

static bool int_cell(const PGresult *r, int row, int col, int *out)
{
    if (PQgetisnull(r, row, col)) return false;
    char *end;
    errno = 0;
    long v = strtol(PQgetvalue(r, row, col), &end, 10);
    if (errno || *end || v < INT_MIN || v > INT_MAX) return false;
    *out = (int)v;
    return true;
}

static bool is_ours(int pid, const int *ours, int nours)
{
    for (int i = 0; i < nours; i++)
        if (ours[i] == pid) return true;
    return false;
}

bool budget_parse(const PGresult *settings, const PGresult *backends, const PGresult *roles,
                  const int *ours, int nours, const char *role, double headroom_pct,
                  int headroom_abs, BudgetFacts *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->role_limit = -1;
    if (!settings || PQresultStatus(settings) != PGRES_TUPLES_OK || PQntuples(settings) != 1 ||
        PQnfields(settings) < 5 || !int_cell(settings, 0, 0, &f->max_connections) ||
        !int_cell(settings, 0, 1, &f->superuser_reserved) ||
        !int_cell(settings, 0, 2, &f->reserved) || !int_cell(settings, 0, 3, &f->self_pid)) {
        snprintf(err, errlen, "unexpected answer to the settings query");
        return false;
    }
    snprintf(f->version, sizeof f->version, "%s", PQgetvalue(settings, 0, 4));
    if (!backends || PQresultStatus(backends) != PGRES_TUPLES_OK || PQnfields(backends) < 2) {
        snprintf(err, errlen, "unexpected answer to the pg_stat_activity query");
        return false;
    }
    for (int i = 0; i < PQntuples(backends); i++) {
        int pid;
        if (!int_cell(backends, i, 0, &pid)) continue;
        bool mine = pid == f->self_pid || is_ours(pid, ours, nours);
        f->backends++;
        f->ours += mine;
        if (!mine && role && strcmp(PQgetvalue(backends, i, 1), role) == 0) f->role_others++;
    }
    f->others = f->backends - f->ours;
    for (int i = 0; role && roles && PQresultStatus(roles) == PGRES_TUPLES_OK &&
                    PQnfields(roles) >= 2 && i < PQntuples(roles);
         i++)
        if (strcmp(PQgetvalue(roles, i, 0), role) == 0) int_cell(roles, i, 1, &f->role_limit);
    f->headroom = budget_headroom(headroom_pct, headroom_abs, f->max_connections);
    f->budget = f->max_connections - f->superuser_reserved - f->reserved - f->others - f->headroom;
    if (f->role_limit >= 0 && f->role_limit - f->role_others < f->budget)
        f->budget = f->role_limit - f->role_others;
    if (f->budget < 0) f->budget = 0;
    return true;
}

/* ---- Finding a server's Budget ---- */

char *budget_server_key(const char *conninfo)
{
    char *errmsg = NULL, buf[512];
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    const char *host = NULL, *addr = NULL, *port = NULL;
    PQfreemem(errmsg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !o->val[0]) continue;
        if (strcmp(o->keyword, "host") == 0) host = o->val;
        if (strcmp(o->keyword, "hostaddr") == 0) addr = o->val;
        if (strcmp(o->keyword, "port") == 0) port = o->val;
    }
    if (!host) host = addr ? addr : getenv("PGHOST");
    if (!port) port = getenv("PGPORT");
    snprintf(buf, sizeof buf, "%s:%s", host && host[0] ? host : "/var/run/postgresql",
             port && port[0] ? port : "5432");
    if (opts) PQconninfoFree(opts);
    return strdup(buf);
}

BudgetTsa budget_conninfo_tsa(const char *conninfo)
{
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    const char *v = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "target_session_attrs") == 0 && o->val && o->val[0]) v = o->val;
    if (!v) v = getenv("PGTARGETSESSIONATTRS");
    BudgetTsa tsa = !v                             ? BUDGET_TSA_ANY
                    : strcmp(v, "read-write") == 0 ? BUDGET_TSA_READ_WRITE
                    : strcmp(v, "primary") == 0    ? BUDGET_TSA_PRIMARY
                                                   : BUDGET_TSA_ANY;
    if (opts) PQconninfoFree(opts);
    return tsa;
}

static void budget_wake(Root *root)
{
    uint64_t one = 1;
    if (root->budget_fd >= 0 && write(root->budget_fd, &one, sizeof one) < 0)
        log_warn(NULL, "eventfd: %s", strerror(errno));
}

static void set_login(Budget *l, const char *conninfo, const char *user, const char *dbname)
{
    char *c = strdup(conninfo), *u = user ? strdup(user) : NULL,
         *d = dbname ? strdup(dbname) : NULL;
    if (!c || (user && !u) || (dbname && !d)) {
        free(c), free(u), free(d);
        return;
    }
    free(l->conninfo), free(l->user), free(l->dbname);
    l->conninfo = c, l->user = u, l->dbname = d;
}

/* Whether the server a [databases] conninfo leads to is l's. */
static bool same_server(const Budget *l, const char *conninfo)
{
    char *k = budget_server_key(conninfo);
    bool same = k && strcmp(k, l->key) == 0;
    free(k);
    return same;
}

Budget *budget_get(Root *root, const char *conninfo, const char *user, const char *dbname)
{
    char *key = budget_server_key(conninfo);
    Budget *l;
    if (!key) return NULL;
    pthread_mutex_lock(&root->lock);
    for (l = root->budgets; l; l = l->next)
        if (strcmp(l->key, key) == 0) break;
    if (l && atomic_load(&l->state) == BUDGET_UNKNOWN) {
        /* Its control login fails (a database that does not exist?): try this pool's. */
        pthread_mutex_lock(&l->lock);
        set_login(l, conninfo, user, dbname);
        pthread_mutex_unlock(&l->lock);
    }
    if (!l && (l = calloc(1, sizeof *l)) != NULL) {
        l->root = root;
        l->key = key, key = NULL;
        set_login(l, conninfo, user, dbname);
        pthread_mutex_init(&l->lock, NULL);
        atomic_init(&l->state, BUDGET_NEW);
        atomic_init(&l->total, BUDGET_UNCAPPED);
        if (!l->conninfo) {
            free(l->key), free(l);
            l = NULL;
        } else {
            l->next = root->budgets;
            root->budgets = l;
            atomic_store(&l->want_read, true);
        }
    }
    pthread_mutex_unlock(&root->lock);
    free(key);
    if (l && atomic_load(&l->want_read)) budget_wake(root);
    return l;
}

/* ---- Claiming ---- */

bool budget_reserve(Budget *l)
{
    int n = atomic_load(&l->inuse);
    while (n < atomic_load(&l->grant))
        if (atomic_compare_exchange_weak(&l->inuse, &n, n + 1)) return true;
    if (!atomic_exchange(&l->want_read, true)) budget_wake(l->root);
    return false;
}

void budget_release(Budget *l)
{
    atomic_fetch_sub(&l->inuse, 1);
}

void budget_pid_add(Budget *l, int pid)
{
    pthread_mutex_lock(&l->lock);
    if (l->npids == l->cappids) {
        int cap = l->cappids ? l->cappids * 2 : 16;
        int *p = realloc(l->pids, (size_t)cap * sizeof *p);
        if (p) l->pids = p, l->cappids = cap;
    }
    /* Out of memory: the pid is seen as another's, which only makes the budget smaller. */
    if (l->npids < l->cappids) l->pids[l->npids++] = pid;
    pthread_mutex_unlock(&l->lock);
    /* Now visible as ours: the next step of growth can be granted. */
    if (atomic_load(&l->nstarved) > 0 && !atomic_exchange(&l->want_read, true))
        budget_wake(l->root);
}

void budget_pid_del(Budget *l, int pid)
{
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->npids; i++) {
        if (l->pids[i] == pid) {
            l->pids[i] = l->pids[--l->npids];
            break;
        }
    }
    pthread_mutex_unlock(&l->lock);
}

void budget_overflow(Budget *l)
{
    int held = atomic_load(&l->inuse);
    int g = atomic_load(&l->grant);
    while (g > held && !atomic_compare_exchange_weak(&l->grant, &g, held)) {
    }
    log_warn(NULL, "%s: server has no connection slot left (53300): grant lowered to %d", l->key,
             held);
    atomic_store(&l->want_read, true);
    budget_wake(l->root);
}

void budget_follow(Budget *l)
{
    if (atomic_exchange(&l->reconnect, true)) return;
    log_info(NULL, "%s: server turned read-only: the control connection reconnects", l->key);
    atomic_store(&l->want_read, true);
    budget_wake(l->root);
}

void budget_info(Budget *l, BudgetInfo *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&l->lock);
    snprintf(out->key, sizeof out->key, "%s", l->key);
    out->facts = l->facts;
    out->age = l->read_at > 0 ? proxy_now() - l->read_at : -1;
    snprintf(out->error, sizeof out->error, "%s", l->error);
    snprintf(out->warning, sizeof out->warning, "%s", l->warning);
    pthread_mutex_unlock(&l->lock);
    out->state = (BudgetState)atomic_load(&l->state);
    out->inuse = atomic_load(&l->inuse);
    out->grant = atomic_load(&l->grant);
    out->nstarved = atomic_load(&l->nstarved);
    const Shaper *sh = &l->shaper;
    int64_t iv = atomic_load(&sh->interval);
    out->write_rate = iv > 0 ? 1e9 / (double)iv : 0;
    out->write_burst = iv > 0 ? (int)(atomic_load(&sh->tolerance) / iv) + 1 : 0;
    out->writes_waiting = atomic_load(&sh->queued);
    out->writes_admitted = atomic_load(&sh->admitted);
    out->writes_delayed = atomic_load(&sh->delayed);
    out->write_delay_us = atomic_load(&sh->delay_us);
    out->writes_canceled = atomic_load(&sh->canceled);
    out->writes_expired = atomic_load(&sh->expired);
    for (int i = 0; i <= SHAPER_DELAY_BUCKETS; i++)
        out->write_delay_hist[i] = atomic_load(&sh->delay_hist[i]);
}

void budget_describe(Budget *l, char *buf, size_t len)
{
    BudgetInfo li;
    buf[0] = '\0';
    if (!l) return;
    budget_info(l, &li);
    if (li.state == BUDGET_NEW)
        snprintf(buf, len, "server %s: reading its max_connections", li.key);
    else if (li.state == BUDGET_OK && li.inuse >= li.grant)
        snprintf(buf, len,
                 "server %s is at pgpin's connection budget: %d of %d in use (max_connections %d, "
                 "reserved %d, others %d, headroom %d)",
                 li.key, li.inuse, li.facts.budget, li.facts.max_connections,
                 li.facts.superuser_reserved + li.facts.reserved, li.facts.others,
                 li.facts.headroom);
}

/* ---- The control connection (main thread) ---- */

static void budget_ctl_cb(evutil_socket_t fd, short what, void *arg);

static void ctl_wait(Budget *l, short what)
{
    event_del(l->ev);
    event_assign(l->ev, l->root->base, PQsocket(l->ctl), what, budget_ctl_cb, l);
    event_add(l->ev, NULL);
}

static void ctl_clear(Budget *l)
{
    for (int i = 0; i < 3; i++) {
        if (l->res[i]) PQclear(l->res[i]);
        l->res[i] = NULL;
    }
}

static void ctl_close(Budget *l)
{
    if (l->ev) event_del(l->ev);
    if (l->ctl) PQfinish(l->ctl);
    l->ctl = NULL;
    l->step = 0;
    ctl_clear(l);
    if (l->ctl_pid) budget_release(l); /* its slot in "in use" */
    l->ctl_pid = 0;
}

/* Reading failed: fall back to uncapped pools (they will meet the server's own answer). */
static void ctl_failed(Budget *l, const char *why)
{
    const Config *cfg = l->root->cfg;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", why);
    msg[strcspn(msg, "\n")] = '\0';
    if (strcmp(msg, l->error) != 0)
        log_warn(NULL,
                 "%s: cannot read the connection budget (%s); pools are capped by their "
                 "sizes only until it can",
                 l->key, msg);
    pthread_mutex_lock(&l->lock);
    snprintf(l->error, sizeof l->error, "%s", msg);
    pthread_mutex_unlock(&l->lock);
    ctl_close(l);
    atomic_store(&l->state, BUDGET_UNKNOWN);
    atomic_store(&l->grant, BUDGET_UNCAPPED);
    atomic_store(&l->total, BUDGET_UNCAPPED);
    l->next_read = proxy_now() + cfg->limits_refresh_interval;
    if (atomic_load(&l->nstarved) > 0) worker_broadcast(l->root, MSG_SERVICE, NULL);
}

/* Warn (once per change) when the budget cannot give a pool DBOS's minimum of 5, or falls
 * below what the configured min_pool_size values of this server's pools add up to. */
static void budget_check_floor(Budget *l, const Config *cfg, int budget)
{
    int mins = 0, smallest = INT_MAX;
    char warn[sizeof l->warning];
    for (int i = 0; i < cfg->ndbs; i++) {
        if (!same_server(l, cfg->dbs[i].conninfo)) continue;
        mins += cfg->dbs[i].min_pool_size;
        if (cfg->dbs[i].pool_size < smallest) smallest = cfg->dbs[i].pool_size;
    }
    warn[0] = '\0';
    if (budget < 5)
        snprintf(warn, sizeof warn, "budget %d is below 5, DBOS's minimum pool size", budget);
    else if (budget < mins)
        snprintf(warn, sizeof warn, "budget %d is below the pools' min_pool_size total %d", budget,
                 mins);
    else if (smallest < 5)
        snprintf(warn, sizeof warn, "a pool_size of %d is below 5, DBOS's minimum pool size",
                 smallest);
    pthread_mutex_lock(&l->lock);
    bool changed = strcmp(warn, l->warning) != 0;
    snprintf(l->warning, sizeof l->warning, "%s", warn);
    pthread_mutex_unlock(&l->lock);
    if (changed && warn[0]) log_warn(NULL, "%s: %s", l->key, warn);
}

/* The control connection's server no longer qualifies for the conninfo's target_session_attrs
 * (ParameterStatus told libpq so during the reading). */
static bool ctl_read_only(Budget *l)
{
    pthread_mutex_lock(&l->lock);
    BudgetTsa tsa = budget_conninfo_tsa(l->conninfo);
    pthread_mutex_unlock(&l->lock);
    const char *hs = PQparameterStatus(l->ctl, "in_hot_standby");
    const char *ro = PQparameterStatus(l->ctl, "default_transaction_read_only");
    if (tsa != BUDGET_TSA_ANY && hs && strcmp(hs, "on") == 0) return true;
    return tsa == BUDGET_TSA_READ_WRITE && ro && strcmp(ro, "on") == 0;
}

/* The three results are in: compute the budget and the grant. */
static void ctl_reading_done(Budget *l)
{
    const Config *cfg = l->root->cfg;
    BudgetFacts f;
    char err[200];
    pthread_mutex_lock(&l->lock);
    bool ok =
        budget_parse(l->res[0], l->res[1], l->res[2], l->pids, l->npids, PQuser(l->ctl),
                     cfg->reserve_headroom_pct, cfg->reserve_headroom_abs, &f, err, sizeof err);
    if (ok) {
        l->facts = f;
        l->error[0] = '\0';
        l->read_at = proxy_now();
    }
    pthread_mutex_unlock(&l->lock);
    ctl_clear(l);
    l->step = 0;
    if (!ok) {
        ctl_failed(l, err);
        return;
    }
    if (ctl_read_only(l)) { /* a demoted primary's facts are not the new one's */
        log_info(NULL, "%s: the control connection's server is read-only: it reconnects", l->key);
        ctl_close(l);
        l->next_read = proxy_now();
        return;
    }
    /* Grow by a step past the connections the server already shows as ours: another pgpin
     * cannot see what we were granted but have not opened yet, so the step bounds how far two
     * instances growing at once can overshoot together; half the headroom each covers it. */
    int step = f.headroom / 2 > 1 ? f.headroom / 2 : 1;
    int grant = f.ours + step < f.budget ? f.ours + step : f.budget;
    if (grant < atomic_load(&l->inuse) && f.budget >= atomic_load(&l->inuse))
        grant = atomic_load(&l->inuse); /* not proven over budget: keep what is open */
    atomic_store(&l->total, f.budget);
    int old = atomic_exchange(&l->grant, grant);
    BudgetState was = (BudgetState)atomic_exchange(&l->state, BUDGET_OK);
    if (was != BUDGET_OK)
        log_info(NULL, "%s: max_connections %d, reserved %d, others %d, headroom %d: budget %d",
                 l->key, f.max_connections, f.superuser_reserved + f.reserved, f.others, f.headroom,
                 f.budget);
    budget_check_floor(l, cfg, f.budget);
    l->next_read = proxy_now() + cfg->limits_refresh_interval;
    if (grant > old && atomic_load(&l->nstarved) > 0) worker_broadcast(l->root, MSG_SERVICE, NULL);
}

static void ctl_read_results(Budget *l)
{
    if (!PQconsumeInput(l->ctl)) {
        ctl_failed(l, PQerrorMessage(l->ctl));
        return;
    }
    while (!PQisBusy(l->ctl)) {
        PGresult *r = PQgetResult(l->ctl);
        if (!r) {
            if (l->step != 4) {
                ctl_failed(l, "the budget query returned too few results");
                return;
            }
            ctl_reading_done(l);
            return;
        }
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
            PQclear(r);
            ctl_failed(l, msg);
            return;
        }
        if (l->step >= 1 && l->step <= 3)
            l->res[l->step - 1] = r;
        else
            PQclear(r);
        l->step++;
    }
    /* More to come (the results came in pieces, or only a notice before the server went):
     * the event fires once per ctl_wait. */
    ctl_wait(l, EV_READ);
}

static void ctl_send(Budget *l)
{
    if (!PQsendQuery(l->ctl, BUDGET_SQL_SETTINGS "; " BUDGET_SQL_BACKENDS "; " BUDGET_SQL_ROLES)) {
        ctl_failed(l, PQerrorMessage(l->ctl));
        return;
    }
    atomic_store(&l->want_read, false);
    l->step = 1;
    l->read_started = proxy_now();
    l->flushing = PQflush(l->ctl) == 1;
    ctl_wait(l, l->flushing ? EV_READ | EV_WRITE : EV_READ);
}

static void budget_ctl_cb(evutil_socket_t fd, short what, void *arg)
{
    Budget *l = arg;
    (void)fd;
    if (l->step == -1) { /* connecting */
        switch (PQconnectPoll(l->ctl)) {
        case PGRES_POLLING_READING: ctl_wait(l, EV_READ); return;
        case PGRES_POLLING_WRITING: ctl_wait(l, EV_WRITE); return;
        case PGRES_POLLING_OK:
            PQsetnonblocking(l->ctl, 1);
            l->ctl_pid = PQbackendPID(l->ctl);
            atomic_fetch_add(&l->inuse, 1); /* the control connection is one of ours */
            ctl_send(l);
            return;
        default: ctl_failed(l, PQerrorMessage(l->ctl)); return;
        }
    }
    /* The query phase: the event is one-shot, so it is armed again until the reading ends
     * (results may come in several segments; the query may need more than one write). */
    if ((what & EV_WRITE) || l->flushing) {
        int f = PQflush(l->ctl);
        if (f < 0) {
            ctl_failed(l, PQerrorMessage(l->ctl));
            return;
        }
        l->flushing = f == 1;
    }
    if (what & EV_READ) {
        ctl_read_results(l);
        if (!l->ctl || l->step <= 0) return; /* done, or failed and closed */
    }
    ctl_wait(l, l->flushing ? EV_READ | EV_WRITE : EV_READ);
}

/* Start a reading: connect first when there is no control connection. */
static void budget_read(Budget *l)
{
    if (l->step != 0) return;
    if (l->ctl) {
        ctl_send(l);
        return;
    }
    const char *keys[6 + TCP_LIBPQ_MAX], *vals[6 + TCP_LIBPQ_MAX];
    char timeout[32];
    TcpLibpqText tcp;
    snprintf(timeout, sizeof timeout, "%d", (int)ceil(l->root->cfg->server_connect_timeout));
    /* As server_open does: keepalives, the conninfo expanded over them, the pool's login over
     * it (a reading stuck on a dead server would stall the budget). */
    int n = tcp_libpq_params(l->root->cfg, keys, vals, &tcp);
    pthread_mutex_lock(&l->lock);
    keys[n] = "dbname", vals[n++] = l->conninfo;
    if (l->user) keys[n] = "user", vals[n++] = l->user;
    if (l->dbname) keys[n] = "dbname", vals[n++] = l->dbname;
    keys[n] = "application_name", vals[n++] = "pgpin-limits";
    keys[n] = "connect_timeout", vals[n++] = timeout;
    keys[n] = NULL, vals[n] = NULL;
    atomic_store(&l->want_read, false);
    l->ctl = PQconnectStartParams(keys, vals, 1);
    pthread_mutex_unlock(&l->lock);
    if (!l->ctl || PQstatus(l->ctl) == CONNECTION_BAD) {
        ctl_failed(l, l->ctl ? PQerrorMessage(l->ctl) : "out of memory");
        return;
    }
    l->step = -1;
    l->read_started = proxy_now();
    ctl_wait(l, EV_WRITE);
}

/* Every limit: read when due, or when a pool asked and the last reading is old enough. */
static void budget_tick(Root *root)
{
    double now = proxy_now();
    pthread_mutex_lock(&root->lock);
    Budget *head = root->budgets;
    pthread_mutex_unlock(&root->lock);
    /* New budgets are pushed at the head: the list from head on never changes. */
    for (Budget *l = head; l; l = l->next) {
        if (!l->ev) l->ev = event_new(root->base, -1, 0, budget_ctl_cb, l);
        if (!l->ev) continue;
        /* A reading that hangs (a server that stopped answering) is given up. */
        if (l->step != 0 &&
            now - l->read_started > root->cfg->server_connect_timeout + BUDGET_READ_SLACK)
            ctl_failed(l, "no answer from the server");
        if (now >= l->next_aimd) { /* write_rate = auto: one step every half second */
            shaper_aimd_step(&l->shaper);
            l->next_aimd = now + 0.5;
        }
        if (l->step != 0) continue;
        if (atomic_exchange(&l->reconnect, false)) { /* budget_follow: a fresh connection */
            ctl_close(l);
            budget_read(l);
            continue;
        }
        double gap = atomic_load(&l->grant) >= l->facts.budget ? BUDGET_FULL_GAP : BUDGET_MIN_GAP;
        bool asked = atomic_load(&l->want_read) &&
                     (atomic_load(&l->state) != BUDGET_OK || now - l->read_at >= gap);
        if (now >= l->next_read || asked) budget_read(l);
    }
}

static void budget_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warn(NULL, "eventfd: %s", strerror(errno));
    budget_tick(arg);
}

static void budget_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    budget_tick(arg);
}

bool budget_start(Root *root)
{
    struct timeval tick = {0, 50 * 1000};
    root->budget_ev =
        event_new(root->base, root->budget_fd, EV_READ | EV_PERSIST, budget_wake_cb, root);
    root->budget_timer = event_new(root->base, -1, EV_PERSIST, budget_timer_cb, root);
    if (!root->budget_ev || !root->budget_timer) return false;
    event_add(root->budget_ev, NULL);
    event_add(root->budget_timer, &tick);
    return true;
}

void budget_free_all(Root *root)
{
    Budget *l, *next;
    for (l = root->budgets; l; l = next) {
        next = l->next;
        ctl_close(l);
        if (l->ev) event_free(l->ev);
        free(l->key), free(l->conninfo), free(l->user), free(l->dbname), free(l->pids);
        pthread_mutex_destroy(&l->lock);
        free(l);
    }
    root->budgets = NULL;
    if (root->budget_ev) event_free(root->budget_ev);
    if (root->budget_timer) event_free(root->budget_timer);
    root->budget_ev = root->budget_timer = NULL;
}
