#!/usr/bin/env bash
# tests/integration/signals.sh - pgpin's signal handling, each case on its own pgpin instance:
# SIGHUP reload (good file, broken file, good again), SIGTERM drain (transaction finishes; or is
# cut at shutdown_timeout), SIGINT immediate stop; plus 3D000 from an instance without "*".
# Env: PGPIN_BIN, PG_PORT, IT_BADINPUT (the it_badinput executable), LOGDIR (pgpin logs go to
# LOGDIR/signals-*.log; the caller scans them for sanitizer reports).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
: "${PGPIN_BIN:?}" "${PG_PORT:?}" "${IT_BADINPUT:?}" "${LOGDIR:?}"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-sig.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

ppsql() { # ppsql PORT DB ARGS...
    local port=$1 db=$2
    shift 2
    PGCONNECT_TIMEOUT=5 timeout 20 psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}
dpsql() { PGCONNECT_TIMEOUT=5 timeout 20 psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }
db_line() { echo "$1 = host=127.0.0.1 port=$PG_PORT dbname=${2:-$1}"; }

# start_instance NAME DBLINES [EXTRA]: config + start; sets PGPIN_PID, PGPIN_PORT, CFG, LOG.
start_instance() {
    local name=$1 dblines=$2 attempt
    CFG=$WORK/$name.ini
    LOG=$LOGDIR/signals-$name.log
    for ((attempt = 0; attempt < 3; attempt++)); do
        PGPIN_CFG_EXTRA=${3:-} pgpin_write_config "$CFG" "$(pg_free_port)" "$dblines"
        pgpin_start "$PGPIN_BIN" "$CFG" "$LOG" && return 0
        pgpin_stop "$PGPIN_PID" KILL 2
    done
    return 1
}

# sess_send SQL: write to the session; a subshell takes the SIGPIPE if psql is gone.
sess_send() { (printf '%s\n' "$1" >&7) 2>/dev/null; }
# A psql session fed through a fifo, to hold a transaction open across a signal.
# open_session PORT DB: sets SESS_PID, SESS_OUT; fd 7 writes to it.
open_session() {
    local fifo=$WORK/sess.fifo
    rm -f "$fifo"
    mkfifo "$fifo"
    SESS_OUT=$WORK/sess.out
    : >"$SESS_OUT"
    PGCONNECT_TIMEOUT=5 timeout 120 psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" \
        -U postgres -d "$2" <"$fifo" >"$SESS_OUT" 2>&1 &
    SESS_PID=$!
    pg_on_cleanup "kill $SESS_PID 2>/dev/null"
    exec 7>"$fifo"
    sess_send "SELECT 'sess-connected';"
    it_wait_grep "$SESS_OUT" '^sess-connected$' 10
}
close_session() {
    exec 7>&- 2>/dev/null
    local deadline=$((SECONDS + 10))
    while kill -0 "$SESS_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill "$SESS_PID" 2>/dev/null
    wait "$SESS_PID" 2>/dev/null
}
# Quick success/failure of a new connection to PORT DB.
can_connect() { [[ $(ppsql "$1" "$2" -Atc 'select 1' 2>/dev/null) == 1 ]]; }
now_ms() { date +%s%3N; }

dpsql -d appdb -c 'CREATE TABLE IF NOT EXISTS it_signals (tag text, v int)' >/dev/null ||
    pg_die "cannot create it_signals"

# --- unknown database without "*", then SIGHUP reloads -----------------------------------------
t_reload() {
    if ! start_instance reload "$(db_line appdb)"; then
        it_fail "reload: start" "pgpin did not start"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT out size
    if out=$(PGPIN_IT_PROXY="host=127.0.0.1 port=$port user=postgres" \
        PGPIN_IT_DIRECT="host=127.0.0.1 port=$PG_PORT user=postgres" CK_RUN_CASE=unknown_database \
        CK_VERBOSITY=normal timeout 120 "$IT_BADINPUT" 2>&1); then
        it_ok "unknown database without \"*\" entry -> 3D000"
    else
        it_fail "unknown database without \"*\" entry -> 3D000" "$(tail -3 <<<"$out" | tr '\n' ' ')"
    fi

    can_connect "$port" hupdb && it_fail "reload: precondition" "hupdb served before reload"
    pgpin_write_config "$CFG" "$port" "$(db_line appdb)
$(db_line hupdb appdb)"
    kill -HUP "$pid"
    local ok=0 i
    for ((i = 0; i < 100; i++)); do
        if can_connect "$port" hupdb; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if ((ok)) && pgpin_alive "$pid"; then
        it_ok "SIGHUP with a good config: new database served"
    else
        it_fail "SIGHUP with a good config: new database served" "hupdb not connectable in 10s"
    fi

    size=$(stat -c %s "$LOG")
    printf '[pgpin]\nlisten_port = %s\npool_mode = transaction\ndefault_pool_size = many\n[databases]\nthis line is not a setting\n' \
        "$port" >"$CFG"
    kill -HUP "$pid"
    sleep 1.5
    local why
    why=$(tail -c +$((size + 1)) "$LOG")
    if ! pgpin_alive "$pid"; then
        it_fail "SIGHUP with a broken config: stays up" "pgpin exited; log: $(tail -3 "$LOG")"
        return
    fi
    it_ok "SIGHUP with a broken config: stays up"
    if grep -qiE 'error|invalid|fail|reload|config|keep' <<<"$why"; then
        it_ok "SIGHUP with a broken config: logs why"
        echo "# pgpin said: $(head -3 <<<"$why" | tr '\n' ' ')"
    else
        it_fail "SIGHUP with a broken config: logs why" "log after SIGHUP: '$why'"
    fi
    if can_connect "$port" hupdb && can_connect "$port" appdb; then
        it_ok "SIGHUP with a broken config: old config still works"
    else
        it_fail "SIGHUP with a broken config: old config still works" "hupdb/appdb not served"
    fi

    pgpin_write_config "$CFG" "$port" "$(db_line appdb)
$(db_line hupdb2 appdb)"
    kill -HUP "$pid"
    ok=0
    for ((i = 0; i < 100; i++)); do
        if can_connect "$port" hupdb2; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if ((ok)); then it_ok "SIGHUP after a broken config: reload works again"; else
        it_fail "SIGHUP after a broken config: reload works again" "hupdb2 not served in 10s"
    fi
    pgpin_stop "$pid" TERM 15
    [[ $PGPIN_RC == 0 ]] || it_fail "reload instance: SIGTERM exit status" "rc=$PGPIN_RC"
}

# --- SIGTERM drain: the open transaction may COMMIT, new clients are refused --------------------
t_drain_commit() {
    local shutdown=10 tag=drain-$$-$RANDOM
    if ! start_instance drain "$(db_line appdb)" "shutdown_timeout = $shutdown"; then
        it_fail "drain: start" "pgpin did not start"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT t0
    if ! open_session "$port" appdb; then
        it_fail "drain: open session" "$(cat "$SESS_OUT")"
        return
    fi
    sess_send "BEGIN; INSERT INTO it_signals VALUES ('$tag', 1); SELECT 'in-tx';"
    it_wait_grep "$SESS_OUT" '^in-tx$' 10 || it_fail "drain: begin" "$(cat "$SESS_OUT")"
    kill -TERM "$pid"
    t0=$(now_ms)
    sleep 0.5
    # Refused means told so at once (connection refused, or an error), not left to time out.
    local c0 c1
    c0=$(now_ms)
    if can_connect "$port" appdb; then
        it_fail "SIGTERM: new connections refused" "a new client got an answer while draining"
    else
        c1=$(now_ms)
        if ((c1 - c0 < 3000)); then
            it_ok "SIGTERM: new connections refused ($((c1 - c0)) ms)"
        else
            it_fail "SIGTERM: new connections refused" \
                "the attempt hung $((c1 - c0)) ms until libpq's connect_timeout (listener left open?)"
        fi
    fi
    if pgpin_alive "$pid"; then it_ok "SIGTERM: waits for the open transaction"; else
        it_fail "SIGTERM: waits for the open transaction" "pgpin exited at once"
    fi
    # psql prints the command tag; once the transaction is over pgpin may close the session at
    # once, so nothing is sent after the COMMIT.
    sess_send "INSERT INTO it_signals VALUES ('$tag', 2); COMMIT;"
    it_wait_grep "$SESS_OUT" '^COMMIT$|connection to server was lost|server closed' 10
    if grep -q '^COMMIT$' "$SESS_OUT" &&
        [[ $(dpsql -d appdb -Atc "SELECT count(*) FROM it_signals WHERE tag = '$tag'") == 2 ]]; then
        it_ok "SIGTERM: open transaction can still COMMIT"
    else
        it_fail "SIGTERM: open transaction can still COMMIT" "$(tail -3 "$SESS_OUT" | tr '\n' ' ')"
    fi
    if pgpin_wait_exit "$pid" $((shutdown + 5)); then
        if [[ $PGPIN_RC == 0 ]]; then
            it_ok "SIGTERM: exits 0 after the transaction (exit seen $(($(now_ms) - t0)) ms after SIGTERM)"
        else
            it_fail "SIGTERM: exits 0 after the transaction" "exit status $PGPIN_RC"
        fi
    else
        it_fail "SIGTERM: exits 0 after the transaction" "still running $((shutdown + 5))s after SIGTERM"
        pgpin_stop "$pid" KILL 5
    fi
    sess_send "SELECT 'after-exit';"
    close_session
    if grep -q '^after-exit$' "$SESS_OUT"; then
        it_fail "SIGTERM: client closed after its transaction" "session still answered"
    else
        it_ok "SIGTERM: client closed after its transaction"
    fi
}

# --- SIGTERM drain: a transaction that never ends is cut at shutdown_timeout ---------------------
t_drain_timeout() {
    local shutdown=4 tag=drainto-$$-$RANDOM
    if ! start_instance draintimeout "$(db_line appdb)" "shutdown_timeout = $shutdown"; then
        it_fail "drain timeout: start" "pgpin did not start"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT t0 took
    open_session "$port" appdb || { it_fail "drain timeout: open session" "$(cat "$SESS_OUT")"; return; }
    sess_send "BEGIN; INSERT INTO it_signals VALUES ('$tag', 1); SELECT 'in-tx';"
    it_wait_grep "$SESS_OUT" '^in-tx$' 10
    kill -TERM "$pid"
    t0=$SECONDS
    if pgpin_wait_exit "$pid" $((shutdown + 6)); then
        took=$((SECONDS - t0))
        if [[ $PGPIN_RC == 0 ]] && ((took >= shutdown - 1)); then
            it_ok "SIGTERM: idle-in-transaction client cut at shutdown_timeout (${took}s, exit 0)"
        else
            it_fail "SIGTERM: idle-in-transaction client cut at shutdown_timeout" \
                "exit status $PGPIN_RC after ${took}s (shutdown_timeout $shutdown)"
        fi
    else
        it_fail "SIGTERM: idle-in-transaction client cut at shutdown_timeout" \
            "still running $((shutdown + 6))s after SIGTERM"
        pgpin_stop "$pid" KILL 5
    fi
    close_session
    local n
    n=$(dpsql -d appdb -Atc "SELECT count(*) FROM it_signals WHERE tag = '$tag'")
    if [[ $n == 0 ]]; then it_ok "SIGTERM: cut transaction not committed"; else
        it_fail "SIGTERM: cut transaction not committed" "found $n rows"
    fi
}

# --- SIGINT: stop now ---------------------------------------------------------------------------
t_sigint() {
    local tag=sigint-$$-$RANDOM
    if ! start_instance sigint "$(db_line appdb)" "shutdown_timeout = 30"; then
        it_fail "sigint: start" "pgpin did not start"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT
    open_session "$port" appdb || { it_fail "sigint: open session" "$(cat "$SESS_OUT")"; return; }
    sess_send "BEGIN; INSERT INTO it_signals VALUES ('$tag', 1); SELECT 'in-tx';"
    it_wait_grep "$SESS_OUT" '^in-tx$' 10
    kill -INT "$pid"
    if pgpin_wait_exit "$pid" 3; then
        it_ok "SIGINT: stops immediately (exit status $PGPIN_RC)"
    else
        it_fail "SIGINT: stops immediately" "still running 3s after SIGINT"
        pgpin_stop "$pid" KILL 5
    fi
    sess_send "SELECT 'after-sigint';"
    close_session
    if grep -q '^after-sigint$' "$SESS_OUT"; then
        it_fail "SIGINT: client disconnected" "session still answered"
    else
        it_ok "SIGINT: client disconnected"
    fi
    local n
    n=$(dpsql -d appdb -Atc "SELECT count(*) FROM it_signals WHERE tag = '$tag'")
    if [[ $n == 0 ]]; then it_ok "SIGINT: open transaction rolled back"; else
        it_fail "SIGINT: open transaction rolled back" "found $n rows"
    fi
}

t_reload
t_drain_commit
t_drain_timeout
t_sigint
it_done
