"""Raw-layer suite: what ingest does not check row by row, one frame (one GX validation) per raw table.

One rule, one place, one execution: ingest validates every submitted row against the dictionary (types, required
and required-if fields, code lists, patterns, ranges, range-by / allowed-by attributes, date orders) and
quarantines the rows that fail (audit.quarantine is the record of those checks). The raw gate does not re-run
them. It checks what no single row can show: the table's schema (the contract downstream casts rely on) and the
type-2 version history ingest keeps (ARCHITECTURE.md raw.<form> contract). A failure here is a loader bug, not a
site's bad data, so none is allowed.

All four rules of a table share one SQL frame (rules with the same frame are validated in one GX run), each rule
on its own boolean column, NULL on the rows it does not check: GX column-map expectations skip NULLs.
"""

from __future__ import annotations

from expectations.config import RAW_COMMON_TYPES, RAW_ID_COLUMNS, RAW_LINEAGE_COLUMNS, RAW_TYPE_MAP, raw_table
from expectations.rules import Rule

_IDS = ", ".join(RAW_ID_COLUMNS)


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
    versions as (
        select {_IDS},
               count(*) over (partition by {_IDS}) = 1 as ok_version_key_unique,
               -- one value per record (on its first row): exactly one current version
               case when row_number() over (partition by site_code, record_id order by _version) = 1
                    then count(*) filter (where _is_current) over (partition by site_code, record_id) = 1
               end as ok_one_current_version,
               coalesce(_is_current = (_valid_to_month is null)
                        and (not _is_current or _version = max(_version) over (partition by site_code, record_id)),
                        false) as ok_current_iff_open_validity
        from {table})
    select {_IDS}, ok_version_key_unique, ok_one_current_version, ok_current_iff_open_validity,
           null::varchar as column_name, null::boolean as ok_column_types
    from versions
    union all
    select null, null, null, null, null, null, e.column_name,
           coalesce(list_contains(string_split(e.expected_type, '|'), a.data_type), false)
    from expected e left join actual a using (column_name)"""


def _rule(table: str, frame: str, name: str, subcategory: str, reason: str, **kw) -> Rule:
    category = "conformance" if name in ("column_types", "current_iff_open_validity") else "plausibility"
    return Rule(
        name=f"{table}.{name}",
        layer="raw",
        table=table,
        category=category,
        subcategory=subcategory,
        severity="critical",
        max_failing_share=0.0,
        reason=reason,
        expectation="ExpectColumnValuesToBeInSet",
        kwargs={"column": f"ok_{name}", "value_set": [True]},
        query=frame,
        **kw,
    )


def rules(dictionary) -> list[Rule]:
    out: list[Rule] = []
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
