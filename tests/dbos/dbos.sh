#!/usr/bin/env bash
# tests/dbos/dbos.sh - end to end: the real DBOS TypeScript SDK (@dbos-inc/dbos-sdk, pinned in
# package.json/package-lock.json) runs app.mjs with its system database behind pgpin
# (session mode, default_pool_size 20, `* = host=127.0.0.1 port=PG_PORT`, so DBOS's CREATE
# DATABASE on db postgres and everything on db dbos_sys go through pgpin).
#
# Checks: npm ci; launch (create db, migrations, LISTEN + self-test); 50 concurrent 3-step
# workflows; child workflows; send/recv and setEvent/getEvent latencies (< 5 s: NOTIFY arrived,
# not the 10 s polling fallback); a queue with concurrency 2 x 20 workflows; SUCCESS exactly once
# and one operation_outputs row per step (direct connection); no "transaction-mode pooler /
# fall back to polling" warning and no notifications-listener error in the SDK's log; clean
# DBOS.shutdown and node exit 0; pgpin stays up, exits 0 on SIGTERM, no sanitizer report.
#
# SKIP (an "ok - ... # SKIP" line) only when node/npm are missing or npm ci fails and the npm
# registry cannot be reached; any other failure is a failure.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
# Optional: DBOS_E2E_SECS (node's time bound, default 120), DBOS_E2E_NPM_SECS (npm ci, default 180).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=dbos
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
APP_SECS=${DBOS_E2E_SECS:-120}
NPM_SECS=${DBOS_E2E_NPM_SECS:-180}
SYSDB=dbos_sys
WORK=$(mktemp -d /tmp/pgpin-dbos.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
skip() {
    it_ok "dbos e2e SKIPPED: $1 # SKIP"
    it_done
    exit 0
}

# --- node + npm ci ------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    skip "node/npm not installed"
fi
NPM_LOG=$LOGDIR/dbos-npm.log
echo "# node $(node --version), npm $(npm --version); npm ci in tests/dbos (log $NPM_LOG)"
t0=$SECONDS
(cd "$here" && timeout -k 5 "$NPM_SECS" npm ci --prefer-offline --no-audit --no-fund) \
    >"$NPM_LOG" 2>&1
rc=$?
if ((rc != 0)); then
    if ! (cd "$here" && timeout -k 5 30 npm ping) >>"$NPM_LOG" 2>&1; then
        skip "npm ci failed (exit $rc) and npm cannot reach the registry; see $NPM_LOG"
    fi
    it_fail "npm ci" "exit $rc: $(tail -5 "$NPM_LOG" | tr '\n' ' ' | cut -c1-300)"
    it_done
    exit 1
fi
sdk=$(node -p 'require(process.argv[1]).version' \
    "$here/node_modules/@dbos-inc/dbos-sdk/package.json" 2>/dev/null)
it_ok "npm ci ($((SECONDS - t0)) s; @dbos-inc/dbos-sdk $sdk)"

# --- pgpin in front of the throwaway Postgres -----------------------------------------------------
# A fresh system database each run, so that DBOS's own CREATE DATABASE and every migration run
# through pgpin (the throwaway Postgres is shared by the passes of one tests/run.sh).
if ! suite_dpsql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $SYSDB WITH (FORCE)" >/dev/null; then
    it_fail "drop old $SYSDB" "psql failed"
fi
if ! suite_start pgpin "* = host=127.0.0.1 port=$PG_PORT" "pool_mode = session
default_pool_size = 20"; then
    it_fail "pgpin starts" "see $LOG"
    it_done
    exit 1
fi
PID=$PGPIN_PID
PORT=$PGPIN_PORT
echo "# pgpin pid $PID on port $PORT; config $CFG; log $LOG"

# --- the app ------------------------------------------------------------------------------------
APP_LOG=$LOGDIR/dbos-app.log
t0=$(date +%s%3N)
(cd "$here" && DBOS_E2E_SYSDB_URL="postgres://postgres@127.0.0.1:$PORT/$SYSDB" \
    DBOS_E2E_DIRECT_URL="postgres://postgres@127.0.0.1:$PG_PORT/$SYSDB" \
    DBOS_E2E_DEADLINE_S=$((APP_SECS - 10)) \
    timeout -k 5 "$APP_SECS" node app.mjs) </dev/null >"$APP_LOG" 2>&1
rc=$?
ms=$(($(date +%s%3N) - t0))
# The app's own ok/not ok lines become results; everything else (DBOS's log) is shown as comments.
sed -E '/^((not )?ok - |#)/!s/^/# /' "$APP_LOG"
IT_PASSED=$((IT_PASSED + $(grep -c '^ok - ' "$APP_LOG")))
IT_FAILED=$((IT_FAILED + $(grep -c '^not ok - ' "$APP_LOG")))
if ((rc == 124 || rc == 137)); then
    it_fail "dbos app finishes within $APP_SECS s" "killed by timeout after $ms ms"
elif ((rc != 0)); then
    it_fail "dbos app exits 0" "exit $rc after $ms ms: $(grep -v '^ok - ' "$APP_LOG" | tail -3 |
        tr '\n' ' ' | cut -c1-300)"
else
    it_ok "dbos app exits 0 after DBOS.shutdown ($ms ms)"
fi

# The SDK's LISTEN/NOTIFY self-test logs this warning when the NOTIFY it sends to itself does not
# arrive within 3 s (as behind a transaction-mode pooler); it logs nothing on success.
warn=$(grep -m3 -iE 'self-test failed|transaction-mode pooler|fall back to polling' "$APP_LOG")
if [[ -n $warn ]]; then
    it_fail "LISTEN/NOTIFY self-test: no pooler warning" "$(tr '\n' ' ' <<<"$warn" | cut -c1-300)"
elif grep -q 'DBOS.launch through pgpin' "$APP_LOG"; then
    it_ok "LISTEN/NOTIFY self-test: no pooler warning"
else
    it_fail "LISTEN/NOTIFY self-test: no pooler warning" "launch did not complete"
fi
err=$(grep -m3 -E 'Error (in|on retired) notifications|Error releasing notifications' "$APP_LOG")
if [[ -n $err ]]; then
    it_fail "notifications listener: no errors" "$(tr '\n' ' ' <<<"$err" | cut -c1-300)"
else
    it_ok "notifications listener: no errors"
fi

# --- pgpin --------------------------------------------------------------------------------------
if pgpin_alive "$PID"; then it_ok "pgpin stays up"; fi
suite_stop "$PID" "pgpin"
[[ $PGPIN_RC == 0 ]] && it_ok "pgpin SIGTERM exit 0"
if pgpin_log_clean "$LOG"; then it_ok "no sanitizer report in the pgpin log"; else
    it_fail "no sanitizer report in the pgpin log" "see $LOG"
fi
bad=$(grep -ciE '\b(error|fatal|panic)\b' "$LOG")
echo "# pgpin log: $(wc -l <"$LOG") lines, $bad mentioning error/fatal/panic"
grep -iE '\b(error|fatal|panic|warn(ing)?)\b' "$LOG" | head -20 | sed 's/^/#   /'
it_done
