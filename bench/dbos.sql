-- bench/dbos.sql - pgbench script for the DBOS-like write case (write_dbos_c*).
--
-- One pgbench transaction = one workflow = 5 autocommit statements on one connection, as a DBOS
-- workflow with three steps writes to its system database: insert the status row, record the
-- output of 3 steps, mark the workflow done. Same tables as `pgpin_loadgen --setup` creates
-- (bench_wf_status, bench_op_outputs with a foreign key to it). The workflow ID is a random
-- bigint sent as a text parameter (-M extended / prepared); CAST keeps -M simple working too.
-- run.sh truncates both tables before every run, so a collision would need two equal draws in
-- 2^63 within one run; it would abort the client and mark the run not ok.
\set wf random(1, 9000000000000000000)
INSERT INTO bench_wf_status (workflow_uuid, status, name, created_at) VALUES (CAST(:wf AS text), 'PENDING', 'bench_workflow', CAST(extract(epoch FROM now()) * 1000 AS bigint));
INSERT INTO bench_op_outputs (workflow_uuid, function_id, output) VALUES (CAST(:wf AS text), 1, '{"step":1,"result":"ok"}');
INSERT INTO bench_op_outputs (workflow_uuid, function_id, output) VALUES (CAST(:wf AS text), 2, '{"step":2,"result":"ok"}');
INSERT INTO bench_op_outputs (workflow_uuid, function_id, output) VALUES (CAST(:wf AS text), 3, '{"step":3,"result":"ok"}');
UPDATE bench_wf_status SET status = 'SUCCESS' WHERE workflow_uuid = CAST(:wf AS text) AND status = 'PENDING';
