#!/usr/bin/env bash
# tests/demo.sh - try pgpin in one command: installs what is missing, builds, starts a throwaway
# Postgres 15 on a free port with a database "appdb", and runs pgpin in front of it on 6432 (or a
# free port if 6432 is taken) until Ctrl-C; then everything it started is stopped and removed.
#
#   tests/demo.sh [--port N] [--build-dir DIR] [--no-build]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh

PORT=6432
BUILD_DIR=build
BUILD=1
while (($#)); do
    case $1 in
    --port) PORT=${2:?} && shift ;;
    --build-dir) BUILD_DIR=${2:?} && shift ;;
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
    *) echo "unknown option $1" >&2 && exit 2 ;;
    esac
    shift
done

pg_install_traps
pg_install_deps
if ((BUILD)); then
    pg_log "building $BUILD_DIR"
    pg_build "$BUILD_DIR" >/dev/null || pg_die "build failed (cmake --build $BUILD_DIR to see why)"
fi
[[ -x $BUILD_DIR/pgpin ]] || pg_die "$BUILD_DIR/pgpin not found"

pg_start
pg_psql -d postgres -c 'CREATE DATABASE appdb' >/dev/null || pg_die "CREATE DATABASE appdb failed"
pg_psql -d appdb -c "CREATE TABLE hello (id int PRIMARY KEY, msg text);
    INSERT INTO hello VALUES (1, 'hello through pgpin')" >/dev/null

if ! pg_port_is_free "$PORT"; then
    pg_log "port $PORT is taken; picking another"
    PORT=$(pg_free_port)
fi
DEMO_DIR=$(mktemp -d /tmp/pgpin-demo.XXXXXX)
pg_on_cleanup "rm -rf '$DEMO_DIR'"
CFG=$DEMO_DIR/pgpin.ini
PGPIN_CFG_EXTRA="shutdown_timeout = 5" pgpin_write_config "$CFG" "$PORT" \
    "appdb = host=127.0.0.1 port=$PG_PORT dbname=appdb
* = host=127.0.0.1 port=$PG_PORT"

pgpin_start "$BUILD_DIR/pgpin" "$CFG" - || pg_die "pgpin did not start"
cat <<MSG

  pgpin $PGPIN_PID listens on 127.0.0.1:$PORT, in front of Postgres 15 on 127.0.0.1:$PG_PORT.
  config: $CFG   (edit it, then: kill -HUP $PGPIN_PID)

  connect:  psql -h 127.0.0.1 -p $PORT -U postgres appdb
  try:      psql -h 127.0.0.1 -p $PORT -U postgres appdb -c 'select * from hello'
  any db:   psql -h 127.0.0.1 -p $PORT -U postgres postgres      (via the "*" entry)
  bench:    pgbench -h 127.0.0.1 -p $PORT -U postgres -i appdb && \\
            pgbench -h 127.0.0.1 -p $PORT -U postgres -c 8 -T 10 appdb

  Ctrl-C stops pgpin and removes the throwaway Postgres.

MSG
# Bounded like every loop here: at most a day, then the demo cleans up by itself.
deadline=$((SECONDS + 86400))
while pgpin_alive "$PGPIN_PID" && ((SECONDS < deadline)); do sleep 1; done
pgpin_wait_exit "$PGPIN_PID" 1 && pg_log "pgpin exited with status $PGPIN_RC"
