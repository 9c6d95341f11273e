"""The site-query step's read of earlier months, with a long history: a month's audit.site_queries rows (a Parquet
copy) written again as each of the N months before it into a new database, then, in a second process, the whole
history read (the step before query_history) or query_history, each followed by with_status.

    python benchmarks/feedback_history.py make ROWS.parquet DB [--months 11]
    /usr/bin/time -v python benchmarks/feedback_history.py old|new ROWS.parquet DB

Both print the CPU seconds of read + with_status and a hash of its rows (the same for both). DB is written
(`make`): a path under /tmp, never a benchmark warehouse.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    import duckdb
    import polars as pl

    from kocartr.feedback.queries import QUERY_COLUMNS, SITE_QUERIES, query_history, with_status
    from kocartr.months import parse_month

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["make", "old", "new"])
    ap.add_argument("rows")
    ap.add_argument("db")
    ap.add_argument("--months", type=int, default=11)
    args = ap.parse_args(argv)
    con = duckdb.connect(args.db)
    month = con.sql(f"select max(registry_month) from '{args.rows}'").fetchall()[0][0]
    if args.what == "make":
        con.execute("create schema if not exists audit")
        con.execute(f"create or replace table {SITE_QUERIES} as select * from '{args.rows}' limit 0")
        for k in range(1, args.months + 1):
            year, mon = parse_month(month)
            m = f"{year + (mon - 1 - k) // 12:04d}-{(mon - 1 - k) % 12 + 1:02d}"
            con.execute(
                f"insert into {SITE_QUERIES} select * replace ('{m}' as registry_month, "
                f"least(first_seen_month, '{m}') as first_seen_month) from '{args.rows}'"
            )
        return 0
    current = con.sql(f"select * from '{args.rows}'").pl()
    start = time.process_time()
    if args.what == "old":
        history = con.sql(f"select * from {SITE_QUERIES} where registry_month < $m", params={"m": month}).pl()
    else:
        history = query_history(con, month)
    rows = with_status(current, history.cast(pl.Schema(QUERY_COLUMNS)), month)
    print(f"{args.what}: {time.process_time() - start:.2f} s CPU, {history.height} history rows, {rows.height} rows")
    print("rows hash", rows.hash_rows().sum())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
