#!/usr/bin/env bash
# bench/shape.sh - write-rate shaping (issue 7, points 1 and 2): the DBOS-shaped write workload
# (per workflow: insert a status row, insert 3 step rows, update the status, each its own
# transaction) offered at twice write_rate through pgpin; beside it one read-only client at a
# fixed offered rate. Rounds alternate shaping on (write_rate = RATE) and off (write_rate = 0,
# same offered load) on two pgpin instances in front of the same Postgres.
#
#   bash bench/shape.sh [--rate 500] [--secs 30] [--rounds 3] [--read-rate 200] [--writers 32]
#
# Prints per round: achieved writes/s (shaped: within 5% of RATE is the target), errors, rows
# acknowledged vs present, and the reader's p50/p99 latency; then the medians. Writes a CSV to
# bench/out/shape-DATE.csv.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

RATE=500 SECS=30 ROUNDS=3 READ_RATE=200 WRITERS=32
while (($#)); do
    case $1 in
    --rate) RATE=${2:?} && shift ;;
    --secs) SECS=${2:?} && shift ;;
    --rounds) ROUNDS=${2:?} && shift ;;
    --read-rate) READ_RATE=${2:?} && shift ;;
    --writers) WRITERS=${2:?} && shift ;;
    *) echo "usage: $0 [--rate N] [--secs S] [--rounds R] [--read-rate N] [--writers N]" >&2 && exit 2 ;;
    esac
    shift
done
((ROUNDS <= 10 && SECS <= 300 && RATE <= 100000)) || pg_die "bounds: rounds <= 10, secs <= 300"

pg_install_traps
pg_install_deps
BUILD_DIR=$ROOT/build-bench
pg_build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null || pg_die "build failed"
cmake --build "$BUILD_DIR" -j "$(nproc)" --target pgpin pgpin_loadgen >/dev/null || pg_die "build"
PGPIN_BIN=$BUILD_DIR/pgpin
LOADGEN=$BUILD_DIR/bench/pgpin_loadgen
OUT=$ROOT/bench/out
mkdir -p "$OUT"
CSV=$OUT/shape-$(date +%Y%m%d-%H%M%S).csv
WORK=$(mktemp -d /tmp/pgpin-shape.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

# Durable commits, as bench/run.sh: a write costs what it costs in production.
PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_wal_size=8GB"
PG_EXTRA_OPTS+=" -c checkpoint_timeout=1h -c shared_buffers=256MB"
pg_start
pg_psql -d postgres -c 'CREATE DATABASE bench' >/dev/null || pg_die "CREATE DATABASE"
pgbench -i -q -s 1 -h 127.0.0.1 -p "$PG_PORT" -U postgres bench >/dev/null 2>&1 || pg_die "pgbench -i"
"$LOADGEN" --conninfo "$(pg_direct_conninfo) dbname=bench" --mode dbos --setup --seconds 0 \
    >/dev/null || pg_die "loadgen --setup"

# instance NAME WRITE_RATE: a pgpin in front of the same server; sets PORT_<NAME>.
instance() {
    local name=$1 rate=$2 port
    port=$(pg_free_port)
    PGPIN_CFG_EXTRA="default_pool_size = $((WRITERS + 8))
write_rate = $rate
log_level = warning" pgpin_write_config "$WORK/$name.ini" "$port" \
        "bench = host=127.0.0.1 port=$PG_PORT dbname=bench"
    pgpin_start "$PGPIN_BIN" "$WORK/$name.ini" "$OUT/shape-$name.log" || pg_die "pgpin $name"
    printf -v "PORT_$name" '%s' "$port"
}
instance on "$RATE"
instance off 0

# field SUMMARY KEY: a key=value field of pgpin_loadgen's summary line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

echo "round,shaping,write_rate,offered_writes_s,writes_s,err_tx,acked_workflows,rows_present,read_p50_ms,read_p99_ms" >"$CSV"
offered_wf=$((RATE * 2 / 5)) # 5 writes per workflow: twice write_rate in writes
for ((r = 1; r <= ROUNDS; r++)); do
    for mode in on off; do
        port_var=PORT_$mode
        ci="host=127.0.0.1 port=${!port_var} user=postgres dbname=bench"
        pg_psql -d bench -c 'TRUNCATE bench_op_outputs, bench_wf_status' >/dev/null
        "$LOADGEN" --conninfo "$ci" --mode select --clients 1 --rate "$READ_RATE" \
            --seconds "$SECS" >"$WORK/read.out" 2>"$WORK/read.err" &
        reader=$!
        writer_out=$("$LOADGEN" --conninfo "$ci" --mode dbos --clients "$WRITERS" \
            --rate "$offered_wf" --seconds "$SECS" 2>"$WORK/write.err" | tail -1)
        wait "$reader"
        read_out=$(tail -1 "$WORK/read.out")
        ok=$(field "$writer_out" ok_tx)
        err=$(field "$writer_out" err_tx)
        wps=$(field "$writer_out" stmt_per_s)
        present=$(pg_psql -d bench -Atc "SELECT count(*) FROM bench_wf_status WHERE status = 'SUCCESS'")
        p50=$(field "$read_out" lat_p50_ms)
        p99=$(field "$read_out" lat_p99_ms)
        echo "$r,$mode,$([[ $mode == on ]] && echo "$RATE" || echo 0),$((RATE * 2)),$wps,$err,$ok,$present,$p50,$p99" >>"$CSV"
        pg_log "round $r shaping $mode: writes/s $wps (offered $((RATE * 2))), errors $err, acked $ok present $present, read p50 $p50 ms p99 $p99 ms"
    done
done

python3 - "$CSV" "$RATE" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rate = float(sys.argv[2])
def med(mode, key):
    return statistics.median(float(r[key]) for r in rows if r["shaping"] == mode)
on_w, off_w = med("on", "writes_s"), med("off", "writes_s")
on99, off99 = med("on", "read_p99_ms"), med("off", "read_p99_ms")
lost = sum(1 for r in rows if int(r["rows_present"]) < int(r["acked_workflows"]))
errs = sum(int(r["err_tx"]) for r in rows)
print(f"| write_rate | offered writes/s | shaped writes/s (median) | vs write_rate | unshaped writes/s | errors | runs with acked rows missing | read p99 shaped / unshaped (ms) | difference |")
print(f"|---|---|---|---|---|---|---|---|---|")
print(f"| {rate:g} | {2*rate:g} | {on_w:.1f} | {100*(on_w-rate)/rate:+.1f}% | {off_w:.1f} | {errs} | {lost} | {on99:.3f} / {off99:.3f} | {on99-off99:+.3f} ms |")
EOF
echo "CSV: $CSV"
