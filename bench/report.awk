# bench/report.awk -- Markdown report from the RESULT lines of bench/run.sh (raw.txt).
# Portable awk (mawk): no asort. Variables: reps, n, size.

function isort(a, k,    i, j, t) {
	for (i = 2; i <= k; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
}
# median of a space-separated list of numbers
function med(list,    a, k) {
	k = split(list, a, " ")
	if (k == 0) return ""
	for (i0 = 1; i0 <= k; i0++) a[i0] += 0
	isort(a, k)
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function lo(list,    a, k) { k = split(list, a, " "); for (i0 = 1; i0 <= k; i0++) a[i0] += 0; isort(a, k); return a[1] }
function hi(list,    a, k) { k = split(list, a, " "); for (i0 = 1; i0 <= k; i0++) a[i0] += 0; isort(a, k); return a[k] }
function cnt(list,    a) { return split(list, a, " ") }
function fmt(v) {
	if (v == "") return "-"
	if (v == int(v)) return sprintf("%d", v)
	if (v >= 100) return sprintf("%.0f", v)
	if (v >= 10) return sprintf("%.1f", v)
	return sprintf("%.2f", v)
}
# "median (min–max)" when there is more than one value
function mr(list) {
	if (list == "") return "-"
	if (cnt(list) < 2) return fmt(med(list))
	return sprintf("**%s** (%s–%s)", fmt(med(list)), fmt(lo(list)), fmt(hi(list)))
}
function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f×", a / b) }

/^RESULT / {
	delete f
	for (i = 2; i <= NF; i++) {
		p = index($i, "=")
		if (p > 0) f[substr($i, 1, p - 1)] = substr($i, p + 1)
	}
	if (f["kind"] == "disk") {
		k = f["mode"] SUBSEP f["procs"]
		if (!(k in drate)) { dorder[++nd] = k }
		drate[k] = drate[k] " " f["rate"]
		dp50[k] = dp50[k] " " f["lat_p50_ms"]
		dp99[k] = dp99[k] " " f["lat_p99_ms"]
	} else if (f["kind"] == "smtp") {
		s = f["server"]; c = f["conc"]; k = s SUBSEP c
		if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
		ack[k] = ack[k] " " f["ack_rate"]
		e2e[k] = e2e[k] " " f["e2e_rate"]
		p50[k] = p50[k] " " f["lat_p50_ms"]
		p99[k] = p99[k] " " f["lat_p99_ms"]
		cpu[k] = cpu[k] " " f["cpu_ms_per_msg"]
		innew[k] = innew[k] " " f["in_new_at_last_ack"]
		other[k] = other[k] " " f["other_cpu_s"]
		ccpu[k] = ccpu[k] " " (f["client_cpu_s"] * 1000 / f["n"])
		if (f["rc"] + 0 != 0) failed[s]++
		runs[s]++
		sent[s] += f["n"]; acked[s] += f["acked"]; rej[s] += f["rejected"]
		err[s] += f["errors"]; tmo[s] += f["timeouts"]; lost[s] += f["lost"]
		dup[s] += f["dup"]; trunc[s] += f["truncated"]; unexp[s] += f["unexpected"]
		foreign[s] += f["foreign"]; if (f["e2e_complete"] + 0 != 1) incomplete[s]++
	} else if (f["kind"] == "mem") {
		s = f["server"]
		mper[s] = mper[s] " " f["pss_kib_per_conn"]
		mprocs[s] = mprocs[s] " " f["procs_per_conn"]
		mbefore[s] = mbefore[s] " " f["pss_before_kib"]
		mafter[s] = mafter[s] " " f["pss_after_kib"]
		mopen[s] = mopen[s] " " f["open"]
	}
}

END {
	name["lb"] = "Letterbox"; name["pf"] = "Postfix"
	if (nd > 0) {
		print ""
		printf "## Disk ceiling: durable Maildir deliveries without a server (%d × %d B, medians of %d)\n\n", n, size, reps
		print "One delivery = create tmp/NAME, write, fsync or fdatasync, close, rename to new/, fsync(new/)."
		print ""
		print "| file sync | writers | deliveries/s | latency p50 ms | p99 ms |"
		print "|---|---|---|---|---|"
		for (i = 1; i <= nd; i++) {
			k = dorder[i]; split(k, kk, SUBSEP)
			printf "| %s | %s process%s | %s | %s | %s |\n", kk[1], kk[2], (kk[2] == 1) ? "" : "es",
			    mr(drate[k]), fmt(med(dp50[k])), fmt(med(dp99[k]))
		}
	}
	if (nc > 0) {
		print ""
		printf "## SMTP: %d messages × %d B, one message per connection (medians of %d; min–max)\n\n", n, size, reps
		print "| senders | Letterbox ack/s | Postfix ack/s | LB/PF | Letterbox e2e/s | Postfix e2e/s | LB/PF |"
		print "|---|---|---|---|---|---|---|"
		for (i = 1; i <= nc; i++) {
			c = corder[i]; l = "lb" SUBSEP c; p = "pf" SUBSEP c
			printf "| %s | %s | %s | %s | %s | %s | %s |\n", c, mr(ack[l]), mr(ack[p]),
			    ratio(med(ack[l]), med(ack[p])), mr(e2e[l]), mr(e2e[p]), ratio(med(e2e[l]), med(e2e[p]))
		}
		print ""
		print "| senders | server | latency p50 / p99 ms | server CPU ms/msg | in new/ at last 250 | client CPU ms/msg | other CPU on the machine, s/run |"
		print "|---|---|---|---|---|---|---|"
		for (i = 1; i <= nc; i++) {
			c = corder[i]
			for (j = 1; j <= 2; j++) {
				s = j == 1 ? "lb" : "pf"; k = s SUBSEP c
				printf "| %s | %s | %s / %s | %s | %s | %s | %s |\n", c, name[s], fmt(med(p50[k])),
				    fmt(med(p99[k])), mr(cpu[k]), fmt(med(innew[k])), fmt(med(ccpu[k])), fmt(med(other[k]))
			}
		}
		print ""
		print "Checks (sums over all runs):"
		print ""
		for (j = 1; j <= 2; j++) {
			s = j == 1 ? "lb" : "pf"
			printf "- %s: %d runs, %d sent, %d acknowledged, %d rejected, %d errors (%d timeouts); in the Maildir: %d lost, %d duplicated, %d truncated, %d unexpected, %d foreign; %d runs incomplete\n",
			    name[s], runs[s], sent[s], acked[s], rej[s], err[s], tmo[s], lost[s], dup[s], trunc[s], unexp[s], foreign[s], incomplete[s] + 0
		}
	}
	if (("lb" in mper) || ("pf" in mper)) {
		print ""
		print "## Memory per idle SMTP connection (after EHLO; PSS summed over the server's process tree)"
		print ""
		print "| server | PSS per connection KiB | processes per connection | PSS before → after KiB (median) | connections |"
		print "|---|---|---|---|---|"
		for (j = 1; j <= 2; j++) {
			s = j == 1 ? "lb" : "pf"
			if (!(s in mper)) continue
			printf "| %s | %s | %s | %s → %s | %s |\n", name[s], mr(mper[s]), fmt(med(mprocs[s])),
			    fmt(med(mbefore[s])), fmt(med(mafter[s])), fmt(med(mopen[s]))
		}
	}
	print ""
	if (failed["lb"] + failed["pf"] > 0)
		printf "\n**%d Letterbox and %d Postfix runs failed their checks (messages not acknowledged, lost, duplicated or truncated): their figures are not comparable.**\n", failed["lb"], failed["pf"]
	print ""
	print "## Goals (design.md)"
	print ""
	print "| goal | measured | verdict |"
	print "|---|---|---|"
	l = "lb" SUBSEP 8; p = "pf" SUBSEP 8
	if ((l in e2e) && (p in e2e)) {
		r = med(e2e[l]) / med(e2e[p])
		printf "| end to end ≥ 1.5× Postfix at 8 senders | %s/s vs %s/s = %.2f× | %s |\n", fmt(med(e2e[l])),
		    fmt(med(e2e[p])), r, (failed["lb"] + failed["pf"] > 0) ? "invalid: failed runs" : (r >= 1.5) ? "met" : "**not met**"
	} else print "| end to end ≥ 1.5× Postfix at 8 senders | not measured (needs C=8) | - |"
	worst = ""; detail = ""
	for (i = 1; i <= nc; i++) {
		c = corder[i]; k = "lb" SUBSEP c
		if (!(k in cpu)) continue
		v = med(cpu[k]); detail = detail (detail == "" ? "" : ", ") "C=" c ": " fmt(v)
		if (worst == "" || v > worst) worst = v
	}
	if (worst != "")
		printf "| server CPU ≤ 0.5 ms per message | %s ms | %s |\n", detail, (failed["lb"] > 0) ? "invalid: failed runs" : (worst <= 0.5) ? "met" : "**not met**"
	else print "| server CPU ≤ 0.5 ms per message | not measured | - |"
	if ("lb" in mper) {
		v = med(mper["lb"])
		printf "| PSS ≤ 128 KiB per idle connection | %s KiB | %s |\n", fmt(v), (v <= 128) ? "met" : "**not met**"
	} else print "| PSS ≤ 128 KiB per idle connection | not measured | - |"
}
