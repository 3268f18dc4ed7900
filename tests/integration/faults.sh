#!/usr/bin/env bash
# tests/integration/faults.sh - Postgres going away under pgpin (issue 9, points 1-3), against
# Postgres servers of its own:
#   restart-session  `pg_ctl restart -m fast` a third into a 60 s run (see "Wall time") of
#                    pgbench (background load, 4 clients) and faults_check (one client inserting
#                    sequence numbers through pgpin, reconnecting on failure): pgpin stays up,
#                    the checker's writes resume, every acknowledged insert is in the table
#                    afterwards, a new pgbench run through pgpin has no failure.
#   inflight         (after each restart run) a query running when Postgres restarts fails with
#                    the server's error: FATAL 57P01 ending the session in session mode, ERROR
#                    57P01 with the session going on on another backend in auto mode.
#   down-wait        Postgres stopped: a new client waits in pgpin and is served once Postgres
#                    is started again (not failed at once).
#   down-timeout     a server nobody listens on: the client gets 08006 after query_wait_timeout,
#                    naming the connect error; a database the server does not have still fails
#                    at once (3D000).
#   restart-auto     the restart run again with pool_mode = auto (FAULTS_AUTO_SECS, default 20):
#                    an autocommit insert in flight fails with an ERROR and the session goes on.
#   dbos             the DBOS TypeScript SDK (tests/dbos/restart.mjs) starts a workflow every
#                    100 ms for 20 s through pgpin while Postgres restarts: every workflow
#                    completes exactly once, one operation_outputs row per step.
#   ha               a streaming-replication pair (primary + pg_basebackup -R standby) behind
#                    `host=127.0.0.1,127.0.0.1,127.0.0.1 port=P1,P2,P3 target_session_attrs=
#                    read-write`: (A) primary stopped -m immediate, standby promoted: writes
#                    through pgpin succeed again within 10 s of the promotion, no acknowledged
#                    insert lost (synchronous replication), the budget's control connection is
#                    on the new primary; (B) that primary fenced (default_transaction_read_only
#                    = on, reload) and a new standby promoted: pgpin retires the read-only
#                    server's connections and follows, again within 10 s.
# Wall time: the issue's 60 s session restart run is kept in one configuration, the plain build
# with one worker (tests/run.sh exports PGPIN_WORKERS; ASAN_OPTIONS marks the sanitizer build);
# the other passes run it for 20 s, which still restarts Postgres under load. FAULTS_QUICK=0 / 1
# forces the 60 s / 20 s run; FAULTS_RESTART_SECS sets it outright. FAULTS_PARTS=a,b,... runs
# only some parts.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=faults
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-faults.XXXXXX)
chmod 755 "$WORK" # the Postgres servers of the ha part live below it, run as postgres
pg_on_cleanup "rm -rf '$WORK'"
CHECK=$IT_BIN_DIR/faults_check
QUICK=${FAULTS_QUICK:-}
if [[ -z $QUICK ]]; then
    QUICK=1
    [[ ${PGPIN_WORKERS:-0} == 1 && -z ${ASAN_OPTIONS:-} ]] && QUICK=0
fi
RESTART_SECS=${FAULTS_RESTART_SECS:-60}
((QUICK)) && RESTART_SECS=${FAULTS_RESTART_SECS:-20}
AUTO_SECS=${FAULTS_AUTO_SECS:-20}
PARTS=${FAULTS_PARTS:-restart-session,down-wait,down-timeout,restart-auto,dbos,ha}
want_part() { [[ ,$PARTS, == *",$1,"* ]]; }
ms() { date +%s%3N; }
pgctl() { runuser -u postgres -- "$PG_BINDIR/pg_ctl" "$@"; }
PROXY_USER="user=postgres connect_timeout=60"

if [[ ! -x $CHECK ]]; then
    it_fail "faults_check built" "$CHECK missing"
    it_done
    exit 1
fi

# This suite's own Postgres (PG_PORT now points at it). Durable commits, so that "acknowledged"
# means committed for the checker.
PG_EXTRA_OPTS="-c synchronous_commit=on" pg_start
for db in faults bench; do
    pg_psql -d postgres -c "CREATE DATABASE $db" >/dev/null || pg_die "create $db"
done
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q bench >"$WORK/pgbench-init.log" 2>&1 ||
    pg_die "pgbench -i: $(tail -3 "$WORK/pgbench-init.log")"
# Also starts a stopped server, with the options it last ran with (postmaster.opts).
pg_restart() { pgctl -D "$PG_DIR/data" -l "$PG_LOG" -m fast -w -t 60 restart >/dev/null 2>&1; }

# restart_run LABEL SECS: checker + pgbench through the instance on PGPIN_PORT, one fast restart
# of Postgres at a third of the run; the results are checked here.
restart_run() {
    local label=$1 secs=$2 table ack out cpid bpid t0 t1 verify line
    table=t_${label//-/_}
    ack=$WORK/$label.ack
    out=$LOGDIR/faults-$label-check.log
    suite_dpsql -d faults -c "DROP TABLE IF EXISTS $table" -c "CREATE TABLE $table (seq bigint PRIMARY KEY)" >/dev/null ||
        it_fail "$label: create $table" "psql failed"
    timeout -k 5 $((secs + 90)) "$CHECK" run "host=127.0.0.1 port=$PGPIN_PORT $PROXY_USER dbname=faults" \
        "$table" "$secs" "$ack" >"$out" 2>&1 &
    cpid=$!
    timeout -k 5 $((secs + 90)) pgbench -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres -n -c 4 -j 2 \
        -T "$secs" bench >"$LOGDIR/faults-$label-pgbench.log" 2>&1 &
    bpid=$!
    sleep $((secs / 3))
    t0=$(ms)
    if pg_restart; then
        t1=$(ms)
        echo "# $label: pg_ctl restart -m fast took $((t1 - t0)) ms"
    else
        it_fail "$label: pg_ctl restart -m fast" "see $PG_LOG"
    fi
    wait "$cpid"
    wait "$bpid"
    sed 's/^/# checker: /' "$out"
    grep -E 'aborted|number of (transactions actually processed|failed)' \
        "$LOGDIR/faults-$label-pgbench.log" | head -6 | sed 's/^/# pgbench (background load): /'
    if pgpin_alive "$PGPIN_PID"; then it_ok "$label: pgpin stays up across the restart"; else
        it_fail "$label: pgpin stays up across the restart" "pgpin died; see $LOG"
        return 1
    fi
    line=$(grep '^summary' "$out")
    local acked outages recovered errors
    acked=$(sed -nE 's/.* acked=([0-9]+).*/\1/p' <<<"$line")
    errors=$(sed -nE 's/.* errors=([0-9]+).*/\1/p' <<<"$line")
    outages=$(sed -nE 's/.* outages=([0-9]+).*/\1/p' <<<"$line")
    recovered=$(sed -nE 's/.* recovered=([0-9]+).*/\1/p' <<<"$line")
    if [[ ${recovered:-0} == 1 && ${acked:-0} -gt 0 ]] && grep -q "^outage .*to_ms=[0-9]" "$out" &&
        (($(awk -v t="$t1" '$2 > t' "$ack" | wc -l) > 0)); then
        local secs_down
        secs_down=$(sed -nE 's/^outage .* secs=([0-9.]+) .*/\1/p' "$out" | sort -n | tail -1)
        it_ok "$label: writes resume after the restart (longest outage ${secs_down} s; $line)"
    elif [[ ${recovered:-0} == 1 && ${outages:-0} == 0 && -n ${t1:-} ]] &&
        (($(awk -v t="$t1" '$2 > t' "$ack" | wc -l) > 0)); then
        # Auto mode: an idle client holds no server, so a restart can pass it by unnoticed.
        local gap
        gap=$(sed -nE 's/.* max_gap_ms=([0-9]+).*/\1/p' <<<"$line")
        it_ok "$label: writes resume after the restart (no error seen; longest gap $gap ms; $line)"
    else
        it_fail "$label: writes resume after the restart" "${line:-no summary}; $(tail -2 "$out" | tr '\n' ' ')"
    fi
    # The queries in flight (or, session mode, the session) at the restart fail; connecting
    # again waits in pgpin instead of failing while Postgres is not back.
    if ((${errors:-99} <= 2)); then it_ok "$label: the checker saw ${errors} error(s), not one per retry"; else
        it_fail "$label: the checker saw at most 2 errors" "$line"
    fi
    verify=$("$CHECK" verify "$(pg_direct_conninfo) dbname=faults" "$table" "$ack" 2>&1)
    if [[ $? == 0 ]]; then it_ok "$label: every acknowledged insert is in the table ($verify)"; else
        it_fail "$label: every acknowledged insert is in the table" "$verify"
    fi
    local t2 rc
    t2=$(ms)
    out=$(suite_psql "$PGPIN_PORT" faults -Atc "SELECT count(*) FROM $table" 2>&1)
    rc=$?
    if ((rc == 0)); then it_ok "$label: a new client is served after the restart ($(($(ms) - t2)) ms)"; else
        it_fail "$label: a new client is served after the restart" "$out"
    fi
    out=$(timeout -k 5 60 pgbench -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres -n -c 4 -j 2 -T 3 bench 2>&1)
    rc=$?
    if ((rc == 0)); then
        it_ok "$label: pgbench through pgpin after the restart: no failure ($(grep -m1 -oE 'tps = [0-9.]+' <<<"$out"))"
    else
        it_fail "$label: pgbench through pgpin after the restart" "exit $rc: $(tail -3 <<<"$out" | tr '\n' ' ')"
    fi
}

DBLINES="faults = host=127.0.0.1 port=$PG_PORT dbname=faults
bench = host=127.0.0.1 port=$PG_PORT dbname=bench"

part_restart() { # part_restart MODE SECS LABEL
    local mode=$1 secs=$2 label=$3
    if ! suite_start "$label" "$DBLINES" "pool_mode = $mode
default_pool_size = 20
query_wait_timeout = 60"; then
        it_fail "$label: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID
    echo "# $label: pgpin pid $pid port $PGPIN_PORT (pool_mode = $mode), $secs s run; log $LOG"
    restart_run "$label" "$secs"
    part_inflight "$mode"
    if [[ $mode == session ]] && want_part down-wait; then part_down_wait; fi
    suite_stop "$pid" "$label: pgpin"
}

# A query running when Postgres restarts fails with the server's error; in auto mode the session
# goes on (on another backend), in session mode it ends.
part_inflight() {
    local mode=$1 out rc pids
    suite_psql "$PGPIN_PORT" faults -At -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(20)" \
        -c "SELECT pg_backend_pid()" >"$WORK/inflight.out" 2>&1 &
    local ppid=$!
    sleep 1.5
    pg_restart || it_fail "inflight ($mode): pg_ctl restart" "see $PG_LOG"
    wait "$ppid"
    rc=$?
    out=$(tr '\n' ' ' <"$WORK/inflight.out")
    mapfile -t pids < <(grep -E '^[0-9]+$' "$WORK/inflight.out")
    if [[ $mode == auto ]]; then
        if ((rc == 0 && ${#pids[@]} == 2)) && [[ ${pids[0]} != "${pids[1]}" ]] &&
            grep -q '^ERROR:  terminating connection due to administrator command' "$WORK/inflight.out"; then
            it_ok "inflight (auto): the running query fails with the server's error (ERROR 57P01), the session goes on on another backend"
        else
            it_fail "inflight (auto): the running query fails with the server's error, the session goes on" "exit $rc: $out"
        fi
    elif ((rc == 2 && ${#pids[@]} == 1)) && grep -q 'FATAL:  terminating connection due to administrator command' "$WORK/inflight.out"; then
        it_ok "inflight (session): the running query fails with the server's error (FATAL 57P01) and the session ends"
    else
        it_fail "inflight (session): the running query fails with the server's FATAL and the session ends" "exit $rc: $out"
    fi
}

# Postgres stopped: a client that comes meanwhile waits and is served once it is back.
part_down_wait() {
    local out rc t0 el cpid
    pgctl -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null || it_fail "down-wait: stop postgres" "see $PG_LOG"
    t0=$(ms)
    suite_psql "$PGPIN_PORT" faults -Atc "SELECT 'served'" >"$WORK/down-wait.out" 2>&1 &
    cpid=$!
    sleep 3
    pg_restart || it_fail "down-wait: start postgres again" "see $PG_LOG"
    wait "$cpid"
    rc=$?
    el=$(($(ms) - t0))
    out=$(cat "$WORK/down-wait.out")
    # (A wait NOTICE may come first: query_wait_notice.)
    if ((rc == 0 && el >= 2500)) && grep -qx served <<<"$out"; then
        it_ok "down-wait: a client arriving while Postgres is down waits and is served ($el ms)"
    else
        it_fail "down-wait: a client arriving while Postgres is down waits and is served" "exit $rc after $el ms: $out"
    fi
}

# Errors: unreachable -> wait then 08006 with the reason; 3D000 -> at once.
part_down_timeout() {
    local dead out t0 el
    dead=$(pg_free_port)
    if ! suite_start down-timeout "dead = host=127.0.0.1 port=$dead dbname=faults
nodb = host=127.0.0.1 port=$PG_PORT dbname=no_such_database" "query_wait_timeout = 2
query_wait_notice = 0"; then
        it_fail "down-timeout: pgpin starts" "see $LOG"
        return
    fi
    t0=$(ms)
    out=$("$CHECK" login "$PGPIN_PORT" dead 2>&1)
    el=$(($(ms) - t0))
    if ((el >= 1800)) && grep -q '^error 08006 ' <<<"$out" && grep -q 'Connection refused' <<<"$out" &&
        grep -q 'query_wait_timeout' <<<"$out"; then
        it_ok "down-timeout: unreachable server: 08006 after query_wait_timeout naming the connect error ($el ms)"
    else
        it_fail "down-timeout: unreachable server: 08006 after query_wait_timeout naming the connect error" "$el ms: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    fi
    t0=$(ms)
    out=$("$CHECK" login "$PGPIN_PORT" nodb 2>&1)
    el=$(($(ms) - t0))
    if ((el < 1500)) && grep -q '^error 3D000 ' <<<"$out"; then
        it_ok "down-timeout: a database the server lacks still fails at once (3D000, $el ms)"
    else
        it_fail "down-timeout: a database the server lacks still fails at once" "$el ms: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    fi
    suite_stop "$PGPIN_PID" "down-timeout: pgpin"
}

# --- dbos ----------------------------------------------------------------------------------------
part_dbos() {
    local dbos=$here/../dbos app_log rc t0 t1 before after created
    if ! command -v node >/dev/null; then
        it_ok "dbos SKIPPED: node not installed # SKIP"
        return
    fi
    if [[ ! -f $dbos/node_modules/@dbos-inc/dbos-sdk/package.json ]] &&
        ! (cd "$dbos" && timeout -k 5 180 npm ci --prefer-offline --no-audit --no-fund) \
            >"$LOGDIR/faults-npm.log" 2>&1; then
        it_ok "dbos SKIPPED: npm ci failed, see $LOGDIR/faults-npm.log # SKIP"
        return
    fi
    if ! suite_start dbos "* = host=127.0.0.1 port=$PG_PORT" "pool_mode = session
default_pool_size = 20
query_wait_timeout = 60"; then
        it_fail "dbos: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID
    app_log=$LOGDIR/faults-dbos-app.log
    (cd "$dbos" && DBOS_E2E_SYSDB_URL="postgres://postgres@127.0.0.1:$PGPIN_PORT/dbos_faults" \
        DBOS_E2E_DIRECT_URL="postgres://postgres@127.0.0.1:$PG_PORT/dbos_faults" \
        DBOS_RESTART_SECS=20 timeout -k 5 170 node restart.mjs) </dev/null >"$app_log" 2>&1 &
    local apid=$!
    if it_wait_grep "$app_log" '^# streaming' 60; then
        sleep 5
        t0=$(ms)
        pg_restart || it_fail "dbos: pg_ctl restart -m fast" "see $PG_LOG"
        t1=$(ms)
        echo "# dbos: Postgres restarted ($((t1 - t0)) ms) while workflows were streaming"
    else
        it_fail "dbos: the app starts streaming workflows" "$(tail -5 "$app_log" | tr '\n' ' ' | cut -c1-300)"
    fi
    wait "$apid"
    rc=$?
    sed -E '/^((not )?ok - |#)/!s/^/# /' "$app_log" | grep -vE '^# created_ms' | tail -40
    IT_PASSED=$((IT_PASSED + $(grep -c '^ok - ' "$app_log")))
    IT_FAILED=$((IT_FAILED + $(grep -c '^not ok - ' "$app_log")))
    ((rc == 0)) || it_fail "dbos: the app exits 0" "exit $rc"
    created=$(sed -n 's/^# created_ms //p' "$app_log")
    if [[ -n $created && -n ${t1:-} ]]; then
        before=$(tr ' ' '\n' <<<"$created" | awk -v t="$t0" '$1 < t' | wc -l)
        after=$(tr ' ' '\n' <<<"$created" | awk -v t="$t1" '$1 > t' | wc -l)
        if ((before > 0 && after > 0)); then
            it_ok "dbos: the stream spans the restart ($before workflows created before it, $after after)"
        else
            it_fail "dbos: the stream spans the restart" "$before before, $after after"
        fi
    fi
    suite_stop "$pid" "dbos: pgpin"
}

# --- ha ------------------------------------------------------------------------------------------
HA=
ha_conf() { # ha_conf DIR PORT MORE...: settings appended to DIR/postgresql.conf
    local dir=$1 port=$2
    shift 2
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$HA'"
        printf '%s\n' "$@"
    } >>"$dir/postgresql.conf"
}
ha_start() { pgctl -D "$HA/$1" -l "$HA/$1.log" -w -t 60 start >/dev/null; }
ha_psql() { # ha_psql PORT ARGS...
    local port=$1
    shift
    PGCONNECT_TIMEOUT=10 timeout 30 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}
ha_standby() { # ha_standby NAME FROM_PORT PORT: pg_basebackup -R, started, streaming
    local name=$1 from=$2 port=$3 i
    runuser -u postgres -- "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$from" -U postgres \
        -D "$HA/$name" -R -X stream --no-sync >"$HA/$name.basebackup.log" 2>&1 || return 1
    ha_conf "$HA/$name" "$port" "synchronous_standby_names = ''"
    ha_start "$name" || return 1
    for ((i = 0; i < 100; i++)); do
        [[ $(ha_psql "$from" -d postgres -Atc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null) -ge 1 ]] && return 0
        sleep 0.2
    done
    return 1
}
ha_stop_all() {
    local d
    for d in p s t; do
        [[ -f $HA/$d/postmaster.pid ]] && pgctl -D "$HA/$d" -m immediate -w -t 30 stop >/dev/null 2>&1
    done
    return 0
}

# ha_failover LABEL ACTION: the checker writes through pgpin while ACTION (a function) moves the
# primary; prints the figures and checks the resumption within 10 s of the promotion (ACTION
# sets PROMOTE_MS) and every acknowledged insert on NEW_PORT.
ha_failover() {
    local label=$1 action=$2 table ack out cpid first line verify secs=18
    table=t_${label}
    ack=$WORK/ha-$label.ack
    out=$LOGDIR/faults-ha-$label-check.log
    ha_psql "$OLD_PORT" -d ha -c "CREATE TABLE $table (seq bigint PRIMARY KEY)" >/dev/null ||
        it_fail "ha $label: create $table" "psql failed"
    timeout -k 5 $((secs + 90)) "$CHECK" run "host=127.0.0.1 port=$PGPIN_PORT $PROXY_USER dbname=ha" \
        "$table" "$secs" "$ack" >"$out" 2>&1 &
    cpid=$!
    sleep 4
    PROMOTE_MS=
    "$action"
    wait "$cpid"
    sed 's/^/# checker: /' "$out"
    line=$(grep '^summary' "$out")
    first=$(awk -v t="${PROMOTE_MS:-0}" '$2 > t { print $2; exit }' "$ack")
    if [[ -z $PROMOTE_MS ]]; then
        it_fail "ha $label: promotion" "see $HA/*.log"
    elif [[ -n $first ]] && ((first - PROMOTE_MS <= 10000)); then
        echo "# ha $label: failover $(((first - PROMOTE_MS))) ms from pg_ctl promote to the first acknowledged write through pgpin"
        it_ok "ha $label: writes through pgpin succeed again $(awk -v d=$((first - PROMOTE_MS)) 'BEGIN{printf "%.1f", d/1000}') s after the promotion (<= 10 s)"
    else
        it_fail "ha $label: writes through pgpin succeed again within 10 s of the promotion" "first write after promotion at ${first:-never} (promote $PROMOTE_MS); $line"
    fi
    verify=$("$CHECK" verify "host=127.0.0.1 port=$NEW_PORT user=postgres dbname=ha" "$table" "$ack" 2>&1)
    if [[ $? == 0 ]]; then it_ok "ha $label: every acknowledged insert is on the new primary ($verify)"; else
        it_fail "ha $label: every acknowledged insert is on the new primary" "$verify"
    fi
    # The budget's control connection reads the new primary (a reading every second here).
    local i n=0
    for ((i = 0; i < 100; i++)); do
        n=$(ha_psql "$NEW_PORT" -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgpin-limits'" 2>/dev/null)
        [[ $n == 1 ]] && break
        sleep 0.2
    done
    if [[ $n == 1 ]]; then it_ok "ha $label: the budget's control connection follows to the new primary"; else
        it_fail "ha $label: the budget's control connection follows to the new primary" "$n pgpin-limits backends there"
    fi
}

# (A) the primary dies, the standby is promoted.
ha_kill_promote() {
    pgctl -D "$HA/p" -m immediate -w -t 30 stop >/dev/null || it_fail "ha kill: stop the primary" "see $HA/p.log"
    sleep 1
    PROMOTE_MS=$(ms)
    pgctl -D "$HA/s" -w -t 60 promote >/dev/null || PROMOTE_MS=
    echo "# ha kill: primary $P1 stopped -m immediate; standby $P2 promoted ($(($(ms) - ${PROMOTE_MS:-0})) ms)"
}
# (B) the primary is fenced read-only (it stays up) and its standby promoted.
ha_fence_promote() {
    local lsn i
    ha_psql "$P2" -d postgres -c "ALTER SYSTEM SET default_transaction_read_only = on" \
        -c "SELECT pg_reload_conf()" >/dev/null || it_fail "ha fence: fence $P2" "psql failed"
    # Asynchronous replication here: let the standby replay all the fenced primary wrote.
    lsn=$(ha_psql "$P2" -d postgres -Atc "SELECT pg_current_wal_lsn()")
    for ((i = 0; i < 100; i++)); do
        [[ $(ha_psql "$P3" -d postgres -Atc "SELECT pg_last_wal_replay_lsn() >= '$lsn'") == t ]] && break
        sleep 0.1
    done
    PROMOTE_MS=$(ms)
    pgctl -D "$HA/t" -w -t 60 promote >/dev/null || PROMOTE_MS=
    echo "# ha fence: primary $P2 fenced (default_transaction_read_only = on); standby $P3 promoted"
}

part_ha() {
    HA=$(mktemp -d "$WORK/ha.XXXXXX")
    chown postgres:postgres "$HA"
    pg_on_cleanup ha_stop_all
    P1=$(pg_free_port) P2=$(pg_free_port) P3=$(pg_free_port)
    while [[ $P2 == "$P1" ]]; do P2=$(pg_free_port); done
    while [[ $P3 == "$P1" || $P3 == "$P2" ]]; do P3=$(pg_free_port); done
    runuser -u postgres -- "$PG_BINDIR/initdb" -D "$HA/p" -A trust -U postgres -E UTF8 \
        --locale=C --no-sync >"$HA/initdb.log" 2>&1 || {
        it_fail "ha: initdb" "see $HA/initdb.log"
        return
    }
    ha_conf "$HA/p" "$P1" "wal_level = replica" "max_wal_senders = 10" "hot_standby = on" \
        "fsync = off" "synchronous_commit = on" "max_connections = 100"
    # Synchronous once the standby streams: an acknowledged commit is on both servers then.
    if ! ha_start p || ! ha_psql "$P1" -d postgres -c "CREATE DATABASE ha" >/dev/null ||
        ! ha_standby s "$P1" "$P2" ||
        ! ha_psql "$P1" -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
            -c "SELECT pg_reload_conf()" >/dev/null; then
        it_fail "ha: primary $P1 and streaming standby $P2 start" "see $HA/*.log"
        return
    fi
    echo "# ha: primary 127.0.0.1:$P1, synchronous standby 127.0.0.1:$P2 (third node $P3 later)"
    if ! suite_start ha "ha = host=127.0.0.1,127.0.0.1,127.0.0.1 port=$P1,$P2,$P3 dbname=ha target_session_attrs=read-write" \
        "default_pool_size = 10
query_wait_timeout = 60
limits_refresh_interval = 1
server_connect_timeout = 3"; then
        it_fail "ha: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID
    OLD_PORT=$P1 NEW_PORT=$P2
    ha_failover kill ha_kill_promote
    # A standby of the new primary for (B).
    if ha_standby t "$P2" "$P3"; then
        OLD_PORT=$P2 NEW_PORT=$P3
        ha_failover fence ha_fence_promote
        local n
        n=$(ha_psql "$P2" -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE application_name <> 'pgpin-limits' AND backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null)
        echo "# ha fence: $n client backends left on the fenced server $P2"
        if grep -q 'connections there are retired' "$LOG"; then
            it_ok "ha fence: pgpin retired the read-only server's connections"
        else
            it_fail "ha fence: pgpin retired the read-only server's connections" "no retirement in $LOG"
        fi
    else
        it_fail "ha: a standby $P3 of the new primary starts" "see $HA/t*.log"
    fi
    if pgpin_alive "$pid"; then it_ok "ha: pgpin stays up"; fi
    suite_stop "$pid" "ha: pgpin"
}

want_part restart-session && part_restart session "$RESTART_SECS" restart-session
want_part down-timeout && part_down_timeout
want_part restart-auto && part_restart auto "$AUTO_SECS" restart-auto
want_part dbos && part_dbos
want_part ha && part_ha
it_done
