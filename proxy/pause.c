/* pause.c - PAUSE / RESUME (see pause.h). */
#include "pause.h"

#include "client.h"
#include "log.h"
#include "pool.h"
#include "server.h"

#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int paused_index(const Root *root, const char *db)
{
    for (int i = 0; i < root->npaused_dbs; i++)
        if (strcmp(root->paused_dbs[i], db) == 0) return i;
    return -1;
}

static void paused_clear(Root *root)
{
    for (int i = 0; i < root->npaused_dbs; i++)
        free(root->paused_dbs[i]);
    free(root->paused_dbs);
    root->paused_dbs = NULL;
    root->npaused_dbs = 0;
}

/* Add db to the list (under lock). False when out of memory. */
static bool paused_add(Root *root, const char *db)
{
    if (paused_index(root, db) >= 0) return true;
    char **v = realloc(root->paused_dbs, (size_t)(root->npaused_dbs + 1) * sizeof *v);
    if (!v) return false;
    root->paused_dbs = v;
    if (!(v[root->npaused_dbs] = strdup(db))) return false;
    root->npaused_dbs++;
    return true;
}

bool pause_set(Root *root, bool pause, const char *db, char *err, size_t errlen)
{
    bool ok = true;
    err[0] = '\0';
    pthread_mutex_lock(&root->lock);
    if (pause && !db) {
        root->paused_all = true;
    } else if (pause) {
        ok = paused_add(root, db);
        if (!ok) snprintf(err, errlen, "out of memory");
    } else if (!db) {
        root->paused_all = false;
        paused_clear(root);
    } else if (root->paused_all) {
        ok = false;
        snprintf(err, errlen,
                 "every database is paused: RESUME without a name resumes them all (database "
                 "\"%.100s\" cannot be resumed alone)",
                 db);
    } else {
        int i = paused_index(root, db);
        if (i >= 0) {
            free(root->paused_dbs[i]);
            root->paused_dbs[i] = root->paused_dbs[--root->npaused_dbs];
        }
    }
    pthread_mutex_unlock(&root->lock);
    return ok;
}

bool pause_is_paused(Root *root, const char *db)
{
    pthread_mutex_lock(&root->lock);
    bool paused = root->paused_all || paused_index(root, db) >= 0;
    pthread_mutex_unlock(&root->lock);
    return paused;
}

/* Clients of w held at a boundary whose pool runs again: read them again. */
static void pause_release_clients(Proxy *w)
{
    Client *cl, *next;
    /* Relaying may close the client (Terminate was held): take the next one first. */
    for (cl = TAILQ_FIRST(&w->clients); cl; cl = next) {
        next = TAILQ_NEXT(cl, link);
        if (!cl->held || (cl->pool && cl->pool->paused)) continue;
        cl->held = false;
        if (cl->state != CL_ACTIVE) continue;
        if (!cl->rx.paused) bufferevent_enable(cl->bev, EV_READ);
        client_wake_reader(cl); /* what was buffered when it was held */
    }
}

void pause_apply(Proxy *w, bool pause, const char *db)
{
    Pool *pool;
    bool resumed = false;
    TAILQ_FOREACH(pool, &w->pools, link)
    {
        bool paused = pause_is_paused(w->root, pool->dbname);
        if (pool->paused == paused) continue;
        pool->paused = paused;
        if (!paused) {
            resumed = true;
            pool_service(pool);
        }
    }
    if (resumed) pause_release_clients(w);
    if (w->index == 0)
        log_info(NULL, "%s %s", pause ? "PAUSE" : "RESUME", db ? db : "(all databases)");
}

bool pause_hold(Client *cl)
{
    if (!cl->pool || !cl->pool->paused || !cl->server || !server_is_clean(cl->server)) return false;
    if (!cl->held) log_debug(cl->tag, "held by PAUSE");
    cl->held = true;
    bufferevent_disable(cl->bev, EV_READ);
    return true;
}

void pause_free(Root *root)
{
    paused_clear(root);
    root->paused_all = false;
}
