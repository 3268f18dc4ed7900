/* router_cases_dbos.h - every statement family DBOS sends to its system database
 * (shared/reference/dbos-sysdb.md section 2: TypeScript 5.3.0 families A-G by their ids, then
 * the SQL functions of 1.4 and the Python differences of 2.3), written out whole, with the
 * routing plan expected of each as router_describe writes it (several statements of one text
 * joined by " | "). Data only; included by test_router.c. */
#ifndef PGPIN_ROUTER_CASES_DBOS_H
#define PGPIN_ROUTER_CASES_DBOS_H

typedef struct RouteCase {
    const char *family; /* the reference's id and purpose */
    const char *sql;
    const char *plan;
} RouteCase;

static const RouteCase route_dbos[] = {
    {"A1 create sys DB (db postgres)", "SELECT 1 FROM pg_database WHERE datname=$1", "REF_READ"},
    {"A1 create sys DB", "CREATE DATABASE \"dbos_app_dbos_sys\"",
     "REFUSE: it acts on the whole Postgres server, not on one database: run it on each shard's "
     "server directly"},
    {"A2 detect CockroachDB", "SELECT version() AS version", "REF_READ"},
    {"A3 migration: schema", "CREATE SCHEMA IF NOT EXISTS \"dbos\"", "DDL_ALL +write"},
    {"A3 migration: version table",
     "CREATE TABLE IF NOT EXISTS \"dbos\".dbos_migrations (version BIGINT NOT NULL PRIMARY KEY)",
     "DDL_ALL +write"},
    {"A3 migration: read version", "SELECT version FROM \"dbos\".dbos_migrations", "REF_READ"},
    {"A3 migration: column", "ALTER TABLE \"dbos\".workflow_status ADD COLUMN creator_xid TEXT",
     "DDL_ALL +write"},
    {"A3 migration: payload table",
     "CREATE TABLE \"dbos\".workflow_output (workflow_uuid TEXT PRIMARY KEY, output TEXT, error "
     "TEXT, retention_timestamp BIGINT)",
     "DDL_ALL +write"},
    {"A3 migration: extension", "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"", "DDL_ALL +write"},
    {"A3 online migration: leftovers",
     "SELECT i.relname FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_namespace "
     "n ON n.oid = i.relnamespace WHERE NOT ix.indisvalid AND n.nspname=$1",
     "REF_READ"},
    {"A3 online migration: drop leftover",
     "DROP INDEX CONCURRENTLY IF EXISTS \"dbos\".idx_workflow_status_queue_status_started",
     "DDL_ALL +write +no-txn"},
    {"A3 online migration: index",
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_status_created_at ON "
     "\"dbos\".workflow_status (created_at)",
     "DDL_ALL +write +no-txn"},
    {"A3 migration: several statements in one Query",
     "CREATE OR REPLACE FUNCTION \"dbos\".streams_function() RETURNS trigger AS $$\nDECLARE "
     "payload text := NEW.workflow_uuid || '::' || NEW.key;\nBEGIN\n  PERFORM "
     "pg_notify('dbos_streams_channel', payload);\n  RETURN NEW;\nEND;\n$$ LANGUAGE "
     "plpgsql;\nALTER FUNCTION \"dbos\".streams_function() SET search_path = pg_catalog, "
     "pg_temp;\nDROP TRIGGER IF EXISTS dbos_streams_trigger ON \"dbos\".streams;\nCREATE TRIGGER "
     "dbos_streams_trigger AFTER INSERT ON \"dbos\".streams FOR EACH ROW EXECUTE FUNCTION "
     "\"dbos\".streams_function();",
     "DDL_ALL +write | DDL_ALL +write | DDL_ALL +write | DDL_ALL +write"},
    {"A3 migration >= 100: in a transaction",
     "BEGIN; ALTER TABLE \"dbos\".operation_outputs ADD COLUMN retention_timestamp BIGINT; COMMIT",
     "TXN | DDL_ALL +write | TXN"},
    {"A3 migration: record version", "UPDATE \"dbos\".dbos_migrations SET version=$1",
     "REF_WRITE +write"},
    {"A3 migration: first version", "INSERT INTO \"dbos\".dbos_migrations (version) VALUES ($1)",
     "REF_WRITE +write"},
    {"A3 migrate: grant to app role",
     "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"dbos\" TO app_role",
     "DDL_ALL +write"},
    {"A3 Python migrations: session advisory lock", "SELECT pg_try_advisory_lock(1234567890)",
     "REF_READ"},
    {"A3 Python migrations: unlock", "SELECT pg_advisory_unlock(1234567890)", "REF_READ"},
    {"A4 per new pool connection", "SET idle_in_transaction_session_timeout = 60000",
     "SESSION_ALL"},
    {"A5 listener", "LISTEN dbos_notifications_channel;", "LISTEN_ALL +no-prepare"},
    {"A5 listener", "LISTEN dbos_workflow_events_channel", "LISTEN_ALL +no-prepare"},
    {"A5 listener self-test", "NOTIFY dbos_notifications_channel, 'dbos_listen_selftest'",
     "NOTIFY_ONE +no-prepare"},
    {"A5 Go listener",
     "BEGIN; LISTEN dbos_notifications_channel; LISTEN dbos_workflow_events_channel; LISTEN "
     "dbos_streams_channel; COMMIT",
     "TXN | LISTEN_ALL +no-prepare | LISTEN_ALL +no-prepare | LISTEN_ALL +no-prepare | TXN"},
    {"A6 recovery of this executor's PENDING workflows",
     "UPDATE \"dbos\".workflow_status SET started_at_epoch_ms=NULL, status=$1, owner_xid=NULL, "
     "queue_name=COALESCE(queue_name,$2) WHERE status=$3 AND executor_id=$4 AND "
     "application_version=$5 AND (application_name = ANY($6) OR application_name IS NULL) "
     "RETURNING workflow_uuid",
     "ALL_WRITE +write +returning"},
    {"A7 register app version",
     "UPDATE \"dbos\".application_versions SET application_name=$1 WHERE version_name=$2 AND "
     "application_name IS NULL",
     "REF_WRITE +write"},
    {"A7 register app version",
     "INSERT INTO \"dbos\".application_versions (version_id, version_name, version_timestamp, "
     "application_name) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
     "REF_WRITE +write"},
    {"A7 register app version",
     "SELECT application_name FROM \"dbos\".application_versions WHERE version_name=$1",
     "REF_READ"},
    {"A8 latest version",
     "SELECT version_name, version_timestamp FROM \"dbos\".application_versions WHERE "
     "(application_name = ANY($1) OR application_name IS NULL) ORDER BY version_timestamp DESC "
     "LIMIT 1",
     "REF_READ"},
    {"B1 init workflow status",
     "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, class_name, config_name, "
     "authenticated_user, assumed_role, authenticated_roles, request, executor_id, "
     "application_version, application_id, created_at, updated_at, recovery_attempts, queue_name, "
     "workflow_timeout_ms, workflow_deadline_epoch_ms, deduplication_id, priority, "
     "queue_partition_key, forked_from, parent_workflow_id, serialization, delay_until_epoch_ms, "
     "attributes, schedule_name, application_name, creator_xid, owner_xid) VALUES "
     "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$"
     "26,$27,$28,$29,$30) ON CONFLICT (workflow_uuid) DO UPDATE SET creator_xid = "
     "workflow_status.creator_xid RETURNING status, name, class_name, config_name, queue_name, "
     "executor_id, creator_xid, serialization",
     "KEY one keys=$1 +write +returning +dedup"},
    {"B1 init workflow inputs",
     "INSERT INTO \"dbos\".workflow_input (workflow_uuid, inputs) VALUES ($1,$2) ON CONFLICT DO "
     "NOTHING",
     "KEY one keys=$1 +write"},
    {"B1/B2/B4 transaction", "BEGIN ISOLATION LEVEL READ COMMITTED", "TXN"},
    {"B1 not the creator", "ROLLBACK", "TXN"},
    {"B2 child init: lock the parent",
     "SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1 FOR NO KEY UPDATE",
     "KEY each keys=$1 +locking"},
    {"B2 child init: parent's step row",
     "INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, function_name, "
     "child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization, "
     "application_name, retention_timestamp) VALUES ($1,$2,$3,$6,$4,$5,$7,$8,(EXTRACT(EPOCH FROM "
     "now())*1000)::bigint) ON CONFLICT (workflow_uuid,function_id) DO UPDATE SET "
     "completed_at_epoch_ms = operation_outputs.completed_at_epoch_ms RETURNING "
     "completed_at_epoch_ms",
     "KEY one keys=$1 +write +returning"},
    {"B3 checkpoint lookup", "SELECT status FROM \"dbos\".workflow_status WHERE workflow_uuid=$1",
     "KEY each keys=$1"},
    {"B3 checkpoint lookup",
     "SELECT output, error, child_workflow_id, function_name, serialization FROM "
     "\"dbos\".operation_outputs WHERE workflow_uuid=$1 AND function_id=$2",
     "KEY each keys=$1"},
    {"B4 record step output",
     "INSERT INTO \"dbos\".operation_outputs (workflow_uuid, function_id, output, error, "
     "function_name, child_workflow_id, started_at_epoch_ms, completed_at_epoch_ms, serialization, "
     "application_name, retention_timestamp) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10, "
     "(EXTRACT(EPOCH FROM now())*1000)::bigint) ON CONFLICT (workflow_uuid,function_id) DO UPDATE "
     "SET completed_at_epoch_ms = operation_outputs.completed_at_epoch_ms RETURNING "
     "completed_at_epoch_ms",
     "KEY one keys=$1 +write +returning"},
    {"B4 commit", "COMMIT", "TXN"},
    {"B6 record workflow outcome",
     "UPDATE \"dbos\".workflow_status SET status=$2, updated_at=$6, deduplication_id=NULL, "
     "completed_at=$6, owner_xid=$3 WHERE workflow_uuid=$1 AND status=$4 AND owner_xid=$5",
     "KEY each keys=$1 +write"},
    {"B6 record workflow outcome",
     "INSERT INTO \"dbos\".workflow_output (workflow_uuid, output, error) VALUES ($1,$2,$3) ON "
     "CONFLICT (workflow_uuid) DO UPDATE SET output = EXCLUDED.output, error = EXCLUDED.error",
     "KEY one keys=$1 +write"},
    {"B7 dead-letter",
     "UPDATE \"dbos\".workflow_status SET status=$1, updated_at=$5 WHERE workflow_uuid = "
     "ANY($2::text[]) AND status=$3 AND recovery_attempts >= $4",
     "KEY each keys=$2[] +write"},
    {"B8 patching",
     "SELECT function_name FROM \"dbos\".operation_outputs WHERE workflow_uuid=$1 AND "
     "function_id=$2",
     "KEY each keys=$1"},
    {"B9 transactional step: the caller's SQL",
     "INSERT INTO app_orders (id, total) VALUES ($1, $2)",
     "REFUSE: it uses app_orders, which is not a DBOS system table: pgpin cannot tell whether its "
     "rows are split across the shards or copied on each"},
    {"B10 ownership probe", "SELECT owner_xid FROM \"dbos\".workflow_status WHERE workflow_uuid=$1",
     "KEY each keys=$1"},
    {"B11 batch enqueue: partition heads",
     "SELECT queue_partition_key, MAX(created_at) FROM \"dbos\".workflow_status WHERE "
     "queue_partition_key = ANY($1) AND status = ANY($2) GROUP BY queue_partition_key",
     "FANOUT_READ merge(agg=GX)"},
    {"B11 batch enqueue: status rows",
     "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, queue_name) VALUES "
     "($1,$2,$3,$4), ($5,$6,$7,$8), ($9,$10,$11,$12) ON CONFLICT (workflow_uuid) DO NOTHING "
     "RETURNING workflow_uuid",
     "KEY_ROWS keys=$1,$5,$9 rows=3 +write +returning"},
    {"B11 batch enqueue: input rows",
     "INSERT INTO \"dbos\".workflow_input (workflow_uuid, inputs) VALUES ($1,$2), ($3,$4) ON "
     "CONFLICT DO NOTHING",
     "KEY_ROWS keys=$1,$3 rows=2 +write"},
    {"C1/C2 send",
     "INSERT INTO \"dbos\".notifications (destination_uuid, topic, message, serialization, "
     "message_uuid) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (message_uuid) DO NOTHING",
     "KEY one keys=$1 +write +no-prepare"},
    {"C4 recv: wait",
     "SELECT topic FROM \"dbos\".notifications WHERE destination_uuid=$1 AND topic=$2 AND consumed "
     "= false",
     "KEY each keys=$1"},
    {"C5 recv: consume",
     "UPDATE \"dbos\".notifications SET consumed=true, consumed_by_function_id=$3 WHERE "
     "destination_uuid=$1 AND topic=$2 AND consumed=false AND message_uuid = (SELECT message_uuid "
     "FROM \"dbos\".notifications WHERE destination_uuid=$1 AND topic=$2 AND consumed=false ORDER "
     "BY created_at_epoch_ms ASC LIMIT 1) RETURNING message, serialization",
     "KEY one keys=$1 +write +returning"},
    {"C6 setEvent",
     "INSERT INTO \"dbos\".workflow_events (workflow_uuid,key,value,serialization) VALUES "
     "($1,$2,$3,$4) ON CONFLICT (workflow_uuid,key) DO UPDATE SET value=$3, serialization=$4 "
     "RETURNING workflow_uuid",
     "KEY one keys=$1 +write +returning"},
    {"C6 setEvent history",
     "INSERT INTO \"dbos\".workflow_events_history (workflow_uuid, function_id, key, value, "
     "serialization) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (workflow_uuid, function_id, key) DO "
     "UPDATE SET value=$4, serialization=$5",
     "KEY one keys=$1 +write"},
    {"C7 getEvent",
     "SELECT key, value, serialization FROM \"dbos\".workflow_events WHERE workflow_uuid=$1 AND "
     "key=$2",
     "KEY each keys=$1"},
    {"C8/C9 writeStream",
     "INSERT INTO \"dbos\".streams (workflow_uuid, key, value, \"offset\", function_id, "
     "serialization) SELECT $1::text, $2::text, $3::text, COALESCE(MAX(s.\"offset\"),-1)+1, "
     "$4::int, $5::text FROM \"dbos\".streams s WHERE s.workflow_uuid=$1 AND s.key=$2",
     "KEY one keys=$1 +write"},
    {"C10 readStream",
     "SELECT ws.status, s.value, s.serialization, s.\"offset\" FROM \"dbos\".workflow_status ws "
     "LEFT JOIN \"dbos\".streams s ON s.workflow_uuid=ws.workflow_uuid AND s.key=$2 AND "
     "s.\"offset\"=$3 WHERE ws.workflow_uuid=$1",
     "KEY each keys=$1"},
    {"C6/C9/C11 notifier flush", "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
     "NOTIFY_ONE +no-prepare"},
    {"D1 getResult",
     "SELECT ws.status, COALESCE(wo.output, ws.output), COALESCE(wo.error, ws.error), "
     "ws.serialization FROM \"dbos\".workflow_status ws LEFT JOIN \"dbos\".workflow_output wo ON "
     "wo.workflow_uuid = ws.workflow_uuid WHERE ws.workflow_uuid=$1",
     "KEY each keys=$1"},
    {"D2 waitFirst",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid IN ($1,$2,$3) AND "
     "status NOT IN ('PENDING','ENQUEUED','DELAYED') LIMIT 1",
     "KEY each keys=$1,$2,$3 merge(limit=1)"},
    {"D3 waitAll",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1::text[]) AND "
     "status NOT IN ('PENDING','ENQUEUED','DELAYED')",
     "KEY each keys=$1[]"},
    {"D4 cancellation watcher",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1) AND "
     "status=$2",
     "KEY each keys=$1[]"},
    {"D5 getWorkflowStatus(es)",
     "SELECT workflow_status.workflow_uuid, workflow_status.status, workflow_status.name, "
     "workflow_status.created_at, COALESCE(wi.inputs, workflow_status.inputs) AS inputs, "
     "COALESCE(wo.output, workflow_status.output) AS output FROM \"dbos\".workflow_status LEFT "
     "JOIN \"dbos\".workflow_input wi ON wi.workflow_uuid = workflow_status.workflow_uuid LEFT "
     "JOIN \"dbos\".workflow_output wo ON wo.workflow_uuid = workflow_status.workflow_uuid WHERE "
     "(workflow_status.application_name = $1 OR workflow_status.application_name IS NULL) AND "
     "workflow_status.workflow_uuid IN ($2,$3,$4) ORDER BY created_at ASC",
     "KEY each keys=$2,$3,$4 merge(sort=3)"},
    {"E1 dequeue", "BEGIN ISOLATION LEVEL REPEATABLE READ", "TXN"},
    {"E1 dequeue: rate limit",
     "SELECT COUNT(*) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND rate_limited=TRUE AND "
     "status NOT IN ($2,$3) AND started_at_epoch_ms > $4 AND (application_name = $5 OR "
     "application_name IS NULL)",
     "FANOUT_READ merge(agg=S)"},
    {"E1 dequeue: concurrency",
     "SELECT COUNT(*) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 AND "
     "(application_name = $3 OR application_name IS NULL)",
     "FANOUT_READ merge(agg=S)"},
    {"E1 dequeue: version",
     "SELECT version_name FROM \"dbos\".application_versions WHERE (application_name = $1 OR "
     "application_name IS NULL) ORDER BY version_timestamp DESC LIMIT 1",
     "REF_READ"},
    {"E1 dequeue: candidates",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 AND "
     "(application_version=$3 OR application_version IS NULL) AND (application_name = $4 OR "
     "application_name IS NULL) ORDER BY priority ASC, created_at ASC LIMIT 10 FOR UPDATE SKIP "
     "LOCKED",
     "FANOUT_READ +locking merge(hidden=2 sort=0,1 limit=10)"},
    {"E1 dequeue: candidates, shared limits",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE status=$1 AND queue_name=$2 ORDER "
     "BY priority ASC, created_at ASC LIMIT 3 FOR UPDATE NOWAIT",
     "FANOUT_READ +locking merge(hidden=2 sort=0,1 limit=3)"},
    {"E1 dequeue: claim",
     "UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=$8, executor_id=$2, "
     "application_version=$3, started_at_epoch_ms=$9, rate_limited=$4, "
     "application_name=COALESCE(application_name,$7), recovery_attempts=recovery_attempts+1, "
     "workflow_deadline_epoch_ms=CASE WHEN workflow_timeout_ms IS NOT NULL AND "
     "workflow_deadline_epoch_ms IS NULL THEN $9 + workflow_timeout_ms ELSE "
     "workflow_deadline_epoch_ms END WHERE workflow_uuid = ANY($5::text[]) AND status=$6 RETURNING "
     "workflow_uuid",
     "KEY each keys=$5[] +write +returning"},
    {"E2 partitioned dequeue",
     "WITH RECURSIVE partitions AS (SELECT MIN(queue_partition_key) AS pk FROM "
     "\"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 UNION ALL SELECT (SELECT "
     "MIN(queue_partition_key) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 AND "
     "queue_partition_key > p.pk) FROM partitions p WHERE p.pk IS NOT NULL), chosen AS (SELECT pk "
     "FROM partitions WHERE pk IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"dbos\".workflow_status "
     "w WHERE w.queue_name=$1 AND w.status='PENDING' AND w.queue_partition_key = partitions.pk)) "
     "SELECT head.workflow_uuid FROM chosen JOIN LATERAL (SELECT workflow_uuid FROM "
     "\"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 AND queue_partition_key=chosen.pk "
     "ORDER BY priority ASC, created_at ASC LIMIT 1) head ON true",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: a recursive WITH over sharded tables"},
    {"E2 partitioned dequeue: lock heads",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1) AND status "
     "= $2 FOR UPDATE SKIP LOCKED",
     "KEY each keys=$1[] +locking"},
    {"E3 list partitions",
     "WITH RECURSIVE partitions AS (SELECT MIN(queue_partition_key) AS pk FROM "
     "\"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 UNION ALL SELECT (SELECT "
     "MIN(queue_partition_key) FROM \"dbos\".workflow_status WHERE queue_name=$1 AND status=$2 AND "
     "queue_partition_key > p.pk) FROM partitions p WHERE p.pk IS NOT NULL) SELECT pk FROM "
     "partitions WHERE pk IS NOT NULL",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: a recursive WITH over sharded tables"},
    {"E4 DELAYED to ENQUEUED",
     "UPDATE \"dbos\".workflow_status SET status=$1, updated_at=$4, deduplication_id = CASE WHEN "
     "is_debounced THEN NULL ELSE deduplication_id END WHERE status=$3 AND delay_until_epoch_ms <= "
     "$2 AND (application_name = $5 OR application_name IS NULL)",
     "ALL_WRITE +write"},
    {"E5 timeout sweep",
     "UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=NULL, "
     "deduplication_id=NULL, updated_at=$4 WHERE workflow_uuid IN (SELECT workflow_uuid FROM "
     "\"dbos\".workflow_status WHERE status IN ('ENQUEUED','PENDING','DELAYED') AND "
     "workflow_deadline_epoch_ms <= $2 AND (application_name = $5 OR application_name IS NULL) "
     "ORDER BY workflow_deadline_epoch_ms LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING workflow_uuid",
     "ALL_WRITE +write +locking +returning +limit-per-shard"},
    {"E6 dedup lookup",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE queue_name=$1 AND "
     "deduplication_id=$2",
     "FANOUT_READ"},
    {"E7 queue registry: reconcile",
     "SELECT name, concurrency, worker_concurrency, rate_limit_max, rate_limit_period_sec, "
     "priority_enabled, partition_queue, polling_interval_sec FROM \"dbos\".queues WHERE "
     "(application_name = $1 OR application_name IS NULL)",
     "REF_READ"},
    {"E7 queue registry: get", "SELECT name, concurrency FROM \"dbos\".queues WHERE name=$1",
     "REF_READ"},
    {"E7 queue registry: upsert",
     "INSERT INTO \"dbos\".queues (name, concurrency, worker_concurrency, application_name) VALUES "
     "($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET concurrency = EXCLUDED.concurrency, "
     "worker_concurrency = EXCLUDED.worker_concurrency",
     "REF_WRITE +write"},
    {"E7 queue registry: update",
     "UPDATE \"dbos\".queues SET concurrency=$1, updated_at=$2 WHERE name=$3", "REF_WRITE +write"},
    {"E7 queue registry: delete", "DELETE FROM \"dbos\".queues WHERE name=$1", "REF_WRITE +write"},
    {"E8 debounce",
     "UPDATE \"dbos\".workflow_status SET delay_until_epoch_ms=CASE WHEN $1 > delay_until_epoch_ms "
     "THEN $1 ELSE delay_until_epoch_ms END, serialization=$2, "
     "application_name=COALESCE(application_name, $8) WHERE name=$3 AND class_name IS NOT DISTINCT "
     "FROM $4 AND queue_name=$5 AND deduplication_id=$6 AND status=$7 AND is_debounced=TRUE "
     "RETURNING workflow_uuid",
     "ALL_WRITE +write +returning"},
    {"E8 debounce: new inputs",
     "INSERT INTO \"dbos\".workflow_input (workflow_uuid, inputs) VALUES ($1, $2) ON CONFLICT "
     "(workflow_uuid) DO UPDATE SET inputs = EXCLUDED.inputs",
     "KEY one keys=$1 +write"},
    {"E8 debounce: existing",
     "SELECT workflow_uuid, is_debounced, delay_until_epoch_ms FROM \"dbos\".workflow_status WHERE "
     "queue_name=$1 AND deduplication_id=$2",
     "FANOUT_READ"},
    {"E9 priority change",
     "UPDATE \"dbos\".workflow_status SET priority=$1, updated_at=$5 WHERE workflow_uuid=$2 AND "
     "status IN ($3,$4)",
     "KEY each keys=$2 +write"},
    {"E9 delay change",
     "UPDATE \"dbos\".workflow_status SET delay_until_epoch_ms=$1 WHERE workflow_uuid=$2 AND "
     "status=$3",
     "KEY each keys=$2 +write"},
    {"E10 schedules: list",
     "SELECT schedule_id, schedule_name, workflow_name, workflow_class_name, schedule, status, "
     "context, last_fired_at FROM \"dbos\".workflow_schedules WHERE (application_name = $1 OR "
     "application_name IS NULL) ORDER BY schedule_name",
     "REF_READ"},
    {"E10 schedules: fired",
     "UPDATE \"dbos\".workflow_schedules SET last_fired_at=$1 WHERE schedule_name=$2",
     "REF_WRITE +write"},
    {"E10 schedules: apply",
     "INSERT INTO \"dbos\".workflow_schedules (schedule_id, schedule_name, workflow_name, "
     "schedule, status, application_name) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT "
     "(schedule_name) DO UPDATE SET schedule = EXCLUDED.schedule, status = EXCLUDED.status",
     "REF_WRITE +write"},
    {"E10 schedules: delete", "DELETE FROM \"dbos\".workflow_schedules WHERE schedule_name=$1",
     "REF_WRITE +write"},
    {"F1 cancel",
     "UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=NULL, "
     "deduplication_id=NULL, started_at_epoch_ms=NULL, updated_at=$5 WHERE workflow_uuid = ANY($2) "
     "AND status NOT IN ($3,$4)",
     "KEY each keys=$2[] +write"},
    {"F1/F6 children, breadth first",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE parent_workflow_id = ANY($1)",
     "FANOUT_READ"},
    {"F2 resume",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[]"},
    {"F2 resume",
     "UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=$2, "
     "recovery_attempts=0, workflow_deadline_epoch_ms=NULL, deduplication_id=NULL, "
     "started_at_epoch_ms=NULL WHERE workflow_uuid = ANY($3) AND status NOT IN ($4,$5)",
     "KEY each keys=$3[] +write"},
    {"F3 fork: originals",
     "SELECT ws.workflow_uuid, ws.name, ws.class_name, ws.config_name, ws.application_version, "
     "ws.serialization, COALESCE(wi.inputs, ws.inputs) AS inputs FROM \"dbos\".workflow_status ws "
     "LEFT JOIN \"dbos\".workflow_input wi ON wi.workflow_uuid = ws.workflow_uuid WHERE "
     "ws.workflow_uuid = ANY($1)",
     "KEY each keys=$1[]"},
    {"F3 fork: new status row",
     "INSERT INTO \"dbos\".workflow_status (workflow_uuid, status, name, class_name, config_name, "
     "application_version, queue_name, forked_from, serialization, created_at, updated_at) VALUES "
     "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
     "KEY one keys=$1 +write"},
    {"F3 fork: new input row",
     "INSERT INTO \"dbos\".workflow_input (workflow_uuid, inputs) VALUES ($1, $2)",
     "KEY one keys=$1 +write"},
    {"F3 fork: mark originals",
     "UPDATE \"dbos\".workflow_status SET was_forked_from=TRUE WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"F3 fork: copy steps",
     "WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
     "($1::text,$2::text,$3::int,$4::text), ($5::text,$6::text,$7::int,$8::text)) INSERT INTO "
     "\"dbos\".operation_outputs (workflow_uuid, function_id, output, error, function_name, "
     "child_workflow_id, serialization, application_name) SELECT m.fork_id, o.function_id, "
     "o.output, o.error, o.function_name, o.child_workflow_id, o.serialization, m.owner FROM "
     "mapping m JOIN \"dbos\".operation_outputs o ON o.workflow_uuid = m.orig_id AND o.function_id "
     "< m.start_step",
     "KEY one keys=$2,$6,$1,$5 +write"},
    {"F3 fork: copy streams",
     "WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
     "($1::text,$2::text,$3::int,$4::text)) INSERT INTO \"dbos\".streams (workflow_uuid, key, "
     "value, \"offset\", function_id, serialization) SELECT m.fork_id, s.key, s.value, "
     "s.\"offset\", s.function_id, s.serialization FROM mapping m JOIN \"dbos\".streams s ON "
     "s.workflow_uuid = m.orig_id AND s.function_id < m.start_step",
     "KEY one keys=$2,$1 +write"},
    {"F3 fork: copy event history",
     "WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
     "($1::text,$2::text,$3::int,$4::text)) INSERT INTO \"dbos\".workflow_events_history "
     "(workflow_uuid, function_id, key, value, serialization) SELECT m.fork_id, h.function_id, "
     "h.key, h.value, h.serialization FROM mapping m JOIN \"dbos\".workflow_events_history h ON "
     "h.workflow_uuid = m.orig_id AND h.function_id < m.start_step",
     "KEY one keys=$2,$1 +write"},
    {"F3 fork: copy events",
     "WITH mapping(orig_id, fork_id, start_step, owner) AS (VALUES "
     "($1::text,$2::text,$3::int,$4::text)) INSERT INTO \"dbos\".workflow_events (workflow_uuid, "
     "key, value, serialization) SELECT m.fork_id, e.key, e.value, e.serialization FROM mapping m "
     "JOIN \"dbos\".workflow_events e ON e.workflow_uuid = m.orig_id",
     "KEY one keys=$2,$1 +write"},
    {"F4 rewind: status", "SELECT status FROM \"dbos\".workflow_status WHERE workflow_uuid=$1",
     "KEY each keys=$1"},
    {"F4 rewind: events",
     "DELETE FROM \"dbos\".workflow_events WHERE workflow_uuid=$1 AND EXISTS (SELECT 1 FROM "
     "\"dbos\".workflow_events_history h WHERE h.workflow_uuid=$1 AND h.function_id >= $2)",
     "KEY one keys=$1 +write"},
    {"F4 rewind: events from history",
     "INSERT INTO \"dbos\".workflow_events (workflow_uuid, key, value, serialization) SELECT "
     "workflow_uuid, key, value, serialization FROM (SELECT workflow_uuid, key, value, "
     "serialization, ROW_NUMBER() OVER (PARTITION BY key ORDER BY function_id DESC) AS rn FROM "
     "\"dbos\".workflow_events_history WHERE workflow_uuid = $1 AND function_id < $2) h WHERE rn = "
     "1 ON CONFLICT (workflow_uuid, key) DO UPDATE SET value = EXCLUDED.value",
     "KEY one keys=$1 +write"},
    {"F4 rewind: streams",
     "DELETE FROM \"dbos\".streams WHERE workflow_uuid=$1 AND function_id >= $2 AND value=$3 AND "
     "serialization=$4",
     "KEY each keys=$1 +write"},
    {"F4 rewind: steps",
     "DELETE FROM \"dbos\".operation_outputs WHERE workflow_uuid=$1 AND function_id >= $2",
     "KEY each keys=$1 +write"},
    {"F4 rewind: history",
     "DELETE FROM \"dbos\".workflow_events_history WHERE workflow_uuid=$1 AND function_id >= $2",
     "KEY each keys=$1 +write"},
    {"F4 rewind: messages",
     "DELETE FROM \"dbos\".notifications WHERE destination_uuid=$1 AND (consumed_by_function_id >= "
     "$2 OR consumed=false)",
     "KEY each keys=$1 +write"},
    {"F4 rewind: output", "DELETE FROM \"dbos\".workflow_output WHERE workflow_uuid=$1",
     "KEY each keys=$1 +write"},
    {"F4 rewind: requeue",
     "UPDATE \"dbos\".workflow_status SET status=$1, owner_xid=NULL, queue_name=$2, "
     "recovery_attempts=0, updated_at=$3 WHERE workflow_uuid=$4 AND status=$5",
     "KEY each keys=$4 +write"},
    {"F5 delete: payloads", "DELETE FROM \"dbos\".workflow_input WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"F5 delete: payloads", "DELETE FROM \"dbos\".workflow_output WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"F5 delete: steps", "DELETE FROM \"dbos\".operation_outputs WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"F5 delete: status (cascades)",
     "DELETE FROM \"dbos\".workflow_status WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"F7 listWorkflows", "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", "TXN"},
    {"F7 listWorkflows", "SET LOCAL statement_timeout = 30000", "TXN +txn-scoped"},
    {"F7 listWorkflows",
     "SELECT workflow_status.workflow_uuid, workflow_status.status, workflow_status.name, "
     "workflow_status.created_at, COALESCE(wi.inputs, workflow_status.inputs) AS inputs, "
     "COALESCE(wo.output, workflow_status.output) AS output FROM \"dbos\".workflow_status LEFT "
     "JOIN \"dbos\".workflow_input wi ON wi.workflow_uuid = workflow_status.workflow_uuid LEFT "
     "JOIN \"dbos\".workflow_output wo ON wo.workflow_uuid = workflow_status.workflow_uuid WHERE "
     "workflow_status.name = $1 AND workflow_status.created_at >= $2 AND workflow_status.status = "
     "ANY($3) ORDER BY created_at DESC LIMIT $4 OFFSET $5",
     "FANOUT_READ merge(sort=3d limit=$4 offset=$5)"},
    {"F7 listWorkflows, filters",
     "SELECT workflow_status.workflow_uuid, workflow_status.status FROM \"dbos\".workflow_status "
     "WHERE workflow_status.attributes @> $1::jsonb AND workflow_status.workflow_uuid LIKE $2 "
     "ORDER BY created_at ASC LIMIT $3",
     "FANOUT_READ merge(hidden=1 sort=0 limit=$3)"},
    {"F7 listQueuedWorkflows",
     "SELECT workflow_status.workflow_uuid, workflow_status.queue_name, workflow_status.created_at "
     "FROM \"dbos\".workflow_status WHERE workflow_status.queue_name IS NOT NULL AND "
     "workflow_status.status IN ('ENQUEUED','PENDING') ORDER BY created_at ASC",
     "FANOUT_READ merge(sort=2)"},
    {"F7 listApplicationVersions",
     "SELECT version_id, version_name, version_timestamp, created_at FROM "
     "\"dbos\".application_versions ORDER BY version_timestamp DESC",
     "REF_READ"},
    {"F7 listWorkflowSteps",
     "SELECT * FROM \"dbos\".operation_outputs WHERE workflow_uuid=$1 ORDER BY function_id",
     "KEY each keys=$1 merge(hidden=1 sort=0)"},
    {"F7 listWorkflowSteps, paged",
     "SELECT function_id, function_name, output, error FROM \"dbos\".operation_outputs WHERE "
     "workflow_uuid=$1 ORDER BY function_id LIMIT $2 OFFSET $3",
     "KEY each keys=$1 merge(sort=0 limit=$2 offset=$3)"},
    {"F8 rename-application: queues",
     "UPDATE \"dbos\".queues SET application_name=$1 WHERE application_name IS NULL",
     "REF_WRITE +write"},
    {"F8 rename-application: schedules",
     "UPDATE \"dbos\".workflow_schedules SET application_name=$1 WHERE application_name=$2",
     "REF_WRITE +write"},
    {"F8 rename-application: versions",
     "UPDATE \"dbos\".application_versions SET application_name=$1 WHERE application_name IS NULL",
     "REF_WRITE +write"},
    {"F8 rename-application: workflows",
     "UPDATE \"dbos\".workflow_status SET application_name=$1 WHERE application_name IS NULL AND "
     "status = ANY($2)",
     "ALL_WRITE +write"},
    {"F8 rename-application: batch boundary",
     "SELECT DISTINCT workflow_uuid FROM \"dbos\".workflow_status WHERE application_name IS NULL "
     "ORDER BY workflow_uuid LIMIT 1 OFFSET 500",
     "FANOUT_READ merge(distinct sort=0 limit=1 offset=500)"},
    {"F8 rename-application: batch",
     "UPDATE \"dbos\".workflow_status SET application_name=$1 WHERE workflow_uuid > $2 AND "
     "workflow_uuid <= $3 AND application_name IS NULL",
     "ALL_WRITE +write"},
    {"G GC: rows threshold",
     "SELECT created_at FROM \"dbos\".workflow_status WHERE (application_name = $2 OR "
     "application_name IS NULL) ORDER BY created_at DESC LIMIT 1 OFFSET $1",
     "FANOUT_READ merge(sort=0d limit=1 offset=$1)"},
    {"G GC: delete old",
     "DELETE FROM \"dbos\".workflow_status WHERE created_at < $1 AND status NOT IN "
     "('PENDING','ENQUEUED','DELAYED')",
     "ALL_WRITE +write"},
    {"G GC: delete old, batched (Python)",
     "DELETE FROM \"dbos\".workflow_status WHERE created_at < $1 AND status NOT IN "
     "('PENDING','ENQUEUED','DELAYED') AND created_at > $2 AND created_at <= $3",
     "ALL_WRITE +write"},
    {"G global timeout",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE created_at <= $1 AND status IN "
     "('PENDING','ENQUEUED')",
     "FANOUT_READ"},
    {"G 5.x payload sweep",
     "DELETE FROM \"dbos\".workflow_input WHERE retention_timestamp < $1 AND NOT EXISTS (SELECT 1 "
     "FROM \"dbos\".workflow_status ws WHERE ws.workflow_uuid = workflow_input.workflow_uuid)",
     "ALL_WRITE +write"},
    {"1.4 enqueue_workflow(), named workflow_id",
     "SELECT \"dbos\".enqueue_workflow('process', 'jobs', ARRAY['1']::json[], '{}'::json, "
     "workflow_id => $1, deduplication_id => $2)",
     "KEY one keys=$1! +write +dedup"},
    {"1.4 enqueue_workflow(), positional workflow_id",
     "SELECT dbos.enqueue_workflow($1, $2, $3, $4, $5, $6, $7)", "KEY one keys=$7! +write"},
    {"1.4 enqueue_workflow() without workflow_id",
     "SELECT dbos.enqueue_workflow('process', 'jobs', ARRAY[]::json[], '{}'::json)",
     "REFUSE: it calls dbos.enqueue_workflow() without a workflow_id parameter or literal: the "
     "server would make one up on whichever shard runs it"},
    {"1.4 enqueue_workflow() with a NULL workflow_id",
     "SELECT dbos.enqueue_workflow('process', 'jobs', ARRAY[]::json[], '{}'::json, workflow_id => "
     "NULL)",
     "REFUSE: it calls dbos.enqueue_workflow() without a workflow_id parameter or literal: the "
     "server would make one up on whichever shard runs it"},
    {"1.4 send_message()", "SELECT dbos.send_message($1, '{\"n\": 1}'::json, 'topic', NULL)",
     "KEY one keys=$1 +write +no-prepare"},
    {"1.4 send_message(), named",
     "SELECT dbos.send_message(message => $2::json, destination_id => $1)",
     "KEY one keys=$1 +write +no-prepare"},
    {"2.3 Python: transaction around a read", "BEGIN", "TXN"},
    {"2.3 Python: isolation", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "TXN +txn-scoped"},
    {"2.3 Python: step ownership",
     "SELECT executor_id FROM \"dbos\".workflow_status WHERE workflow_uuid = $1",
     "KEY each keys=$1"},
    {"2.3 Python: step ownership",
     "UPDATE \"dbos\".workflow_status SET executor_id = $1 WHERE workflow_uuid = $2",
     "KEY each keys=$2 +write"},
    {"2.3 Python: send_bulk",
     "INSERT INTO \"dbos\".notifications (destination_uuid, topic, message, serialization) VALUES "
     "($1, $2, $3, $4), ($5, $6, $7, $8), ($9, $10, $11, $12) ON CONFLICT DO NOTHING",
     "KEY_ROWS keys=$1,$5,$9 rows=3 +write +no-prepare"},
    {"2.3 Python: send_to_forks",
     "SELECT workflow_uuid FROM \"dbos\".workflow_status WHERE forked_from = $1", "FANOUT_READ"},
    {"2.3 Python: pending workflows",
     "SELECT workflow_uuid, queue_name FROM \"dbos\".workflow_status WHERE status = 'PENDING' AND "
     "executor_id = $1 AND application_version = $2",
     "FANOUT_READ"},
    {"2.3 Python: recovery, one workflow",
     "UPDATE \"dbos\".workflow_status SET status = 'ENQUEUED', started_at_epoch_ms = NULL WHERE "
     "workflow_uuid = $1 AND status = 'PENDING' AND executor_id IN ($2, $3)",
     "KEY each keys=$1 +write"},
    {"2.3 Python: dequeue claim in chunks",
     "UPDATE \"dbos\".workflow_status SET status = $1, executor_id = $2 WHERE workflow_uuid IN "
     "($3, $4, $5) AND status = $6",
     "KEY each keys=$3,$4,$5 +write"},
    {"2.3 Python: pool pre-ping", "SELECT 1", "REF_READ"},
    {"2.3 Python: pool pre-ping (psycopg dialect)", ";", ""},
    {"4 pool reset", "DISCARD ALL", "SESSION_ALL"},
    {"1.3 data source table in the system database",
     "INSERT INTO \"dbos\".transaction_completion (workflow_id, function_num, output, created_at) "
     "VALUES ($1, $2, $3, $4)",
     "REFUSE: it uses dbos.transaction_completion, which is not a DBOS system table: pgpin cannot "
     "tell whether its rows are split across the shards or copied on each"},
};

#endif
