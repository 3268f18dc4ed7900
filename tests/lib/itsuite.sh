# shellcheck shell=bash
# tests/lib/itsuite.sh - shared by the integration suites that start their own pgpin instances
# (auth.sh, tls.sh, cancel.sh, limits.sh). Source it after pg.sh and check.sh.
#
# Env the suites get from tests/run.sh: PGPIN_BIN (the binary), PG_PORT (the throwaway Postgres),
# IT_BIN_DIR (the build's tests/ directory with the it_* executables), LOGDIR (logs go to
# LOGDIR/SUITE-*.log; run.sh scans the pgpin logs among them for sanitizer reports).
#
#   suite_start NAME DBLINES [EXTRA]   config + start an instance; sets PGPIN_PID, PGPIN_PORT,
#                                      CFG, LOG (retries on a port race)
#   suite_stop PID                     SIGTERM (bounded), record a failure unless it exits 0
#   suite_ck NAME EXE [VAR=VALUE...]   run a Check executable; every test becomes ok/not ok
#   suite_psql PORT DB ARGS...         psql through an instance (as postgres unless -U/PGUSER)
#   suite_dpsql ARGS...                psql straight to the throwaway Postgres
#   suite_db_line NAME [DBNAME]        "NAME = host=127.0.0.1 port=$PG_PORT dbname=DBNAME"

: "${PGPIN_BIN:?}" "${PG_PORT:?}" "${IT_BIN_DIR:?}" "${LOGDIR:?}" "${SUITE:?}"

suite_start() {
    local name=$1 dblines=$2 attempt
    CFG=$WORK/$name.ini
    LOG=$LOGDIR/$SUITE-$name.log
    for ((attempt = 0; attempt < 3; attempt++)); do
        PGPIN_CFG_EXTRA=${3:-} pgpin_write_config "$CFG" "$(pg_free_port)" "$dblines"
        pgpin_start "$PGPIN_BIN" "$CFG" "$LOG" && return 0
        pgpin_stop "$PGPIN_PID" KILL 2
    done
    return 1
}

suite_stop() {
    local pid=$1 what=${2:-instance}
    if ! pgpin_alive "$pid"; then
        wait "$pid" 2>/dev/null
        it_fail "$what: still running at the end" "pgpin (pid $pid) had exited (status $?)"
        return
    fi
    pgpin_stop "$pid" TERM 20
    if [[ $PGPIN_RC != 0 ]]; then it_fail "$what: SIGTERM exit status" "status $PGPIN_RC"; fi
}

# suite_ck NAME EXE [VAR=VALUE...]: the Check executable runs with the given environment added;
# its verbose per-test lines ("file:line:P|F|E:tcase:test:iter: message") become results.
suite_ck() {
    local name=$1 exe=$2 log rc line re n=0
    shift 2
    log=$LOGDIR/$SUITE-$name.ck.log
    if [[ ! -x $exe ]]; then
        it_fail "$name" "$exe not built"
        return
    fi
    env "$@" CK_VERBOSITY=verbose timeout -k 10 300 "$exe" >"$log" 2>&1
    rc=$?
    sed 's/^/# /' "$log"
    re='^[^:]*:[0-9]+:([PFE]):([^:]*):[^:]*:[0-9]+: ?(.*)$'
    while IFS= read -r line; do
        [[ $line =~ $re ]] || continue
        n=$((n + 1))
        if [[ ${BASH_REMATCH[1]} == P ]]; then it_ok "$name: ${BASH_REMATCH[2]}"; else
            it_fail "$name: ${BASH_REMATCH[2]}" "$(cut -c1-300 <<<"${BASH_REMATCH[3]}")"
        fi
    done <"$log"
    if ((n == 0)); then
        it_fail "$name" "no test result (exit $rc): $(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)"
    elif ((rc != 0)) && ! grep -qE ':[FE]:' "$log"; then
        it_fail "$name" "exit $rc after the tests: $(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)"
    fi
}

suite_psql() {
    local port=$1 db=$2
    shift 2
    PGCONNECT_TIMEOUT=10 timeout 60 psql -X -h 127.0.0.1 -p "$port" -U "${PGUSER:-postgres}" \
        -d "$db" "$@"
}
suite_dpsql() {
    PGCONNECT_TIMEOUT=10 timeout 60 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U postgres "$@"
}
suite_db_line() { echo "$1 = host=127.0.0.1 port=$PG_PORT dbname=${2:-$1}"; }

# Conninfo environment for the it_* executables talking to instance port PORT.
suite_ck_env() {
    echo "PGPIN_IT_PROXY=host=127.0.0.1 port=$1 user=postgres"
    echo "PGPIN_IT_DIRECT=host=127.0.0.1 port=$PG_PORT user=postgres"
}
