#!/usr/bin/env python3
"""queue-report.py RAW: the Markdown tables of bench/queue.sh from its RESULT lines.

Medians over the runs (min-max in parentheses) per recipient count and server, the
Letterbox/Postfix ratios taken per run (the runs of one repetition ran within a
minute of each other) and their median, and the checks summed over all runs.
"""
import statistics
import sys

NAMES = {"lb": "Letterbox", "lb2": "Letterbox lb2", "pf": "Postfix (defaults)",
         "pf8": "Postfix (concurrency 8)"}


def parse(path):
    runs = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            d = {}
            for tok in line.split()[1:]:
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    d[k] = v
            runs.append(d)
    return runs


def num(d, k):
    try:
        return float(d.get(k, "nan"))
    except ValueError:
        return float("nan")


def med(vals):
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else float("nan")


def fmt(v, digits=None):
    if v != v:
        return "-"
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:.{digits}f}"


def cell(vals, digits=None, rng=True):
    vals = [v for v in vals if v == v]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if not rng or len(vals) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} ({fmt(min(vals), digits)}–{fmt(max(vals), digits)})"


def main():
    runs = parse(sys.argv[1])
    if not runs:
        print("\n(no runs)")
        return
    rcpts = sorted({int(r["rcpts"]) for r in runs})
    servers = [s for s in ("lb", "lb2", "pf", "pf8") if any(r["server"] == s for r in runs)]
    msgs = runs[0].get("msgs", "?")
    print()
    print(f"## Results: {msgs} messages per run, medians of {max(int(r['rep']) for r in runs)} runs (min–max)")
    for rc in rcpts:
        print()
        print(f"### {rc} recipient{'s' if rc != 1 else ''} per message")
        print()
        print("| server | end to end msg/s | e2e s | accept msg/s | drain s | drain msg/s (MSGS/drain) "
              "| backlog at last accept | backlog drained msg/s | queue latency p50 / p99 ms | server CPU s | CPU ms/msg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        by = {}
        for s in servers:
            rs = [r for r in runs if r["server"] == s and int(r["rcpts"]) == rc]
            by[s] = {int(r["rep"]): r for r in rs}
            if not rs:
                continue
            g = lambda k: [num(r, k) for r in rs]
            print(f"| {NAMES[s]} | **{cell(g('e2e_rate'))}** | {cell(g('e2e_s'), 3, False)} | {cell(g('accept_rate'))} "
                  f"| {cell(g('drain_s'), 3)} | {cell(g('drain_rate'), 0, False)} | {cell(g('backlog'), 0)} "
                  f"| {cell(g('backlog_rate'), 0, False)} | {fmt(med(g('qlat_p50_ms')))} / {fmt(med(g('qlat_p99_ms')))} "
                  f"| {cell(g('server_cpu_s'), 2)} | {fmt(med(g('cpu_ms_per_msg')))} |")
        pairs = [(a, b) for a in ("lb", "lb2") for b in ("pf", "pf8") if by.get(a) and by.get(b)]
        if by.get("lb") and by.get("lb2"):
            pairs.append(("lb2", "lb"))
        if pairs:
            print()
            print("| ratio, per run, median (min–max) | end to end msg/s | accept msg/s | drain time (B/A) | server CPU (B/A) |")
            print("|---|---|---|---|---|")
            for a, b in pairs:
                reps = sorted(set(by[a]) & set(by[b]))
                if not reps:
                    continue
                def ratio(k, inv=False):
                    out = []
                    for p in reps:
                        x, y = num(by[a][p], k), num(by[b][p], k)
                        if inv:
                            x, y = y, x
                        out.append(x / y if y else float("nan"))
                    return out
                print(f"| A = {NAMES[a]} / B = {NAMES[b]} | **{cell(ratio('e2e_rate'), 2)}×** | {cell(ratio('accept_rate'), 2)}× "
                      f"| {cell(ratio('drain_s', True), 2)}× | {cell(ratio('server_cpu_s', True), 2)}× |")
    print()
    print("Login (connect .. AUTH done, slowest of the connections), not in the figures above:")
    for s in servers:
        rs = [r for r in runs if r["server"] == s]
        print(f"- {NAMES[s]}: {cell([num(r, 'login_ms_max') for r in rs], 1)} ms"
              f" (tls={rs[0].get('tls')}, auth={rs[0].get('auth')})")
    print()
    print("Other CPU (the rest of the machine during the run, s): " + "; ".join(
        f"{NAMES[s]} {cell([num(r, 'other_cpu_s') for r in runs if r['server'] == s], 2)}" for s in servers))
    print("Load average (1 min) before the runs: " + cell([num(r, "load") for r in runs], 2))
    tot = lambda k: int(sum(num(r, k) for r in runs if num(r, k) == num(r, k)))
    print()
    expected = sum(int(r["rcpts"]) * int(r["msgs"]) for r in runs)
    print(f"Checks ({len(runs)} runs): acknowledged {tot('acked')} of {tot('msgs')} messages, "
          f"rejected {tot('rejected')}, errors {tot('errors')}; runs not complete at the sink "
          f"{sum(1 for r in runs if r.get('complete') != '1')}; recipients delivered to the sink "
          f"{tot('delivered_rcpts')} of {expected}, duplicated {tot('final_dup_rcpts')}, messages "
          f"truncated {tot('final_truncated')}, foreign {tot('final_foreign')}; "
          f"{tot('final_transactions')} transactions over {tot('final_conns')} connections")


if __name__ == "__main__":
    main()
