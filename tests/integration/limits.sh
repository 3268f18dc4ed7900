#!/usr/bin/env bash
# tests/integration/limits.sh - connection limits and timeouts, one pgpin instance each:
# client_login_timeout = 2 (500 stalled half-startups closed while a steady client keeps
# querying), max_client_conn = 20 (the 21st gets 53300), max_packet_size = 1024 (08P01, pgpin
# stays up), client_idle_timeout = 1 (idle clients closed, transactions and long queries not).
# The checks are in it_limits; this script starts the instances.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=limits
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-limits.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

# part PART CONFIG_EXTRA
part() {
    local name=$1 extra=$2 env pid
    if ! suite_start "$name" "$(suite_db_line appdb)" "$extra"; then
        it_fail "$name: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_limits[$name]" "$IT_BIN_DIR/it_limits" "${env[@]}" IT_LIMITS_PART="$name"
    if pgpin_alive "$pid" && [[ $(suite_psql "$PGPIN_PORT" appdb -Atc 'select 1' 2>&1) == 1 ]]; then
        it_ok "$name: pgpin up and serving afterwards"
    else
        it_fail "$name: pgpin up and serving afterwards" "$(tail -3 "$LOG" | tr '\n' ' ')"
    fi
    suite_stop "$pid" "$name: pgpin"
}

part login "client_login_timeout = 2
max_client_conn = 2000"
part maxconn "max_client_conn = 20"
part packet "max_packet_size = 1024"
part idle "client_idle_timeout = 1"
it_done
