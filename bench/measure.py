#!/usr/bin/env python3
"""bench/measure.py - run one pgbench command and append one CSV row (called by bench/run.sh).

    measure.py --csv FILE --round N --case NAME --target NAME --clients N --stmt-per-tx N
               --postmaster PID [--proxy PID] [--pooler-pids PID,PID] --pg-port PORT
               --log-prefix PATH --timeout SECS --save-dir DIR -- pgbench ARGS...

Around the command it samples CPU from /proc: the proxy under test (utime+stime), every
Postgres process (the postmaster's own and its reaped children's time, plus each live child's),
the whole box (/proc/stat) and pgbench itself (rusage of the child). The difference box minus
Postgres, poolers and pgbench is "foreign" CPU: other tenants of the machine (approximate: the
box counters are tick-sampled, the per-process ones are not). It also counts
checkpoints and autovacuum/autoanalyze runs that happened inside the run, parses pgbench's
summary and computes p50/p99 from pgbench's per-transaction logs (-l). A run is ok only if
pgbench exited 0, processed transactions, reported 0 failed, aborted no client and the proxy is
still alive afterwards; otherwise `reason` says why. Exit status: 0 ok, 1 not ok, 2 usage.
"""
import argparse
import csv
import glob
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time

CLK = os.sysconf("SC_CLK_TCK")
FIELDS = [
    "round", "case", "target", "clients", "ok", "reason", "rc", "tx", "failed", "tps",
    "stmt_per_tx", "stmt_per_s", "lat_avg_ms", "lat_stddev_ms", "p50_ms", "p99_ms",
    "log_samples", "conn_ms", "wall_s", "proxy_cpu_s", "proxy_cpu_pct", "proxy_us_per_stmt",
    "pg_cpu_s", "pg_us_per_stmt", "pgbench_cpu_s", "box_cpu_s", "box_us_per_stmt",
    "foreign_cores", "irq_pct", "steal_pct", "tps_cv_pct", "checkpoints", "autovacuums",
    "started_at",
]


def proc_fields(pid):
    """Fields 3.. of /proc/PID/stat (index 0 = field 3, state), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return s[s.rindex(")") + 2:].split()


def proc_cpu_ticks(pid):
    """utime + stime of PID in clock ticks (0 if gone)."""
    f = proc_fields(pid)
    return int(f[11]) + int(f[12]) if f else 0


def alive(pid):
    f = proc_fields(pid)
    return f is not None and f[0] != "Z"


def pg_tree_ticks(postmaster):
    """CPU of a Postgres instance: the postmaster (self + reaped children) + each live child."""
    f = proc_fields(postmaster)
    if not f:
        return 0
    total = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        c = proc_fields(d)
        if c and c[1] == str(postmaster):
            total += int(c[11]) + int(c[12])
    return total


def box_ticks():
    """(user+nice+system, irq+softirq, steal, total) from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    v += [0] * (8 - len(v))
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return user + nice + system, irq + softirq, steal, sum(v[:8])


def snapshot(a):
    return {
        "t": time.monotonic(),
        "proxy": proc_cpu_ticks(a.proxy) if a.proxy else 0,
        "poolers": sum(proc_cpu_ticks(p) for p in a.pooler_pids),
        "pg": pg_tree_ticks(a.postmaster),
        "box": box_ticks(),
    }


def pg_counters(port):
    """(checkpoints so far, autovacuum+autoanalyze runs so far, autovacuum workers now)."""
    sql = ("SELECT (SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter),"
           " (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)"
           "  FROM pg_stat_all_tables),"
           " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')")
    try:
        out = subprocess.run(
            ["psql", "-X", "-At", "-F", " ", "-h", "127.0.0.1", "-p", str(port), "-U",
             "postgres", "-d", "bench", "-c", sql],
            capture_output=True, text=True, timeout=30,
            env=dict(os.environ, PGCONNECT_TIMEOUT="10")).stdout.split()
        if len(out) < 3:
            return (0, 0, 0)
        return tuple(int(x) for x in out[:3])
    except (subprocess.SubprocessError, ValueError, OSError):
        return (0, 0, 0)


def run_child(cmd, timeout, out_path, err_path):
    """Run CMD with stdout/stderr to files; kill it (by its own PID) after TIMEOUT seconds.
    Returns (exit code or 124 on timeout, CPU seconds of the child incl. its threads)."""
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        rc, ru = None, None
        while rc is None:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                rc = 124
                break
            time.sleep(0.05)
        p.returncode = rc  # reaped by wait4 above; keep Popen from waiting again
    return rc, ru.ru_utime + ru.ru_stime


def parse_pgbench(text):
    def num(pattern, default=None):
        m = re.search(pattern, text, re.M)
        return float(m.group(1)) if m else default
    return {
        "tx": int(num(r"^number of transactions actually processed: (\d+)", 0)),
        "failed": int(num(r"^number of failed transactions: (\d+)", 0)),
        "tps": num(r"^tps = ([0-9.]+)", 0.0),
        "lat_avg_ms": num(r"^latency average = ([0-9.]+) ms"),
        "lat_stddev_ms": num(r"^latency stddev = ([0-9.]+) ms"),
        "conn_ms": num(r"^(?:initial|average) connection time = ([0-9.]+) ms"),
    }


def progress_cv(err_text):
    """Coefficient of variation (%) of the per-second tps that pgbench -P 1 printed."""
    v = [float(x) for x in re.findall(r"^progress: [0-9.]+ s, ([0-9.]+) tps", err_text, re.M)]
    if len(v) < 2 or statistics.mean(v) == 0:
        return None
    return 100.0 * statistics.pstdev(v) / statistics.mean(v)


def log_percentiles(prefix):
    """p50 and p99 in ms (nearest rank) over pgbench's per-transaction logs PREFIX.*; the logs
    are deleted afterwards. Field 3 is the latency in µs ("failed"/"skipped" rows are ignored)."""
    lat = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 3 and p[2].isdigit():
                    lat.append(int(p[2]))
        os.unlink(path)
    if not lat:
        return None, None, 0
    lat.sort()

    def rank(q):
        return lat[min(len(lat) - 1, max(0, math.ceil(q * len(lat)) - 1))] / 1000.0
    return rank(0.50), rank(0.99), len(lat)


def fmt(v, nd=3):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--stmt-per-tx", type=int, default=1)
    ap.add_argument("--postmaster", type=int, required=True)
    ap.add_argument("--proxy", type=int, default=0)
    ap.add_argument("--pooler-pids", default="")
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--log-prefix", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--save-dir", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    if not a.cmd:
        ap.error("no command after --")
    a.pooler_pids = [int(p) for p in a.pooler_pids.split(",") if p]

    tag = f"r{a.round}_{a.case}_{a.target}"
    out_path = os.path.join(a.save_dir, tag + ".out")
    err_path = os.path.join(a.save_dir, tag + ".err")
    started = time.strftime("%H:%M:%S")
    ck0, av0, _ = pg_counters(a.pg_port)
    s0 = snapshot(a)
    rc, client_cpu = run_child(a.cmd, a.timeout, out_path, err_path)
    s1 = snapshot(a)
    ck1, av1, av_running = pg_counters(a.pg_port)

    with open(out_path) as f:
        out_text = f.read()
    with open(err_path) as f:
        err_text = f.read()
    r = parse_pgbench(out_text)
    p50, p99, nlog = log_percentiles(a.log_prefix)
    wall = s1["t"] - s0["t"]
    stmts = r["tx"] * a.stmt_per_tx
    proxy_s = (s1["proxy"] - s0["proxy"]) / CLK
    pg_s = (s1["pg"] - s0["pg"]) / CLK
    usr_sys = (s1["box"][0] - s0["box"][0]) / CLK
    irq = (s1["box"][1] - s0["box"][1]) / CLK
    steal = (s1["box"][2] - s0["box"][2]) / CLK
    total = (s1["box"][3] - s0["box"][3]) / CLK
    poolers_s = (s1["poolers"] - s0["poolers"]) / CLK
    # /proc/stat is tick-sampled and undercounts ping-pong loads (busy slices shorter than a
    # tick), while per-process times are exact: near zero, or below, means no other tenant.
    foreign = usr_sys + irq - pg_s - poolers_s - client_cpu

    reasons = []
    if rc == 124:
        reasons.append(f"timeout after {a.timeout:.0f}s")
    elif rc != 0:
        reasons.append(f"pgbench exit {rc}")
    if "aborted" in err_text:
        reasons.append("client aborted")
    if r["failed"]:
        reasons.append(f"{r['failed']} failed tx")
    if r["tx"] == 0:
        reasons.append("no transactions")
    if a.proxy and not alive(a.proxy):
        reasons.append("proxy died")
    if nlog == 0 and rc == 0:
        reasons.append("no latency log")

    def per_stmt(sec):
        return sec * 1e6 / stmts if stmts else None
    row = {
        "round": a.round, "case": a.case, "target": a.target, "clients": a.clients,
        "ok": 0 if reasons else 1, "reason": "; ".join(reasons), "rc": rc, "tx": r["tx"],
        "failed": r["failed"], "tps": r["tps"], "stmt_per_tx": a.stmt_per_tx,
        "stmt_per_s": r["tps"] * a.stmt_per_tx, "lat_avg_ms": r["lat_avg_ms"],
        "lat_stddev_ms": r["lat_stddev_ms"], "p50_ms": p50, "p99_ms": p99, "log_samples": nlog,
        "conn_ms": r["conn_ms"], "wall_s": wall,
        "proxy_cpu_s": proxy_s if a.proxy else None,
        "proxy_cpu_pct": 100.0 * proxy_s / wall if a.proxy and wall > 0 else None,
        "proxy_us_per_stmt": per_stmt(proxy_s) if a.proxy else None,
        "pg_cpu_s": pg_s, "pg_us_per_stmt": per_stmt(pg_s), "pgbench_cpu_s": client_cpu,
        "box_cpu_s": usr_sys + irq, "box_us_per_stmt": per_stmt(usr_sys + irq),
        "foreign_cores": foreign / wall if wall > 0 else None,
        "irq_pct": 100.0 * irq / total if total else None,
        "steal_pct": 100.0 * steal / total if total else None,
        "tps_cv_pct": progress_cv(err_text), "checkpoints": ck1 - ck0,
        "autovacuums": (av1 - av0) + av_running, "started_at": started,
    }
    new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow({k: fmt(v) for k, v in row.items()})

    cpu = f" proxy {row['proxy_cpu_pct']:.0f}%" if a.proxy else ""
    status = "ok" if not reasons else "NOT OK: " + row["reason"]
    print(f"r{a.round} {a.case:<22} {a.target:<12} tps {r['tps']:>10.1f}  lat "
          f"{fmt(r['lat_avg_ms'])} ms  p99 {fmt(p99)} ms{cpu}  {status}", file=sys.stderr)
    if reasons:
        for line in err_text.splitlines():
            if "error" in line.lower() or "abort" in line.lower():
                print("    " + line, file=sys.stderr)
                break
    return 0 if not reasons else 1


if __name__ == "__main__":
    sys.exit(main())
