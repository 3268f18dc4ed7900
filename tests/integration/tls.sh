#!/usr/bin/env bash
# tests/integration/tls.sh - TLS: a test CA and certificates made here with the openssl CLI;
# pgpin with client_tls_sslmode = require, prefer, verify-ca and verify-full (it_tls); TLS
# toward a second Postgres started here with ssl = on that refuses unencrypted connections
# (good entry, wrong host name, wrong CA); SIGHUP with replaced certificate files (what a new
# connection is shown, seen with `openssl s_client -starttls postgres`).
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=tls
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-tls.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
T=$WORK/certs
mkdir -p "$T"

# --- certificates ----------------------------------------------------------------------------
cat >"$T/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
EOF
ossl() { openssl "$@" >>"$T/openssl.log" 2>&1; }
newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
# mk_ca NAME CN
mk_ca() {
    ossl req -x509 -new "${newkey[@]}" -keyout "$T/$1.key" -out "$T/$1.crt" -days 2 \
        -subj "/CN=$2" -config "$T/openssl.cnf" -extensions v3_ca
}
# mk_cert NAME CA CN server|client
mk_cert() {
    ossl req -new "${newkey[@]}" -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$3" \
        -config "$T/openssl.cnf" &&
        ossl x509 -req -in "$T/$1.csr" -CA "$T/$2.crt" -CAkey "$T/$2.key" \
            -set_serial "0x$(openssl rand -hex 8)" -days 2 -out "$T/$1.crt" \
            -extfile "$T/openssl.cnf" -extensions "$4" &&
        chmod 600 "$T/$1.key"
}
if mk_ca ca "pgpin-it CA" && mk_ca other-ca "pgpin-it other CA" &&
    mk_cert server ca 127.0.0.1 server && mk_cert server2 ca 127.0.0.1 server &&
    mk_cert client ca postgres client && mk_cert client-cn ca somebody client &&
    mk_cert client-other other-ca postgres client &&
    openssl verify -CAfile "$T/ca.crt" "$T/server.crt" "$T/server2.crt" "$T/client.crt" \
        >>"$T/openssl.log" 2>&1; then
    it_ok "openssl CLI: test CA, server (CN/SAN 127.0.0.1) and client certificates"
else
    it_fail "openssl CLI: test CA and certificates" "$(tail -5 "$T/openssl.log" | tr '\n' ' ')"
    it_done
    exit 1
fi
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null; }
# The certificate a new TLS client is shown on PORT.
fp_served() {
    timeout 10 openssl s_client -starttls postgres -connect "127.0.0.1:$1" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

# --- a Postgres with ssl = on, TLS only ----------------------------------------------------------
SPG_DIR=$(mktemp -d /tmp/pgpin-tls-pg.XXXXXX)
SPG_PORT=
spg_stop() {
    if [[ -f $SPG_DIR/data/postmaster.pid ]]; then
        runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$SPG_DIR/data" -m immediate -w -t 30 \
            stop >/dev/null 2>&1
    fi
    rm -rf "$SPG_DIR"
}
pg_on_cleanup spg_stop
spg_start() {
    chown postgres:postgres "$SPG_DIR"
    install -o postgres -g postgres -m 600 "$T/server.key" "$SPG_DIR/server.key"
    install -o postgres -g postgres -m 644 "$T/server.crt" "$SPG_DIR/server.crt"
    runuser -u postgres -- "$PG_BINDIR/initdb" -D "$SPG_DIR/data" -A trust -U postgres -E UTF8 \
        --locale=C --no-sync >"$SPG_DIR/initdb.log" 2>&1 || return 1
    cat >"$SPG_DIR/data/pg_hba.conf" <<'EOF'
local     all all              trust
hostssl   all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
EOF
    local attempt
    for ((attempt = 0; attempt < 3; attempt++)); do
        SPG_PORT=$(pg_free_port)
        if runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$SPG_DIR/data" -l "$SPG_DIR/pg.log" \
            -w -t 60 -o "-c listen_addresses=127.0.0.1 -p $SPG_PORT \
                -c unix_socket_directories=$SPG_DIR -c max_connections=50 -c fsync=off \
                -c ssl=on -c ssl_cert_file=$SPG_DIR/server.crt \
                -c ssl_key_file=$SPG_DIR/server.key" start >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}
spsql() { # spsql SSLMODE ARGS...: straight to the TLS Postgres
    local mode=$1
    shift
    PGCONNECT_TIMEOUT=10 timeout 30 psql -X -At \
        "host=127.0.0.1 port=$SPG_PORT user=postgres dbname=postgres sslmode=$mode sslrootcert=$T/ca.crt" \
        "$@"
}
if spg_start && [[ $(spsql verify-full -c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()') == t ]] &&
    ! spsql disable -c 'SELECT 1' >/dev/null 2>&1; then
    it_ok "Postgres with ssl = on: verify-full works, plaintext refused (port $SPG_PORT)"
else
    it_fail "Postgres with ssl = on" "$(tail -5 "$SPG_DIR/pg.log" "$SPG_DIR/initdb.log" 2>&1 | tr '\n' ' ')"
    SPG_PORT=
fi

# --- pgpin instances -------------------------------------------------------------------------
tls_keys() { # tls_keys MODE CERT KEY [CA]
    printf 'client_tls_sslmode = %s\nclient_tls_cert_file = %s\nclient_tls_key_file = %s\n' \
        "$1" "$2" "$3"
    [[ -z ${4:-} ]] || printf 'client_tls_ca_file = %s\n' "$4"
}
run_part() { # run_part PART PORT
    local env
    mapfile -t env < <(suite_ck_env "$2")
    suite_ck "it_tls[$1]" "$IT_BIN_DIR/it_tls" "${env[@]}" IT_TLS_DIR="$T" IT_TLS_PART="$1" \
        IT_TLS_LOGIN_TIMEOUT=2
}
alive_after() { # alive_after PID WHAT
    if pgpin_alive "$1"; then it_ok "pgpin stays up after $2"; else
        it_fail "pgpin stays up after $2" "exited; log: $(tail -3 "$LOG" | tr '\n' ' ')"
    fi
}

t_prefer() {
    local lines
    lines="$(suite_db_line appdb)"
    if [[ -n $SPG_PORT ]]; then
        local s="port=$SPG_PORT dbname=postgres sslmode=verify-full"
        lines+="
sslok = host=127.0.0.1 $s sslrootcert=$T/ca.crt
sslbadhost = host=localhost $s sslrootcert=$T/ca.crt
sslbadca = host=127.0.0.1 $s sslrootcert=$T/other-ca.crt"
    fi
    if ! suite_start prefer "$lines" "$(tls_keys prefer "$T/server.crt" "$T/server.key")"; then
        it_fail "prefer: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID
    if [[ -n $SPG_PORT ]]; then
        run_part prefer "$PGPIN_PORT"
    else
        it_fail "prefer + server TLS" "no TLS Postgres"
    fi
    alive_after "$pid" "refused server certificates"
    suite_stop "$pid" "prefer: pgpin"
}

t_client_certs() {
    local mode
    for mode in verify-ca verify-full; do
        if ! suite_start "$mode" "$(suite_db_line appdb)" \
            "$(tls_keys "$mode" "$T/server.crt" "$T/server.key" "$T/ca.crt")"; then
            it_fail "$mode: pgpin starts" "see $LOG"
            continue
        fi
        local pid=$PGPIN_PID
        run_part "$mode" "$PGPIN_PORT"
        suite_stop "$pid" "$mode: pgpin"
    done
}

# sess_send SQL: write to the psql session on fd 7.
sess_send() { (printf '%s\n' "$1" >&7) 2>/dev/null; }

t_require() {
    # pgpin reads its certificate from copies that this test replaces.
    cp "$T/server.crt" "$WORK/pgpin.crt"
    install -m 600 "$T/server.key" "$WORK/pgpin.key"
    if ! suite_start require "$(suite_db_line appdb)" \
        "$(tls_keys require "$WORK/pgpin.crt" "$WORK/pgpin.key")
client_login_timeout = 2"; then
        it_fail "require: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT
    run_part require "$port"

    # --- SIGHUP with replaced certificate files ---
    local fp1 fp2 got i
    fp1=$(fp_file "$T/server.crt")
    fp2=$(fp_file "$T/server2.crt")
    got=$(fp_served "$port")
    if [[ -n $got && $got == "$fp1" ]]; then it_ok "s_client -starttls postgres: the configured certificate"; else
        it_fail "s_client -starttls postgres: the configured certificate" "got '$got', want '$fp1'"
    fi
    # A TLS session open across the reload.
    local fifo=$WORK/sess.fifo out=$WORK/sess.out spid
    mkfifo "$fifo"
    PGCONNECT_TIMEOUT=10 timeout 60 psql -X -At \
        "host=127.0.0.1 port=$port user=postgres dbname=appdb sslmode=verify-full sslrootcert=$T/ca.crt" \
        <"$fifo" >"$out" 2>&1 &
    spid=$!
    pg_on_cleanup "kill $spid 2>/dev/null"
    exec 7>"$fifo"
    sess_send "SELECT 'sess-' || 'ready';"
    it_wait_grep "$out" '^sess-ready$' 10 || it_fail "require: TLS session before reload" "$(cat "$out")"

    cp "$T/server2.crt" "$WORK/pgpin.crt"
    install -m 600 "$T/server2.key" "$WORK/pgpin.key"
    kill -HUP "$pid"
    for ((i = 0; i < 50; i++)); do
        got=$(fp_served "$port")
        [[ $got == "$fp2" ]] && break
        sleep 0.2
    done
    if [[ $got == "$fp2" ]]; then it_ok "SIGHUP with replaced cert files: a new connection gets the new certificate"; else
        it_fail "SIGHUP with replaced cert files: a new connection gets the new certificate" \
            "got '$got', want '$fp2' (old '$fp1')"
    fi
    local o
    o=$(PGSSLMODE=verify-full PGSSLROOTCERT=$T/ca.crt suite_psql "$port" appdb -Atc 'select 1' 2>&1)
    if [[ $o == 1 ]]; then it_ok "after SIGHUP: psql verify-full logs in"; else
        it_fail "after SIGHUP: psql verify-full logs in" "$o"
    fi
    sess_send "SELECT 'sess-' || 'after';"
    if it_wait_grep "$out" '^sess-after$' 10; then it_ok "after SIGHUP: a TLS session opened before still works"; else
        it_fail "after SIGHUP: a TLS session opened before still works" "$(tail -3 "$out" | tr '\n' ' ')"
    fi

    # A key that does not match the certificate: the reload fails, the running TLS setup stays.
    local size
    size=$(stat -c %s "$LOG")
    install -m 600 "$T/client.key" "$WORK/pgpin.key"
    kill -HUP "$pid"
    sleep 1
    got=$(fp_served "$port")
    if pgpin_alive "$pid" && [[ $got == "$fp2" ]]; then
        it_ok "SIGHUP with a key that does not match: stays up with the running certificate"
    else
        it_fail "SIGHUP with a key that does not match: stays up with the running certificate" \
            "alive: $(pgpin_alive "$pid" && echo yes || echo no), served '$got'"
    fi
    if tail -c +$((size + 1)) "$LOG" | grep -qiE 'reload failed.*client_tls_key_file'; then
        it_ok "SIGHUP with a key that does not match: logged"
    else
        it_fail "SIGHUP with a key that does not match: logged" "$(tail -c +$((size + 1)) "$LOG" | tail -3)"
    fi
    exec 7>&-
    local deadline=$((SECONDS + 10))
    while kill -0 "$spid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    alive_after "$pid" "the TLS tests"
    suite_stop "$pid" "require: pgpin"
}

# SCRAM over TLS: libpq then sends the gs2 header "y,," (it could bind, the server offers no
# SCRAM-SHA-256-PLUS); a client that requires channel binding is refused, not left hanging.
t_scram_tls() {
    local pw="Tls-$RANDOM$RANDOM-pw" out
    printf '"postgres" "%s"\n' "$pw" >"$WORK/userlist.txt"
    chmod 600 "$WORK/userlist.txt"
    if ! suite_start scram "$(suite_db_line appdb)" "$(tls_keys prefer "$T/server.crt" "$T/server.key")
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt"; then
        it_fail "scram over TLS: pgpin starts" "see $LOG"
        return
    fi
    local pid=$PGPIN_PID port=$PGPIN_PORT
    out=$(PGPASSWORD=$pw PGSSLMODE=require suite_psql "$port" appdb -Atc \
        "select 'in'" 2>&1)
    if [[ $out == in ]]; then it_ok "scram over TLS: psql logs in (channel_binding=prefer)"; else
        it_fail "scram over TLS: psql logs in (channel_binding=prefer)" "$out"
    fi
    out=$(PGPASSWORD=wrong-$pw PGSSLMODE=require suite_psql "$port" appdb -Atc "select 'in'" 2>&1)
    if grep -q 'password authentication failed for user "postgres"' <<<"$out"; then
        it_ok "scram over TLS: a wrong password gets the usual error"
    else
        it_fail "scram over TLS: a wrong password gets the usual error" "$out"
    fi
    out=$(PGPASSWORD=$pw PGSSLMODE=require PGCHANNELBINDING=require suite_psql "$port" appdb \
        -Atc "select 'in'" 2>&1)
    echo "# channel_binding=require: $out"
    if [[ $out != in ]] && grep -qi 'channel binding' <<<"$out"; then
        it_ok "scram over TLS: channel_binding=require refused with a reason (no SCRAM-SHA-256-PLUS)"
    else
        it_fail "scram over TLS: channel_binding=require refused with a reason" "$out"
    fi
    grep -qF -- "$pw" "$LOG" && it_fail "scram over TLS: password not in the log" "found in $LOG"
    suite_stop "$pid" "scram: pgpin"
}

t_require
t_prefer
t_client_certs
t_scram_tls
it_done
