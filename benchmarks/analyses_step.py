"""Run only the `outcome_analyses` step on a built warehouse, as its asset runs it (adam.* read, build_all, the
analysis.* tables written in one transaction), and print the process CPU seconds and resident memory after each
stage.

    /usr/bin/time -v .venv/bin/python benchmarks/analyses_step.py WAREHOUSE [--month 2026-10] [--schema analysis]
        [--frames DIR] [--profile FILE.prof]

The warehouse is WRITTEN (schema `--schema`, `analysis` as the asset does): run it on a copy of a benchmark's
warehouse. To check that a change keeps every table exact, write each side into its own schema of the same copy
(e.g. `--schema before` from main's checkout, `--schema after` from the branch) and compare every table with
`--compare before after` (row counts, EXCEPT ALL both ways, column names and types); `--frames DIR` also writes
each table as Parquet, for an in-order comparison (`polars.DataFrame.equals`). Quote `/usr/bin/time`'s user +
system seconds; the stage lines say where they went (polars' and DuckDB's threads included).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stage_clock import StageClock, profiled


def run(warehouse: Path, month: str, schema: str, frames: Path | None, clock: StageClock) -> dict[str, int]:
    """The asset's calls (orchestration/assets/analyses.py), on one connection."""
    import duckdb

    from analyses.late_effects import read_inputs
    from analyses.outcomes import build_all, read_pending
    from kocartr.months import month_end
    from orchestration.assets.analyses import write_tables

    clock.stage("imports")
    with duckdb.connect(str(warehouse)) as con:
        adam = {t: con.sql(f"select * from adam.{t}").pl() for t in ("adsl", "adtte", "adae", "adrs")}
        pending, late = read_pending(con, month), read_inputs(con)
        clock.stage("read adam.*")
        tables = build_all(
            adam["adtte"], adam["adsl"], adam["adae"], month_end(month), adrs=adam["adrs"], late=late, pending=pending
        )
        clock.stage("build_all")
        write_tables(con, schema, tables)
        clock.stage(f"write {schema}.*")
    if frames is not None:
        frames.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            frame.write_parquet(frames / f"{name}.parquet")
    return {name: frame.height for name, frame in tables.items()}


def compare(warehouse: Path, a: str, b: str) -> int:
    """Every table of schema a against b: counts, EXCEPT ALL both ways, columns and types; the number that differ."""
    import duckdb

    def one(sql: str) -> list[tuple]:
        return con.sql(sql).fetchall()

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            s: {r[0] for r in one(f"select table_name from duckdb_tables() where schema_name = '{s}'")} for s in (a, b)
        }
        bad = len(tables[a] ^ tables[b])
        for t in sorted(tables[a] & tables[b]):
            cols = [
                one(
                    "select column_name, data_type from duckdb_columns() "
                    f"where schema_name = '{s}' and table_name = '{t}' order by column_index"
                )
                for s in (a, b)
            ]
            counts = [one(f"select count(*) from {s}.{t}")[0][0] for s in (a, b)]
            d1 = one(f"select count(*) from (select * from {a}.{t} except all select * from {b}.{t})")[0][0]
            d2 = one(f"select count(*) from (select * from {b}.{t} except all select * from {a}.{t})")[0][0]
            same = cols[0] == cols[1] and counts[0] == counts[1] and d1 == d2 == 0
            bad += not same
            print(
                f"{t:28s} rows {counts[0]}/{counts[1]} {a}-{b} {d1} {b}-{a} {d2} "
                f"columns {'same' if cols[0] == cols[1] else 'DIFFER'}"
            )
    print("every table identical" if not bad else f"{bad} tables differ")
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--month", default="2026-10")
    ap.add_argument("--schema", default="analysis")
    ap.add_argument("--frames", type=Path, help="also write each table as Parquet here")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the step here")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"), help="only compare the tables of schemas A and B")
    args = ap.parse_args(argv)
    if args.compare:
        return 1 if compare(args.warehouse, *args.compare) else 0
    clock = StageClock()
    rows = profiled(args.profile, run, args.warehouse, args.month, args.schema, args.frames, clock)
    print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
