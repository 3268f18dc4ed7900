/* sqlstub.h - INTERIM stand-in for proxy/sql.h (branch `sql`, the libpg_query classifier),
 * with the subset of its API that auto mode uses. A lexical first-keyword classifier: enough to
 * build and test auto mode's mechanics; it is deleted when branch `sql` is merged and auto.c
 * includes sql.h instead. Not exact: quotes and comments are not lexed. */
#ifndef PGPIN_SQLSTUB_H
#define PGPIN_SQLSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SQL_K_UNKNOWN = 0,
    SQL_K_SELECT,
    SQL_K_SET,
    SQL_K_BEGIN,
    SQL_K_COMMIT,
    SQL_K_ROLLBACK,
    SQL_K_ROLLBACK_TO,
    SQL_K_LISTEN,
    SQL_K_DISCARD_ALL,
    SQL_K_DEALLOCATE,
    SQL_K_PREPARE,
    SQL_K_LOAD,
    SQL_K_UTILITY,
} SqlKind;

enum {
    SQL_PIN_LISTEN = 1u << 0,
    SQL_PIN_ADVISORY_LOCK = 1u << 1,
    SQL_PIN_TEMP_OBJECT = 1u << 2,
    SQL_PIN_HOLD_CURSOR = 1u << 3,
    SQL_PIN_PREPARE = 1u << 4,
    SQL_PIN_LOAD = 1u << 5,
    SQL_PIN_SET_CONFIG = 1u << 6,
    SQL_PIN_UNPARSABLE = 1u << 7,
};

typedef enum { SQL_SET_VALUE, SQL_SET_RESET, SQL_SET_RESET_ALL } SqlSetKind;

typedef struct SqlSet {
    SqlSetKind kind;
    int stmt;
    const char *name;
    const char *sql;
} SqlSet;

typedef struct SqlStmt {
    SqlKind kind;
    unsigned flags, pin;
    uint32_t loc, len;
    const char *name;
    int first_set, nsets;
} SqlStmt;

typedef struct SqlInfo {
    unsigned flags, pin;
    int nstmts;
    SqlStmt *stmts;
    int nsets;
    SqlSet *sets;
    void *block_;
} SqlInfo;

typedef struct SqlCache SqlCache;

SqlCache *sql_cache_new(size_t max_entries, size_t max_bytes);
void sql_cache_free(SqlCache *c);
const SqlInfo *sql_classify(SqlCache *c, const char *text, size_t len);
const char *sql_pin_reason_str(unsigned pin_bit);

#endif
