"""The `kocartr` command: the entry point for everything a user of the platform does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_run(args: argparse.Namespace) -> int:
    from orchestration.runner import run_pipeline
    from orchestration.summary import format_summary

    if args.demo:
        print("DEMO MODE: pseudonymizing with the published demo key. Never use demo mode for real patient data.")
    result = run_pipeline(Path(args.submissions), Path(args.warehouse), Path(args.release_dir), month=args.month,
                          demo=args.demo)
    print(format_summary(result, Path(args.warehouse)))
    if args.timings:
        import dataclasses
        import json

        Path(args.timings).write_text(json.dumps(dataclasses.asdict(result), indent=2), encoding="utf-8")
    return 0 if result.success else 1


def _cmd_synth(args: argparse.Namespace) -> int:
    from kocartr.synth import generate

    summary = generate(Path(args.out), patients=args.patients, sites=args.sites, seed=args.seed,
                       first_month=args.first_month, last_month=args.last_month)
    for k, v in summary.items():
        print(f"{k}: {v}")
    return 0


def _cmd_template(args: argparse.Namespace) -> int:
    from kocartr.template import write_template

    write_template(Path(args.out))
    print(f"wrote {args.out}")
    return 0


def _cmd_queries(args: argparse.Namespace) -> int:
    import os

    import duckdb

    from kocartr.feedback import query_months, query_sites, write_site_queries
    from kocartr.ingest.privacy import redact

    warehouse = Path(args.warehouse)
    if not warehouse.is_file():
        raise ValueError(f"warehouse {warehouse} not found (or not a file): `kocartr run` builds it")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ValueError(f"cannot open warehouse {warehouse}: {str(exc).splitlines()[0]}") from None
    try:
        months, sites = query_months(con), query_sites(con)
        if not months:
            raise ValueError(f"no site queries in {warehouse}: `kocartr run` builds them after the quality gates")
        month = args.month or months[-1]
        if month not in months:
            raise ValueError(f"unknown registry month {redact(month)!r}: queries exist for {', '.join(months)}")
        if args.site not in sites:
            raise ValueError(f"unknown site {redact(args.site)!r}: sites with queries are {', '.join(sites)}")
        root = args.submissions or os.environ.get("KOCARTR_SUBMISSIONS")
        counts = write_site_queries(con, args.site, month, Path(args.out), Path(root) if root else None)
    finally:
        con.close()
    n = sum(v for k, v in counts.items() if k != "site_verdicts")
    print(f"wrote {n} queries for site {args.site}, registry month {month}, to {args.out}"
          + ("" if root else " (site record ids not shown: give --submissions)"))
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from datetime import date

    from kocartr.release import publish_release

    path = publish_release(Path(args.warehouse), date.fromisoformat(args.cutoff), Path(args.out))
    print(f"published release {path}")
    return 0


def _cmd_dbt_sync(args: argparse.Namespace) -> int:
    from kocartr.dbt_sync import check, sync

    if args.check:
        stale = check()
        for p in stale:
            print(f"stale: {p}")
        return 1 if stale else 0
    for p in sync():
        print(f"wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kocartr", description="Ko-CARTR registry data platform")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest a submissions folder and build the monthly dataset")
    run.add_argument("--submissions", required=True, help="submissions tree: <SITE>/<YYYY-MM>/<form>.csv|xlsx")
    run.add_argument("--warehouse", required=True, help="DuckDB warehouse file (created if missing)")
    run.add_argument("--release-dir", default="out/releases", help="where monthly releases are published")
    run.add_argument("--month", help="registry month to build (YYYY-MM); default: the latest submitted")
    run.add_argument("--demo", action="store_true", help="use the published demo pseudonymization key")
    run.add_argument("--timings", help="write the run's stages, checks and per-step seconds to this JSON file")
    run.set_defaults(func=_cmd_run)

    synth = sub.add_parser("synth", help="generate synthetic monthly site submissions with ground truth")
    synth.add_argument("--out", required=True)
    synth.add_argument("--patients", type=int, default=400)
    synth.add_argument("--sites", type=int, default=5)
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--first-month", default="2021-04")
    synth.add_argument("--last-month", default="2026-10")
    synth.set_defaults(func=_cmd_synth)

    tpl = sub.add_parser("template", help="write the site submission template (XLSX) from the dictionary")
    tpl.add_argument("--out", required=True)
    tpl.set_defaults(func=_cmd_template)

    q = sub.add_parser("queries", help="write a site's query workbook for a registry month (audit.site_queries)")
    q.add_argument("--site", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--warehouse", default="out/warehouse.duckdb")
    q.add_argument("--month", help="registry month (YYYY-MM); default: the latest with queries")
    q.add_argument("--submissions", help="submissions tree, to show the site's own record ids "
                                         "(default: $KOCARTR_SUBMISSIONS)")
    q.set_defaults(func=_cmd_queries)

    rel = sub.add_parser("release", help="publish an immutable release of a built warehouse")
    rel.add_argument("--warehouse", required=True)
    rel.add_argument("--cutoff", required=True, help="data cut-off, YYYY-MM-DD")
    rel.add_argument("--out", required=True)
    rel.set_defaults(func=_cmd_release)

    sync = sub.add_parser("dbt-sync", help="regenerate dbt sources and code-list seeds from the dictionary")
    sync.add_argument("--check", action="store_true", help="only report stale generated files (exit 1 if any)")
    sync.set_defaults(func=_cmd_dbt_sync)
    return p


def main(argv: list[str] | None = None) -> int:
    from kocartr.ingest.privacy import MissingKeyError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, MissingKeyError) as exc:
        print(f"kocartr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
