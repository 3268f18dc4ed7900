/* router.h - shard routing plans for DBOS system-database statements (DESIGN.md section 5).
 *
 * For a statement text (a simple Query, possibly several statements, or a Parse text) and the
 * schema the DBOS tables live in, router_plan_uncached says, per statement, where it must run on
 * a sharded database and how the answers of several shards combine. It is pure: no shard map,
 * no I/O; a plan is the same for every sharded database with that schema, so it is cached per
 * (schema, text) like sql.h's classification (RouteCache, one per worker). router_bind then
 * takes the plan, the Bind's parameter values and a database's SlotMap and names the shards.
 *
 * What the planner knows (router_catalog in router_query.c, from
 * shared/reference/dbos-sysdb.md at schema version 123 and the older ones):
 *   - sharded tables and their workflow-ID key column: workflow_status, workflow_input,
 *     workflow_output, operation_outputs, workflow_events, workflow_events_history, streams and
 *     the legacy workflow_inputs and workflow_queue by workflow_uuid; notifications by
 *     destination_uuid (its row lives with the destination workflow, as its foreign key needs);
 *   - reference tables, a full copy on every shard: queues, workflow_schedules,
 *     application_versions, dbos_migrations and the legacy event_dispatch_kv and scheduler_state;
 *   - system catalogs (pg_catalog, information_schema, unqualified pg_*): the same on every shard
 *     since DDL runs everywhere;
 *   - the SQL functions dbos.enqueue_workflow (keyed by its workflow_id argument) and
 *     dbos.send_message (keyed by destination_id).
 * Tables are matched by name in the configured schema, or unqualified (the sharded database
 * holds the DBOS schema only); any other table is unknown, and a statement using one is refused:
 * pgpin cannot tell whether its rows are split or copied.
 *
 * How a statement is judged. Every reference to a sharded table is "pinned" when a conjunct that
 * restricts its rows (a top-level AND of WHERE, of an inner join's ON, of the nullable side's ON,
 * an INSERT's key value) equates its key column with a parameter or literal (`col = $n`,
 * `$n = col`, `col = 'lit'`, with text casts), a list of them (`col IN ($1, 'x')`,
 * `col = ANY($n)`, `= ANY(ARRAY[...])`, `= ANY('{...}')`, a VALUES or unnest($n) column), or with
 * the key column of a pinned reference (`a.workflow_uuid = b.workflow_uuid`, correlated
 * subqueries, `col IN (SELECT key ...)`, INSERT ... SELECT key). References joined on their key
 * columns are co-located: a shard holds all rows that meet. The statement is distributive when,
 * in each arm of a top-level UNION [ALL], the rows come from sharded tables (not from a copied
 * table on the preserved side of an outer join, nor from a table-less SELECT) and every sharded
 * reference is co-located with the others: then every shard can run it on its own rows and the
 * answers merge (FANOUT_READ / ALL_WRITE, or KEY on the shards of the keys when every reference
 * is pinned). When it is not distributive it can still run on one shard if every sharded
 * reference is pinned and the keys land on that shard (KEY with key_one). Anything else is
 * refused: never a single-shard route that would miss rows, never a half-done write.
 *
 * Assumptions: standard_conforming_strings = on (as sql.h); functions other than the DBOS ones,
 * pg_notify, set_config, advisory locks and sequences read only their arguments (a user function
 * that reads or writes other rows is not seen); aggregates are recognised by the names of
 * Postgres's built-in ones (a user-defined aggregate in a fan-out read would be concatenated per
 * shard); unqualified names resolve as Postgres would with the DBOS schema on the search_path.
 *
 * Threads: planning parses with libpg_query like sql.c (thread-safe); a RouteCache is one
 * worker's, not shared. */
#ifndef PGPIN_ROUTER_H
#define PGPIN_ROUTER_H

#include "slot.h"
#include "sql.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    /* Refused with SQLSTATE 0A000: plan.reason says why (router_refusal formats it). */
    ROUTE_REFUSE = 0,
    /* The shards of the key values (plan.keys, read at Bind time by router_bind). key_one: all
     * keys must be on one shard (else refused at Bind); otherwise the statement runs on every
     * shard that holds a key and the answers merge (plan.merge; command tags summed). */
    ROUTE_KEY,
    /* A multi-row INSERT ... VALUES into a sharded table: each row goes to its key's shard
     * (plan.rows, router_rows_sql builds each shard's statement); command tags summed. */
    ROUTE_KEY_ROWS,
    /* Every shard; command tags summed, RETURNING rows concatenated. */
    ROUTE_ALL_WRITE,
    /* Every shard; rows merged as plan.merge says (concatenated, sorted, limited, summed). */
    ROUTE_FANOUT_READ,
    /* A write to reference tables: every shard, the first one first (its row locks order
     * concurrent writers); the client gets the first shard's answer, and another shard's
     * differing command tag means the copies have diverged (an error). */
    ROUTE_REF_WRITE,
    /* One shard, the first in the database's shards=: reads of reference tables and catalogs,
     * table-less statements (SELECT version(), advisory locks: one lock space), SHOW. */
    ROUTE_REF_READ,
    /* DDL, GRANT, VACUUM, TRUNCATE...: every shard (ROUTE_F_NO_TXN: each in autocommit). */
    ROUTE_DDL_ALL,
    /* LISTEN / UNLISTEN on every shard the client has a session on (and later ones). */
    ROUTE_LISTEN_ALL,
    ROUTE_UNLISTEN_ALL,
    /* NOTIFY, or a table-less SELECT pg_notify(...): one shard, the first (listeners are on
     * every shard). */
    ROUTE_NOTIFY_ONE,
    /* BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE / ROLLBACK TO, SET LOCAL, SET TRANSACTION,
     * SET CONSTRAINTS: the runtime's transaction logic (plan.stmt_kind says which). */
    ROUTE_TXN,
    /* Session SET / RESET / DISCARD / DEALLOCATE / LOAD / CLOSE ALL, set_config(): every shard
     * session the client has, recorded and replayed on sessions opened later. */
    ROUTE_SESSION_ALL,
} RouteKind;

/* Plan flags. */
enum {
    ROUTE_F_WRITE = 1u << 0,           /* writes rows: counts towards one- or two-phase commit */
    ROUTE_F_LOCKING = 1u << 1,         /* FOR UPDATE/SHARE: with a LIMIT merged over several shards,
                                        * rows each shard locked beyond the merged limit stay locked
                                        * until the transaction ends */
    ROUTE_F_RETURNING = 1u << 2,       /* a write that returns rows */
    ROUTE_F_LIMIT_PER_SHARD = 1u << 3, /* a write whose subquery LIMIT applies on each shard:
                                        * up to nshards x LIMIT rows (DBOS's timeout sweep) */
    ROUTE_F_DEDUP = 1u << 4,      /* may set workflow_status.deduplication_id: its uniqueness per
                                   * queue is enforced by each shard only */
    ROUTE_F_NO_TXN = 1u << 5,     /* cannot run in a transaction block (CONCURRENTLY, VACUUM):
                                   * each shard in autocommit, so not atomic across shards */
    ROUTE_F_TXN_SCOPED = 1u << 6, /* a setting that ends with the transaction (SET LOCAL, SET
                                   * TRANSACTION, set_config(..., true)): replayed on every
                                   * shard the transaction reaches */
    ROUTE_F_NO_PREPARE = 1u << 7, /* Postgres cannot PREPARE a transaction that ran it on a
                                   * shard: NOTIFY, pg_notify(), LISTEN, UNLISTEN, an INSERT
                                   * into notifications (its trigger notifies) or
                                   * dbos.send_message(). A two-phase commit must commit that
                                   * shard last, with a plain COMMIT, once the others are
                                   * prepared (at most one such shard per transaction). */
};

/* Where a key value comes from. */
typedef enum {
    ROUTE_SRC_PARAM, /* Bind parameter $param */
    ROUTE_SRC_CONST, /* the literal value[0, len) */
    ROUTE_SRC_NULL,  /* a NULL literal: matches nothing, any shard answers */
    ROUTE_SRC_ARRAY, /* Bind parameter $param holding an array of keys (= ANY($n)) */
} RouteSrc;

typedef struct RouteKey {
    RouteSrc src;
    uint16_t param;    /* PARAM, ARRAY: 1-based */
    bool null_refuses; /* a NULL value lets the server generate the ID: refuse */
    int32_t row;       /* ROUTE_KEY_ROWS: the VALUES row it keys (0-based); -1 otherwise */
    const char *value; /* CONST (not NUL-terminated at len for arrays' elements: use len) */
    uint32_t len;
} RouteKey;

/* A VALUES row of a ROUTE_KEY_ROWS INSERT: "(...)" at [start, end) of the client's text. */
typedef struct RouteRow {
    uint32_t start, end;
} RouteRow;

/* A $n in the statement (ROUTE_KEY_ROWS: renumbered by router_rows_sql). */
typedef struct RouteParamRef {
    uint32_t loc, len; /* the token in the client's text */
    uint16_t number;
} RouteParamRef;

/* LIMIT / OFFSET value. */
typedef enum {
    ROUTE_VAL_NONE,  /* absent */
    ROUTE_VAL_CONST, /* value */
    ROUTE_VAL_PARAM, /* Bind parameter $param (NULL = no limit / offset 0) */
    ROUTE_VAL_ALL,   /* LIMIT ALL or LIMIT NULL */
} RouteValKind;

typedef struct RouteVal {
    RouteValKind kind;
    uint16_t param;
    int64_t value;
} RouteVal;

typedef struct RouteSort {
    uint16_t col; /* column of the shards' rows (hidden columns included) */
    bool desc;
    bool nulls_first; /* resolved: Postgres's default is NULLS LAST for ASC, FIRST for DESC */
} RouteSort;

/* How a column of the shards' rows combines when the statement aggregates. */
typedef enum {
    ROUTE_AGG_GROUP, /* a grouping column: rows with equal grouping columns merge */
    ROUTE_AGG_SUM,   /* count(...), sum(...): added (NULLs skipped; all NULL stays NULL) */
    ROUTE_AGG_MIN,
    ROUTE_AGG_MAX,
    ROUTE_AGG_SAME, /* a constant: the same on every shard */
} RouteAgg;

/* Combining the rows of several shards. Sorting compares by the column types in the shards'
 * RowDescription: text columns compare as the shards' collation does, which the runtime can
 * only reproduce under C/POSIX collation (else it must refuse to merge a text sort). */
typedef struct RouteMerge {
    bool ok;            /* the rows of several shards combine exactly as below */
    const char *reason; /* !ok: why not (for the 0A000 message) */
    bool distinct;      /* drop duplicate rows (SELECT DISTINCT, UNION) */
    uint16_t hidden;    /* leading sort columns pgpin added: strip them from every row */
    /* What each shard runs when it differs from the statement as sent: sort columns prepended
     * (AS "?pgpin_sort_N"), ordinals shifted past them, OFFSET folded into LIMIT. NULL: the
     * statement itself. */
    const char *shard_sql;
    int nsort;
    const RouteSort *sort;
    RouteVal limit, offset; /* applied after merging (LIMIT NULL/ALL: no limit) */
    int nagg;               /* 0: no aggregation; else one per column of the shards' rows */
    const RouteAgg *agg;
} RouteMerge;

typedef struct RoutePlan {
    RouteKind kind;
    unsigned flags;     /* ROUTE_F_* */
    SqlKind stmt_kind;  /* SELECT, INSERT, BEGIN, ... */
    uint32_t loc, len;  /* the statement's bytes in the text (libpg_query's stmt_location/len) */
    const char *reason; /* ROUTE_REFUSE: why, as a clause ("...: cursors are not supported") */
    bool key_one;       /* ROUTE_KEY: every key on one shard, else refuse at Bind */
    bool all_ok;        /* running it on every shard is also exact: the fallback when a key
                         * value cannot be read (an unknown binary type, a malformed array) */
    int nkeys;
    const RouteKey *keys;
    int nrows; /* ROUTE_KEY_ROWS */
    const RouteRow *rows;
    int nparams; /* ROUTE_KEY_ROWS: every $n of the statement */
    const RouteParamRef *params;
    RouteMerge merge; /* FANOUT_READ, KEY (several shards), KEY_ROWS and ALL_WRITE RETURNING */
} RoutePlan;

typedef struct RouteInfo {
    int nplans; /* 0 for an empty text */
    RoutePlan *plans;
    void *block_; /* private: the allocation everything lives in */
} RouteInfo;

/* ---- Planning ---- */

/* Plan every statement of text[0, len) (need not be NUL-terminated) for DBOS tables in schema.
 * A text that does not parse (or is longer than SQL_PARSE_MAX_LEN) is one ROUTE_REFUSE plan.
 * Returns false only when out of memory. The caller owns out (route_info_free). */
bool router_plan_uncached(const char *text, size_t len, const char *schema, RouteInfo *out);
void route_info_free(RouteInfo *info);

/* A cache of plans keyed by (schema, text); one per worker, not thread-safe. NULL when out of
 * memory or max_entries is 0. */
typedef struct RouteCache RouteCache;
RouteCache *route_cache_new(size_t max_entries);
void route_cache_free(RouteCache *c);
/* The plans for text, from the cache or planned now (evicting the least recently used). Valid
 * until the next call on c. NULL when out of memory. */
const RouteInfo *router_plan(RouteCache *c, const char *schema, const char *text, size_t len);
void route_cache_stats(const RouteCache *c, uint64_t *hits, uint64_t *misses, size_t *entries);

/* "<reason>: <the statement, up to 80 bytes, blanks squeezed>" into buf: the 0A000 message for
 * a refused plan (or a Bind-time refusal's reason passed as reason). */
void router_refusal(const RoutePlan *p, const char *text, const char *reason, char *buf,
                    size_t len);

/* ---- Bind time ---- */

/* One Bind parameter: format 0 text, 1 binary; len -1 for NULL; type = the Parse's declared
 * OID for it, 0 when left to the server. */
typedef struct RouteParam {
    const char *value;
    int32_t len;
    int16_t format;
    uint32_t type;
} RouteParam;

/* The shards a plan runs on for these parameter values, as a bit set of positions in the
 * database's shards= list: every shard for ALL_WRITE, FANOUT_READ, REF_WRITE, DDL_ALL,
 * LISTEN/UNLISTEN, TXN and SESSION_ALL (the runtime narrows the last ones to its sessions); the
 * first for REF_READ and NOTIFY_ONE; for KEY and KEY_ROWS the shards of the keys (none read: the
 * first). row_shard, when not NULL, gets each row's shard for KEY_ROWS (plan.nrows entries).
 * Returns true, or false with the reason in err: a refused plan, keys on different shards for a
 * key_one plan, several shards that cannot merge, a key that cannot be read where running
 * everywhere is not exact, a NULL where the server would generate the ID. */
bool router_bind(const RoutePlan *p, const SlotMap *m, const RouteParam *params, int nparams,
                 uint64_t *shards, int *row_shard, char *err, size_t errlen);

/* The workflow ID a key parameter carries, as the server will compare it: text as sent (bpchar
 * without trailing blanks), uuid in canonical lowercase form, binary text, varchar, bpchar,
 * name and uuid decoded. Writes at most 64 bytes for a uuid into buf and points *id at the ID
 * (into value or buf). Returns false for a type it cannot read (then the key is unknown). */
bool router_key_text(const RouteParam *param, char buf[64], const char **id, size_t *idlen);

/* Each element of a text or binary array parameter (element types text, varchar, bpchar, name,
 * uuid): calls fn(arg, id, len) for each non-NULL element. Returns false when the array cannot
 * be read (then nothing is known about its keys). */
bool router_array_each(const RouteParam *param, void (*fn)(void *arg, const char *id, size_t len),
                       void *arg);

/* The statement text for a ROUTE_KEY_ROWS plan keeping only the rows whose indices are listed
 * (in order, at least one): the INSERT with those VALUES rows, parameters renumbered $1.. in
 * order of their old numbers; param_map[new - 1] = old number (room for plan.nparams entries),
 * *nparams the new count. Returns a malloc'd NUL-terminated string, NULL when out of memory. */
char *router_rows_sql(const RoutePlan *p, const char *text, const int *rows, int nrows,
                      uint16_t *param_map, int *nparams);

/* Names for logs, tests and the admin console. Static storage. */
const char *route_kind_str(RouteKind kind);

/* A one-line description of a plan into buf (truncated to len), for logs and tests:
 *   KIND [one|each] [keys=$1,$2[],'lit',NULL ("!" after a key whose NULL refuses)] [rows=N]
 *   [+write +locking +returning +limit-per-shard +dedup +no-txn +txn-scoped +no-prepare]
 *   [merge(distinct hidden=N sort=C[d][nf|nl],... limit=V offset=V agg=G|S|N|X|=...)]
 *   [merge-no(reason)] [: refusal reason]
 * where C is a column of the shards' rows, d descending, nf/nl an explicit NULLS FIRST/LAST
 * that differs from the default, V a number, $n or all; agg letters: Group, Sum, miN, maX,
 * '=' same. */
void router_describe(const RoutePlan *p, char *buf, size_t len);

#endif
