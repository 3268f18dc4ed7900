#!/usr/bin/env bash
# tests/integration/shape.sh - write-rate shaping, one pgpin instance per part (see it_shape.c):
# order (write_rate 20), fair (write_rate 100), cancel (write_rate 1), maxwait (write_rate 1,
# write_max_wait 0.3), auto (pool_mode auto, pool size 2, write_rate 20), aimd-down and
# aimd-up (write_rate = auto with an unreachable / an easy write_latency_target).
# Env: PGPIN_BIN, PG_PORT, IT_BIN_DIR, LOGDIR (see tests/lib/itsuite.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib/pg.sh
source "$here/../lib/pg.sh"
# shellcheck source=tests/lib/check.sh
source "$here/../lib/check.sh"
SUITE=shape
# shellcheck source=tests/lib/itsuite.sh
source "$here/../lib/itsuite.sh"
pg_install_traps
WORK=$(mktemp -d /tmp/pgpin-shape.XXXXXX)
pg_on_cleanup "rm -rf '$WORK'"

part() {
    local name=$1 extra=$2 env pid
    if ! suite_start "$name" "$(suite_db_line appdb)" "$extra"; then
        it_fail "$name: pgpin starts" "see $LOG"
        return
    fi
    pid=$PGPIN_PID
    mapfile -t env < <(suite_ck_env "$PGPIN_PORT")
    suite_ck "it_shape[$name]" "$IT_BIN_DIR/it_shape" "${env[@]}" IT_SHAPE_PART="$name" \
        IT_SHAPE_AIMD="${name#aimd-}"
    suite_stop "$pid" "$name: pgpin"
}

part order "write_rate = 20"
part fair "write_rate = 100
admin_users = postgres"
part cancel "write_rate = 1"
part maxwait "write_rate = 1
write_max_wait = 0.3"
part auto "write_rate = 20
pool_mode = auto
default_pool_size = 2"
part aimd-down "write_rate = auto
write_latency_target = 0.0001
admin_users = postgres"
part aimd-up "write_rate = auto
write_latency_target = 30
admin_users = postgres"
it_done
