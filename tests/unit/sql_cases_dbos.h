/* sql_cases_dbos.h - statement texts DBOS sends to its system database
 * (shared/reference/dbos-sysdb.md, sections 1-4: TypeScript 5.3.0 and the Python, Go and Java
 * SDKs), written out whole where the reference abbreviates them, with what test_sql.c expects of
 * each. Data only; included by test_sql.c. */
#ifndef PGPIN_SQL_CASES_DBOS_H
#define PGPIN_SQL_CASES_DBOS_H

#include "sql.h"

#include <stdbool.h>

typedef struct Case {
    const char *sql;
    bool write;
    unsigned pin;
    int nsets;
} Case;

/* Ordinary reads: nothing pins, nothing is recorded. */
static const Case dbos_reads[] = {
    {"SELECT 1 FROM pg_database WHERE datname=$1", false, 0, 0},
    {"SELECT version() AS version", false, 0, 0},
    {"SELECT application_name FROM \"dbos\".application_versions WHERE version_name=$1", false, 0,
     0},
    {"SELECT version_name, version_timestamp FROM \"dbos\".application_versions WHERE "
     "(application_name = ANY($1) OR application_name IS NULL) ORDER BY version_timestamp DESC "
     "LIMIT 1",
     false, 0, 0},
    {"SELECT status FROM \"dbos\".workflow_status WHERE workflow_uuid=$1", false, 0, 0},
    {"SELECT output, error, child_workflow_id, function_name, serialization FROM "
     "\"dbos\".operation_outputs WHERE workflow_uuid=$1 AND function_id=$2",
     false, 0, 0},
    {"SELECT function_name FROM \"dbos\".operation_outputs WHERE workflow_uuid=$1 AND "
     "function_id=$2",
     false, 0, 0},
    {"SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1", false, 0, 0},
    {"SELECT queue_partition_key, MAX(created_at) FROM \"dbos\".workflow_status WHERE "
     "queue_partition_key = ANY($1) AND status = ANY($2) GROUP BY queue_partition_key",
     false, 0, 0},
    {"SELECT topic FROM \"dbos\".notifications WHERE destination_uuid=$1 AND topic=$2 AND "
     "consumed = false",
     false, 0, 0},
    {"SELECT key, value, serialization FROM \"dbos\".workflow_events WHERE workflow_uuid=$1 AND "
     "key=$2",
     false, 0, 0},
    {"SELECT ws.status, s.value, s.serialization, s.\"offset\" FROM \"dbos\".workflow_status ws "
     "LEFT JOIN \"dbos\".streams s ON s.workflow_uuid=ws.workflow_uuid AND s.key=$2 AND "
     "s.\"offset\"=$3 WHERE ws.workflow_uuid=$1",
     false, 0, 0},
    {"SELECT ws.status, COALESCE(wo.output, ws.output), COALESCE(wo.error, ws.error), "
     "ws.serialization FROM \"dbos\".workflow_status ws LEFT JOIN \"dbos\".workflow_output wo ON "
     "wo.workflow_uuid = ws.workflow_uuid WHERE ws.workflow_uuid=$1",
     false, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid IN ($1,$2,$3) AND "
     "status NOT IN ('PENDING','ENQUEUED','DELAYED') LIMIT 1",
     false, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1::text[]) "
     "AND status NOT IN ('PENDING','ENQUEUED','DELAYED')",
     false, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1) AND "
     "status=$2",
     false, 0, 0},
    {"SELECT COUNT(*) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND rate_limited=TRUE "
     "AND status NOT IN ($2,$3) AND started_at_epoch_ms > $4",
     false, 0, 0},
    {"WITH RECURSIVE partitions AS (SELECT MIN(queue_partition_key) AS pk FROM "
     "\"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 UNION ALL SELECT (SELECT "
     "MIN(queue_partition_key) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 "
     "AND queue_partition_key > p.pk) FROM partitions p WHERE p.pk IS NOT NULL), chosen AS "
     "(SELECT pk FROM partitions WHERE pk IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
     "\"dbos\".workflow_status w WHERE w.queue_name=$1 AND w.status='PENDING' AND "
     "w.queue_partition_key = partitions.pk)) SELECT head.workflow_uuid FROM chosen JOIN LATERAL "
     "(SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 AND "
     "queue_partition_key=chosen.pk ORDER BY priority ASC, created_at ASC LIMIT 1) head ON true",
     false, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE queue_name=$1 AND "
     "deduplication_id=$2",
     false, 0, 0},
    {"SELECT name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec FROM "
     "\"dbos\".queues WHERE (application_name = $1 OR application_name IS NULL)",
     false, 0, 0},
    {"SELECT schedule_id, schedule_name, workflow_name FROM \"dbos\".workflow_schedules WHERE "
     "(application_name = $1 OR application_name IS NULL) ORDER BY schedule_name",
     false, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE parent_workflow_id = ANY($1)", false,
     0, 0},
    {"SELECT workflow_status.workflow_uuid, workflow_status.status, COALESCE(wi.inputs, "
     "workflow_status.inputs) FROM \"dbos\".workflow_status LEFT JOIN \"dbos\".workflow_input wi "
     "ON wi.workflow_uuid = workflow_status.workflow_uuid WHERE workflow_status.attributes @> "
     "$1::jsonb AND workflow_status.workflow_uuid LIKE $2 ORDER BY created_at DESC LIMIT $3 "
     "OFFSET $4",
     false, 0, 0},
    {"SELECT * FROM \"dbos\".operation_outputs WHERE workflow_uuid=$1 ORDER BY function_id", false,
     0, 0},
    {"SELECT DISTINCT workflow_uuid FROM \"dbos\".workflow_status ORDER BY workflow_uuid LIMIT 1 "
     "OFFSET 500",
     false, 0, 0},
    {"SELECT created_at FROM \"dbos\".workflow_status ORDER BY created_at DESC LIMIT 1 OFFSET $1",
     false, 0, 0},
    {"SELECT i.relname FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN "
     "pg_namespace n ON n.oid = i.relnamespace WHERE NOT ix.indisvalid AND n.nspname=$1",
     false, 0, 0},
    {"SELECT version FROM \"dbos\".dbos_migrations", false, 0, 0},
    {"SELECT 1", false, 0, 0}, /* SQLAlchemy pool_pre_ping */
    {"BEGIN", false, 0, 0},
    {"BEGIN ISOLATION LEVEL READ COMMITTED", false, 0, 0},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ", false, 0, 0},
    {"BEGIN ISOLATION LEVEL SERIALIZABLE", false, 0, 0},
    {"BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", false, 0, 0},
    {"SET LOCAL statement_timeout = 30000", false, 0, 0},
    {"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", false, 0, 0},
    {"COMMIT", false, 0, 0},
    {"ROLLBACK", false, 0, 0},
    {"SELECT pg_advisory_unlock(1234567890)", false, 0, 0},
};

/* Writes: DML, locking reads, pg_notify() and NOTIFY, migrations (DDL, several statements in
 * one Query). */
static const Case dbos_writes[] = {
    {"CREATE DATABASE \"dbos_app_dbos_sys\"", true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET started_at_epoch_ms=NULL, status=$1, owner_xid=NULL, "
     "queue_name=COALESCE(queue_name,$2) WHERE status=$3 AND executor_id=$4 AND "
     "application_version=$5 AND (application_name = ANY($6) OR application_name IS NULL) "
     "RETURNING workflow_uuid",
     true, 0, 0},
    {"UPDATE \"dbos\".application_versions SET application_name=$1 WHERE version_name=$2 AND "
     "application_name IS NULL",
     true, 0, 0},
    {"INSERT INTO \"dbos\".application_versions (version_id, version_name, version_timestamp, "
     "application_name) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, class_name, config_name, "
     "owner_xid) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (workflow_uuid) DO UPDATE SET "
     "creator_xid = workflow_status.creator_xid RETURNING status, name, class_name, config_name, "
     "queue_name, executor_id, creator_xid, serialization",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_input (workflow_uuid, inputs) VALUES ($1,$2) ON CONFLICT DO "
     "NOTHING",
     true, 0, 0},
    /* Locking reads count as writes. */
    {"SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1 FOR NO KEY UPDATE",
     true, 0, 0},
    {"INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, output, error, "
     "function_name, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, "
     "serialization, application_name, retention_timestamp) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,"
     "$10, (EXTRACT(EPOCH FROM now())*1000)::bigint) ON CONFLICT (workflow_uuid,function_id) DO "
     "UPDATE SET completed_at_epoch_ms = operation_outputs.completed_at_epoch_ms RETURNING "
     "completed_at_epoch_ms",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$2, updated_at=$6, deduplication_id=NULL, "
     "completed_at=$6, owner_xid=$3 WHERE workflow_uuid=$1 AND status=$4 AND owner_xid=$5",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_output (workflow_uuid, output, error) VALUES ($1,$2,$3) ON "
     "CONFLICT (workflow_uuid) DO UPDATE SET output = EXCLUDED.output, error = EXCLUDED.error",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$1, updated_at=$5 WHERE workflow_uuid = "
     "ANY($2::text[]) AND status=$3 AND recovery_attempts >= $4",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name) VALUES ($1,$2,$3), "
     "($4,$5,$6), ($7,$8,$9) ON CONFLICT (workflow_uuid) DO NOTHING RETURNING workflow_uuid",
     true, 0, 0},
    {"INSERT INTO \"dbos\".notifications (destination_uuid, topic, message, serialization, "
     "message_uuid) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (message_uuid) DO NOTHING",
     true, 0, 0},
    {"UPDATE \"dbos\".notifications SET consumed=true, consumed_by_function_id=$3 WHERE "
     "destination_uuid=$1 AND topic=$2 AND consumed=false AND message_uuid = (SELECT "
     "message_uuid FROM \"dbos\".notifications WHERE destination_uuid=$1 AND topic=$2 AND "
     "consumed=false ORDER BY created_at_epoch_ms ASC LIMIT 1) RETURNING message, serialization",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_events (workflow_uuid,key,value,serialization) VALUES "
     "($1,$2,$3,$4) ON CONFLICT (workflow_uuid,key) DO UPDATE SET value=$3, serialization=$4 "
     "RETURNING workflow_uuid",
     true, 0, 0},
    {"INSERT INTO \"dbos\".workflow_events_history (workflow_uuid, function_id, key, value, "
     "serialization) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (workflow_uuid, function_id, key) DO "
     "UPDATE SET value=$4, serialization=$5",
     true, 0, 0},
    /* pg_notify() writes (a transaction ID and a flush at commit), like NOTIFY. */
    {"SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", true, 0, 0},
    {"NOTIFY dbos_notifications_channel, 'dbos_listen_selftest'", true, 0, 0},
    {"INSERT INTO \"dbos\".streams (workflow_uuid, key, value, \"offset\", function_id, "
     "serialization) SELECT $1::text, $2::text, $3::text, COALESCE(MAX(s.\"offset\"),-1)+1, "
     "$4::int, $5::text FROM \"dbos\".streams s WHERE s.workflow_uuid=$1 AND s.key=$2",
     true, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 AND "
     "(application_version=$3 OR application_version IS NULL) ORDER BY priority ASC, created_at "
     "ASC LIMIT 10 FOR UPDATE SKIP LOCKED",
     true, 0, 0},
    {"SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 ORDER "
     "BY priority ASC, created_at ASC FOR UPDATE NOWAIT",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=$8, executor_id=$2, "
     "application_version=$3, started_at_epoch_ms=$9, rate_limited=$4, "
     "recovery_attempts=recovery_attempts+1 WHERE workflow_uuid = ANY($5::text[]) AND status=$6 "
     "RETURNING workflow_uuid",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$1, updated_at=$4, deduplication_id = CASE WHEN "
     "is_debounced THEN NULL ELSE deduplication_id END WHERE status=$3 AND delay_until_epoch_ms "
     "<= $2",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=NULL WHERE "
     "workflow_uuid IN (SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status IN "
     "('ENQUEUED','PENDING','DELAYED') AND workflow_deadline_epoch_ms <= $2 ORDER BY "
     "workflow_deadline_epoch_ms LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING workflow_uuid",
     true, 0, 0},
    {"INSERT INTO \"dbos\".queues (name, concurrency) VALUES ($1, $2) ON CONFLICT (name) DO "
     "UPDATE SET concurrency = EXCLUDED.concurrency",
     true, 0, 0},
    {"DELETE FROM \"dbos\".queues WHERE name=$1", true, 0, 0},
    {"UPDATE \"dbos\".workflow_schedules SET last_fired_at=$1 WHERE schedule_name=$2", true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET priority=$1 WHERE workflow_uuid=$2 AND status IN "
     "($3,$4)",
     true, 0, 0},
    {"UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=NULL, "
     "deduplication_id=NULL, started_at_epoch_ms=NULL WHERE workflow_uuid = ANY($2) AND status "
     "NOT IN ($3,$4)",
     true, 0, 0},
    {"WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
     "($1::text,$2::text,$3::int,$4::text)) INSERT INTO \"dbos\".operation_outputs "
     "(workflow_uuid, function_id, output) SELECT m.fork_id, o.function_id, o.output FROM mapping "
     "m JOIN \"dbos\".operation_outputs o ON o.workflow_uuid = m.orig_id AND o.function_id < "
     "m.start_step",
     true, 0, 0},
    {"DELETE FROM \"dbos\".workflow_events WHERE workflow_uuid=$1 AND EXISTS (SELECT 1 FROM "
     "\"dbos\".workflow_events_history h WHERE h.workflow_uuid=$1 AND h.function_id >= $2)",
     true, 0, 0},
    {"DELETE FROM \"dbos\".workflow_input WHERE workflow_uuid = ANY($1)", true, 0, 0},
    {"DELETE FROM \"dbos\".workflow_status WHERE created_at < $1 AND status NOT IN "
     "('PENDING','ENQUEUED','DELAYED')",
     true, 0, 0},
    {"UPDATE \"dbos\".dbos_migrations SET version=$1", true, 0, 0},
    {"INSERT INTO \"dbos\".dbos_migrations (version) VALUES ($1)", true, 0, 0},
    /* Migrations: DDL, one statement or several per Query. */
    {"CREATE SCHEMA IF NOT EXISTS \"dbos\"", true, 0, 0},
    {"CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"", true, 0, 0},
    {"CREATE TABLE IF NOT EXISTS \"dbos\".dbos_migrations (version BIGINT NOT NULL PRIMARY KEY)",
     true, 0, 0},
    {"ALTER TABLE \"dbos\".workflow_status ADD COLUMN creator_xid TEXT", true, 0, 0},
    {"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_status_created_at ON "
     "\"dbos\".workflow_status (created_at)",
     true, 0, 0},
    {"DROP INDEX CONCURRENTLY IF EXISTS \"dbos\".idx_workflow_status_queue_status_started", true, 0,
     0},
    {"CREATE OR REPLACE FUNCTION \"dbos\".streams_function() RETURNS trigger AS $$\n"
     "DECLARE payload text := NEW.workflow_uuid || '::' || NEW.key;\n"
     "BEGIN\n  PERFORM pg_notify('dbos_streams_channel', payload);\n  RETURN NEW;\nEND;\n"
     "$$ LANGUAGE plpgsql;\n"
     "ALTER FUNCTION \"dbos\".streams_function() SET search_path = pg_catalog, pg_temp;\n"
     "DROP TRIGGER IF EXISTS dbos_streams_trigger ON \"dbos\".streams;\n"
     "CREATE TRIGGER dbos_streams_trigger AFTER INSERT ON \"dbos\".streams FOR EACH ROW EXECUTE "
     "FUNCTION \"dbos\".streams_function();",
     true, 0, 0},
    {"CREATE OR REPLACE FUNCTION \"dbos\".send_message(destination_id TEXT, message JSON, topic "
     "TEXT DEFAULT NULL, message_id TEXT DEFAULT NULL) RETURNS VOID AS $$ BEGIN INSERT INTO "
     "\"dbos\".notifications (destination_uuid, topic, message) VALUES (destination_id, topic, "
     "message::text); END; $$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp",
     true, 0, 0},
    {"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"dbos\" TO app_role", true, 0,
     0},
};

/* What pins or is recorded in DBOS's traffic: the listener connection, TS's per-connection SET,
 * and Python's migration lock. */
static const Case dbos_session[] = {
    {"SET idle_in_transaction_session_timeout = 60000", false, 0, 1},
    {"LISTEN dbos_notifications_channel;", false, SQL_PIN_LISTEN, 0},
    {"LISTEN dbos_workflow_events_channel", false, SQL_PIN_LISTEN, 0},
    {"BEGIN; LISTEN dbos_notifications_channel; LISTEN dbos_workflow_events_channel; LISTEN "
     "dbos_streams_channel; COMMIT",
     false, SQL_PIN_LISTEN, 0},
    {"SELECT pg_try_advisory_lock(1234567890)", false, SQL_PIN_ADVISORY_LOCK, 0},
};

#endif
