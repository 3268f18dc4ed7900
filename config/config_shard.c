/* config_shard.c - the sharding part of the configuration: [shards] entries and the shards=,
 * slots= and dbos_schema= keys of a [databases] entry (README.md, "Sharding").
 *
 *   [shards]
 *   s0 = host=pg0 dbname=dbos_sys          ; any libpq conninfo, key=value or URI
 *   s1 = postgresql://pg1/dbos_sys
 *   [databases]
 *   dbos_sys = shards=s0,s1 pool_size=10   ; instead of host details
 *   dbos_big = shards=s0,s1,s2 slots=s0:0-5000,s1:5001-10000,s2:10001-16383 dbos_schema=dbos
 *
 * slots= gives every one of the 16384 slots to exactly one shard of shards=, as a
 * comma-separated list of shard:first-last (or shard:slot) items, in any order; a shard may
 * appear in several items and may own no slot at all (it still gets the DDL and the reference
 * tables, so a new shard can be added before slots move to it). Without slots=, shard i of n
 * owns slots i*16384/n .. (i+1)*16384/n - 1. */
#include "config.h"
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define SHARD_NAME_MAX   63 /* like a Postgres identifier */
#define SHARD_SCHEMA_MAX 63 /* NAMEDATALEN - 1 */

const char *const cfg_shard_keys[CFG_SK_COUNT] = {
    [CFG_SK_SHARDS] = "shards",
    [CFG_SK_SLOTS] = "slots",
    [CFG_SK_SCHEMA] = "dbos_schema",
};

/* pgpin-only keys of a [databases] entry: refused in a shard's conninfo with a pointer. */
static const char *const db_only_keys[] = {
    "pool_size",   "min_pool_size", "pool_mode", "write_rate",
    "write_burst", "shards",        "slots",     "dbos_schema",
};

static bool shard_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SHARD_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && !(i > 0 && (c == '-' || c == '.'))) return false;
    }
    return true;
}

static int shard_find(const Config *cfg, const char *name, size_t n)
{
    for (int i = 0; i < cfg->nshards; i++)
        if (strlen(cfg->shards[i].name) == n && memcmp(cfg->shards[i].name, name, n) == 0) return i;
    return -1;
}

/* A key=value conninfo must not carry pgpin's [databases] keys. False with msg. */
static bool shard_keys_ok(const char *value, char *msg, size_t msglen)
{
    char *copy = strdup(value), *p = copy, *key, *val;
    const char *err = NULL;
    int r;
    if (!copy) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    while ((r = cfg_conninfo_next(&p, &key, &val, &err)) > 0) {
        for (size_t i = 0; i < sizeof db_only_keys / sizeof *db_only_keys; i++) {
            if (strcmp(key, db_only_keys[i]) == 0) {
                snprintf(msg, msglen,
                         "%s= is a [databases] key: set it on the sharded database's entry, not "
                         "in a shard",
                         key);
                free(copy);
                return false;
            }
        }
    }
    free(copy);
    if (r < 0) {
        snprintf(msg, msglen, "invalid conninfo: %s", err);
        return false;
    }
    return true;
}

/* Check a shard's conninfo with libpq (messages never quote it: it may hold a password) and
 * note whether it sets user and dbname. */
static bool shard_conninfo_ok(CfgShard *sh, char *msg, size_t msglen)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(sh->conninfo, &errmsg);
    if (!opts) {
        if (!errmsg) {
            snprintf(msg, msglen, "out of memory");
            return false;
        }
        size_t n = strlen(errmsg);
        while (n > 0 && isspace((unsigned char)errmsg[n - 1]))
            errmsg[--n] = '\0';
        bool uri = strstr(errmsg, sh->conninfo) != NULL;
        snprintf(msg, msglen, "invalid conninfo: %s", uri ? "invalid URI" : errmsg);
        PQfreemem(errmsg);
        return false;
    }
    for (const PQconninfoOption *o = opts; o->keyword; o++) {
        bool set = o->val && o->val[0];
        if (strcmp(o->keyword, "user") == 0) sh->has_user = set;
        if (strcmp(o->keyword, "dbname") == 0) sh->has_dbname = set;
    }
    PQconninfoFree(opts);
    return true;
}

bool cfg_shard_add(Config *cfg, const char *name, const char *value, int line, char *msg,
                   size_t msglen)
{
    if (!shard_name_ok(name)) {
        snprintf(msg, msglen,
                 "invalid shard name '%s' (1-%d letters, digits, '_', and '-' or '.' after the "
                 "first)",
                 name, SHARD_NAME_MAX);
        return false;
    }
    int dup = shard_find(cfg, name, strlen(name));
    if (dup >= 0) {
        snprintf(msg, msglen, "duplicate shard '%s' (first defined at line %d)", name,
                 cfg->shards[dup].line);
        return false;
    }
    if (!value[0]) {
        snprintf(msg, msglen, "shard '%s': empty conninfo", name);
        return false;
    }
    bool uri = strncmp(value, "postgresql://", 13) == 0 || strncmp(value, "postgres://", 11) == 0;
    char why[400];
    if (!uri && !shard_keys_ok(value, why, sizeof why)) {
        snprintf(msg, msglen, "shard '%s': %s", name, why);
        return false;
    }
    CfgShard *arr = realloc(cfg->shards, (size_t)(cfg->nshards + 1) * sizeof *arr);
    if (!arr) goto oom;
    cfg->shards = arr;
    CfgShard *sh = &arr[cfg->nshards];
    *sh = (CfgShard){.line = line, .name = strdup(name), .conninfo = strdup(value)};
    cfg->nshards++; /* counted now so that cfg_shard_free releases it */
    if (!sh->name || !sh->conninfo) goto oom;
    if (!shard_conninfo_ok(sh, why, sizeof why)) {
        snprintf(msg, msglen, "shard '%s': %s", name, why);
        return false;
    }
    return true;
oom:
    snprintf(msg, msglen, "out of memory");
    return false;
}

/* ---- A sharded database ---- */

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* The item of a comma-separated list at *pp: [*start, *start + *n) without blanks around it
 * (n = 0 for an empty item, as in "a,,b" or "a,"); *pp moves past its comma, or becomes NULL
 * after the last item. False when there is no item left. */
static bool list_item(const char **pp, const char **start, size_t *n)
{
    if (!*pp) return false;
    const char *p = skip_blank(*pp);
    const char *e = p + strcspn(p, ",");
    *start = p;
    *n = (size_t)(e - p);
    while (*n > 0 && (p[*n - 1] == ' ' || p[*n - 1] == '\t'))
        (*n)--;
    *pp = *e ? e + 1 : NULL;
    return true;
}

/* shards=: the names, resolved to [shards] entries, into db->shards. */
static bool parse_shards(Config *cfg, CfgDatabase *db, const char *val, char *msg, size_t msglen)
{
    const char *p = val, *item;
    size_t n;
    if (!*skip_blank(val)) {
        snprintf(msg, msglen, "shards= is empty");
        return false;
    }
    while (list_item(&p, &item, &n)) {
        if (n == 0) {
            snprintf(msg, msglen, "shards=: empty shard name in the list");
            return false;
        }
        int idx = shard_find(cfg, item, n);
        if (idx < 0) {
            snprintf(msg, msglen, "shards=: unknown shard '%.*s' (no such entry in [shards])",
                     (int)n, item);
            return false;
        }
        for (int i = 0; i < db->nshards; i++) {
            if (db->shards[i] == idx) {
                snprintf(msg, msglen, "shards=: shard '%.*s' is listed twice", (int)n, item);
                return false;
            }
        }
        if (db->nshards == SLOT_MAX_SHARDS) {
            snprintf(msg, msglen, "shards=: more than %d shards", SLOT_MAX_SHARDS);
            return false;
        }
        int *arr = realloc(db->shards, (size_t)(db->nshards + 1) * sizeof *arr);
        if (!arr) {
            snprintf(msg, msglen, "out of memory");
            return false;
        }
        db->shards = arr;
        db->shards[db->nshards++] = idx;
    }
    return true;
}

/* A slot number at *pp (digits only), moving *pp past it. */
static bool parse_slot(const char **pp, const char *end, long *out)
{
    const char *p = *pp;
    long v = 0;
    if (p >= end || !isdigit((unsigned char)*p)) return false;
    for (; p < end && isdigit((unsigned char)*p); p++) {
        v = v * 10 + (*p - '0');
        if (v > 1000000) v = 1000000; /* reported as out of range, no overflow */
    }
    *pp = p;
    *out = v;
    return true;
}

/* One slots= item "shard:first[-last]" into *r (shard = position in db->shards). */
static bool parse_slot_item(const Config *cfg, const CfgDatabase *db, const char *item, size_t n,
                            SlotRange *r, char *msg, size_t msglen)
{
    const char *colon = memchr(item, ':', n), *end = item + n, *p;
    long first, last;
    if (!colon) goto syntax;
    int pos = -1;
    for (int i = 0; i < db->nshards; i++) {
        const char *name = cfg->shards[db->shards[i]].name;
        if (strlen(name) == (size_t)(colon - item) && memcmp(name, item, strlen(name)) == 0)
            pos = i;
    }
    if (pos < 0) {
        snprintf(msg, msglen,
                 "slots=: '%.*s' is not one of this database's shards=", (int)(colon - item), item);
        return false;
    }
    p = colon + 1;
    if (!parse_slot(&p, end, &first)) goto syntax;
    last = first;
    if (p < end && *p == '-') {
        p++;
        if (!parse_slot(&p, end, &last)) goto syntax;
    }
    if (p != end) goto syntax;
    if (first >= SLOT_COUNT || last >= SLOT_COUNT) {
        snprintf(msg, msglen, "slots=: '%.*s': slots are 0-%d", (int)n, item, SLOT_COUNT - 1);
        return false;
    }
    if (first > last) {
        snprintf(msg, msglen, "slots=: '%.*s': the range is backwards", (int)n, item);
        return false;
    }
    *r = (SlotRange){.first = (uint16_t)first, .last = (uint16_t)last, .shard = (uint16_t)pos};
    return true;
syntax:
    snprintf(msg, msglen, "slots=: expected shard:first-last or shard:slot, got '%.*s'", (int)n,
             item);
    return false;
}

static int range_cmp(const void *a, const void *b)
{
    const SlotRange *x = a, *y = b;
    return (int)x->first - (int)y->first;
}

/* Sort, then require the ranges to tile 0..16383 (no overlap, no gap) and merge neighbours
 * that belong to the same shard. */
static bool check_tiling(const Config *cfg, CfgDatabase *db, char *msg, size_t msglen)
{
    qsort(db->slots, (size_t)db->nslots, sizeof *db->slots, range_cmp);
    int next = 0, out = 0;
    for (int i = 0; i < db->nslots; i++) {
        SlotRange r = db->slots[i];
        if (r.first < next) {
            const SlotRange *prev = &db->slots[out - 1];
            int hi = r.last < prev->last ? r.last : prev->last;
            snprintf(msg, msglen, "slots=: slots %d-%d are given to both '%s' and '%s'", r.first,
                     hi, cfg->shards[db->shards[prev->shard]].name,
                     cfg->shards[db->shards[r.shard]].name);
            return false;
        }
        if (r.first > next) break;
        if (out > 0 && db->slots[out - 1].shard == r.shard)
            db->slots[out - 1].last = r.last;
        else
            db->slots[out++] = r;
        next = r.last + 1;
    }
    if (next < SLOT_COUNT) {
        int upto = SLOT_COUNT - 1;
        for (int i = 0; i < db->nslots; i++)
            if (db->slots[i].first > next && db->slots[i].first - 1 < upto)
                upto = db->slots[i].first - 1;
        snprintf(msg, msglen, "slots=: slots %d-%d are not given to any shard", next, upto);
        return false;
    }
    db->nslots = out;
    return true;
}

static bool parse_slots(const Config *cfg, CfgDatabase *db, const char *val, char *msg,
                        size_t msglen)
{
    const char *p = val, *item;
    size_t n, cap = 0;
    if (!*skip_blank(val)) {
        snprintf(msg, msglen, "slots= is empty");
        return false;
    }
    while (list_item(&p, &item, &n)) {
        if (n == 0) {
            snprintf(msg, msglen, "slots=: empty item in the list");
            return false;
        }
        if ((size_t)db->nslots == cap) {
            cap = cap ? cap * 2 : 8;
            SlotRange *arr = realloc(db->slots, cap * sizeof *arr);
            if (!arr) {
                snprintf(msg, msglen, "out of memory");
                return false;
            }
            db->slots = arr;
        }
        if (!parse_slot_item(cfg, db, item, n, &db->slots[db->nslots], msg, msglen)) return false;
        db->nslots++;
    }
    return check_tiling(cfg, db, msg, msglen);
}

static bool default_slots(CfgDatabase *db, char *msg, size_t msglen)
{
    db->slots = calloc((size_t)db->nshards, sizeof *db->slots);
    if (!db->slots) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    for (int i = 0; i < db->nshards; i++) {
        db->slots[i].shard = (uint16_t)i;
        slot_default_range(db->nshards, i, &db->slots[i].first, &db->slots[i].last);
    }
    db->nslots = db->nshards;
    return true;
}

/* host, hostaddr, port and dbname as written ("" when unset; port "" = 5432). */
static bool shard_target(const CfgShard *sh, char *buf, size_t len)
{
    static const char *const keys[] = {"host", "hostaddr", "port", "dbname"};
    PQconninfoOption *opts = PQconninfoParse(sh->conninfo, NULL);
    size_t used = 0;
    if (!opts) return false;
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const char *v = "";
        for (const PQconninfoOption *o = opts; o->keyword; o++)
            if (strcmp(o->keyword, keys[k]) == 0 && o->val) v = o->val;
        if (k == 2 && !v[0]) v = "5432";
        int w = snprintf(buf + used, len - used, "%s%c", v, '\x1f');
        used += w > 0 ? (size_t)w : 0;
        if (used >= len) used = len - 1;
    }
    PQconninfoFree(opts);
    return true;
}

/* Every shard logs in the same way, and no two are the same Postgres database. */
static bool check_shards(const Config *cfg, const CfgDatabase *db, char *msg, size_t msglen)
{
    const CfgShard *s0 = &cfg->shards[db->shards[0]];
    for (int i = 1; i < db->nshards; i++) {
        const CfgShard *s = &cfg->shards[db->shards[i]];
        const char *what = s->has_user != s0->has_user       ? "user"
                           : s->has_dbname != s0->has_dbname ? "dbname"
                                                             : NULL;
        if (what) {
            bool first = what[0] == 'u' ? s0->has_user : s0->has_dbname;
            snprintf(msg, msglen,
                     "shards '%s' and '%s' disagree on %s=: '%s' sets it, '%s' does not (every "
                     "shard must log in the same way)",
                     s0->name, s->name, what, first ? s0->name : s->name,
                     first ? s->name : s0->name);
            return false;
        }
    }
    for (int i = 0; i < db->nshards; i++) {
        for (int j = i + 1; j < db->nshards; j++) {
            char a[1024], b[1024];
            const CfgShard *x = &cfg->shards[db->shards[i]], *y = &cfg->shards[db->shards[j]];
            if (shard_target(x, a, sizeof a) && shard_target(y, b, sizeof b) && strcmp(a, b) == 0) {
                snprintf(msg, msglen,
                         "shards '%s' and '%s' are the same Postgres database (same host, "
                         "hostaddr, port and dbname): each shard needs its own",
                         x->name, y->name);
                return false;
            }
        }
    }
    return true;
}

bool cfg_shard_db(Config *cfg, CfgDatabase *db, char *const vals[CFG_SK_COUNT], char *msg,
                  size_t msglen)
{
    if (strcmp(db->name, "*") == 0) {
        snprintf(msg, msglen, "the fallback entry '*' cannot be sharded");
        return false;
    }
    if (!parse_shards(cfg, db, vals[CFG_SK_SHARDS], msg, msglen)) return false;
    if (!check_shards(cfg, db, msg, msglen)) return false;
    db->slots_given = vals[CFG_SK_SLOTS] != NULL;
    if (db->slots_given ? !parse_slots(cfg, db, vals[CFG_SK_SLOTS], msg, msglen)
                        : !default_slots(db, msg, msglen))
        return false;
    const char *schema = vals[CFG_SK_SCHEMA] ? vals[CFG_SK_SCHEMA] : "dbos";
    if (!schema[0] || strlen(schema) > SHARD_SCHEMA_MAX) {
        snprintf(msg, msglen, "dbos_schema= must be 1-%d bytes", SHARD_SCHEMA_MAX);
        return false;
    }
    if (!(db->dbos_schema = strdup(schema))) {
        snprintf(msg, msglen, "out of memory");
        return false;
    }
    db->has_user = cfg->shards[db->shards[0]].has_user;
    db->has_dbname = cfg->shards[db->shards[0]].has_dbname;
    return true;
}

void cfg_shard_free(Config *cfg)
{
    for (int i = 0; i < cfg->nshards; i++) {
        free(cfg->shards[i].name);
        free(cfg->shards[i].conninfo);
    }
    free(cfg->shards);
    for (int i = 0; i < cfg->ndbs; i++) {
        free(cfg->dbs[i].shards);
        free(cfg->dbs[i].slots);
        free(cfg->dbs[i].dbos_schema);
    }
}

bool cfg_sharding_unsupported(const Config *cfg, char *buf, size_t len)
{
    const char *what = NULL;
    char tmp[160] = "";
    for (int i = 0; i < cfg->ndbs && !what; i++) {
        if (cfg->dbs[i].nshards) {
            snprintf(tmp, sizeof tmp, "database '%s' has shards=", cfg->dbs[i].name);
            what = tmp;
        }
    }
    if (!what && cfg->nshards) what = "[shards] has entries";
    if (len) buf[0] = '\0';
    if (!what) return false;
    snprintf(buf, len,
             "%s: sharding is configured but not implemented in this build yet (%s); the "
             "configuration is valid, and `pgpin check` reaches every shard",
             cfg->path, what);
    return true;
}
