/* proxy.c - small shared helpers of the root context: clock, random keys, reaper, params. */
#include "proxy.h"

#include "pool.h"
#include "sql.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double proxy_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint32_t proxy_random_seed(void)
{
    uint32_t seed = 0;
    if (RAND_bytes((unsigned char *)&seed, sizeof seed) != 1) seed = (uint32_t)time(NULL);
    return seed | 1;
}

uint32_t proxy_random(Proxy *px)
{
    /* xorshift64*: cancel keys need to be unguessable by other clients, not cryptographic;
     * the seed comes from OpenSSL's RAND_bytes at start-up. */
    uint64_t x = px->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    px->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

void proxy_schedule_reap(Proxy *px)
{
    if (px->reaper) event_active(px->reaper, EV_TIMEOUT, 0);
}

bool params_set(Params *p, const char *name, const char *value)
{
    for (int i = 0; i < p->n; i++) {
        if (strcasecmp(p->name[i], name) == 0) {
            char *v = strdup(value);
            if (!v) return false;
            free(p->value[i]);
            p->value[i] = v;
            return true;
        }
    }
    if (p->n == PARAMS_MAX) return false;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 4;
        char **nn = realloc(p->name, (size_t)cap * sizeof *nn);
        if (!nn) return false;
        p->name = nn;
        char **nv = realloc(p->value, (size_t)cap * sizeof *nv);
        if (!nv) return false;
        p->value = nv;
        p->cap = cap;
    }
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n), free(v);
        return false;
    }
    p->name[p->n] = n;
    p->value[p->n++] = v;
    return true;
}

const char *params_get(const Params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcasecmp(p->name[i], name) == 0) return p->value[i];
    return NULL;
}

void params_free(Params *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->name[i]), free(p->value[i]);
    free(p->name), free(p->value);
    p->name = p->value = NULL;
    p->n = p->cap = 0;
}

void proxy_maybe_finish_drain(Proxy *px)
{
    if (!px->draining || px->nclients > 0) return;
    pool_close_idle(px);
    event_base_loopexit(px->base, NULL);
}

/* Statement texts a worker classifies (auto mode, write shaping): 4096 of them, 4 MB. */
#define PROXY_SQL_CACHE_ENTRIES 4096
#define PROXY_SQL_CACHE_BYTES   (4u << 20)

struct SqlCache *proxy_sql_cache(Proxy *px)
{
    if (!px->sqlcache) px->sqlcache = sql_cache_new(PROXY_SQL_CACHE_ENTRIES, PROXY_SQL_CACHE_BYTES);
    return px->sqlcache;
}
