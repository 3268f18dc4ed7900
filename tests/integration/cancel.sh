#!/usr/bin/env bash
# tests/integration/cancel.sh - cancel requests through pgpin: PQcancel, wrong keys on raw
# sockets and 20 clients of one pool (it_cancel); psql's Ctrl-C path (SIGINT to a psql running
# pg_sleep(30) -> cancel error and exit at once).
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=cancel
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-cancel.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
now_ms() { date +%s%3N; }

if ! suite_start cancel "$(suite_db_line appdb)
canceldb = host=127.0.0.1 port=$PG_PORT dbname=appdb pool_size=20" "default_pool_size = 25"; then
    it_fail "cancel: pgpin starts" "see $LOG"
    it_done
    exit 1
fi
PID=$PGPIN_PID
PORT=$PGPIN_PORT

mapfile -t ENV < <(suite_ck_env "$PORT")
suite_ck it_cancel "$IT_BIN_DIR/it_cancel" "${ENV[@]}"

# --- psql: Ctrl-C sends a cancel request --------------------------------------------------------
running() { # running APPNAME: pg_sleep backends of that application_name
    suite_dpsql -d appdb -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1'
        AND state = 'active' AND query LIKE '%pg_sleep%'"
}
t_psql_sigint() {
    local app=it_cancel_psql out=$WORK/psql.out err=$WORK/psql.err pid i t0 t1 rc
    # A background job of a script starts with SIGINT ignored: give psql the default back, as
    # a terminal would. No `timeout` wrapper: it would turn SIGINT into SIGTERM.
    PGAPPNAME=$app PGCONNECT_TIMEOUT=10 env --default-signal=INT psql -X -h 127.0.0.1 -p "$PORT" \
        -U postgres -d appdb -c 'select pg_sleep(30)' </dev/null >"$out" 2>"$err" &
    pid=$!
    pg_on_cleanup "kill -KILL $pid 2>/dev/null"
    for ((i = 0; i < 100; i++)); do
        [[ $(running $app) == 1 ]] && break
        sleep 0.1
    done
    if [[ $(running $app) != 1 ]]; then
        it_fail "psql SIGINT: query running first" "$(cat "$err")"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return
    fi
    t0=$(now_ms)
    kill -INT "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    t1=$(now_ms)
    if kill -0 "$pid" 2>/dev/null; then
        it_fail "psql SIGINT: psql exits with the cancel error" "still running 5 s after SIGINT"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return
    fi
    wait "$pid"
    rc=$?
    echo "# psql exit $rc $((t1 - t0)) ms after SIGINT: $(tr '\n' ' ' <"$err")"
    if ((rc == 1)) && grep -q 'canceling statement due to user request' "$err" &&
        ((t1 - t0 < 2000)); then
        it_ok "psql SIGINT: psql exits with the cancel error ($((t1 - t0)) ms)"
    else
        it_fail "psql SIGINT: psql exits with the cancel error" \
            "exit $rc after $((t1 - t0)) ms: $(tr '\n' ' ' <"$err")"
    fi
    if [[ $(running $app) == 0 ]]; then it_ok "psql SIGINT: the backend stopped sleeping"; else
        it_fail "psql SIGINT: the backend stopped sleeping" "pg_sleep still active"
    fi
}
t_psql_sigint

if [[ $(suite_psql "$PORT" appdb -Atc 'select 1' 2>&1) == 1 ]]; then
    it_ok "pgpin still serves after the cancel tests"
else
    it_fail "pgpin still serves after the cancel tests" "select 1 failed"
fi
suite_stop "$PID" "cancel: pgpin"
it_done
