/* test_sql.c - Check suite for proxy/sql.c and sql_lex.c: what a statement text
 * writes, why it pins, which session SETs it records and how they replay; the pre-filter (it may
 * only answer when the parser would answer the same); and libpg_query from two threads at
 * once. The cache is test_sql_cache.c. Statement texts are real: every shape in
 * shared/reference/dbos-sysdb.md, and the tricky lexical cases. */
#include "sql.h"
#include "sql_cases_dbos.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---- */

/* Classify through the public entry point (pre-filter, else parser). */
static SqlInfo cls(const char *sql)
{
    SqlInfo in;
    ck_assert_msg(sql_classify_uncached(sql, strlen(sql), &in), "OOM on %s", sql);
    return in;
}

static SqlInfo cls_parse(const char *sql)
{
    SqlInfo in;
    ck_assert_msg(sql_classify_parse(sql, strlen(sql), &in), "OOM on %s", sql);
    return in;
}

/* When the pre-filter answers, the parser must give the same answer, unless the text does not
 * parse (the pre-filter checks no syntax; Postgres rejects such a text and nothing happens).
 * Returns whether the pre-filter answered. */
static bool agree(const char *sql, size_t len)
{
    SqlStmt st;
    if (!sql_prefilter(sql, len, &st)) return false;
    SqlInfo p;
    ck_assert(sql_classify_parse(sql, len, &p));
    if (p.pin == SQL_PIN_UNPARSABLE) { /* Postgres rejects it too: nothing to agree on */
        sql_info_free(&p);
        return true;
    }
    ck_assert_msg(p.nstmts == 1, "pre-filter sure of one statement, parser has %d: %.200s",
                  p.nstmts, sql);
    ck_assert_msg(p.stmts[0].kind == st.kind, "kind %s vs parser %s: %.200s", sql_kind_str(st.kind),
                  sql_kind_str(p.stmts[0].kind), sql);
    ck_assert_msg(p.flags == st.flags, "flags %x vs parser %x: %.200s", st.flags, p.flags, sql);
    ck_assert_msg(p.pin == 0 && p.nsets == 0 && !p.stmts[0].name, "parser pins/sets: %.200s", sql);
    ck_assert_uint_eq(p.stmts[0].loc, st.loc);
    ck_assert_uint_eq(p.stmts[0].len, st.len);
    sql_info_free(&p);
    return true;
}

/* The expected write/pin/sets of each case, and pre-filter/parser agreement. */
static void check_cases(const Case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Case *c = &cases[i];
        SqlInfo in = cls(c->sql);
        ck_assert_msg(((in.flags & SQL_F_WRITE) != 0) == c->write, "write=%d expected for: %s",
                      c->write, c->sql);
        ck_assert_msg(in.pin == c->pin, "pin %x, expected %x for: %s", in.pin, c->pin, c->sql);
        ck_assert_msg(in.nsets == c->nsets, "%d sets, expected %d for: %s", in.nsets, c->nsets,
                      c->sql);
        ck_assert_msg(in.nstmts >= 1, "no statement in: %s", c->sql);
        agree(c->sql, strlen(c->sql));
        sql_info_free(&in);
    }
}

#define CHECK_CASES(arr) check_cases(arr, sizeof arr / sizeof *arr)

/* ---- DBOS system database statements (sql_cases_dbos.h) ---- */

START_TEST(test_dbos_reads)
{
    CHECK_CASES(dbos_reads);
}
END_TEST

START_TEST(test_dbos_writes)
{
    CHECK_CASES(dbos_writes);
}
END_TEST

START_TEST(test_dbos_session)
{
    CHECK_CASES(dbos_session);
    SqlInfo in = cls("SET idle_in_transaction_session_timeout = 60000");
    ck_assert_int_eq(in.sets[0].kind, SQL_SET_VALUE);
    ck_assert_str_eq(in.sets[0].name, "idle_in_transaction_session_timeout");
    ck_assert_str_eq(in.sets[0].sql, "SET idle_in_transaction_session_timeout = 60000");
    sql_info_free(&in);
}
END_TEST

/* ---- Pin reasons ---- */

static const Case pin_cases[] = {
    {"LISTEN jobs", false, SQL_PIN_LISTEN, 0},
    {"listen \"Mixed Case\"", false, SQL_PIN_LISTEN, 0},
    {"UNLISTEN jobs", false, 0, 0},
    {"UNLISTEN *", false, 0, 0},
    /* Session advisory locks, anywhere in any statement; the _xact_ ones end with the txn. */
    {"SELECT pg_advisory_lock(42)", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT pg_advisory_lock_shared(1, 2)", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT pg_try_advisory_lock_shared(7)", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT PG_CATALOG.PG_TRY_ADVISORY_LOCK(7)", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT \"pg_advisory_lock\"(7)", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT id FROM jobs WHERE pg_try_advisory_lock(id) LIMIT 1", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT * FROM (SELECT pg_advisory_lock(1)) s", false, SQL_PIN_ADVISORY_LOCK, 0},
    {"UPDATE jobs SET locked = pg_try_advisory_lock(id) WHERE id = $1", true, SQL_PIN_ADVISORY_LOCK,
     0},
    {"INSERT INTO t SELECT pg_advisory_lock(1)", true, SQL_PIN_ADVISORY_LOCK, 0},
    {"SELECT pg_advisory_xact_lock(42)", false, 0, 0},
    {"SELECT pg_try_advisory_xact_lock_shared(42)", false, 0, 0},
    {"SELECT pg_advisory_unlock_all()", false, 0, 0},
    {"SELECT 'pg_advisory_lock(1)'", false, 0, 0},
    {"EXPLAIN SELECT pg_advisory_lock(1)", false, 0, 0}, /* not run */
    {"EXPLAIN ANALYZE SELECT pg_advisory_lock(1)", false, SQL_PIN_ADVISORY_LOCK, 0},
    /* Temporary objects. */
    {"CREATE TEMP TABLE scratch (id int)", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TEMPORARY TABLE scratch (id int)", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE LOCAL TEMP TABLE scratch (id int) ON COMMIT DELETE ROWS", true, SQL_PIN_TEMP_OBJECT,
     0},
    {"CREATE TEMP SEQUENCE s", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TEMPORARY VIEW v AS SELECT 1", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TEMP TABLE copy AS SELECT * FROM jobs", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TABLE pg_temp.scratch (id int)", true, SQL_PIN_TEMP_OBJECT, 0},
    {"SELECT * INTO TEMP scratch FROM jobs", true, SQL_PIN_TEMP_OBJECT, 0},
    {"SELECT * INTO TEMPORARY TABLE scratch FROM jobs", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'", true,
     SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TYPE pg_temp.pair AS (a int, b int)", true, SQL_PIN_TEMP_OBJECT, 0},
    {"CREATE TEMP TABLE scratch (id int) ON COMMIT DROP", true, 0, 0}, /* gone at commit */
    {"CREATE TEMP TABLE copy ON COMMIT DROP AS SELECT 1", true, 0, 0},
    {"CREATE UNLOGGED TABLE fast (id int)", true, 0, 0},
    {"CREATE TABLE jobs (id int)", true, 0, 0},
    {"SELECT * INTO archive FROM jobs", true, 0, 0},
    {"CREATE VIEW v AS SELECT pg_advisory_lock(1)", true, 0, 0}, /* the body does not run */
    /* Cursors WITH HOLD outlive the transaction. */
    {"DECLARE c CURSOR WITH HOLD FOR SELECT * FROM jobs", false, SQL_PIN_HOLD_CURSOR, 0},
    {"DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", false, 0, 0},
    {"DECLARE c BINARY CURSOR FOR SELECT * FROM jobs FOR UPDATE", true, 0, 0},
    /* SQL-level PREPARE and LOAD. */
    {"PREPARE q(int) AS SELECT * FROM jobs WHERE id = $1", false, SQL_PIN_PREPARE, 0},
    {"PREPARE w AS INSERT INTO jobs VALUES (1)", false, SQL_PIN_PREPARE, 0}, /* runs later */
    {"EXECUTE q(1)", true, 0, 0},
    {"LOAD 'auto_explain'", false, SQL_PIN_LOAD, 0},
};

START_TEST(test_pin_reasons)
{
    CHECK_CASES(pin_cases);
}
END_TEST

START_TEST(test_pin_names)
{
    SqlInfo in = cls("LISTEN jobs; UNLISTEN jobs; UNLISTEN *; LISTEN \"A b\"");
    ck_assert_int_eq(in.nstmts, 4);
    ck_assert_int_eq(in.stmts[0].kind, SQL_K_LISTEN);
    ck_assert_str_eq(in.stmts[0].name, "jobs");
    ck_assert_uint_eq(in.stmts[0].pin, SQL_PIN_LISTEN);
    ck_assert_int_eq(in.stmts[1].kind, SQL_K_UNLISTEN);
    ck_assert_str_eq(in.stmts[1].name, "jobs");
    ck_assert_uint_eq(in.stmts[1].pin, 0);
    ck_assert_int_eq(in.stmts[2].kind, SQL_K_UNLISTEN);
    ck_assert_ptr_null(in.stmts[2].name);
    ck_assert_str_eq(in.stmts[3].name, "A b");
    sql_info_free(&in);

    in = cls("PREPARE q AS SELECT 1; EXECUTE q; DEALLOCATE q; DEALLOCATE PREPARE ALL");
    ck_assert_int_eq(in.nstmts, 4);
    ck_assert_int_eq(in.stmts[0].kind, SQL_K_PREPARE);
    ck_assert_str_eq(in.stmts[0].name, "q");
    ck_assert_int_eq(in.stmts[1].kind, SQL_K_EXECUTE);
    ck_assert_str_eq(in.stmts[1].name, "q");
    ck_assert_int_eq(in.stmts[2].kind, SQL_K_DEALLOCATE);
    ck_assert_str_eq(in.stmts[2].name, "q");
    ck_assert_int_eq(in.stmts[3].kind, SQL_K_DEALLOCATE);
    ck_assert_ptr_null(in.stmts[3].name);
    ck_assert_uint_eq(in.pin, SQL_PIN_PREPARE);
    sql_info_free(&in);

    in = cls("DECLARE cur CURSOR WITH HOLD FOR SELECT 1; FETCH 10 FROM cur; CLOSE cur; CLOSE ALL");
    ck_assert_int_eq(in.stmts[0].kind, SQL_K_DECLARE);
    ck_assert_str_eq(in.stmts[0].name, "cur");
    ck_assert_int_eq(in.stmts[1].kind, SQL_K_FETCH);
    ck_assert_int_eq(in.stmts[2].kind, SQL_K_CLOSE);
    ck_assert_str_eq(in.stmts[2].name, "cur");
    ck_assert_ptr_null(in.stmts[3].name);
    ck_assert_uint_eq(in.flags & SQL_F_WRITE, 0);
    sql_info_free(&in);
}
END_TEST

/* ---- Session SETs: recorded, with a text that replays them ---- */

typedef struct SetCase {
    const char *sql;
    SqlSetKind kind;
    const char *name; /* NULL for RESET ALL */
    const char *replay;
} SetCase;

static const SetCase set_cases[] = {
    {"SET statement_timeout = 5000", SQL_SET_VALUE, "statement_timeout",
     "SET statement_timeout = 5000"},
    {"SET statement_timeout TO '5s'", SQL_SET_VALUE, "statement_timeout",
     "SET statement_timeout TO '5s'"},
    {"SET SESSION work_mem = '64MB'", SQL_SET_VALUE, "work_mem", "SET SESSION work_mem = '64MB'"},
    {"SET TIME ZONE 'Europe/Paris'", SQL_SET_VALUE, "timezone", "SET TIME ZONE 'Europe/Paris'"},
    {"SET TIME ZONE LOCAL", SQL_SET_VALUE, "timezone", "SET TIME ZONE LOCAL"},
    {"SET search_path = app, \"Other Schema\", public", SQL_SET_VALUE, "search_path",
     "SET search_path = app, \"Other Schema\", public"},
    {"SET SCHEMA 'app'", SQL_SET_VALUE, "search_path", "SET SCHEMA 'app'"},
    {"SET NAMES 'UTF8'", SQL_SET_VALUE, "client_encoding", "SET NAMES 'UTF8'"},
    {"SET application_name TO DEFAULT", SQL_SET_VALUE, "application_name",
     "SET application_name TO DEFAULT"},
    {"SET ROLE app_reader", SQL_SET_VALUE, "role", "SET ROLE app_reader"},
    {"SET ROLE NONE", SQL_SET_VALUE, "role", "SET ROLE NONE"},
    {"SET SESSION AUTHORIZATION alice", SQL_SET_VALUE, "session_authorization",
     "SET SESSION AUTHORIZATION alice"},
    {"SET SESSION AUTHORIZATION DEFAULT", SQL_SET_VALUE, "session_authorization",
     "SET SESSION AUTHORIZATION DEFAULT"},
    {"SET \"Work_Mem\" = '1MB'", SQL_SET_VALUE, "work_mem", "SET \"Work_Mem\" = '1MB'"},
    {"SET myapp.tenant = 'a''b'", SQL_SET_VALUE, "myapp.tenant", "SET myapp.tenant = 'a''b'"},
    {"SET x.y = E'back\\\\slash'", SQL_SET_VALUE, "x.y", "SET x.y = E'back\\\\slash'"},
    {"SET extra_float_digits = -3", SQL_SET_VALUE, "extra_float_digits",
     "SET extra_float_digits = -3"},
    {"RESET statement_timeout", SQL_SET_RESET, "statement_timeout", "RESET statement_timeout"},
    {"RESET TIME ZONE", SQL_SET_RESET, "timezone", "RESET TIME ZONE"},
    {"RESET ROLE", SQL_SET_RESET, "role", "RESET ROLE"},
    {"RESET SESSION AUTHORIZATION", SQL_SET_RESET, "session_authorization",
     "RESET SESSION AUTHORIZATION"},
    {"RESET ALL", SQL_SET_RESET_ALL, NULL, "RESET ALL"},
    /* Blanks, comments and the ';' around it are not part of the replay text. */
    {"  /* c1 */ -- c2\n\tSET lock_timeout = 100 /* c3 */ ; -- c4", SQL_SET_VALUE, "lock_timeout",
     "SET lock_timeout = 100"},
    {"SET lock_timeout = 100 -- trailing comment without newline", SQL_SET_VALUE, "lock_timeout",
     "SET lock_timeout = 100"},
    {"SET application_name = 'x -- not a comment'", SQL_SET_VALUE, "application_name",
     "SET application_name = 'x -- not a comment'"},
};

START_TEST(test_set_recorded)
{
    for (size_t i = 0; i < sizeof set_cases / sizeof *set_cases; i++) {
        const SetCase *c = &set_cases[i];
        SqlInfo in = cls(c->sql);
        ck_assert_msg(in.nstmts == 1 && in.nsets == 1, "%d stmts %d sets: %s", in.nstmts, in.nsets,
                      c->sql);
        ck_assert_int_eq(in.stmts[0].kind, SQL_K_SET);
        ck_assert_int_eq(in.stmts[0].first_set, 0);
        ck_assert_int_eq(in.stmts[0].nsets, 1);
        ck_assert_uint_eq(in.flags & SQL_F_WRITE, 0);
        ck_assert_uint_eq(in.pin, 0);
        ck_assert_int_eq(in.sets[0].kind, c->kind);
        ck_assert_int_eq(in.sets[0].stmt, 0);
        if (c->name)
            ck_assert_str_eq(in.sets[0].name, c->name);
        else
            ck_assert_ptr_null(in.sets[0].name);
        ck_assert_str_eq(in.sets[0].sql, c->replay);
        sql_info_free(&in);
    }
}
END_TEST

START_TEST(test_set_not_recorded)
{
    static const char *const local[] = {
        "SET LOCAL statement_timeout = 30000",
        "SET LOCAL search_path = a, b",
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "SET TRANSACTION READ ONLY",
        "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
        "SET CONSTRAINTS ALL DEFERRED",
        "SHOW search_path",
        "SHOW ALL",
    };
    for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
        SqlInfo in = cls(local[i]);
        ck_assert_msg(in.nsets == 0 && in.pin == 0 && !(in.flags & SQL_F_WRITE), "%s", local[i]);
        ck_assert_int_eq(in.nstmts, 1);
        sql_info_free(&in);
    }
    /* Session characteristics are session defaults: one SET each. */
    SqlInfo in = cls("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE "
                     "READ, READ ONLY, NOT DEFERRABLE");
    ck_assert_int_eq(in.nsets, 3);
    ck_assert_str_eq(in.sets[0].name, "default_transaction_isolation");
    ck_assert_str_eq(in.sets[0].sql, "SET default_transaction_isolation = 'repeatable read'");
    ck_assert_str_eq(in.sets[1].name, "default_transaction_read_only");
    ck_assert_str_eq(in.sets[1].sql, "SET default_transaction_read_only = on");
    ck_assert_str_eq(in.sets[2].name, "default_transaction_deferrable");
    ck_assert_str_eq(in.sets[2].sql, "SET default_transaction_deferrable = off");
    sql_info_free(&in);
}
END_TEST

START_TEST(test_set_config)
{
    SqlInfo in = cls("SELECT set_config('Search_Path', 'a, b', false)");
    ck_assert_int_eq(in.nsets, 1);
    ck_assert_uint_eq(in.pin, 0);
    ck_assert_int_eq(in.sets[0].kind, SQL_SET_VALUE);
    ck_assert_str_eq(in.sets[0].name, "search_path");
    /* Not "SET search_path = 'a, b'": that would be one schema named "a, b". */
    ck_assert_str_eq(in.sets[0].sql, "SELECT pg_catalog.set_config('Search_Path', 'a, b', false)");
    sql_info_free(&in);

    /* Quotes and backslashes survive the round trip; NULL resets; 'f' and 'off' are false. */
    in = cls("SELECT pg_catalog.set_config('app.x', 'it''s C:\\dir', 'f'), "
             "set_config('app.y', NULL, 'off') AS y");
    ck_assert_int_eq(in.nsets, 2);
    ck_assert_str_eq(in.sets[0].sql, "SELECT pg_catalog.set_config('app.x', E'it''s C:\\\\dir', "
                                     "false)");
    ck_assert_str_eq(in.sets[1].name, "app.y");
    ck_assert_str_eq(in.sets[1].sql, "SELECT pg_catalog.set_config('app.y', NULL, false)");
    sql_info_free(&in);

    static const Case cases[] = {
        {"SELECT set_config('app.x', 'v', true)", false, 0, 0}, /* local */
        {"SELECT set_config('app.x', $1, 'true')", false, 0, 0},
        {"SELECT set_config('app.x', 'v', false)", false, 0, 1},
        {"SELECT set_config($1, $2, false)", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT set_config('app.x', 'v' || 'w', false)", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT set_config('app.x', 'v', $1)", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT set_config('app.x', 'v', false) FROM t", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT set_config('app.x', 'v', false) WHERE false", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT * FROM set_config('app.x', 'v', false)", false, SQL_PIN_SET_CONFIG, 0},
        {"SELECT upper(set_config('app.x', 'v', false))", false, SQL_PIN_SET_CONFIG, 0},
        {"UPDATE t SET a = set_config('app.x', 'v', false)", true, SQL_PIN_SET_CONFIG, 0},
        {"SELECT set_config('app.x', 'v', false); SELECT set_config('app.y', 'w', false)", false, 0,
         2},
    };
    CHECK_CASES(cases);
}
END_TEST

/* ---- Transaction control, DISCARD, DEALLOCATE ---- */

typedef struct KindCase {
    const char *sql;
    SqlKind kind;
    unsigned flags;
    const char *name;
} KindCase;

static const KindCase kind_cases[] = {
    {"BEGIN", SQL_K_BEGIN, 0, NULL},
    {"begin work", SQL_K_BEGIN, 0, NULL},
    {"START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", SQL_K_BEGIN, 0, NULL},
    {"COMMIT", SQL_K_COMMIT, 0, NULL},
    {"END", SQL_K_COMMIT, 0, NULL},
    {"COMMIT AND CHAIN", SQL_K_COMMIT, SQL_F_CHAIN, NULL},
    {"ROLLBACK", SQL_K_ROLLBACK, 0, NULL},
    {"ABORT", SQL_K_ROLLBACK, 0, NULL},
    {"ROLLBACK AND CHAIN", SQL_K_ROLLBACK, SQL_F_CHAIN, NULL},
    {"SAVEPOINT sp1", SQL_K_SAVEPOINT, 0, "sp1"},
    {"RELEASE SAVEPOINT sp1", SQL_K_RELEASE, 0, "sp1"},
    {"RELEASE sp1", SQL_K_RELEASE, 0, "sp1"},
    {"ROLLBACK TO SAVEPOINT sp1", SQL_K_ROLLBACK_TO, 0, "sp1"},
    {"ROLLBACK TO sp1", SQL_K_ROLLBACK_TO, 0, "sp1"},
    {"PREPARE TRANSACTION 'pgpin-42'", SQL_K_PREPARE_TXN, 0, "pgpin-42"},
    {"COMMIT PREPARED 'pgpin-42'", SQL_K_COMMIT_PREPARED, 0, "pgpin-42"},
    {"ROLLBACK PREPARED 'pgpin-42'", SQL_K_ROLLBACK_PREPARED, 0, "pgpin-42"},
    {"DISCARD ALL", SQL_K_DISCARD_ALL, 0, NULL},
    {"DISCARD PLANS", SQL_K_DISCARD, 0, NULL},
    {"DISCARD TEMP", SQL_K_DISCARD, 0, NULL},
    {"DISCARD SEQUENCES", SQL_K_DISCARD, 0, NULL},
    {"DEALLOCATE stmt_1", SQL_K_DEALLOCATE, 0, "stmt_1"},
    {"DEALLOCATE PREPARE \"_pg3_0\"", SQL_K_DEALLOCATE, 0, "_pg3_0"},
    {"DEALLOCATE ALL", SQL_K_DEALLOCATE, 0, NULL},
    {"UNLISTEN *", SQL_K_UNLISTEN, 0, NULL},
    {"NOTIFY ch, 'payload'", SQL_K_NOTIFY, SQL_F_WRITE, "ch"},
    {"SHOW TRANSACTION ISOLATION LEVEL", SQL_K_SHOW, 0, NULL},
    {"DO $$BEGIN PERFORM 1; END$$", SQL_K_DO, SQL_F_WRITE, NULL},
    {"CALL do_things(1, 'a')", SQL_K_CALL, SQL_F_WRITE, NULL},
    {"LOAD 'plpgsql'", SQL_K_LOAD, 0, NULL},
    {"EXPLAIN SELECT 1", SQL_K_EXPLAIN, 0, NULL},
    {"VALUES (1), (2)", SQL_K_SELECT, 0, NULL},
    {"TABLE jobs", SQL_K_SELECT, 0, NULL},
    {"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", SQL_K_MERGE, SQL_F_WRITE,
     NULL},
    {"COPY jobs FROM STDIN", SQL_K_COPY, SQL_F_WRITE, NULL},
    {"VACUUM jobs", SQL_K_UTILITY, SQL_F_WRITE, NULL},
};

START_TEST(test_kinds)
{
    for (size_t i = 0; i < sizeof kind_cases / sizeof *kind_cases; i++) {
        const KindCase *c = &kind_cases[i];
        SqlInfo in = cls(c->sql);
        ck_assert_msg(in.nstmts == 1, "%s", c->sql);
        ck_assert_msg(in.stmts[0].kind == c->kind, "%s: %s", c->sql,
                      sql_kind_str(in.stmts[0].kind));
        ck_assert_msg(in.stmts[0].flags == c->flags, "%s: flags %x", c->sql, in.stmts[0].flags);
        if (c->name)
            ck_assert_str_eq(in.stmts[0].name, c->name);
        else
            ck_assert_ptr_null(in.stmts[0].name);
        ck_assert_uint_eq(in.pin, c->kind == SQL_K_LOAD ? SQL_PIN_LOAD : 0);
        ck_assert_int_eq(in.nsets, 0);
        sql_info_free(&in);
    }
}
END_TEST

/* ---- Writes for the shaper ---- */

static const Case write_cases[] = {
    {"INSERT INTO t VALUES (1)", true, 0, 0},
    {"UPDATE t SET a = 1", true, 0, 0},
    {"DELETE FROM t", true, 0, 0},
    {"MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)", true, 0, 0},
    {"COPY t FROM STDIN WITH (FORMAT csv)", true, 0, 0},
    {"COPY t TO STDOUT", false, 0, 0},
    {"COPY (SELECT * FROM t) TO STDOUT", false, 0, 0},
    {"COPY (DELETE FROM t RETURNING *) TO STDOUT", true, 0, 0},
    {"CREATE INDEX ON t (a)", true, 0, 0},
    {"ALTER TABLE t ADD COLUMN b int", true, 0, 0},
    {"DROP TABLE t", true, 0, 0},
    {"TRUNCATE t", true, 0, 0},
    {"GRANT SELECT ON t TO bob", true, 0, 0},
    {"VACUUM (ANALYZE) t", true, 0, 0},
    {"ANALYZE t", true, 0, 0},
    {"REFRESH MATERIALIZED VIEW mv", true, 0, 0},
    {"LOCK TABLE t IN ACCESS EXCLUSIVE MODE", true, 0, 0},
    {"CHECKPOINT", true, 0, 0},
    {"CALL p()", true, 0, 0},
    {"DO 'BEGIN END'", true, 0, 0},
    {"NOTIFY ch", true, 0, 0},
    {"SELECT * FROM t FOR UPDATE", true, 0, 0},
    {"SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED", true, 0, 0},
    {"SELECT * FROM t FOR SHARE", true, 0, 0},
    {"SELECT * FROM t FOR KEY SHARE NOWAIT", true, 0, 0},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u FOR UPDATE)", true, 0, 0},
    {"WITH moved AS (DELETE FROM a RETURNING *) SELECT count(*) FROM moved", true, 0, 0},
    {"WITH n AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM n", true, 0, 0},
    {"SELECT nextval('jobs_id_seq')", true, 0, 0},
    {"SELECT setval('jobs_id_seq', 10)", true, 0, 0},
    {"EXPLAIN ANALYZE INSERT INTO t VALUES (1)", true, 0, 0},
    {"EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", true, 0, 0},
    {"EXPLAIN (ANALYZE off) DELETE FROM t", false, 0, 0},
    {"EXPLAIN INSERT INTO t VALUES (1)", false, 0, 0},
    /* Reads. */
    {"SELECT * FROM t", false, 0, 0},
    {"SELECT my_function(1)", false, 0, 0}, /* opaque: a read */
    {"WITH x AS (SELECT 1) SELECT * FROM x", false, 0, 0},
    {"SELECT 'for update', \"into\" FROM t", false, 0, 0},
    {"SHOW work_mem", false, 0, 0},
    {"LISTEN ch", false, SQL_PIN_LISTEN, 0},
    {"FETCH ALL FROM c", false, 0, 0},
    {"CLOSE c", false, 0, 0},
    {"DISCARD ALL", false, 0, 0},
    {"DEALLOCATE ALL", false, 0, 0},
};

START_TEST(test_writes)
{
    CHECK_CASES(write_cases);
    SqlInfo in = cls("SELECT * FROM t FOR UPDATE");
    ck_assert_uint_eq(in.stmts[0].flags, SQL_F_WRITE | SQL_F_LOCKING);
    sql_info_free(&in);
}
END_TEST

/* ---- Several statements in one Query ---- */

START_TEST(test_multi_statement)
{
    const char *sql = "BEGIN;\nSET statement_timeout = 100;  -- note\n"
                      "INSERT INTO t VALUES (';');SELECT 1;\nRESET ALL; COMMIT";
    SqlInfo in = cls(sql);
    ck_assert_int_eq(in.nstmts, 6);
    static const SqlKind kinds[] = {SQL_K_BEGIN,  SQL_K_SET, SQL_K_INSERT,
                                    SQL_K_SELECT, SQL_K_SET, SQL_K_COMMIT};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(in.stmts[i].kind, kinds[i]);
    ck_assert_uint_eq(in.flags, SQL_F_WRITE); /* the union */
    ck_assert_uint_eq(in.stmts[0].flags, 0);
    ck_assert_uint_eq(in.stmts[2].flags, SQL_F_WRITE);
    /* Ranges as libpg_query gives them: up to (not including) the ';'. */
    ck_assert_uint_eq(in.stmts[0].loc, 0);
    ck_assert_uint_eq(in.stmts[0].len, 5);
    ck_assert_uint_eq(in.stmts[2].loc, (size_t)(strstr(sql, "100;") - sql) + 4);
    ck_assert(memcmp(sql + in.stmts[5].loc + in.stmts[5].len - 6, "COMMIT", 6) == 0);
    ck_assert_uint_eq(in.stmts[5].loc + in.stmts[5].len, strlen(sql));
    /* Sets in order, each pointing at its statement. */
    ck_assert_int_eq(in.nsets, 2);
    ck_assert_int_eq(in.sets[0].stmt, 1);
    ck_assert_str_eq(in.sets[0].sql, "SET statement_timeout = 100");
    ck_assert_int_eq(in.sets[1].stmt, 4);
    ck_assert_int_eq(in.sets[1].kind, SQL_SET_RESET_ALL);
    ck_assert_int_eq(in.stmts[1].first_set, 0);
    ck_assert_int_eq(in.stmts[1].nsets, 1);
    ck_assert_int_eq(in.stmts[4].first_set, 1);
    ck_assert_int_eq(in.stmts[4].nsets, 1);
    ck_assert_int_eq(in.stmts[5].nsets, 0);
    sql_info_free(&in);

    /* Two SELECTs: the pre-filter leaves that to the parser. */
    SqlStmt st;
    ck_assert(!sql_prefilter("SELECT 1; SELECT 2", 18, &st));
    in = cls("SELECT 1; SELECT pg_advisory_lock(1)");
    ck_assert_int_eq(in.nstmts, 2);
    ck_assert_uint_eq(in.stmts[0].pin, 0);
    ck_assert_uint_eq(in.stmts[1].pin, SQL_PIN_ADVISORY_LOCK);
    ck_assert_uint_eq(in.pin, SQL_PIN_ADVISORY_LOCK);
    sql_info_free(&in);
}
END_TEST

/* ---- The pre-filter: sure only when the parser agrees ---- */

typedef struct LexCase {
    const char *sql;
    int prefilter; /* 1: must answer, 0: must leave it to the parser, -1: either */
    bool write;
    unsigned pin;
} LexCase;

static const LexCase lex_cases[] = {
    {"SELECT 1", 1, false, 0},
    {"  \n\tselect * from t", 1, false, 0},
    {"-- leading comment\nSELECT 1", 1, false, 0},
    {"/* a /* nested */ comment */ SELECT 1", 1, false, 0},
    {"((SELECT 1)) UNION (SELECT 2)", 1, false, 0},
    {"SELECT 1;", 1, false, 0},
    {"SELECT 1 ; ; -- done", 1, false, 0},
    {"with x as (select 1) select * from x", 1, false, 0},
    {"INSERT INTO t VALUES ('; SELECT pg_advisory_lock(1)')", 1, true, 0},
    {"update t set a = 'LISTEN x'", 1, true, 0},
    {"DeLeTe FROM t", 1, true, 0},
    {"INSERT INTO t (\"for\", \"into\") SELECT 1, 2 FOR UPDATE", -1, true, 0},
    /* Keywords inside strings, quoted identifiers, comments and dollar quotes don't count... */
    {"SELECT 'for update' FROM t", 1, false, 0},
    {"SELECT 'it''s for update' FROM t", 1, false, 0},
    {"SELECT E'\\' for update' FROM t", 1, false, 0},
    {"SELECT e'\\\\' FROM t", 1, false, 0},
    {"SELECT $$ ; for update $$ FROM t", 1, false, 0},
    {"SELECT $a$ $b$ for update $b$ ; $a$ FROM t", 1, false, 0},
    {"SELECT $1, $2 FROM t", 1, false, 0},
    {"SELECT 1 /* for update */ FROM t", 1, false, 0},
    {"SELECT 1 /* /* */ for update */ FROM t", 1, false, 0},
    {"SELECT 1 FROM t -- for update", 1, false, 0},
    {"SELECT B'1010', X'ff', N'for' FROM t", 1, false, 0},
    {"SELECT a$for FROM t", 1, false, 0}, /* one identifier: a$for */
    {"SELECT \"updated_at\", formula, intotal FROM t", 1, false, 0},
    /* ...but outside them they do, and the lexer must find where they end. */
    {"SELECT 'a\\' FOR UPDATE --'", 0, true, 0}, /* standard string: \ is a plain character */
    {"SELECT E'a\\'' FOR UPDATE", 0, true, 0},
    {"SELECT 'x' -- comment\nFOR UPDATE", 0, true, 0},
    {"SELECT 'x' -- comment\rFOR UPDATE", 0, true, 0},
    {"SELECT 1 /* /* */ */ FROM t FOR UPDATE", 0, true, 0},
    {"SELECT 1for update", 0, true, SQL_PIN_UNPARSABLE}, /* PG 15 reads 1 FOR UPDATE: no FROM */
    {"SELECT 1 FROM t FOR UPDATE", 0, true, 0},
    {"SELECT * INTO new_t FROM t", 0, true, 0},
    {"SELECT \"pg_advisory_lock\"(1)", 0, false, SQL_PIN_ADVISORY_LOCK},
    {"SELECT pg_try_advisory_lock(1) -- 'quote", 0, false, SQL_PIN_ADVISORY_LOCK},
    {"SELECT $$x$$, pg_advisory_lock(1)", 0, false, SQL_PIN_ADVISORY_LOCK},
    {"SELECT \"for\" FROM t", 0, false, 0},         /* conservative: a quoted word counts */
    {"SELECT U&\"d\\0061ta\" FROM t", 0, false, 0}, /* U& escapes could spell anything */
    {"SELECT U&'\\0066or' FROM t", 0, false, 0},
    {"SELECT 1; SELECT 2", 0, false, 0},
    {"UPDATE t SET a = 1; LISTEN x", 0, true, SQL_PIN_LISTEN},
    {"UPDATE t SET a = pg_advisory_lock(1)", 0, true, SQL_PIN_ADVISORY_LOCK},
    {"SELECT $x$ unterminated", 0, true, SQL_PIN_UNPARSABLE},
    {"SELECT 'unterminated", 0, true, SQL_PIN_UNPARSABLE},
    {"SELECT /* unterminated", 0, true, SQL_PIN_UNPARSABLE},
    {"SELECT \"unterminated", 0, true, SQL_PIN_UNPARSABLE},
    {"EXPLAIN SELECT 1", 0, false, 0},
    {"SET x = 1", 0, false, 0},
};

START_TEST(test_prefilter_lexing)
{
    for (size_t i = 0; i < sizeof lex_cases / sizeof *lex_cases; i++) {
        const LexCase *c = &lex_cases[i];
        bool pf = agree(c->sql, strlen(c->sql));
        if (c->prefilter >= 0)
            ck_assert_msg(pf == (c->prefilter == 1), "pre-filter %s: %s",
                          pf ? "answered" : "gave up", c->sql);
        SqlInfo in = cls(c->sql);
        ck_assert_msg(((in.flags & SQL_F_WRITE) != 0) == c->write, "write: %s", c->sql);
        ck_assert_msg(in.pin == c->pin, "pin %x: %s", in.pin, c->sql);
        ck_assert_uint_eq((in.flags & SQL_F_PREFILTERED) != 0, pf);
        sql_info_free(&in);
    }
}
END_TEST

/* Every prefix and every one-byte mutation of tricky texts: the pre-filter may give up, but when
 * it answers the parser must agree. */
START_TEST(test_prefilter_mutations)
{
    static const char *const seeds[] = {
        "SELECT E'a\\'b', 'c''d', \"e\"\"f\", $t$g$t$ /* h /* i */ */ FROM t -- j\nWHERE x = $1",
        "INSERT INTO t VALUES (1, 'x'), (2, $$y$$) RETURNING *; -- z",
        "UPDATE t SET a = 'for update' WHERE b = E'\\\\' AND c = U&'d'",
    };
    static const char mut[] = {'\'', '"', '$', '\\', ';', '-', '/', '*', 'f', ' ', 'E', '\n'};
    int answered = 0;
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        size_t n = strlen(seeds[s]);
        char buf[256];
        for (size_t len = 0; len <= n; len++)
            answered += agree(seeds[s], len);
        for (size_t at = 0; at < n; at++) {
            for (size_t m = 0; m < sizeof mut; m++) {
                memcpy(buf, seeds[s], n);
                buf[at] = mut[m];
                answered += agree(buf, n);
            }
        }
    }
    ck_assert_int_gt(answered, 100); /* the pre-filter did answer many of them */
}
END_TEST

/* ---- Unparsable, empty, huge, not NUL-terminated ---- */

START_TEST(test_unparsable)
{
    static const char *const bad[] = {
        "SELEC 1",
        "SELECT FROM WHERE",
        "INSERT INTO",
        "CREATE TABLE (",
        "BEGIN; COMMIT; )",
        "\x01\x02\xff",
        "SELECT 'unterminated",
        "LISTEN",
        "SET",
        "SET x =",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        SqlInfo in = cls_parse(bad[i]);
        ck_assert_msg(in.pin == SQL_PIN_UNPARSABLE && (in.flags & SQL_F_WRITE), "%s", bad[i]);
        ck_assert_int_eq(in.nstmts, 1);
        ck_assert_int_eq(in.stmts[0].kind, SQL_K_UNKNOWN);
        ck_assert_uint_eq(in.stmts[0].len, strlen(bad[i]));
        sql_info_free(&in);
    }
    /* A NUL inside the text: the message would be malformed; never read past it as a C string. */
    SqlInfo in;
    ck_assert(sql_classify_uncached("SELECT 1\0; LISTEN x", 19, &in));
    ck_assert_uint_eq(in.pin, SQL_PIN_UNPARSABLE);
    sql_info_free(&in);
}
END_TEST

START_TEST(test_empty)
{
    static const char *const empty[] = {"", "   ", "-- only a comment", "/* c */", ";", " ; ;\n"};
    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        SqlInfo in = cls(empty[i]);
        ck_assert_msg(in.nstmts == 0 && in.flags == 0 && in.pin == 0 && in.nsets == 0, "[%s]",
                      empty[i]);
        sql_info_free(&in);
    }
    SqlInfo in;
    ck_assert(sql_classify_uncached(NULL, 0, &in));
    ck_assert_int_eq(in.nstmts, 0);
    sql_info_free(&in);
    sql_info_free(&in); /* twice is harmless */
}
END_TEST

/* n bytes of "SELECT ... WHERE id IN (1, 2, ...)" + tail, exactly n + strlen(tail), no NUL. */
static char *big_select(size_t n, const char *tail, size_t *len)
{
    size_t tl = strlen(tail);
    char *s = malloc(n + tl);
    ck_assert_ptr_nonnull(s);
    size_t k = (size_t)sprintf(s, "SELECT id FROM t WHERE id IN (0");
    for (int i = 1; k + 16 < n; i++)
        k += (size_t)sprintf(s + k, ", %d", i);
    s[k++] = ')';
    memcpy(s + k, tail, tl);
    *len = k + tl;
    return s;
}

START_TEST(test_big_statement)
{
    size_t len;
    char *s = big_select(SQL_PARSE_MAX_LEN * 4, "", &len);
    SqlStmt st;
    ck_assert(sql_prefilter(s, len, &st)); /* 4 MiB: no parse needed */
    ck_assert_uint_eq(st.flags, 0);
    free(s);

    s = big_select(SQL_PARSE_MAX_LEN + 1, " FOR UPDATE", &len); /* too long to parse */
    SqlInfo in;
    ck_assert(sql_classify_uncached(s, len, &in));
    ck_assert_uint_eq(in.flags, SQL_F_WRITE);
    ck_assert_uint_eq(in.pin, SQL_PIN_UNPARSABLE);
    sql_info_free(&in);
    free(s);

    s = big_select(1000000, "", &len); /* a 1 MB statement */
    ck_assert(sql_prefilter(s, len, &st));
    ck_assert_uint_eq(st.flags, 0);
    free(s);

    s = big_select(1000000, " FOR UPDATE", &len); /* needs the parser */
    ck_assert(!sql_prefilter(s, len, &st));
    ck_assert(sql_classify_uncached(s, len, &in));
    ck_assert_int_eq(in.nstmts, 1);
    ck_assert_uint_eq(in.flags, SQL_F_WRITE | SQL_F_LOCKING);
    ck_assert_uint_eq(in.stmts[0].len, len);
    sql_info_free(&in);

    /* Through a cache: too large to keep (over max_bytes / 8), answered all the same. */
    SqlCache *c = sql_cache_new(16, 1 << 20);
    const SqlInfo *ci = sql_classify(c, s, len);
    ck_assert_ptr_nonnull(ci);
    ck_assert_uint_eq(ci->flags, SQL_F_WRITE | SQL_F_LOCKING);
    SqlCacheStats cs;
    sql_cache_stats(c, &cs);
    ck_assert_uint_eq(cs.uncacheable, 1);
    ck_assert_uint_eq(cs.entries, 0);
    sql_cache_free(c);
    free(s);
}
END_TEST

/* Exact-size heap copies without a NUL: ASan sees any read past the end. */
START_TEST(test_not_nul_terminated)
{
    static const char *const texts[] = {
        "SELECT 1",
        "INSERT INTO t VALUES (1)",
        "SET a = 1",
        "SELECT 1 FOR UPDATE",
        "SELECT 'x",
        "SELECT $$x$",
        "SELECT /* x *",
        "SELECT 1 -- x",
        "SELECT E'\\",
        "$",
        "e",
    };
    SqlCache *c = sql_cache_new(8, 4096);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        size_t n = strlen(texts[i]);
        char *buf = malloc(n);
        memcpy(buf, texts[i], n);
        SqlInfo a, b;
        ck_assert(sql_classify_uncached(buf, n, &a));
        ck_assert(sql_classify_uncached(texts[i], n, &b));
        ck_assert_uint_eq(a.flags, b.flags);
        ck_assert_uint_eq(a.pin, b.pin);
        ck_assert_ptr_nonnull(sql_classify(c, buf, n));
        agree(buf, n);
        sql_info_free(&a);
        sql_info_free(&b);
        free(buf);
    }
    /* Only the first len bytes count. */
    SqlInfo in;
    ck_assert(sql_classify_uncached("SELECT 1; LISTEN x", 8, &in));
    ck_assert_uint_eq(in.pin, 0);
    ck_assert_uint_eq(in.flags, SQL_F_PREFILTERED);
    sql_info_free(&in);
    sql_cache_free(c);
}
END_TEST

/* ---- libpg_query from two threads at once ---- */

static bool info_same(const SqlInfo *a, const SqlInfo *b)
{
    if ((a->flags & ~SQL_F_PREFILTERED) != (b->flags & ~SQL_F_PREFILTERED) || a->pin != b->pin ||
        a->nstmts != b->nstmts || a->nsets != b->nsets)
        return false;
    for (int i = 0; i < a->nstmts; i++)
        if (a->stmts[i].kind != b->stmts[i].kind || a->stmts[i].flags != b->stmts[i].flags ||
            a->stmts[i].loc != b->stmts[i].loc || a->stmts[i].len != b->stmts[i].len)
            return false;
    for (int i = 0; i < a->nsets; i++)
        if (strcmp(a->sets[i].sql, b->sets[i].sql) != 0) return false;
    return true;
}

static const char *const thread_texts[] = {
    "SELECT owner_xid FROM workflow_status WHERE workflow_uuid=$1 FOR NO KEY UPDATE",
    "SET idle_in_transaction_session_timeout = 60000; LISTEN dbos_notifications_channel",
    "SELECT pg_try_advisory_lock(1234567890)",
    "CREATE TEMP TABLE t (a int); SELECT set_config('a.b', 'c', false)",
    "SELEC broken",
    "WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x",
};
#define NTHREAD_TEXTS (sizeof thread_texts / sizeof *thread_texts)

typedef struct ThreadArg {
    SqlInfo expect[NTHREAD_TEXTS];
    int mismatches;
} ThreadArg;

static void *thread_run(void *p)
{
    ThreadArg *a = p;
    for (int round = 0; round < 300; round++) {
        for (size_t i = 0; i < NTHREAD_TEXTS; i++) {
            SqlInfo in;
            if (!sql_classify_parse(thread_texts[i], strlen(thread_texts[i]), &in)) {
                a->mismatches++;
                continue;
            }
            a->mismatches += !info_same(&in, &a->expect[i]);
            sql_info_free(&in);
        }
    }
    return NULL;
}

START_TEST(test_threads)
{
    ThreadArg args[2] = {0};
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < NTHREAD_TEXTS; i++)
            args[t].expect[i] = cls_parse(thread_texts[i]);
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_run, &args[t]), 0);
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        ck_assert_int_eq(args[t].mismatches, 0);
        for (size_t i = 0; i < NTHREAD_TEXTS; i++)
            sql_info_free(&args[t].expect[i]);
    }
}
END_TEST

/* ---- Names ---- */

START_TEST(test_names)
{
    for (int b = 0; b < SQL_PIN_COUNT; b++)
        ck_assert_str_ne(sql_pin_reason_str(1u << b), "unknown");
    ck_assert_str_eq(sql_pin_reason_str(SQL_PIN_SET_CONFIG),
                     "set_config with non-constant arguments");
    ck_assert_str_eq(sql_pin_reason_str(1u << SQL_PIN_COUNT), "unknown");
    ck_assert_str_eq(sql_pin_reason_str(SQL_PIN_LISTEN | SQL_PIN_LOAD), "unknown");
    for (int k = SQL_K_UNKNOWN; k <= SQL_K_UTILITY; k++)
        ck_assert_ptr_nonnull(sql_kind_str((SqlKind)k));
    ck_assert_str_eq(sql_kind_str(SQL_K_ROLLBACK_TO), "ROLLBACK TO");
    ck_assert_str_eq(sql_kind_str((SqlKind)999), "UNKNOWN");
}
END_TEST

static Suite *sql_suite(void)
{
    Suite *s = suite_create("sql");
    TCase *td = tcase_create("dbos");
    tcase_add_test(td, test_dbos_reads);
    tcase_add_test(td, test_dbos_writes);
    tcase_add_test(td, test_dbos_session);
    suite_add_tcase(s, td);

    TCase *tc = tcase_create("classify");
    tcase_add_test(tc, test_pin_reasons);
    tcase_add_test(tc, test_pin_names);
    tcase_add_test(tc, test_set_recorded);
    tcase_add_test(tc, test_set_not_recorded);
    tcase_add_test(tc, test_set_config);
    tcase_add_test(tc, test_kinds);
    tcase_add_test(tc, test_writes);
    tcase_add_test(tc, test_multi_statement);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);

    TCase *tl = tcase_create("prefilter");
    tcase_add_test(tl, test_prefilter_lexing);
    tcase_add_test(tl, test_prefilter_mutations);
    suite_add_tcase(s, tl);

    TCase *te = tcase_create("edges");
    tcase_set_timeout(te, 60); /* 1 MB parses under ASan */
    tcase_add_test(te, test_unparsable);
    tcase_add_test(te, test_empty);
    tcase_add_test(te, test_big_statement);
    tcase_add_test(te, test_not_nul_terminated);
    tcase_add_test(te, test_threads);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sql_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
