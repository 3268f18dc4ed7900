#!/usr/bin/env bash
# tests/integration/admin.sh - the admin console (database "pgpin") and /metrics, one pgpin
# instance per part:
#   console  it_admin's console part (SHOW *, errors, extended protocol, PAUSE/RESUME, /metrics
#            with a strict Prometheus text checker), the same commands through psql, then
#            SHUTDOWN: pgpin exits 0
#   reload   it_admin's reload part (RELOAD applies a new default_pool_size; a broken file is
#            refused), then SHUTDOWN WAIT_FOR_CLIENTS lets a running query finish, then exits 0
#   named    [databases] defines "pgpin": it is a normal database, not the console
#   auth     auth_type = scram-sha-256: the console needs the password like any database
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh); PGPIN_WORKERS.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE="admin" # read by itsuite.sh
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-admin.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

for db in admdb statsdb pausedb pause2db metricsdb reloaddb; do
    suite_dpsql -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 || true
done

# admin psql: apsql PORT ARGS... (user admin, database pgpin)
apsql() {
    local port=$1
    shift
    PGUSER="admin" suite_psql "$port" pgpin "$@"
}

# ---- console ------------------------------------------------------------------------------
console_psql() {
    local port=$1 out
    out=$(apsql "$port" -A -F'|' -c 'SHOW POOLS' 2>&1)
    if [[ $(head -1 <<<"$out") == 'database|user|pool_mode|paused|pool_size|cl_active|cl_waiting|cl_held|sv_active|sv_idle|sv_connecting|sv_syncing|sv_resetting|maxwait' ]]; then
        it_ok "console: psql SHOW POOLS columns"
    else
        it_fail "console: psql SHOW POOLS columns" "$(head -3 <<<"$out" | tr '\n' ' ')"
    fi
    out=$(apsql "$port" -At -c 'show clients' 2>&1)
    if grep -qE '^C-[0-9]+\|[0-9]+\|admin\|pgpin\|admin\|127\.0\.0\.1\|' <<<"$out"; then
        it_ok "console: psql SHOW CLIENTS lists the console itself"
    else
        it_fail "console: psql SHOW CLIENTS lists the console itself" "$out"
    fi
    out=$(apsql "$port" -At -c 'SHOW VERSION;' 2>&1)
    if [[ $out == "$("$PGPIN_BIN" --version)" ]]; then it_ok "console: psql SHOW VERSION"; else
        it_fail "console: psql SHOW VERSION" "$out"
    fi
    out=$(apsql "$port" -At -c 'SHOW HELP' 2>&1)
    if [[ $(wc -l <<<"$out") == 13 ]] && grep -q '^RELOAD|' <<<"$out"; then
        it_ok "console: psql SHOW HELP"
    else
        it_fail "console: psql SHOW HELP" "$out"
    fi
    # A script: an unknown command fails with 42601 and the session goes on.
    out=$(apsql "$port" -At -v VERBOSITY=verbose 2>&1 <<'SQL'
SHOW VERSION;
frobnicate;
show   stats ;
SHOW LIMITS;
SHOW CONFIG;
SQL
    )
    if grep -q 'ERROR:  42601: unknown admin command "frobnicate"' <<<"$out" &&
        [[ $(grep -c '^pgpin ' <<<"$out") == 1 ]] && grep -q '^default_pool_size|20$' <<<"$out"; then
        it_ok "console: psql script with an unknown command continues"
    else
        it_fail "console: psql script with an unknown command continues" "$(tr '\n' ' ' <<<"$out")"
    fi
    if ! out=$(suite_psql "$port" pgpin -c 'SHOW POOLS' 2>&1) && grep -q 'not allowed to use the admin console' <<<"$out"; then
        it_ok "console: psql as a non-admin user is refused"
    else
        it_fail "console: psql as a non-admin user is refused" "$out"
    fi
}

part_console() {
    local pid env attempt metrics ok=0
    for ((attempt = 0; attempt < 3; attempt++)); do
        metrics=127.0.0.1:$(pg_free_port)
        if suite_start console "$(suite_db_line admdb)
$(suite_db_line statsdb)
$(suite_db_line pausedb)
$(suite_db_line pause2db)
metricsdb = host=127.0.0.1 port=$PG_PORT dbname=metricsdb user=postgres" "admin_users = admin
metrics_listen = $metrics"; then
            ok=1
            break
        fi
    done
    if ((!ok)); then
        it_fail "console: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_admin[console]" "$IT_BIN_DIR/it_admin" "${env[@]}" IT_ADMIN_PART=console \
        IT_ADMIN_METRICS="$metrics" PGPIN_WORKERS="${PGPIN_WORKERS:-0}"
    console_psql "$PGPIN_PORT"
    if out=$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "http://$metrics/metrics") &&
        [[ $out == "200 text/plain; version=0.0.4; charset=utf-8" ]]; then
        it_ok "console: curl /metrics content type"
    else
        it_fail "console: curl /metrics content type" "$out"
    fi
    if ! pgpin_alive "$pid"; then
        it_fail "console: pgpin up after the checks" "$(tail -3 "$LOG" | tr '\n' ' ')"
        return
    fi
    out=$(apsql "$PGPIN_PORT" -At -c 'SHUTDOWN' 2>/dev/null)
    if [[ $out == SHUTDOWN ]] && pgpin_wait_exit "$pid" 10 && [[ $PGPIN_RC == 0 ]]; then
        it_ok "console: SHUTDOWN stops pgpin with exit status 0"
    else
        it_fail "console: SHUTDOWN stops pgpin with exit status 0" \
            "reply '$out', rc ${PGPIN_RC:-still running}"
        pgpin_stop "$pid" KILL 2
    fi
}

# ---- reload, then SHUTDOWN WAIT_FOR_CLIENTS ------------------------------------------------
part_reload() {
    local pid env out qpid t0
    if ! suite_start reload "$(suite_db_line reloaddb)" "admin_users = admin
default_pool_size = 2"; then
        it_fail "reload: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_admin[reload]" "$IT_BIN_DIR/it_admin" "${env[@]}" IT_ADMIN_PART=reload \
        IT_ADMIN_CONFIG="$CFG" PGPIN_WORKERS="${PGPIN_WORKERS:-0}"
    # A query runs while SHUTDOWN WAIT_FOR_CLIENTS is given: it completes, then pgpin exits 0.
    # (Its session is then closed with 57P01, as a SIGTERM drain does: stderr is not checked.)
    suite_psql "$PGPIN_PORT" reloaddb -At -c "SELECT 'done' FROM pg_sleep(2)" >"$WORK/q.out" \
        2>"$WORK/q.err" &
    qpid=$!
    sleep 0.7
    t0=$SECONDS
    # (The drain then closes the console too, with 57P01: stderr may carry that FATAL.)
    out=$(apsql "$PGPIN_PORT" -At -c 'shutdown wait_for_clients' 2>/dev/null)
    sleep 0.3
    if [[ $out == SHUTDOWN ]] && pgpin_alive "$pid"; then
        it_ok "reload: SHUTDOWN WAIT_FOR_CLIENTS answers and waits for the running query"
    else
        it_fail "reload: SHUTDOWN WAIT_FOR_CLIENTS answers and waits for the running query" \
            "reply '$out', alive: $(pgpin_alive "$pid" && echo yes || echo no)"
    fi
    wait "$qpid"
    if [[ $(cat "$WORK/q.out") == "done" ]]; then it_ok "reload: the running query completed"; else
        it_fail "reload: the running query completed" "$(cat "$WORK/q.out" "$WORK/q.err" | tr '\n' ' ')"
    fi
    if pgpin_wait_exit "$pid" 15 && [[ $PGPIN_RC == 0 ]]; then
        it_ok "reload: pgpin drained and exited 0 ($((SECONDS - t0)) s)"
    else
        it_fail "reload: pgpin drained and exited 0" "rc ${PGPIN_RC:-still running}"
        pgpin_stop "$pid" KILL 2
    fi
}

# ---- [databases] defines pgpin --------------------------------------------------------------
part_named() {
    local out
    if ! suite_start named "pgpin = host=127.0.0.1 port=$PG_PORT dbname=admdb user=postgres" \
        "admin_users = admin"; then
        it_fail "named: pgpin starts" "see $LOG"
        return
    fi
    out=$(apsql "$PGPIN_PORT" -At -c 'SELECT current_database()' 2>&1)
    if [[ $out == admdb ]]; then it_ok "named: database pgpin is the [databases] entry"; else
        it_fail "named: database pgpin is the [databases] entry" "$out"
    fi
    out=$(apsql "$PGPIN_PORT" -At -v VERBOSITY=verbose -c 'SHOW POOLS' 2>&1)
    if grep -q '42704' <<<"$out"; then it_ok "named: SHOW POOLS goes to Postgres"; else
        it_fail "named: SHOW POOLS goes to Postgres" "$out"
    fi
    suite_stop "$PGPIN_PID" "named: pgpin"
}

# ---- authentication -------------------------------------------------------------------------
part_auth() {
    local out
    printf '"admin" "s3cret"\n"postgres" "pw"\n' >"$WORK/users.txt"
    if ! suite_start auth "$(suite_db_line admdb)" "admin_users = admin
auth_type = scram-sha-256
auth_file = $WORK/users.txt"; then
        it_fail "auth: pgpin starts" "see $LOG"
        return
    fi
    out=$(PGPASSWORD=s3cret apsql "$PGPIN_PORT" -At -c 'SHOW VERSION' 2>&1)
    if [[ $out == "$("$PGPIN_BIN" --version)" ]]; then it_ok "auth: right password"; else
        it_fail "auth: right password" "$out"
    fi
    out=$(PGPASSWORD=wrong apsql "$PGPIN_PORT" -At -c 'SHOW VERSION' 2>&1)
    if grep -q 'password authentication failed for user "admin"' <<<"$out"; then
        it_ok "auth: wrong password refused"
    else
        it_fail "auth: wrong password refused" "$out"
    fi
    out=$(PGPASSWORD=pw suite_psql "$PGPIN_PORT" pgpin -At -c 'SHOW VERSION' 2>&1)
    if grep -q 'not allowed to use the admin console' <<<"$out"; then
        it_ok "auth: authenticated non-admin refused"
    else
        it_fail "auth: authenticated non-admin refused" "$out"
    fi
    suite_stop "$PGPIN_PID" "auth: pgpin"
}

part_console
part_reload
part_named
part_auth
it_done
