// tests/dbos/app.mjs - the real DBOS TypeScript SDK (@dbos-inc/dbos-sdk 5.3.0) with its system
// database behind pgpin. Run by tests/dbos/dbos.sh; prints one "ok - NAME" / "not ok - NAME:
// DETAIL" line per check (DBOS's own log lines are interleaved and start otherwise).
//
// Env:
//   DBOS_E2E_SYSDB_URL   system database through pgpin: postgres://postgres@127.0.0.1:PORT/dbos_sys
//   DBOS_E2E_DIRECT_URL  the same database straight at Postgres (verification only)
//   DBOS_E2E_DEADLINE_S  watchdog: exit 3 after this many seconds (default 100)
//
// What runs (all through pgpin): launch (CREATE DATABASE on db postgres, migrations, LISTEN and
// the LISTEN/NOTIFY self-test), a look at pg_stat_activity for the backend holding the LISTEN,
// 50 concurrent 3-step workflows, a parent with two children, send/recv between workflows (5
// timed rounds), setEvent/getEvent (timed), 20 workflows on a queue with concurrency 2, shutdown.
// Then a direct connection checks workflow_status and operation_outputs. Exit 0 only if every
// check passed.
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';

const SYSDB_URL = process.env.DBOS_E2E_SYSDB_URL;
const DIRECT_URL = process.env.DBOS_E2E_DIRECT_URL;
const DEADLINE_S = Number(process.env.DBOS_E2E_DEADLINE_S || 100);
const N_STEPS_WF = 50;
const N_QUEUED = 20;
const QUEUE_CONCURRENCY = 2;
const N_ROUNDS = 5;
const LATENCY_LIMIT_MS = 5000; // recv/getEvent polling fallback is 10 s; NOTIFY is ~ms
const RUN = `e2e-${Date.now().toString(36)}-${process.pid}`;

if (!SYSDB_URL || !DIRECT_URL) {
    console.log('not ok - dbos app: environment: DBOS_E2E_SYSDB_URL and DBOS_E2E_DIRECT_URL are required');
    process.exit(2);
}

// --- results -------------------------------------------------------------------------------------
let failed = 0;
let passed = 0;
function ok(name) {
    passed++;
    console.log(`ok - ${name}`);
}
function notOk(name, detail) {
    failed++;
    console.log(`not ok - ${name}: ${String(detail).replace(/\s+/g, ' ').slice(0, 400)}`);
}
function check(name, cond, detail) {
    if (cond) ok(name);
    else notOk(name, detail);
    return cond;
}
const watchdog = setTimeout(() => {
    console.log(`not ok - dbos app finishes within ${DEADLINE_S} s: watchdog fired (${passed} ok, ${failed} not ok so far)`);
    process.exit(3);
}, DEADLINE_S * 1000);
watchdog.unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const count = (map, key) => map.set(key, (map.get(key) || 0) + 1);
// phase(NAME, FN): one timed phase; an exception is one failure, and the later phases still run.
async function phase(name, fn) {
    const t0 = Date.now();
    try {
        const r = await fn();
        console.log(`# phase ${name}: ${Date.now() - t0} ms`);
        return r;
    } catch (e) {
        notOk(`${name} (no exception)`, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e);
        return undefined;
    }
}

// --- workflows and steps (registered before launch) ----------------------------------------------
const wfRuns = new Map(); // workflow ID -> times its body started
const stepRuns = new Map(); // "workflowID/step" -> times the step body ran

const stepA = DBOS.registerStep(
    async (x) => {
        count(stepRuns, `${DBOS.workflowID}/A`);
        return x + 1;
    },
    { name: 'e2eStepA' },
);
const stepB = DBOS.registerStep(
    async (x) => {
        count(stepRuns, `${DBOS.workflowID}/B`);
        await sleep(5);
        return x * 2;
    },
    { name: 'e2eStepB' },
);
const stepC = DBOS.registerStep(
    async (x) => {
        count(stepRuns, `${DBOS.workflowID}/C`);
        return `r${x}`;
    },
    { name: 'e2eStepC' },
);
const threeSteps = DBOS.registerWorkflow(
    async (i) => {
        count(wfRuns, DBOS.workflowID);
        return await stepC(await stepB(await stepA(i)));
    },
    { name: 'e2eThreeSteps' },
);

const child = DBOS.registerWorkflow(
    async (x) => {
        count(wfRuns, DBOS.workflowID);
        return `child:${await stepA(x)}`;
    },
    { name: 'e2eChild' },
);
const parent = DBOS.registerWorkflow(
    async (x) => {
        count(wfRuns, DBOS.workflowID);
        const h = await DBOS.startWorkflow(child, { workflowID: `${DBOS.workflowID}-started` })(x);
        const direct = await child(x + 10); // a direct call from a workflow is a child workflow too
        return [await h.getResult(), direct];
    },
    { name: 'e2eParent' },
);

// Receiver: announces it is ready, then receives N_ROUNDS messages; after each it records the
// time it got it as event "got-K" (so the main flow can pace the sender).
const receiver = DBOS.registerWorkflow(
    async (rounds) => {
        count(wfRuns, DBOS.workflowID);
        await DBOS.setEvent('ready', true);
        const got = [];
        for (let k = 0; k < rounds; k++) {
            const msg = await DBOS.recv('ping', 30);
            const at = Date.now();
            got.push(msg);
            await DBOS.setEvent(`got-${k}`, { at, msg });
        }
        return got;
    },
    { name: 'e2eReceiver' },
);
const sender = DBOS.registerWorkflow(
    async (dest, msg) => {
        count(wfRuns, DBOS.workflowID);
        await DBOS.send(dest, msg, 'ping');
        return 'sent';
    },
    { name: 'e2eSender' },
);

// Event setter: waits for its go signal (a message), then sets "answer" and notes when.
let eventSetAt = 0;
const eventSetter = DBOS.registerWorkflow(
    async () => {
        count(wfRuns, DBOS.workflowID);
        await DBOS.recv('go', 30);
        eventSetAt = Date.now();
        await DBOS.setEvent('answer', { value: 42 });
        return 'set';
    },
    { name: 'e2eEventSetter' },
);

let queueRunning = 0;
let queueMaxRunning = 0;
const queuedWork = DBOS.registerStep(
    async (i) => {
        queueRunning++;
        queueMaxRunning = Math.max(queueMaxRunning, queueRunning);
        await sleep(100);
        queueRunning--;
        return i * i;
    },
    { name: 'e2eQueuedWork' },
);
const queued = DBOS.registerWorkflow(
    async (i) => {
        count(wfRuns, DBOS.workflowID);
        return await queuedWork(i);
    },
    { name: 'e2eQueued' },
);

// --- run -----------------------------------------------------------------------------------------
const expected = new Map(); // workflow ID -> workflow name, for the database check

DBOS.setConfig({
    name: 'pgpin-dbos-e2e',
    systemDatabaseUrl: SYSDB_URL,
    logLevel: 'info',
});

const tStart = Date.now();
let launched = false;
await phase('launch', async () => {
    const t0 = Date.now();
    await DBOS.launch();
    launched = true;
    ok(`DBOS.launch through pgpin (create db, migrations, LISTEN self-test: ${Date.now() - t0} ms)`);
});

if (launched) {
    // Server side: the SDK's notifications connection holds a real backend whose last statement
    // is its third LISTEN (pgpin pins it in session mode).
    await phase('LISTEN backend', async () => {
        const c = new pg.Client({ connectionString: DIRECT_URL, connectionTimeoutMillis: 10000 });
        await c.connect();
        try {
            const { rows } = await c.query(
                `SELECT pid, state, query FROM pg_stat_activity
                  WHERE datname = current_database() AND query LIKE 'LISTEN dbos%'`);
            check(`a dbos_sys backend holds DBOS's LISTEN connection (${rows.length})`,
                rows.length >= 1 && rows.every((r) => r.state === 'idle'), JSON.stringify(rows));
        } finally {
            await c.end();
        }
    });

    await phase('50 concurrent 3-step workflows', async () => {
        const handles = [];
        for (let i = 0; i < N_STEPS_WF; i++) {
            const id = `${RUN}-steps-${i}`;
            expected.set(id, 'e2eThreeSteps');
            handles.push(DBOS.startWorkflow(threeSteps, { workflowID: id })(i));
        }
        const results = await Promise.all((await Promise.all(handles)).map((h) => h.getResult()));
        const bad = results.map((r, i) => [r, `r${(i + 1) * 2}`]).filter(([r, want]) => r !== want);
        check(`${N_STEPS_WF} concurrent 3-step workflows return their results`, bad.length === 0,
            `${bad.length} wrong, e.g. ${JSON.stringify(bad[0])}`);
    });

    await phase('child workflows', async () => {
        const id = `${RUN}-parent`;
        expected.set(id, 'e2eParent');
        expected.set(`${id}-started`, 'e2eChild');
        const r = await (await DBOS.startWorkflow(parent, { workflowID: id })(1)).getResult();
        check('parent workflow gets both child results', JSON.stringify(r) === '["child:2","child:12"]',
            JSON.stringify(r));
    });

    await phase('send/recv between workflows', async () => {
        const rid = `${RUN}-receiver`;
        expected.set(rid, 'e2eReceiver');
        const rh = await DBOS.startWorkflow(receiver, { workflowID: rid })(N_ROUNDS);
        const ready = await DBOS.getEvent(rid, 'ready', 30);
        if (!check('receiver workflow is ready (getEvent)', ready === true, `getEvent returned ${ready}`)) return;
        const lat = [];
        for (let k = 0; k < N_ROUNDS; k++) {
            await sleep(400); // the receiver is now blocked in recv: only NOTIFY (or the 10 s poll) wakes it
            const sid = `${RUN}-sender-${k}`;
            expected.set(sid, 'e2eSender');
            const t0 = Date.now();
            await (await DBOS.startWorkflow(sender, { workflowID: sid })(rid, `m${k}`)).getResult();
            const got = await DBOS.getEvent(rid, `got-${k}`, 30);
            if (!got) {
                notOk(`recv round ${k}`, 'receiver did not report the message within 30 s');
                return;
            }
            lat.push(got.at - t0);
        }
        const got = await rh.getResult();
        check('receiver got every message in order', JSON.stringify(got) === JSON.stringify([...Array(N_ROUNDS).keys()].map((k) => `m${k}`)),
            JSON.stringify(got));
        const max = Math.max(...lat);
        console.log(`# send->recv latency ms: ${lat.join(' ')} (max ${max})`);
        check(`send->recv latency < ${LATENCY_LIMIT_MS} ms, NOTIFY not polling (max ${max} ms of ${lat.join('/')})`,
            max < LATENCY_LIMIT_MS, `max ${max} ms: the 10 s polling fallback delivered it, not NOTIFY`);
    });

    await phase('setEvent/getEvent', async () => {
        const id = `${RUN}-event`;
        expected.set(id, 'e2eEventSetter');
        const h = await DBOS.startWorkflow(eventSetter, { workflowID: id })();
        const waiting = DBOS.getEvent(id, 'answer', 30); // not set yet: waits on the events channel
        await sleep(400);
        await DBOS.send(id, 'go', 'go');
        const v = await waiting;
        const gotAt = Date.now();
        check('getEvent returns the value setEvent set', v && v.value === 42, JSON.stringify(v));
        check('event setter workflow returns', (await h.getResult()) === 'set', 'wrong result');
        const lat = gotAt - eventSetAt;
        console.log(`# setEvent->getEvent latency ms: ${lat}`);
        check(`setEvent->getEvent latency < ${LATENCY_LIMIT_MS} ms (${lat} ms)`, eventSetAt > 0 && lat < LATENCY_LIMIT_MS,
            `${lat} ms`);
    });

    await phase('queue', async () => {
        const qname = `e2e_queue_${process.pid}`;
        await DBOS.registerQueue(qname, { globalConcurrency: QUEUE_CONCURRENCY, minPollingIntervalMs: 200 });
        const handles = [];
        for (let i = 0; i < N_QUEUED; i++) {
            const id = `${RUN}-queued-${i}`;
            expected.set(id, 'e2eQueued');
            handles.push(await DBOS.startWorkflow(queued, { workflowID: id, queueName: qname })(i));
        }
        const results = await Promise.all(handles.map((h) => h.getResult()));
        check(`${N_QUEUED} queued workflows return their results`, results.every((r, i) => r === i * i),
            JSON.stringify(results));
        check(`queue concurrency ${QUEUE_CONCURRENCY} respected (max running ${queueMaxRunning})`,
            queueMaxRunning >= 1 && queueMaxRunning <= QUEUE_CONCURRENCY, `max running ${queueMaxRunning}`);
        return qname;
    });

    await phase('shutdown', async () => {
        await DBOS.shutdown();
        ok('DBOS.shutdown');
    });
}

// --- verification through a direct connection ----------------------------------------------------
if (launched) {
    await phase('verify', async () => {
        const c = new pg.Client({ connectionString: DIRECT_URL, connectionTimeoutMillis: 10000 });
        await c.connect();
        try {
            const mig = await c.query('SELECT max(version) AS v FROM dbos.dbos_migrations');
            console.log(`# dbos.dbos_migrations version ${mig.rows[0].v}`);
            check('migrations applied through pgpin', Number(mig.rows[0].v) > 0, JSON.stringify(mig.rows));

            const { rows } = await c.query(
                `SELECT workflow_uuid, status, name, parent_workflow_id, queue_name
                   FROM dbos.workflow_status WHERE workflow_uuid LIKE $1`, [`${RUN}-%`]);
            const byId = new Map(rows.map((r) => [r.workflow_uuid, r]));
            const problems = [];
            for (const [id, name] of expected) {
                const r = byId.get(id);
                if (!r) problems.push(`${id} missing`);
                else if (r.status !== 'SUCCESS' || r.name !== name) problems.push(`${id} ${r.name} ${r.status}`);
                if (wfRuns.get(id) !== 1) problems.push(`${id} body ran ${wfRuns.get(id) || 0} times`);
            }
            // The parent's direct child call gets a derived ID; every row must be SUCCESS.
            const extra = rows.filter((r) => !expected.has(r.workflow_uuid));
            for (const r of extra) {
                if (r.status !== 'SUCCESS') problems.push(`${r.workflow_uuid} ${r.name} ${r.status}`);
            }
            const directChild = extra.filter((r) => r.name === 'e2eChild' && r.parent_workflow_id === `${RUN}-parent`);
            if (directChild.length !== 1 || extra.length !== 1) {
                problems.push(`unexpected rows: ${JSON.stringify(extra.map((r) => [r.workflow_uuid, r.name]))}`);
            }
            const started = byId.get(`${RUN}-parent-started`);
            if (started && started.parent_workflow_id !== `${RUN}-parent`) {
                problems.push(`started child's parent_workflow_id ${started.parent_workflow_id}`);
            }
            const nQueued = rows.filter((r) => r.queue_name && r.name === 'e2eQueued').length;
            if (nQueued !== N_QUEUED) problems.push(`${nQueued} e2eQueued rows have a queue_name`);
            check(`every workflow (${rows.length} rows) reached SUCCESS exactly once`, problems.length === 0,
                `${problems.length} problems: ${problems.slice(0, 5).join('; ')}`);

            const ops = await c.query(
                `SELECT workflow_uuid, function_name, count(*)::int AS n, count(error)::int AS errors
                   FROM dbos.operation_outputs WHERE workflow_uuid LIKE $1
                  GROUP BY 1, 2`, [`${RUN}-steps-%`]);
            const stepProblems = [];
            const opsBy = new Map();
            for (const r of ops.rows) {
                opsBy.set(`${r.workflow_uuid}/${r.function_name}`, r);
                if (r.n !== 1 || r.errors !== 0) stepProblems.push(`${r.workflow_uuid} ${r.function_name} x${r.n} errors ${r.errors}`);
            }
            for (let i = 0; i < N_STEPS_WF; i++) {
                const id = `${RUN}-steps-${i}`;
                for (const s of ['A', 'B', 'C']) {
                    if (!opsBy.has(`${id}/e2eStep${s}`)) stepProblems.push(`${id} e2eStep${s} not recorded`);
                    if (stepRuns.get(`${id}/${s}`) !== 1) stepProblems.push(`${id} step ${s} ran ${stepRuns.get(`${id}/${s}`) || 0} times`);
                }
            }
            if (ops.rows.length !== 3 * N_STEPS_WF) stepProblems.push(`${ops.rows.length} operation rows, want ${3 * N_STEPS_WF}`);
            check(`each of the ${3 * N_STEPS_WF} steps ran and was recorded once (operation_outputs)`,
                stepProblems.length === 0, `${stepProblems.length} problems: ${stepProblems.slice(0, 5).join('; ')}`);
        } finally {
            await c.end();
        }
    });
}

console.log(`# dbos app: ${passed} ok, ${failed} not ok, ${Date.now() - tStart} ms`);
clearTimeout(watchdog);
process.exitCode = failed === 0 && launched ? 0 : 1;
// After DBOS.shutdown nothing of DBOS's should keep the process alive; an unref'd timer fires
// only if something does.
setTimeout(() => {
    console.log('not ok - node exits after DBOS.shutdown: handles still open 15 s later');
    process.exit(4);
}, 15000).unref();
