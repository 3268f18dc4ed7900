#!/usr/bin/env bash
# tests/soak.sh - a long run under AddressSanitizer (issue 9, point 7): pgbench's TPC-B mix in
# session mode, select-only with prepared statements in auto mode, pgbench -C connection churn,
# and tests/soak_clients.py (LISTEN/NOTIFY heard in order, churn that closes inside
# transactions and hangs up mid-result), all through one pgpin, for --minutes (default 15).
#
#   bash tests/soak.sh [--minutes N] [--build-dir DIR] [--workers W] [--valgrind]
#   (SOAK_KEEP=1 keeps the work directory: pgpin's log, the samples, the clients' output.)
#
# DIR defaults to build-asan (built if missing, -DPGPIN_SANITIZE=ON); --valgrind runs DIR's
# pgpin (default build) under valgrind --leak-check=full instead. Rates are capped (pgbench -R)
# so a 2-core machine stays usable. Prints pgpin's RSS and open descriptors every minute, then
# "ok -"/"not ok -" lines: no client errors, every notification heard, descriptors back where
# they were, pgpin exits 0 on SIGTERM with no sanitizer or leak report, and RSS flat (the last
# sample within 10% + 4 MB of the one at a quarter of the run; judged on plain builds, runs of
# 5 minutes or more: under ASan its allocator makes RSS creep whatever pgpin does, so run
# `--build-dir build` too). Exit status 1 on any failure. tests/run.sh runs it for 1 minute on
# the ASan build.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=tests/lib/pg.sh
source tests/lib/pg.sh
# shellcheck source=tests/lib/check.sh
source tests/lib/check.sh

MINUTES=15 DIR='' WORKERS=2 VALGRIND=0
while (($#)); do
    case $1 in
    --minutes) MINUTES=${2:?} && shift ;;
    --build-dir) DIR=${2:?} && shift ;;
    --workers) WORKERS=${2:?} && shift ;;
    --valgrind) VALGRIND=1 ;;
    *) echo "usage: $0 [--minutes N] [--build-dir DIR] [--workers W] [--valgrind]" >&2 && exit 2 ;;
    esac
    shift
done
if ! [[ $MINUTES =~ ^[0-9]+$ ]] || ((MINUTES < 1 || MINUTES > 120)); then pg_die "--minutes: 1..120"; fi
if [[ -z $DIR ]]; then
    if ((VALGRIND)); then DIR=build; else DIR=build-asan; fi
fi
SECS=$((MINUTES * 60))
PY=/usr/bin/python3 # Debian's python3, where python3-psycopg is installed

pg_install_traps
if [[ ! -x $DIR/pgpin ]]; then
    args=()
    ((VALGRIND)) || args=(-DPGPIN_SANITIZE=ON)
    pg_build "$DIR" "${args[@]}" >/dev/null || pg_die "build of $DIR failed"
fi
((VALGRIND)) && ! command -v valgrind >/dev/null && pg_die "valgrind is not installed"
WORK=$(mktemp -d /tmp/pgpin-soak.XXXXXX)
if [[ -n ${SOAK_KEEP:-} ]]; then echo "keeping $WORK (pgpin.log, samples, client outputs)"; else
    pg_on_cleanup "rm -rf '$WORK'"
fi
pg_start
pg_psql -d postgres -c 'CREATE DATABASE soak' >/dev/null || pg_die "createdb failed"
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s 2 -q soak >/dev/null 2>&1 ||
    pg_die "pgbench -i failed"
pg_psql -d soak -c 'CREATE TABLE soak_churn (n int)' >/dev/null

# ASan: leaks reported at exit; a smaller quarantine (SOAK_ASAN_OPTIONS replaces these).
export ASAN_OPTIONS=${SOAK_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:quarantine_size_mb=32}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
LOG=$WORK/pgpin.log
PGPIN_WORKERS=$WORKERS PGPIN_CFG_EXTRA="log_level = warning
max_client_conn = 2000" pgpin_write_config "$WORK/pgpin.ini" "$(pg_free_port)" \
    "soak = host=127.0.0.1 port=$PG_PORT dbname=soak pool_size=12
soak_auto = host=127.0.0.1 port=$PG_PORT dbname=soak pool_mode=auto pool_size=6"
if ((VALGRIND)); then
    cat >"$WORK/pgpin-vg" <<EOF
#!/bin/sh
exec valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$WORK/valgrind.log "$(realpath "$DIR/pgpin")" "\$@"
EOF
    chmod +x "$WORK/pgpin-vg"
    PGPIN_START_SECS=60 pgpin_start "$WORK/pgpin-vg" "$WORK/pgpin.ini" "$LOG" ||
        pg_die "pgpin did not start"
else
    pgpin_start "$DIR/pgpin" "$WORK/pgpin.ini" "$LOG" || pg_die "pgpin did not start"
fi
PID=$PGPIN_PID
echo "$("$DIR/pgpin" --version) ($DIR$( ((VALGRIND)) && echo ', valgrind')), workers=$WORKERS, $MINUTES min, commit $(git rev-parse --short HEAD)"

sample() { # "secs rss_kB fds"
    printf '%s %s %s\n' "$((SECONDS - T0))" "$(awk '/VmRSS/{print $2}' "/proc/$PID/status")" \
        "$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l)"
}
T0=$SECONDS
FDS0=$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
PGB=(pgbench -h 127.0.0.1 -p "$PGPIN_PORT" -U postgres -n -T "$SECS")
"${PGB[@]}" -c 6 -j 2 -R 150 -M extended soak >"$WORK/tpcb.out" 2>&1 &
P1=$!
"${PGB[@]}" -c 4 -j 1 -R 300 -M prepared -S soak_auto >"$WORK/select.out" 2>&1 &
P2=$!
"${PGB[@]}" -c 2 -j 1 -R 20 -C -S soak >"$WORK/churn.out" 2>&1 &
P3=$!
$PY tests/soak_clients.py --port "$PGPIN_PORT" --secs "$SECS" >"$WORK/clients.out" \
    2>"$WORK/clients.err" &
P4=$!
pg_on_cleanup "kill $P1 $P2 $P3 $P4 2>/dev/null"

printf '%-8s %10s %6s\n' secs rss_kB fds
: >"$WORK/samples"
n=0
while ((SECONDS - T0 < SECS)) && pgpin_alive "$PID"; do # a sample every 10 s, shown every 60
    sample >>"$WORK/samples"
    ((n++ % 6 == 0)) && tail -1 "$WORK/samples" | awk '{printf "%-8s %10s %6s\n", $1, $2, $3}'
    for ((i = 0; i < 10 && SECONDS - T0 < SECS; i++)); do sleep 1; done
done
wait $P1 $P2 $P3
timeout 120 tail --pid=$P4 -f /dev/null
sleep 2 # the last clients' servers reset or close
sample | tee -a "$WORK/samples" | awk '{printf "%-8s %10s %6s (end)\n", $1, $2, $3}'

# ---- results ----
pgb_result() { # pgb_result NAME FILE
    local tps failed
    tps=$(awk '/^tps/{print $3; exit}' "$2")
    failed=$(awk -F'[: (]+' '/number of failed transactions/{print $5}' "$2")
    if [[ -n $tps ]] && ! grep -qiE 'aborted|error' "$2" && [[ ${failed:-0} == 0 ]]; then
        it_ok "$1: $(awk '/number of transactions actually processed/{print $6}' "$2") transactions, $tps tps, none failed"
    else
        it_fail "$1" "$(grep -iE 'aborted|error|failed' "$2" | sort | uniq -c | head -5 | tr '\n' ' ')"
    fi
}
pgb_result "pgbench TPC-B (session, extended)" "$WORK/tpcb.out"
pgb_result "pgbench select-only (auto, prepared)" "$WORK/select.out"
pgb_result "pgbench -C churn (session)" "$WORK/churn.out"

read -r sent got ooo churn errs <<<"$($PY -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(d["notify_sent"], d["notify_received"], d["notify_out_of_order"], d["churn"],
      json.dumps(d["errors"]).replace(" ", "_"))' "$WORK/clients.out" 2>/dev/null)"
if [[ -z ${sent:-} ]]; then
    it_fail "soak_clients.py" "no result: $(tail -3 "$WORK/clients.err" | tr '\n' ' ')"
else
    if ((sent > 0 && got == sent && ooo == 0)); then
        it_ok "LISTEN/NOTIFY: $got of $sent notifications heard, in order"
    else
        it_fail "LISTEN/NOTIFY" "$got of $sent heard, $ooo out of order"
    fi
    if [[ $errs == "{}" ]] && ((churn > 0)); then
        it_ok "connection churn: $churn connections (4 ways of leaving), no error"
    else
        it_fail "connection churn ($churn connections)" "errors: $errs"
    fi
fi

# RSS flat: the end within 10% + 4 MB of the sample at a quarter of the run (ASan's
# quarantine and the pools have filled by then).
read -r rss_q rss_mid rss_end <<<"$(awk -v s="$SECS" '
    { t[NR] = $1; r[NR] = $2 }
    END { q = 1; m = 1
          for (i = 1; i <= NR; i++) { if (t[i] <= s / 4) q = i; if (t[i] <= s / 2) m = i }
          print r[q], r[m], r[NR] }' "$WORK/samples")"
rss_first=$(awk 'NR==1{print $2}' "$WORK/samples")
echo "RSS kB: $rss_first at start, $rss_q at 1/4, $rss_mid at 1/2, $rss_end at the end"
if grep -qs '^PGPIN_SANITIZE:BOOL=ON' "$DIR/CMakeCache.txt"; then
    # Measured: 104 -> 119 MB from a quarter of 15 minutes to the end under ASan, while the
    # same run on the plain build stayed at 14,812 kB from minute 3 to the end.
    echo "# RSS not judged on a sanitizer build: ASan's allocator keeps growing it (about"
    echo "# 1 MB/min here) whatever pgpin does; run --build-dir build for that check"
elif ((MINUTES < 5)); then
    echo "# RSS not judged: $MINUTES min is all warm-up"
elif ((rss_end <= rss_q + rss_q / 10 + 4096)); then
    it_ok "RSS flat: ${rss_q} kB at a quarter of the run, ${rss_end} kB at the end"
else
    it_fail "RSS flat" "${rss_q} kB at a quarter of the run, ${rss_end} kB at the end"
fi
fds_end=$(awk 'END{print $3}' "$WORK/samples")
if ((fds_end <= FDS0 + 30)); then
    it_ok "descriptors: $FDS0 at start, $fds_end at the end (idle pooled servers included)"
else
    it_fail "descriptors" "$FDS0 at start, $fds_end at the end"
fi

pgpin_stop "$PID" TERM 60
if [[ $PGPIN_RC == 0 ]]; then it_ok "pgpin exits 0 on SIGTERM"; else
    it_fail "pgpin exits 0 on SIGTERM" "exit status $PGPIN_RC"
fi
if pgpin_log_clean "$LOG" && ! grep -q 'LeakSanitizer' "$LOG"; then
    it_ok "no sanitizer or leak report in pgpin's log"
else
    it_fail "sanitizer or leak report" "see $LOG (kept in $WORK.log)"
    cp "$LOG" "$WORK.log"
fi
if ((VALGRIND)); then
    if grep -qE 'definitely lost: [1-9]|indirectly lost: [1-9]|ERROR SUMMARY: [1-9]' \
        "$WORK/valgrind.log"; then
        cp "$WORK/valgrind.log" "$WORK.valgrind.log"
        it_fail "valgrind" "$(grep -E 'lost:|ERROR SUMMARY' "$WORK/valgrind.log" | tr '\n' ' ') (log: $WORK.valgrind.log)"
    else
        it_ok "valgrind: $(grep -E 'definitely lost|ERROR SUMMARY' "$WORK/valgrind.log" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')"
    fi
fi
warnings=$(grep -cE ' (WARNING|ERROR) ' "$LOG")
echo "pgpin log: $warnings warning/error lines$( ((warnings)) && echo ':')"
grep -E ' (WARNING|ERROR) ' "$LOG" | sed -E 's/^[0-9-]+ [0-9:.]+ UTC //; s/[SC]-[0-9]+/X/; s/[0-9]+/N/g' |
    sort | uniq -c | sort -rn | head -10
it_done
