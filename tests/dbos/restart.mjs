// tests/dbos/restart.mjs - the real DBOS TypeScript SDK starting a stream of workflows through
// pgpin while Postgres restarts underneath (run by tests/integration/faults.sh, which restarts
// Postgres once this process prints "# streaming"). Prints "ok - " / "not ok - " lines.
//
// Env:
//   DBOS_E2E_SYSDB_URL   system database through pgpin
//   DBOS_E2E_DIRECT_URL  the same database straight at Postgres (verification only)
//   DBOS_RESTART_SECS    how long to keep starting workflows (default 20)
//   DBOS_RESTART_EVERY_MS  one new workflow this often (default 100)
//   DBOS_E2E_DEADLINE_S  watchdog (default 150)
// Checks: every workflow started completes with its result, its body and each of its 3 steps
// ran exactly once in this process (which is never restarted), and afterwards (direct
// connection) each has status SUCCESS and exactly one operation_outputs row per step.
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';

const SYSDB_URL = process.env.DBOS_E2E_SYSDB_URL;
const DIRECT_URL = process.env.DBOS_E2E_DIRECT_URL;
const SECS = Number(process.env.DBOS_RESTART_SECS || 20);
const EVERY_MS = Number(process.env.DBOS_RESTART_EVERY_MS || 100);
const DEADLINE_S = Number(process.env.DBOS_E2E_DEADLINE_S || 150);
const RUN = `restart-${Date.now().toString(36)}-${process.pid}`;

let failed = 0;
const check = (name, cond, detail) => {
    if (cond) console.log(`ok - ${name}`);
    else {
        failed++;
        console.log(`not ok - ${name}: ${String(detail).replace(/\s+/g, ' ').slice(0, 400)}`);
    }
    return cond;
};
const watchdog = setTimeout(() => {
    console.log(`not ok - dbos restart app finishes within ${DEADLINE_S} s: watchdog fired`);
    process.exit(3);
}, DEADLINE_S * 1000);
watchdog.unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const count = (map, key) => map.set(key, (map.get(key) || 0) + 1);

const wfRuns = new Map();
const stepRuns = new Map();
const mkStep = (name, fn) =>
    DBOS.registerStep(
        async (x) => {
            count(stepRuns, `${DBOS.workflowID}/${name}`);
            return fn(x);
        },
        { name },
    );
const stepA = mkStep('rStepA', (x) => x + 1);
const stepB = mkStep('rStepB', async (x) => {
    await sleep(20);
    return x * 2;
});
const stepC = mkStep('rStepC', (x) => `r${x}`);
const threeSteps = DBOS.registerWorkflow(
    async (i) => {
        count(wfRuns, DBOS.workflowID);
        return await stepC(await stepB(await stepA(i)));
    },
    { name: 'rThreeSteps' },
);

DBOS.setConfig({ name: 'pgpin-dbos-restart', systemDatabaseUrl: SYSDB_URL, logLevel: 'info' });
await DBOS.launch();
check('DBOS.launch through pgpin', true);

// The stream: one workflow every EVERY_MS, none awaited by the loop (a start that waits out the
// restart does not hold the others back).
const started = []; // [id, i, promise of its result]
console.log('# streaming');
const t0 = Date.now();
for (let i = 0; Date.now() - t0 < SECS * 1000; i++) {
    const id = `${RUN}-${i}`;
    const p = DBOS.startWorkflow(threeSteps, { workflowID: id })(i).then((h) => h.getResult());
    p.catch(() => {}); // looked at below
    started.push([id, i, p]);
    await sleep(EVERY_MS);
}
console.log(`# started ${started.length} workflows in ${Date.now() - t0} ms; waiting for them`);
const results = await Promise.allSettled(started.map(([, , p]) => p));
const wrong = [];
results.forEach((r, k) => {
    const [id, i] = started[k];
    if (r.status !== 'fulfilled') wrong.push(`${id}: ${r.reason && r.reason.message ? r.reason.message : r.reason}`);
    else if (r.value !== `r${(i + 1) * 2}`) wrong.push(`${id}: ${JSON.stringify(r.value)}`);
});
check(`${started.length} workflows started across the restart complete with their results`,
    wrong.length === 0, `${wrong.length} failed: ${wrong.slice(0, 3).join('; ')}`);
const runsOff = [];
for (const [id] of started) {
    if (wfRuns.get(id) !== 1) runsOff.push(`${id} body x${wfRuns.get(id) || 0}`);
    for (const s of ['rStepA', 'rStepB', 'rStepC'])
        if (stepRuns.get(`${id}/${s}`) !== 1) runsOff.push(`${id} ${s} x${stepRuns.get(`${id}/${s}`) || 0}`);
}
check('each workflow body and each step ran exactly once', runsOff.length === 0,
    `${runsOff.length} off: ${runsOff.slice(0, 5).join('; ')}`);
await DBOS.shutdown();
check('DBOS.shutdown', true);

const c = new pg.Client({ connectionString: DIRECT_URL, connectionTimeoutMillis: 10000 });
await c.connect();
try {
    const st = await c.query(
        `SELECT workflow_uuid, status, created_at FROM dbos.workflow_status WHERE workflow_uuid LIKE $1`,
        [`${RUN}-%`]);
    const by = new Map(st.rows.map((r) => [r.workflow_uuid, r]));
    const bad = started.filter(([id]) => !by.has(id) || by.get(id).status !== 'SUCCESS')
        .map(([id]) => `${id} ${by.has(id) ? by.get(id).status : 'missing'}`);
    check(`every workflow has status SUCCESS (${st.rows.length} rows)`,
        bad.length === 0 && st.rows.length === started.length, `${bad.length} not: ${bad.slice(0, 5).join('; ')}`);
    const ops = await c.query(
        `SELECT workflow_uuid, function_name, count(*)::int AS n, count(error)::int AS errors
           FROM dbos.operation_outputs WHERE workflow_uuid LIKE $1 GROUP BY 1, 2`, [`${RUN}-%`]);
    const opBad = ops.rows.filter((r) => r.n !== 1 || r.errors !== 0)
        .map((r) => `${r.workflow_uuid} ${r.function_name} x${r.n} errors ${r.errors}`);
    check(`one operation_outputs row per step (${ops.rows.length} rows for ${started.length} workflows)`,
        opBad.length === 0 && ops.rows.length === 3 * started.length,
        `${opBad.length} off, ${ops.rows.length} rows: ${opBad.slice(0, 5).join('; ')}`);
    // created_at (ms) of each, for the caller to see that the stream spanned the restart.
    console.log(`# created_ms ${st.rows.map((r) => r.created_at).join(' ')}`);
} finally {
    await c.end();
}
clearTimeout(watchdog);
process.exitCode = failed === 0 ? 0 : 1;
setTimeout(() => {
    console.log('not ok - node exits after DBOS.shutdown: handles still open 15 s later');
    process.exit(4);
}, 15000).unref();
