#!/usr/bin/env bash
# bench/idle.sh - many idle clients held through pgpin: RSS, and a busy client's latency with
# and without them (issue 4, point 4). Idle clients finish startup and wait in a pool queue
# (session mode, pool size 20), which is what "held" means for a session pooler.
#
#   bash bench/idle.sh [--idle N] [--secs S] [--rounds R] [--workers W]
#
# Prints pgpin's RSS before and with the idle clients, and per round the busy client's
# pgbench -S -M extended latency (1 client) without and with them, interleaved.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

IDLE=10000 SECS=10 ROUNDS=3 WORKERS=0
while (($#)); do
    case $1 in
    --idle) IDLE=${2:?} && shift ;;
    --secs) SECS=${2:?} && shift ;;
    --rounds) ROUNDS=${2:?} && shift ;;
    --workers) WORKERS=${2:?} && shift ;;
    *) echo "usage: $0 [--idle N] [--secs S] [--rounds R] [--workers W]" >&2 && exit 2 ;;
    esac
    shift
done
((ROUNDS > 10 || SECS > 120 || IDLE > 50000)) && pg_die "bounds: rounds <= 10, secs <= 120, idle <= 50000"

pg_install_traps
pg_install_deps
pg_build build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null || pg_die "build failed"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
(($(ulimit -n) >= IDLE + 1000)) || pg_die "open-files limit $(ulimit -n) is too low for $IDLE idle clients"
pg_start
pg_psql -d postgres -c 'CREATE DATABASE bench' >/dev/null
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 10 -q bench >/dev/null 2>&1 || pg_die "pgbench -i failed"

WORK=$(mktemp -d /tmp/pgpin-idle.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
PGPIN_WORKERS=$WORKERS PGPIN_CFG_EXTRA="max_client_conn = $((IDLE + 100))
log_level = warning" pgpin_write_config "$WORK/pgpin.ini" "$(pg_free_port)" \
    "bench = host=127.0.0.1 port=$PG_PORT dbname=bench
idle = host=127.0.0.1 port=$PG_PORT dbname=bench pool_size=20"
pgpin_start build-bench/pgpin "$WORK/pgpin.ini" "$WORK/pgpin.log" || pg_die "pgpin did not start"
rss() { awk '/VmRSS/{print $2}' "/proc/$PGPIN_PID/status"; }

# N connections that complete startup to database "idle" and then sit there; the pool (20)
# serves 20 of them, the rest wait in its queue. Bounded by HOLD seconds.
cat >"$WORK/idle.py" <<'EOF'
import socket, struct, sys, time
n, port, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
body = struct.pack('!I', 196608) + b'user\0postgres\0database\0idle\0\0'
pkt = struct.pack('!I', len(body) + 4) + body
socks = []
for i in range(n):
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(pkt)
    socks.append(s)
print("opened", len(socks), flush=True)
time.sleep(hold)
EOF

latency() { # one pgbench -S -M extended run at 1 client: "avg_ms p_tps"
    pgbench -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres -n -S -M extended -c 1 -T "$SECS" bench 2>&1 |
        awk '/latency average/{l=$4} /^tps/{t=$3} END{print l, t}'
}

rss0=$(rss)
echo "pgpin $(build-bench/pgpin --version), workers=$WORKERS, idle clients=$IDLE, ${SECS}s runs, commit $(git rev-parse --short HEAD)"
printf '%-6s %-14s %12s %10s\n' round idle_clients lat_avg_ms tps
rss1=
for ((r = 1; r <= ROUNDS; r++)); do
    read -r l t <<<"$(latency)"
    printf '%-6s %-14s %12s %10s\n' "$r" 0 "$l" "$t"
    timeout $((SECS + 90)) python3 "$WORK/idle.py" "$IDLE" "$PGPIN_PORT" $((SECS + 60)) >"$WORK/idle.out" 2>&1 &
    IDLE_PID=$!
    pg_on_cleanup "kill $IDLE_PID 2>/dev/null"
    for ((i = 0; i < 120; i++)); do
        grep -q opened "$WORK/idle.out" && break
        sleep 0.5
    done
    grep -q opened "$WORK/idle.out" || pg_die "idle clients did not connect: $(cat "$WORK/idle.out")"
    sleep 2
    [[ -n $rss1 ]] || rss1=$(rss)
    fds=$(find "/proc/$PGPIN_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
    read -r l t <<<"$(latency)"
    printf '%-6s %-14s %12s %10s\n' "$r" "$IDLE" "$l" "$t"
    kill "$IDLE_PID" 2>/dev/null
    wait "$IDLE_PID" 2>/dev/null
    sleep 3 # pgpin closes the idle clients
done
echo "pgpin RSS: ${rss0} kB before, ${rss1} kB with $IDLE idle clients held (open fds with them: $fds)"
