"""Run only the release step on a built warehouse, as the pipeline's `release/monthly_release` asset runs it
(`publish_release` with the warehouse's quality summary), and print the process CPU seconds and resident memory
at each of the release's stages (the `_stage` hook the kill-safety tests use).

    /usr/bin/time -v .venv/bin/python benchmarks/release_step.py WAREHOUSE OUT_DIR [--cutoff 2026-10-31]

The warehouse is opened read-only (copy a benchmark's warehouse first if another process may write it); the
release is written to OUT_DIR/<cutoff>/. Quote `/usr/bin/time`'s user + system seconds and maximum resident set
size for the whole step; the per-stage lines say where they went (CPU of DuckDB's threads included).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from stage_clock import StageClock

    from kocartr.release import publish
    from kocartr.release.__main__ import parse_cutoff
    from orchestration.assets.release import quality_summary

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--cutoff", default="2026-10-31")
    args = ap.parse_args(argv)
    clock, stage = StageClock(), publish._stage

    def timed_stage(name: str) -> None:
        clock.stage(name)
        stage(name)

    publish._stage = timed_stage
    summary = quality_summary(args.warehouse)
    timed_stage("quality summary (and imports)")
    print(publish.publish_release(args.warehouse, parse_cutoff(args.cutoff), args.out, quality_summary=summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
