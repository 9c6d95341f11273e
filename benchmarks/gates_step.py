"""Run only the quality gates on a built warehouse, as the pipeline's Dagster checks run them (orchestration/checks.py:
per gate, `run_rules` over the gate's rules on one connection, then `persist_results` in one transaction), and print
the process CPU seconds (user + system, DuckDB's threads included) per gate and, with --per-table, per table. The GX
import and the rules (dictionary, Dagster import) are paid once before the gates and reported apart, as the pipeline
has them loaded before its first gate.

    /usr/bin/time -v .venv/bin/python benchmarks/gates_step.py WAREHOUSE [--gates raw,linkage,staging,marts,adam]
        [--run-id bench] [--month 2026-10] [--per-table] [--cprofile OUT.prof]

The warehouse is WRITTEN (audit.dq_results / audit.dq_failing_records rows under run id `<run-id>-<gate>`): run it
on a copy of a benchmark's warehouse, never on a shared one. With --per-table each table's rules run in their own
`run_rules` call (same outcomes: the runner already validates per table), so the lines say where a gate's CPU goes;
the gate line is then their sum. Compare two runs' outcomes with benchmarks/gates_compare.py.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path

GATE_ORDER = ("raw", "linkage", "staging", "marts", "adam")


def run_gate(con, gate: str, rules: list, run_id: str, month: str, per_table: bool) -> tuple[float, list]:
    """CPU seconds of one gate's `rules` (run + persist) and, with per_table, of each table's rules."""
    from expectations import persist_results, run_rules

    start = time.process_time()
    tables: list[tuple[str, float]] = []
    if per_table:
        outcomes = []
        for table in dict.fromkeys(r.table for r in rules):
            t0 = time.process_time()
            outcomes += run_rules(con, [r for r in rules if r.table == table], run_id)
            tables.append((table, time.process_time() - t0))
    else:
        outcomes = run_rules(con, rules, run_id)
    t0 = time.process_time()
    con.execute("begin transaction")
    persist_results(con, outcomes, run_id, data_month=month)
    con.execute("commit")
    tables.append(("(persist)", time.process_time() - t0))
    errors = [o for o in outcomes if o.error]
    failed = [o for o in outcomes if not o.passed and not o.error]
    print(f"  {gate}: {len(outcomes)} checks, {len(failed)} failed, {len(errors)} errored", file=sys.stderr, flush=True)
    for o in errors:
        print(f"    ERROR {o.describe()}", file=sys.stderr)
    return time.process_time() - start, tables


def main(argv: list[str] | None = None) -> int:
    import duckdb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("--gates", default=",".join(GATE_ORDER))
    ap.add_argument("--run-id", default="bench")
    ap.add_argument("--month", default="2026-10", help="data_month of the results (the run's partition)")
    ap.add_argument("--per-table", action="store_true")
    ap.add_argument("--cprofile", type=Path)
    args = ap.parse_args(argv)
    t0 = time.process_time()
    import expectations.runner as runner

    runner._gx()  # GX import and context: paid once per process, reported apart from the gates
    print(f"{'GX import and context':45s} cpu {time.process_time() - t0:7.2f} s", file=sys.stderr, flush=True)
    t0 = time.process_time()  # the pipeline has its rules (and Dagster) loaded before any gate runs: so do we
    from orchestration.checks import gate_rules

    rules = {gate: gate_rules(gate) for gate in args.gates.split(",")}
    print(f"{'rules (dictionary, Dagster import)':45s} cpu {time.process_time() - t0:7.2f} s", file=sys.stderr)
    profiler = cProfile.Profile() if args.cprofile else None
    con = duckdb.connect(str(args.warehouse))
    try:
        for gate in args.gates.split(","):
            if profiler:
                profiler.enable()
            cpu, tables = run_gate(con, gate, rules[gate], f"{args.run_id}-{gate}", args.month, args.per_table)
            if profiler:
                profiler.disable()
            print(f"{gate + ' gate':45s} cpu {cpu:7.2f} s", file=sys.stderr, flush=True)
            for table, t in tables:
                if args.per_table or table.startswith("("):
                    print(f"    {table:41s} cpu {t:7.2f} s", file=sys.stderr, flush=True)
    finally:
        con.close()
    if profiler:
        profiler.dump_stats(str(args.cprofile))
    print(f"{'total (process)':45s} cpu {time.process_time():7.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
