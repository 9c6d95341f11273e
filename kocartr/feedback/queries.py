"""The monthly query table audit.site_queries: every problem found anywhere becomes a query a site can answer.

Sources, as of registry month M:
- `quarantine`   rows ingest did not load (audit.quarantine), until the same record is accepted in a later month;
- `file_reject`  files ingest could not read (audit.file_rejects), until a later file of the same form is loaded;
- `quality_check` records failing a quality-gate rule in that rule's latest run for M (audit.dq_failing_records,
                 every layer; new GX rules arrive here without code changes);
- `followup`     follow-up visits OVERDUE or MISSED in marts.fct_followup_schedule (missing forms).

A query's id is a hash of its source, rule, site and the record's stable keyed identity (record id or patient
key, never a row number), so the same problem keeps its id month after month. One row per query and registry
month: `new` (first seen in M), `open` (seen before), `resolved` (open last time, no longer failing in M).
Rebuilding month M replaces M's rows and reads only earlier months, so a rerun gives the same table.
The warehouse holds no site-issued identifier in clear: the workbook reads the site's own record id back from the
submission file via (`source_file`, `source_row`) lineage (kocartr.feedback.site_ids).
"""

from __future__ import annotations

import hashlib

import polars as pl
from polars.datatypes import DataTypeClass

from kocartr.warehouse import table_exists

SITE_QUERIES = "audit.site_queries"
SOURCES = ("quarantine", "file_reject", "quality_check", "followup")
STATUSES = ("new", "open", "resolved")
QUERY_COLUMNS: dict[str, DataTypeClass] = {
    "query_id": pl.Utf8,
    "registry_month": pl.Utf8,
    "site_code": pl.Utf8,
    "status": pl.Utf8,
    "first_seen_month": pl.Utf8,
    "resolved_month": pl.Utf8,
    "source": pl.Utf8,
    "layer": pl.Utf8,
    "rule": pl.Utf8,
    "severity": pl.Utf8,
    "form": pl.Utf8,
    "field": pl.Utf8,
    "record_key": pl.Utf8,
    "patient_key": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
    "value_redacted": pl.Utf8,
    "expected": pl.Utf8,
    "message_en": pl.Utf8,
    "message_ko": pl.Utf8,
}
_IDENTITY = "identity"  # stable identity of the problem (hashed into query_id, not stored)


def query_id(source: str, rule: str, site: str, identity: str) -> str:
    """Stable query id: the same problem (rule, site, keyed record identity) gets the same id every month."""
    return "Q" + hashlib.sha256(f"{source}|{rule}|{site}|{identity}".encode()).hexdigest()[:15].upper()


def _frame(con, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params or {}).pl()


def _raw_forms(con) -> list[str]:
    from kocartr.dictionary import load_dictionary

    return [f for f in load_dictionary().forms if table_exists(con, f"raw.{f}")]


def pending_quarantine(con, month: str) -> pl.DataFrame:
    """Quarantined rows still pending at registry month `month`: their record has not been accepted in a later
    submission (up to `month`), so their site query is open. The one rule, read by the site queries and by the
    toxicity denominators (analyses.outcomes.read_pending)."""
    if not table_exists(con, "audit.quarantine"):
        return pl.DataFrame()
    accepted = (
        " union all ".join(
            f"select '{f}' as form, site_code, record_id, submission_month from raw.{f}" for f in _raw_forms(con)
        )
        or "select null::varchar form, null::varchar site_code, null::varchar record_id, null::varchar submission_month"
    )
    ledger = table_exists(con, "audit.ingest_ledger")
    later_file = (
        (
            "exists (select 1 from audit.ingest_ledger l where l.site_code = q.site_code and l.form = q.form "
            "and l.submission_month > q.submission_month and l.submission_month <= $m)"
        )
        if ledger
        else "false"
    )
    return _frame(
        con,
        f"""
        with q as (
            select *, coalesce(record_id, source_file || '#' || source_row) as identity from audit.quarantine
            where site_code is not null and coalesce(submission_month, $m) <= $m
            qualify row_number() over (partition by site_code, form, identity, field, rule
                                       order by submission_month desc, source_file, source_row) = 1),
        acc as ({accepted})
        select 'quarantine' as source, 'ingest' as layer, rule, 'critical' as severity, site_code, form, field,
               record_id as record_key, null::varchar as patient_key, source_file, source_row::bigint as source_row,
               value_redacted, expected, message_en, message_ko, form || '|' || field || '|' || identity as identity
        from q
        where case when q.record_id is null then not {later_file}
                   else not exists (select 1 from acc a where a.form = q.form and a.site_code = q.site_code
                                    and a.record_id = q.record_id and a.submission_month > q.submission_month
                                    and a.submission_month <= $m) end""",
        {"m": month},
    )


def _file_rejects(con, month: str) -> pl.DataFrame:
    """Rejected files of a site, until a later file of the same form was loaded."""
    if not table_exists(con, "audit.file_rejects"):
        return pl.DataFrame()
    later = (
        "exists (select 1 from audit.ingest_ledger l where l.site_code = r.site_code and l.form = r.form "
        "and l.submission_month > r.submission_month and l.submission_month <= $m)"
        if table_exists(con, "audit.ingest_ledger")
        else "false"
    )
    return _frame(
        con,
        f"""
        with r as (
            select *, coalesce(form, regexp_replace(source_file, '^.*/', '')) as identity from audit.file_rejects
            where site_code is not null and coalesce(submission_month, $m) <= $m
            qualify row_number() over (partition by site_code, identity, reason_code
                                       order by submission_month desc, source_file) = 1)
        select 'file_reject' as source, 'ingest' as layer, reason_code as rule, 'critical' as severity, site_code,
               form, null::varchar as field, null::varchar as record_key, null::varchar as patient_key, source_file,
               null::bigint as source_row, null::varchar as value_redacted, detail as expected, message_en,
               message_ko, identity
        from r where not (r.form is not null and {later})""",
        {"m": month},
    )


def _parse_key(record_key: str) -> dict[str, str]:
    """'site_code=S01; record_id=X' -> {'site_code': 'S01', 'record_id': 'X'} (dq_failing_records.record_key)."""
    out = {}
    for part in record_key.split("; "):
        k, _, v = part.partition("=")
        out[k] = v
    return out


def _form_of_table(table: str) -> str | None:
    schema, name = table.split(".", 1)
    if schema == "raw":
        return name
    if schema == "staging" and name.startswith("stg_"):
        return name[4:]
    return None


def _quality_checks(con, month: str) -> pl.DataFrame:
    """Records failing each quality rule in the rule's latest run for `month` (raw checks run in the ingest run)."""
    from expectations import all_rules
    from kocartr.dictionary import load_dictionary

    if not all(table_exists(con, t) for t in ("audit.dq_failing_records", "audit.dq_results")):
        return pl.DataFrame()
    found = con.sql(
        """
        with latest as (
            select table_name, check_name, arg_max(run_id, run_at) as run_id from audit.dq_results
            where site_code = 'ALL' and coalesce(data_month, $m) <= $m group by all)
        select f.table_name, f.check_name, f.severity, f.site_code, f.record_key
        from audit.dq_failing_records f join latest using (table_name, check_name, run_id)
        where f.site_code is not null order by all""",
        params={"m": month},
    ).fetchall()
    rules = {r.name: r for r in all_rules()}
    d = load_dictionary()
    texts: dict[tuple[str, str], tuple[str | None, str | None, str, str]] = {}  # per (table, rule): not per record
    rows = []
    for table, check, severity, site, key in found:
        if (table, check) not in texts:
            texts[(table, check)] = _check_texts(d, rules.get(check), _form_of_table(table))
        form, field, en, ko = texts[(table, check)]
        parts = _parse_key(key)
        patient = parts.get("patient_key") or parts.get("USUBJID")
        rows.append(
            dict(
                source="quality_check",
                layer=table.split(".")[0],
                rule=check,
                severity=severity,
                site_code=site,
                form=form,
                field=field,
                record_key=parts.get("record_id"),
                patient_key=patient,
                source_file=None,
                source_row=None,
                value_redacted=None,
                expected=None,
                message_en=en,
                message_ko=ko,
                identity=key,
            )
        )
    return pl.DataFrame(rows, schema={**{c: QUERY_COLUMNS[c] for c in _PROBLEM_COLUMNS}, _IDENTITY: pl.Utf8})


def _check_texts(d, rule, form: str | None) -> tuple[str | None, str | None, str, str]:
    """(form, field, English, Korean) of a record failing `rule` in a table of `form`: the rule's first column
    that is a field of the form, named in Korean by its dictionary label."""
    fields = [c for c in (rule.columns if rule else ()) if form and c in {f.name for f in d.all_fields(form)}]
    field = fields[0] if fields else None
    form_ko = d.forms[form].label_ko if form in d.forms else None
    field_ko = next((f.label_ko for f in d.all_fields(form) if f.name == field), None) if form and field else None
    en, ko = check_message_for(rule, form_ko, field_ko)
    return form, field, en, ko


def check_message_for(rule, form_ko: str | None, field_ko: str | None) -> tuple[str, str]:
    from kocartr.feedback.messages import check_message

    if rule is None:  # a rule removed since it ran: still a query, in general words
        return check_message("", "", form_ko, field_ko, "a rule of an earlier run")
    return check_message(rule.category, rule.subcategory, form_ko, field_ko, rule.reason)


def _followup(con) -> pl.DataFrame:
    """Follow-up visits overdue or missed at the cut-off of the build (marts.fct_followup_schedule)."""
    from expectations import config as C
    from kocartr.feedback.messages import visit_message

    if not table_exists(con, C.FCT_FOLLOWUP_SCHEDULE):
        return pl.DataFrame()
    found = con.sql(f"""select visit_key, patient_key, site_code, timepoint, {C.FOLLOWUP_DUE_DATE}, {C.FOLLOWUP_STATE}
                        from {C.FCT_FOLLOWUP_SCHEDULE} where {C.FOLLOWUP_STATE} in ('OVERDUE', 'MISSED')
                        and site_code is not null order by all""").fetchall()
    texts: dict[tuple, tuple[str, str]] = {}  # per (timepoint, state, due date): not per visit
    rows = []
    for visit, patient, site, tp, due, state in found:
        if (tp, state, due) not in texts:
            texts[(tp, state, due)] = visit_message(tp, state, due.isoformat() if due else "?")
        en, ko = texts[(tp, state, due)]
        rows.append(
            dict(
                source="followup",
                layer="marts",
                rule=f"followup_{state.lower()}",
                severity="warning",
                site_code=site,
                form="followup",
                field=None,
                record_key=None,
                patient_key=patient,
                source_file=None,
                source_row=None,
                value_redacted=None,
                expected=f"{tp} by {due}",
                message_en=en,
                message_ko=ko,
                identity=visit,
            )
        )
    return pl.DataFrame(rows, schema={**{c: QUERY_COLUMNS[c] for c in _PROBLEM_COLUMNS}, _IDENTITY: pl.Utf8})


_PROBLEM_COLUMNS = [
    "source",
    "layer",
    "rule",
    "severity",
    "site_code",
    "form",
    "field",
    "record_key",
    "patient_key",
    "source_file",
    "source_row",
    "value_redacted",
    "expected",
    "message_en",
    "message_ko",
]


def _lineage(con, problems: pl.DataFrame, month: str) -> pl.DataFrame:
    """Fill source_file / source_row of keyed problems from raw lineage: the record's version current in `month`,
    or the patient's registration row for patient-level problems. Works whether record ids are clear or keyed
    (both sides carry the same value)."""
    need = problems.filter(pl.col("source_file").is_null())
    if need.is_empty():
        return problems
    con.register(
        "_q_need", need.with_row_index("_i").select("_i", "site_code", "form", "record_key", "patient_key").to_arrow()
    )
    try:
        parts = []
        for form in _raw_forms(con):
            parts.append(f"""select n._i, r._source_file, r._source_row::bigint as _source_row, '{form}' as _form
                             from _q_need n join raw.{form} r on r.site_code = n.site_code
                             and r.record_id = n.record_key and n.form = '{form}' and r.submission_month <= $m
                             qualify row_number() over (partition by n._i order by r._version desc) = 1""")
        if table_exists(con, "raw.registration"):
            parts.append("""select n._i, r._source_file, r._source_row::bigint, 'registration'
                            from _q_need n join raw.registration r on r.patient_key = n.patient_key
                            where (n.record_key is null or n.form is null) and r.submission_month <= $m
                            qualify row_number() over (partition by n._i order by r._version desc) = 1""")
        found = con.sql(" union all ".join(parts), params={"m": month}).pl() if parts else pl.DataFrame()
    finally:
        con.unregister("_q_need")
    if found.is_empty():
        return problems
    need = need.with_row_index("_i").join(found.with_columns(pl.col("_i").cast(pl.UInt32)), on="_i", how="left")
    need = need.with_columns(
        source_file=pl.col("_source_file"), source_row=pl.col("_source_row"), form=pl.coalesce("form", "_form")
    ).drop("_i", "_source_file", "_source_row", "_form")
    return pl.concat([problems.filter(pl.col("source_file").is_not_null()), need], how="vertical_relaxed")


def _korean_without_english(problems: pl.DataFrame) -> pl.DataFrame:
    """Ingest queries get their Korean text from ingest's templates without the English field names and
    expectations (those stay in the Field and Expected columns)."""
    from kocartr.dictionary import load_dictionary
    from kocartr.feedback.messages import ingest_message_ko

    d = load_dictionary()

    def label(form: str | None, field: str | None) -> str | None:
        if form not in d.forms or not field:
            return None
        return next((f.label_ko for f in d.all_fields(form) if f.name == field), None)

    def korean(src: str, rule: str, form: str | None, field: str | None, exp: str | None, msg: str | None):
        return (
            ingest_message_ko(src, rule, label(form, field), exp, msg) if src in ("quarantine", "file_reject") else msg
        )

    cols = ["source", "rule", "form", "field", "expected", "message_ko"]
    # once per distinct input (the texts repeat across thousands of rows), joined back on all six columns
    distinct = problems.select(cols).unique()
    texts = distinct.with_columns(_ko=pl.Series([korean(*r) for r in distinct.iter_rows()], dtype=pl.Utf8))
    joined = problems.join(texts, on=cols, how="left", nulls_equal=True, maintain_order="left")
    return joined.with_columns(message_ko=pl.col("_ko")).drop("_ko")


def current_problems(con, month: str) -> pl.DataFrame:
    """Every problem open in registry month `month`, with its query id (one row per query id)."""
    schema = {**{c: QUERY_COLUMNS[c] for c in _PROBLEM_COLUMNS}, _IDENTITY: pl.Utf8}
    frames = [
        f.select(list(schema)).cast(pl.Schema(schema))
        for f in (
            pending_quarantine(con, month),
            _file_rejects(con, month),
            _quality_checks(con, month),
            _followup(con),
        )
        if not f.is_empty()
    ]
    problems = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    problems = _korean_without_english(_lineage(con, problems, month))
    ids = [
        query_id(s, r, site, i)
        for s, r, site, i in problems.select("source", "rule", "site_code", _IDENTITY).iter_rows()
    ]
    return (
        problems.with_columns(query_id=pl.Series(ids, dtype=pl.Utf8))
        .drop(_IDENTITY)
        .unique("query_id", keep="first", maintain_order=True)
    )


def with_status(current: pl.DataFrame, history: pl.DataFrame, month: str) -> pl.DataFrame:
    """Month `month`'s rows: current problems as new/open, and last month's open ones that no longer fail as
    resolved. `history` holds the table's rows of earlier months. Pure."""
    seen = (
        history.sort("registry_month")
        .group_by("query_id")
        .agg(pl.col("first_seen_month").min(), pl.all().exclude("first_seen_month").last())
    )
    current = current.drop(
        [c for c in ("registry_month", "status", "first_seen_month", "resolved_month") if c in current.columns]
    )
    cur = current.join(seen.select("query_id", "first_seen_month"), on="query_id", how="left").with_columns(
        registry_month=pl.lit(month),
        resolved_month=pl.lit(None, pl.Utf8),
        status=pl.when(pl.col("first_seen_month").is_null()).then(pl.lit("new")).otherwise(pl.lit("open")),
        first_seen_month=pl.coalesce("first_seen_month", pl.lit(month)),
    )
    gone = seen.filter((pl.col("status") != "resolved") & ~pl.col("query_id").is_in(current["query_id"].implode()))
    gone = gone.with_columns(registry_month=pl.lit(month), status=pl.lit("resolved"), resolved_month=pl.lit(month))
    cols = list(QUERY_COLUMNS)
    return pl.concat(
        [cur.select(cols).cast(pl.Schema(QUERY_COLUMNS)), gone.select(cols).cast(pl.Schema(QUERY_COLUMNS))]
    ).sort("site_code", "source", "rule", "query_id")


def query_history(con, month: str) -> pl.DataFrame:
    """What with_status needs of the months before `month`, one row per query id instead of one per query and
    month: its latest row, with its earliest first_seen_month (with_status takes the same two from every row, so
    its result is the same; the months stay in the warehouse)."""
    return con.sql(
        f"""with h as (select * from {SITE_QUERIES} where registry_month < $m),
            q as (select query_id, min(first_seen_month) as first_seen, max(registry_month) as registry_month
                  from h group by query_id)
            select h.* replace (q.first_seen as first_seen_month) from h join q using (query_id, registry_month)""",
        params={"m": month},
    ).pl()


def build_site_queries(con, month: str) -> pl.DataFrame:
    """Rebuild registry month `month` of audit.site_queries (replacing its rows) and return them."""
    con.execute("create schema if not exists audit")
    con.execute(
        f"create table if not exists {SITE_QUERIES} ("
        + ", ".join(f"{c} {'BIGINT' if t == pl.Int64 else 'VARCHAR'}" for c, t in QUERY_COLUMNS.items())
        + ", primary key (query_id, registry_month))"
    )
    rows = with_status(current_problems(con, month), query_history(con, month).cast(pl.Schema(QUERY_COLUMNS)), month)
    con.register("_site_queries", rows.to_arrow())
    try:
        con.execute("begin transaction")
        con.execute(f"delete from {SITE_QUERIES} where registry_month = ?", [month])
        con.execute(f"insert into {SITE_QUERIES} select {', '.join(QUERY_COLUMNS)} from _site_queries")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_site_queries")
    return rows
