#!/usr/bin/env bash
# tests/integration/auth.sh - client authentication: pgpin with auth_type = scram-sha-256, md5,
# plain and trust in turn, in front of the throwaway Postgres, with an auth_file holding a
# SCRAM-SHA-256 secret and an md5 secret read from Postgres's pg_authid plus a clear-text one.
# psql (PGPASSWORD) here, libpq and a raw-socket client in it_auth. At the end pgpin's logs
# (log_level = debug) must hold none of the passwords and none of the secrets.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=auth
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-auth.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

U_SCRAM=it_auth_scram U_MD5=it_auth_md5 U_PLAIN=it_auth_plain U_UNKNOWN=it_auth_nobody
# Random per run, so that finding one in a log cannot be a coincidence of a fixed string.
PW_SCRAM="Scram-$RANDOM$RANDOM-pw"
PW_MD5="Md5-$RANDOM$RANDOM-pw"
PW_PLAIN="Pl ain-$RANDOM$RANDOM-pw"
PW_WRONG="Wrong-$RANDOM$RANDOM-pw"
PW_UNKNOWN="Nobody-$RANDOM$RANDOM-pw"
PW_PLAIN2="Plain2-$RANDOM$RANDOM-pw"

# --- users in Postgres, secrets from pg_authid ---------------------------------------------------
if ! suite_dpsql -d postgres >/dev/null <<SQL; then
DROP ROLE IF EXISTS $U_SCRAM;
DROP ROLE IF EXISTS $U_MD5;
DROP ROLE IF EXISTS $U_PLAIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE $U_SCRAM LOGIN PASSWORD '$PW_SCRAM';
SET password_encryption = 'md5';
CREATE ROLE $U_MD5 LOGIN PASSWORD '$PW_MD5';
CREATE ROLE $U_PLAIN LOGIN;
SQL
    it_fail "create roles" "psql failed"
    it_done
    exit 1
fi
pg_on_cleanup "suite_dpsql -d postgres -c 'DROP ROLE IF EXISTS $U_SCRAM, $U_MD5, $U_PLAIN' >/dev/null 2>&1"
secret() { suite_dpsql -d postgres -Atc "SELECT rolpassword FROM pg_authid WHERE rolname = '$1'"; }
S_SCRAM=$(secret $U_SCRAM)
S_MD5=$(secret $U_MD5)
if [[ $S_SCRAM != SCRAM-SHA-256\$* || $S_MD5 != md5* ]]; then
    it_fail "secrets from pg_authid" "got '$S_SCRAM' and '$S_MD5'"
    it_done
    exit 1
fi
# SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
SCRAM_SALT=${S_SCRAM#*:}
SCRAM_SALT=${SCRAM_SALT%%\$*}
SCRAM_KEYS=${S_SCRAM##*\$}
SCRAM_STORED=${SCRAM_KEYS%%:*}
SCRAM_SERVER=${SCRAM_KEYS#*:}
write_userlist() { # write_userlist PLAIN_PASSWORD
    {
        echo '; written by tests/integration/auth.sh'
        printf '"%s" "%s"\n' "$U_SCRAM" "$S_SCRAM" "$U_MD5" "$S_MD5" "$U_PLAIN" "$1"
    } >"$WORK/userlist.tmp"
    chmod 600 "$WORK/userlist.tmp"
    mv "$WORK/userlist.tmp" "$WORK/userlist.txt"
}
write_userlist "$PW_PLAIN"

# psql through the current instance: ppsql USER PASSWORD ARGS... (PASSWORD "-": none at hand)
ppsql() {
    local user=$1 pw=$2
    shift 2
    if [[ $pw == - ]]; then
        PGPASSFILE=$WORK/no-pgpass PGUSER=$user suite_psql "$PGPIN_PORT" appdb -w "$@"
    else
        PGPASSFILE=$WORK/no-pgpass PGPASSWORD=$pw PGUSER=$user suite_psql "$PGPIN_PORT" appdb -w "$@"
    fi
}

# psql_login MODE USER PASSWORD EXPECT(ok|fail): one login with psql, checked.
psql_login() {
    local mode=$1 user=$2 pw=$3 expect=$4 out rc
    local name="$mode: psql as $user ${5:-} -> $expect"
    out=$(ppsql "$user" "$pw" -Atc 'SELECT current_user' 2>&1)
    rc=$?
    if [[ $expect == ok ]]; then
        if ((rc == 0)) && [[ $out == "$user" ]]; then it_ok "$name"; else
            it_fail "$name" "rc $rc: $out"
        fi
        return
    fi
    # psql exits 2 when the connection fails.
    PSQL_LAST_ERR=${out//$user/<USER>}
    if ((rc == 2)) && grep -qF "FATAL:  password authentication failed for user \"$user\"" <<<"$out"; then
        it_ok "$name"
    else
        it_fail "$name" "rc $rc: $out"
    fi
}

t_mode() {
    local mode=$1
    if ! suite_start "$mode" "$(suite_db_line appdb)" "auth_type = $mode
auth_file = $WORK/userlist.txt
client_login_timeout = 2
log_level = debug"; then
        it_fail "$mode: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID
    if [[ $mode == trust ]]; then
        psql_login "$mode" "$U_SCRAM" - ok "(no password)"
        psql_login "$mode" "$U_MD5" - ok "(no password)"
        psql_login "$mode" "$U_PLAIN" - ok "(no password)"
        psql_login "$mode" "$U_MD5" "$PW_WRONG" ok "(wrong password, never asked)"
    else
        psql_login "$mode" "$U_SCRAM" "$PW_SCRAM" ok
        # Postgres refuses an md5 secret under scram-sha-256 too (it cannot do SCRAM).
        if [[ $mode == scram-sha-256 ]]; then
            psql_login "$mode" "$U_MD5" "$PW_MD5" fail "(md5 secret, right password)"
        else
            psql_login "$mode" "$U_MD5" "$PW_MD5" ok
        fi
        psql_login "$mode" "$U_PLAIN" "$PW_PLAIN" ok
        local e_unknown u diff=()
        psql_login "$mode" "$U_UNKNOWN" "$PW_UNKNOWN" fail "(unknown user)"
        e_unknown=$PSQL_LAST_ERR
        for u in "$U_SCRAM" "$U_MD5" "$U_PLAIN"; do
            psql_login "$mode" "$u" "$PW_WRONG" fail "(wrong password)"
            [[ $PSQL_LAST_ERR == "$e_unknown" ]] || diff+=("$u: '$PSQL_LAST_ERR'")
        done
        if ((${#diff[@]} == 0)); then
            it_ok "$mode: psql: unknown user and wrong passwords give the same error"
        else
            it_fail "$mode: psql: unknown user and wrong passwords give the same error" \
                "unknown: '$e_unknown'; ${diff[*]}"
        fi
        local out
        if out=$(ppsql "$U_SCRAM" - -Atc 'select 1' 2>&1); then
            it_fail "$mode: psql without a password is refused" "logged in: $out"
        elif grep -q 'no password supplied' <<<"$out"; then
            it_ok "$mode: psql without a password is refused"
        else
            it_fail "$mode: psql without a password is refused" "$out"
        fi
    fi

    local env
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_auth[$mode]" "$IT_BIN_DIR/it_auth" "${env[@]}" IT_AUTH_TYPE="$mode" \
        IT_AUTH_SCRAM_USER=$U_SCRAM IT_AUTH_SCRAM_PW="$PW_SCRAM" IT_AUTH_SCRAM_SALT="$SCRAM_SALT" \
        IT_AUTH_MD5_USER=$U_MD5 IT_AUTH_MD5_PW="$PW_MD5" \
        IT_AUTH_PLAIN_USER=$U_PLAIN IT_AUTH_PLAIN_PW="$PW_PLAIN" \
        IT_AUTH_UNKNOWN_USER=$U_UNKNOWN IT_AUTH_UNKNOWN_PW="$PW_UNKNOWN" \
        IT_AUTH_WRONG_PW="$PW_WRONG" IT_AUTH_LOGIN_TIMEOUT=2
    [[ $mode == plain ]] && t_reload_userlist "$pid"
    suite_stop "$pid" "$mode: pgpin"
}

# SIGHUP re-reads auth_file: a changed password counts for new logins, sessions stay.
t_reload_userlist() {
    local pid=$1 fifo=$WORK/sess.fifo out=$WORK/sess.out spid i ok=0
    rm -f "$fifo"
    mkfifo "$fifo"
    PGPASSFILE=$WORK/no-pgpass PGPASSWORD=$PW_PLAIN PGCONNECT_TIMEOUT=10 timeout 60 psql -X -At \
        -h 127.0.0.1 -p "$PGPIN_PORT" -U "$U_PLAIN" -d appdb <"$fifo" >"$out" 2>&1 &
    spid=$!
    pg_on_cleanup "kill $spid 2>/dev/null"
    exec 7>"$fifo"
    (printf '%s\n' "SELECT 'sess-' || 'one';" >&7) 2>/dev/null
    it_wait_grep "$out" '^sess-one$' 10 || it_fail "plain: session before reload" "$(cat "$out")"
    write_userlist "$PW_PLAIN2"
    kill -HUP "$pid"
    for ((i = 0; i < 50; i++)); do
        if ppsql "$U_PLAIN" "$PW_PLAIN2" -Atc 'select 1' >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if ((ok)); then it_ok "plain: SIGHUP re-reads auth_file: the new password logs in"; else
        it_fail "plain: SIGHUP re-reads auth_file: the new password logs in" "not within 5 s"
    fi
    psql_login plain "$U_PLAIN" "$PW_PLAIN" fail "(old password after reload)"
    (printf '%s\n' "SELECT 'sess-' || 'two';" >&7) 2>/dev/null
    if it_wait_grep "$out" '^sess-two$' 10; then it_ok "plain: a session from before the reload stays"; else
        it_fail "plain: a session from before the reload stays" "$(tail -3 "$out" | tr '\n' ' ')"
    fi
    exec 7>&-
    for ((i = 0; i < 100; i++)); do
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    write_userlist "$PW_PLAIN"
}

for m in scram-sha-256 md5 plain trust; do
    t_mode "$m"
done

# --- auth_query: a user missing from auth_file is looked up in pg_authid as auth_user ----------
t_auth_query() {
    local u=it_auth_query pw="Query-$RANDOM$RANDOM-pw"
    if ! suite_dpsql -d postgres >/dev/null <<SQL; then
SET client_min_messages = warning;
DROP ROLE IF EXISTS $u;
SET password_encryption = 'scram-sha-256';
CREATE ROLE $u LOGIN PASSWORD '$pw';
SQL
        it_fail "auth_query: create role" "psql failed"
        return
    fi
    pg_on_cleanup "suite_dpsql -d postgres -c 'DROP ROLE IF EXISTS $u' >/dev/null 2>&1"
    if ! suite_start auth_query "$(suite_db_line appdb)" "auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
auth_user = postgres
auth_query = SELECT rolname, rolpassword FROM pg_authid WHERE rolname = \$1"; then
        it_fail "auth_query: pgpin starts" "see $LOG"
        return
    fi
    psql_login auth_query "$u" "$pw" ok "(not in auth_file, found by auth_query)"
    psql_login auth_query "$u" "$PW_WRONG" fail "(auth_query user, wrong password)"
    psql_login auth_query "$U_SCRAM" "$PW_SCRAM" ok "(in auth_file)"
    psql_login auth_query "$U_UNKNOWN" "$PW_UNKNOWN" fail "(in neither)"
    if grep -qF -- "$pw" "$LOG"; then it_fail "auth_query: password in the log" "$LOG"; fi
    suite_stop "$PGPIN_PID" "auth_query: pgpin"
}
t_auth_query

# --- nothing secret in the logs ----------------------------------------------------------------
t_logs() {
    local logs=() f
    for f in "$LOGDIR"/auth-{scram-sha-256,md5,plain,trust}.log; do
        [[ -f $f ]] && logs+=("$f")
    done
    if ((${#logs[@]} != 4)); then
        it_fail "logs: all four instances logged" "found ${logs[*]}"
        return
    fi
    # The logs must be worth searching: debug lines and the logins and failures are there.
    if grep -q ' DEBUG ' "${logs[@]}" && grep -q "login $U_SCRAM@appdb" "${logs[@]}" &&
        grep -q "password authentication failed" "${logs[@]}"; then
        it_ok "logs: debug lines, logins and failures are logged"
    else
        it_fail "logs: debug lines, logins and failures are logged" "see ${logs[*]}"
    fi
    local what needle found=()
    local -A needles=(
        [scram password]=$PW_SCRAM [md5 password]=$PW_MD5 [plain password]=$PW_PLAIN
        [wrong password]=$PW_WRONG [unknown-user password]=$PW_UNKNOWN
        [reloaded plain password]=$PW_PLAIN2
        [scram secret]=$S_SCRAM [scram StoredKey]=$SCRAM_STORED [scram ServerKey]=$SCRAM_SERVER
        [md5 secret]=$S_MD5 [md5 hash]=${S_MD5#md5}
    )
    for what in "${!needles[@]}"; do
        needle=${needles[$what]}
        if grep -qF -- "$needle" "${logs[@]}"; then found+=("$what"); fi
    done
    if ((${#found[@]} == 0)); then
        it_ok "logs (log_level = debug): no password and no secret (${#needles[@]} strings searched)"
    else
        it_fail "logs (log_level = debug): no password and no secret" "found: ${found[*]}"
    fi
}
t_logs
it_done
