/* router_bind.c - Bind time (see router.h): the workflow IDs in a statement's parameter values,
 * as the server will compare them, and the shards they name. */
#include "router_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs (pg_type.h). */
#define OID_NAME          19
#define OID_TEXT          25
#define OID_UNKNOWN       705
#define OID_BPCHAR        1042
#define OID_VARCHAR       1043
#define OID_UUID          2950
#define OID_NAME_ARRAY    1003
#define OID_TEXT_ARRAY    1009
#define OID_BPCHAR_ARRAY  1014
#define OID_VARCHAR_ARRAY 1015
#define OID_UUID_ARRAY    2951
#define NAME_MAX_BYTES    63 /* NAMEDATALEN - 1 */

static int rb_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void rb_uuid_format(const unsigned char b[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* Postgres's uuid input (string_to_uuid): an optional '{...}', 32 hex digits, a '-' allowed
 * after any group of four; into the canonical lowercase text. */
static bool rb_uuid_in(const char *s, size_t n, char out[37])
{
    unsigned char b[16];
    size_t i = 0;
    bool braces = n > 0 && s[0] == '{';
    if (braces) i++;
    for (int k = 0; k < 16; k++) {
        if (i + 2 > n) return false;
        int hi = rb_hexval(s[i]), lo = rb_hexval(s[i + 1]);
        if (hi < 0 || lo < 0) return false;
        b[k] = (unsigned char)(hi << 4 | lo);
        i += 2;
        if (i < n && s[i] == '-' && k % 2 == 1 && k < 15) i++;
    }
    if (braces && (i >= n || s[i++] != '}')) return false;
    if (i != n) return false;
    rb_uuid_format(b, out);
    return true;
}

/* A value of element or parameter type `type` as the text the server compares. */
static bool rb_key_value(const char *v, size_t n, bool binary, uint32_t type, char buf[64],
                         const char **id, size_t *idlen)
{
    switch (type) {
    case 0:
    case OID_TEXT:
    case OID_VARCHAR:
    case OID_UNKNOWN: break;
    case OID_NAME:
        if (n > NAME_MAX_BYTES) return false; /* the server would cut it */
        break;
    case OID_BPCHAR: /* cast to text drops trailing blanks */
        while (n > 0 && v[n - 1] == ' ')
            n--;
        break;
    case OID_UUID:
        if (binary) {
            if (n != 16) return false;
            rb_uuid_format((const unsigned char *)v, buf);
        } else if (!rb_uuid_in(v, n, buf)) {
            return false;
        }
        *id = buf;
        *idlen = SLOT_UUID_LEN;
        return true;
    default: return false;
    }
    if (memchr(v, '\0', n)) return false; /* no text value holds one */
    *id = v;
    *idlen = n;
    return true;
}

bool router_key_text(const RouteParam *param, char buf[64], const char **id, size_t *idlen)
{
    if (param->len < 0 || !param->value) return false;
    return rb_key_value(param->value, (size_t)param->len, param->format == 1, param->type, buf, id,
                        idlen);
}

/* ---- Arrays ---- */

static bool rb_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One element at s[*i] (after blanks): quoted or not, unescaped into scratch. */
static bool rb_array_elem(const char *s, size_t len, size_t *i, char *scratch, size_t *n,
                          bool *null)
{
    size_t k = *i, o = 0, keep = 0;
    bool quoted = s[k] == '"', escaped = false;
    *null = false;
    if (quoted) {
        for (k++; k < len && s[k] != '"'; k++) {
            if (s[k] == '\\' && ++k >= len) return false;
            scratch[o++] = s[k];
        }
        if (k >= len) return false;
        k++;
        keep = o;
    } else {
        for (; k < len && s[k] != ',' && s[k] != '}'; k++) {
            if (s[k] == '{' || s[k] == '"') return false;
            if (s[k] == '\\') {
                if (++k >= len) return false;
                escaped = true;
                scratch[o++] = s[k];
                keep = o;
                continue;
            }
            scratch[o++] = s[k];
            if (!rb_space(s[k])) keep = o;
        }
        if (keep == 0 && !escaped) return false; /* an empty element is malformed */
        *null = !escaped && keep == 4 && (scratch[0] | 0x20) == 'n' && (scratch[1] | 0x20) == 'u' &&
                (scratch[2] | 0x20) == 'l' && (scratch[3] | 0x20) == 'l';
    }
    while (k < len && rb_space(s[k]))
        k++;
    *i = k;
    *n = keep;
    return true;
}

bool rb_array_text(const char *s, size_t len, char *scratch,
                   void (*fn)(void *arg, const char *el, size_t n), void *arg)
{
    size_t i = 0;
    int depth = 0;
    while (i < len && rb_space(s[i]))
        i++;
    if (i < len && s[i] == '[') { /* dimensions: [lo:hi][lo:hi]... = */
        while (i < len && s[i] != '=')
            if (!strchr("[]:-0123456789", s[i++])) return false;
        if (i++ >= len) return false;
        while (i < len && rb_space(s[i]))
            i++;
    }
    if (i >= len || s[i] != '{') return false;
    bool expect_elem = true, opened = false; /* opened: right after '{' ("{}" is empty) */
    while (i < len) {
        char c = s[i];
        if (c == '{' && expect_elem) {
            depth++;
            i++;
            opened = true;
            continue;
        }
        if (rb_space(c)) {
            i++;
            continue;
        }
        if (c == '}' && depth > 0 && (!expect_elem || opened)) {
            depth--;
            i++;
            expect_elem = opened = false;
            if (depth == 0) break;
        } else if (c == ',' && !expect_elem && depth > 0) {
            expect_elem = true;
            opened = false;
            i++;
        } else if (expect_elem && depth > 0) {
            size_t n;
            bool null;
            if (!rb_array_elem(s, len, &i, scratch, &n, &null)) return false;
            if (!null) fn(arg, scratch, n);
            expect_elem = opened = false;
        } else {
            return false;
        }
    }
    if (depth != 0) return false;
    for (; i < len; i++)
        if (!rb_space(s[i])) return false;
    return true;
}

static uint32_t rb_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The element type of an array parameter type (0: unknown, taken as text). */
static bool rb_elem_type(uint32_t array_type, uint32_t *elem)
{
    switch (array_type) {
    case 0:
    case OID_TEXT_ARRAY: *elem = OID_TEXT; return true;
    case OID_VARCHAR_ARRAY: *elem = OID_VARCHAR; return true;
    case OID_BPCHAR_ARRAY: *elem = OID_BPCHAR; return true;
    case OID_NAME_ARRAY: *elem = OID_NAME; return true;
    case OID_UUID_ARRAY: *elem = OID_UUID; return true;
    default: return false;
    }
}

typedef struct RbText {
    uint32_t elem;
    bool bad;
    void (*fn)(void *, const char *, size_t);
    void *arg;
} RbText;

static void rb_text_elem(void *arg, const char *el, size_t n)
{
    RbText *t = arg;
    char buf[64];
    const char *id;
    size_t idlen;
    if (!rb_key_value(el, n, false, t->elem, buf, &id, &idlen))
        t->bad = true;
    else
        t->fn(t->arg, id, idlen);
}

/* array_send's layout: ndim, has-nulls flag, element type, (size, lower bound) per dimension,
 * then (length or -1, bytes) per element; all big-endian. */
static bool rb_array_binary(const unsigned char *p, size_t len,
                            void (*fn)(void *arg, const char *id, size_t len), void *arg)
{
    if (len < 12) return false;
    uint32_t ndim = rb_get32(p), elem = rb_get32(p + 8);
    size_t at = 12;
    uint64_t count = ndim ? 1 : 0;
    if (ndim > 6 || len - at < (size_t)ndim * 8) return false;
    for (uint32_t i = 0; i < ndim; i++, at += 8) {
        uint32_t dim = rb_get32(p + at);
        if (dim > len) return false; /* each element takes 4 bytes at least */
        count *= dim;
        if (count > len) return false;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (len - at < 4) return false;
        int32_t n = (int32_t)rb_get32(p + at);
        at += 4;
        if (n == -1) continue;
        if (n < 0 || (size_t)n > len - at) return false;
        char buf[64];
        const char *id;
        size_t idlen;
        if (!rb_key_value((const char *)p + at, (size_t)n, true, elem, buf, &id, &idlen))
            return false;
        fn(arg, id, idlen);
        at += (size_t)n;
    }
    return at == len;
}

bool router_array_each(const RouteParam *param, void (*fn)(void *arg, const char *id, size_t len),
                       void *arg)
{
    if (param->len < 0 || !param->value) return true; /* NULL: no element */
    if (param->format == 1)
        return rb_array_binary((const unsigned char *)param->value, (size_t)param->len, fn, arg);
    RbText t = {.fn = fn, .arg = arg};
    if (!rb_elem_type(param->type, &t.elem)) return false;
    char *scratch = malloc((size_t)param->len + 1);
    if (!scratch) return false;
    bool ok = rb_array_text(param->value, (size_t)param->len, scratch, rb_text_elem, &t);
    free(scratch);
    return ok && !t.bad;
}

/* ---- Shards of a plan ---- */

typedef struct RbSet {
    const SlotMap *m;
    uint64_t mask;
} RbSet;

static void rb_add_id(void *arg, const char *id, size_t n)
{
    RbSet *s = arg;
    s->mask |= 1ull << slot_map_shard_of(s->m, id, n);
}

/* The shards key k names into s->mask. 1: read, 0: nothing to read (NULL), -1: unreadable,
 * -2: a NULL that the server would replace with a generated ID. */
static int rb_key(const RouteKey *k, const RouteParam *params, int nparams, RbSet *s)
{
    if (k->src == ROUTE_SRC_CONST) {
        rb_add_id(s, k->value, k->len);
        return 1;
    }
    if (k->src == ROUTE_SRC_NULL) return k->null_refuses ? -2 : 0;
    if (k->param < 1 || k->param > nparams) return -1;
    const RouteParam *p = &params[k->param - 1];
    if (p->len < 0) return k->null_refuses ? -2 : 0;
    if (k->src == ROUTE_SRC_ARRAY) return router_array_each(p, rb_add_id, s) ? 1 : -1;
    char buf[64];
    const char *id;
    size_t n;
    if (!router_key_text(p, buf, &id, &n)) return -1;
    rb_add_id(s, id, n);
    return 1;
}

static int rb_lowest(uint64_t mask)
{
    return mask ? __builtin_ctzll(mask) : 0;
}

static bool rb_keys(const RoutePlan *p, const SlotMap *m, const RouteParam *params, int nparams,
                    uint64_t all, uint64_t *shards, int *row_shard, char *err, size_t errlen)
{
    RbSet s = {.m = m};
    for (int i = 0; i < p->nkeys; i++) {
        const RouteKey *k = &p->keys[i];
        uint64_t before = s.mask;
        s.mask = 0;
        int r = rb_key(k, params, nparams, &s);
        if (r == -2) {
            snprintf(err, errlen,
                     "a NULL workflow ID would let the server make one up on whichever shard "
                     "runs it");
            return false;
        }
        if (r == -1 && p->all_ok && p->kind == ROUTE_KEY && (p->merge.ok || all == 1)) {
            *shards = all; /* every shard is as exact, when their rows merge */
            return true;
        }
        if (r == -1) {
            const RouteParam *prm =
                k->param >= 1 && k->param <= nparams ? &params[k->param - 1] : NULL;
            snprintf(err, errlen,
                     "it cannot read the workflow ID in parameter $%u (type OID %u, %s format)",
                     (unsigned)k->param, prm ? (unsigned)prm->type : 0u,
                     prm && prm->format == 1 ? "binary" : "text");
            return false;
        }
        if (p->kind == ROUTE_KEY_ROWS && !s.mask) s.mask = 1; /* a NULL key: the first shard */
        if (row_shard && k->row >= 0 && k->row < p->nrows) row_shard[k->row] = rb_lowest(s.mask);
        s.mask |= before;
    }
    if (p->kind == ROUTE_KEY_ROWS) {
        *shards = s.mask ? s.mask : 1;
        return true;
    }
    if (__builtin_popcountll(s.mask) > 1 && p->key_one) {
        int a = rb_lowest(s.mask), b = rb_lowest(s.mask & (s.mask - 1));
        snprintf(err, errlen,
                 "its workflow IDs are on different shards (positions %d and %d of shards=) and "
                 "it reads or writes them together",
                 a, b);
        return false;
    }
    if (__builtin_popcountll(s.mask) > 1 && !p->merge.ok) {
        snprintf(err, errlen, "its workflow IDs are on several shards and %s",
                 p->merge.reason ? p->merge.reason : "the answers do not merge");
        return false;
    }
    *shards = s.mask ? s.mask : 1;
    return true;
}

bool router_bind(const RoutePlan *p, const SlotMap *m, const RouteParam *params, int nparams,
                 uint64_t *shards, int *row_shard, char *err, size_t errlen)
{
    uint64_t all = m->nshards >= 64 ? ~0ull : (1ull << m->nshards) - 1;
    if (errlen) err[0] = '\0';
    *shards = 0;
    switch (p->kind) {
    case ROUTE_REFUSE:
        snprintf(err, errlen, "%s", p->reason ? p->reason : "it cannot be routed");
        return false;
    case ROUTE_KEY:
    case ROUTE_KEY_ROWS:
        if (row_shard)
            for (int i = 0; i < p->nrows; i++)
                row_shard[i] = 0;
        return rb_keys(p, m, params, nparams, all, shards, row_shard, err, errlen);
    case ROUTE_REF_READ:
    case ROUTE_NOTIFY_ONE: *shards = 1; return true;
    case ROUTE_ALL_WRITE:
    case ROUTE_FANOUT_READ:
    case ROUTE_REF_WRITE:
    case ROUTE_DDL_ALL:
    case ROUTE_LISTEN_ALL:
    case ROUTE_UNLISTEN_ALL:
    case ROUTE_TXN:
    case ROUTE_SESSION_ALL: *shards = all; return true;
    }
    snprintf(err, errlen, "unknown plan");
    return false;
}
