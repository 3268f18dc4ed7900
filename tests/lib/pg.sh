# shellcheck shell=bash disable=SC2034 # PGPIN_RC, PG_SOCKDIR, ... are read by the callers
# tests/lib/pg.sh - shared shell helpers for pgpin's test and demo scripts (source it, don't run).
#
#   pg_install_deps             install missing Debian packages (root; apt-get only when needed)
#   pg_build DIR [cmake args]   configure + build one build tree
#   pg_free_port                print a free TCP port in [20000, 32767] on 127.0.0.1
#   pg_start / pg_stop          throwaway Postgres 15 (sets PG_PORT, PG_DIR, PG_SOCKDIR)
#   pg_psql ARGS...             psql straight to the throwaway Postgres (as user postgres)
#   pgb_start DIR PORT DBLINES [SETTINGS]  Debian's PgBouncer on 127.0.0.1:PORT (sets PGB_PID)
#   pgpin_write_config FILE PORT [DBLINES]  generate a pgpin config pointing at PG_PORT
#   pgpin_start BIN CONFIG LOG  start pgpin in the background (sets PGPIN_PID, PGPIN_PORT)
#   pgpin_alive PID / pgpin_stop PID [SIG] [SECS]
#
# Everything started here registers a cleanup; pg_cleanup_all runs them (newest first) and is
# installed as the EXIT trap by pg_install_traps. Loops are bounded in count and time.

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_DEB_PACKAGES=(libevent-dev libssl-dev libpq-dev libpg-query-dev libinih-dev check pkg-config
    cmake postgresql-15 pgbouncer python3-psycopg gcc make clang-format clang-14 libclang-rt-14-dev
    libpostgresql-jdbc-java openjdk-17-jdk-headless iproute2)
PG_CLEANUPS=()
PGB_BIN=${PGB_BIN:-/usr/sbin/pgbouncer}

pg_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
pg_die() {
    pg_log "FATAL: $*"
    exit 1
}

# --- cleanup / traps -------------------------------------------------------------------------
pg_on_cleanup() { PG_CLEANUPS+=("$1"); }
pg_cleanup_all() {
    local i
    for ((i = ${#PG_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${PG_CLEANUPS[i]}" || true
    done
    PG_CLEANUPS=()
}
pg_install_traps() {
    # shellcheck disable=SC2154 # rc is assigned inside the trap
    trap 'rc=$?; pg_cleanup_all; exit $rc' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- (a) packages ------------------------------------------------------------------------------
pg_install_deps() {
    local missing=() p
    for p in "${PG_DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || pg_die "missing packages (${missing[*]}) and not root to install them"
    pg_log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || pg_die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        pg_die "apt-get install failed"
}

# --- (b) build ---------------------------------------------------------------------------------
# pg_build DIR [extra cmake args...]: configure (first time or when args change) and build.
pg_build() {
    local dir=$1
    shift
    mkdir -p "$dir"
    cmake -S . -B "$dir" "$@" >"$dir/configure.log" 2>&1 || {
        cat "$dir/configure.log" >&2
        return 1
    }
    cmake --build "$dir" -j "$(nproc)"
}

# --- (c) ports ---------------------------------------------------------------------------------
# True when nothing listens on 127.0.0.1:PORT (or any address) now.
pg_port_is_free() {
    local port=$1
    ss -Htln "sport = :$port" 2>/dev/null | grep -q . && return 1
    # Something may listen in another namespace-visible way: a connect that succeeds means taken.
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then return 1; fi
    return 0
}
# Print a free port below 32768 (Linux's ephemeral range starts at 32768, so outgoing
# connections never take it from under us). Tries at most 200 random candidates.
pg_free_port() {
    local i port
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12768))
        if pg_port_is_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    pg_die "no free port found"
}
# Wait until something accepts TCP connections on 127.0.0.1:PORT; SECS bound (default 15).
# Optional PID: give up early when that process is gone.
pg_wait_port() {
    local port=$1 secs=${2:-15} pid=${3:-} deadline
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then return 0; fi
        if [[ -n $pid ]] && ! pgpin_alive "$pid"; then return 1; fi
        sleep 0.1
    done
    return 1
}

# --- (d)/(e) throwaway Postgres ------------------------------------------------------------------
# pg_start: initdb into a fresh temp dir and start on a free port. Sets PG_DIR, PG_PORT,
# PG_SOCKDIR, PG_LOG. Retries with a new port if another process grabbed it meanwhile.
# Extra server options in PG_EXTRA_OPTS come last, so they override the test settings above
# (the benchmark wants durable commits). Sets PG_PORT, PG_DIR, PG_PM_PID.
pg_start() {
    local attempt
    PG_DIR=$(mktemp -d /tmp/pgpin-pg.XXXXXX)
    chown postgres:postgres "$PG_DIR"
    pg_on_cleanup "pg_stop"
    PG_SOCKDIR=$PG_DIR/sock
    PG_LOG=$PG_DIR/postgres.log
    runuser -u postgres -- mkdir -p "$PG_SOCKDIR"
    runuser -u postgres -- "$PG_BINDIR/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 \
        --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        pg_die "initdb failed"
    }
    for ((attempt = 0; attempt < 5; attempt++)); do
        PG_PORT=$(pg_free_port)
        if runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_SOCKDIR \
                -c max_connections=200 -c fsync=off -c synchronous_commit=off \
                -c full_page_writes=off -c ssl=off ${PG_EXTRA_OPTS:-}" start >/dev/null 2>&1; then
            PG_PM_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
            pg_log "postgres 15 up on 127.0.0.1:$PG_PORT (pid $PG_PM_PID, dir $PG_DIR)"
            return 0
        fi
        tail -5 "$PG_LOG" >&2 || true
    done
    pg_die "could not start postgres"
}
pg_stop() {
    [[ -n ${PG_DIR:-} && -d $PG_DIR ]] || return 0
    if [[ -f $PG_DIR/data/postmaster.pid ]]; then
        runuser -u postgres -- "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 \
            stop >/dev/null 2>&1 || {
            local pid
            pid=$(head -1 "$PG_DIR/data/postmaster.pid" 2>/dev/null)
            [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
        }
    fi
    rm -rf "$PG_DIR"
    PG_DIR=
}
# psql straight to the throwaway server: pg_psql [-d DB] ARGS...
pg_psql() {
    PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"
}
# Conninfo strings (no dbname) for libpq clients.
pg_direct_conninfo() { echo "host=127.0.0.1 port=$PG_PORT user=postgres"; }

# pgb_start DIR PORT DBLINES [SETTINGS]: PgBouncer on 127.0.0.1:PORT in front of the
# throwaway cluster, its files in DIR (created; DIR's parents must let user postgres through).
# DBLINES is its [databases] section, SETTINGS more [pgbouncer] lines (pool_mode, pool sizes,
# ...). auth_type = trust with postgres in its auth_file, as the cluster trusts everyone.
# PgBouncer refuses to run as root: -u drops to postgres, and it stays in the foreground, so
# PGB_PID is PgBouncer itself (stop it with pgpin_stop PGB_PID; a cleanup is registered).
# Output goes to PGB_STDERR (default DIR/pgbouncer.stderr). Returns 1, with the log tails on
# stderr, when it does not listen within 20 s.
pgb_start() {
    local dir=$1 port=$2 dblines=$3 settings=${4:-} err
    err=${PGB_STDERR:-$dir/pgbouncer.stderr}
    mkdir -p "$dir"
    echo '"postgres" ""' >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$dblines

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
logfile = $dir/pgbouncer.log
$settings
EOF
    chown -R postgres:postgres "$dir"
    env --default-signal=INT,QUIT "$PGB_BIN" -u postgres "$dir/pgbouncer.ini" \
        >>"$err" 2>&1 </dev/null &
    PGB_PID=$!
    pg_on_cleanup "pgpin_stop $PGB_PID INT 10"
    pg_wait_port "$port" 20 "$PGB_PID" && return 0
    tail -20 "$dir/pgbouncer.log" "$err" >&2
    return 1
}

# --- (f) pgpin ---------------------------------------------------------------------------------
# pgpin_write_config FILE LISTEN_PORT [DATABASE_LINES]: a complete config; PGPIN_CFG_EXTRA adds
# or overrides [pgpin] keys (later lines win in the config parser only if it allows duplicates,
# so the generated keys skip any key named in PGPIN_CFG_EXTRA).
pgpin_write_config() {
    local file=$1 port=$2 dblines=${3:-} extra=${PGPIN_CFG_EXTRA:-} key line
    if [[ -z $dblines ]]; then
        dblines="appdb = host=127.0.0.1 port=$PG_PORT dbname=appdb
* = host=127.0.0.1 port=$PG_PORT"
    fi
    {
        echo "[pgpin]"
        while IFS= read -r line; do
            key=${line%% =*}
            grep -qE "^[[:space:]]*${key}[[:space:]]*=" <<<"$extra" || echo "$line"
        done <<EOT
listen_addr = 127.0.0.1
listen_port = $port
pool_mode = session
default_pool_size = 20
min_pool_size = 0
max_client_conn = 1000
server_reset_query = DISCARD ALL
server_idle_timeout = 600
server_lifetime = 3600
query_wait_timeout = 120
shutdown_timeout = 30
auth_type = trust
log_level = info
workers = ${PGPIN_WORKERS:-0}
EOT
        [[ -n $extra ]] && printf '%s\n' "$extra"
        echo
        echo "[databases]"
        printf '%s\n' "$dblines"
    } >"$file"
}
# True while PID exists and is not a zombie (a dead child stays a zombie until waited for).
pgpin_alive() {
    local pid=$1 state
    [[ -r /proc/$pid/stat ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}
# pgpin_start BIN CONFIG LOG: start pgpin in the background (LOG "-": keep our stdout/stderr), wait (bounded) for its listen port
# (read from CONFIG). Sets PGPIN_PID and PGPIN_PORT. Returns 1 if it died or never listened.
pgpin_start() {
    local bin=$1 cfg=$2 log=$3
    PGPIN_PORT=$(sed -nE 's/^[[:space:]]*listen_port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' \
        "$cfg" | tail -1)
    # A background job of a non-interactive shell starts with SIGINT/SIGQUIT ignored; give
    # pgpin the default dispositions so that a missing handler shows up as a test failure.
    if [[ $log == - ]]; then # inherit stdout/stderr (the demo)
        env --default-signal=INT,QUIT "$bin" "$cfg" </dev/null &
    else
        env --default-signal=INT,QUIT "$bin" "$cfg" >>"$log" 2>&1 </dev/null &
    fi
    PGPIN_PID=$!
    pg_on_cleanup "pgpin_stop $PGPIN_PID INT 5"
    if ! pg_wait_port "$PGPIN_PORT" "${PGPIN_START_SECS:-20}" "$PGPIN_PID"; then
        pg_log "pgpin (pid $PGPIN_PID) did not listen on $PGPIN_PORT; log tail:"
        [[ -f $log ]] && tail -20 "$log" >&2
        return 1
    fi
    return 0
}
# pgpin_stop PID [SIGNAL=TERM] [SECS=10]: signal, wait bounded, then SIGKILL. Reaps the child
# when it is ours and sets PGPIN_RC to its exit status (or "" when unknown).
pgpin_stop() {
    local pid=$1 sig=${2:-TERM} secs=${3:-10} deadline
    PGPIN_RC=
    [[ -n $pid ]] || return 0
    if pgpin_alive "$pid"; then
        kill -"$sig" "$pid" 2>/dev/null || true
        deadline=$((SECONDS + secs))
        while pgpin_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
        if pgpin_alive "$pid"; then
            pg_log "pid $pid still alive after SIG$sig + ${secs}s; SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    if wait "$pid" 2>/dev/null; then PGPIN_RC=0; else PGPIN_RC=$?; fi
    return 0
}
# pgpin_wait_exit PID SECS: wait bounded for PID to exit; sets PGPIN_RC. Returns 1 on timeout.
pgpin_wait_exit() {
    local pid=$1 secs=$2 deadline
    deadline=$((SECONDS + secs))
    while pgpin_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    pgpin_alive "$pid" && return 1
    if wait "$pid" 2>/dev/null; then PGPIN_RC=0; else PGPIN_RC=$?; fi
    return 0
}
# Sanitizer findings in a pgpin log: prints them and returns 1.
pgpin_log_clean() {
    local log=$1
    if grep -nE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$log" >&2; then
        return 1
    fi
    return 0
}
