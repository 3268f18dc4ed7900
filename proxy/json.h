/* json.h - a minimal read-only JSON reader, for libpg_query's parse trees (sql.c).
 *
 * The document becomes one array of nodes in document order (pre-order), each knowing where its
 * subtree ends, so a whole subtree can be searched with a flat loop and skipped with one jump:
 * no recursion, whatever the nesting. Strings stay in the text, escaped, until asked for. */
#ifndef PGPIN_JSON_H
#define PGPIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUM,
    JSON_STR,
    JSON_ARR,
    JSON_OBJ,
} JsonType;

typedef struct JsonNode {
    uint32_t key, keylen; /* an object member's name (raw, between the quotes); 0, 0 otherwise */
    uint32_t val, vallen; /* JSON_STR: raw content between the quotes; JSON_NUM: its text */
    uint32_t end;         /* index one past the last node of this subtree */
    uint8_t type;         /* JsonType */
} JsonNode;

typedef struct JsonDoc {
    const char *text; /* borrowed: must outlive the document */
    JsonNode *n;      /* n[0] is the root */
    uint32_t count, cap;
} JsonDoc;

typedef enum {
    JSON_OK = 0,
    JSON_MALFORMED, /* not one JSON value, or over 4 GB */
    JSON_NOMEM,
} JsonResult;

/* Read text[0, len) (need not be NUL-terminated) into d, which borrows text. On any result d
 * must be freed with json_free. */
JsonResult json_parse(JsonDoc *d, const char *text, size_t len);
void json_free(JsonDoc *d);

/* The member of object node obj named key (an unescaped name without quotes or backslashes),
 * or 0 when absent or obj is no object (0 is the root, which is never a member). */
uint32_t json_member(const JsonDoc *d, uint32_t obj, const char *key);
/* True when node i's member name is exactly key. */
bool json_key_is(const JsonDoc *d, uint32_t i, const char *key);
/* True when node i is a string whose raw content is exactly s (s holds no escapable byte). */
bool json_str_is(const JsonDoc *d, uint32_t i, const char *s);
/* Node i's number as an int64; false when it is no integer that fits. */
bool json_int(const JsonDoc *d, uint32_t i, int64_t *out);
/* Unescape string node i into dst, which has room for d->n[i].vallen + 1 bytes (unescaping
 * never lengthens); NUL-terminates and returns the length. \u0000 becomes U+FFFD, as do lone
 * surrogates. Returns SIZE_MAX when i is no string. */
size_t json_str_copy(const JsonDoc *d, uint32_t i, char *dst);

/* Children of an array or object: for (c = json_first(d, i); c; c = json_next(d, i, c)). */
static inline uint32_t json_first(const JsonDoc *d, uint32_t i)
{
    return i + 1 < d->n[i].end ? i + 1 : 0;
}

static inline uint32_t json_next(const JsonDoc *d, uint32_t parent, uint32_t c)
{
    return d->n[c].end < d->n[parent].end ? d->n[c].end : 0;
}

#endif
