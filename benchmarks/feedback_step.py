"""Run only the site-feedback job on a built warehouse, as its two assets run it (`audit/site_queries`:
`build_site_queries`; `audit/site_query_workbooks`: `write_site_queries` for every site of `query_sites`), and
print the process CPU seconds and resident memory after each stage and each site's workbook.

    /usr/bin/time -v .venv/bin/python benchmarks/feedback_step.py WAREHOUSE SUBMISSIONS OUT_DIR [--month 2026-10]
        [--profile FILE.prof]

The warehouse is WRITTEN (month's rows of audit.site_queries are replaced, as the asset does): run it on a copy of
a benchmark's warehouse. The month's rows are deleted first (not timed by the stages, but in /usr/bin/time's
figures), so the step finds the table as the monthly run does; `--rerun` keeps them (a month rebuilt: its rows
deleted and re-inserted under the table's primary key, ~2.4 s more at commit at 100k). SUBMISSIONS is the
submissions root the workbooks read the site's own ids back from (only read); workbooks go to OUT_DIR/<month>/.
Quote `/usr/bin/time`'s user + system seconds for the whole job; the per-stage lines say where they went (CPU of
DuckDB's threads included). `--profile` writes a cProfile of both steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stage_clock import StageClock, profiled


def run(warehouse: Path, submissions: Path, out: Path, month: str, clock: StageClock) -> dict[str, dict[str, int]]:
    """Both steps, each with its own connection as the assets open them."""
    import duckdb

    from kocartr.feedback import build_site_queries, query_sites, write_site_queries

    clock.stage("imports")
    with duckdb.connect(str(warehouse)) as con:
        rows = build_site_queries(con, month)
    clock.stage(f"audit/site_queries ({rows.height} rows)")
    counts = {}
    with duckdb.connect(str(warehouse)) as con:
        for site in query_sites(con):
            counts[site] = write_site_queries(con, site, month, out / month / f"{site}-queries.xlsx", submissions)
            clock.stage(f"  workbook {site} ({sum(counts[site].values())} queries)")
    clock.stage("audit/site_query_workbooks")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("submissions", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--month", default="2026-10")
    ap.add_argument("--profile", type=Path, help="write a cProfile of both steps here")
    ap.add_argument("--rerun", action="store_true", help="keep the month's rows: time a rebuild of the month")
    args = ap.parse_args(argv)
    if not args.rerun:
        import duckdb

        with duckdb.connect(str(args.warehouse)) as con:
            con.execute("delete from audit.site_queries where registry_month = ?", [args.month])
            con.execute("checkpoint")
    clock = StageClock()
    counts = profiled(args.profile, run, args.warehouse, args.submissions, args.out, args.month, clock)
    print({site: sum(c.values()) for site, c in counts.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
