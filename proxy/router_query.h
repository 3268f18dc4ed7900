/* router_query.h - inside the query analysis (router_query.c: the DBOS tables, terms, column
 * names and conjuncts; router_from.c: expressions, FROM items and query levels; router_stmt.c:
 * statements and the decision). No other module includes it; router_query.c's header comment
 * says what the state means. */
#ifndef PGPIN_ROUTER_QUERY_H
#define PGPIN_ROUTER_QUERY_H

#include "router_int.h"

#include <stdlib.h>

typedef struct RTable {
    const char *name;
    const char *key; /* workflow-ID column of a sharded table; NULL: a reference table */
    const char *const *cols;
} RTable;

#define RQ_MAX_DEPTH 200 /* nested query levels and join trees; deeper is refused */

typedef enum { HAS_NO, HAS_YES, HAS_MAYBE } RHas;

extern const RTable rq_tables[];
extern const int rq_ntables;
extern const char *const rq_aggs[];      /* Postgres 15's built-in aggregates */
extern const char *const rq_advisory[];  /* advisory lock functions */
extern const char *const rq_sequences[]; /* sequence functions */

enum { ST_R = 0, ST_P = 1, ST_X = 2 };

typedef enum {
    RR_SHARDED,  /* a sharded DBOS table */
    RR_REFTABLE, /* a reference (copied) DBOS table */
    RR_CATALOG,  /* pg_catalog, information_schema */
    RR_DERIVED,  /* a subquery or CTE in FROM */
    RR_VALUES,   /* unnest(keys) in FROM: a column of key values */
    RR_FUNC,     /* any other function in FROM */
    RR_PSEUDO,   /* a dbos.enqueue_workflow / send_message call: writes a sharded row */
} RRefKind;

typedef enum { TM_NONE, TM_AMBIG, TM_KEY, TM_SRC, TM_LIST } RTermKind;

typedef struct RTerm {
    RTermKind k;
    int ref;     /* TM_KEY: the sharded ref whose key column it is */
    int via;     /* TM_KEY: the ref of the resolving scope it was reached through */
    bool opaque; /* TM_KEY through a derived table that is not a plain filter of its rows */
    int src0, nsrc;
} RTerm;

typedef struct RCol {
    uint32_t name;   /* string node, or 0 with lit */
    const char *lit; /* a name not in the JSON ("column1", "?column?", a key column) */
    RTerm term;
} RCol;

typedef struct RRef {
    RRefKind kind;
    int block, arm;
    uint32_t alias, relname, schema; /* string nodes, 0 when absent */
    int table;                       /* rq_tables index: SHARDED, REFTABLE */
    int child;                       /* DERIVED: its block */
    int col0, ncols;                 /* DERIVED, VALUES, FUNC: output columns */
    bool cols_open;                  /* columns beyond the listed ones may exist */
    int uf;                          /* union-find parent */
    int chosen;                      /* the pin routing it, -1 */
} RRef;

typedef struct RBlock {
    int scope; /* where unknown column names are looked up next, -1 */
    int outer; /* where unknown CTE names are looked up next, -1 */
    int arm;
    int col0, ncols;
    bool cols_open;
    int state;
    bool agg, window, group, having, distinct, distinct_on, limit, setop, recursive, sharded;
    uint32_t stmt;
} RBlock;

typedef struct RCte {
    uint32_t name;
    int owner;    /* the block whose WITH defines it */
    int block;    /* its query's block, -1 while that is being analysed (recursion) */
    bool visible; /* to its own query only when recursive */
    int uses;     /* references to it */
    uint32_t colnames;
} RCte;

typedef struct RSrcQ {
    RouteSrc kind;
    uint16_t param;
    bool null_refuses;
    uint32_t node; /* CONST from a JSON string node */
    int lit;       /* CONST from an array literal: index into lits, -1 */
} RSrcQ;

typedef struct RPin {
    int ref, src0, nsrc;
    bool list;
} RPin;

typedef struct RPair {
    int a, b;
    bool per_shard; /* links: co-located only shard by shard (a subquery LIMIT) */
} RPair;

typedef struct RSub {
    uint32_t node; /* SubLink payload */
    int block;
} RSub;

/* A set of refs that a conjunct restricts: refs of `block` created in [lo, hi). */
typedef struct RSet {
    int lo, hi, block;
} RSet;

typedef struct RQ {
    const RStmt *st;
    const JsonDoc *d;
    RPlanB *pb;
    RRef *refs;
    int nrefs, caprefs;
    RBlock *blocks;
    int nblocks, capblocks;
    RCol *cols;
    int ncols, capcols;
    RCte *ctes;
    int nctes, capctes;
    RSrcQ *srcs;
    int nsrcs, capsrcs;
    RPin *pins;
    int npins, cappins;
    RPair *follows;
    int nfollows, capfollows;
    RPair *links;
    int nlinks, caplinks;
    RSub *subs;
    int nsubs, capsubs;
    char **lits;
    int nlits, caplits;
    int *arm_top;
    int narms, caparms;
    int depth;
    int target; /* a write's target ref, -1 */
    bool write, returning, locking, notify, setcfg, setcfg_local, session_fn;
    const char *top_nondist; /* why the top-level set operation does not distribute */
    bool top_all;            /* it has a UNION ALL */
    bool rows_mode; /* multi-row INSERT ... VALUES: srcs [row_src0, + nrows) key the rows */
    int row_src0, nrows;
    const char *x_why;   /* first reason a block became ST_X */
    uint32_t top_select; /* the top-level SELECT payload (merge), 0 for writes */
} RQ;

/* ---- Small helpers ---- */

static inline bool rq_failed(const RQ *q)
{
    return q->pb->p.kind == ROUTE_REFUSE || q->pb->oom;
}

static inline void *rq_grow(RQ *q, void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap) return *arr;
    int ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p) {
        q->pb->oom = true;
        return NULL;
    }
    *arr = p;
    *cap = ncap;
    return p;
}

static inline bool rset_has(const RQ *q, RSet s, int r)
{
    return r >= s.lo && r < s.hi && q->refs[r].block == s.block;
}

/* The state of rows from an inner join of a and b; LEFT keeps a's rows. */
static inline int st_inner(int a, int b)
{
    return a == ST_X || b == ST_X ? ST_X : a == ST_P || b == ST_P ? ST_P : ST_R;
}

static inline int st_left(int kept, int other)
{
    if (kept == ST_X || other == ST_X) return ST_X;
    if (kept == ST_P) return ST_P;
    return other == ST_R ? ST_R : ST_X; /* copied rows kept against sharded ones */
}

/* A block is a plain filter of its FROM rows: restrictions on its output reach them. */
static inline bool rq_simple(const RBlock *b)
{
    return !b->agg && !b->window && !b->distinct_on && !b->limit && !b->setop && !b->recursive &&
           !b->group && !b->having;
}

/* Not simple only through LIMIT / OFFSET: shard by shard it is a subset of the same rows. */
static inline bool rq_limit_only(const RBlock *b)
{
    return b->limit && !b->agg && !b->window && !b->distinct_on && !b->setop && !b->recursive &&
           !b->group && !b->having;
}

static inline void rq_xwhy(RQ *q, int block, const char *why)
{
    q->blocks[block].state = ST_X;
    if (!q->x_why) q->x_why = why;
}

#define RQ_ADD(q, arr, n, cap)                                                                     \
    (rq_grow(q, (void **)&(q)->arr, &(q)->cap, (q)->n + 1, sizeof *(q)->arr) ? &(q)->arr[(q)->n++] \
                                                                             : NULL)

/* ---- Across the files ---- */

RHas rq_has(const RQ *q, int r, uint32_t name, RTerm *term);
RTerm rq_array_term(RQ *q, uint32_t obj);
RTerm rq_colref(RQ *q, int block, uint32_t cr);
RTerm rq_term(RQ *q, int block, uint32_t obj);
bool rq_name_in(const JsonDoc *d, uint32_t s, const char *const *list);
bool rq_qual_matches(const RQ *q, const RRef *f, uint32_t qual, uint32_t schema);
const char *rq_tname(const RQ *q, int r);
int rq_block_new(RQ *q, int scope, int outer, int arm, uint32_t stmt);
int rq_from(RQ *q, int block, uint32_t item);
int rq_rangevar(RQ *q, int block, uint32_t rv);
int rq_ref_new(RQ *q, RRefKind kind, int block);
int rq_select(RQ *q, uint32_t p, int scope, int outer, int arm);
int rq_table_find(const JsonDoc *d, uint32_t relname);
int rq_value_src(RQ *q, uint32_t v);
uint32_t rq_value_node(const JsonDoc *d, uint32_t obj);
void rq_cond(RQ *q, int block, uint32_t obj, RSet s);
void rq_follow(RQ *q, int x, int y);
void rq_link(RQ *q, int a, int b, bool per_shard);
void rq_pin(RQ *q, int ref, int src0, int nsrc, bool list);
void rq_relate(RQ *q, RTerm a, RTerm b, RSet s);
void rq_scan(RQ *q, int block, uint32_t from, uint32_t to);
void rq_scan_member(RQ *q, int block, uint32_t obj, const char *key);
void rq_with(RQ *q, int block, uint32_t with);

#endif
