#!/usr/bin/env bash
# tests/integration/budget.sh - the per-server connection budget, against a Postgres of its own
# started with max_connections = 30 and superuser_reserved_connections = 3: one pgpin under
# 150 clients, two pgpin instances sharing the server, the wait NOTICE and 53300, and a server
# that answers 53300 itself. The checks are in it_budget; this script starts the servers.
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=budget
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-budget.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

# This suite's own Postgres (PG_PORT now points at it).
PG_EXTRA_OPTS="-c max_connections=30 -c superuser_reserved_connections=3" pg_start
pg_psql -d postgres -c "CREATE DATABASE appdb" >/dev/null || pg_die "create appdb"

# part NAME CONFIG_EXTRA [TWO]: run it_budget's part NAME against one (or two) fresh instances.
part() {
    local name=$1 extra=$2 two=${3:-} env pid pid2=
    if ! suite_start "$name" "$(suite_db_line appdb)" "$extra"; then
        it_fail "$name: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    if [[ -n $two ]]; then
        if ! suite_start "$name-2" "$(suite_db_line appdb)" "$extra"; then
            it_fail "$name: second pgpin starts" "see $LOG"
            suite_stop "$pid" "$name: pgpin"
            return
        fi
        pid2=$PGPIN_PID
        env+=("PGPIN_IT_PROXY2=host=127.0.0.1 port=$PGPIN_PORT user=postgres")
    fi
    suite_ck "it_budget[$name]" "$IT_BIN_DIR/it_budget" "${env[@]}" IT_BUDGET_PART="$name"
    suite_stop "$pid" "$name: pgpin"
    [[ -z $pid2 ]] || suite_stop "$pid2" "$name: second pgpin"
}

part one "default_pool_size = 40"
part two "default_pool_size = 40" two
part wait "default_pool_size = 40
query_wait_notice = 1
query_wait_timeout = 3"
part full "default_pool_size = 40
limits_refresh_interval = 60"
it_done
