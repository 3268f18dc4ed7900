// tests/dbos/multi.mjs - one of several DBOS processes sharing a system database through pgpin
// in pool_mode = auto (run by tests/dbos/dbos_auto.sh). Prints "ok - " / "not ok - " lines and
// one "# result {json}" line with its send->recv latencies.
//
// Env:
//   DBOS_E2E_SYSDB_URL   system database through pgpin
//   DBOS_MULTI_MODE      "setup": launch (creates the database, migrations) and shut down;
//                        "run" (default): the workload below
//   DBOS_MULTI_ROUNDS    send/recv rounds (default 20)
//   DBOS__VMID           executor ID: one per process (the SDK reads it), so that one process's
//                        launch does not recover another's workflows
// Workload: 20 concurrent 3-step workflows; a receiver workflow gets ROUNDS messages sent with
// DBOS.send (each timed from send to the receiver's recv returning); setEvent/getEvent (timed).
import { DBOS } from '@dbos-inc/dbos-sdk';

const SYSDB_URL = process.env.DBOS_E2E_SYSDB_URL;
const MODE = process.env.DBOS_MULTI_MODE || 'run';
const ROUNDS = Number(process.env.DBOS_MULTI_ROUNDS || 20);
const ME = process.env.DBOS__VMID || 'local';
const RUN = `multi-${ME}-${Date.now().toString(36)}`;
const N_WF = 20;

let failed = 0;
const check = (name, cond, detail) => {
    if (cond) console.log(`ok - ${ME}: ${name}`);
    else {
        failed++;
        console.log(`not ok - ${ME}: ${name}: ${String(detail).slice(0, 300)}`);
    }
    return cond;
};
const watchdog = setTimeout(() => {
    console.log(`not ok - ${ME}: finishes within the deadline: watchdog fired`);
    process.exit(3);
}, Number(process.env.DBOS_MULTI_DEADLINE_S || 150) * 1000);
watchdog.unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const stepA = DBOS.registerStep(async (x) => x + 1, { name: 'mStepA' });
const stepB = DBOS.registerStep(
    async (x) => {
        await sleep(5);
        return x * 2;
    },
    { name: 'mStepB' },
);
const stepC = DBOS.registerStep(async (x) => `r${x}`, { name: 'mStepC' });
const threeSteps = DBOS.registerWorkflow(async (i) => stepC(await stepB(await stepA(i))), {
    name: 'mThreeSteps',
});
const receiver = DBOS.registerWorkflow(
    async (rounds) => {
        await DBOS.setEvent('ready', true);
        for (let k = 0; k < rounds; k++) {
            const msg = await DBOS.recv('ping', 30);
            await DBOS.setEvent(`got-${k}`, { at: Date.now(), msg });
        }
        return 'done';
    },
    { name: 'mReceiver' },
);
let eventSetAt = 0;
const eventSetter = DBOS.registerWorkflow(
    async () => {
        await DBOS.recv('go', 30);
        eventSetAt = Date.now();
        await DBOS.setEvent('answer', 42);
        return 'set';
    },
    { name: 'mEventSetter' },
);

DBOS.setConfig({ name: 'pgpin-dbos-multi', systemDatabaseUrl: SYSDB_URL, logLevel: 'info' });
const t0 = Date.now();
await DBOS.launch();
check(`DBOS.launch (${Date.now() - t0} ms)`, true);
const result = { id: ME, lat: [], evlat: null };
try {
    if (MODE === 'run') {
        const hs = [];
        for (let i = 0; i < N_WF; i++) hs.push(DBOS.startWorkflow(threeSteps, { workflowID: `${RUN}-wf-${i}` })(i));
        const rs = await Promise.all((await Promise.all(hs)).map((h) => h.getResult()));
        check(`${N_WF} concurrent 3-step workflows`, rs.every((r, i) => r === `r${(i + 1) * 2}`), JSON.stringify(rs));

        const rid = `${RUN}-recv`;
        const rh = await DBOS.startWorkflow(receiver, { workflowID: rid })(ROUNDS);
        check('receiver ready (getEvent)', (await DBOS.getEvent(rid, 'ready', 30)) === true, 'no ready event');
        for (let k = 0; k < ROUNDS; k++) {
            await sleep(100); // the receiver waits in recv: NOTIFY (or the 10 s poll) wakes it
            const s0 = Date.now();
            await DBOS.send(rid, `m${k}`, 'ping');
            const got = await DBOS.getEvent(rid, `got-${k}`, 30);
            if (!check(`recv round ${k}`, got && got.msg === `m${k}`, JSON.stringify(got))) break;
            result.lat.push(got.at - s0);
        }
        check('receiver workflow returns', (await rh.getResult()) === 'done', 'wrong result');

        const eid = `${RUN}-event`;
        const eh = await DBOS.startWorkflow(eventSetter, { workflowID: eid })();
        const waiting = DBOS.getEvent(eid, 'answer', 30);
        await sleep(200);
        await DBOS.send(eid, 'go', 'go');
        const v = await waiting;
        result.evlat = Date.now() - eventSetAt;
        check('setEvent/getEvent', v === 42 && (await eh.getResult()) === 'set', JSON.stringify(v));
    }
} catch (e) {
    check('no exception', false, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e);
}
await DBOS.shutdown();
check('DBOS.shutdown', true);
console.log(`# result ${JSON.stringify(result)}`);
clearTimeout(watchdog);
process.exitCode = failed === 0 ? 0 : 1;
setTimeout(() => {
    console.log(`not ok - ${ME}: node exits after DBOS.shutdown: handles still open 15 s later`);
    process.exit(4);
}, 15000).unref();
