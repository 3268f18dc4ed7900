#!/usr/bin/env python3
"""bench/report.py - Markdown report from bench/run.sh's runs.csv (one row per run).

    report.py --csv OUT/runs.csv --meta OUT/meta.txt [--ref direct] [--a pgb_session] [--b pgpin]

Medians over rounds of the ok runs. Ratios are medians of per-round ratios between runs of the
same round and case (adjacent in time, so drift hits both sides), shown with their min-max.
"pgpin/PgBouncer" is target B over target A. Not-ok runs are left out of every figure and listed.
"""
import argparse
import csv
import statistics
import sys
from collections import OrderedDict, defaultdict

TARGET_ORDER = ["direct", "pgb_session", "pgb_tx", "pgpin"]


def num(v):
    try:
        return float(v) if v not in ("", None) else None
    except ValueError:
        return None


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=3):
    """Numbers like the baseline: thousands separators for large values, 3-4 digits for small."""
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}" if nd > 0 else f"{v:.0f}"
    return f"{v:.{nd}f}"


def rng(vals, nd=2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    return f"{fmt(min(vals), nd)}–{fmt(max(vals), nd)}"


class Data:
    def __init__(self, rows, ref, a, b):
        self.ref, self.a, self.b = ref, a, b
        self.rows = rows
        self.cases = list(OrderedDict.fromkeys(r["case"] for r in rows))
        targets = set(r["target"] for r in rows)
        self.targets = [t for t in TARGET_ORDER if t in targets] + sorted(
            targets - set(TARGET_ORDER))
        self.by = defaultdict(dict)  # (case, target) -> {round: row}
        for r in rows:
            self.by[(r["case"], r["target"])][int(r["round"])] = r

    def runs(self, case, target, ok_only=True):
        d = self.by.get((case, target), {})
        return [d[k] for k in sorted(d) if not ok_only or d[k]["ok"] == "1"]

    def col(self, case, target, key):
        return [num(r[key]) for r in self.runs(case, target)]

    def m(self, case, target, key):
        return med(self.col(case, target, key))

    def ratios(self, case, num_t, den_t, key="tps"):
        """Per-round num/den for rounds where both runs are ok."""
        dn = self.by.get((case, num_t), {})
        dd = self.by.get((case, den_t), {})
        out = []
        for rnd in sorted(set(dn) & set(dd)):
            x, y = dn[rnd], dd[rnd]
            if x["ok"] == "1" and y["ok"] == "1":
                vx, vy = num(x[key]), num(y[key])
                if vx is not None and vy:
                    out.append(vx / vy)
        return out

    def diffs(self, case, num_t, den_t, key):
        """Per-round (num - den) of KEY, both ok."""
        dn = self.by.get((case, num_t), {})
        dd = self.by.get((case, den_t), {})
        out = []
        for rnd in sorted(set(dn) & set(dd)):
            x, y = dn[rnd], dd[rnd]
            if x["ok"] == "1" and y["ok"] == "1":
                vx, vy = num(x[key]), num(y[key])
                if vx is not None and vy is not None:
                    out.append(vx - vy)
        return out


def label(t):
    return {"pgb_session": "PgBouncer", "pgb_tx": "PgBouncer tx"}.get(t, t)


def table(head, rows, align):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def key_table(d):
    head = ["case", f"{label(d.a)} tps", f"{d.b} tps", f"**tps ratio {d.b}/{label(d.a)}**",
            "ratio min–max", f"{d.b}/direct", f"{label(d.a)}/direct",
            f"{label(d.a)} CPU µs/stmt", f"{d.b} CPU µs/stmt",
            f"**CPU/stmt ratio {d.b}/{label(d.a)}**", f"p99 ms {label(d.a)}", f"p99 ms {d.b}"]
    rows = []
    for c in d.cases:
        rt = d.ratios(c, d.b, d.a)
        cr = d.ratios(c, d.b, d.a, "proxy_us_per_stmt")
        rows.append([c, fmt(d.m(c, d.a, "tps")), fmt(d.m(c, d.b, "tps")), f"**{fmt(med(rt))}**",
                     rng(rt), fmt(med(d.ratios(c, d.b, d.ref))),
                     fmt(med(d.ratios(c, d.a, d.ref))),
                     fmt(d.m(c, d.a, "proxy_us_per_stmt"), 1),
                     fmt(d.m(c, d.b, "proxy_us_per_stmt"), 1), f"**{fmt(med(cr))}**",
                     fmt(d.m(c, d.a, "p99_ms")), fmt(d.m(c, d.b, "p99_ms"))])
    return table(head, rows, ["---"] + ["---:"] * (len(head) - 1))


def full_table(d):
    head = ["case", "target", "ok", "tps (median)", "tps min–max", "stmt/s", "lat avg ms",
            "p50 ms", "p99 ms", "tps ratio vs direct", "ratio min–max",
            f"ratio {d.b}/{label(d.a)}", "ratio min–max", "pooler CPU % of a core",
            "pooler CPU µs/stmt", f"CPU/stmt ratio {d.b}/{label(d.a)}", "PG CPU µs/stmt",
            "box CPU µs/stmt"]
    rows = []
    for c in d.cases:
        for t in d.targets:
            allr = d.runs(c, t, ok_only=False)
            if not allr:
                continue
            ok = d.runs(c, t)
            ok_s = f"{len(ok)}/{len(allr)}" + ("" if len(ok) == len(allr) else " **NOT OK**")
            if t == d.ref:
                rv, rr = "1 (ref)", ""
            else:
                rl = d.ratios(c, t, d.ref)
                rv, rr = fmt(med(rl)), rng(rl)
            pv = pr = cpr = ""
            if t == d.b:
                pl = d.ratios(c, d.b, d.a)
                pv, pr = f"**{fmt(med(pl))}**", rng(pl)
                cpr = f"**{fmt(med(d.ratios(c, d.b, d.a, 'proxy_us_per_stmt')))}**"
            rows.append([c, t, ok_s, fmt(d.m(c, t, "tps")), rng(d.col(c, t, "tps"), 0),
                         fmt(d.m(c, t, "stmt_per_s")), fmt(d.m(c, t, "lat_avg_ms")),
                         fmt(d.m(c, t, "p50_ms")), fmt(d.m(c, t, "p99_ms")), rv, rr, pv, pr,
                         fmt(d.m(c, t, "proxy_cpu_pct"), 1),
                         fmt(d.m(c, t, "proxy_us_per_stmt"), 1), cpr,
                         fmt(d.m(c, t, "pg_us_per_stmt"), 1),
                         fmt(d.m(c, t, "box_us_per_stmt"), 1),
                         fmt(d.m(c, t, "foreign_cores"), 2)])
    return table(head, rows, ["---", "---", "---"] + ["---:"] * (len(head) - 3))


def kind(case):
    return case.rsplit("_c", 1)[0]


def clients(case):
    try:
        return int(case.rsplit("_c", 1)[1])
    except (IndexError, ValueError):
        return 0


def latency_table(d):
    cases = [c for c in d.cases if kind(c).startswith("select_") and clients(c) == 1]
    if not cases:
        return None
    head = ["case", "target", "lat avg ms", "p50 ms", "p99 ms", "added avg µs (median)",
            "added avg µs min–max", "added p50 µs", "added p99 µs", "lat ratio vs direct",
            f"added-latency ratio {d.b}/{label(d.a)}"]
    rows = []
    for c in cases:
        added = {}
        for t in d.targets:
            if not d.runs(c, t, ok_only=False):
                continue
            if t == d.ref:
                rows.append([c, t, fmt(d.m(c, t, "lat_avg_ms")), fmt(d.m(c, t, "p50_ms")),
                             fmt(d.m(c, t, "p99_ms")), "–", "–", "–", "–", "1", ""])
                continue
            da = [x * 1000 for x in d.diffs(c, t, d.ref, "lat_avg_ms")]
            d50 = [x * 1000 for x in d.diffs(c, t, d.ref, "p50_ms")]
            d99 = [x * 1000 for x in d.diffs(c, t, d.ref, "p99_ms")]
            added[t] = med(da)
            ar = ""
            if t == d.b and added.get(d.a) and added.get(d.b) is not None:
                ar = f"**{fmt(added[d.b] / added[d.a])}**"
            rows.append([c, t, fmt(d.m(c, t, "lat_avg_ms")), fmt(d.m(c, t, "p50_ms")),
                         fmt(d.m(c, t, "p99_ms")), fmt(med(da), 1), rng(da, 0),
                         fmt(med(d50), 1), fmt(med(d99), 1),
                         fmt(med(d.ratios(c, t, d.ref, "lat_avg_ms"))), ar])
    return table(head, rows, ["---", "---"] + ["---:"] * (len(head) - 2))


def churn_table(d):
    cases = [c for c in d.cases if kind(c).startswith("churn")]
    if not cases:
        return None
    head = ["case", "target", "conn+query/s", "avg connection time ms", "lat avg ms (query)",
            "tps ratio vs direct", f"ratio {d.b}/{label(d.a)}", "ratio min–max",
            "pooler CPU µs per connection"]
    rows = []
    for c in cases:
        for t in d.targets:
            if not d.runs(c, t, ok_only=False):
                continue
            rv = "1 (ref)" if t == d.ref else fmt(med(d.ratios(c, t, d.ref)))
            pv = pr = ""
            if t == d.b:
                pl = d.ratios(c, d.b, d.a)
                pv, pr = f"**{fmt(med(pl))}**", rng(pl)
            rows.append([c, t, fmt(d.m(c, t, "tps")), fmt(d.m(c, t, "conn_ms")),
                         fmt(d.m(c, t, "lat_avg_ms")), rv, pv, pr,
                         fmt(d.m(c, t, "proxy_us_per_stmt"), 1)])
    return table(head, rows, ["---", "---"] + ["---:"] * (len(head) - 2))


def write_table(d):
    cases = [c for c in d.cases if kind(c) in ("write_dbos", "tpcb")]
    if not cases:
        return None
    head = ["case", "target", "tx/s", "statements/s", "lat avg ms per tx", "p99 ms",
            "ratio vs direct", f"ratio {d.b}/{label(d.a)}", "ratio min–max",
            "pooler CPU µs/stmt"]
    rows = []
    for c in cases:
        for t in d.targets:
            if not d.runs(c, t, ok_only=False):
                continue
            rv = "1 (ref)" if t == d.ref else fmt(med(d.ratios(c, t, d.ref)))
            pv = pr = ""
            if t == d.b:
                pl = d.ratios(c, d.b, d.a)
                pv, pr = f"**{fmt(med(pl))}**", rng(pl)
            rows.append([c, t, fmt(d.m(c, t, "tps")), fmt(d.m(c, t, "stmt_per_s")),
                         fmt(d.m(c, t, "lat_avg_ms")), fmt(d.m(c, t, "p99_ms")), rv, pv, pr,
                         fmt(d.m(c, t, "proxy_us_per_stmt"), 1)])
    return table(head, rows, ["---", "---"] + ["---:"] * (len(head) - 2))


def noise(d):
    rows = d.rows
    bad = [r for r in rows if r["ok"] != "1"]
    out = [f"- runs: {len(rows)} ({len(bad)} not ok)"]
    for r in bad:
        out.append(f"  - **NOT OK** r{r['round']} {r['case']} {r['target']}: {r['reason']}")

    def stat(key, scale=1.0, nd=2):
        v = [num(r[key]) for r in rows if num(r[key]) is not None]
        if not v:
            return "–", "–"
        return f"{statistics.median(v) * scale:.{nd}f}", f"{max(v) * scale:.{nd}f}"
    fm, fx = stat("foreign_cores")
    sm, sx = stat("steal_pct")
    out.append(f"- foreign CPU (box user+system+irq minus Postgres, both poolers and pgbench: "
               f"other tenants of the machine; approximate, the box counters are tick-sampled "
               f"and undercount ping-pong loads, so slightly negative = none): median {fm} "
               f"cores, max {fx} cores; steal median {sm}% max {sx}%")
    im, _ = stat("irq_pct", nd=1)
    out.append(f"- irq+softirq (loopback networking, not attributed to processes): median "
               f"{im}% of the box")
    cm, cx = stat("tps_cv_pct", nd=1)
    out.append(f"- within-run per-second tps CV: median {cm}%, max {cx}%")
    spreads = []
    for c in d.cases:
        for t in d.targets:
            if t == d.ref:
                continue
            rl = d.ratios(c, t, d.ref)
            if len(rl) >= 2 and med(rl):
                spreads.append(((max(rl) - min(rl)) / med(rl), c, t))
    if spreads:
        worst = max(spreads)
        out.append(f"- relative spread of the per-round tps ratios vs direct, (max−min)/median: "
                   f"median {100 * med([s[0] for s in spreads]):.1f}%, max "
                   f"{100 * worst[0]:.1f}% ({worst[1]} {worst[2]})")
    ck = [r for r in rows if (num(r["checkpoints"]) or 0) > 0]
    av = [r for r in rows if (num(r["autovacuums"]) or 0) > 0]

    def names(lst):
        return ", ".join(f"r{r['round']} {r['case']} {r['target']}" for r in lst)
    out.append(f"- runs with a checkpoint inside: {len(ck)}" + (f" ({names(ck)})" if ck else ""))
    out.append(f"- with an autovacuum/analyze inside: {len(av)}"
               + (f" ({names(av)})" if av else ""))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--ref", default="direct")
    ap.add_argument("--a", default="pgb_session")
    ap.add_argument("--b", default="pgpin")
    args = ap.parse_args()
    with open(args.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    meta = OrderedDict()
    with open(args.meta) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    if not rows:
        print("no runs in " + args.csv, file=sys.stderr)
        return 1
    d = Data(rows, args.ref, args.a, args.b)
    nbad = sum(1 for r in rows if r["ok"] != "1")
    g = meta.get
    p = [f"# pgpin vs PgBouncer vs direct Postgres, {g('date', '?')}", ""]
    p.append(f"- commit `{g('commit', '?')}`{g('tree', '')}")
    p.append(f"- machine: {g('nproc', '?')} cores ({g('cpu', '?')}), {g('mem', '?')}, "
             f"kernel {g('kernel', '?')}; shared with other users, see Noise")
    p.append(f"- {g('pg_version', '?')} ({g('pg_settings', '')}), pgbench scale "
             f"{g('scale', '?')}; {g('pgb_version', '?')} ({g('pgb_settings', '')}); pgpin "
             f"({g('pgpin_settings', '')})")
    p.append(f"- {g('rounds', '?')} interleaved rounds × {g('secs', '?')} s per run; in each "
             f"round every case runs {', '.join(d.targets)} back to back; "
             f"{g('client', '')}")
    p.append(f"- command: `{g('command', '?')}`; wall time {g('runtime', '?')}")
    p.append("")
    if nbad:
        p.append(f"**WARNING: {nbad} of {len(rows)} runs not ok** (excluded from the figures; "
                 "listed under Noise).")
        p.append("")
    p.append(f"Medians over rounds; ratio = median of per-round ratios between runs of the same "
             f"round; [min–max] over rounds. Pooler CPU = utime+stime of the pooler process "
             f"from /proc/PID/stat before and after the run; µs/stmt divides by the statements "
             f"pgbench completed. {d.b}/{label(d.a)} > 1 means {d.b} is faster (tps) or costs "
             f"more CPU (CPU/stmt).")
    p.append("")
    p.append(f"**{d.b} vs {label(d.a)}**:")
    p.append("")
    p.append(key_table(d))
    p.append("")
    p.append(f"**All targets** (reference for ratios: **{d.ref}**):")
    p.append("")
    p.append(full_table(d))
    for title, tab in (
            ("**Added latency at 1 client (select-only)**: per-round difference vs direct, "
             "median over rounds; the ratio divides the medians of the added average latency:",
             latency_table(d)),
            ("**Connection churn (pgbench -C: one new connection per transaction)**: tps = "
             "connections/s:", churn_table(d)),
            ("**Writes**: write_dbos = 1 workflow of 5 autocommit statements (INSERT status, 3× "
             "INSERT step output, UPDATE status, `bench/dbos.sql`); tpcb = pgbench's default "
             "TPC-B-like script (7 statements in BEGIN…END):", write_table(d))):
        if tab:
            p += ["", title, "", tab]
    p += ["", "**Noise**:", "", noise(d), ""]
    print("\n".join(p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
