"""Turns the benchmarks' JSON into the table of ``bench/RESULTS.md``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WHAT = {
    "P9B": "console: time to a rendered batch-experiment page in headless Chromium",
    "P1": "submit → result, trivial JSON app (Runyard SDK, event stream then the result)",
    "P1W": "P1 while every status change goes to a webhook receiver that answers after 10 s",
    "P2": "throughput of a fan-out of trivial runs",
    "P3": "GET …/runs/{id}/metadata, 64 connections (wrk)",
    "P3R": "P3 through two replicas on one PostgreSQL, 32 connections each",
    "P4": "payload through signed URLs",
    "P4S3": "payload through presigned S3 URLs (SeaweedFS)",
    "P5": "list-runs page and submission, many runs in the database",
    "P6": "nextmv 1.13.0 local runner vs Runyard, python_json_hello-world",
    "RAY": "P1 and P2 on a three-node loopback Ray cluster, the server joined as a driver and through the client port",
    "P8": "status change → webhook received, → SSE event received",
    "P9": "console on big data: runs list of an app with many runs, server time",
}


@dataclass
class Row:
    id: str
    what: str
    figure: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: not measured


def _yes(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def rows_for(result: dict[str, Any]) -> list[Row]:
    kind = result["id"]
    return {"P9B": _p9b, "P1": _p1, "P1W": _p1, "P2": _p2, "P3": _p3, "P4": _p4, "P5": _p5, "P6": _p6, "RAY": _ray, "P8": _p8, "P4S3": _p4s3,
            "P3R": _p3r, "P9": _p9}[kind](result)


def _p9b(r: dict[str, Any]) -> list[Row]:
    big, base = r["big"], r["baseline"]
    return [Row("P9B", f"{WHAT['P9B']}: {r['runs']:,} runs, {r['rounds']} rounds ({r['chromium']})",
                f"p50 {big['p50_ms']:.0f} ms, p95 {big['p95_ms']:.0f} ms, max {big['max_ms']:.0f} ms",
                f"2-run experiment, same page: p50 {base['p50_ms']:.0f} ms, p95 {base['p95_ms']:.0f} ms",
                f"p50 {big['p50_ms'] / base['p50_ms']:.2f}× the nearly empty page",
                f"p95 < {r['goal']['p95_below_ms']:g} ms", r["goal"]["met"])]


def _p8(r: dict[str, Any]) -> list[Row]:
    w, s, b = r["webhook"], r["sse"], r["baseline"]
    return [Row("P8", f"{WHAT['P8']}, {r['runs']} runs ({r['events']} status changes)",
                f"webhook: p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms; SSE: p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
                f"bare POST: p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms",
                f"p99 webhook {w['p99_ms'] / b['p99_ms']:.1f}×, SSE {s['p99_ms'] / b['p99_ms']:.1f}× the bare POST",
                f"p99 < {r['goal']['p99_below_ms']:g} ms", r["goal"]["met"])]


def _p1(r: dict[str, Any]) -> list[Row]:
    ry, b, o = r["runyard"], r["baseline"], r["overhead"]
    return [Row(r["id"], f"{WHAT[r['id']]}, {r['runs']} runs",
                f"p50 {ry['p50_ms']:.1f} ms, p95 {ry['p95_ms']:.1f} ms",
                f"subprocess: p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms",
                f"overhead p50 {o['p50_ms']:+.1f} ms, p95 {o['p95_ms']:+.1f} ms{_sandbox_share(r)}",
                f"overhead < {r['goal']['overhead_p50_below_ms']:g} ms at p50", r["goal"]["met"])]


def _sandbox_share(r: dict[str, Any]) -> str:
    cost, ahead = r.get("sandbox_cost_p50_ms"), r.get("prestarted_sandbox_cost_p50_ms")
    if cost is None:
        return ""
    if ahead is None:
        return f" (the sandbox's own share: {cost:+.1f} ms)"
    return f" (the sandbox's own share: {ahead:+.1f} ms started ahead, as runs of a kept workspace are; {cost:+.1f} ms started cold)"


def _around(baseline: dict[str, Any]) -> str:
    if "before_runs_per_s" not in baseline:
        return ""
    return f" ({baseline['before_runs_per_s']:.1f} before, {baseline['after_runs_per_s']:.1f} after)"


def _p2(r: dict[str, Any]) -> list[Row]:
    out = []
    for w in r["by_workers"]:
        singles = w.get("single_submissions")
        extra = (f"; {singles['runs_per_s']:.1f} runs/s ({w['single_submissions_ratio']:.2f}×) as {r['runs']} single "
                 "submissions" if singles else "")
        rounds = w.get("rounds") or []
        spread = (f" (median of {len(rounds)} rounds: " + ", ".join(f"{x['ratio']:.2f}×" for x in rounds) + ")"
                  if len(rounds) > 1 else "")
        out.append(Row("P2", f"{WHAT['P2']}: {r['runs']} runs, W={w['workers']}",
                       f"batch experiment: {w['runyard']['runs_per_s']:.1f} runs/s ({w['runyard']['seconds']:.1f} s){extra}",
                       f"ThreadPoolExecutor({w['workers']}): {w['baseline']['runs_per_s']:.1f} runs/s{_around(w['baseline'])}",
                       f"{w['ratio']:.2f}×{spread}", f"≥ {r['goal']['ratio_at_least']:g}×", w["met"]))
    return out


def _p3(r: dict[str, Any]) -> list[Row]:
    m, b, p = r["metadata"], r["baseline"], r["polling"]
    return [Row("P3", WHAT["P3"],
                f"saturated: {m['rps']:.0f} req/s (p99 {m['p99_ms']:.1f} ms); polling every {p['interval_ms']} ms: "
                f"{p['metadata']['rps']:.0f} req/s, p50 {p['metadata']['p50_ms']:.1f} ms, p99 {p['metadata']['p99_ms']:.1f} ms",
                f"/healthz saturated: {b['rps']:.0f} req/s (p99 {b['p99_ms']:.1f} ms); polling: p99 {p['baseline']['p99_ms']:.1f} ms",
                f"{r['ratio']:.2f}×", "≥ 0.5×, p99 < 25 ms", r["goal"]["met"])]


def _p3r(r: dict[str, Any]) -> list[Row]:
    m, b, p = r["metadata"], r["baseline"], r["polling"]
    return [Row("P3R", WHAT["P3R"],
                f"saturated: {m['rps']:.0f} req/s ({' + '.join(f'{x:.0f}' for x in m['per_replica_rps'])}; p99 {m['p99_ms']:.1f} ms); "
                f"polling every {p['interval_ms']} ms: p50 {p['metadata']['p50_ms']:.1f} ms, p99 {p['metadata']['p99_ms']:.1f} ms"
                + (f"; over {d['runs']} different runs: {d['metadata']['rps']:.0f} req/s ({d['ratio']:.2f}×)" if (d := r.get("distinct_runs")) else ""),
                f"/healthz on the same replicas saturated: {b['rps']:.0f} req/s (p99 {b['p99_ms']:.1f} ms); polling: p99 {p['baseline']['p99_ms']:.1f} ms",
                f"{r['ratio']:.2f}×", f"≥ {r['goal']['ratio_at_least']:g}×, p99 < 25 ms", r["goal"]["met"])]


def _p4(r: dict[str, Any]) -> list[Row]:
    c = r["copy"]
    out = []
    for name in ("upload", "download"):
        t = r[name]
        met = t["ratio_to_copy"] >= r["goal"]["ratio_at_least"] and t["rss_growth_mib"] < r["goal"]["rss_growth_below_mib"]
        out.append(Row("P4", f"{WHAT['P4']}: {r['size_mib']} MiB {name}",
                       f"{t['mib_per_s']:.0f} MiB/s, server RSS +{t['rss_growth_mib']:.0f} MiB",
                       f"copyfile: {c['mib_per_s']:.0f} MiB/s",
                       f"{t['ratio_to_copy']:.2f}×", "≥ 0.5×, RSS growth < 100 MiB", met))
    return out


def _p4s3(r: dict[str, Any]) -> list[Row]:
    return [Row("P4S3", f"{WHAT['P4S3']}: {r['size_mib']} MiB {name}",
                f"via Runyard's URLs: {r[name]['runyard_mib_s']:.0f} MiB/s, server RSS +{r['rss_growth_mib_max']:.0f} MiB",
                f"same client, store's own URLs: {r[name]['direct_mib_s']:.0f} MiB/s",
                f"{r[name]['ratio']:.2f}×", "≥ 0.9×", r[name]["ratio"] >= r["goal"]["ratio_at_least"])
            for name in ("upload", "download")]


def _p5(r: dict[str, Any]) -> list[Row]:
    out = []
    for b in r["by_backend"]:
        e, f = b["empty"], b["loaded"]
        n = f"{r['runs_inserted']:,}"
        page_met = b["page_p99_ms"] < r["goal"]["page_p99_below_ms"]
        out.append(Row("P5", f"{b['backend']}: list page with {n} runs (first / deep)",
                       f"p50 {f['first_page']['p50_ms']:.1f} / {f['deep_page']['p50_ms']:.1f} ms, "
                       f"p99 {f['first_page']['p99_ms']:.1f} / {f['deep_page']['p99_ms']:.1f} ms",
                       f"{e['runs_in_db']}+ runs, interleaved: p99 {e['first_page']['p99_ms']:.1f} / {e['deep_page']['p99_ms']:.1f} ms",
                       f"p99 {f['deep_page']['p99_ms'] / e['deep_page']['p99_ms']:.2f}× (deep)",
                       "p99 < 20 ms", page_met))
        submit_met = b["submit_p50_ratio"] <= r["goal"]["submit_ratio_at_most"]
        out.append(Row("P5", f"{b['backend']}: POST …/runs with {n} runs",
                       f"p50 {f['submit']['p50_ms']:.1f} ms, p99 {f['submit']['p99_ms']:.1f} ms",
                       f"{e['runs_in_db']} runs: p50 {e['submit']['p50_ms']:.1f} ms, p99 {e['submit']['p99_ms']:.1f} ms",
                       f"{b['submit_p50_ratio']:.2f}× (p50){_interval(b)}", "≤ 1.2× slower", submit_met))
    if r.get("skipped"):
        out.append(Row("P5", "postgresql", r["skipped"], "—", "—", "—", None))
    return out


def _interval(b: dict[str, Any]) -> str:
    """The 95% interval of the submission ratio, when the interleaved design measured one."""
    ci = (b.get("ratios") or {}).get("submit", {}).get("p50_ratio_95ci")
    return f", 95% interval {ci[0]:.2f}–{ci[1]:.2f}" if ci else ""


def _p6(r: dict[str, Any]) -> list[Row]:
    loc, ry = r["local"], r["runyard"]
    baseline = f"local runner: p50 {loc['default_polling']['p50_ms'] / 1000:.2f} s"
    if "fast_polling" in loc:
        baseline += f" (50 ms polling: {loc['fast_polling']['p50_ms'] / 1000:.2f} s)"
    ratio = f"{r['ratio']:.1f}×"
    if r.get("ratio_vs_fast_polling_local") is not None:
        ratio += f" ({r['ratio_vs_fast_polling_local']:.1f}×)"
    return [Row("P6", f"{WHAT['P6']}, {r['runs']} runs", f"Runyard: p50 {ry['p50_ms'] / 1000:.2f} s per run",
                baseline, ratio, "≥ 5× faster", r["goal"]["met"])]


def _ray(r: dict[str, Any]) -> list[Row]:
    rows = []
    for key, how in (("driver", "server joined as a driver"), ("client_port", "server joined through the client port")):
        if key not in r:
            continue
        p1, p2 = r[key]["p1"], r[key]["p2"]
        rows += [
            Row("P1 on Ray", f"submit → result on the Ray executor, {p1['runs']} runs, {how}",
                f"p50 {p1['runyard']['p50_ms']:.1f} ms, p95 {p1['runyard']['p95_ms']:.1f} ms",
                f"bare Ray task (joined the same way): p50 {p1['baseline']['p50_ms']:.1f} ms",
                f"overhead p50 {p1['overhead_p50_ms']:+.1f} ms",
                f"overhead < {p1['goal']['overhead_p50_below_ms']:g} ms at p50", p1["goal"]["met"]),
            Row("P2 on Ray", f"{p2['runs']} trivial runs on 3 nodes, {how}",
                f"{p2['runyard_runs_per_s']:.1f} runs/s ({p2['runyard_seconds']:.1f} s)"
                + (f"; at most {p2['bound']['ratio']:.2f}× with every core busy" if p2.get("bound") else ""),
                f"bare Ray tasks, {p2['workers']} in flight: {p2['baseline_runs_per_s']:.1f} runs/s",
                f"{p2['ratio']:.2f}×", f"≥ {p2['goal']['ratio_at_least']:g}×", p2["goal"]["met"]),
        ]
    return rows


def failed_row(bench_id: str, message: str, skipped: bool = False) -> Row:
    word = "SKIPPED" if skipped else "FAILED"
    return Row(bench_id, WHAT[bench_id], f"{word}: {message.splitlines()[0][:160]}", "—", "—", "—", None)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| id | what | figure | baseline (same run) | ratio | goal | |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.id} | {row.what} | {row.figure} | {row.baseline} | {row.ratio} | {row.goal} | {_yes(row.met)} |")
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        lines.append(f"{row.id:3} {_yes(row.met).strip('*'):7} {row.what}\n"
                     f"        {row.figure}  |  baseline {row.baseline}  |  {row.ratio}  |  goal {row.goal}")
    return "\n".join(lines)


def _p9(r: dict[str, Any]) -> list[Row]:
    out = []
    for b in r["by_backend"]:
        cases = b["cases"]
        base = cases[b["baseline_case"]]["server"]
        first, second = cases["first page"]["server"], cases["second page (token)"]["server"]
        filtered = {k: v["server"] for k, v in cases.items() if k not in (b["baseline_case"], "first page", "second page (token)")}
        worst_name = max(filtered, key=lambda k: filtered[k]["p99_ms"])
        worst = filtered[worst_name]
        out.append(Row("P9", f"{b['backend']}: runs list, app with {r['runs_inserted']:,} runs (server time)",
                       f"first page p50 {first['p50_ms']:.1f} ms, p99 {first['p99_ms']:.1f} ms; second page p99 "
                       f"{second['p99_ms']:.1f} ms; slowest of {len(filtered)} filters ({worst_name}) p99 {worst['p99_ms']:.1f} ms",
                       f"10-run app: p50 {base['p50_ms']:.1f} ms, p99 {base['p99_ms']:.1f} ms",
                       f"first page p50 {first['p50_ms'] / base['p50_ms']:.2f}×, slowest filter p50 "
                       f"{worst['p50_ms'] / base['p50_ms']:.2f}×",
                       f"p99 < {r['goal']['server_p99_below_ms']:g} ms", b["met"]))
    if r.get("skipped"):
        out.append(Row("P9", "postgresql", r["skipped"], "—", "—", "—", None))
    return out


def p9_details(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for b in r["by_backend"]:
        bi = b["bulk_insert"]
        out += ["", f"**{b['backend']}**: {bi['rows']:,} runs inserted through the storage layer in {bi['seconds']} s "
                f"({bi['rows_per_s']:,}/s); {bi['runs_of_the_app']:,} runs in the app.", "",
                "| request | runs on page | server p50 ms | server p99 ms | server max ms | client p50 ms | client p99 ms |",
                "|---|---|---|---|---|---|---|"]
        for name, m in b["cases"].items():
            s, c = m["server"], m["client"]
            out.append(f"| {name} | {m['runs_on_page']} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} | {c['p50_ms']} | {c['p99_ms']} |")
        out += ["", f"Query plans ({b['backend']}):"]
        for name, plan in b["plans"].items():
            out += ["", f"*{name}*", "", "```", *plan, "```"]
    return out
