#!/usr/bin/env bash
# tests/integration/faults2.sh - dead peers and overload (issue 9, points 4-6), one pgpin
# instance per part; the checks are in it_faults2, this script starts what they need.
#
#   dead      a Postgres of our own in a network namespace behind a veth pair, and a second
#             namespace for clients. The tests take a link down (`ip link set down` on the
#             namespace's end: no FIN, no RST, not even an ACK afterwards) and expect pgpin
#             (tcp_keepidle 1, tcp_keepintvl 1, tcp_keepcnt 3, tcp_user_timeout 3000) to notice:
#             a dead server's clients get 08006 errors, a dead client's server is let go.
#   flood     5,000 idle clients held and 20,000 connection attempts in 10 s: pgpin stays up,
#             its RSS bounded, a steady client's latency within 2x.
#   slowread  a client that stops reading a 1 GB result: pgpin's RSS stays under 64 MB, other
#             clients are served as before, and the stalled result arrives whole afterwards.
#   stall     the price of tcp_user_timeout (2000 ms): the kernel drops a client that leaves its
#             window full that long, so its server is closed mid-result.
#
# Needs root (ip netns). Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=faults2
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-faults2.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ---- network namespaces --------------------------------------------------------------------
TAG=$$
NS_PG=pgpinf2pg$TAG NS_CL=pgpinf2cl$TAG
IF_PG=f2p${TAG}h IF_PGNS=f2p${TAG}n IF_CL=f2c${TAG}h IF_CLNS=f2c${TAG}n
NET= # 10.A.B: .1/.2 the Postgres link (host/namespace), .5/.6 the client link

ns_cleanup() {
    ip netns del "$NS_PG" 2>/dev/null
    ip netns del "$NS_CL" 2>/dev/null
    ip link del "$IF_PG" 2>/dev/null
    ip link del "$IF_CL" 2>/dev/null
    return 0
}

# ns_link NS HOSTIF NSIF HOSTIP NSIP: a namespace joined to this one by a veth pair (/30).
ns_link() {
    local ns=$1 hif=$2 nif=$3 hip=$4 nip=$5
    ip netns add "$ns" && ip netns exec "$ns" ip link set lo up &&
        ip link add "$hif" type veth peer name "$nif" && ip link set "$nif" netns "$ns" &&
        ip addr add "$hip/30" dev "$hif" && ip link set "$hif" up &&
        ip netns exec "$ns" ip addr add "$nip/30" dev "$nif" &&
        ip netns exec "$ns" ip link set "$nif" up
}

ns_setup() {
    local i a b
    for ((i = 0; i < 50; i++)); do # a /29 nobody here uses
        a=$((200 + RANDOM % 50)) b=$((RANDOM % 256))
        ip -o -4 addr show | grep -q " 10\.$a\.$b\." || break
    done
    NET=10.$a.$b
    pg_on_cleanup ns_cleanup
    ns_link "$NS_PG" "$IF_PG" "$IF_PGNS" "$NET.1" "$NET.2" &&
        ns_link "$NS_CL" "$IF_CL" "$IF_CLNS" "$NET.5" "$NET.6"
}

# A Postgres inside NS_PG listening on $NET.2 (and a Unix socket for the direct checks: a
# path-named socket works across network namespaces). Sets PGNS_DIR, PGNS_PORT.
PGNS_DIR=
pgns_stop() {
    [[ -n $PGNS_DIR && -d $PGNS_DIR ]] || return 0
    runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PGNS_DIR/data" -m immediate -w -t 30 stop \
        >/dev/null 2>&1
    rm -rf "$PGNS_DIR"
}
pgns_start() {
    PGNS_DIR=$(mktemp -d /tmp/pgpin-f2pg.XXXXXX)
    PGNS_PORT=5432 # its own namespace: no clash
    chown postgres:postgres "$PGNS_DIR"
    pg_on_cleanup pgns_stop
    runuser -u postgres -- mkdir "$PGNS_DIR/sock"
    runuser -u postgres -- "$PG_BINDIR/initdb" -D "$PGNS_DIR/data" -A trust -U postgres -E UTF8 \
        --locale=C --no-sync >"$PGNS_DIR/initdb.log" 2>&1 || return 1
    echo "host all all $NET.0/29 trust" >>"$PGNS_DIR/data/pg_hba.conf"
    ip netns exec "$NS_PG" runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PGNS_DIR/data" \
        -l "$PGNS_DIR/postgres.log" -w -t 60 -o "-c listen_addresses=$NET.2 -p $PGNS_PORT \
        -c unix_socket_directories=$PGNS_DIR/sock -c max_connections=50 -c fsync=off \
        -c synchronous_commit=off -c ssl=off" start >/dev/null 2>&1 || return 1
    PGCONNECT_TIMEOUT=10 psql -X -q -h "$PGNS_DIR/sock" -p "$PGNS_PORT" -U postgres \
        -c 'CREATE DATABASE appdb' postgres
}

# ---- parts ---------------------------------------------------------------------------------
# run_ck PART ENV...: it_faults2 against the instance just started.
run_ck() {
    local name=$1
    shift
    suite_ck "it_faults2[$name]" "$IT_BIN_DIR/it_faults2" IT_FAULTS2_PART="$name" \
        IT_FAULTS2_PGPIN_PID="$PGPIN_PID" IT_FAULTS2_LOG="$LOG" "$@"
}
# finish_part PART: pgpin must still serve, then it stops cleanly.
finish_part() {
    local name=$1 pid=$PGPIN_PID
    if pgpin_alive "$pid" && [[ $(suite_psql "$PGPIN_PORT" appdb -Atc 'select 1' 2>&1) == 1 ]]; then
        it_ok "$name: pgpin up and serving afterwards"
    else
        it_fail "$name: pgpin up and serving afterwards" "$(tail -3 "$LOG" | tr '\n' ' ')"
    fi
    suite_stop "$pid" "$name: pgpin"
}

part_dead() {
    if ! ns_setup; then
        it_fail "dead: network namespaces" "ip netns / veth setup failed (needs root)"
        return
    fi
    if ! pgns_start; then
        it_fail "dead: Postgres in a namespace starts" "$(tail -5 "$PGNS_DIR"/*.log | tr '\n' ' ')"
        return
    fi
    if ! suite_start dead "appdb = host=$NET.2 port=$PGNS_PORT dbname=appdb pool_size=10" \
        "listen_addr = 127.0.0.1,$NET.5
tcp_keepalive = on
tcp_keepidle = 1
tcp_keepintvl = 1
tcp_keepcnt = 3
tcp_user_timeout = 3000
server_connect_timeout = 5
admin_users = postgres"; then
        it_fail "dead: pgpin starts" "see $LOG"
        return
    fi
    run_ck dead \
        "PGPIN_IT_PROXY=host=127.0.0.1 port=$PGPIN_PORT user=postgres" \
        "PGPIN_IT_DIRECT=host=$PGNS_DIR/sock port=$PGNS_PORT user=postgres" \
        "IT_FAULTS2_CLIENT_NS=/run/netns/$NS_CL" \
        "IT_FAULTS2_CLIENT_PROXY=host=$NET.5 port=$PGPIN_PORT user=postgres" \
        "IT_FAULTS2_CUT_SERVER=ip netns exec $NS_PG ip link set $IF_PGNS down" \
        "IT_FAULTS2_HEAL_SERVER=ip netns exec $NS_PG ip link set $IF_PGNS up" \
        "IT_FAULTS2_CUT_CLIENT=ip netns exec $NS_CL ip link set $IF_CLNS down" \
        "IT_FAULTS2_HEAL_CLIENT=ip netns exec $NS_CL ip link set $IF_CLNS up"
    ip netns exec "$NS_PG" ip link set "$IF_PGNS" up # after a failure mid-cut
    ip netns exec "$NS_CL" ip link set "$IF_CLNS" up
    finish_part dead
    if grep -q 'server connection lost: Connection timed out' "$LOG"; then
        it_ok "dead: pgpin logs the server connection lost by timeout"
    else
        it_fail "dead: pgpin logs the server connection lost by timeout" "see $LOG"
    fi
    if grep -q 'client connection lost: Connection timed out' "$LOG"; then
        it_ok "dead: pgpin logs the client connection lost by timeout"
    else
        it_fail "dead: pgpin logs the client connection lost by timeout" "see $LOG"
    fi
}

part_flood() {
    local db="host=127.0.0.1 port=$PG_PORT dbname=appdb"
    if ! suite_start flood "appdb = $db pool_size=5
idle = $db pool_mode=auto pool_size=4
flood = $db pool_mode=auto pool_size=4" "max_client_conn = 15000
log_level = warning"; then
        it_fail "flood: pgpin starts" "see $LOG"
        return
    fi
    run_ck flood "PGPIN_IT_PROXY=host=127.0.0.1 port=$PGPIN_PORT user=postgres" \
        "PGPIN_IT_DIRECT=host=127.0.0.1 port=$PG_PORT user=postgres"
    finish_part flood
}

part_slowread() {
    if ! suite_start slowread "$(suite_db_line appdb)" ""; then
        it_fail "slowread: pgpin starts" "see $LOG"
        return
    fi
    run_ck slowread "PGPIN_IT_PROXY=host=127.0.0.1 port=$PGPIN_PORT user=postgres" \
        "PGPIN_IT_DIRECT=host=127.0.0.1 port=$PG_PORT user=postgres"
    finish_part slowread
}

part_stall() {
    if ! suite_start stall "$(suite_db_line appdb)" "tcp_user_timeout = 2000"; then
        it_fail "stall: pgpin starts" "see $LOG"
        return
    fi
    run_ck stall "PGPIN_IT_PROXY=host=127.0.0.1 port=$PGPIN_PORT user=postgres" \
        "PGPIN_IT_DIRECT=host=127.0.0.1 port=$PG_PORT user=postgres"
    finish_part stall
}

suite_dpsql -c 'CREATE DATABASE appdb' postgres >/dev/null 2>&1 # run.sh made it; alone, we do
for p in ${IT_FAULTS2_PARTS:-dead flood slowread stall}; do
    "part_$p"
done
it_done
