#!/usr/bin/env bash
# tests/integration/auto.sh - pool_mode = auto, one pgpin instance per part:
#   main     pool_mode = auto, default_pool_size = 4, one worker: it_auto (40 libpq clients,
#            LISTEN, pin reasons, recorded SET/RESET/DISCARD ALL/DEALLOCATE, same-named
#            statements, cancel, pinned servers outside the pool size).
#   drivers  the same config with the run's worker count: real drivers, 40 concurrent clients x 200
#            parameterised queries each with their own session SETs read back: psycopg 3 (names
#            statements after 5 runs), node-postgres (a named statement), pgjdbc (default
#            prepareThreshold, compiled here with javac); each must use at most 4 backends and
#            never see "prepared statement does not exist"; SIGTERM with idle auto clients.
#   perdb    pool_mode = session globally, appdb with pool_mode=auto: it_auto's perdb part.
#   idle     client_idle_timeout = 1 in auto mode: it_auto's idle part.
#   refuse   pool_mode = transaction (global, and per database) is refused at start with the
#            reason; a RELOAD to it is refused and keeps the running configuration.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=auto
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-auto.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
PY=/usr/bin/python3 # Debian's python3, where python3-psycopg is installed
suite_dpsql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'sessdb'" -At | grep -q 1 ||
    suite_dpsql -d postgres -c "CREATE DATABASE sessdb" >/dev/null

# driver NAME CMD...: one real-driver run; its JSON line must say every query was right and
# at most 4 backends served the 40 clients.
driver() {
    local name=$1 out rc json
    shift
    out=$(timeout -k 5 300 "$@" 2>&1)
    rc=$?
    json=$(grep -m1 '^{' <<<"$out")
    echo "# $name: ${json:-$(tail -3 <<<"$out" | tr '\n' ' ')}"
    if ((rc != 0)) || [[ -z $json ]]; then
        it_fail "$name: 40 clients x 200 queries, all right; each client's named statement on its last server" "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ' | cut -c1-400)"
        return
    fi
    if grep -qi 'prepared statement .* does not exist' <<<"$out"; then
        it_fail "$name: no \"prepared statement does not exist\"" "$(grep -m1 -i 'does not exist' <<<"$out")"
        return
    fi
    it_ok "$name: 40 clients x 200 queries, all right; each client's named statement on its last server"
    local pids
    pids=$(sed -nE 's/.*"pids": ?([0-9]+).*/\1/p' <<<"$json")
    if [[ -n $pids ]] && ((pids <= 4)); then it_ok "$name: $pids backends served 40 clients"; else
        it_fail "$name: at most 4 backends" "pids=$pids"
    fi
}

node_pg() { # the pg module of tests/dbos (npm ci there if missing)
    local dbos=$here/../dbos
    command -v node >/dev/null || return 1
    if [[ ! -f $dbos/node_modules/pg/package.json ]]; then
        (cd "$dbos" && timeout -k 5 180 npm ci --prefer-offline --no-audit --no-fund) \
            >"$LOGDIR/auto-npm.log" 2>&1 || return 1
    fi
    echo "$dbos/node_modules/pg/lib/index.js"
}

part_main() {
    local env
    # One worker: its checks need a client to switch servers, and with two workers a lone
    # client can keep reusing its worker's only server. (The drivers run with the run's count.)
    if ! suite_start main "$(suite_db_line appdb)" "pool_mode = auto
default_pool_size = 4
query_wait_timeout = 60
admin_users = postgres
workers = 1"; then
        it_fail "main: pgpin starts" "see $LOG"
        return
    fi
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_auto[main]" "$IT_BIN_DIR/it_auto" "${env[@]}" IT_AUTO_PART=main
    suite_stop "$PGPIN_PID" "main: pgpin"
}

part_drivers() {
    local pid pgmod
    if ! suite_start drivers "$(suite_db_line appdb)" "pool_mode = auto
default_pool_size = 4
query_wait_timeout = 60"; then
        it_fail "drivers: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID

    if $PY -c 'import psycopg' 2>/dev/null; then
        driver "psycopg 3" $PY "$here/auto_psycopg.py" \
            "host=127.0.0.1 port=$PGPIN_PORT user=postgres dbname=appdb" 40 200
    else
        it_fail "psycopg 3" "python3-psycopg is not installed"
    fi
    if pgmod=$(node_pg); then
        driver "node-postgres" env PG_MODULE="$pgmod" node "$here/auto_pg.mjs" \
            "postgres://postgres@127.0.0.1:$PGPIN_PORT/appdb" 40 200
    else
        it_ok "node-postgres SKIPPED: node or npm ci unavailable # SKIP"
    fi
    if command -v javac >/dev/null && [[ -f /usr/share/java/postgresql.jar ]]; then
        mkdir -p "$WORK/java"
        if javac -d "$WORK/java" -cp /usr/share/java/postgresql.jar "$here/AutoJdbc.java" \
            >"$LOGDIR/auto-javac.log" 2>&1; then
            driver "pgjdbc" java -cp "$WORK/java:/usr/share/java/postgresql.jar" AutoJdbc \
                "jdbc:postgresql://127.0.0.1:$PGPIN_PORT/appdb" 40 200
        else
            it_fail "pgjdbc: javac" "$(tail -3 "$LOGDIR/auto-javac.log" | tr '\n' ' ')"
        fi
    else
        it_fail "pgjdbc" "javac or /usr/share/java/postgresql.jar missing (openjdk-17-jdk-headless, libpostgresql-jdbc-java)"
    fi

    # SIGTERM with auto clients idle between transactions: closed at once, exit 0.
    local holders=() i t0
    for i in 1 2 3; do
        $PY -c 'import sys, time, psycopg
c = psycopg.connect(sys.argv[1], autocommit=True); c.execute("select 1"); time.sleep(30)' \
            "host=127.0.0.1 port=$PGPIN_PORT user=postgres dbname=appdb" 2>/dev/null &
        holders+=($!)
    done
    sleep 1.5
    t0=$SECONDS
    pgpin_stop "$pid" TERM 20
    if [[ $PGPIN_RC == 0 ]] && ((SECONDS - t0 < 10)); then
        it_ok "drivers: SIGTERM with idle auto clients: exit 0 in $((SECONDS - t0)) s"
    else
        it_fail "drivers: SIGTERM with idle auto clients" "exit ${PGPIN_RC:-?} after $((SECONDS - t0)) s"
    fi
    kill "${holders[@]}" 2>/dev/null
    wait "${holders[@]}" 2>/dev/null
}

part_perdb() {
    local env
    if ! suite_start perdb "appdb = host=127.0.0.1 port=$PG_PORT dbname=appdb pool_mode=auto pool_size=2
sessdb = host=127.0.0.1 port=$PG_PORT dbname=sessdb" "pool_mode = session"; then
        it_fail "perdb: pgpin starts" "see $LOG"
        return
    fi
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_auto[perdb]" "$IT_BIN_DIR/it_auto" "${env[@]}" IT_AUTO_PART=perdb
    suite_stop "$PGPIN_PID" "perdb: pgpin"
}

part_idle() {
    local env
    if ! suite_start idle "$(suite_db_line appdb)" "pool_mode = auto
client_idle_timeout = 1"; then
        it_fail "idle: pgpin starts" "see $LOG"
        return
    fi
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_auto[idle]" "$IT_BIN_DIR/it_auto" "${env[@]}" IT_AUTO_PART=idle
    suite_stop "$PGPIN_PID" "idle: pgpin"
}

part_refuse() {
    local cfg=$WORK/refuse.ini log=$LOGDIR/auto-refuse.log rc out port
    # At start: global, then per database.
    PGPIN_CFG_EXTRA="pool_mode = transaction" pgpin_write_config "$cfg" "$(pg_free_port)" \
        "$(suite_db_line appdb)"
    out=$(timeout 20 "$PGPIN_BIN" "$cfg" 2>&1)
    rc=$?
    if ((rc != 0)) && grep -q 'transaction' <<<"$out" && grep -q 'auto' <<<"$out"; then
        it_ok "refuse: pool_mode = transaction refused at start (exit $rc, the reason given)"
    else
        it_fail "refuse: pool_mode = transaction refused at start" "exit $rc: $(head -3 <<<"$out" | tr '\n' ' ')"
    fi
    pgpin_write_config "$cfg" "$(pg_free_port)" \
        "appdb = host=127.0.0.1 port=$PG_PORT dbname=appdb pool_mode=transaction"
    out=$(timeout 20 "$PGPIN_BIN" "$cfg" 2>&1)
    rc=$?
    if ((rc != 0)) && grep -q 'transaction' <<<"$out"; then
        it_ok "refuse: a database's pool_mode=transaction refused at start (exit $rc)"
    else
        it_fail "refuse: a database's pool_mode=transaction refused at start" "exit $rc: $(head -3 <<<"$out" | tr '\n' ' ')"
    fi
    # RELOAD: the running (auto) configuration stays; the new database does not appear.
    port=$(pg_free_port)
    PGPIN_CFG_EXTRA="pool_mode = auto" pgpin_write_config "$cfg" "$port" "$(suite_db_line appdb)"
    if ! pgpin_start "$PGPIN_BIN" "$cfg" "$log"; then
        it_fail "refuse: pgpin starts" "see $log"
        return
    fi
    PGPIN_CFG_EXTRA="pool_mode = transaction" pgpin_write_config "$cfg" "$port" \
        "$(suite_db_line appdb)
sessdb = host=127.0.0.1 port=$PG_PORT dbname=sessdb"
    kill -HUP "$PGPIN_PID"
    if it_wait_grep "$log" 'reload failed, keeping the running configuration' 10; then
        it_ok "refuse: RELOAD with pool_mode = transaction is refused: $(grep -m1 -o 'reload failed.*' "$log" | cut -c1-160)"
    else
        it_fail "refuse: RELOAD with pool_mode = transaction is refused" "$(tail -3 "$log" | tr '\n' ' ')"
    fi
    out=$(suite_psql "$port" sessdb -Atc 'select 1' 2>&1)
    if grep -q 'does not exist in pgpin' <<<"$out"; then
        it_ok "refuse: the refused config's new database is not served"
    else
        it_fail "refuse: the refused config's new database is not served" "$out"
    fi
    out=$(suite_psql "$port" appdb -Atc 'select 1' 2>&1)
    if [[ $out == 1 ]]; then it_ok "refuse: the old configuration keeps serving"; else
        it_fail "refuse: the old configuration keeps serving" "$out"
    fi
    suite_stop "$PGPIN_PID" "refuse: pgpin"
}

part_main
part_drivers
part_perdb
part_idle
part_refuse
for log in "$LOGDIR"/auto-*.log; do
    [[ -f $log ]] || continue
    pgpin_log_clean "$log" || it_fail "no sanitizer report" "$log"
done
it_done
