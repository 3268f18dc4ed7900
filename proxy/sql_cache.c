/* sql_cache.c - per-worker cache of classifications keyed by statement text (see sql.h).
 *
 * Entries live in a fixed array of max_entries slots; an open-addressing index (linear probing,
 * at most half full, backward-shift deletion) maps a 64-bit hash of the text to a slot, and the
 * full text is compared, so there are no false hits. Eviction is CLOCK: a hit sets the entry's
 * bit, the hand clears bits until it finds an entry without one. */
#include "sql.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SQL_CACHE_MAX_ENTRIES (1u << 28) /* slot numbers + 1 fit the uint32 index */

typedef struct SqlEntry {
    uint64_t hash;
    char *text; /* owned copy; NULL when the slot is free */
    size_t len;
    size_t bytes; /* what it counts against max_bytes */
    SqlInfo info;
    SqlStmt one; /* a pre-filtered answer's statement (info.stmts points here) */
    bool ref;    /* CLOCK bit: used since the hand last passed */
} SqlEntry;

struct SqlCache {
    SqlEntry *e;     /* max_entries slots */
    uint32_t *free;  /* free slot numbers (a stack) */
    uint32_t *index; /* slot + 1, 0 = empty; mask + 1 >= 2 * max_entries */
    size_t max_entries, max_bytes, mask;
    size_t nfree, used, bytes, hand;
    uint64_t k1, k2;      /* hash secrets, random per cache (no flooding with crafted texts) */
    SqlStmt scratch_stmt; /* a pre-filtered answer too large to keep */
    SqlInfo scratch;
    SqlInfo held; /* a parsed answer too large to keep, freed at the next call */
    SqlCacheStats st;
};

/* ---- Hash: wyhash's multiply-fold over 16-byte blocks, with secrets drawn per cache ---- */

static uint64_t sql_hash_mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t sql_hash(const SqlCache *c, const char *p, size_t n)
{
    uint64_t h = n * 0xa0761d6478bd642full, a = 0, b = 0;
    size_t left = n;
    for (; left > 16; left -= 16, p += 16) {
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, 8);
        h = sql_hash_mix(a ^ c->k1, b ^ c->k2 ^ h);
    }
    a = b = 0;
    if (left > 8) {
        memcpy(&a, p, 8);
        memcpy(&b, p + 8, left - 8);
    } else if (left) {
        memcpy(&a, p, left);
    }
    return sql_hash_mix(sql_hash_mix(a ^ c->k1, b ^ c->k2 ^ h), n ^ c->k1);
}

static void sql_cache_seed(SqlCache *c)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts; /* no entropy yet (early boot): still differs per cache and run */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)(uintptr_t)c ^ (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull;
        k[1] = (uint64_t)ts.tv_sec ^ k[0] * 0xe7037ed1a0b428dbull;
    }
    c->k1 = k[0] | 1;
    c->k2 = k[1] | 1;
}

/* ---- Cache ---- */

SqlCache *sql_cache_new(size_t max_entries, size_t max_bytes)
{
    if (max_entries == 0 || max_entries > SQL_CACHE_MAX_ENTRIES || max_bytes == 0) return NULL;
    SqlCache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    size_t isize = 16;
    while (isize < 2 * max_entries)
        isize *= 2;
    c->e = calloc(max_entries, sizeof *c->e);
    c->free = malloc(max_entries * sizeof *c->free);
    c->index = calloc(isize, sizeof *c->index);
    if (!c->e || !c->free || !c->index) {
        sql_cache_free(c);
        return NULL;
    }
    for (size_t i = 0; i < max_entries; i++)
        c->free[i] = (uint32_t)(max_entries - 1 - i); /* slot 0 is handed out first */
    c->nfree = max_entries;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->mask = isize - 1;
    sql_cache_seed(c);
    return c;
}

void sql_cache_free(SqlCache *c)
{
    if (!c) return;
    for (size_t i = 0; c->e && i < c->max_entries; i++) {
        free(c->e[i].text);
        sql_info_free(&c->e[i].info);
    }
    sql_info_free(&c->held);
    free(c->e);
    free(c->free);
    free(c->index);
    free(c);
}

static SqlEntry *sql_cache_find(SqlCache *c, uint64_t h, const char *text, size_t len)
{
    for (size_t i = h & c->mask;; i = (i + 1) & c->mask) {
        uint32_t v = c->index[i];
        if (!v) return NULL;
        SqlEntry *e = &c->e[v - 1];
        if (e->hash == h && e->len == len && memcmp(e->text, text, len) == 0) return e;
    }
}

/* Take slot out of the index, shifting later members of its probe run back into the hole. */
static void sql_cache_unindex(SqlCache *c, uint32_t slot)
{
    size_t i = c->e[slot].hash & c->mask;
    while (c->index[i] != slot + 1)
        i = (i + 1) & c->mask;
    for (size_t j = (i + 1) & c->mask; c->index[j]; j = (j + 1) & c->mask) {
        size_t home = c->e[c->index[j] - 1].hash & c->mask;
        if (((j - home) & c->mask) >= ((j - i) & c->mask)) { /* the hole is on its run */
            c->index[i] = c->index[j];
            i = j;
        }
    }
    c->index[i] = 0;
}

static void sql_cache_drop(SqlCache *c, uint32_t slot)
{
    SqlEntry *e = &c->e[slot];
    sql_cache_unindex(c, slot);
    c->bytes -= e->bytes;
    free(e->text);
    sql_info_free(&e->info);
    memset(e, 0, sizeof *e);
    c->free[c->nfree++] = slot;
    c->used--;
    c->st.evictions++;
}

/* CLOCK: drop the first entry the hand finds without its bit, clearing bits on the way. */
static void sql_cache_evict(SqlCache *c)
{
    for (;;) {
        uint32_t slot = (uint32_t)c->hand;
        SqlEntry *e = &c->e[slot];
        c->hand = (c->hand + 1) % c->max_entries;
        if (!e->text) continue;
        if (e->ref) {
            e->ref = false;
            continue;
        }
        sql_cache_drop(c, slot);
        return;
    }
}

/* What an answer counts against max_bytes: the text, the entry and the result's block. */
static size_t sql_cache_cost(size_t len, const SqlInfo *info)
{
    size_t n = len + sizeof(SqlEntry) + (size_t)info->nstmts * sizeof(SqlStmt) +
               (size_t)info->nsets * sizeof(SqlSet);
    for (int i = 0; i < info->nstmts; i++)
        n += info->stmts[i].name ? strlen(info->stmts[i].name) + 1 : 0;
    for (int i = 0; i < info->nsets; i++)
        n += (info->sets[i].name ? strlen(info->sets[i].name) + 1 : 0) + strlen(info->sets[i].sql) +
             1;
    return n;
}

/* Keep the answer for text: a parsed info (taken over), or with info NULL the pre-filter's
 * statement one. Returns where it now lives; NULL when out of memory. */
static const SqlInfo *sql_cache_insert(SqlCache *c, uint64_t h, const char *text, size_t len,
                                       SqlInfo *info, const SqlStmt *one)
{
    SqlInfo pre = {.flags = info ? 0 : one->flags | SQL_F_PREFILTERED, .nstmts = 1};
    size_t cost = info ? sql_cache_cost(len, info) : len + sizeof(SqlEntry);
    if (cost > c->max_bytes / 8) { /* one huge text must not flush the whole cache */
        c->st.uncacheable++;
        if (info) {
            c->held = *info;
            return &c->held;
        }
        c->scratch_stmt = *one;
        c->scratch = pre;
        c->scratch.stmts = &c->scratch_stmt;
        return &c->scratch;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        if (info) sql_info_free(info);
        return NULL;
    }
    memcpy(copy, text, len);
    while (c->used > 0 && (c->nfree == 0 || c->bytes + cost > c->max_bytes))
        sql_cache_evict(c);
    uint32_t slot = c->free[--c->nfree];
    SqlEntry *e = &c->e[slot];
    *e = (SqlEntry){.hash = h, .text = copy, .len = len, .bytes = cost, .info = info ? *info : pre};
    if (!info) {
        e->one = *one;
        e->info.stmts = &e->one; /* slots never move */
    }
    size_t i = h & c->mask;
    while (c->index[i])
        i = (i + 1) & c->mask;
    c->index[i] = slot + 1;
    c->used++;
    c->bytes += cost;
    return &e->info;
}

const SqlInfo *sql_classify(SqlCache *c, const char *text, size_t len)
{
    sql_info_free(&c->held);
    if (len == 0) text = ""; /* no NULL into memcmp and friends */
    /* The cache first: a hit costs a hash and a compare (~0.1 ns a byte), the pre-filter's scan
     * ~1-2 ns a byte, a parse 30-100. */
    uint64_t h = sql_hash(c, text, len);
    SqlEntry *e = sql_cache_find(c, h, text, len);
    if (e) {
        e->ref = true;
        c->st.hits++;
        return &e->info;
    }
    SqlStmt one;
    if (sql_prefilter(text, len, &one)) {
        c->st.prefiltered++;
        return sql_cache_insert(c, h, text, len, NULL, &one);
    }
    SqlInfo info;
    if (!sql_classify_parse(text, len, &info)) return NULL;
    c->st.parses++;
    return sql_cache_insert(c, h, text, len, &info, NULL);
}

void sql_cache_stats(const SqlCache *c, SqlCacheStats *out)
{
    *out = c->st;
    out->entries = c->used;
    out->bytes = c->bytes;
}
