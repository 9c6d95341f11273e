"""Per-site, per-month data-quality scorecard (audit.dq_scorecard).

Columns, per site_code and month (YYYY-MM):
- completeness of key variables (config.KEY_VARIABLES) in staging, by submission month of the current record:
  key_cells, key_cells_filled, completeness;
- timeliness of follow-up from marts.fct_followup_schedule, by the month the form fell due (window end <= as_of,
  visits ended by death or not yet due excluded):
  followup_due, followup_received, followup_on_time (received by the due date), followup_timeliness
  (received / due);
- quarantine rate from audit.ingest_ledger, by submission month: rows_received, rows_quarantined,
  quarantine_rate;
- plausibility failures from audit.dq_results (latest run of each data month; data_month, else the run's month):
  plausibility_checks, plausibility_checks_failed, plausibility_rows_checked, plausibility_rows_failing,
  plausibility_failure_rate;
- per-site verdicts from audit.dq_results (latest run of each check and month, every category): checks_failed_at_site
  (checks whose threshold this site's own failing share exceeds, whatever the overall verdict) and their names.
A source table that does not exist yet leaves its columns NULL and is named in `missing_sources` (logged); it is
never read as "no problem" (0).
"""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl

from expectations import config as C
from kocartr.warehouse import table_exists

log = logging.getLogger(__name__)

SCORECARD_COLUMNS = [
    "site_code",
    "month",
    "key_cells",
    "key_cells_filled",
    "completeness",
    "followup_due",
    "followup_received",
    "followup_on_time",
    "followup_timeliness",
    "rows_received",
    "rows_quarantined",
    "quarantine_rate",
    "plausibility_checks",
    "plausibility_checks_failed",
    "plausibility_rows_checked",
    "plausibility_rows_failing",
    "plausibility_failure_rate",
    "checks_failed_at_site",
    "checks_failed_at_site_names",
]


def _columns(con, table: str) -> set[str]:
    schema, name = table.split(".")
    return {
        r[0]
        for r in con.sql(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            params=[schema, name],
        ).fetchall()
    }


def _completeness_sql(con, missing: list[str]) -> str | None:
    """Completeness of the key variables (config KEY_VARIABLES) per site and month."""
    selects = []
    for form, (fields, _) in C.KEY_VARIABLES.items():
        table = C.stg(form)
        if not table_exists(con, table):
            missing.append(table)
            continue
        have = _columns(con, table)
        for f in fields:
            if f not in have:
                missing.append(f"{table}.{f}")
                continue
            selects.append(
                f"select site_code, submission_month as month, count(*) as cells, "
                f"count({f}) as filled from {table} group by all"
            )
    if not selects:
        return None
    return (
        "select site_code, month, cast(sum(cells) as bigint) as key_cells, "
        "cast(sum(filled) as bigint) as key_cells_filled, "
        "sum(filled) / nullif(sum(cells), 0) as completeness from (" + " union all ".join(selects) + ") group by all"
    )


def _timeliness_sql(con, as_of: dt.date, missing: list[str]) -> str | None:
    """Timeliness of follow-up: forms whose window ended by as_of, not ended by death."""
    t = C.FCT_FOLLOWUP_SCHEDULE
    if not (table_exists(con, t) and {C.MARTS_SITE, C.FOLLOWUP_DUE_DATE, C.FOLLOWUP_RECEIVED_DATE} <= _columns(con, t)):
        missing.append(t)
        return None
    due, rec = C.FOLLOWUP_DUE_DATE, C.FOLLOWUP_RECEIVED_DATE
    not_due = ""
    if C.FOLLOWUP_STATE in _columns(con, t):
        states = ", ".join(f"'{x}'" for x in C.FOLLOWUP_NOT_DUE_STATES)
        not_due = f" and coalesce({C.FOLLOWUP_STATE} not in ({states}), true)"
    return (
        f"select {C.MARTS_SITE} as site_code, strftime({due}, '%Y-%m') as month, count(*) as followup_due, "
        f"count({rec}) as followup_received, count(*) filter (where {rec} <= {due}) as followup_on_time, "
        f"count({rec}) / count(*) as followup_timeliness from {t} "
        f"where {due} <= date '{as_of.isoformat()}'{not_due} group by all"
    )


def _quarantine_sql(con, missing: list[str]) -> str | None:
    """Quarantine rate per site and month (the ingest ledger)."""
    t = C.INGEST_LEDGER
    if not (table_exists(con, t) and {C.LEDGER_ROWS_RECEIVED, C.LEDGER_ROWS_QUARANTINED} <= _columns(con, t)):
        missing.append(t)
        return None
    return (
        f"select {C.LEDGER_SITE} as site_code, {C.LEDGER_MONTH} as month, "
        f"cast(sum({C.LEDGER_ROWS_RECEIVED}) as bigint) as rows_received, "
        f"cast(sum({C.LEDGER_ROWS_QUARANTINED}) as bigint) as rows_quarantined, "
        f"sum({C.LEDGER_ROWS_QUARANTINED}) / nullif(sum({C.LEDGER_ROWS_RECEIVED}), 0) as quarantine_rate "
        f"from {t} where {C.LEDGER_SITE} is not null group by all"
    )


def _dq_sql(t: str) -> dict[str, str]:
    """Plausibility failures (latest run per data month) and per-site verdicts: checks whose threshold this site's
    own share exceeds (latest run of each check and month)."""
    return {
        "plausibility": f"""
            with r as (select *, coalesce(data_month, strftime(run_at, '%Y-%m')) as month from {t}),
            latest as (select month, arg_max(run_id, run_at) as run_id from r group by month)
            select site_code, month, count(*) as plausibility_checks,
                   count(*) filter (where not passed) as plausibility_checks_failed,
                   cast(sum(rows_checked) as bigint) as plausibility_rows_checked,
                   cast(sum(rows_failing) as bigint) as plausibility_rows_failing,
                   sum(rows_failing) / nullif(sum(rows_checked), 0) as plausibility_failure_rate
            from r join latest using (month, run_id)
            where category = 'plausibility' and site_code <> '{C.ALL_SITES}' group by all""",
        "site_verdicts": f"""
            with r as (select *, coalesce(data_month, strftime(run_at, '%Y-%m')) as month from {t}),
            latest as (select month, table_name, check_name, arg_max(run_id, run_at) as run_id from r
                       where site_code = '{C.ALL_SITES}' group by all)
            select site_code, month, count(*) filter (where not passed) as checks_failed_at_site,
                   string_agg(check_name, ', ' order by check_name) filter (where not passed)
                       as checks_failed_at_site_names
            from r join latest using (month, table_name, check_name, run_id)
            where site_code <> '{C.ALL_SITES}' and error is null group by all""",
    }


def scorecard_parts(con, as_of: dt.date | None = None) -> tuple[dict[str, str], list[str]]:
    """SQL of each component (site_code, month, metrics...) and the sources that were missing."""
    missing: list[str] = []
    found = {
        "completeness": _completeness_sql(con, missing),
        "timeliness": _timeliness_sql(con, as_of or dt.date.today(), missing),
        "quarantine": _quarantine_sql(con, missing),
    }
    parts = {k: v for k, v in found.items() if v is not None}
    if table_exists(con, C.DQ_RESULTS):
        parts |= _dq_sql(C.DQ_RESULTS)
    else:
        missing.append(C.DQ_RESULTS)
    return parts, missing


def scorecard(con, as_of: dt.date | None = None, write: bool = True) -> pl.DataFrame:
    """The scorecard as a polars frame (one row per site and month); written to audit.dq_scorecard if `write`."""
    parts, missing = scorecard_parts(con, as_of)
    if missing:
        log.warning("dq scorecard: sources missing, their columns stay NULL: %s", ", ".join(missing))
    keys = " union ".join(f"select site_code, month from ({sql})" for sql in parts.values())
    if not keys:
        frame = pl.DataFrame(
            schema={c: pl.Utf8 if c in ("site_code", "month") else pl.Float64 for c in SCORECARD_COLUMNS}
        )
    else:
        ctes = ", ".join(f"{name} as ({sql})" for name, sql in parts.items())
        joins = " ".join(f"left join {name} using (site_code, month)" for name in parts)
        cols = ", ".join(
            c if c in ("site_code", "month") or any(c in sql for sql in parts.values()) else f"null as {c}"
            for c in SCORECARD_COLUMNS
        )
        sql = f"with {ctes}, k as ({keys}) select {cols} from k {joins} order by site_code, month"
        frame = con.sql(sql).pl()
    if write:
        con.execute(f"create schema if not exists {C.AUDIT_SCHEMA}")
        con.register("_dq_scorecard", frame.to_arrow())
        try:
            con.execute(f"create or replace table {C.DQ_SCORECARD} as select * from _dq_scorecard")
        finally:
            con.unregister("_dq_scorecard")
    return frame
