/* router_int.h - between router_plan.c (parse, statement kinds, the plan block), router_query.c
 * (which shards a SELECT / INSERT / UPDATE / DELETE needs), router_merge.c (how the rows of
 * several shards combine; VALUES rows for splitting) and router_bind.c. No other module
 * includes it. */
#ifndef PGPIN_ROUTER_INT_H
#define PGPIN_ROUTER_INT_H

#include "json.h"
#include "router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One statement's plan while it is built: the scalar fields in p, the arrays and strings owned
 * here (malloc'd) until router_plan.c packs them into the RouteInfo block. */
typedef struct RPlanB {
    RoutePlan p;
    char *reason;
    RouteKey *keys; /* keys[i].value: owned copies */
    int nkeys, capkeys;
    RouteRow *rows;
    int nrows;
    RouteParamRef *params;
    int nparams;
    RouteSort *sort;
    int nsort;
    RouteAgg *agg;
    int nagg;
    char *merge_reason;
    char *shard_sql;
    bool oom;
} RPlanB;

/* What router_query.c hands router_merge.c about the statement. */
typedef struct RStmt {
    const JsonDoc *d;
    const char *text; /* the client's text (whole, not NUL-terminated) */
    size_t textlen;
    uint32_t loc, len; /* the statement's bytes */
    const char *schema;
} RStmt;

/* ---- Building (router_plan.c) ---- */

/* Refuse the plan (the first reason wins): kind ROUTE_REFUSE, reason formatted. */
void rpb_refuse(RPlanB *pb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a key; value (CONST) is copied. Returns false when out of memory. */
bool rpb_key(RPlanB *pb, const RouteKey *k, const char *value, size_t len);
/* malloc'd copy of fmt..., or NULL (pb->oom) */
char *rpb_strf(RPlanB *pb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- JSON of libpg_query's tree (router_plan.c) ---- */

/* {"Type": {...}} -> the payload object (its key is the type), or 0. */
uint32_t rj_node(const JsonDoc *d, uint32_t obj);
/* The payload of obj when its type is `type`, else 0. */
uint32_t rj_typed(const JsonDoc *d, uint32_t obj, const char *type);
/* The string node of {"String": {"sval": "..."}}, or 0. */
uint32_t rj_string(const JsonDoc *d, uint32_t obj);
/* A member that is an array, or 0. */
uint32_t rj_array(const JsonDoc *d, uint32_t obj, const char *key);
/* Number of elements of an array node (0 for 0). */
int rj_count(const JsonDoc *d, uint32_t arr);
/* Element i of an array node, or 0. */
uint32_t rj_elem(const JsonDoc *d, uint32_t arr, int i);
/* The integer member key of obj, or def. */
int64_t rj_int(const JsonDoc *d, uint32_t obj, const char *key, int64_t def);
/* Member key is JSON true. */
bool rj_true(const JsonDoc *d, uint32_t obj, const char *key);
/* String node s equals the (unescaped) text z. */
bool rj_eq(const JsonDoc *d, uint32_t s, const char *z);
/* Two string nodes hold the same (unescaped) text. */
bool rj_same(const JsonDoc *d, uint32_t a, uint32_t b);
/* The subtrees at a and b are equal, "location" members ignored. */
bool rj_equal_noloc(const JsonDoc *d, uint32_t a, uint32_t b);
/* Unescaped copy of string node s (malloc'd), NULL when out of memory or s is no string. */
char *rj_dup(const JsonDoc *d, uint32_t s);

/* ---- Analysis (router_query.c) ---- */

/* Plan the SELECT / INSERT / UPDATE / DELETE whose node ({"SelectStmt": ...}) is stmt. */
void rq_plan_dml(const RStmt *st, uint32_t stmt, RPlanB *pb);

/* ---- Merging and rows (router_merge.c) ---- */

/* The merge of the top-level SELECT payload sel (a plain SELECT or a set operation) when it
 * runs on several shards: fills pb->p.merge and the merge arrays and strings. */
void rm_select(const RStmt *st, uint32_t sel, RPlanB *pb);
/* A write's merge: RETURNING rows concatenate. */
void rm_write(RPlanB *pb, bool returning);
/* The "(...)" ranges of an INSERT's VALUES rows (nrows of them, the key of row i taken from
 * keys) and every $n of the statement, for ROUTE_KEY_ROWS. False when the text cannot be
 * split with certainty (then the caller plans it as one statement). */
bool rm_rows(const RStmt *st, int nrows, RPlanB *pb);

/* A text array literal ('{a,"b c",NULL}', nested braces flattened): calls fn for each non-NULL
 * element (unescaped into scratch, which needs len bytes). False when malformed. */
bool rb_array_text(const char *s, size_t len, char *scratch,
                   void (*fn)(void *arg, const char *el, size_t n), void *arg);

#endif
