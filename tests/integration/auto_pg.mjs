// tests/integration/auto_pg.mjs - node-postgres (pg) through pgpin in pool_mode = auto.
//
// N concurrent clients (one pg.Client each). Each sets its own session settings, then runs Q
// parameterised queries that read them back: odd ones as a named prepared statement
// ({name: 'q-read'}: pg prepares it once per connection and binds it afterwards, so it must
// follow the client from server to server), even ones unnamed; every 4th inside BEGIN/COMMIT.
// Prints one JSON line. Usage: node auto_pg.mjs CONNSTRING [CLIENTS] [QUERIES]
// (run from a directory whose node_modules has pg: NODE_PATH works for CommonJS only, so the
// caller passes PG_MODULE, the path of pg's directory).
const { default: pg } = await import(process.env.PG_MODULE || 'pg');

const [url, nc = '40', nq = '200'] = process.argv.slice(2);
const CLIENTS = Number(nc);
const QUERIES = Number(nq);
const SQL =
    "SELECT $1::int + 1 AS v, current_setting('statement_timeout') AS st, " +
    "current_setting('application_name') AS app, current_setting('pgpin.client') AS c, " +
    'pg_backend_pid() AS pid';

const errors = [];
const pids = new Set();
let ok = 0;
let prepared = 0;

async function client(i) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
        await c.query(`SET statement_timeout = ${10001 + i}`);
        await c.query(`SET application_name = 'node-${i}'`);
        await c.query(`SET pgpin.client = '${i}'`);
        const want = [`${10001 + i}ms`, `node-${i}`, String(i)];
        for (let k = 0; k < QUERIES; k++) {
            const v = i * 100000 + k;
            const q = k % 2 ? { name: 'q-read', text: SQL, values: [v] } : { text: SQL, values: [v] };
            if (k % 4 === 3) await c.query('BEGIN');
            const r = (await c.query(q)).rows[0];
            if (k % 4 === 3) await c.query('COMMIT');
            if (r.v !== v + 1 || r.st !== want[0] || r.app !== want[1] || r.c !== want[2])
                throw new Error(`client ${i} query ${k}: got ${JSON.stringify(r)}, want ${v + 1} ${want}`);
            pids.add(r.pid);
            ok++;
        }
        // Whatever server it has now holds its named statement (synced there if need be).
        const p = await c.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'q-read'");
        if (p.rows[0].n === 1) prepared++;
    } finally {
        await c.end();
    }
}

const results = await Promise.allSettled(Array.from({ length: CLIENTS }, (_, i) => client(i)));
for (const r of results) if (r.status === 'rejected') errors.push(String(r.reason && r.reason.message || r.reason));
console.log(
    JSON.stringify({
        driver: 'node-postgres',
        clients: CLIENTS,
        queries: CLIENTS * QUERIES,
        ok,
        errors: errors.slice(0, 5),
        nerrors: errors.length,
        pids: pids.size,
        prepared,
    }),
);
process.exit(errors.length === 0 && ok === CLIENTS * QUERIES && prepared === CLIENTS ? 0 : 1);
