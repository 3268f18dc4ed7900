/* json.c - minimal read-only JSON reader (see json.h). Iterative: an explicit stack of open
 * containers, so nesting depth costs heap, never C stack. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct JsonParser {
    JsonDoc *d;
    const char *s;
    uint32_t pos, len;
    uint32_t *stack; /* indices of the open arrays and objects */
    uint32_t depth, stack_cap;
    bool oom;
} JsonParser;

static inline void json_skip_ws(JsonParser *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->s[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

/* Append a node; returns its index, or UINT32_MAX when out of memory. */
static uint32_t json_add(JsonParser *ps, JsonType type, uint32_t key, uint32_t keylen)
{
    JsonDoc *d = ps->d;
    if (d->count == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 256;
        if (cap <= d->cap) goto fail; /* overflow */
        JsonNode *n = realloc(d->n, (size_t)cap * sizeof *n);
        if (!n) goto fail;
        d->n = n;
        d->cap = cap;
    }
    JsonNode *n = &d->n[d->count];
    *n = (JsonNode){.key = key, .keylen = keylen, .type = (uint8_t)type, .end = d->count + 1};
    return d->count++;
fail:
    ps->oom = true;
    return UINT32_MAX;
}

static bool json_push(JsonParser *ps, uint32_t idx)
{
    if (ps->depth == ps->stack_cap) {
        uint32_t cap = ps->stack_cap ? ps->stack_cap * 2 : 64;
        uint32_t *st = realloc(ps->stack, (size_t)cap * sizeof *st);
        if (!st) {
            ps->oom = true;
            return false;
        }
        ps->stack = st;
        ps->stack_cap = cap;
    }
    ps->stack[ps->depth++] = idx;
    return true;
}

static bool json_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At an opening quote: find the closing one, checking escapes; *start and *n get the raw
 * content. */
static bool json_scan_string(JsonParser *ps, uint32_t *start, uint32_t *n)
{
    if (ps->pos >= ps->len || ps->s[ps->pos] != '"') return false;
    uint32_t p = ++ps->pos;
    while (p < ps->len) {
        unsigned char c = (unsigned char)ps->s[p];
        if (c > '\\' || (c >= 0x20 && c != '"' && c != '\\')) { /* the common case */
            p++;
            continue;
        }
        if (c == '"') {
            *start = ps->pos;
            *n = p - ps->pos;
            ps->pos = p + 1;
            return true;
        }
        if (c < 0x20) return false;
        if (p + 1 >= ps->len) return false; /* a backslash: an escape follows */
        char e = ps->s[p + 1];
        if (e == 'u') {
            if (ps->len - p < 6) return false;
            for (int i = 2; i < 6; i++)
                if (!json_is_hex(ps->s[p + i])) return false;
            p += 6;
        } else if (strchr("\"\\/bfnrt", e) && e != '\0') {
            p += 2;
        } else {
            return false;
        }
    }
    return false;
}

static bool json_scan_number(JsonParser *ps)
{
    uint32_t p = ps->pos;
    bool digit = false;
    for (; p < ps->len; p++) {
        char c = ps->s[p];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E')
            break;
    }
    if (!digit) return false;
    ps->pos = p;
    return true;
}

static bool json_scan_word(JsonParser *ps, const char *w)
{
    size_t n = strlen(w);
    if (ps->len - ps->pos < n || memcmp(ps->s + ps->pos, w, n) != 0) return false;
    ps->pos += (uint32_t)n;
    return true;
}

/* One value (with its member name, if any). Containers are opened, not finished. */
static bool json_value(JsonParser *ps, uint32_t key, uint32_t keylen)
{
    json_skip_ws(ps);
    if (ps->pos >= ps->len) return false;
    char c = ps->s[ps->pos];
    JsonType t = c == '{'   ? JSON_OBJ
                 : c == '[' ? JSON_ARR
                 : c == '"' ? JSON_STR
                 : c == 't' ? JSON_TRUE
                 : c == 'f' ? JSON_FALSE
                 : c == 'n' ? JSON_NULL
                            : JSON_NUM;
    uint32_t idx = json_add(ps, t, key, keylen);
    if (idx == UINT32_MAX) return false;
    switch (t) {
    case JSON_OBJ:
    case JSON_ARR: ps->pos++; return json_push(ps, idx);
    case JSON_STR: return json_scan_string(ps, &ps->d->n[idx].val, &ps->d->n[idx].vallen);
    case JSON_TRUE: return json_scan_word(ps, "true");
    case JSON_FALSE: return json_scan_word(ps, "false");
    case JSON_NULL: return json_scan_word(ps, "null");
    case JSON_NUM: {
        uint32_t start = ps->pos;
        if (!json_scan_number(ps)) return false;
        ps->d->n[idx].val = start;
        ps->d->n[idx].vallen = ps->pos - start;
        return true;
    }
    }
    return false;
}

/* Inside an object, before a member: its name and the colon. */
static bool json_member_name(JsonParser *ps, uint32_t *key, uint32_t *keylen)
{
    json_skip_ws(ps);
    if (!json_scan_string(ps, key, keylen)) return false;
    json_skip_ws(ps);
    if (ps->pos >= ps->len || ps->s[ps->pos] != ':') return false;
    ps->pos++;
    return true;
}

/* After a value: close finished containers; true with *more when another value follows (its
 * name already read into *key), true without when the document is complete. */
static bool json_after_value(JsonParser *ps, bool *more, uint32_t *key, uint32_t *keylen)
{
    for (;;) {
        json_skip_ws(ps);
        if (ps->depth == 0) {
            *more = false;
            return ps->pos == ps->len;
        }
        uint32_t top = ps->stack[ps->depth - 1];
        bool obj = ps->d->n[top].type == JSON_OBJ;
        char c = ps->pos < ps->len ? ps->s[ps->pos] : '\0';
        bool empty = ps->d->count == top + 1;
        if (c == (obj ? '}' : ']')) {
            ps->pos++;
            ps->d->n[top].end = ps->d->count;
            ps->depth--;
            continue;
        }
        if (!empty) {
            if (c != ',') return false;
            ps->pos++;
        }
        *key = *keylen = 0;
        if (obj && !json_member_name(ps, key, keylen)) return false;
        *more = true;
        return true;
    }
}

JsonResult json_parse(JsonDoc *d, const char *text, size_t len)
{
    memset(d, 0, sizeof *d);
    d->text = text;
    if (len >= UINT32_MAX) return JSON_MALFORMED;
    JsonParser ps = {.d = d, .s = text, .len = (uint32_t)len};
    uint32_t key = 0, keylen = 0;
    bool ok, more = true;
    /* A container is "after a value" right after it opens, so empty ones close at once. */
    while ((ok = json_value(&ps, key, keylen)) &&
           (ok = json_after_value(&ps, &more, &key, &keylen)) && more) {
    }
    free(ps.stack);
    if (ps.oom) return JSON_NOMEM;
    return ok ? JSON_OK : JSON_MALFORMED;
}

void json_free(JsonDoc *d)
{
    free(d->n);
    memset(d, 0, sizeof *d);
}

bool json_key_is(const JsonDoc *d, uint32_t i, const char *key)
{
    size_t n = strlen(key);
    return d->n[i].keylen == n && memcmp(d->text + d->n[i].key, key, n) == 0;
}

uint32_t json_member(const JsonDoc *d, uint32_t obj, const char *key)
{
    if (obj >= d->count || d->n[obj].type != JSON_OBJ) return 0;
    for (uint32_t c = json_first(d, obj); c; c = json_next(d, obj, c))
        if (json_key_is(d, c, key)) return c;
    return 0;
}

bool json_str_is(const JsonDoc *d, uint32_t i, const char *s)
{
    size_t n = strlen(s);
    return d->n[i].type == JSON_STR && d->n[i].vallen == n &&
           memcmp(d->text + d->n[i].val, s, n) == 0;
}

bool json_int(const JsonDoc *d, uint32_t i, int64_t *out)
{
    if (d->n[i].type != JSON_NUM || d->n[i].vallen == 0 || d->n[i].vallen > 19) return false;
    const char *p = d->text + d->n[i].val, *end = p + d->n[i].vallen;
    bool neg = *p == '-';
    if (neg && ++p == end) return false;
    int64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0'); /* at most 19 characters: cannot overflow */
    }
    *out = neg ? -v : v;
    return true;
}

static unsigned json_hex4(const char *p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static size_t json_put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | cp >> 12);
        dst[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | cp >> 18);
    dst[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    dst[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One \uXXXX escape at p (a pair when a high surrogate is followed by a low one); *used is how
 * many raw bytes it took. Checked by json_scan_string, so the hex digits are there. */
static unsigned json_unescape_u(const char *p, const char *end, size_t *used)
{
    unsigned cp = json_hex4(p + 2);
    *used = 6;
    if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
        unsigned lo = json_hex4(p + 8);
        if (lo >= 0xdc00 && lo < 0xe000) {
            *used = 12;
            return 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
    }
    if (cp == 0 || (cp >= 0xd800 && cp < 0xe000)) return 0xfffd;
    return cp;
}

size_t json_str_copy(const JsonDoc *d, uint32_t i, char *dst)
{
    if (d->n[i].type != JSON_STR) return SIZE_MAX;
    const char *p = d->text + d->n[i].val, *end = p + d->n[i].vallen;
    size_t n = 0;
    while (p < end) {
        if (*p != '\\') {
            dst[n++] = *p++;
            continue;
        }
        char e = p[1];
        if (e == 'u') {
            size_t used;
            n += json_put_utf8(dst + n, json_unescape_u(p, end, &used));
            p += used;
            continue;
        }
        dst[n++] = e == 'b'   ? '\b'
                   : e == 'f' ? '\f'
                   : e == 'n' ? '\n'
                   : e == 'r' ? '\r'
                   : e == 't' ? '\t'
                              : e;
        p += 2;
    }
    dst[n] = '\0';
    return n;
}
