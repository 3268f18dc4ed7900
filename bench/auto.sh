#!/usr/bin/env bash
# bench/auto.sh - 200 clients, short transactions, through a pool of 20 server connections:
# pgpin pool_mode = auto vs PgBouncer pool_mode = transaction (the same pool size), interleaved.
#
#   bash bench/auto.sh [--rounds 2] [--secs 10] [--clients 200] [--pool 20] [--build-dir DIR]
#
# Starts a throwaway Postgres 15 (pgbench scale 10), PgBouncer 1.18 (transaction mode, no reset
# query) and pgpin (auto, log_level = warning) on free ports; per round runs pgbench -M extended
# (unnamed statements: PgBouncer 1.18 cannot carry named ones in transaction mode) against each:
#   select   -S: one SELECT per transaction (autocommit)
#   update   -N: BEGIN; UPDATE; SELECT; INSERT; END (simple-update, five statements)
# and prints tps and mean latency per run, plus each pooler's CPU time. Exits 1 if a run failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
ROUNDS=2
SECS=10
CLIENTS=200
POOL=20
BUILD_DIR=build
while (($#)); do
    case $1 in
    --rounds) ROUNDS=${2:?} && shift ;;
    --secs) SECS=${2:?} && shift ;;
    --clients) CLIENTS=${2:?} && shift ;;
    --pool) POOL=${2:?} && shift ;;
    --build-dir) BUILD_DIR=${2:?} && shift ;;
    *) sed -n '2,12p' "$0" && exit 2 ;;
    esac
    shift
done
pg_install_traps
PGPIN_BIN=$BUILD_DIR/pgpin
[[ -x $PGPIN_BIN ]] || pg_die "$PGPIN_BIN missing: build first"
WORK=$(mktemp -d /tmp/pgpin-bench-auto.XXXXXX)
chmod 755 "$WORK" # PgBouncer runs as postgres
pg_on_cleanup "rm -rf '$WORK'"
PG_EXTRA_OPTS="-c max_connections=400" pg_start
pg_psql -d postgres -c "CREATE DATABASE bench" >/dev/null || pg_die "create bench"
"$PG_BINDIR/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q -s 10 bench >/dev/null 2>&1 ||
    pg_die "pgbench -i"

# PgBouncer, transaction mode.
mkdir -p "$WORK/pgb"
PGB_PORT=$(pg_free_port)
echo '"postgres" ""' >"$WORK/pgb/userlist.txt"
cat >"$WORK/pgb/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/pgb/userlist.txt
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = 1000
server_reset_query =
logfile = $WORK/pgb/pgbouncer.log
log_connections = 0
log_disconnections = 0
EOF
chown -R postgres:postgres "$WORK/pgb"
env --default-signal=INT,QUIT /usr/sbin/pgbouncer -u postgres "$WORK/pgb/pgbouncer.ini" \
    >>"$WORK/pgb/stderr" 2>&1 </dev/null &
PGB_PID=$!
pg_on_cleanup "pgpin_stop $PGB_PID INT 10"
pg_wait_port "$PGB_PORT" 20 "$PGB_PID" || {
    cat "$WORK/pgb/stderr" "$WORK/pgb/pgbouncer.log" >&2
    pg_die "pgbouncer did not start"
}

# pgpin, auto mode.
PGPIN_LPORT=$(pg_free_port)
PGPIN_CFG_EXTRA="pool_mode = auto
default_pool_size = $POOL
max_client_conn = 1000
log_level = warning" pgpin_write_config "$WORK/pgpin.ini" "$PGPIN_LPORT" \
    "bench = host=127.0.0.1 port=$PG_PORT dbname=bench"
pgpin_start "$PGPIN_BIN" "$WORK/pgpin.ini" "$WORK/pgpin.log" || pg_die "pgpin did not start"
PGPIN_PID2=$PGPIN_PID

cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
fail=0
printf '%-6s %-14s %-7s %10s %9s %8s\n' round target case tps "lat ms" "cpu s"
for ((r = 1; r <= ROUNDS; r++)); do
    for c in select update; do
        for t in pgbouncer_tx pgpin_auto; do
            if [[ $t == pgbouncer_tx ]]; then port=$PGB_PORT pid=$PGB_PID; else
                port=$PGPIN_LPORT pid=$PGPIN_PID2
            fi
            flag=-S
            [[ $c == update ]] && flag=-N
            c0=$(cpu "$pid")
            out=$("$PG_BINDIR/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M extended $flag \
                -c "$CLIENTS" -j 2 -T "$SECS" bench 2>&1)
            rc=$?
            c1=$(cpu "$pid")
            tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out" | tail -1)
            lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
            failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' <<<"$out")
            if ((rc != 0)) || [[ -z $tps ]] || [[ ${failed:-0} != 0 ]]; then
                fail=1
                echo "!! $t $c failed (exit $rc): $(tail -3 <<<"$out" | tr '\n' ' ')"
            fi
            printf '%-6s %-14s %-7s %10.0f %9s %8s\n' "$r" "$t" "$c" "${tps:-0}" "${lat:-?}" \
                "$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')"
        done
    done
done
echo "# $CLIENTS clients, pool $POOL, pgbench -M extended -T $SECS -j 2; $(nproc) cores;" \
    "PgBouncer $(/usr/sbin/pgbouncer --version | awk 'NR==1 {print $2}'), pgpin $(git rev-parse --short HEAD)"
exit $fail
