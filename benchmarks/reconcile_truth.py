"""Reconcile adam.adtte (and adam.adrs) with the generator's per-patient truth on a large generated set.

    .venv/bin/python benchmarks/reconcile_truth.py --patients 3000 --sites 8 --seed 5

The suite's tests/test_truth_reconciliation.py does the same on the 150-patient session run (`--patients 150
--sites 3 --seed 11 --first-month 2022-01 --last-month 2025-06`); a several-thousand patient run takes minutes on a
shared 2-core machine, so it lives here. The truth includes the national linkage returns (linkage deaths, OS
censored per os_censor_at_linkage_completeness, OS_LC / OS_LNK). Generates the set, runs the whole pipeline
in-process (demo key), compares row by row for every patient without an injected defect (kocartr.synth.reconcile)
and writes benchmarks/results/reconcile-truth.{json,md}: rows compared, rows differing by parameter, kind and CNSR
transition (truth -> ADTTE), and up to 20 example rows per parameter. Exit status 1 when any row differs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT))


def linkage_exercised(truth_dir: Path) -> dict[str, int]:
    """How much of the comparison the national linkage drives: deaths and cancers the returns hold (that no site
    reported; generator's linkage truth), OS_LNK rows, and clean patients whose OS differs from OS_LC (censored at
    the linkage completeness date, or a death after it censored there)."""
    import polars as pl

    truth = pl.read_parquet(truth_dir / "endpoint_truth.parquet").filter(~pl.col("has_defect"))
    linked = pl.read_parquet(truth_dir / "linkage_truth.parquet")
    keys = ["site_code", "patient_id"]
    os = truth.filter(pl.col("paramcd") == "OS").join(truth.filter(pl.col("paramcd") == "OS_LC"), on=keys, suffix="_lc")
    return {
        "linkage_deaths_no_site_reported": linked.filter(
            (pl.col("event") == "death") & ~pl.col("site_reported")
        ).height,
        "linkage_cancers_no_site_reported": linked.filter(
            (pl.col("event") == "cancer") & ~pl.col("site_reported")
        ).height,
        "linkage_cancers": linked.filter(pl.col("event") == "cancer").height,
        "os_lnk_rows": truth.filter(pl.col("paramcd") == "OS_LNK").height,
        "os_differs_from_os_lc": os.filter(
            (pl.col("aval_days") != pl.col("aval_days_lc")) | (pl.col("status") != pl.col("status_lc"))
        ).height,
    }


def _markdown(result: dict, compared: int, differing: int, adrs) -> list[str]:
    """reconcile-truth.md: what was compared and every kind of difference by parameter."""
    lines = [
        "# adam.adtte vs the generator's per-patient truth",
        "",
        f"Command: `{result['command']}`  ",
        f"{result['patients_compared']} patients compared ({result['patients_with_defect']} with an injected "
        f"row defect left out); {compared} ADTTE rows compared, {differing} differ; generation "
        f"{result['seconds']['generate']} s, pipeline {result['seconds']['pipeline']} s.",
        "",
        "National linkage in the comparison: {linkage_deaths_no_site_reported} deaths in the returns that no site "
        "reported (all patients); {os_lnk_rows} OS_LNK rows; {os_differs_from_os_lc} patients whose OS (configured "
        "rule) differs from OS_LC; {linkage_cancers} cancers in the returns, {linkage_cancers_no_site_reported} of "
        "them no site reported (SPM events where cancer status is known).".format(**result["linkage"]),
        "",
        "| PARAMCD | kind | CNSR truth -> ADTTE | rows |",
        "|---|---|---|---:|",
    ]
    lines += [
        f"| {r['PARAMCD']} | {r['kind']} | {r['cnsr_truth_to_adtte']} | {r['len']} |" for r in result["by_parameter"]
    ]
    lines += [
        "",
        "ADRS: "
        + ("not built by this pipeline" if adrs is None else f"{adrs[1]} rows compared, {adrs[0].height} differ"),
        "",
    ]
    return lines


def main() -> int:
    import polars as pl

    from kocartr.ingest.privacy import DEMO_KEY
    from kocartr.synth import generate
    from kocartr.synth.reconcile import adrs_mismatches, adtte_mismatches, summary
    from orchestration.runner import run_pipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=3000)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--first-month", default="2021-04", help="first submission month (YYYY-MM), as kocartr synth")
    ap.add_argument("--last-month", default="2026-10", help="last submission month = the cut-off (YYYY-MM)")
    ap.add_argument("--work", type=Path, default=RESULTS / "work" / "reconcile")
    args = ap.parse_args()

    wd = args.work
    shutil.rmtree(wd, ignore_errors=True)
    wd.mkdir(parents=True)
    t0 = time.perf_counter()
    generate(
        wd / "gen",
        patients=args.patients,
        sites=args.sites,
        seed=args.seed,
        first_month=args.first_month,
        last_month=args.last_month,
    )
    t_gen = time.perf_counter() - t0
    run_pipeline(wd / "gen" / "submissions", wd / "warehouse.duckdb", wd / "releases", demo=True)
    t_run = time.perf_counter() - t0 - t_gen
    mism, compared = adtte_mismatches(wd / "warehouse.duckdb", wd / "gen" / "ground_truth", DEMO_KEY)
    adrs = adrs_mismatches(wd / "warehouse.duckdb", wd / "gen" / "ground_truth", DEMO_KEY)
    truth = pl.read_parquet(wd / "gen" / "ground_truth" / "endpoint_truth.parquet")
    counts = summary(mism)
    result = {
        "command": "python benchmarks/reconcile_truth.py " + " ".join(sys.argv[1:]),
        "patients": args.patients,
        "sites": args.sites,
        "seed": args.seed,
        "patients_compared": int(truth.filter(~pl.col("has_defect"))["patient_id"].n_unique()),
        "patients_with_defect": int(truth.filter(pl.col("has_defect"))["patient_id"].n_unique()),
        "adtte_rows_compared": compared,
        "adtte_rows_differing": mism.height,
        "by_parameter": counts.to_dicts(),
        "adrs": None if adrs is None else {"rows_compared": adrs[1], "rows_differing": adrs[0].height},
        "linkage": linkage_exercised(wd / "gen" / "ground_truth"),
        "seconds": {"generate": round(t_gen, 1), "pipeline": round(t_run, 1)},
        "examples": {
            p: mism.filter(pl.col("PARAMCD") == p)
            .head(20)
            .select("patient_id", "kind", "AVAL", "AVAL_adtte", "CNSR", "CNSR_adtte")
            .to_dicts()
            for p in mism["PARAMCD"].unique().sort().to_list()
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reconcile-truth.json").write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    lines = _markdown(result, compared, mism.height, adrs)
    (RESULTS / "reconcile-truth.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    shutil.rmtree(wd, ignore_errors=True)
    return 1 if mism.height or (adrs is not None and adrs[0].height) else 0


if __name__ == "__main__":
    raise SystemExit(main())
