#!/usr/bin/env bash
# tests/dbos/dbos_auto.sh - the real DBOS TypeScript SDK, 12 processes at once, each with its
# default system-database pool of 10, through one pgpin in pool_mode = auto with
# default_pool_size = 12 (tests/dbos/multi.mjs is the per-process workload).
#
# Checks: every process launches and passes its LISTEN/NOTIFY self-test (no "transaction-mode
# pooler" warning: its LISTEN connection is pinned), runs its workflows with steps, send/recv
# and setEvent/getEvent; the 95th percentile of send->recv over all processes is printed and must be below 1000 ms;
# Postgres never sees more than 12 + 12 backends on the system database (12 shared servers and
# 12 pinned LISTEN connections; sampled every 100 ms); pgpin exits 0 on SIGTERM.
# Run by tests/dbos/dbos.sh after its session-mode part (DBOS_AUTO=0 skips it), or alone.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
# Optional: DBOS_AUTO_PROCS (12), DBOS_AUTO_ROUNDS (20 send/recv rounds per process).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=dbos-auto
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
PROCS=${DBOS_AUTO_PROCS:-12}
ROUNDS=${DBOS_AUTO_ROUNDS:-20}
POOL=${DBOS_AUTO_POOL:-12}
SYSDB=dbos_multi
WORK=$(mktemp -d /tmp/pgpin-dbos-auto.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

if [[ ! -f $here/node_modules/@dbos-inc/dbos-sdk/package.json ]]; then
    it_ok "dbos auto SKIPPED: tests/dbos/node_modules missing (dbos.sh runs npm ci) # SKIP"
    it_done
    exit 0
fi
suite_dpsql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $SYSDB WITH (FORCE)" >/dev/null || it_fail "drop old $SYSDB" "psql"
if ! suite_start pgpin "* = host=127.0.0.1 port=$PG_PORT" "pool_mode = auto
default_pool_size = $POOL
${DBOS_AUTO_EXTRA:-}"; then
    it_fail "pgpin (auto) starts" "see $LOG"
    it_done
    exit 1
fi
PID=$PGPIN_PID
URL="postgres://postgres@127.0.0.1:$PGPIN_PORT/$SYSDB"
echo "# pgpin pid $PID on port $PGPIN_PORT (pool_mode = auto, default_pool_size = $POOL); log $LOG"

# One process first: it creates the database and runs the migrations.
(cd "$here" && DBOS_E2E_SYSDB_URL=$URL DBOS_MULTI_MODE=setup DBOS__VMID=setup \
    timeout -k 5 120 node multi.mjs) </dev/null >"$LOGDIR/dbos-auto-setup.log" 2>&1
rc=$?
if ((rc != 0)); then
    it_fail "setup process (create database, migrations)" "exit $rc: $(grep -m2 'not ok' "$LOGDIR/dbos-auto-setup.log" | tr '\n' ' ')"
else
    it_ok "setup process (create database, migrations)"
fi

# Sample pg_stat_activity: backends on the system database (pgpin's budget reader excluded).
(
    peak=0
    while [[ ! -f $WORK/stop ]]; do
        n=$(suite_dpsql -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE
            datname = '$SYSDB' AND backend_type = 'client backend' AND
            application_name <> 'pgpin-limits'" 2>/dev/null)
        [[ $n =~ ^[0-9]+$ ]] && ((n > peak)) && peak=$n && echo "$peak" >"$WORK/peak"
        sleep 0.1
    done
) &
sampler=$!

t0=$(date +%s%3N)
pids=()
for ((k = 0; k < PROCS; k++)); do
    (cd "$here" && DBOS_E2E_SYSDB_URL=$URL DBOS_MULTI_ROUNDS=$ROUNDS DBOS__VMID=multi-$k \
        timeout -k 5 170 node multi.mjs) </dev/null >"$LOGDIR/dbos-auto-$k.log" 2>&1 &
    pids+=($!)
done
nfail=0
for ((k = 0; k < PROCS; k++)); do
    wait "${pids[k]}" || nfail=$((nfail + 1))
done
ms=$(($(date +%s%3N) - t0))
touch "$WORK/stop"
wait "$sampler" 2>/dev/null
peak=$(cat "$WORK/peak" 2>/dev/null || echo 0)

bad=$(cat "$LOGDIR"/dbos-auto-[0-9]*.log | grep -c '^not ok')
good=$(cat "$LOGDIR"/dbos-auto-[0-9]*.log | grep -c '^ok')
if ((nfail == 0 && bad == 0)); then
    it_ok "$PROCS DBOS processes: workflows with steps, send/recv, setEvent/getEvent ($good checks, $ms ms)"
else
    it_fail "$PROCS DBOS processes" "$nfail exited nonzero, $bad not ok: $(cat "$LOGDIR"/dbos-auto-[0-9]*.log | grep -m3 '^not ok' | tr '\n' ' ' | cut -c1-400)"
fi
warn=$(cat "$LOGDIR"/dbos-auto-*.log | grep -m3 -iE 'self-test failed|transaction-mode pooler|fall back to polling')
if [[ -z $warn ]]; then
    it_ok "LISTEN/NOTIFY self-test passed in every process (no transaction-mode pooler warning)"
else
    it_fail "LISTEN/NOTIFY self-test" "$(tr '\n' ' ' <<<"$warn" | cut -c1-300)"
fi
# p95 of send->recv over all processes.
stats=$(cat "$LOGDIR"/dbos-auto-[0-9]*.log | sed -n 's/^# result //p' | node -e '
    const lines = require("fs").readFileSync(0, "utf8").trim().split("\n").filter(Boolean);
    const lat = lines.flatMap((l) => JSON.parse(l).lat).sort((a, b) => a - b);
    const ev = lines.map((l) => JSON.parse(l).evlat).filter((x) => x !== null);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    console.log(lat.length, q(0.5), q(0.95), lat[lat.length - 1], Math.max(...ev));')
read -r n p50 p95 max evmax <<<"$stats"
echo "# send->recv over $n rounds: p50 $p50 ms, p95 $p95 ms, max $max ms; setEvent->getEvent max $evmax ms"
# What must not break is NOTIFY delivery: DBOS's fallback polls every 10 s, so a p95 under
# 1000 ms proves notifications arrive. The 200 ms figure of issue 6 is a measurement (printed
# above; 78-109 ms on a calm box), not asserted here: timed assertions flake on a shared 2-core
# CI box (the project measures performance in bench/, never with timed test assertions).
bound=1000
if [[ -n ${p95:-} ]] && ((n >= PROCS * ROUNDS && p95 < bound)); then
    it_ok "send->recv p95 $p95 ms < $bound ms ($n rounds, p50 $p50, max $max)"
else
    it_fail "send->recv p95 < $bound ms" "n=${n:-0} p95=${p95:-?}"
fi
if ((peak > 0 && peak <= 2 * POOL)); then
    it_ok "Postgres saw at most $peak backends on $SYSDB (limit $POOL + $POOL)"
else
    it_fail "at most $POOL + $POOL backends on $SYSDB" "peak $peak"
fi
pinned=$(grep -c 'pinned to .*: LISTEN' "$LOG")
cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$PID/stat" 2>/dev/null)
echo "# pgpin pinned $pinned clients for LISTEN; pgpin CPU ${cpu:-?} s (user+sys) over the run"

if pgpin_alive "$PID"; then it_ok "pgpin (auto) stays up"; fi
suite_stop "$PID" "pgpin (auto)"
[[ $PGPIN_RC == 0 ]] && it_ok "pgpin (auto) SIGTERM exit 0"
if pgpin_log_clean "$LOG"; then it_ok "no sanitizer report in the pgpin (auto) log"; else
    it_fail "no sanitizer report in the pgpin (auto) log" "see $LOG"
fi
it_done
