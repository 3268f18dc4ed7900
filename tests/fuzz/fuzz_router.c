/* fuzz_router.c - libFuzzer target: the routing planner (proxy/router*.c over libpg_query and
 * json.c), Bind-time key extraction and the rows rewrite on arbitrary text and values.
 *
 * Input: a statement text, then optionally a NUL byte and Bind values separated by 0x1f. A
 * value's first byte chooses its format (bit 0: binary) and declared type (bits 1-3: unknown,
 * text, varchar, bpchar, name, uuid, text[], uuid[]); 0xff makes it NULL. Checked: every plan
 * is well formed (ranges inside the text, keys, rows in order, refusals with a reason); a
 * rewritten shard statement parses whenever the text did; each shard's part of a multi-row
 * INSERT parses; router_bind names shards of the map or refuses with a reason; a cache (made
 * once, small, so eviction runs) returns what the uncached planner does. */
#include "fuzz_util.h"
#include "router.h"

#define FUZZ_ROUTER_MAX 32768
#define FUZZ_MAX_PARAMS 16

static RouteCache *cache;
static SlotMap map;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cache = route_cache_new(16);
    FUZZ_ASSERT(cache != NULL);
    SlotRange r[4];
    for (int i = 0; i < 4; i++) {
        r[i].shard = (uint16_t)i;
        slot_default_range(4, i, &r[i].first, &r[i].last);
    }
    FUZZ_ASSERT(slot_map_build(&map, 4, r, 4));
    return 0;
}

static void check_plan(const RoutePlan *p, size_t len)
{
    FUZZ_ASSERT((size_t)p->loc + p->len <= len);
    FUZZ_ASSERT(p->kind >= ROUTE_REFUSE && p->kind <= ROUTE_SESSION_ALL);
    if (p->kind == ROUTE_REFUSE) FUZZ_ASSERT(p->reason && p->reason[0]);
    for (int i = 0; i < p->nkeys; i++) {
        const RouteKey *k = &p->keys[i];
        FUZZ_ASSERT(k->src >= ROUTE_SRC_PARAM && k->src <= ROUTE_SRC_ARRAY);
        if (k->src == ROUTE_SRC_PARAM || k->src == ROUTE_SRC_ARRAY) FUZZ_ASSERT(k->param >= 1);
        if (k->src == ROUTE_SRC_CONST) FUZZ_ASSERT(k->value && strlen(k->value) == k->len);
        if (p->kind == ROUTE_KEY_ROWS) FUZZ_ASSERT(k->row >= 0 && k->row < p->nrows);
    }
    for (int i = 0; i < p->nrows; i++) {
        FUZZ_ASSERT(p->rows[i].start >= p->loc && p->rows[i].end <= p->loc + p->len);
        FUZZ_ASSERT(p->rows[i].start < p->rows[i].end);
        FUZZ_ASSERT(i == 0 || p->rows[i].start > p->rows[i - 1].end);
    }
    for (int i = 0; i < p->nparams; i++)
        FUZZ_ASSERT(p->params[i].loc >= p->loc &&
                    p->params[i].loc + p->params[i].len <= p->loc + p->len);
    if (!p->merge.ok) FUZZ_ASSERT(p->merge.reason && p->merge.reason[0]);
    for (int i = 0; i < p->merge.nagg; i++)
        FUZZ_ASSERT(p->merge.agg[i] >= ROUTE_AGG_GROUP && p->merge.agg[i] <= ROUTE_AGG_SAME);
    char buf[512];
    router_describe(p, buf, sizeof buf);
    FUZZ_ASSERT(strlen(buf) < sizeof buf);
}

/* A text the planner could parse must still parse. */
static void check_parses(const char *sql)
{
    RouteInfo in;
    FUZZ_ASSERT(router_plan_uncached(sql, strlen(sql), "dbos", &in));
    for (int i = 0; i < in.nplans; i++)
        FUZZ_ASSERT(!in.plans[i].reason || !strstr(in.plans[i].reason, "cannot parse"));
    route_info_free(&in);
}

static void check_rows(const RoutePlan *p, const char *text)
{
    int rows[64], n = p->nrows < 64 ? p->nrows : 64, np;
    uint16_t *map16 = calloc((size_t)p->nparams + 1, sizeof *map16);
    FUZZ_ASSERT(map16 != NULL);
    for (int i = 0; i < n; i++)
        rows[i] = i;
    char *all = router_rows_sql(p, text, rows, n, map16, &np);
    FUZZ_ASSERT(all != NULL && np <= p->nparams);
    check_parses(all);
    free(all);
    char *one = router_rows_sql(p, text, &rows[n - 1], 1, map16, &np);
    FUZZ_ASSERT(one != NULL);
    check_parses(one);
    free(one);
    free(map16);
}

static const uint32_t fuzz_types[8] = {0, 25, 1043, 1042, 19, 2950, 1009, 2951};

/* Bind values from the input after the NUL. */
static int read_params(const uint8_t *p, size_t n, RouteParam *out)
{
    int k = 0;
    while (n > 0 && k < FUZZ_MAX_PARAMS) {
        const uint8_t *sep = memchr(p, 0x1f, n);
        size_t len = sep ? (size_t)(sep - p) : n;
        RouteParam *v = &out[k++];
        *v = (RouteParam){.len = -1};
        if (len > 0 && p[0] != 0xff) {
            v->format = p[0] & 1;
            v->type = fuzz_types[(p[0] >> 1) & 7];
            v->value = (const char *)p + 1;
            v->len = (int32_t)(len - 1);
        }
        if (!sep) break;
        n -= len + 1;
        p += len + 1;
    }
    return k;
}

static void check_bind(const RoutePlan *p, const RouteParam *params, int nparams)
{
    uint64_t shards = 0;
    int rows[256];
    char err[512];
    bool ok = router_bind(p, &map, params, nparams, &shards, p->nrows <= 256 ? rows : NULL, err,
                          sizeof err);
    if (ok) {
        FUZZ_ASSERT(shards != 0 && (shards & ~0xfull) == 0);
        for (int i = 0; i < p->nrows && i < 256; i++)
            FUZZ_ASSERT(rows[i] >= 0 && rows[i] < 4 && (shards >> rows[i] & 1));
    } else {
        FUZZ_ASSERT(err[0] != '\0');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_ROUTER_MAX) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    RouteParam params[FUZZ_MAX_PARAMS];
    int nparams = nul ? read_params(nul + 1, size - len - 1, params) : 0;
    char *text = (char *)fuzz_dup(data, len);
    RouteInfo in;
    FUZZ_ASSERT(router_plan_uncached(text, len, "dbos", &in));
    bool parsed =
        !(in.nplans == 1 && in.plans[0].reason &&
          (strstr(in.plans[0].reason, "cannot parse") || strstr(in.plans[0].reason, "NUL byte")));
    for (int i = 0; i < in.nplans; i++) {
        const RoutePlan *p = &in.plans[i];
        check_plan(p, len);
        if (parsed && p->merge.shard_sql) check_parses(p->merge.shard_sql);
        if (parsed && p->kind == ROUTE_KEY_ROWS) check_rows(p, text);
        check_bind(p, params, nparams);
        char msg[256];
        router_refusal(p, text, NULL, msg, sizeof msg);
    }
    const RouteInfo *c = router_plan(cache, "dbos", text, len);
    FUZZ_ASSERT(c != NULL && c->nplans == in.nplans);
    for (int i = 0; i < in.nplans; i++) {
        char a[512], b[512];
        router_describe(&in.plans[i], a, sizeof a);
        router_describe(&c->plans[i], b, sizeof b);
        FUZZ_ASSERT(strcmp(a, b) == 0);
    }
    route_info_free(&in);
    free(text);
    return 0;
}
