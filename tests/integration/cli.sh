#!/usr/bin/env bash
# tests/integration/cli.sh - psql and pgbench through a running pgpin.
# Env: PGPIN_PORT (pgpin's port on 127.0.0.1), PG_PORT (Postgres, for direct checks).
# The pgpin config must serve appdb and have a "*" entry (pgbench uses database "bench").
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
: "${PGPIN_PORT:?}" "${PG_PORT:?}"
BENCH_SECS=${BENCH_SECS:-10}

ppsql() { PGCONNECT_TIMEOUT=10 timeout 60 psql -X -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres "$@"; }
dpsql() { PGCONNECT_TIMEOUT=10 timeout 60 psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

t_select1() {
    local out
    out=$(ppsql -d appdb -Atc 'select 1') || return 1
    [[ $out == 1 ]] || { echo "got '$out'"; return 1; }
}
t_multi() {
    local out
    out=$(ppsql -d appdb -Atc "select 1; select 'two'; select 3") || return 1
    [[ $out == $'1\ntwo\n3' ]] || { echo "got '$out'"; return 1; }
}
t_script() {
    local out
    out=$(ppsql -d appdb -At -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
CREATE TEMP TABLE cli_t (x int);
INSERT INTO cli_t SELECT generate_series(1, 1000);
SELECT sum(x) FROM cli_t;
COMMIT;
\copy (SELECT x FROM generate_series(1, 3) x) TO STDOUT
SELECT current_database();
SQL
    ) || return 1
    [[ $out == $'BEGIN\nCREATE TABLE\nINSERT 0 1000\n500500\nCOMMIT\n1\n2\n3\nappdb' ]] ||
        { echo "got '$out'"; return 1; }
}
t_error_exit() {
    # An error fails psql with ON_ERROR_STOP, and the next session is fine.
    if ppsql -d appdb -v ON_ERROR_STOP=1 -Atc 'select 1/0' >/dev/null 2>&1; then
        echo "division by zero did not fail"
        return 1
    fi
    t_select1
}
t_list() {
    ppsql -d appdb -Atl | grep -q '^appdb|' || { echo "appdb not in \\l"; return 1; }
}

# pgbench_run NAME ARGS...: require 0 failed transactions and tps > 0.
pgbench_run() {
    local name=$1 out failed tps
    shift
    out=$(PGCONNECT_TIMEOUT=10 timeout $((BENCH_SECS + 60)) pgbench -h 127.0.0.1 -p "$PGPIN_PORT" \
        -U postgres "$@" bench 2>&1)
    local rc=$?
    failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out")
    tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out" | head -1)
    echo "# pgbench $name: rc=$rc failed=${failed:-?} tps=${tps:-?}"
    if ((rc != 0)) || [[ $failed != 0 ]] || [[ -z $tps ]] ||
        ! awk -v t="$tps" 'BEGIN { exit !(t > 0) }'; then
        it_fail "pgbench $name" "rc=$rc failed=${failed:-?} tps=${tps:-?}: $(tail -5 <<<"$out" |
            tr '\n' ' ')"
        return
    fi
    it_ok "pgbench $name ($tps tps)"
}

it_check "psql select 1" t_select1
it_check "psql multi-statement query" t_multi
it_check "psql script with transaction and \\copy" t_script
it_check "psql error then new session" t_error_exit
it_check "psql \\l" t_list

if out=$(PGCONNECT_TIMEOUT=10 timeout 180 pgbench -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres -i \
    -s 2 -q bench 2>&1); then
    rows=$(dpsql -d bench -Atc 'select count(*) from pgbench_accounts' 2>&1)
    if [[ $rows == 200000 ]]; then it_ok "pgbench -i -s 2"; else it_fail "pgbench -i -s 2" "$rows"; fi
    pgbench_run "-S (select only)" -S -T "$BENCH_SECS" -c 16 -j 2
    pgbench_run "tpcb-like" -T "$BENCH_SECS" -c 16 -j 2
else
    it_fail "pgbench -i -s 2" "$(tail -5 <<<"$out" | tr '\n' ' ')"
fi
it_done
