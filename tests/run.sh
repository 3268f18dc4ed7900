#!/usr/bin/env bash
# tests/run.sh - THE test command (README and .ci/run call it).
#
# Full run: install missing packages, check formatting, build `build` and `build-asan`
# (ASan+UBSan), run the unit tests (ctest) in both, then run the integration suite against a
# throwaway Postgres 15 through pgpin: the plain build with workers = 1 and workers = 2, the
# ASan build with workers = 2. Exits nonzero on any failure.
#
#   tests/run.sh                                   everything
#   tests/run.sh --integration-only --build-dir build        fast loop on an existing build
#   tests/run.sh --integration-only --build-dir build --suites protocol,badinput
#   tests/run.sh --integration-only --build-dir build --direct   suites straight at Postgres
#
# Options:
#   --integration-only   skip packages, formatting, build and unit tests
#   --build-dir DIR      build tree(s) to test (repeatable; default: build and build-asan)
#   --no-asan            full run without the ASan build
#   --suites LIST        comma list of: protocol,pool,badinput,cli,signals,auth,tls,cancel,
#                        limits,budget,check,admin,auto,shape,faults,faults2,dbos,soak
#                        (default: all; soak runs on sanitizer builds only, for one minute)
#   --direct             validation mode: no pgpin, the suites talk to Postgres itself
#   --pgpin PATH         use this binary instead of DIR/pgpin
#   --bench-secs N       pgbench -T (default 10)
#   --workers LIST       worker counts to run the integration suite with (e.g. 1,2)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

INTEGRATION_ONLY=0
WORKERS_LIST=
ASAN=1
DIRECT=0
BUILD_DIRS=()
SUITES=protocol,pool,badinput,cli,signals,auth,tls,cancel,limits,budget,check,admin,auto,shape,faults,faults2,dbos,soak
PGPIN_OVERRIDE=
export BENCH_SECS=${BENCH_SECS:-10}

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    --integration-only) INTEGRATION_ONLY=1 ;;
    --build-dir) BUILD_DIRS+=("${2:?--build-dir needs a value}") && shift ;;
    --no-asan) ASAN=0 ;;
    --suites) SUITES=${2:?} && shift ;;
    --direct) DIRECT=1 ;;
    --pgpin) PGPIN_OVERRIDE=$(realpath "${2:?}") && shift ;;
    --bench-secs) BENCH_SECS=${2:?} && shift ;;
    --workers) WORKERS_LIST=${2:?} && shift ;;
    -h | --help) usage && exit 0 ;;
    *) echo "unknown option $1" >&2 && usage >&2 && exit 2 ;;
    esac
    shift
done
if ((${#BUILD_DIRS[@]} == 0)); then
    BUILD_DIRS=(build)
    ((ASAN)) && BUILD_DIRS+=(build-asan)
fi
want_suite() { [[ ,$SUITES, == *",$1,"* ]]; }

# --- results ---------------------------------------------------------------------------------
RESULTS=()
NPASS=0
NFAIL=0
pass() {
    RESULTS+=("PASS  $1")
    NPASS=$((NPASS + 1))
}
fail() {
    RESULTS+=("FAIL  $1${2:+ -- $2}")
    NFAIL=$((NFAIL + 1))
}
banner() { printf '\n==== %s ====\n' "$*"; }
summary() {
    banner "SUMMARY"
    printf '%s\n' "${RESULTS[@]}"
    echo
    if ((NFAIL == 0)); then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
    echo "$NPASS passed, $NFAIL failed"
}
T0=$SECONDS
pg_install_traps

# --- static checks, build, unit tests ----------------------------------------------------------
is_asan_tree() { grep -q '^PGPIN_SANITIZE:BOOL=ON' "$1/CMakeCache.txt" 2>/dev/null; }

check_format() {
    local files
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
        grep -E '^(proxy|config|tests|bench)/')
    ((${#files[@]})) || return 0
    local out
    if out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
        pass "clang-format (${#files[@]} files)"
    else
        fail "clang-format" "$(grep -oE '^[^:]+\.[ch]' <<<"$out" | sort -u | tr '\n' ' ')(run clang-format -i)"
    fi
}

build_and_unit() {
    local dir=$1 label args=()
    label=$(basename "$dir")
    [[ $dir == *asan* ]] && args=(-DPGPIN_SANITIZE=ON)
    banner "build $dir ${args[*]}"
    local log
    log=$(mktemp /tmp/pgpin-build.XXXXXX)
    pg_on_cleanup "rm -f '$log'"
    if ! pg_build "$dir" "${args[@]}" >"$log" 2>&1; then
        tail -60 "$log"
        fail "build $label" "$(grep -m1 -E 'error|Error' "$log" | cut -c1-160)"
        return 1
    fi
    tail -3 "$log"
    pass "build $label"
    banner "unit tests ($label)"
    if (cd "$dir" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure --timeout 300); then
        pass "unit tests $label"
    else
        fail "unit tests $label"
    fi
}

# --- fuzzing -----------------------------------------------------------------------------------
# Full runs also build the libFuzzer targets (tests/fuzz, clang-14) in build-fuzz -- a -Werror
# clang build of the whole tree -- and run each for PGPIN_FUZZ_SECS seconds (default 20; 0 skips
# this step), nproc at a time. The corpus grows in build-fuzz/fuzz-corpus/TARGET (seeded from
# tests/fuzz/corpus, which is only read); crashing inputs land in build-fuzz/fuzz-artifacts/.
FUZZ_SECS=${PGPIN_FUZZ_SECS:-20}
FUZZ_DIR=build-fuzz
FUZZ_PIDS=() # running fuzzers (timeout's PID), for the cleanup on interrupt
fuzz_stop() {
    ((${#FUZZ_PIDS[@]})) && kill "${FUZZ_PIDS[@]}" 2>/dev/null
    FUZZ_PIDS=()
}

# fuzz_start TARGET: one libFuzzer run in the background; its PID is appended to FUZZ_PIDS.
fuzz_start() {
    local t=$1
    mkdir -p "$FUZZ_DIR/fuzz-corpus/$t" "$FUZZ_DIR/fuzz-artifacts" "$FUZZ_DIR/fuzz-logs"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout -k 10 $((FUZZ_SECS + 120)) "$FUZZ_DIR/tests/fuzz/$t" \
        -max_total_time="$FUZZ_SECS" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FUZZ_DIR/fuzz-artifacts/$t-" \
        "$FUZZ_DIR/fuzz-corpus/$t" "tests/fuzz/corpus/$t" >"$FUZZ_DIR/fuzz-logs/$t.log" 2>&1 &
    FUZZ_PIDS+=($!)
}

# fuzz_result TARGET RC: PASS with runs and corpus size, or FAIL with the first report line.
fuzz_result() {
    local t=$1 rc=$2 log=$FUZZ_DIR/fuzz-logs/$1.log runs corp why
    runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
    if [[ $rc == 0 && -n $runs ]]; then
        pass "fuzz $t ($FUZZ_SECS s: $runs runs, ${corp:-corp: ?})"
    else
        why=$(grep -m1 -E 'ERROR: |fuzz assertion|runtime error|deadly signal' "$log" | cut -c1-160)
        fail "fuzz $t" "exit $rc: ${why:-see $log}; input in $FUZZ_DIR/fuzz-artifacts/"
        tail -40 "$log"
    fi
}

fuzz_all() {
    ((FUZZ_SECS > 0)) || return 0
    local cc log i j rc batch
    local targets=(fuzz_startup fuzz_frontend fuzz_backend fuzz_scram fuzz_config fuzz_sql
        fuzz_router)
    banner "build $FUZZ_DIR (clang-14, -DPGPIN_FUZZ=ON)"
    if ! cc=$(command -v clang-14); then
        fail "build $FUZZ_DIR" "clang-14 not installed"
        return 1
    fi
    log=$(mktemp /tmp/pgpin-build.XXXXXX)
    pg_on_cleanup "rm -f '$log'"
    if ! pg_build "$FUZZ_DIR" -DCMAKE_C_COMPILER="$cc" -DPGPIN_FUZZ=ON >"$log" 2>&1; then
        tail -60 "$log"
        fail "build $FUZZ_DIR (clang-14)" "$(grep -m1 -E 'error|Error' "$log" | cut -c1-160)"
        return 1
    fi
    pass "build $FUZZ_DIR (clang-14 -Werror, fuzz targets)"
    banner "fuzz: ${#targets[@]} targets x $FUZZ_SECS s, $(nproc) at a time"
    pg_on_cleanup fuzz_stop
    batch=$(nproc)
    for ((i = 0; i < ${#targets[@]}; i += batch)); do
        for ((j = i; j < i + batch && j < ${#targets[@]}; j++)); do
            fuzz_start "${targets[j]}"
        done
        for ((j = i; j < i + batch && j < ${#targets[@]}; j++)); do
            wait "${FUZZ_PIDS[j - i]}"
            rc=$?
            fuzz_result "${targets[j]}" "$rc"
        done
        FUZZ_PIDS=()
    done
}

if ((!INTEGRATION_ONLY)); then
    banner "packages"
    pg_install_deps && pass "packages installed"
    banner "formatting"
    check_format
    BUILT=()
    for d in "${BUILD_DIRS[@]}"; do
        build_and_unit "$d" && BUILT+=("$d")
    done
    BUILD_DIRS=("${BUILT[@]}")
    fuzz_all
fi

# --- integration -------------------------------------------------------------------------------
# run_c_suite LABEL NAME EXE LOGDIR: one Check executable; per-test failures go to the summary.
run_c_suite() {
    local label=$1 name=$2 exe=$3 logdir=$4 log rc
    log=$logdir/$name.log
    banner "$label: $name"
    if [[ ! -x $exe ]]; then
        fail "$label $name" "$exe not built"
        return
    fi
    CK_VERBOSITY=verbose timeout -k 10 600 "$exe" >"$log" 2>&1
    rc=$?
    cat "$log"
    if ((rc == 0)); then
        pass "$label $name ($(grep -oE 'Checks: [0-9]+' "$log" | head -1))"
    else
        fail "$label $name" "exit $rc"
        local line
        while IFS= read -r line; do
            RESULTS+=("        $line")
        done < <(grep -E ':[FE]:' "$log" | cut -c1-300)
    fi
}
# run_sh_part LABEL NAME SCRIPT...: a shell part; each "ok -"/"not ok -" line is a result.
run_sh_part() {
    local label=$1 name=$2 log line
    shift 2
    log=$LOGDIR/$name.log
    banner "$label: $name"
    timeout -k 10 600 "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]} n=0
    while IFS= read -r line; do
        n=$((n + 1))
        case $line in
        "ok - "*) pass "$label $name: ${line#ok - }" ;;
        "not ok - "*) fail "$label $name: ${line#not ok - }" ;;
        esac
    done < <(grep -E '^(not )?ok - ' "$log")
    if ((rc != 0)) && ! grep -q '^not ok - ' "$log"; then fail "$label $name" "exit $rc"; fi
    ((n > 0)) || ((rc != 0)) || fail "$label $name" "ran no check"
}
stays_up() { # stays_up LABEL AFTER
    if pgpin_alive "$MAIN_PID"; then pass "$1 pgpin stays up after $2"; else
        fail "$1 pgpin stays up after $2" "pgpin died; log: $(tail -3 "$LOGDIR/pgpin.log" | tr '\n' ' ')"
        MAIN_PID=
    fi
}

setup_postgres() {
    banner "postgres"
    pg_start || return 1
    local db
    for db in appdb pooltest reuse bench; do
        pg_psql -d postgres -c "CREATE DATABASE $db" >/dev/null || return 1
    done
}

main_config() { # main_config FILE PORT
    pgpin_write_config "$1" "$2" "appdb = host=127.0.0.1 port=$PG_PORT dbname=appdb
pooltest = host=127.0.0.1 port=$PG_PORT dbname=pooltest pool_size=5
reuse = host=127.0.0.1 port=$PG_PORT dbname=reuse pool_size=1
* = host=127.0.0.1 port=$PG_PORT"
}

integration_pass() {
    local dir=$1 workers=${2:-} label bin tests direct_ci attempt
    label=$(basename "$dir")${workers:+/w$workers}
    ((DIRECT)) && label="$label(direct)"
    export PGPIN_WORKERS=${workers:-0}
    bin=${PGPIN_OVERRIDE:-$dir/pgpin}
    tests=$dir/tests
    LOGDIR=$ROOT/$dir/it-logs${workers:+-w$workers}
    [[ $dir == /* ]] && LOGDIR=$dir/it-logs${workers:+-w$workers}
    rm -rf "$LOGDIR"
    mkdir -p "$LOGDIR"
    direct_ci="host=127.0.0.1 port=$PG_PORT user=postgres"
    export PGPIN_IT_DIRECT=$direct_ci
    if is_asan_tree "$dir"; then
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    else
        unset ASAN_OPTIONS UBSAN_OPTIONS
    fi

    MAIN_PID=
    if ((DIRECT)); then
        export PGPIN_IT_PROXY=$direct_ci PGPIN_PORT=$PG_PORT
    else
        if [[ ! -x $bin ]]; then
            fail "$label pgpin binary" "$bin missing"
            return
        fi
        banner "$label: start pgpin ($bin)"
        for ((attempt = 0; attempt < 3; attempt++)); do
            main_config "$LOGDIR/pgpin.ini" "$(pg_free_port)"
            if pgpin_start "$bin" "$LOGDIR/pgpin.ini" "$LOGDIR/pgpin.log"; then
                MAIN_PID=$PGPIN_PID
                break
            fi
            pgpin_stop "$PGPIN_PID" KILL 2
        done
        if [[ -z $MAIN_PID ]]; then
            fail "$label pgpin starts" "see $LOGDIR/pgpin.log"
            return
        fi
        pass "$label pgpin starts (port $PGPIN_PORT)"
        export PGPIN_IT_PROXY="host=127.0.0.1 port=$PGPIN_PORT user=postgres" PGPIN_PORT
    fi

    local s
    for s in protocol pool badinput; do
        want_suite "$s" || continue
        run_c_suite "$label" "it_$s" "$tests/it_$s" "$LOGDIR"
        ((DIRECT)) || [[ -z $MAIN_PID ]] || stays_up "$label" "it_$s"
    done
    if want_suite cli; then
        PG_PORT=$PG_PORT run_sh_part "$label" cli bash tests/integration/cli.sh
        ((DIRECT)) || [[ -z $MAIN_PID ]] || stays_up "$label" "cli"
    fi
    ((DIRECT)) && return

    if [[ -n $MAIN_PID ]]; then
        pgpin_stop "$MAIN_PID" TERM 40
        if [[ $PGPIN_RC == 0 ]]; then pass "$label SIGTERM with idle clients: exit 0"; else
            fail "$label SIGTERM with idle clients: exit 0" "exit status $PGPIN_RC"
        fi
    fi
    if want_suite signals; then
        PGPIN_BIN=$bin PG_PORT=$PG_PORT IT_BADINPUT=$tests/it_badinput LOGDIR=$LOGDIR \
            run_sh_part "$label" signals bash tests/integration/signals.sh
    fi
    # Suites that start their own pgpin instances (and, for tls, budget, faults and faults2, their
    # own Postgres; check runs `pgpin check` and starts PgBouncers; faults2 needs root for ip
    # netns).
    for s in auth tls cancel limits budget check admin auto shape faults faults2; do
        want_suite "$s" || continue
        PGPIN_BIN=$bin PG_PORT=$PG_PORT IT_BIN_DIR=$tests LOGDIR=$LOGDIR \
            run_sh_part "$label" "$s" bash "tests/integration/$s.sh"
    done
    # The DBOS TypeScript SDK end to end through its own pgpin (tests/dbos; needs node and npm).
    if want_suite dbos; then
        PGPIN_BIN=$bin PG_PORT=$PG_PORT IT_BIN_DIR=$tests LOGDIR=$LOGDIR \
            run_sh_part "$label" dbos bash tests/dbos/dbos.sh
        # 12 DBOS processes through one pgpin in pool_mode = auto (node_modules from dbos.sh).
        PGPIN_BIN=$bin PG_PORT=$PG_PORT IT_BIN_DIR=$tests LOGDIR=$LOGDIR \
            run_sh_part "$label" dbos-auto bash tests/dbos/dbos_auto.sh
    fi

    # A minute of tests/soak.sh (pgbench, LISTEN/NOTIFY, churn; its own Postgres and pgpin) on
    # the sanitizer build: leaks and sanitizer reports (it checks pgpin's log itself).
    if want_suite soak && is_asan_tree "$dir"; then
        run_sh_part "$label" soak bash tests/soak.sh --minutes 1 --build-dir "$dir" \
            --workers "${workers:-2}"
    fi

    local log bad=0
    for log in "$LOGDIR"/pgpin.log "$LOGDIR"/{signals,auth,tls,cancel,limits,budget,check,admin,auto,shape,faults,faults2,dbos-auto}-*.log; do
        [[ -f $log ]] || continue
        pgpin_log_clean "$log" || bad=1
    done
    if ((bad)); then fail "$label no sanitizer reports in pgpin logs" "see $LOGDIR"; else
        pass "$label no sanitizer reports in pgpin logs"
    fi
}

if ((${#BUILD_DIRS[@]})); then
    if setup_postgres; then
        # Worker threads must not change behaviour: the plain build runs the suite with one
        # and with two workers, the sanitizer build with two (cross-thread paths under ASan).
        for d in "${BUILD_DIRS[@]}"; do
            if [[ -n ${WORKERS_LIST:-} ]]; then
                for w in ${WORKERS_LIST//,/ }; do integration_pass "$d" "$w"; done
            elif is_asan_tree "$d"; then
                integration_pass "$d" 2
            else
                integration_pass "$d" 1
                integration_pass "$d" 2
            fi
        done
    else
        fail "throwaway postgres starts"
    fi
else
    fail "integration" "nothing built to test"
fi

summary
echo "(total $((SECONDS - T0)) s)"
((NFAIL == 0))
