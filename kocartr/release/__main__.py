"""`python -m kocartr.release`: build, verify or list releases (the lead wires the same into `kocartr release`).

    python -m kocartr.release --warehouse out/warehouse.duckdb --cutoff 2026-10-31 --out out/releases \
        [--quality-summary gate.json]
    python -m kocartr.release --verify out/releases/2026-10-31
    python -m kocartr.release --list out/releases
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path


def add_release_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--warehouse", type=Path, help="warehouse DuckDB file (opened read-only)")
    parser.add_argument("--cutoff", type=date.fromisoformat, help="data cut-off, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, help="releases folder; the release is written to OUT/<cutoff>/")
    parser.add_argument("--quality-summary", type=Path, help="JSON file with the quality-gate summary")
    parser.add_argument("--verify", type=Path, metavar="RELEASE", help="verify a release folder and exit")
    parser.add_argument("--list", type=Path, metavar="OUT", help="list the published releases and exit")
    return parser


def run_release(args: argparse.Namespace) -> int:
    from kocartr.release import ReleaseError, list_releases, publish_release, verify_release

    if args.verify:
        problems = verify_release(args.verify)
        for p in problems:
            print(p, file=sys.stderr)
        print("OK" if not problems else f"{len(problems)} problem(s)")
        return 0 if not problems else 1
    if args.list:
        for p in list_releases(args.list):
            print(p)
        return 0
    if not (args.warehouse and args.cutoff and args.out):
        print("--warehouse, --cutoff and --out are required", file=sys.stderr)
        return 2
    qs = json.loads(args.quality_summary.read_text(encoding="utf-8")) if args.quality_summary else None
    try:
        path = publish_release(args.warehouse, args.cutoff, args.out, quality_summary=qs)
    except ReleaseError as exc:
        print(f"release not published: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_release_arguments(argparse.ArgumentParser(prog="kocartr release", description=__doc__,
                                                           formatter_class=argparse.RawDescriptionHelpFormatter))
    return run_release(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
