"""Benchmark: the issue's table, from the shipped sample to 100k patients, against the DuckDB read floor.

    .venv/bin/python benchmarks/run_benchmark.py [--sizes 1000 10000 100000] [--no-sample] [--no-incremental]
    (or `make bench`)

Rows: the shipped sample (data/sample/submissions), 1k, 10k and 100k generated patients (`kocartr synth`), the next
month at 10k (a warehouse built without the last month, then that month added), and the growth exponent 10k ->
100k. Each run is `kocartr run` into a new warehouse in a subprocess, process start to exit: wall time, CPU time
(user + system of the whole process tree, dbt included: the machine is shared, CPU time is the steadier figure),
peak resident memory, and the seconds of every Dagster step. The floor, measured in the same run, is DuckDB reading
every CSV file of the submissions in one scan (plus the XLSX workbooks, which DuckDB cannot read, through polars).
Writes benchmarks/results/<name>.json and .md; rows not run are listed as such.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
WORK = RESULTS / "work"
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "data" / "sample" / "submissions"
SITES_FOR = {1_000: 10, 10_000: 20, 100_000: 30}
# The targets (seconds, process start to exit, 2 cores)
TARGETS = {"sample": 20, 1_000: 25, 10_000: 40, 100_000: 120, "next_month_10k": 20}
TARGET_PEAK_100K_GIB = 4.0
TARGET_EXPONENT = 1.0


def _tree_rss(proc) -> int:
    import psutil

    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a command: wall seconds, CPU seconds of its process tree (children that were waited for) and the peak
    RSS summed over the tree (sampled every 50 ms)."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    popen = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc = psutil.Process(popen.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = popen.communicate()
    done.set()
    t.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if popen.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({popen.returncode}):\n{out[-4000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": round(peak / 2**20, 1),
        "output_tail": out[-1500:],
    }


STAGE_OF = (  # step name prefix -> stage (first match wins)
    ("site_submissions", "ingest"),
    ("linkage_returns", "ingest"),
    ("raw_quality_gate", "raw gate"),
    ("linkage_quality_gate", "raw gate"),
    ("dbt_staging", "dbt staging"),
    ("staging_quality_gate", "staging gate"),
    ("dbt_core", "dbt core"),
    ("marts_quality_gate", "marts gate"),
    ("dbt_adam", "dbt adam"),
    ("adam_quality_gate", "adam gate"),
    ("outcome_analyses", "analyses"),
    ("release", "release"),
    ("audit__dq_scorecard", "feedback"),
    ("audit__site", "feedback"),
)
STAGES = list(dict.fromkeys(stage for _, stage in STAGE_OF)) + ["other"]


def stage_seconds(timings: dict) -> dict[str, float]:
    """Group Dagster step times into the pipeline's stages by step name."""
    stages = dict.fromkeys(STAGES, 0.0)
    for stage in timings["stages"]:
        for step, secs in stage["step_seconds"].items():
            name = next((s for prefix, s in STAGE_OF if step.startswith(prefix)), "other")
            stages[name] += secs
    return {k: round(v, 2) for k, v in stages.items()}


def read_floor(submissions: Path) -> dict:
    """DuckDB reading every CSV file of the submissions in one scan (one text column per line, no sniffing: the
    forms differ in columns; CP949 lines DuckDB cannot decode are skipped), plus the XLSX workbooks through polars
    (DuckDB has no XLSX reader here)."""
    import duckdb
    import polars as pl

    csvs = [str(p) for p in sorted(submissions.rglob("*.csv"))]
    xlsxs = sorted(submissions.rglob("*.xlsx"))
    con = duckdb.connect()
    start = time.perf_counter()
    rows = 0
    if csvs:
        rows += con.sql(
            "select count(*) from read_csv($files, columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', "
            "header=true, auto_detect=false, ignore_errors=true, strict_mode=false, null_padding=true)",
            params={"files": csvs},
        ).fetchall()[0][0]
    for p in xlsxs:
        rows += sum(df.height for df in pl.read_excel(p, sheet_id=0, infer_schema_length=0).values())
    return {"seconds": round(time.perf_counter() - start, 3), "files": len(csvs) + len(xlsxs), "rows": int(rows)}


def synth(n: int, out: Path) -> dict:
    if out.exists():
        shutil.rmtree(out)
    return measure(
        [
            str(BIN / "kocartr"),
            "synth",
            "--out",
            str(out),
            "--patients",
            str(n),
            "--sites",
            str(SITES_FOR.get(n, 10)),
            "--seed",
            "7",
        ]
    )


def run(submissions: Path, work: Path, fresh: bool = True) -> dict:
    """`kocartr run` in a subprocess (a new warehouse unless fresh is False), with its per-step timings."""
    warehouse = work / "warehouse.duckdb"
    if fresh:
        for p in (warehouse, work / "releases", work / "dagster_home", work / "logs", work / "queries"):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    timings = work / "timings.json"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    cmd = [str(BIN / "kocartr"), "run", "--submissions", str(submissions), "--warehouse", str(warehouse)]
    cmd += ["--release-dir", str(work / "releases"), "--demo", "--timings", str(timings)]
    m = measure(cmd, env=env)
    data = json.loads(timings.read_text())
    m["stages"] = stage_seconds(data)
    m["steps"] = {k: round(v, 2) for st in data["stages"] for k, v in st["step_seconds"].items()}
    return m


def measured_case(name: str, submissions: Path, work: Path) -> dict:
    """One row of the table: floor and run on the same submissions, one after the other."""
    work.mkdir(parents=True, exist_ok=True)
    floor = read_floor(submissions)
    r = run(submissions, work)
    return {
        "case": name,
        "floor": floor,
        "run": {k: v for k, v in r.items() if k != "output_tail"},
        "run_floor_ratio": round(r["wall_s"] / max(floor["seconds"], 1e-9), 1),
    }


def incremental(n: int) -> dict:
    """Build without the last month, then add it and re-run: the cost of one new month of submissions."""
    base = WORK / f"n{n}" / "data" / "submissions"
    if not base.is_dir():  # the size was not run in full this time: generate its submissions only
        synth(n, base.parent)
    work = WORK / f"incremental-{n}"
    if work.exists():
        shutil.rmtree(work)
    subs = work / "submissions"
    months = sorted({p.name for p in base.glob("*/*") if p.is_dir()})
    last = months[-1]
    for site_dir in base.iterdir():
        for month_dir in site_dir.iterdir():
            if month_dir.name != last:
                shutil.copytree(month_dir, subs / site_dir.name / month_dir.name)
    first = run(subs, work)
    month_dir = work / "month-only"
    for site_dir in base.iterdir():
        if (site_dir / last).is_dir():
            shutil.copytree(site_dir / last, subs / site_dir.name / last)
            shutil.copytree(site_dir / last, month_dir / site_dir.name / last)
    floor = read_floor(month_dir)  # the floor of the new month's files
    second = run(subs, work, fresh=False)
    return {
        "case": f"next month at {n // 1000}k",
        "patients": n,
        "added_month": last,
        "initial_run_s": first["wall_s"],
        "floor": floor,
        "run": {k: v for k, v in second.items() if k != "output_tail"},
        "run_floor_ratio": round(second["wall_s"] / max(floor["seconds"], 1e-9), 1),
    }


def machine() -> dict:
    import duckdb
    import polars

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
    }


def _target_of(case: dict):
    if case["case"] == "sample":
        return TARGETS["sample"]
    if case["case"].startswith("next month"):
        return TARGETS["next_month_10k"]
    return TARGETS.get(case.get("patients"))


def verdicts(report: dict) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for c in report["cases"]:
        target = _target_of(c)
        if target is not None:
            out[c["case"]] = c["run"]["wall_s"] <= target
        if c.get("patients") == 100_000 and not c["case"].startswith("next"):
            out["peak memory 100k"] = c["run"]["peak_rss_mib"] / 1024 <= TARGET_PEAK_100K_GIB
    if report.get("exponent_10k_100k") is not None:
        out["growth exponent"] = report["exponent_10k_100k"] <= TARGET_EXPONENT
    return out


def to_markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {report['date']} on {m['cores']} cores, {m['memory_gib']} GiB ({m['platform']}; Python {m['python']},"
        f" DuckDB {m['duckdb']}, polars {m['polars']}); load average at start {m['load_average_at_start']}.",
        "",
        "| case | rows | files | end to end s | CPU s | peak MiB | read floor s | run / floor | target s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    done = {c["case"] for c in report["cases"]}
    ver = report["verdicts"]
    for c in report["cases"]:
        r = c["run"]
        v = "met" if ver.get(c["case"]) else ("MISSED" if c["case"] in ver else "")
        lines.append(
            f"| {c['case']} | {c['floor']['rows']} | {c['floor']['files']} | {r['wall_s']} | {r['cpu_s']} | "
            f"{r['peak_rss_mib']} | {c['floor']['seconds']} | {c['run_floor_ratio']} | {_target_of(c) or ''} | {v} |"
        )
    for name in ("sample", "1k", "10k", "100k", "next month at 10k"):
        if name not in done:
            lines.append(f"| {name} | | | not run | | | | | | |")
    exp = report.get("exponent_10k_100k")
    lines += [
        "",
        f"Growth exponent 10k -> 100k: {exp if exp is not None else 'not run'} (target <= {TARGET_EXPONENT}); "
        f"peak memory at 100k target <= {TARGET_PEAK_100K_GIB} GiB.",
        "",
        "Seconds per stage (Dagster step wall times):",
        "",
        "| case | " + " | ".join(STAGES) + " |",
        "|---|" + "---|" * len(STAGES),
    ]
    for c in report["cases"]:
        st = c["run"]["stages"]
        lines.append(f"| {c['case']} | " + " | ".join(str(st.get(s, "")) for s in STAGES) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    ap.add_argument("--no-sample", action="store_true")
    ap.add_argument("--no-incremental", action="store_true")
    ap.add_argument("--output-name", default="benchmark", help="results/<name>.json and .md")
    ap.add_argument("--combine", nargs="+", type=Path, help="merge the cases of these result JSON files instead")
    args = ap.parse_args(argv)
    if args.combine:
        return write_report(combine(args.combine), args.output_name)
    WORK.mkdir(parents=True, exist_ok=True)
    report: dict = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "cases": []}

    def record(case: dict) -> None:
        report["cases"].append(case)
        print(json.dumps(case, indent=1), flush=True)

    if not args.no_sample:
        print("== the shipped sample", flush=True)
        record(measured_case("sample", SAMPLE, WORK / "sample"))
    for n in args.sizes:
        print(f"== {n} patients", flush=True)
        work = WORK / f"n{n}"
        s = synth(n, work / "data")
        case = measured_case(f"{n // 1000}k", work / "data" / "submissions", work)
        case.update(patients=n, synth={k: v for k, v in s.items() if k != "output_tail"})
        record(case)
    if not args.no_incremental:
        print("== next month at 10k", flush=True)
        record(incremental(10_000))
    return write_report(report, args.output_name)


def combine(paths: list[Path]) -> dict:
    """One report from several partial runs (e.g. sizes run in parallel): their cases, in order."""
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    return {
        "date": ", ".join(dict.fromkeys(r["date"] for r in reports)),
        "machine": reports[0]["machine"],
        "cases": [c for r in reports for c in r["cases"]],
        "combined_from": [p.name for p in paths],
    }


def write_report(report: dict, name: str) -> int:
    by_n = {c["patients"]: c for c in report["cases"] if "patients" in c and not c["case"].startswith("next")}
    if 10_000 in by_n and 100_000 in by_n:
        report["exponent_10k_100k"] = round(
            math.log(by_n[100_000]["run"]["wall_s"] / by_n[10_000]["run"]["wall_s"]) / math.log(10), 3
        )
    report["verdicts"] = verdicts(report)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
