#!/usr/bin/env python3
"""Markdown tables from the RESULT lines of bench/pop3.sh (standard library only).

    pop3-report.py raw.txt

Medians with (min-max) over the repetitions. A Letterbox/Dovecot ratio is the median
of the per-repetition ratios: the two sessions of one repetition ran minutes apart at
most, so their ratio is less exposed to a machine that got busier or quieter.
"""
import statistics
import sys


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            r = {}
            for kv in line.split()[1:]:
                k, _, v = kv.partition("=")
                r[k] = v
            rows.append(r)
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(x):
    if x is None:
        return "–"
    a = abs(x)
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3f}"


def med(vals, bold=False, rng=True):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    m = fmt(statistics.median(vals))
    if bold:
        m = f"**{m}**"
    if rng and len(vals) > 1:
        return f"{m} ({fmt(min(vals))}–{fmt(max(vals))})"
    return m


def retr_tables(rows):
    empty = [r for r in rows if r.get("kind") == "retr" and r.get("phase") == "empty"]
    retr = [r for r in rows if r.get("kind") == "retr" and r.get("phase") != "empty"]
    if not retr:
        return
    # CPU of a login (the session on the empty mailbox), per server: median, seconds
    login_cpu = {s: statistics.median([num(r["server_cpu_s"]) for r in empty
                                       if r["server"] == s])
                 for s in ("lb", "dc") if any(r["server"] == s for r in empty)}
    keys = []
    for r in retr:
        k = (r["phase"], int(r["depth"]))
        if k not in keys:
            keys.append(k)
    keys.sort(key=lambda k: (k[0] != "cold", k[1]))

    def get(server, k, field):
        return {r["rep"]: num(r.get(field)) for r in retr
                if r["server"] == server and (r["phase"], int(r["depth"])) == k}

    def ratio(k, field, invert=False):
        a, b = get("lb", k, field), get("dc", k, field)
        out = []
        for rep in a:
            if rep in b and a[rep] and b[rep]:
                out.append(b[rep] / a[rep] if invert else a[rep] / b[rep])
        return out

    n = retr[0].get("msgs", "?")
    reps = len({r["rep"] for r in retr})
    print(f"\n## Download: LIST + UIDL + RETR of all {n} messages in one session, then QUIT"
          f" (medians of {reps}, min–max)\n")
    print("\"session\" = connect to the +OK of QUIT (login, LIST, UIDL, every RETR, QUIT): "
          "everything the server does for the download. \"fetch\" = LIST + UIDL + RETR only "
          "(the bench-kit's figure). Ratio = Letterbox / Dovecot per repetition, median "
          "(min–max); above 1 Letterbox is faster.\n")
    print("| session | RETR depth | Letterbox msgs/s | Dovecot msgs/s | LB/DC | "
          "Letterbox fetch msgs/s | Dovecot fetch msgs/s | LB/DC (fetch) |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        print(f"| {k[0]} | {k[1]} | {med(get('lb', k, 'session_rate').values(), True)} | "
              f"{med(get('dc', k, 'session_rate').values(), True)} | "
              f"**{med(ratio(k, 'session_rate'), False, False)}×** "
              f"({fmt(min(ratio(k, 'session_rate'), default=None))}–"
              f"{fmt(max(ratio(k, 'session_rate'), default=None))}) | "
              f"{med(get('lb', k, 'fetch_rate').values())} | "
              f"{med(get('dc', k, 'fetch_rate').values())} | "
              f"{med(ratio(k, 'fetch_rate'), False, False)}× |")

    print("\nServer CPU per message retrieved: the CPU time of the server's whole process "
          "tree (/proc/PID/stat utime+stime+cutime+cstime, in clock ticks of 10 ms) summed "
          "over all repetitions / messages retrieved in them (min–max of single "
          "repetitions: one is only a few ticks). Time of each step: medians, ms.\n")
    if login_cpu:
        print("\"without login\" subtracts the CPU time of a session on the empty mailbox "
              "(connect, USER, PASS, LIST, UIDL, QUIT: mostly the PAM check of the password "
              "hash) from every session: " + "; ".join(
                  f"{'Letterbox' if s == 'lb' else 'Dovecot'} {login_cpu[s] * 1000:.0f} ms "
                  f"(median of {sum(1 for r in empty if r['server'] == s)}; login "
                  f"{statistics.median([num(r['login_ms']) for r in empty if r['server'] == s]):.1f}"
                  f" ms of wall time)" for s in login_cpu) + ".\n")
    print("| session | depth | server | CPU ms/msg | without login | login | LIST | UIDL "
          "| all RETRs | QUIT | client CPU s | other CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in keys:
        for s, name in (("lb", "Letterbox"), ("dc", "Dovecot")):
            g = lambda f: get(s, k, f).values()  # noqa: E731
            rs = [r for r in retr if r["server"] == s and (r["phase"], int(r["depth"])) == k]
            cpu = sum(num(r.get("server_cpu_s")) or 0 for r in rs)
            msgs = sum(num(r.get("retrieved")) or 0 for r in rs)
            vals = list(g("cpu_ms_per_msg"))
            pooled = f"**{fmt(cpu * 1000 / msgs)}**" if msgs else "–"
            if len(vals) > 1:
                pooled += f" ({fmt(min(vals))}–{fmt(max(vals))})"
            nologin = "–"
            if msgs and s in login_cpu:
                nologin = fmt((cpu - len(rs) * login_cpu[s]) * 1000 / msgs)
            print(f"| {k[0]} | {k[1]} | {name} | {pooled} | {nologin} | "
                  f"{med(g('login_ms'), rng=False)} | {med(g('list_ms'), rng=False)} | "
                  f"{med(g('uidl_ms'), rng=False)} | {med(g('retr_ms'), rng=False)} | "
                  f"{med(g('quit_ms'), rng=False)} | {med(g('client_cpu_s'), rng=False)} | "
                  f"{med(g('other_cpu_s'), rng=False)} |")

    moved = [r for r in rows if r.get("kind") == "moved"]
    if moved:
        print("\nWhere the messages were after the cold session (new/ → cur/): " + "; ".join(
            sorted({f"{'Letterbox' if r['server'] == 'lb' else 'Dovecot'}: new/ {r['new']}, "
                    f"cur/ {r['cur']}" for r in moved})))

    bad = [r for r in retr if r.get("rc") != "0"]
    tot = lambda f: sum(int(num(r.get(f)) or 0) for r in retr)  # noqa: E731
    print(f"\nChecks: {len(retr)} sessions, {tot('retrieved')} messages retrieved, "
          f"{len(bad)} failed; ids_ok {tot('ids_ok')}, dup {tot('ids_dup')}, missing "
          f"{tot('ids_missing')}, foreign {tot('ids_foreign')}, truncated {tot('truncated')}, "
          f"octets != LIST {tot('size_mismatch')}, bad UIDL lines {tot('uidl_bad')}, "
          f"duplicate UIDLs {tot('uidl_dup')}, errors {tot('errors')}.")


def mem_tables(rows):
    mem = [r for r in rows if r.get("kind") == "mem"]
    if not mem:
        return
    sizes = []
    for r in mem:
        if int(r["msgs"]) not in sizes:
            sizes.append(int(r["msgs"]))
    many = sorted({int(r["wanted"]) for r in mem if r["server"] == "dc" and r["wanted"] != "1"})
    g = lambda rs, f: [num(r.get(f)) for r in rs]  # noqa: E731
    print("\n## Memory per idle authenticated session (KiB; medians, min–max)\n")
    print("ΔPSS = PSS summed over the server's whole process tree with the session(s) "
          "logged in and idle, minus the same without (per session). ΔAnon = the same "
          "for Pss_Anon only (heap, stack, copied-on-write pages: memory no process "
          "outside the tree shares, so other programs starting or stopping on the "
          "machine do not move it; ΔPSS also holds the session's share of library "
          "pages, which does). \"its process(es)\" = PSS of the processes that the "
          "session added (Letterbox: the session process; Dovecot: pop3).\n")
    hdr = ("| messages in the maildrop | Letterbox ΔPSS | Letterbox ΔAnon | its process "
           "| Dovecot ΔPSS | Dovecot ΔAnon | its processes |")
    sep = "|---|---|---|---|---|---|---|"
    for m in many:
        hdr += f" Dovecot ΔPSS, {m} sessions | Dovecot ΔAnon, {m} sessions |"
        sep += "---|---|"
    print(hdr)
    print(sep)
    for m in sizes:
        lb = [r for r in mem if r["server"] == "lb" and int(r["msgs"]) == m]
        dc1 = [r for r in mem if r["server"] == "dc" and int(r["msgs"]) == m
               and r.get("wanted") == "1"]
        line = (f"| {m} | {med(g(lb, 'pss_per_session_kib'), True)} | "
                f"{med(g(lb, 'anon_per_session_kib'), True)} | "
                f"{med(g(lb, 'new_procs_pss_kib'), rng=False)} | "
                f"{med(g(dc1, 'pss_per_session_kib'), True)} | "
                f"{med(g(dc1, 'anon_per_session_kib'), True)} | "
                f"{med(g(dc1, 'new_procs_pss_kib'), rng=False)} |")
        for k in many:
            dcn = [r for r in mem if r["server"] == "dc" and int(r["msgs"]) == m
                   and int(r["wanted"]) == k]
            opened = sorted({r["sessions"] for r in dcn})
            line += (f" {med(g(dcn, 'pss_per_session_kib'))}"
                     f"{'' if opened == [str(k)] else ' (opened: ' + '/'.join(opened) + ')'} | "
                     f"{med(g(dcn, 'anon_per_session_kib'))} |")
        print(line)
    print("\nLetterbox's pool: after a session ends its process waits, idle, for the next "
          "connection (up to 8 are kept). Its cost after a full download (LIST, UIDL, "
          "every RETR, QUIT), and the cost of an idle session that reuses it:\n")
    print("| messages in the maildrop | idle pool process after a download: ΔPSS | ΔAnon "
          "| next idle session in it: ΔPSS | ΔAnon |")
    print("|---|---|---|---|---|")
    for m in sizes:
        lb = [r for r in mem if r["server"] == "lb" and int(r["msgs"]) == m]
        print(f"| {m} | {med(g(lb, 'pool_pss_kib'))} | {med(g(lb, 'pool_anon_kib'))} | "
              f"{med(g(lb, 'reuse_pss_kib'))} | {med(g(lb, 'reuse_anon_kib'))} |")
    for r in rows:
        if r.get("kind") == "inuse":
            print(f"\nA second concurrent session of the same user on Letterbox: "
                  f"{r['logged_in']} of {r['sessions_wanted']} logged in, {r['refused']} "
                  f"refused (-ERR [IN-USE], RFC 1939 §8 / RFC 2449).")


def main():
    rows = parse(sys.argv[1])
    retr_tables(rows)
    mem_tables(rows)


if __name__ == "__main__":
    main()
