"""Benchmark: full and incremental pipeline cost from 1k to 100k patients, against the DuckDB read floor.

    .venv/bin/python benchmarks/run_benchmark.py [--sizes 1000 10000 100000]      (or `make bench`)

For each size: generate submissions with `kocartr synth`, run `kocartr run` end to end in a subprocess (wall
time and peak resident memory of the whole process tree, dbt's subprocesses included), and split the run into
stages from its per-step timings. The floor is the time DuckDB alone takes to read every submission file once.
Incremental: build a 10k-patient warehouse without its last month, add that month, run again.
Writes benchmarks/results/benchmark.json and benchmarks/results/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK = RESULTS / "work"
BIN = Path(sys.executable).parent
SITES_FOR = {1_000: 10, 10_000: 20, 100_000: 30}
TARGETS = {"e2e_100k_s": 120, "peak_100k_gib": 4.0, "incremental_10k_s": 15, "exponent": 1.1, "ingest_floor_ratio": 3.0}


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
    """Run a command; wall seconds and the peak RSS summed over its process tree (sampled every 50 ms)."""
    import psutil

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
    if popen.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({popen.returncode}):\n{out[-4000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(peak / 2**20, 1), "output_tail": out[-1500:]}


def stage_seconds(timings: dict) -> dict[str, float]:
    """Group Dagster step times into the pipeline's stages by step name."""
    stages = {"ingest": 0.0, "dbt": 0.0, "quality_checks": 0.0, "analyses": 0.0, "release": 0.0, "other": 0.0}
    for stage in timings["stages"]:
        for step, secs in stage["step_seconds"].items():
            if step.startswith("site_submissions"):
                stages["ingest"] += secs
            elif step.startswith("dbt_"):
                stages["dbt"] += secs
            elif "check" in step or "gate" in step:
                stages["quality_checks"] += secs
            elif "analys" in step or "outcome" in step:
                stages["analyses"] += secs
            elif "release" in step:
                stages["release"] += secs
            else:
                stages["other"] += secs
    return {k: round(v, 2) for k, v in stages.items()}


def read_floor(submissions: Path) -> dict:
    """DuckDB reading every submission file once: CSV by glob (all columns as text), XLSX through polars."""
    import duckdb
    import polars as pl

    csvs = sorted(submissions.rglob("*.csv"))
    xlsxs = sorted(submissions.rglob("*.xlsx"))
    con = duckdb.connect()
    start = time.perf_counter()
    rows = 0
    for form in sorted({p.stem for p in csvs}):
        files = [str(p) for p in csvs if p.stem == form]
        # Every file of a form has the same columns, so no union_by_name (which sniffs every file: 18x slower).
        # CP949 files are a small share: DuckDB has no CP949 decoder; ignore_errors keeps the floor an I/O bound.
        rows += con.sql(
            "select count(*) from read_csv($files, all_varchar=true, header=true, ignore_errors=true, "
            "strict_mode=false)",
            params={"files": files},
        ).fetchall()[0][0]
    for p in xlsxs:
        rows += sum(df.height for df in pl.read_excel(p, sheet_id=0, infer_schema_length=0).values())
    return {"seconds": round(time.perf_counter() - start, 3), "files": len(csvs) + len(xlsxs), "rows": rows}


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
    warehouse = work / "warehouse.duckdb"
    if fresh:
        for p in (warehouse, work / "releases"):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    timings = work / "timings.json"
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    m = measure(
        [
            str(BIN / "kocartr"),
            "run",
            "--submissions",
            str(submissions),
            "--warehouse",
            str(warehouse),
            "--release-dir",
            str(work / "releases"),
            "--demo",
            "--timings",
            str(timings),
        ],
        env=env,
    )
    m["stages"] = stage_seconds(json.loads(timings.read_text()))
    return m


def incremental(n: int) -> dict:
    """Build without the last month, then add it and re-run: the cost of one new month of submissions."""
    base = WORK / f"n{n}" / "data" / "submissions"
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
    for site_dir in base.iterdir():
        if (site_dir / last).is_dir():
            shutil.copytree(site_dir / last, subs / site_dir.name / last)
    second = run(subs, work, fresh=False)
    return {
        "patients": n,
        "added_month": last,
        "initial_run_s": first["wall_s"],
        "incremental_run_s": second["wall_s"],
        "incremental_stages": second["stages"],
        "peak_rss_mib": second["peak_rss_mib"],
    }


def machine() -> dict:
    import duckdb
    import polars

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
    }


def to_markdown(report: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {report['machine']}",
        "",
        "| patients | rows | files | synth s | run s | peak MiB | ingest s | dbt s | checks s | analyses s | "
        "release s | read floor s | ingest / floor | run / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["sizes"]:
        st = r["run"]["stages"]
        lines.append(
            f"| {r['patients']} | {r['floor']['rows']} | {r['floor']['files']} | {r['synth']['wall_s']} | "
            f"{r['run']['wall_s']} | {r['run']['peak_rss_mib']} | {st['ingest']} | {st['dbt']} | "
            f"{st['quality_checks']} | {st['analyses']} | {st['release']} | {r['floor']['seconds']} | "
            f"{r['ingest_floor_ratio']} | {r['run_floor_ratio']} |"
        )
    lines += ["", f"Scaling exponent of the end-to-end run, 10k -> 100k: {report.get('exponent_10k_100k')}"]
    if report.get("incremental"):
        inc = report["incremental"]
        lines.append(
            f"Incremental month ({inc['added_month']}) at {inc['patients']} patients: "
            f"{inc['incremental_run_s']} s (initial build {inc['initial_run_s']} s); stages {inc['incremental_stages']}"
        )
    lines += [
        "",
        "Targets: " + ", ".join(f"{k} <= {v}" for k, v in TARGETS.items()),
        "",
        "Verdicts: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in report["verdicts"].items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--no-incremental", action="store_true")
    ap.add_argument("--output-name", default="benchmark", help="results/<name>.json and .md")
    args = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": machine(), "sizes": []}
    for n in args.sizes:
        work = WORK / f"n{n}"
        work.mkdir(parents=True, exist_ok=True)
        print(f"== {n} patients", flush=True)
        s = synth(n, work / "data")
        floor = read_floor(work / "data" / "submissions")
        r = run(work / "data" / "submissions", work)
        entry = {
            "patients": n,
            "synth": {k: v for k, v in s.items() if k != "output_tail"},
            "floor": floor,
            "run": {k: v for k, v in r.items() if k != "output_tail"},
            "ingest_floor_ratio": round(r["stages"]["ingest"] / max(floor["seconds"], 1e-9), 2),
            "run_floor_ratio": round(r["wall_s"] / max(floor["seconds"], 1e-9), 2),
        }
        report["sizes"].append(entry)
        print(json.dumps(entry, indent=1), flush=True)
    by_n = {e["patients"]: e for e in report["sizes"]}
    if 10_000 in by_n and 100_000 in by_n:
        report["exponent_10k_100k"] = round(
            math.log(by_n[100_000]["run"]["wall_s"] / by_n[10_000]["run"]["wall_s"]) / math.log(10), 3
        )
    if not args.no_incremental and 10_000 in by_n:
        report["incremental"] = incremental(10_000)
    verdicts = {}
    if 100_000 in by_n:
        big = by_n[100_000]
        verdicts["e2e_100k_s"] = big["run"]["wall_s"] <= TARGETS["e2e_100k_s"]
        verdicts["peak_100k_gib"] = big["run"]["peak_rss_mib"] / 1024 <= TARGETS["peak_100k_gib"]
        verdicts["ingest_floor_ratio"] = big["ingest_floor_ratio"] <= TARGETS["ingest_floor_ratio"]
    if "exponent_10k_100k" in report:
        verdicts["exponent"] = report["exponent_10k_100k"] <= TARGETS["exponent"]
    if "incremental" in report:
        verdicts["incremental_10k_s"] = report["incremental"]["incremental_run_s"] <= TARGETS["incremental_10k_s"]
    report["verdicts"] = verdicts
    (RESULTS / f"{args.output_name}.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (RESULTS / f"{args.output_name}.md").write_text(to_markdown(report), encoding="utf-8")
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
