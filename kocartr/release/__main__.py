"""The release command line, `kocartr release` (also reachable as `python -m kocartr.release`, the same command):
build, verify or list releases.

    kocartr release --warehouse out/warehouse.duckdb --cutoff 2026-10-31 --out out/releases \
        [--quality-summary gate.json]
    kocartr release --verify out/releases/2026-10-31
    kocartr release --list out/releases
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path


def add_release_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--warehouse", type=Path, help="warehouse DuckDB file (opened read-only)")
    parser.add_argument("--cutoff", help="data cut-off: the last day of a registry month, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, help="releases folder; the release is written to OUT/<cutoff>/")
    parser.add_argument("--quality-summary", type=Path, help="JSON file with the quality-gate summary")
    parser.add_argument("--verify", type=Path, metavar="RELEASE", help="verify a release folder and exit")
    parser.add_argument("--list", type=Path, metavar="OUT", help="list the published releases and exit")
    return parser


def parse_cutoff(text: str) -> date:
    """A release cut-off is the last day of a registry month (one-line ValueError otherwise)."""
    from kocartr.months import month_end, month_of

    try:
        cutoff = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--cutoff {text!r} is not a date (YYYY-MM-DD)") from None
    if cutoff != month_end(month_of(cutoff)):
        raise ValueError(
            f"--cutoff {cutoff} is not the last day of a registry month (e.g. {month_end(month_of(cutoff))})"
        )
    return cutoff


def run_release(args: argparse.Namespace) -> int:
    """Raises ValueError/OSError/WarehouseError for a bad argument (exit 2; ReleaseExistsError is an OSError) and
    ReleaseError when the warehouse must not be released (exit 1)."""
    from kocartr.release import ReleaseError, list_releases, publish_release, verify_release
    from kocartr.warehouse import check_warehouse_path, empty_registry_message, registry_patients

    if args.verify:
        problems = verify_release(args.verify)
        for p in problems:
            print(p, file=sys.stderr)
        print("OK" if not problems else f"{len(problems)} problem(s)")
        return 0 if not problems else 1
    if args.list:
        for release in list_releases(args.list):
            print(release)
        return 0
    if not (args.warehouse and args.cutoff and args.out):
        raise ValueError("--warehouse, --cutoff and --out are required (or --verify RELEASE / --list OUT)")
    cutoff = parse_cutoff(args.cutoff)
    warehouse = check_warehouse_path(args.warehouse, must_exist=True)
    if (args.out / cutoff.isoformat()).exists():  # before reading anything: releases are immutable
        raise FileExistsError(
            f"release {args.out / cutoff.isoformat()} exists; releases are immutable (build another cut-off)"
        )
    if registry_patients(warehouse) == 0:
        raise ReleaseError(empty_registry_message(warehouse))
    qs = json.loads(args.quality_summary.read_text(encoding="utf-8")) if args.quality_summary else None
    print(publish_release(warehouse, cutoff, args.out, quality_summary=qs))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m kocartr.release ARGS` is `kocartr release ARGS`: one command line, one set of exit codes."""
    from kocartr.cli import main as kocartr_main

    return kocartr_main(["release", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
