"""Compare the persisted outcomes of two gates_step.py runs on one warehouse, row for row: audit.dq_results and
audit.dq_failing_records of run ids `<a>-<gate>` against `<b>-<gate>`, every column but run_id and run_at, as
multisets (EXCEPT ALL both ways). The per-site verdicts (expectations.site_verdicts) are read from the
dq_results rows alone (a site row's `passed`, its all-sites row, the configured blocking), so equal rows give equal
verdicts.

    .venv/bin/python benchmarks/gates_compare.py WAREHOUSE RUN_A RUN_B [--gates raw,linkage,staging,marts,adam]

Exits 1 when any row differs. The warehouse is opened read-only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

RESULT_COLUMNS = (
    "data_month, check_name, layer, table_name, category, subcategory, severity, blocking, site_code, rows_checked, "
    "rows_failing, failing_share, threshold, passed, status, error"
)
FAILING_COLUMNS = "check_name, table_name, severity, site_code, record_key"


def diff(con, table: str, columns: str, a: str, b: str) -> tuple[int, int, int]:
    """Rows of run a, rows in a and not in b, rows in b and not in a (multisets)."""
    q = f"select {columns} from {table} where run_id = $r"
    n = con.sql(f"select count(*) from ({q})", params={"r": a}).fetchall()[0][0]
    only_a = con.execute(f"select count(*) from ({q} except all {q.replace('$r', '$s')})", {"r": a, "s": b})
    only_a_n = only_a.fetchall()[0][0]
    only_b_n = con.execute(f"select count(*) from ({q} except all {q.replace('$r', '$s')})", {"r": b, "s": a})
    return n, only_a_n, only_b_n.fetchall()[0][0]


def main(argv: list[str] | None = None) -> int:
    import duckdb

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse", type=Path)
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("--gates", default="raw,linkage,staging,marts,adam")
    args = ap.parse_args(argv)
    con = duckdb.connect(str(args.warehouse), read_only=True)
    bad = 0
    for gate in args.gates.split(","):
        a, b = f"{args.run_a}-{gate}", f"{args.run_b}-{gate}"
        for table, cols in (("audit.dq_results", RESULT_COLUMNS), ("audit.dq_failing_records", FAILING_COLUMNS)):
            n, only_a, only_b = diff(con, table, cols, a, b)
            bad += only_a + only_b
            print(f"{gate:8s} {table:26s} rows {n:8d}  only in {a}: {only_a}  only in {b}: {only_b}")
    print("IDENTICAL" if not bad else f"DIFFERENT ({bad} rows)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
