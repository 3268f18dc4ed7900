/* sql.h - statement classification with libpg_query, and a per-worker cache of the answers.
 *
 * For a statement text (a simple Query, possibly several statements separated by ';', or a
 * Parse text) it says, per statement and for the whole text:
 *   - whether it writes (write-rate shaping, DESIGN.md section 4),
 *   - why a client running it must be pinned to its server connection in pool_mode = auto
 *     (state that outlives the transaction), as a bitmask of SQL_PIN_* reasons,
 *   - the session SET / RESET / RESET ALL operations to record and replay on another server
 *     connection, each with a SQL text that re-applies it exactly,
 *   - what kind of statement it is (transaction control, DISCARD ALL, DEALLOCATE, UNLISTEN...).
 *
 * How: sql_classify looks the text up in the worker's cache first (a hit costs one hash and one
 * compare). On a miss a lexical pre-filter (sql_lex.c) answers without parsing when it is sure:
 *   - a read: the first word (after blanks, comments and opening parentheses) is SELECT or WITH
 *     and no word outside strings, comments and dollar quotes is FOR, INTO, INSERT, UPDATE,
 *     DELETE, MERGE, SET_CONFIG, NEXTVAL, SETVAL, PG_NOTIFY or contains ADVISORY (quoted
 *     identifiers count as words);
 *   - a write without pin: the first word is INSERT, UPDATE or DELETE and no word is SET_CONFIG
 *     or contains ADVISORY;
 *   - and in both cases one statement only (after the first ';' nothing but ';', blanks and
 *     comments). It gives up on what it cannot lex for sure: unterminated quotes or comments,
 *     a NUL byte, a lone '$', U&'...' and U&"..." (escapes could spell any word).
 * It checks no syntax: a text Postgres rejects may get its answer where the parser would say
 * unparsable (the server then does nothing). Anything else is parsed by libpg_query
 * (pg_query_parse's JSON, read by json.c) and the tree walked. A text that does not parse, or
 * longer than SQL_PARSE_MAX_LEN, is classified conservatively: a write with the
 * SQL_PIN_UNPARSABLE reason, so auto mode pins rather than breaks on syntax it does not know
 * (e.g. newer than Postgres 15). Pre-filtered and parsed answers are both cached.
 *
 * Costs (bench/sql_bench.c, its header has the command; ns per statement, best of 3 rounds, DBOS
 * statements of 6-444 bytes, 2-core box loaded by other work, so +-30%):
 *   cache hit (hash + compare)                   10-70     ~0.15 ns a byte
 *   pre-filter (a miss it answers)               10-900    1.3-2 ns a byte
 *   parse: pg_query_parse + JSON walk            1,100-16,000
 *     pg_query_parse alone (JSON output)         600-12,000
 *     pg_query_parse_protobuf alone              1,300-50,000: 2-5x the JSON output (and the
 *                                                protobuf-c headers are not installed), so JSON
 * The pre-filter runs after the cache because a hit is ~10x cheaper than its scan.
 *
 * Threads: libpg_query keeps its memory contexts and error state in thread-local storage
 * (TopMemoryContext, CurrentMemoryContext, PG_exception_stack... are __thread), so worker
 * threads may parse at the same time; test_sql runs 2 threads against each other to show it.
 * One caveat in 15-4.0.0: a thread's first parse calls pthread_key_create for the thread-exit
 * hook and stores the key in one unsynchronised static (a benign race: every stored key is valid,
 * each thread registers its own context), and uses up one of the process's PTHREAD_KEYS_MAX
 * (1024) keys per thread that ever parses. Fine for a fixed set of long-lived workers; never
 * call pg_query_exit() between parses (the next parse would create another key).
 * A SqlCache is not shared: one per worker, no locks.
 *
 * What the classification assumes and cannot see:
 *   - standard_conforming_strings = on (libpg_query and the pre-filter both lex 'a\' that way);
 *     a client that turns it off may have texts read differently than its server reads them.
 *   - Code run inside functions, procedures and DO blocks is opaque: a function called from a
 *     plain SELECT counts as a read (except nextval, setval and pg_notify, which count as
 *     writes), and LISTEN, advisory locks, temp tables or set_config inside PL/pgSQL are not
 *     seen. CALL and DO count as writes.
 *   - Recorded SETs follow Postgres's transaction rules: a SET inside a transaction that rolls
 *     back (or a savepoint rolled back to) is undone, and RESET ALL leaves role and
 *     session_authorization alone (GUC_NO_RESET_ALL); the consumer applies those rules.
 *
 * Decisions on the open cases: NOTIFY and pg_notify() are writes (they take a transaction ID and
 * a WAL flush at commit); so are nextval() and setval() in any statement, LOCK, CHECKPOINT and
 * any utility statement not listed as a read. Reads: SELECT, SHOW, SET/RESET, transaction
 * control, LISTEN/UNLISTEN, EXPLAIN without ANALYZE (EXPLAIN ANALYZE is what it runs), DECLARE
 * (unless its query locks rows), FETCH, CLOSE, DISCARD, DEALLOCATE, PREPARE, LOAD, SET
 * CONSTRAINTS. EXECUTE counts as a write (what it runs is not in the text).
 * A temp table created ON COMMIT DROP does not pin (it cannot outlive its transaction). */
#ifndef PGPIN_SQL_H
#define PGPIN_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Texts longer than this are not parsed: the pre-filter's answer or else the conservative one
 * (a write, SQL_PIN_UNPARSABLE). Parsing is memory-hungry: 1 MiB of "SELECT 1;" makes 25 MB of
 * JSON and peaks at ~110 MB in libpg_query. */
#define SQL_PARSE_MAX_LEN (1u << 20)

/* What a statement is, as far as the consumers care. */
typedef enum {
    SQL_K_UNKNOWN = 0, /* did not parse (pin SQL_PIN_UNPARSABLE) */
    SQL_K_SELECT,      /* SELECT, VALUES, TABLE, and WITH ... SELECT */
    SQL_K_INSERT,
    SQL_K_UPDATE,
    SQL_K_DELETE,
    SQL_K_MERGE,
    SQL_K_COPY,
    SQL_K_SET, /* SET, RESET, RESET ALL, SET LOCAL, SET TRANSACTION, SET CONSTRAINTS: what to
                * record is in SqlStmt.first_set/nsets (none for the transaction-scoped ones) */
    SQL_K_SHOW,
    SQL_K_BEGIN,             /* BEGIN, START TRANSACTION */
    SQL_K_COMMIT,            /* COMMIT, END (SQL_F_CHAIN for AND CHAIN) */
    SQL_K_ROLLBACK,          /* ROLLBACK, ABORT (SQL_F_CHAIN for AND CHAIN) */
    SQL_K_SAVEPOINT,         /* name = savepoint */
    SQL_K_RELEASE,           /* RELEASE [SAVEPOINT] name */
    SQL_K_ROLLBACK_TO,       /* ROLLBACK TO [SAVEPOINT] name */
    SQL_K_PREPARE_TXN,       /* PREPARE TRANSACTION gid (name = gid) */
    SQL_K_COMMIT_PREPARED,   /* name = gid */
    SQL_K_ROLLBACK_PREPARED, /* name = gid */
    SQL_K_LISTEN,            /* name = channel */
    SQL_K_UNLISTEN,          /* name = channel, NULL for UNLISTEN * */
    SQL_K_NOTIFY,            /* name = channel */
    SQL_K_DISCARD_ALL,       /* resets the session: recorded SETs, prepared statements, LISTENs */
    SQL_K_DISCARD,           /* DISCARD PLANS / SEQUENCES / TEMP */
    SQL_K_DEALLOCATE,        /* name = prepared statement, NULL for DEALLOCATE ALL (SQL and protocol
                              * level statements share one namespace) */
    SQL_K_PREPARE,           /* SQL-level PREPARE name (pins) */
    SQL_K_EXECUTE,           /* EXECUTE name */
    SQL_K_DECLARE,           /* DECLARE name CURSOR */
    SQL_K_FETCH,             /* FETCH / MOVE */
    SQL_K_CLOSE,             /* CLOSE name, NULL for CLOSE ALL */
    SQL_K_EXPLAIN,
    SQL_K_CALL,
    SQL_K_DO,
    SQL_K_LOAD,
    SQL_K_UTILITY, /* anything else: DDL, GRANT, VACUUM, LOCK... (a write) */
} SqlKind;

/* Statement flags (SqlStmt.flags; SqlInfo.flags is the union plus SQL_F_PREFILTERED). */
enum {
    SQL_F_WRITE = 1u << 0,       /* writes, for the shaper */
    SQL_F_LOCKING = 1u << 1,     /* a read that locks rows (FOR UPDATE/SHARE...), so it counts
                                  * as a write: also SQL_F_WRITE. Not set on INSERT, UPDATE,
                                  * DELETE, MERGE, which write anyway */
    SQL_F_CHAIN = 1u << 2,       /* COMMIT / ROLLBACK AND CHAIN: a new transaction follows */
    SQL_F_PREFILTERED = 1u << 3, /* answered by the pre-filter, without parsing */
};

/* Why a statement pins its client to the server connection (a bitmask). */
enum {
    SQL_PIN_LISTEN = 1u << 0,
    SQL_PIN_ADVISORY_LOCK = 1u << 1, /* session-level pg_[try_]advisory_lock[_shared] */
    SQL_PIN_TEMP_OBJECT = 1u << 2,   /* CREATE TEMP ..., SELECT INTO TEMP, pg_temp.x */
    SQL_PIN_HOLD_CURSOR = 1u << 3,   /* DECLARE ... WITH HOLD */
    SQL_PIN_PREPARE = 1u << 4,       /* SQL-level PREPARE */
    SQL_PIN_LOAD = 1u << 5,
    SQL_PIN_SET_CONFIG = 1u << 6, /* set_config() not recordable: arguments not constants, or
                                   * not a plain target of a simple SELECT */
    SQL_PIN_UNPARSABLE = 1u << 7,
};
#define SQL_PIN_COUNT 8

/* A session setting operation to record (and replay in order on another connection). */
typedef enum {
    SQL_SET_VALUE,     /* SET name ..., SET name TO DEFAULT, set_config(name, v, false) */
    SQL_SET_RESET,     /* RESET name */
    SQL_SET_RESET_ALL, /* RESET ALL (name is NULL) */
} SqlSetKind;

typedef struct SqlSet {
    SqlSetKind kind;
    int stmt; /* index of its statement in SqlInfo.stmts */
    /* The GUC's name lowercased (Postgres compares GUC names case-insensitively), e.g.
     * "idle_in_transaction_session_timeout", "timezone" for SET TIME ZONE, "role",
     * "session_authorization"; NULL for RESET ALL. */
    const char *name;
    /* One statement that re-applies it exactly, without a trailing ';' or comments at either
     * end: the client's own statement text for SET / RESET, or for set_config
     * "SELECT pg_catalog.set_config('name', 'value', false)" (not a SET: for list-valued
     * settings such as search_path the two read the value differently). */
    const char *sql;
} SqlSet;

typedef struct SqlStmt {
    SqlKind kind;
    unsigned flags;   /* SQL_F_* */
    unsigned pin;     /* SQL_PIN_* */
    uint32_t loc;     /* byte range of the statement in the text (as libpg_query's stmt_location, */
    uint32_t len;     /* stmt_len: may include leading blanks/comments, excludes the ';') */
    const char *name; /* see SqlKind; NULL when none */
    int first_set;    /* its SETs are sets[first_set .. first_set + nsets) */
    int nsets;
} SqlStmt;

typedef struct SqlInfo {
    unsigned flags; /* union of the statements' flags, plus SQL_F_PREFILTERED */
    unsigned pin;   /* union of the statements' pin reasons */
    int nstmts;     /* 0 for an empty text (only blanks, comments and ';') */
    SqlStmt *stmts;
    int nsets; /* all recorded SET operations of the text, in order */
    SqlSet *sets;
    void *block_; /* private: the one allocation stmts, sets and strings live in */
} SqlInfo;

/* ---- Uncached ---- */

/* Classify text[0, len) (need not be NUL-terminated). The pre-filter when it is sure, else the
 * parser. Returns false only when out of memory (out is then empty). The caller owns out and
 * frees it with sql_info_free. */
bool sql_classify_uncached(const char *text, size_t len, SqlInfo *out);
/* The pre-filter alone. True when it is sure of the whole answer, which is then one statement
 * (*out: kind SELECT, INSERT, UPDATE or DELETE, SQL_F_WRITE or not, no pin, no SET, no name);
 * false when the text needs the parser. Allocates nothing. */
bool sql_prefilter(const char *text, size_t len, SqlStmt *out);
/* The parser alone (what the pre-filter must agree with). Returns false only when out of
 * memory. */
bool sql_classify_parse(const char *text, size_t len, SqlInfo *out);
/* Free what out owns and empty it (safe on an emptied or zeroed SqlInfo). */
void sql_info_free(SqlInfo *info);

/* ---- Cache (one per worker thread; not thread-safe) ---- */

typedef struct SqlCache SqlCache;

typedef struct SqlCacheStats {
    uint64_t hits;        /* found in the cache */
    uint64_t prefiltered; /* misses the pre-filter answered */
    uint64_t parses;      /* misses that were parsed */
    uint64_t evictions;
    uint64_t uncacheable;  /* answers too large to keep (over max_bytes / 8) */
    size_t entries, bytes; /* current contents */
} SqlCacheStats;

/* A cache of at most max_entries texts (1 to 2^28) and about max_bytes (>= 1) of texts and
 * answers; one answer larger than max_bytes / 8 is returned but not kept. Returns NULL when out
 * of memory or a bound is out of range. */
SqlCache *sql_cache_new(size_t max_entries, size_t max_bytes);
void sql_cache_free(SqlCache *c);
/* Classify text[0, len) (need not be NUL-terminated): the cache, else the pre-filter or the
 * parser, and keep the answer (evicting with the CLOCK algorithm). The result is owned by the
 * cache and valid until the next sql_classify or sql_cache_free on the same cache. NULL only
 * when out of memory. */
const SqlInfo *sql_classify(SqlCache *c, const char *text, size_t len);
void sql_cache_stats(const SqlCache *c, SqlCacheStats *out);

/* ---- Names, for logs and the admin console ---- */

/* The operator-facing text of one SQL_PIN_* bit ("LISTEN", "session advisory lock"...);
 * "unknown" for anything else. Static storage. */
const char *sql_pin_reason_str(unsigned pin_bit);
/* "SELECT", "BEGIN", "UTILITY"... Static storage. */
const char *sql_kind_str(SqlKind kind);

/* The SqlKind of a TransactionStmt's "kind" node (node index in libpg_query's JSON document d),
 * SQL_K_UNKNOWN when it names none we know. Shared with the shard router's planner. */
struct JsonDoc;
SqlKind sql_txn_kind(const struct JsonDoc *d, uint32_t kind);

#endif
