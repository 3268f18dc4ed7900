/* router_cases_edge.h - statements beyond DBOS's own, for what the planner must and must not
 * conclude: which predicates pin a key, joins, subqueries, set operations, what a fan-out read
 * can merge, writes, session functions, utility statements and refusals. Each with the plan
 * router_describe writes for it (statements joined by " | "). Data only; test_router.c. */
#ifndef PGPIN_ROUTER_CASES_EDGE_H
#define PGPIN_ROUTER_CASES_EDGE_H

typedef struct RouteEdge {
    const char *sql;
    const char *plan;
} RouteEdge;

static const RouteEdge route_edge[] = {
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1", "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE $1 = workflow_uuid", "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = 'abc'", "KEY each keys='abc'"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = E'a\\\\b''c'",
     "KEY each keys='a\\b'c'"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $$x$$", "KEY each keys='x'"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ''", "KEY each keys=''"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = NULL", "KEY each keys=NULL"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid::text = $1::varchar",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1::pg_catalog.text",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1::varchar(10)", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1::uuid", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = lower($1)", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid OPERATOR(pg_catalog.=) $1",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid <> $1", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid LIKE $1", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1 AND status = $2 AND (name = $3 "
     "OR name IS NULL)",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1 OR status = 'x'", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE NOT (workflow_uuid = $1)", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1 AND workflow_uuid = $2",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN ($1, $2)", "KEY each keys=$1,$2"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN ('a', $1, NULL)",
     "KEY each keys='a',$1,NULL"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN ($1, lower($2))", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid NOT IN ($1, $2)", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)", "KEY each keys=$1[]"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $0", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN ($0, $1)", "FANOUT_READ"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($0, $1)",
     "REFUSE: the workflow_uuid of the row it inserts into workflow_status is not a parameter or a "
     "literal"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY($1::text[])",
     "KEY each keys=$1[]"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY($1::varchar[])",
     "KEY each keys=$1[]"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY($1::uuid[])", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY(ARRAY[$1, $2])",
     "KEY each keys=$1,$2"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY('{a,\"b c\",NULL}')",
     "KEY each keys='a','b c'"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY('{a,b'::text[])", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid = ANY('{}')", "KEY each"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid <> ALL($1)", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (SELECT $1::text)",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (VALUES ('a'), ('b'))",
     "KEY each keys='a','b'"},
    {"SELECT * FROM dbos.workflow_status ws, unnest($1::text[]) AS u WHERE ws.workflow_uuid = u",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws JOIN unnest($1::text[]) AS u(id) ON ws.workflow_uuid = "
     "u.id",
     "KEY each keys=$1[]"},
    {"SELECT * FROM workflow_status WHERE workflow_uuid = $1", "KEY each keys=$1"},
    {"SELECT * FROM \"dbos\".\"workflow_status\" \"W\" WHERE \"W\".\"workflow_uuid\" = $1",
     "KEY each keys=$1"},
    {"SELECT * FROM \"dbos\".\"Workflow_Status\"",
     "REFUSE: it uses dbos.Workflow_Status, which is not a DBOS system table: pgpin cannot tell "
     "whether its rows are split across the shards or copied on each"},
    {"SELECT * FROM dbos.workflow_status w WHERE workflow_status.workflow_uuid = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE dbos.workflow_status.workflow_uuid = $1",
     "KEY each keys=$1"},
    {"SELECT * FROM public.workflow_status",
     "REFUSE: it uses public.workflow_status, which is not a DBOS system table: pgpin cannot tell "
     "whether its rows are split across the shards or copied on each"},
    {"SELECT * FROM app_orders",
     "REFUSE: it uses app_orders, which is not a DBOS system table: pgpin cannot tell whether its "
     "rows are split across the shards or copied on each"},
    {"SELECT * FROM dbos.not_a_table",
     "REFUSE: it uses dbos.not_a_table, which is not a DBOS system table: pgpin cannot tell "
     "whether its rows are split across the shards or copied on each"},
    {"SELECT * FROM pg_catalog.pg_class", "REF_READ"},
    {"SELECT * FROM pg_stat_activity", "REF_READ"},
    {"SELECT * FROM information_schema.tables", "REF_READ"},
    {"SELECT * FROM dbos.notifications WHERE destination_uuid = $1", "KEY each keys=$1"},
    {"SELECT * FROM dbos.notifications WHERE message_uuid = $1", "FANOUT_READ"},
    {"SELECT * FROM dbos.notifications WHERE workflow_uuid = $1", "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status a JOIN dbos.workflow_status b ON a.parent_workflow_id = "
     "b.workflow_uuid WHERE a.workflow_uuid = $1",
     "REFUSE: it combines workflow_status and workflow_status rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status a JOIN dbos.workflow_status b ON a.parent_workflow_id = "
     "b.workflow_uuid WHERE a.workflow_uuid = $1 AND b.workflow_uuid = $2",
     "KEY one keys=$1,$2"},
    {"SELECT * FROM dbos.workflow_status ws JOIN dbos.operation_outputs oo ON oo.workflow_uuid = "
     "ws.workflow_uuid WHERE ws.status = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws, dbos.operation_outputs oo WHERE oo.workflow_uuid = "
     "ws.workflow_uuid AND ws.workflow_uuid = ANY($1)",
     "KEY each keys=$1[]"},
    {"SELECT * FROM dbos.workflow_status ws JOIN dbos.notifications n ON n.destination_uuid = "
     "ws.workflow_uuid WHERE n.topic = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws JOIN dbos.operation_outputs oo ON oo.child_workflow_id "
     "= ws.workflow_uuid",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status ws LEFT JOIN dbos.operation_outputs oo ON "
     "oo.workflow_uuid = $1",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status ws LEFT JOIN dbos.operation_outputs oo ON "
     "oo.workflow_uuid = ws.workflow_uuid AND oo.workflow_uuid = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws RIGHT JOIN dbos.workflow_output wo ON wo.workflow_uuid "
     "= ws.workflow_uuid WHERE wo.workflow_uuid = $1",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status ws FULL JOIN dbos.workflow_output wo ON wo.workflow_uuid "
     "= ws.workflow_uuid",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws FULL JOIN dbos.workflow_output wo ON wo.workflow_uuid "
     "= ws.workflow_uuid AND ws.workflow_uuid = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws JOIN dbos.workflow_output USING (workflow_uuid) WHERE "
     "status = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws JOIN dbos.queues q ON q.name = ws.queue_name WHERE "
     "ws.status = $1",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.queues q LEFT JOIN dbos.workflow_status ws ON ws.queue_name = q.name",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: an outer join that keeps rows of a copied table "
     "against sharded ones"},
    {"SELECT * FROM dbos.queues q LEFT JOIN dbos.workflow_status ws ON ws.queue_name = q.name AND "
     "ws.workflow_uuid = $1",
     "KEY one keys=$1"},
    {"SELECT * FROM dbos.workflow_status ws CROSS JOIN dbos.operation_outputs oo",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status ws WHERE status = $1 AND EXISTS (SELECT 1 FROM "
     "dbos.operation_outputs o WHERE o.workflow_uuid = ws.workflow_uuid)",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status ws WHERE workflow_uuid = $1 AND EXISTS (SELECT 1 FROM "
     "dbos.operation_outputs o WHERE o.workflow_uuid = ws.workflow_uuid)",
     "KEY each keys=$1"},
    {"SELECT * FROM dbos.workflow_status ws WHERE NOT EXISTS (SELECT 1 FROM dbos.workflow_status c "
     "WHERE c.parent_workflow_id = ws.workflow_uuid)",
     "REFUSE: it combines workflow_status and workflow_status rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status ws WHERE workflow_uuid = $1 OR EXISTS (SELECT 1 FROM "
     "dbos.operation_outputs o WHERE o.workflow_uuid = ws.workflow_uuid)",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (SELECT workflow_uuid FROM "
     "dbos.operation_outputs WHERE function_name = 'x')",
     "FANOUT_READ"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (SELECT child_workflow_id FROM "
     "dbos.operation_outputs WHERE workflow_uuid = $1)",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (SELECT workflow_uuid FROM "
     "dbos.operation_outputs ORDER BY completed_at_epoch_ms LIMIT 5)",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.workflow_status WHERE workflow_uuid IN (SELECT max(workflow_uuid) FROM "
     "dbos.operation_outputs)",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT ws.workflow_uuid, (SELECT count(*) FROM dbos.operation_outputs o WHERE "
     "o.workflow_uuid = ws.workflow_uuid) FROM dbos.workflow_status ws WHERE ws.workflow_uuid = "
     "ANY($1)",
     "KEY each keys=$1[]"},
    {"SELECT ws.*, (SELECT status FROM dbos.workflow_status w2 WHERE w2.workflow_uuid = $2) FROM "
     "dbos.workflow_status ws WHERE ws.workflow_uuid = $1",
     "KEY one keys=$1,$2"},
    {"SELECT (SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1)",
     "KEY one keys=$1"},
    {"SELECT EXISTS (SELECT 1 FROM dbos.workflow_status WHERE status = 'X')",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: its rows do not come from a sharded table (a "
     "table-less SELECT or copied tables around a subquery)"},
    {"SELECT * FROM dbos.workflow_status WHERE created_at = (SELECT max(created_at) FROM "
     "dbos.workflow_status)",
     "REFUSE: it combines workflow_status and workflow_status rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"SELECT * FROM dbos.queues q WHERE EXISTS (SELECT 1 FROM dbos.workflow_status ws WHERE "
     "ws.queue_name = q.name)",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: its rows do not come from a sharded table (a "
     "table-less SELECT or copied tables around a subquery)"},
    {"SELECT * FROM dbos.workflow_status WHERE queue_name IN (SELECT name FROM dbos.queues WHERE "
     "concurrency > 1)",
     "FANOUT_READ"},
    {"SELECT * FROM (SELECT workflow_uuid AS id FROM dbos.workflow_status WHERE status = 'x') s "
     "JOIN dbos.streams st ON st.workflow_uuid = s.id",
     "FANOUT_READ"},
    {"SELECT * FROM (SELECT * FROM dbos.workflow_status ORDER BY created_at LIMIT 10) s",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: a subquery in FROM that is not a plain filter of "
     "sharded rows"},
    {"SELECT * FROM (SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1 LIMIT 1) s",
     "KEY one keys=$1"},
    {"SELECT * FROM (SELECT workflow_uuid, count(*) FROM dbos.operation_outputs GROUP BY "
     "workflow_uuid) s",
     "REFUSE: it reads operation_outputs rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: a subquery in FROM that is not a plain filter of "
     "sharded rows"},
    {"SELECT * FROM (SELECT * FROM dbos.workflow_status) s WHERE s.workflow_uuid = $1",
     "KEY each keys=$1"},
    {"SELECT * FROM (SELECT * FROM dbos.workflow_status) AS s(id) WHERE s.id = $1",
     "KEY each keys=$1"},
    {"SELECT s.w FROM (SELECT workflow_uuid AS w FROM dbos.workflow_status) s JOIN LATERAL (SELECT "
     "* FROM dbos.operation_outputs o WHERE o.workflow_uuid = s.w) x ON true",
     "FANOUT_READ"},
    {"WITH x AS (SELECT workflow_uuid FROM dbos.workflow_status WHERE status = 'X') SELECT * FROM "
     "x",
     "FANOUT_READ"},
    {"WITH x AS (SELECT workflow_uuid FROM dbos.workflow_status WHERE status = 'X') SELECT * FROM "
     "x WHERE workflow_uuid = $1",
     "KEY each keys=$1"},
    {"WITH x AS (SELECT workflow_uuid FROM dbos.workflow_status WHERE status = 'X') SELECT * FROM "
     "x a JOIN x b ON a.workflow_uuid = b.workflow_uuid",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: a WITH query over sharded tables is used more "
     "than once"},
    {"WITH workflow_status AS (SELECT 1 AS one) SELECT * FROM workflow_status", "REF_READ"},
    {"WITH x AS (SELECT * FROM dbos.workflow_status) SELECT * FROM dbos.operation_outputs WHERE "
     "workflow_uuid = $1",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"WITH d AS (DELETE FROM dbos.workflow_status WHERE workflow_uuid = $1 RETURNING *) SELECT * "
     "FROM d",
     "REFUSE: it has a data-modifying WITH, which pgpin does not route"},
    {"SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1 UNION ALL SELECT status "
     "FROM dbos.workflow_status WHERE workflow_uuid = $2",
     "KEY each keys=$1,$2"},
    {"SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1 UNION ALL SELECT status "
     "FROM dbos.workflow_status WHERE status = 'x' ORDER BY 1 LIMIT 3",
     "FANOUT_READ merge(sort=0 limit=3)"},
    {"SELECT status FROM dbos.workflow_status UNION SELECT status FROM dbos.workflow_status ORDER "
     "BY status",
     "FANOUT_READ merge(distinct sort=0)"},
    {"SELECT status FROM dbos.workflow_status UNION SELECT status FROM dbos.workflow_status UNION "
     "ALL SELECT status FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and it mixes UNION with UNION ALL, INTERSECT or EXCEPT"},
    {"SELECT status FROM dbos.workflow_status INTERSECT SELECT status FROM dbos.workflow_status",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: INTERSECT or EXCEPT does not combine shard by "
     "shard"},
    {"SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1 EXCEPT SELECT status FROM "
     "dbos.workflow_status WHERE workflow_uuid = $1",
     "KEY one keys=$1"},
    {"SELECT status FROM dbos.workflow_status UNION ALL SELECT 'x'",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: an arm of its UNION reads no sharded table"},
    {"SELECT name FROM dbos.queues UNION ALL SELECT name FROM dbos.queues", "REF_READ"},
    {"(SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at LIMIT 5) UNION ALL "
     "(SELECT workflow_uuid FROM dbos.workflow_status WHERE status = 'x')",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: an arm of its UNION aggregates, limits or "
     "numbers rows on each shard"},
    {"SELECT DISTINCT status FROM dbos.workflow_status UNION ALL SELECT status FROM "
     "dbos.workflow_status",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: an arm of its UNION ALL is DISTINCT on each "
     "shard only"},
    {"SELECT DISTINCT status FROM dbos.workflow_status UNION SELECT status FROM "
     "dbos.workflow_status",
     "FANOUT_READ merge(distinct)"},
    {"SELECT count(*) FROM dbos.workflow_status UNION ALL SELECT count(*) FROM "
     "dbos.operation_outputs",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: an arm of its UNION aggregates, limits or "
     "numbers rows on each shard"},
    {"(SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid = $1 LIMIT 1) UNION ALL "
     "(SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid = $2 LIMIT 1)",
     "KEY one keys=$1,$2"},
    {"SELECT *, created_at AS c FROM dbos.operation_outputs ORDER BY c",
     "REFUSE: it reads rows of every shard and its ORDER BY names a column pgpin cannot place next "
     "to a *"},
    {"SELECT * FROM dbos.operation_outputs ORDER BY function_id",
     "FANOUT_READ merge(hidden=1 sort=0)"},
    {"SELECT count(*) FROM dbos.workflow_status", "FANOUT_READ merge(agg=S)"},
    {"SELECT count(*), sum(priority), min(created_at), max(created_at), 7 FROM "
     "dbos.workflow_status",
     "FANOUT_READ merge(agg=SSNX=)"},
    {"SELECT count(*) AS n FROM dbos.workflow_status WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] merge(agg=S)"},
    {"SELECT count(*) FILTER (WHERE priority > 0) FROM dbos.workflow_status",
     "FANOUT_READ merge(agg=S)"},
    {"SELECT status, count(*) FROM dbos.workflow_status GROUP BY status",
     "FANOUT_READ merge(agg=GS)"},
    {"SELECT status, count(*) FROM dbos.workflow_status GROUP BY 1 ORDER BY 2 DESC",
     "FANOUT_READ merge(sort=1d agg=GS)"},
    {"SELECT count(*) FROM dbos.workflow_status GROUP BY status",
     "REFUSE: it reads rows of every shard and a GROUP BY item is not one of its output columns, "
     "so equal groups of different shards cannot be matched"},
    {"SELECT status, count(*) FROM dbos.workflow_status GROUP BY status HAVING count(*) > 1",
     "REFUSE: it reads rows of every shard and its HAVING filters partial groups"},
    {"SELECT status, count(*) FROM dbos.workflow_status GROUP BY status LIMIT 2",
     "REFUSE: it reads rows of every shard and a LIMIT or OFFSET over groups would apply before "
     "the groups of different shards combine"},
    {"SELECT count(*) FROM dbos.workflow_status LIMIT 1", "FANOUT_READ merge(limit=1 agg=S)"},
    {"SELECT count(*) FROM dbos.workflow_status OFFSET 1",
     "REFUSE: it reads rows of every shard and an OFFSET over an aggregate would skip each shard's "
     "partial row"},
    {"SELECT count(DISTINCT queue_name) FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and its column 1 is neither a GROUP BY column nor a "
     "plain count, sum, min or max, so per-shard values do not combine"},
    {"SELECT avg(priority) FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and its column 1 is neither a GROUP BY column nor a "
     "plain count, sum, min or max, so per-shard values do not combine"},
    {"SELECT count(*) + 1 FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and its column 1 is neither a GROUP BY column nor a "
     "plain count, sum, min or max, so per-shard values do not combine"},
    {"SELECT coalesce(max(created_at), 0) FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and its column 1 is neither a GROUP BY column nor a "
     "plain count, sum, min or max, so per-shard values do not combine"},
    {"SELECT * FROM dbos.workflow_status GROUP BY ROLLUP (status)",
     "REFUSE: it reads rows of every shard and it aggregates with * in its select list"},
    {"SELECT workflow_uuid, row_number() OVER (ORDER BY created_at) FROM dbos.workflow_status",
     "REFUSE: it reads rows of every shard and its window functions see one shard's rows only"},
    {"SELECT DISTINCT status FROM dbos.workflow_status", "FANOUT_READ merge(distinct)"},
    {"SELECT DISTINCT ON (queue_name) queue_name, workflow_uuid FROM dbos.workflow_status ORDER BY "
     "queue_name, created_at",
     "REFUSE: it reads rows of every shard and DISTINCT ON picks one row per group on each shard"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at DESC NULLS LAST, priority "
     "NULLS FIRST, 1 DESC",
     "FANOUT_READ merge(hidden=2 sort=0dnl,1nf,2d)"},
    {"SELECT workflow_uuid AS created_at FROM dbos.workflow_status ORDER BY created_at",
     "FANOUT_READ merge(sort=0)"},
    {"SELECT workflow_uuid, created_at FROM dbos.workflow_status ORDER BY "
     "dbos.workflow_status.created_at",
     "FANOUT_READ merge(hidden=1 sort=0)"},
    {"SELECT ws.workflow_uuid FROM dbos.workflow_status ws ORDER BY ws.created_at, ws.priority, "
     "ws.created_at",
     "FANOUT_READ merge(hidden=2 sort=0,1,0)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY lower(name)",
     "REFUSE: it reads rows of every shard and it sorts on an expression that is not in its select "
     "list"},
    {"SELECT lower(name) FROM dbos.workflow_status ORDER BY lower(name)",
     "FANOUT_READ merge(sort=0)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at USING <",
     "REFUSE: it reads rows of every shard and it sorts with USING"},
    {"SELECT count(*) AS c, status FROM dbos.workflow_status GROUP BY status ORDER BY c",
     "FANOUT_READ merge(sort=0 agg=SG)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY 2",
     "REFUSE: it reads rows of every shard and its ORDER BY position is not a column pgpin can "
     "count"},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT 5", "FANOUT_READ merge(limit=5)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT ALL OFFSET 5",
     "FANOUT_READ merge(limit=all offset=5)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status OFFSET 0", "FANOUT_READ merge(offset=0)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at OFFSET $1 ROWS FETCH "
     "FIRST $2 ROWS ONLY",
     "FANOUT_READ merge(hidden=1 sort=0 limit=$2 offset=$1)"},
    {"SELECT workflow_uuid FROM dbos.workflow_status ORDER BY created_at FETCH FIRST 3 ROWS WITH "
     "TIES",
     "REFUSE: it reads rows of every shard and FETCH ... WITH TIES does not merge"},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT $1 + 1",
     "REFUSE: it reads rows of every shard and its LIMIT or OFFSET is not a number or a parameter"},
    {"SELECT workflow_uuid FROM dbos.workflow_status LIMIT $1::int",
     "REFUSE: it reads rows of every shard and its LIMIT or OFFSET is not a number or a parameter"},
    {"SELECT * FROM dbos.workflow_status FOR UPDATE SKIP LOCKED", "FANOUT_READ +locking"},
    {"SELECT * FROM dbos.workflow_status FOR SHARE", "FANOUT_READ +locking"},
    {"INSERT INTO dbos.workflow_status VALUES ($1, $2)",
     "REFUSE: it inserts into workflow_status without naming its workflow_uuid column (no column "
     "list)"},
    {"INSERT INTO dbos.workflow_status (status) VALUES ($1)",
     "REFUSE: it inserts into workflow_status without naming its workflow_uuid column"},
    {"INSERT INTO dbos.workflow_status DEFAULT VALUES",
     "REFUSE: it inserts into workflow_status without naming its workflow_uuid column (no column "
     "list)"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES (DEFAULT, $2)",
     "REFUSE: the workflow_uuid of the row it inserts into workflow_status is not a parameter or a "
     "literal"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES (gen_random_uuid()::text, "
     "$2)",
     "REFUSE: the workflow_uuid of the row it inserts into workflow_status is not a parameter or a "
     "literal"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($1, 'x'), (lower($2), 'y')",
     "REFUSE: the workflow_uuid of the row it inserts into workflow_status, row 2 is not a "
     "parameter or a literal"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ('a', 'x'), ('b', 'y'), "
     "(NULL, 'z')",
     "KEY_ROWS keys='a','b',NULL rows=3 +write"},
    {"INSERT INTO dbos.workflow_status (status, workflow_uuid) VALUES ('x', $2::text)",
     "KEY one keys=$2 +write"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($1, (SELECT status FROM "
     "dbos.workflow_status WHERE workflow_uuid = $2))",
     "KEY one keys=$1,$2 +write"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($1, $2), ($3, (SELECT "
     "status FROM dbos.workflow_status WHERE workflow_uuid = $4))",
     "KEY one keys=$1,$3,$4 +write"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($1, $2) ON CONFLICT "
     "(workflow_uuid) DO UPDATE SET workflow_uuid = EXCLUDED.workflow_uuid",
     "REFUSE: it changes workflow_status.workflow_uuid: a row cannot move between shards"},
    {"INSERT INTO dbos.workflow_status (workflow_uuid, status) VALUES ($1, $2) ON CONFLICT "
     "(workflow_uuid) DO UPDATE SET status = (SELECT max(status) FROM dbos.workflow_status)",
     "REFUSE: it reads workflow_status rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: its rows come from a VALUES list"},
    {"INSERT INTO dbos.workflow_output (workflow_uuid, output) SELECT workflow_uuid, output FROM "
     "dbos.workflow_status WHERE status = 'SUCCESS'",
     "ALL_WRITE +write"},
    {"INSERT INTO dbos.workflow_output (workflow_uuid, output) SELECT workflow_uuid, output FROM "
     "dbos.workflow_status WHERE workflow_uuid = ANY($1)",
     "KEY each keys=$1[] +write"},
    {"INSERT INTO dbos.workflow_output (workflow_uuid, output) SELECT workflow_uuid, max(output) "
     "FROM dbos.operation_outputs GROUP BY workflow_uuid",
     "REFUSE: it reads workflow_output rows that may be on any shard without a workflow ID to "
     "route by, and it cannot run shard by shard: it inserts rows its SELECT computes across "
     "shards"},
    {"INSERT INTO dbos.workflow_output (workflow_uuid, output) SELECT parent_workflow_id, output "
     "FROM dbos.workflow_status",
     "REFUSE: the workflow_uuid it inserts into workflow_output is not a parameter, a literal or "
     "the workflow ID of the rows it reads"},
    {"INSERT INTO dbos.workflow_input (workflow_uuid, inputs) SELECT u, '[]' FROM "
     "unnest($1::text[]) AS u",
     "KEY one keys=$1[] +write"},
    {"INSERT INTO dbos.workflow_input (workflow_uuid, inputs) SELECT * FROM dbos.workflow_input",
     "REFUSE: the workflow_uuid it inserts into workflow_input is not a parameter, a literal or "
     "the workflow ID of the rows it reads"},
    {"INSERT INTO dbos.workflow_input (workflow_uuid, inputs) SELECT 'a', 'b' UNION ALL SELECT "
     "'c', 'd'",
     "REFUSE: the workflow_uuid it inserts into workflow_input is not a parameter, a literal or "
     "the workflow ID of the rows it reads"},
    {"UPDATE dbos.workflow_status SET workflow_uuid = $1 WHERE workflow_uuid = $2",
     "REFUSE: it changes workflow_status.workflow_uuid: a row cannot move between shards"},
    {"UPDATE dbos.workflow_status SET deduplication_id = $1 WHERE workflow_uuid = $2",
     "KEY each keys=$2 +write +dedup"},
    {"UPDATE dbos.workflow_status ws SET status = $1 FROM dbos.operation_outputs oo WHERE "
     "oo.workflow_uuid = ws.workflow_uuid AND oo.function_name = $2",
     "ALL_WRITE +write"},
    {"UPDATE dbos.workflow_status ws SET status = $1 FROM dbos.operation_outputs oo WHERE "
     "oo.child_workflow_id = ws.workflow_uuid AND oo.workflow_uuid = $2",
     "REFUSE: it combines workflow_status and operation_outputs rows that are not matched on their "
     "workflow ID, so they may be on different shards"},
    {"DELETE FROM dbos.workflow_status ws USING dbos.queues q WHERE q.name = ws.queue_name AND "
     "q.concurrency = 0",
     "ALL_WRITE +write"},
    {"DELETE FROM dbos.workflow_status WHERE workflow_uuid = $1 RETURNING *",
     "KEY each keys=$1 +write +returning"},
    {"UPDATE dbos.queues SET concurrency = (SELECT count(*) FROM dbos.workflow_status)",
     "REFUSE: it writes the reference table queues from rows of sharded tables"},
    {"INSERT INTO dbos.queues (name) SELECT queue_name FROM dbos.workflow_status",
     "REFUSE: it writes the reference table queues from rows of sharded tables"},
    {"INSERT INTO dbos.queues (name) VALUES ('q') RETURNING pg_notify('c', name)",
     "REFUSE: it calls pg_notify() in a write to a copied table: every shard would notify"},
    {"INSERT INTO pg_catalog.pg_class DEFAULT VALUES", "REFUSE: it writes a system catalog"},
    {"SELECT dbos.send_message(workflow_uuid, $1::json) FROM dbos.workflow_status WHERE status = "
     "$2",
     "ALL_WRITE +write +no-prepare"},
    {"SELECT dbos.other_function($1)",
     "REFUSE: it calls the DBOS function dbos.other_function(), whose rows pgpin cannot route"},
    {"SELECT myschema.enqueue_workflow($1)", "REF_READ"},
    {"SELECT set_config('search_path', 'dbos', false)", "SESSION_ALL"},
    {"SELECT set_config('statement_timeout', '5s', true)", "SESSION_ALL +txn-scoped"},
    {"SELECT nextval('s')", "REF_READ"},
    {"SELECT nextval('s') FROM dbos.workflow_status",
     "REFUSE: it mixes set_config(), advisory locks or sequences with sharded tables"},
    {"SELECT pg_advisory_xact_lock(1)", "REF_READ"},
    {"SELECT pg_try_advisory_lock(hashtext(workflow_uuid)) FROM dbos.workflow_status WHERE "
     "workflow_uuid = $1",
     "REFUSE: it mixes set_config(), advisory locks or sequences with sharded tables"},
    {"SELECT pg_notify('c', workflow_uuid) FROM dbos.workflow_status WHERE workflow_uuid = $1",
     "KEY each keys=$1 +no-prepare"},
    {"SELECT pg_notify('c', 'x')", "NOTIFY_ONE +no-prepare"},
    {"BEGIN; SAVEPOINT a; RELEASE a; ROLLBACK TO a; COMMIT AND CHAIN; END; ABORT; START "
     "TRANSACTION",
     "TXN | TXN | TXN | TXN | TXN | TXN | TXN | TXN"},
    {"PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x'; ROLLBACK PREPARED 'x'",
     "REFUSE: two-phase commit commands are pgpin's own on a sharded database (it prepares "
     "transactions that span shards itself) | REFUSE: two-phase commit commands are pgpin's own on "
     "a sharded database (it prepares transactions that span shards itself) | REFUSE: two-phase "
     "commit commands are pgpin's own on a sharded database (it prepares transactions that span "
     "shards itself)"},
    {"SET work_mem = 1024; SET LOCAL work_mem = 1; SET TRANSACTION READ ONLY; SET SESSION "
     "CHARACTERISTICS AS TRANSACTION READ ONLY; RESET work_mem; RESET ALL; SET CONSTRAINTS ALL "
     "DEFERRED",
     "SESSION_ALL | TXN +txn-scoped | TXN +txn-scoped | SESSION_ALL | SESSION_ALL | SESSION_ALL | "
     "TXN +txn-scoped"},
    {"SET TRANSACTION SNAPSHOT '0001'",
     "REFUSE: SET TRANSACTION SNAPSHOT names a snapshot of one server"},
    {"SHOW work_mem", "REF_READ"},
    {"LISTEN a; UNLISTEN a; UNLISTEN *; NOTIFY a",
     "LISTEN_ALL +no-prepare | UNLISTEN_ALL +no-prepare | UNLISTEN_ALL +no-prepare | NOTIFY_ONE "
     "+no-prepare"},
    {"DISCARD ALL; DISCARD PLANS; DEALLOCATE ALL; DEALLOCATE p; LOAD 'x'; CLOSE ALL",
     "SESSION_ALL | SESSION_ALL | SESSION_ALL | SESSION_ALL | SESSION_ALL | SESSION_ALL"},
    {"CLOSE c", "REFUSE: cursors are not supported on a sharded database"},
    {"DECLARE c CURSOR FOR SELECT 1", "REFUSE: cursors are not supported on a sharded database"},
    {"FETCH 1 FROM c", "REFUSE: cursors are not supported on a sharded database"},
    {"PREPARE p AS SELECT 1", "REFUSE: SQL-level PREPARE / EXECUTE is not routed on a sharded "
                              "database (the protocol's prepared statements are)"},
    {"EXECUTE p", "REFUSE: SQL-level PREPARE / EXECUTE is not routed on a sharded database (the "
                  "protocol's prepared statements are)"},
    {"COPY dbos.workflow_status TO STDOUT", "REFUSE: COPY is not routed on a sharded database"},
    {"COPY dbos.workflow_status FROM STDIN", "REFUSE: COPY is not routed on a sharded database"},
    {"DO $$ BEGIN END $$", "REFUSE: DO runs code whose reads and writes pgpin cannot see"},
    {"CALL p()", "REFUSE: CALL runs a procedure whose reads and writes pgpin cannot see"},
    {"MERGE INTO dbos.workflow_status t USING dbos.workflow_output s ON t.workflow_uuid = "
     "s.workflow_uuid WHEN MATCHED THEN DELETE",
     "REFUSE: MERGE is not routed on a sharded database"},
    {"CREATE TABLE t AS SELECT * FROM dbos.workflow_status",
     "REFUSE: CREATE TABLE AS would copy each shard's rows into a table of its own"},
    {"SELECT * INTO t FROM dbos.workflow_status", "REFUSE: SELECT INTO is not routed"},
    {"EXPLAIN SELECT * FROM dbos.workflow_status", "REF_READ"},
    {"EXPLAIN ANALYZE SELECT * FROM dbos.workflow_status WHERE workflow_uuid = $1",
     "KEY one keys=$1"},
    {"EXPLAIN (ANALYZE, BUFFERS) UPDATE dbos.workflow_status SET status = $2 WHERE workflow_uuid = "
     "ANY($1)",
     "KEY one keys=$1[] +write"},
    {"EXPLAIN (ANALYZE false) SELECT count(*) FROM dbos.workflow_status", "REF_READ"},
    {"EXPLAIN ANALYZE SELECT count(*) FROM dbos.workflow_status",
     "REFUSE: EXPLAIN ANALYZE runs the statement on every shard, and their plans do not merge"},
    {"EXPLAIN ANALYZE SELECT * FROM app_orders",
     "REFUSE: it uses app_orders, which is not a DBOS system table: pgpin cannot tell whether its "
     "rows are split across the shards or copied on each"},
    {"LOCK TABLE dbos.workflow_status IN SHARE MODE", "DDL_ALL +write"},
    {"TRUNCATE dbos.workflow_status, dbos.queues", "DDL_ALL +write"},
    {"VACUUM ANALYZE dbos.workflow_status", "DDL_ALL +no-txn"},
    {"ANALYZE dbos.workflow_status", "DDL_ALL"},
    {"REINDEX (CONCURRENTLY) TABLE dbos.workflow_status", "DDL_ALL +write +no-txn"},
    {"CHECKPOINT", "DDL_ALL"},
    {"COMMENT ON TABLE dbos.queues IS $$q$$", "DDL_ALL +write"},
    {"CREATE ROLE app; ALTER ROLE app LOGIN; DROP ROLE app",
     "REFUSE: it acts on the whole Postgres server, not on one database: run it on each shard's "
     "server directly | REFUSE: it acts on the whole Postgres server, not on one database: run it "
     "on each shard's server directly | REFUSE: it acts on the whole Postgres server, not on one "
     "database: run it on each shard's server directly"},
    {"GRANT app_role TO bob", "REFUSE: it acts on the whole Postgres server, not on one database: "
                              "run it on each shard's server directly"},
    {"ALTER SYSTEM SET work_mem = 1", "REFUSE: it acts on the whole Postgres server, not on one "
                                      "database: run it on each shard's server directly"},
    {"CREATE TABLESPACE t LOCATION $$/x$$", "REFUSE: it acts on the whole Postgres server, not on "
                                            "one database: run it on each shard's server directly"},
    {"DROP DATABASE x", "REFUSE: it acts on the whole Postgres server, not on one database: run it "
                        "on each shard's server directly"},
    {"ALTER DATABASE x SET work_mem = 1", "REFUSE: it acts on the whole Postgres server, not on "
                                          "one database: run it on each shard's server directly"},
    {"CREATE TEMP TABLE t (x int)", "DDL_ALL +write"},
    {"SELEC 1", "REFUSE: pgpin cannot parse it (syntax error at or near \"SELEC\")"},
    {"SELECT (", "REFUSE: pgpin cannot parse it (syntax error at end of input)"},
    {"", ""},
    {"-- a comment only", ""},
    {" ; ; ", ""},
};

#endif
