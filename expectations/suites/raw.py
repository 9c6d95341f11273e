"""Raw-layer suite: what ingest does not check row by row, one frame (one GX validation) per raw table.

One rule, one place, one execution: ingest validates every submitted row against the dictionary (types, required
and required-if fields, code lists, patterns, ranges, range-by / allowed-by attributes, date orders) and
quarantines the rows that fail (audit.quarantine is the record of those checks). The raw gate does not re-run
them. It checks what no single row can show: the table's schema (the contract downstream casts rely on) and the
type-2 version history ingest keeps (ARCHITECTURE.md raw.<form> contract). A failure here is a loader bug, not a
site's bad data, so none is allowed.

The raw tables of the declared sources' forms (national linkage returns) are checked by their own gate
(`linkage_tables`; orchestration/checks.py), with the linkage rules below: what the pipeline relies on when it
reads a return (a completeness date per national source, never after the return's month; every row keyed to a
registered patient; one current version per record, i.e. no duplicate record ID).

All four rules of a table share one SQL frame (rules with the same frame are validated in one GX run), each rule
on its own boolean column, NULL on the rows it does not check: GX column-map expectations skip NULLs.
"""

from __future__ import annotations

from expectations.config import RAW_COMMON_TYPES, RAW_ID_COLUMNS, RAW_LINEAGE_COLUMNS, RAW_TYPE_MAP, raw_table
from expectations.rules import Rule, rule

_IDS = ", ".join(RAW_ID_COLUMNS)
_WHOLE = "rows between unbounded preceding and unbounded following"


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _frame_sql(dictionary, form_name: str) -> str:
    """One row per accepted row (the version checks) plus one row per expected column (the schema check)."""
    table = raw_table(form_name)
    expected = dict(RAW_COMMON_TYPES)
    expected.update({f.name: RAW_TYPE_MAP[f.type] for f in dictionary.forms[form_name].fields})
    expected.update(RAW_LINEAGE_COLUMNS)
    values = ", ".join(f"({_lit(c)}, {_lit(t)})" for c, t in expected.items())
    schema, tname = table.split(".")
    return f"""
    with expected(column_name, expected_type) as (values {values}),
    actual as (select column_name, data_type from information_schema.columns
               where table_schema = {_lit(schema)} and table_name = {_lit(tname)}),
    multi as (  -- records with several rows, by hashed key: a collision only sends a one-row record to the window
        select hash(site_code, record_id) as h from {table} group by h having count(*) > 1),
    versions as (  -- one window (one sort) per record: the peers of a row's _version are its key duplicates
        select {_IDS},
               count(*) over (w range between current row and current row) = 1 as ok_version_key_unique,
               -- one value per record (on its first row): exactly one current version
               case when row_number() over w = 1
                    then count(*) filter (where _is_current) over (w {_WHOLE}) = 1
               end as ok_one_current_version,
               coalesce(_is_current = (_valid_to_month is null)
                        and (not _is_current or _version = max(_version) over (w {_WHOLE})),
                        false) as ok_current_iff_open_validity
        from {table} semi join multi on hash(site_code, record_id) = multi.h
        window w as (partition by site_code, record_id order by _version)
        union all  -- a record of one row, the same three values without the window: no duplicate key, current
        -- iff flagged so, and the highest version unless NULL (NULL = NULL is not true, as above)
        select {_IDS}, true, coalesce(_is_current, false),
               coalesce(_is_current = (_valid_to_month is null) and (not _is_current or _version is not null), false)
        from {table} anti join multi on hash(site_code, record_id) = multi.h)
    select {_IDS}, ok_version_key_unique, ok_one_current_version, ok_current_iff_open_validity,
           null::varchar as column_name, null::boolean as ok_column_types
    from versions
    union all
    select null, null, null, null, null, null, e.column_name,
           coalesce(list_contains(string_split(e.expected_type, '|'), a.data_type), false)
    from expected e left join actual a using (column_name)"""


def _rule(table: str, frame: str, name: str, subcategory: str, reason: str, **kw) -> Rule:
    """One of a raw table's schema and version rules: their shared frame carries a boolean `ok_<name>` each."""
    category = "conformance" if name in ("column_types", "current_iff_open_validity") else "plausibility"
    return rule(
        table,
        name,
        category=category,
        subcategory=subcategory,
        reason=reason,
        query=frame,
        ok_column=f"ok_{name}",
        **kw,
    )


def linkage_tables(dictionary) -> set[str]:
    """raw tables of the declared sources' forms (linkage returns): checked by the linkage gate."""
    return {raw_table(n) for n, f in dictionary.forms.items() if not f.is_site_form}


def linkage_rules(dictionary) -> list[Rule]:
    """The linkage gate's own rules (the schema and version rules of `rules` apply to these tables too)."""
    out: list[Rule] = []
    completeness = [n for n, f in dictionary.forms.items() if not f.is_site_form and not f.patient_level]
    event_forms = [n for n, f in dictionary.forms.items() if not f.is_site_form and f.patient_level]
    for form in completeness:
        table = raw_table(form)
        source = dictionary.forms[form].source
        codes = ", ".join(f"({_lit(c)})" for c in dictionary.codes("linkage_source"))
        any_return = " or ".join(f"exists (select 1 from {raw_table(f)})" for f in completeness + event_forms)
        out += [
            rule(
                table,
                "complete_through_per_source",
                category="completeness",
                subcategory="atemporal",
                reason="Every national source (code list linkage_source) has a date through which it is complete once "
                "linkage returns arrive: OS is censored at it (os_censor_at_linkage_completeness), so a source "
                "without one would silently fall back to last contact.",
                query=f"""select {_lit(source)} as site_code, s.linkage_source,
                           exists (select 1 from {table} c
                                   where c.linkage_source = s.linkage_source and c._is_current
                                     and c.record_action = 'U' and c.complete_through is not null) as ok
                    from (values {codes}) as s(linkage_source)
                    where {any_return}""",
                id_columns=("site_code", "linkage_source"),
            ),
            rule(
                table,
                "complete_through_by_return_month",
                category="plausibility",
                subcategory="temporal",
                reason="A return cannot be complete past the end of its own month, so no completeness date passes the "
                "data cut-off of any registry month that reads the return (that month or a later one).",
                query=f"""select site_code, record_id, _version,
                           complete_through <= last_day(strptime(submission_month || '-01', '%Y-%m-%d')) as ok
                    from {table}
                    where _is_current and record_action = 'U' and complete_through is not null""",
                id_columns=RAW_ID_COLUMNS,
            ),
        ]
    for form in event_forms:
        table = raw_table(form)
        out.append(
            rule(
                table,
                "patient_key_registered",
                category="conformance",
                subcategory="relational",
                reason="Every linkage row is keyed to a patient the registry registered (the agency links only the "
                "patients it is sent); ingest quarantines any other (rule unregistered_patient), so a failure here "
                "is a loader bug.",
                query=f"""select site_code, record_id, _version,
                           coalesce(patient_key in (select patient_key from {raw_table("registration")}), false) as ok
                    from {table}""",
                id_columns=RAW_ID_COLUMNS,
            )
        )
    return out


def rules(dictionary) -> list[Rule]:
    out: list[Rule] = linkage_rules(dictionary)
    for form_name in dictionary.forms:
        table = raw_table(form_name)
        frame = _frame_sql(dictionary, form_name)
        out += [
            _rule(
                table,
                frame,
                "column_types",
                "value",
                "Every dictionary field and lineage column exists with the type ingest promises "
                "(date->DATE, integer->BIGINT, decimal->DOUBLE, else VARCHAR); downstream casts rely on it.",
                id_columns=("column_name",),
                site_column=None,
                source="dictionary",
            ),
            _rule(
                table,
                frame,
                "version_key_unique",
                "uniqueness",
                "site_code + record_id + _version identifies one accepted row; a duplicate means a file was "
                "loaded twice or versions were numbered wrongly.",
                id_columns=RAW_ID_COLUMNS,
            ),
            _rule(
                table,
                frame,
                "one_current_version",
                "uniqueness",
                "Exactly one current version per site_code + record_id: staging reads _is_current, so zero "
                "loses a record and two duplicate it.",
                id_columns=("site_code", "record_id"),
            ),
            _rule(
                table,
                frame,
                "current_iff_open_validity",
                "computational",
                "_is_current must equal (_valid_to_month IS NULL), and the current version must be the "
                "highest _version: the history is a clean type-2 chain.",
                id_columns=RAW_ID_COLUMNS,
            ),
        ]
    return out
