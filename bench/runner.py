"""The benchmark suite's runner: each benchmark in its own temporary directory, one after the other.

Every figure is divided by a baseline measured in the same run on the same machine. A benchmark
whose setup fails (or whose runs do not return what they should) is reported as FAILED and makes
the exit code non-zero; it never prints a number it did not measure. Missed goals are figures, not
failures (``--strict`` makes them fail too).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import report
from bench.common import HERE, OUT, SetupError, machine_facts

BENCHMARKS = {
    "P1": "bench.p1_latency",
    "P1W": "bench.p1_webhook",
    "P9B": "bench.p9_browser",  # P9's browser half (the server half is P9)
    "P2": "bench.p2_throughput",
    "P3": "bench.p3_api",
    "P3R": "bench.p3_replicas",
    "P4": "bench.p4_signed_urls",
    "P4S3": "bench.p4_s3",
    "P5": "bench.p5_database",
    "P6": "bench.p6_local_runner",
    "RAY": "bench.ray_cluster",
    "P8": "bench.p8_events",
    "P9": "bench.p9_console",
}
QUICK_BUDGET_SECONDS = 120


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="Reduced sizes, under two minutes (the default).")
    mode.add_argument("--full", action="store_true", help="The sizes of the issue: 100/300 runs, 1 GiB, 1,000,000 runs, 30 s loads.")
    parser.add_argument("--only", default="", help="Comma-separated benchmark ids, e.g. P1,P3 (default: all).")
    parser.add_argument("--results", type=Path, default=None,
                        help="Markdown file to write (default: bench/RESULTS.md for --full, bench/out/RESULTS-quick.md for quick, "
                             "bench/out/RESULTS-partial.md with --only).")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary work directories (their paths are printed).")
    args = parser.parse_args(argv)
    wanted = [x.strip().upper() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark ids {unknown}; choose from {', '.join(BENCHMARKS)}")
    args.ids = wanted or list(BENCHMARKS)
    args.quick = not args.full
    if args.results is None:
        # Only a full run of everything replaces the figures of record.
        full_suite = args.full and not wanted
        args.results = HERE / "RESULTS.md" if full_suite else OUT / ("RESULTS-partial.md" if wanted else "RESULTS-quick.md")
    return args


def run_one(bench_id: str, quick: bool, keep: bool) -> tuple[str, dict[str, Any] | str]:
    """('ok', result) | ('failed', message) | ('skipped', message)."""
    module = importlib.import_module(BENCHMARKS[bench_id])
    work = Path(tempfile.mkdtemp(prefix=f"runyard-bench-{bench_id.lower()}-"))
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        result = module.run(work, quick)
    except SetupError as exc:
        if bench_id in ("P3", "P3R") and type(exc).__name__ == "WrkMissing" and quick:
            return "skipped", str(exc)
        return "failed", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any crash is a loud failure, never a number
        return "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    finally:
        if keep:
            print(f"  work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["mode"] = "quick" if quick else "full"
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["load_average_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return "ok", result


def write_markdown(path: Path, facts: dict[str, Any], rows: list[report.Row], results: dict[str, Any],
                   quick: bool, seconds: float, problems: list[str]) -> None:
    mode = "quick" if quick else "full"
    lines = [
        "# Runyard benchmark results",
        "",
        f"Written by `python -m bench --{mode}` on {facts['date']} in {seconds:.0f} s "
        f"({'reduced sizes: not the figures of record' if quick else 'the sizes of the issue'}). "
        "Every figure is divided by a baseline measured in the same run on the same machine; "
        "how each is measured, and where the time goes for each missed goal, is in "
        "[`bench/README.md`](README.md).",
        "",
        "## Results",
        "",
        report.markdown_table(rows),
        "",
    ]
    if problems:
        lines += ["**Not measured:**", "", *[f"- {p}" for p in problems], ""]
    lines += ["## Machine", "", "| | |", "|---|---|"]
    for key, value in facts.items():
        lines.append(f"| {key.replace('_', ' ')} | {value if value is not None else '—'} |")
    lines += ["", "## Details", ""]
    for bench_id, result in results.items():
        lines.append(f"### {bench_id}: {report.WHAT[bench_id]}")
        lines.append("")
        lines += _details(result)
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")


def _details(r: dict[str, Any]) -> list[str]:
    out = [f"Wall time {r['wall_seconds']} s; load average before/after {r['load_average_before_after']}."]
    if "baseline_is" in r:
        out.append(f"Baseline: {r['baseline_is']}.")
    if r["id"] == "P1":
        out.append(f"Client path: {r['client_path']}.")
        out += ["", "| | p50 ms | p95 ms | p99 ms | mean ms | min ms | max ms |", "|---|---|---|---|---|---|---|"]
        for name in ("runyard", "baseline"):
            s = r[name]
            out.append(f"| {name} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['mean_ms']} | {s['min_ms']} | {s['max_ms']} |")
        steps = "; ".join(f"{k} {v} ms" for k, v in r["client_steps_p50_ms"].items())
        out += ["", f"The requests, timed one by one (p50): {steps}. "
                f"Server CPU per run: {r['server_cpu_ms_per_run']} ms."]
    elif r["id"] == "P2":
        out += ["", "| W | how | Runyard s | Runyard runs/s | submitting took s | server CPU ms per run | baseline s | baseline runs/s | ratio |",
                "|---|---|---|---|---|---|---|---|---|"]
        for w in r["by_workers"]:
            b = w["baseline"]
            ways = [("batch experiment", w["runyard"], w["ratio"])]
            if "single_submissions" in w:
                ways.append(("single submissions", w["single_submissions"], w["single_submissions_ratio"]))
            for how, ry, ratio in ways:
                out.append(f"| {w['workers']} | {how} | {ry['seconds']} | {ry['runs_per_s']} | {ry.get('submit_seconds', '—')} | "
                           f"{ry['server_cpu_ms_per_run']} | {b['seconds']} | {b['runs_per_s']} | {ratio} |")
        out += ["", f"Batch experiment: {r.get('runyard_is', '')}. Single submissions: {r.get('single_submissions_are', '')}."]
        for w in r["by_workers"]:
            if "machine_cpu_ms_per_run" in w["runyard"]:
                out.append(f"W={w['workers']}, the machine's CPU per run (all processes): Runyard {w['runyard']['machine_cpu_ms_per_run']} ms, "
                           f"baseline {w['baseline'].get('machine_cpu_ms_per_run', '—')} ms.")
        ceiling = r.get("sandbox_ceiling")
        if ceiling:
            ahead = (f"; in a sandbox started ahead {ceiling['prestarted_cpu_ms_per_run']} ms "
                     f"(ceiling {ceiling['prestarted_ceiling_ratio']}×)") if "prestarted_cpu_ms_per_run" in ceiling else ""
            out.append(f"The sandbox's own ceiling ({ceiling['runs']} runs one at a time): the baseline's process costs the machine "
                       f"{ceiling['bare_cpu_ms_per_run']} ms of CPU bare and {ceiling['sandboxed_cpu_ms_per_run']} ms sandboxed as a run is, "
                       f"so a CPU-bound fan-out can reach at most {ceiling['ceiling_ratio']}× with a server that cost nothing{ahead}.")
    elif r["id"] in ("P3", "P3R"):
        out += ["", "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
        rows = [("metadata", r["metadata"]), ("baseline", r["baseline"])]
        if "distinct_runs" in r:
            rows.insert(1, (f"metadata, {r['distinct_runs']['runs']} different runs", r["distinct_runs"]["metadata"]))
        for name, s in rows:
            out.append(f"| {name} | {s['requests']} | {s['rps']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} |")
        out.append(f"\n{r['connections']} connections, {r['seconds_each']} s each, wrk -t1.")
    elif r["id"] == "P4":
        out += ["", "| | seconds | MiB/s | × copy | server RSS before | peak | growth | server CPU s |",
                "|---|---|---|---|---|---|---|---|"]
        for name in ("copy", "upload", "download"):
            t = r[name]
            out.append(f"| {name} | {t['seconds']} | {t['mib_per_s']} | {t['ratio_to_copy'] or '—'} | "
                       f"{t['rss_before_mib'] or '—'} | {t['rss_peak_mib'] or '—'} | {t['rss_growth_mib'] if t['rss_growth_mib'] is not None else '—'} | "
                       f"{t['server_cpu_seconds'] if t['server_cpu_seconds'] is not None else '—'} |")
        out.append(f"\nServer HTTP parser: {r['server_http']}.")
    elif r["id"] == "P4S3":
        out += ["", "| | via Runyard MiB/s | direct MiB/s | ratio | via Runyard s (rounds) | direct s (rounds) |",
                "|---|---|---|---|---|---|"]
        for name in ("upload", "download"):
            t = r[name]
            out.append(f"| {name} | {t['runyard_mib_s']} | {t['direct_mib_s']} | {t['ratio']} | "
                       f"{', '.join(map(str, t['runyard_seconds']))} | {', '.join(map(str, t['direct_seconds']))} |")
        out.append(f"\nThe claim of each upload (the run's creation: the upload checked against the limit and pinned by its "
                   f"ETag) took {', '.join(map(str, r['claim_seconds']))} s; Runyard's RSS grew by at most "
                   f"{r['rss_growth_mib_max']} MiB and it spent at most {r.get('server_cpu_seconds_max', '—')} s of CPU per "
                   f"transfer while the bytes moved.")
    elif r["id"] == "P5":
        for b in r["by_backend"]:
            bi = b["bulk_insert"]
            out += ["", f"**{b['backend']}**: {bi['rows']:,} runs inserted in {bi['seconds']} s ({bi['rows_per_s']:,}/s); "
                    f"{bi['runs_of_the_app']:,} runs in the app.", "",
                    "| database | request | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
            for label, key in (("baseline", "empty"), ("loaded", "loaded")):
                for req in ("first_page", "deep_page", "submit"):
                    s = b[key][req]
                    out.append(f"| {label} | {req.replace('_', ' ')} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} |")
            out += ["", "Deep-page query plan (loaded):", "", "```", *b["deep_page_plan"], "```"]
    elif r["id"] == "P9":
        out += report.p9_details(r)
    elif r["id"] == "P8":
        out += ["", "| | n | p50 ms | p95 ms | p99 ms | mean ms | max ms |", "|---|---|---|---|---|---|---|"]
        for name, label in (("webhook", "status change → webhook received"), ("sse", "status change → SSE event received"),
                            ("baseline", "bare HTTP POST, round trip")):
            s = r[name]
            out.append(f"| {label} | {s['n']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['mean_ms']} | {s['max_ms']} |")
        out.append(f"\n{r['runs']} runs submitted one at a time; each of their {r['events']} status changes timed from the "
                   "event's created_at (server clock, same machine) to its arrival.")
    elif r["id"] == "P6":
        out += ["", "| | p50 s | mean s | min s | max s |", "|---|---|---|---|---|"]
        named = [(f"local runner, {k.replace('_', ' ')}", v) for k, v in r["local"].items()]
        named.append(("Runyard, Runyard SDK", r["runyard"]))
        if r.get("runyard_with_official_1_13_0_cloud_sdk"):
            named.append(("Runyard, official 1.13.0 cloud SDK (default polling)", r["runyard_with_official_1_13_0_cloud_sdk"]))
        for name, s in named:
            out.append(f"| {name} | {s['p50_ms'] / 1000:.3f} | {s['mean_ms'] / 1000:.3f} | {s['min_ms'] / 1000:.3f} | {s['max_ms'] / 1000:.3f} |")
        out.append(f"\nRunyard's first run (environment build or cache hit): {r['runyard_first_run_seconds']} s.")
    elif r["id"] == "RAY":
        out.append(f"Cluster: {r['cluster']}. P1 baseline: a bare Ray task spawning the same interpreter on the same main.py, "
                   f"its driver joined as the server is. P2 baseline: {r['p2']['baseline_is']}.")
        for key in ("driver", "client_port"):
            if key in r:
                p2 = r[key]["p2"]
                line = f"Joined {r[key]['joined']}: P2 baseline before/after {p2['baseline_before_after_s']} s"
                if "machine_cpu_ms_per_run" in p2:
                    line += (f"; the machine's CPU per run: Runyard {p2['machine_cpu_ms_per_run']['runyard']} ms "
                             f"(its server {p2.get('server_cpu_ms_per_run', '?')} ms), "
                             f"a bare task {p2['machine_cpu_ms_per_run']['baseline']} ms")
                if p2.get("single_submissions"):
                    one = p2["single_submissions"]
                    line += (f"; the same runs submitted one request each: {one['runs_per_s']} runs/s ({one['ratio']}×, "
                             f"{one['machine_cpu_ms_per_run']} ms of CPU a run, the client's own included)")
                if p2.get("bound"):
                    b = p2["bound"]
                    line += (f"; the baseline keeps the {b['cores']} cores {b['baseline_busy']:.0%} busy, and a run costs at "
                             f"least {b['least_cpu_ms_per_run']} ms (a bare task's work, the sandbox, the server's "
                             f"{p2['server_bookkeeping_ms_per_run']} ms of bookkeeping a run and the supervisor's "
                             f"{p2.get('supervisor_cpu_ms_per_run', '?')} ms, the runner free), so with every core busy P2 on "
                             f"Ray can reach at most {b['ratio']}×")
                if p2.get("sandbox_ceiling"):
                    line += (f"; sandboxing a run costs {p2['sandbox_ceiling']['sandbox_cpu_ms_per_run']} ms more, "
                             f"so P2 on Ray can reach at most {p2['sandbox_ceiling']['ratio']}× if nothing else cost a thing")
                out.append(line + ".")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    OUT.mkdir(parents=True, exist_ok=True)
    facts = machine_facts()
    print(f"Runyard benchmarks, {mode} mode: {', '.join(args.ids)}")
    print(f"machine: {facts['cpu_model']}, {facts['cores']} cores, {facts['memory_gib']} GiB, Python {facts['python']}, "
          f"SQLite {facts['sqlite']}, {facts['postgres'] or 'no PostgreSQL'}", flush=True)
    started = time.monotonic()
    rows: list[report.Row] = []
    results: dict[str, Any] = {}
    problems: list[str] = []
    failed = False
    for bench_id in args.ids:
        print(f"\n== {bench_id}: {report.WHAT[bench_id]}", flush=True)
        t0 = time.monotonic()
        status, value = run_one(bench_id, args.quick, args.keep)
        if status == "ok":
            assert isinstance(value, dict)
            results[bench_id] = value
            (OUT / f"{bench_id.lower()}.json").write_text(json.dumps(value, indent=2, default=str) + "\n")
            if value.get("skipped"):
                problems.append(f"{bench_id} {value['skipped']}")
            new_rows = report.rows_for(value)
            rows += new_rows
            print(report.text_table(new_rows))
            print(f"   ({time.monotonic() - t0:.1f} s)", flush=True)
        else:
            message = str(value)
            skipped = status == "skipped"
            failed = failed or not skipped
            rows.append(report.failed_row(bench_id, message, skipped))
            problems.append(f"{bench_id} {'SKIPPED' if skipped else 'FAILED'}: {message.splitlines()[0]}")
            banner = "SKIPPED" if skipped else "FAILED"
            print(f"!! {bench_id} {banner}: {message}", file=sys.stderr, flush=True)
    seconds = time.monotonic() - started
    facts["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (OUT / "results.json").write_text(json.dumps({"mode": mode, "machine": facts, "results": results,
                                                  "problems": problems, "seconds": round(seconds, 1)},
                                                 indent=2, default=str) + "\n")
    write_markdown(args.results, facts, rows, results, args.quick, seconds, problems)
    print(f"\n{report.markdown_table(rows)}\n")
    print(f"wrote {args.results} and {OUT}/*.json in {seconds:.0f} s")
    if args.quick and len(args.ids) == len(BENCHMARKS) and seconds > QUICK_BUDGET_SECONDS:
        print(f"WARNING: quick mode took {seconds:.0f} s, over its {QUICK_BUDGET_SECONDS} s budget", file=sys.stderr)
    for problem in problems:
        print(f"!! {problem}", file=sys.stderr)
    if failed:
        return 2
    if args.strict and any(r.met is False for r in rows):
        return 1
    return 0
