#!/usr/bin/env bash
# tests/integration/check.sh - `pgpin check CONFIG` against the throwaway Postgres and Debian's
# PgBouncer in front of it:
#   direct     passes (exit 0), the table shows the server's max_connections and a budget
#              that adds up; the "*" entry is skipped; pool_size 3 is a warning, not a failure
#   role       a role with CONNECTION LIMIT 7 caps the budget; Postgres's statement log shows
#              the listening backend runs nothing after LISTEN and NOTIFY comes from another
#   budget 0   (reserve_headroom larger than the server) fails
#   PgBouncer  pool_mode = transaction: fails on LISTEN/NOTIFY naming transaction mode;
#              pool_mode = session: passes; both in one config: one failure line, for the first
#   failures   a port nobody listens on, a database that does not exist: exit 1 with the reason
#   usage      missing file, bad file, missing argument: exit 2
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=check
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-check.XXXXXX)
chmod 755 "$WORK" # PgBouncer runs as postgres and keeps its files in here
pg_on_cleanup "rm -rf '$WORK'"

# run_check NAME DBLINES [EXTRA]: write a config, run `pgpin check` on it. Sets OUT (stdout and
# stderr) and RC; the output is kept in LOGDIR/check-NAME.log and shown with "# ".
run_check() {
    local name=$1 cfg=$WORK/$1.ini
    PGPIN_CFG_EXTRA=${3:-} pgpin_write_config "$cfg" "$(pg_free_port)" "$2"
    OUT=$(PGUSER=postgres timeout -k 5 120 "$PGPIN_BIN" check "$cfg" 2>&1)
    RC=$?
    printf '%s\n' "$OUT" >"$LOGDIR/check-$name.log"
    printf '# %s\n' "${OUT//$'\n'/$'\n'# }"
}
# row NAME: the table row of database NAME (columns: database server result version max
# reserved others headroom budget pool_size listen/notify note...).
row() { awk -v n="$1" '$1 == n' <<<"$OUT"; }
col() { row "$1" | awk -v c="$2" '{ print $c }'; }
# expect NAME COND...: ok when the test command COND holds, else not ok with the output.
expect() {
    local name=$1
    shift
    if "$@"; then it_ok "$name"; else
        it_fail "$name" "exit $RC: $(tr '\n' ' ' <<<"$OUT" | cut -c1-600)"
    fi
}
has() { grep -qE -- "$1" <<<"$OUT"; }
nfail_lines() { grep -c '^FAIL ' <<<"$OUT"; }

MAX=$(suite_dpsql -d postgres -Atc 'SHOW max_connections')
RESERVED=$(suite_dpsql -d postgres -Atc "SELECT current_setting('superuser_reserved_connections')::int")
direct="host=127.0.0.1 port=$PG_PORT"

# --- direct ------------------------------------------------------------------------------------
# appdb: no user= (PGUSER=postgres stands in), no dbname= (the entry's name is the database).
run_check direct "appdb = $direct pool_size=10
small = $direct dbname=appdb user=postgres pool_size=3
* = $direct"
# The budget as the row states it: max - reserved - others - headroom (5% of max, at least 2).
adds_up() {
    local r
    r=$(row appdb)
    awk -v max="$MAX" -v res="$RESERVED" '{
        h = int((max * 5 + 99) / 100); if (h < 2) h = 2
        exit !($5 == max && $6 == res && $8 == h && $9 == $5 - $6 - $7 - $8 && $7 >= 0)
    }' <<<"$r"
}
expect "direct: exit 0" test "$RC" = 0
expect "direct: table header" has '^database +server +result +version +max +reserved +others +headroom +budget +pool_size +listen/notify +note'
expect "direct: appdb ok, server 127.0.0.1:$PG_PORT, version 15, listen/notify ok" \
    test "$(row appdb | awk '{ print $2, $3, substr($4, 1, 3), $10, $11 }')" = \
    "127.0.0.1:$PG_PORT ok 15. 10 ok"
expect "direct: max_connections $MAX read from the server, budget adds up" adds_up
expect "direct: appdb checked as PGUSER postgres, dbname from the entry name" \
    has "^appdb .*user postgres: libpq's default.*dbname appdb: the entry's name"
expect "direct: pool_size 3 is a warning, not a failure" \
    test "$(col small 3) $(col small 11)" = "warn ok"
expect "direct: the warning says why" has '^small .*pool_size 3 is below 5'
expect "direct: \"*\" skipped" test "$(col '*' 3)" = skipped
expect "direct: no FAIL line" test "$(nfail_lines)" = 0

# --- the listening connection sends nothing after LISTEN ----------------------------------------
# (Through a transaction-mode pooler a later query of its own could land on the server
# connection that listens and pick the notification up there: a false pass.) A role whose
# statements Postgres logs runs the check; in the server log, the backend that ran LISTEN must
# run nothing after it, and pg_notify comes from another backend. The role's connection limit
# shows up in the budget. (pg.sh keeps the server log next to the data directory.)
PG_LOGFILE=$(dirname "$(suite_dpsql -d postgres -Atc 'SHOW data_directory')")/postgres.log
PGOPTIONS='-c client_min_messages=warning' suite_dpsql -d postgres -c 'DROP ROLE IF EXISTS pgpin_check' \
    -c 'CREATE ROLE pgpin_check LOGIN CONNECTION LIMIT 7' \
    -c "ALTER ROLE pgpin_check SET log_statement = 'all'" >/dev/null
LOG_START=$(($(stat -c %s "$PG_LOGFILE") + 1))
run_check role "appdb = $direct dbname=appdb user=pgpin_check"
listen_only() {
    local log pid
    log=$(tail -c +"$LOG_START" "$PG_LOGFILE")
    pid=$(sed -nE 's/.*\[([0-9]+)\] LOG: +(statement|execute [^:]*): LISTEN pgpin_check_.*/\1/p' \
        <<<"$log" | tail -1)
    [[ -n $pid ]] || return 1
    # The last statement of the listening backend is the LISTEN, and pg_notify is not its.
    grep -E "\[$pid\] LOG: +(statement|execute)" <<<"$log" | tail -1 | grep -q 'LISTEN pgpin_check_' &&
        grep -E '\] LOG: +(statement|execute [^:]*): SELECT pg_notify' <<<"$log" |
        grep -qv "\[$pid\]"
}
expect "role: exit 0, budget capped by rolconnlimit 7" \
    test "$RC $(col appdb 3) $(col appdb 9) $(col appdb 11)" = "0 ok 7 ok"
expect "role: the note names the role's limit" has '^appdb .*role pgpin_check: rolconnlimit 7'
expect "role: the listening backend runs nothing after LISTEN; NOTIFY comes from another" \
    listen_only
suite_dpsql -d postgres -c 'DROP ROLE pgpin_check' >/dev/null

# --- budget 0: fails, and says which numbers ---------------------------------------------------
run_check budget0 "appdb = $direct dbname=appdb user=postgres" "reserve_headroom = 10000"
expect "budget 0: exit 1" test "$RC" = 1
expect "budget 0: row FAIL with budget 0, LISTEN/NOTIFY still ok" \
    test "$(col appdb 3) $(col appdb 9) $(col appdb 11)" = "FAIL 0 ok"
expect "budget 0: reason and fix" \
    has "^FAIL appdb \(127.0.0.1:$PG_PORT\): connection budget 0: max_connections $MAX .*fix: raise max_connections"

# --- PgBouncer in transaction mode, then session mode -------------------------------------------
pgb() { # pgb MODE: start one in front of appdb; sets PGB_PORT and PGB_PID
    PGB_PORT=$(pg_free_port)
    if pgb_start "$WORK/pgb-$1" "$PGB_PORT" "appdb = $direct dbname=appdb" "pool_mode = $1
default_pool_size = 5"; then
        it_ok "PgBouncer ($1 mode) starts on port $PGB_PORT"
    else
        it_fail "PgBouncer ($1 mode) starts" "see $WORK/pgb-$1"
        return 1
    fi
}
if pgb transaction; then
    TX_PID=$PGB_PID PGB_PORT_tx=$PGB_PORT
    run_check pgb-transaction "appdb = host=127.0.0.1 port=$PGB_PORT_tx dbname=appdb user=postgres"
    expect "pgbouncer transaction mode: exit 1" test "$RC" = 1
    expect "pgbouncer transaction mode: reachable, max_connections $MAX, listen/notify FAIL" \
        test "$(col appdb 3) $(col appdb 5) $(col appdb 11)" = "FAIL $MAX FAIL"
    expect "pgbouncer transaction mode: the failure names LISTEN/NOTIFY and transaction mode" \
        has "^FAIL appdb \(127.0.0.1:$PGB_PORT_tx\): LISTEN/NOTIFY: no notification within 3 s: .*breaks LISTEN/NOTIFY, most likely a pooler in transaction mode; fix: point this database at Postgres directly, or run the pooler in session mode$"
    expect "pgbouncer transaction mode: one failure line" test "$(nfail_lines)" = 1
fi
if pgb session; then
    SESSION_PID=$PGB_PID PGB_PORT_session=$PGB_PORT
    run_check pgb-session "appdb = host=127.0.0.1 port=$PGB_PORT_session dbname=appdb user=postgres"
    expect "pgbouncer session mode: exit 0" test "$RC" = 0
    expect "pgbouncer session mode: ok, max_connections $MAX, listen/notify ok" \
        test "$(col appdb 3) $(col appdb 5) $(col appdb 11)" = "ok $MAX ok"
fi
if [[ -n ${TX_PID:-} && -n ${SESSION_PID:-} ]]; then
    run_check pgb-both "viatx = host=127.0.0.1 port=$PGB_PORT_tx dbname=appdb user=postgres
viasession = host=127.0.0.1 port=$PGB_PORT_session dbname=appdb user=postgres
direct = $direct dbname=appdb user=postgres"
    expect "three entries, one through transaction mode: exit 1" test "$RC" = 1
    expect "three entries: only viatx fails" \
        test "$(col viatx 3) $(col viasession 3) $(col direct 3) $(nfail_lines)" = "FAIL ok ok 1"
    expect "three entries: the failure line is viatx's" has '^FAIL viatx .*transaction mode'
fi
for pid in ${TX_PID:-} ${SESSION_PID:-}; do
    pgpin_stop "$pid" TERM 10
done

# --- unreachable server, database that does not exist --------------------------------------------
FREE=$(pg_free_port)
run_check unreachable "gone = host=127.0.0.1 port=$FREE dbname=appdb user=postgres"
expect "unreachable: exit 1" test "$RC" = 1
expect "unreachable: row FAIL, nothing read" \
    test "$(row gone | awk '{ print $2, $3, $5, $9, $11 }')" = "127.0.0.1:$FREE FAIL - - -"
expect "unreachable: reason and fix" \
    has "^FAIL gone \(127.0.0.1:$FREE\): cannot connect: .*port $FREE failed: Connection refused.*; fix: check the entry's conninfo"
run_check nodb "nodb = $direct dbname=pgpin_no_such_db user=postgres"
expect "no such database: exit 1" test "$RC" = 1
expect "no such database: reason" \
    has '^FAIL nodb .*cannot connect: .*database "pgpin_no_such_db" does not exist; fix: '

# --- usage and config errors: exit 2 -------------------------------------------------------------
usage_rc() { # usage_rc NAME ARGS...: expect exit 2 and a message
    local name=$1 err rc
    shift
    err=$("$PGPIN_BIN" "$@" 2>&1)
    rc=$?
    if [[ $rc == 2 && -n $err ]]; then it_ok "$name: exit 2"; else
        it_fail "$name: exit 2" "exit $rc: $(head -3 <<<"$err" | tr '\n' ' ')"
    fi
}
usage_rc "missing config file" check "$WORK/no-such.ini"
printf '[pgpin]\npool_mode = transaction\n[databases]\nappdb = %s\n' "$direct" >"$WORK/bad.ini"
usage_rc "bad config file (pool_mode = transaction)" check "$WORK/bad.ini"
printf '[pgpin]\nlisten_port = 6432\n[databases]\n* = %s\n' "$direct" >"$WORK/star.ini"
usage_rc "nothing to check (only \"*\")" check "$WORK/star.ini"
usage_rc "check without CONFIG" check
if "$PGPIN_BIN" --help | grep -q 'pgpin check CONFIG'; then it_ok "--help lists check"; else
    it_fail "--help lists check" "$("$PGPIN_BIN" --help 2>&1 | head -5 | tr '\n' ' ')"
fi
it_done
