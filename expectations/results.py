"""Persist check outcomes: audit.dq_results (one row per check and site, plus an all-sites row) and
audit.dq_failing_records (identifiers of every failing row: the input of the site queries)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

from expectations.config import (
    ALL_SITES,
    AUDIT_SCHEMA,
    DQ_FAILING_RECORDS,
    DQ_RESULTS,
    INGEST_LEDGER,
    LEDGER_MONTH,
    site_failure_blocks,
)
from expectations.runner import CheckOutcome

DQ_RESULTS_COLUMNS = [
    ("run_id", "VARCHAR NOT NULL"),
    ("run_at", "TIMESTAMP NOT NULL"),
    ("data_month", "VARCHAR"),
    ("check_name", "VARCHAR NOT NULL"),
    ("layer", "VARCHAR NOT NULL"),
    ("table_name", "VARCHAR NOT NULL"),
    ("category", "VARCHAR NOT NULL"),
    ("subcategory", "VARCHAR"),
    ("severity", "VARCHAR NOT NULL"),
    ("blocking", "BOOLEAN NOT NULL"),
    ("site_code", "VARCHAR NOT NULL"),
    ("rows_checked", "BIGINT NOT NULL"),
    ("rows_failing", "BIGINT NOT NULL"),
    ("failing_share", "DOUBLE NOT NULL"),
    ("threshold", "DOUBLE NOT NULL"),
    ("passed", "BOOLEAN NOT NULL"),
    ("status", "VARCHAR NOT NULL"),
    ("error", "VARCHAR"),
]
DQ_FAILING_COLUMNS = [
    ("run_id", "VARCHAR NOT NULL"),
    ("check_name", "VARCHAR NOT NULL"),
    ("table_name", "VARCHAR NOT NULL"),
    ("severity", "VARCHAR NOT NULL"),
    ("site_code", "VARCHAR"),
    ("record_key", "VARCHAR NOT NULL"),
]


def ensure_tables(con) -> None:
    con.execute(f"create schema if not exists {AUDIT_SCHEMA}")
    for table, cols in ((DQ_RESULTS, DQ_RESULTS_COLUMNS), (DQ_FAILING_RECORDS, DQ_FAILING_COLUMNS)):
        con.execute(f"create table if not exists {table} ({', '.join(f'{n} {t}' for n, t in cols)})")


def result_rows(
    outcomes: Iterable[CheckOutcome], run_id: str, run_at: dt.datetime, data_month: str | None = None
) -> list[dict]:
    rows = []
    for o in outcomes:
        base = dict(
            run_id=run_id,
            run_at=run_at,
            data_month=data_month,
            check_name=o.name,
            layer=o.layer,
            table_name=o.table,
            category=o.category,
            subcategory=o.subcategory,
            severity=o.severity,
            blocking=o.blocking,
            threshold=float(o.threshold),
            error=o.error,
        )
        rows.append(
            dict(
                base,
                site_code=ALL_SITES,
                rows_checked=o.rows_checked,
                rows_failing=o.rows_failing,
                failing_share=float(o.failing_share),
                passed=bool(o.passed),
                status=o.status,
            )
        )
        for s in o.by_site:
            site_passed = o.error is None and s.failing_share <= o.threshold + 1e-12
            rows.append(
                dict(
                    base,
                    site_code=s.site_code,
                    rows_checked=s.rows_checked,
                    rows_failing=s.rows_failing,
                    failing_share=float(s.failing_share),
                    passed=site_passed,
                    status="PASSED" if site_passed else "FAILED",
                )
            )
    return rows


def run_month(con, run_at: dt.datetime) -> str:
    """The registry month a run without a partition (an ingest run) checked: the latest submission month loaded,
    else the month of the run. Every result row is tagged with its run id and a registry month."""
    from kocartr.warehouse import table_exists

    if table_exists(con, INGEST_LEDGER):
        month = con.sql(f"select max({LEDGER_MONTH}) from {INGEST_LEDGER}").fetchall()[0][0]
        if month:
            return str(month)
    return run_at.strftime("%Y-%m")


def site_verdicts(con, month: str | None = None):
    """Per check and site, the verdict of the check's latest run for registry month `month` (all months when
    None): rows_checked, rows_failing, failing_share, threshold, passed (the site's own verdict), overall_passed
    (all sites together) and blocks (whether a site failure fails the check: config.SITE_FAILURE_BLOCKS)."""
    import polars as pl

    from expectations.suites import all_rules
    from kocartr.warehouse import table_exists

    schema = {
        "check_name": pl.Utf8,
        "table_name": pl.Utf8,
        "layer": pl.Utf8,
        "severity": pl.Utf8,
        "site_code": pl.Utf8,
        "data_month": pl.Utf8,
        "rows_checked": pl.Int64,
        "rows_failing": pl.Int64,
        "failing_share": pl.Float64,
        "threshold": pl.Float64,
        "passed": pl.Boolean,
        "overall_passed": pl.Boolean,
    }
    if not table_exists(con, DQ_RESULTS):
        return pl.DataFrame(schema={**schema, "blocks": pl.Boolean})
    frame = (
        con.sql(
            f"""
        with latest as (
            select table_name, check_name, arg_max(run_id, run_at) as run_id from {DQ_RESULTS}
            where site_code = '{ALL_SITES}' and coalesce(data_month, $m) <= $m group by all)
        select r.check_name, r.table_name, r.layer, r.severity, r.site_code, r.data_month, r.rows_checked,
               r.rows_failing, r.failing_share, r.threshold, r.passed, a.passed as overall_passed
        from {DQ_RESULTS} r join latest using (table_name, check_name, run_id)
        join {DQ_RESULTS} a on a.run_id = r.run_id and a.table_name = r.table_name
             and a.check_name = r.check_name and a.site_code = '{ALL_SITES}'
        where r.site_code <> '{ALL_SITES}' and r.error is null
        order by r.site_code, r.layer, r.table_name, r.check_name""",
            params={"m": month or "9999-12"},
        )
        .pl()
        .cast(schema)
    )
    per_site = {r.name: r.per_site for r in all_rules()}
    blocks = [site_failure_blocks(n, per_site.get(n, False)) for n in frame["check_name"]]
    return frame.with_columns(blocks=pl.Series(blocks, dtype=pl.Boolean))


def persist_results(
    con, outcomes: Iterable[CheckOutcome], run_id: str, data_month: str | None = None, run_at: dt.datetime | None = None
) -> int:
    """Write the outcomes of `run_id` (re-running a check in the same run replaces its rows). Returns the number
    of audit.dq_results rows written. `data_month` (YYYY-MM) is the registry month the run materializes (default:
    run_month); the scorecard, the site queries and the per-site verdicts read the latest run of each month."""
    outcomes = list(outcomes)
    ensure_tables(con)
    run_at = run_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    data_month = data_month or run_month(con, run_at)
    rows = result_rows(outcomes, run_id, run_at, data_month)
    failing = [
        dict(
            run_id=run_id,
            check_name=o.name,
            table_name=o.table,
            severity=o.severity,
            site_code=(
                None if k.get("site_code", k.get("SITEID")) is None else str(k.get("site_code", k.get("SITEID")))
            ),
            record_key="; ".join(f"{c}={v}" for c, v in k.items()),
        )
        for o in outcomes
        for k in o.failing_keys
    ]
    names = sorted({o.name for o in outcomes})
    # No transaction of our own: DuckDB aborts a caller's open transaction on a nested BEGIN. Callers that want
    # the write atomic wrap the call in theirs.
    if names:
        con.execute(f"delete from {DQ_RESULTS} where run_id = ? and list_contains(?, check_name)", [run_id, names])
        con.execute(
            f"delete from {DQ_FAILING_RECORDS} where run_id = ? and list_contains(?, check_name)", [run_id, names]
        )
    for table, cols, data in (
        (DQ_RESULTS, DQ_RESULTS_COLUMNS, rows),
        (DQ_FAILING_RECORDS, DQ_FAILING_COLUMNS, failing),
    ):
        if not data:
            continue
        frame = pd.DataFrame(data, columns=[c for c, _ in cols])
        con.register("_dq_frame", frame)
        try:
            con.execute(f"insert into {table} select {', '.join(c for c, _ in cols)} from _dq_frame")
        finally:
            con.unregister("_dq_frame")
    return len(rows)
