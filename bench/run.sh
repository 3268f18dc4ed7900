#!/usr/bin/env bash
# bench/run.sh - interleaved benchmark: direct Postgres vs PgBouncer (session) vs pgpin.
#
#   bash bench/run.sh [--rounds 3] [--secs 10] [--cases LIST] [--out DIR] [--quick]
#
# Installs what is missing, builds pgpin (Release, no sanitizers), starts one throwaway
# Postgres 15, loads pgbench scale 10 and the DBOS-like tables, starts PgBouncer (session) and
# pgpin on free ports, then for each round, for each case, runs pgbench against direct,
# pgb_session and pgpin back to back. Writes OUT/runs.csv (one row per run), OUT/report.md
# (printed at the end) and each run's pgbench output under OUT/runs/. Exits 1 if any run was
# not ok (pgbench failed, a transaction failed, a client aborted or the proxy died).
#
# Options:
#   --rounds N        rounds (default 3)                 --secs S      pgbench -T (default 10)
#   --cases LIST      comma list of case names (default: all, see --list)
#   --targets LIST    comma list of direct,pgb_session,pgpin (default: all three)
#   --quick           1 round, 3 s, a few cases: a smoke test of the whole pipeline
#   --out DIR         output directory (default bench/out/YYYYmmdd-HHMMSS)
#   --build-dir DIR   build tree (default build-bench)      --no-build   use it as it is
#   --rev REV         build pgpin from `git archive REV` instead of the working tree (for when
#                     the working tree has unfinished changes); build tree DIR/rev-SHA
#   --scale N         pgbench scale (default 10)            --list       print the cases
# Environment: BENCH_SAMPLING (pgbench --sampling-rate for select cases with 8+ clients,
# default 0.1; every other case logs every transaction).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

ALL_CASES=(select_simple_c1 select_simple_c8 select_simple_c32 select_simple_c128
    select_extended_c1 select_extended_c8 select_extended_c32 select_extended_c128
    select_prepared_c1 select_prepared_c8 select_prepared_c32 select_prepared_c128
    churn_trust_c8 tpcb_c8 write_dbos_c8 write_dbos_c32)
QUICK_CASES=select_extended_c1,select_simple_c8,select_prepared_c32,select_extended_c128,churn_trust_c8,tpcb_c8,write_dbos_c8
ROUNDS=3
SECS=10
CASES=
TARGETS=direct,pgb_session,pgpin
OUT=
BUILD_DIR=build-bench
BUILD=1
REV=
SCALE=10
QUICK=0
POOL_SIZE=140 # >= the largest client count, in both poolers
PG_MAX_CONN=400
COMMAND="bash bench/run.sh $*"

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    --rounds) ROUNDS=${2:?--rounds needs a value} && shift ;;
    --secs) SECS=${2:?--secs needs a value} && shift ;;
    --cases) CASES=${2:?--cases needs a value} && shift ;;
    --targets) TARGETS=${2:?--targets needs a value} && shift ;;
    --out) OUT=${2:?--out needs a value} && shift ;;
    --build-dir) BUILD_DIR=${2:?--build-dir needs a value} && shift ;;
    --no-build) BUILD=0 ;;
    --rev) REV=${2:?--rev needs a value} && shift ;;
    --scale) SCALE=${2:?--scale needs a value} && shift ;;
    --quick) QUICK=1 ;;
    --list) printf '%s\n' "${ALL_CASES[@]}" && exit 0 ;;
    -h | --help) usage && exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2 && exit 2 ;;
    esac
    shift
done
if ((QUICK)); then
    ROUNDS=1
    SECS=3
    [[ -z $CASES ]] && CASES=$QUICK_CASES
fi
[[ -z $CASES ]] && CASES=$(
    IFS=,
    echo "${ALL_CASES[*]}"
)
in_range() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }
in_range "$ROUNDS" 1 20 || pg_die "--rounds must be 1..20"
in_range "$SECS" 1 600 || pg_die "--secs must be 1..600"
in_range "$SCALE" 1 1000 || pg_die "--scale must be 1..1000"
IFS=, read -ra CASE_LIST <<<"$CASES"
IFS=, read -ra TARGET_LIST <<<"$TARGETS"
((${#CASE_LIST[@]} <= 64)) || pg_die "at most 64 cases"
for t in "${TARGET_LIST[@]}"; do
    [[ $t =~ ^(direct|pgb_session|pgpin)$ ]] || pg_die "unknown target $t"
done
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# --- cases -----------------------------------------------------------------------------------
# case_setup NAME: sets C_CLIENTS, C_STMTS (statements per pgbench transaction), C_SAMPLING and
# the array C_ARGS (pgbench's workload options). Returns 1 for an unknown name.
case_setup() {
    local name=$1 kind
    [[ $name =~ ^([a-z_]+)_c([0-9]+)$ ]] || return 1
    kind=${BASH_REMATCH[1]}
    C_CLIENTS=${BASH_REMATCH[2]}
    ((C_CLIENTS >= 1 && C_CLIENTS <= POOL_SIZE)) || return 1
    C_STMTS=1
    C_SAMPLING=1
    case $kind in
    select_simple) C_ARGS=(-S -M simple) ;;
    select_extended) C_ARGS=(-S -M extended) ;;
    select_prepared) C_ARGS=(-S -M prepared) ;;
    churn_trust) C_ARGS=(-C -S -M extended) ;;
    tpcb) C_ARGS=(-M simple) && C_STMTS=7 ;; # BEGIN, 3 UPDATE, SELECT, INSERT, END
    write_dbos) C_ARGS=(-f "$ROOT/bench/dbos.sql" -M extended) && C_STMTS=5 ;;
    *) return 1 ;;
    esac
    # Per-transaction logs cost pgbench CPU; sample the fast multi-client select cases.
    [[ $kind == select_* ]] && ((C_CLIENTS >= 8)) && C_SAMPLING=${BENCH_SAMPLING:-0.1}
    return 0
}
for c in "${CASE_LIST[@]}"; do case_setup "$c" || pg_die "unknown case $c (see --list)"; done

# --- setup -----------------------------------------------------------------------------------
[[ -z $OUT ]] && OUT=$ROOT/bench/out/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT/runs" || pg_die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
CSV=$OUT/runs.csv
META=$OUT/meta.txt
: >"$CSV"
: >"$META"
T_START=$SECONDS
pg_install_traps
pg_install_deps

build_pgpin() {
    local src=$ROOT sha
    if [[ -n $REV ]]; then
        sha=$(git rev-parse --short "$REV^{commit}") || pg_die "unknown revision $REV"
        BUILD_DIR=$BUILD_DIR/rev-$sha
        src=$BUILD_DIR/src
        if ((BUILD)); then
            rm -rf "$src" && mkdir -p "$src"
            git archive "$sha" | tar -x -C "$src" || pg_die "git archive $sha failed"
        fi
    fi
    ((BUILD)) || return 0
    mkdir -p "$BUILD_DIR"
    pg_log "building pgpin (Release) in $BUILD_DIR from ${REV:+git archive $sha}${REV:-the working tree}"
    cmake -S "$src" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPGPIN_SANITIZE=OFF \
        >"$OUT/configure.log" 2>&1 || {
        tail -20 "$OUT/configure.log" >&2
        pg_die "cmake configure failed"
    }
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target pgpin pgpin_loadgen >"$OUT/build.log" 2>&1 || {
        grep -E 'error|Error' "$OUT/build.log" | head -20 >&2
        pg_die "build failed (log: $OUT/build.log); to measure the last commit use --rev HEAD"
    }
}
build_pgpin
PGPIN_BIN=$BUILD_DIR/pgpin
LOADGEN_BIN=$BUILD_DIR/bench/pgpin_loadgen
[[ -x $PGPIN_BIN && -x $LOADGEN_BIN ]] || pg_die "$PGPIN_BIN or $LOADGEN_BIN missing"
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD_DIR/CMakeCache.txt" ||
    pg_die "$BUILD_DIR is not a Release build"
grep -q '^PGPIN_SANITIZE:BOOL=ON' "$BUILD_DIR/CMakeCache.txt" && pg_die "$BUILD_DIR has sanitizers"

WORK=$(mktemp -d /tmp/pgpin-bench.XXXXXX)
chmod 755 "$WORK"
pg_on_cleanup "rm -rf '$WORK'"

# pg_start (tests/lib/pg.sh) with benchmark settings: durable commits, room for 3 x 128
# connections (direct clients + both poolers' idle pools), no timed checkpoint inside the run.
PG_SETTINGS="synchronous_commit=on, fsync=on, max_connections=$PG_MAX_CONN, shared_buffers=256MB, max_wal_size=8GB, checkpoint_timeout=1h"
PG_EXTRA_OPTS="-c max_connections=$PG_MAX_CONN -c shared_buffers=256MB -c fsync=on"
PG_EXTRA_OPTS+=" -c synchronous_commit=on -c full_page_writes=on -c max_wal_size=8GB -c checkpoint_timeout=1h"
pg_start

pg_log "loading pgbench scale $SCALE and the DBOS-like tables"
pg_psql -d postgres -c 'CREATE DATABASE bench' >/dev/null || pg_die "CREATE DATABASE failed"
timeout 900 pgbench -i -q -s "$SCALE" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench \
    >"$OUT/pgbench-init.log" 2>&1 || {
    tail -5 "$OUT/pgbench-init.log" >&2
    pg_die "pgbench -i failed"
}
"$LOADGEN_BIN" --conninfo "$(pg_direct_conninfo) dbname=bench" --mode dbos --setup --seconds 0 \
    >"$OUT/loadgen-setup.log" 2>&1 || {
    cat "$OUT/loadgen-setup.log" >&2
    pg_die "pgpin_loadgen --setup failed"
}
pg_psql -d bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT' >/dev/null || pg_die "VACUUM/CHECKPOINT failed"

# --- poolers ---------------------------------------------------------------------------------
PGB_DIR=$WORK/pgbouncer
PGB_PID=
PGPIN_PID=
start_pgbouncer() {
    [[ -n ${PGB_PORT:-} ]] || PGB_PORT=$(pg_free_port)
    # log_connections off: pgpin at log_level=warning does not log connections either.
    PGB_STDERR=$OUT/pgbouncer.stderr pgb_start "$PGB_DIR" "$PGB_PORT" \
        "bench = host=127.0.0.1 port=$PG_PORT dbname=bench" "pool_mode = session
default_pool_size = $POOL_SIZE
max_client_conn = 1000
server_reset_query = DISCARD ALL
log_connections = 0
log_disconnections = 0" || pg_die "pgbouncer did not start"
    pg_log "pgbouncer up on 127.0.0.1:$PGB_PORT (pid $PGB_PID)"
}
start_pgpin() {
    [[ -n ${PGPIN_LPORT:-} ]] || PGPIN_LPORT=$(pg_free_port)
    PGPIN_CFG_EXTRA="default_pool_size = $POOL_SIZE
log_level = warning" pgpin_write_config "$WORK/pgpin.ini" "$PGPIN_LPORT" \
        "bench = host=127.0.0.1 port=$PG_PORT dbname=bench"
    pgpin_start "$PGPIN_BIN" "$WORK/pgpin.ini" "$OUT/pgpin.log" || pg_die "pgpin did not start"
    pg_log "pgpin up on 127.0.0.1:$PGPIN_LPORT (pid $PGPIN_PID)"
}
start_pgbouncer
start_pgpin

# target_port / target_pid NAME
target_port() {
    case $1 in direct) echo "$PG_PORT" ;; pgb_session) echo "$PGB_PORT" ;; pgpin) echo "$PGPIN_LPORT" ;; esac
}
target_pid() {
    case $1 in direct) echo 0 ;; pgb_session) echo "$PGB_PID" ;; pgpin) echo "$PGPIN_PID" ;; esac
}
# A pooler that died in an earlier run is restarted once per run (that run was already marked
# not ok), so one crash does not void the rest of the suite.
ensure_target() {
    local t=$1
    case $t in
    pgb_session) pgpin_alive "$PGB_PID" || {
        pg_log "!!! pgbouncer (pid $PGB_PID) is gone; restarting it"
        pgpin_stop "$PGB_PID" INT 1
        start_pgbouncer
    } ;;
    pgpin) pgpin_alive "$PGPIN_PID" || {
        pg_log "!!! pgpin (pid $PGPIN_PID) is gone; restarting it (log: $OUT/pgpin.log)"
        pgpin_stop "$PGPIN_PID" INT 1
        start_pgpin
    } ;;
    esac
}
for t in "${TARGET_LIST[@]}"; do
    PGCONNECT_TIMEOUT=10 psql -X -Atq -h 127.0.0.1 -p "$(target_port "$t")" -U postgres -d bench \
        -c 'SELECT 1' >/dev/null || pg_die "sanity query through $t failed"
done

# --- metadata --------------------------------------------------------------------------------
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
untracked=$(git status --porcelain 2>/dev/null | grep -c '^??')
if [[ -n $REV ]]; then
    commit=$(git rev-parse --short "$REV^{commit}")
    tree=" (pgpin built from \`git archive $commit\`, clean; the working tree had $dirty modified and $untracked untracked files)"
else
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    tree=""
    ((dirty + untracked > 0)) && tree=" **(dirty: $dirty modified, $untracked untracked files)**"
fi
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$commit"
    echo "tree=$tree"
    echo "nproc=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "mem=$(free -g | awk '/^Mem:/ {print $2 " GB RAM"}')"
    echo "kernel=$(uname -r)"
    echo "pg_version=PostgreSQL $("$PG_BINDIR/postgres" --version | awk '{print $3}')"
    echo "pg_settings=$PG_SETTINGS"
    echo "scale=$SCALE"
    echo "pgb_version=PgBouncer $("$PGB_BIN" --version | awk 'NR==1 {print $2}')"
    echo "pgb_settings=session, default_pool_size=$POOL_SIZE, DISCARD ALL, log_connections=0"
    echo "pgpin_settings=session, default_pool_size=$POOL_SIZE, DISCARD ALL, log_level=warning, Release build, workers=${PGPIN_WORKERS:-0 (one per core)}"
    echo "client=pgbench $(pgbench --version | awk '{print $3}') on the same box, -j min(clients,2), -n, -P 1, -l (select cases with 8+ clients: --sampling-rate ${BENCH_SAMPLING:-0.1})"
    echo "rounds=$ROUNDS"
    echo "secs=$SECS"
    echo "command=$COMMAND"
} >"$META"

# --- warm-up (not recorded): shared buffers, both pools, the page cache ------------------------
pg_log "warm-up: 3 s per target"
for t in "${TARGET_LIST[@]}"; do
    timeout 60 pgbench -n -S -M extended -c 8 -j 2 -T 3 -h 127.0.0.1 -p "$(target_port "$t")" \
        -U postgres bench >/dev/null 2>&1 || pg_log "warm-up through $t failed"
done

# --- the runs --------------------------------------------------------------------------------
# Before a write run: the same starting state for every target (pgbench -n skips its own vacuum).
pre_run() {
    case $1 in
    tpcb_*) pg_psql -d bench -c 'VACUUM pgbench_branches, pgbench_tellers' \
        -c 'TRUNCATE pgbench_history' >/dev/null ;;
    write_dbos_*) pg_psql -d bench -c 'TRUNCATE bench_op_outputs, bench_wf_status' >/dev/null ;;
    esac
}
run_one() {
    local r=$1 c=$2 t=$3 jobs
    case_setup "$c"
    ensure_target "$t"
    pre_run "$c" || pg_log "pre-run maintenance for $c failed"
    jobs=$((C_CLIENTS < 2 ? C_CLIENTS : 2))
    "$PY" "$ROOT/bench/measure.py" --csv "$CSV" --round "$r" --case "$c" --target "$t" \
        --clients "$C_CLIENTS" --stmt-per-tx "$C_STMTS" --postmaster "$PG_PM_PID" \
        --proxy "$(target_pid "$t")" --pooler-pids "$PGB_PID,$PGPIN_PID" --pg-port "$PG_PORT" \
        --log-prefix "$WORK/txlog" --timeout $((SECS + 90)) --save-dir "$OUT/runs" -- \
        pgbench -n "${C_ARGS[@]}" -c "$C_CLIENTS" -j "$jobs" -T "$SECS" -P 1 \
        -l --log-prefix="$WORK/txlog" --sampling-rate="$C_SAMPLING" \
        -h 127.0.0.1 -p "$(target_port "$t")" -U postgres bench
}
NRUNS=$((ROUNDS * ${#CASE_LIST[@]} * ${#TARGET_LIST[@]}))
pg_log "$NRUNS runs of ${SECS}s: about $(((NRUNS * (SECS + 3) + 59) / 60)) min; output in $OUT"
NOT_OK=0
for ((r = 1; r <= ROUNDS; r++)); do
    for c in "${CASE_LIST[@]}"; do
        for t in "${TARGET_LIST[@]}"; do
            run_one "$r" "$c" "$t" || NOT_OK=$((NOT_OK + 1))
        done
    done
done

elapsed=$((SECONDS - T_START))
echo "runtime=$((elapsed / 60)) min $((elapsed % 60)) s" >>"$META"
"$PY" "$ROOT/bench/report.py" --csv "$CSV" --meta "$META" --ref direct --a pgb_session \
    --b pgpin >"$OUT/report.md" || pg_die "report failed"
cat "$OUT/report.md"
pg_log "report: $OUT/report.md   runs: $CSV   wall time: $((elapsed / 60)) min $((elapsed % 60)) s"
if ((NOT_OK > 0)); then
    pg_log "!!! $NOT_OK of $NRUNS runs NOT OK (see the Noise section and $OUT/runs/*.err)"
    exit 1
fi
exit 0
