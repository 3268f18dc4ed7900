/* router_cache.c - a per-worker cache of routing plans keyed by (schema, statement text), like
 * sql_cache.c's for classifications: a fixed array of entries, an open-addressing index (linear
 * probing, at most half full, backward-shift deletion) of a seeded 64-bit hash with full key
 * compares, and CLOCK eviction. */
#include "router.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RC_MAX_ENTRIES (1u << 24)

typedef struct RcEntry {
    uint64_t hash;
    char *key; /* schema, NUL, text; NULL when the slot is free */
    size_t keylen;
    RouteInfo info;
    bool ref;
} RcEntry;

struct RouteCache {
    RcEntry *e;
    uint32_t *index; /* slot + 1, 0 = empty */
    size_t max, mask, used, hand;
    uint64_t k1, k2;
    RouteInfo held; /* planned but not kept (a text too large), freed at the next call */
    uint64_t hits, misses;
};

static uint64_t rc_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t rc_hash(const RouteCache *c, const char *schema, size_t sl, const char *p, size_t n)
{
    uint64_t h = rc_mix(sl ^ c->k1, n ^ c->k2);
    for (size_t i = 0; i < sl; i++)
        h = rc_mix(h ^ (unsigned char)schema[i], c->k1);
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = rc_mix(h ^ w, c->k2);
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return rc_mix(h ^ w, c->k1 ^ n);
}

RouteCache *route_cache_new(size_t max_entries)
{
    if (max_entries == 0 || max_entries > RC_MAX_ENTRIES) return NULL;
    RouteCache *c = calloc(1, sizeof *c);
    size_t isize = 16;
    while (isize < 2 * max_entries)
        isize *= 2;
    if (!c || !(c->e = calloc(max_entries, sizeof *c->e)) ||
        !(c->index = calloc(isize, sizeof *c->index))) {
        route_cache_free(c);
        return NULL;
    }
    c->max = max_entries;
    c->mask = isize - 1;
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)(uintptr_t)c ^ (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull;
        k[1] = (uint64_t)ts.tv_sec ^ k[0] * 0xe7037ed1a0b428dbull;
    }
    c->k1 = k[0] | 1;
    c->k2 = k[1] | 1;
    return c;
}

void route_cache_free(RouteCache *c)
{
    if (!c) return;
    for (size_t i = 0; c->e && i < c->max; i++) {
        free(c->e[i].key);
        route_info_free(&c->e[i].info);
    }
    route_info_free(&c->held);
    free(c->e);
    free(c->index);
    free(c);
}

static void rc_unindex(RouteCache *c, uint32_t slot)
{
    size_t i = c->e[slot].hash & c->mask;
    while (c->index[i] != slot + 1)
        i = (i + 1) & c->mask;
    for (size_t j = (i + 1) & c->mask; c->index[j]; j = (j + 1) & c->mask) {
        size_t home = c->e[c->index[j] - 1].hash & c->mask;
        if (((j - home) & c->mask) >= ((j - i) & c->mask)) {
            c->index[i] = c->index[j];
            i = j;
        }
    }
    c->index[i] = 0;
}

/* A free slot, evicting with CLOCK when all are used. */
static uint32_t rc_slot(RouteCache *c)
{
    if (c->used < c->max) return (uint32_t)c->used; /* filled in order; freed only to reuse */
    for (;;) {
        RcEntry *e = &c->e[c->hand];
        uint32_t slot = (uint32_t)c->hand;
        c->hand = (c->hand + 1) % c->max;
        if (e->ref) {
            e->ref = false;
            continue;
        }
        rc_unindex(c, slot);
        free(e->key);
        route_info_free(&e->info);
        memset(e, 0, sizeof *e);
        c->used--;
        return slot;
    }
}

const RouteInfo *router_plan(RouteCache *c, const char *schema, const char *text, size_t len)
{
    route_info_free(&c->held);
    if (len == 0) text = "";
    size_t sl = strlen(schema);
    uint64_t h = rc_hash(c, schema, sl, text, len);
    for (size_t i = h & c->mask; c->index[i]; i = (i + 1) & c->mask) {
        RcEntry *e = &c->e[c->index[i] - 1];
        if (e->hash == h && e->keylen == sl + 1 + len && memcmp(e->key, schema, sl + 1) == 0 &&
            memcmp(e->key + sl + 1, text, len) == 0) {
            e->ref = true;
            c->hits++;
            return &e->info;
        }
    }
    c->misses++;
    RouteInfo info;
    if (!router_plan_uncached(text, len, schema, &info)) return NULL;
    char *key = len <= SQL_PARSE_MAX_LEN ? malloc(sl + 1 + len) : NULL;
    if (!key) { /* too large to keep (or no memory for the key): answer once */
        c->held = info;
        return &c->held;
    }
    memcpy(key, schema, sl + 1);
    memcpy(key + sl + 1, text, len);
    uint32_t slot = rc_slot(c);
    c->e[slot] = (RcEntry){.hash = h, .key = key, .keylen = sl + 1 + len, .info = info};
    size_t i = h & c->mask;
    while (c->index[i])
        i = (i + 1) & c->mask;
    c->index[i] = slot + 1;
    c->used++;
    return &c->e[slot].info;
}

void route_cache_stats(const RouteCache *c, uint64_t *hits, uint64_t *misses, size_t *entries)
{
    *hits = c->hits;
    *misses = c->misses;
    *entries = c->used;
}
