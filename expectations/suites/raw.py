"""Raw-layer suite: defence in depth that kocartr.ingest kept its promises.

Ingest validated every accepted row against the dictionary, so a failure here is a loader bug, not a site's bad
data: structural rules (types, code lists, versioning) allow no failing row; value-level rules allow 1% so that a
single odd record never holds a national release while the loader is fixed. Conformance, completeness and the
within-form ranges / date orders are GENERATED from data/dictionary/dictionary.yaml; versioning rules are written
by hand below.
"""

from __future__ import annotations

import re

from expectations.config import (
    RAW_ACTION_COLUMN,
    RAW_COMMON_TYPES,
    RAW_ID_COLUMNS,
    RAW_LINEAGE_COLUMNS,
    RAW_TYPE_MAP,
    raw_table,
)
from expectations.rules import Rule, ok_rule

VALUE_LEVEL_SHARE = 0.01
ACTIVE = f"{RAW_ACTION_COLUMN} = 'U'"  # delete rows carry only the common fields


def _lit(v: str) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _non_capturing(pattern: str) -> str:
    """Make groups non-capturing (same language; pandas warns on capturing groups in str.contains)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and not pattern.startswith("(?", i):
            ch = "(?:"
        out.append(ch)
        i += 1
    return "".join(out)


def _num(v) -> str:
    return repr(float(v))


def _regex_rule(table, col, regex, suffix, category, subcategory, share, reason, where) -> Rule:
    """Regex conformance evaluated by DuckDB (regexp_full_match), validated by GX on the boolean `ok`.

    GX's pandas regex metric converts the column to Python strings row by row (about 2 s per million rows and
    pattern, measured); DuckDB evaluates it in well under a second. The patterns are plain character classes and
    alternations, which RE2 (DuckDB) and Python `re` read alike."""
    filt = " and ".join(x for x in (where, f"{col} is not null") if x)
    return ok_rule(
        name=f"{table}.{col}.{suffix}",
        layer="raw",
        table=table,
        category=category,
        subcategory=subcategory,
        severity="critical",
        max_failing_share=share,
        reason=reason,
        id_columns=RAW_ID_COLUMNS,
        source="dictionary",
        query=f"select {', '.join(RAW_ID_COLUMNS)}, regexp_full_match({col}, {_lit(regex)}) as ok "
        f"from {table} where {filt}",
    )


def dictionary_rules(dictionary) -> list[Rule]:
    rules: list[Rule] = []
    common_names = {f.name for f in dictionary.common_fields + dictionary.linkage_common_fields}
    for form_name, form in dictionary.forms.items():
        table = raw_table(form_name)
        base = dict(layer="raw", table=table, id_columns=RAW_ID_COLUMNS, source="dictionary")

        # conformance (value): column types as ingest promised (dictionary type -> DuckDB type)
        expected = dict(RAW_COMMON_TYPES)
        expected.update({f.name: RAW_TYPE_MAP[f.type] for f in form.fields})
        expected.update(RAW_LINEAGE_COLUMNS)
        values = ", ".join(f"({_lit(c)}, {_lit(t)})" for c, t in expected.items())
        schema, tname = table.split(".")
        rules.append(
            ok_rule(
                name=f"{table}.column_types",
                category="conformance",
                subcategory="value",
                severity="critical",
                max_failing_share=0.0,
                site_column=None,
                id_columns=("column_name",),
                source="dictionary",
                layer="raw",
                table=table,
                reason="Every dictionary field and lineage column exists with the type ingest promises "
                "(date->DATE, integer->BIGINT, decimal->DOUBLE, else VARCHAR); downstream casts rely on it.",
                query=f"""
                with expected(column_name, expected_type) as (values {values}),
                actual as (select column_name, data_type from information_schema.columns
                           where table_schema = {_lit(schema)} and table_name = {_lit(tname)})
                select e.column_name,
                       coalesce(list_contains(string_split(e.expected_type, '|'), a.data_type), false) as ok
                from expected e left join actual a using (column_name)
                -- referencing the table makes the check ERROR (not pass, not fail) when it does not exist
                where (select count(*) from (select 1 from {table} limit 1)) >= 0""",
            )
        )

        for f in dictionary.all_fields(form_name):
            if f.name == "patient_id":  # never stored: replaced by patient_key (HMAC)
                continue
            col = RAW_ACTION_COLUMN if f.name == "action" else f.name
            col = "site_code" if f.name == "source_code" else col  # a linkage return's source lands in site_code
            where = None if f.name in common_names else ACTIVE
            if f.required:
                rules.append(
                    Rule(
                        name=f"{table}.{col}.not_null",
                        category="completeness",
                        subcategory="atemporal",
                        severity="critical",
                        max_failing_share=0.0 if f.name in common_names else VALUE_LEVEL_SHARE,
                        reason=f"dictionary: {f.name} is required (ingest quarantines rows without it).",
                        expectation="ExpectColumnValuesToNotBeNull",
                        kwargs={"column": col},
                        where=where,
                        **base,
                    )
                )
            if f.type == "code" and not f.multiple:
                codes = list(dictionary.codes(f.code_list))
                rules.append(
                    Rule(
                        name=f"{table}.{col}.in_code_list",
                        category="conformance",
                        subcategory="value",
                        severity="critical",
                        max_failing_share=0.0,
                        reason=f"dictionary: {f.name} takes codes of list '{f.code_list}' (canonical upper case); "
                        "an unknown code breaks joins to dictionary_codes downstream.",
                        expectation="ExpectColumnValuesToBeInSet",
                        kwargs={"column": col, "value_set": codes},
                        where=where,
                        **base,
                    )
                )
            elif f.type == "code" and f.multiple:
                alt = "|".join(re.escape(c) for c in dictionary.codes(f.code_list))
                rules.append(
                    _regex_rule(
                        table,
                        col,
                        f"^(?:{alt})(?:;(?:{alt}))*$",
                        "in_code_list",
                        "conformance",
                        "value",
                        0.0,
                        f"dictionary: {f.name} holds codes of list '{f.code_list}' joined by ';'.",
                        where,
                    )
                )
            if f.type == "string" and f.pattern:
                rules.append(
                    _regex_rule(
                        table,
                        col,
                        f"^(?:{_non_capturing(f.pattern)})$",
                        "pattern",
                        "conformance",
                        "value",
                        VALUE_LEVEL_SHARE,
                        f"dictionary: {f.name} must match {f.pattern}.",
                        where,
                    )
                )
            if f.type in ("integer", "decimal") and (f.min is not None or f.max is not None):
                kw = {"column": col}
                if f.min is not None:
                    kw["min_value"] = f.min
                if f.max is not None:
                    kw["max_value"] = f.max
                rules.append(
                    Rule(
                        name=f"{table}.{col}.range",
                        category="plausibility",
                        subcategory="atemporal",
                        severity="critical",
                        max_failing_share=VALUE_LEVEL_SHARE,
                        reason=f"dictionary: {f.name} within [{f.min}, {f.max}]{' ' + f.unit if f.unit else ''}.",
                        expectation="ExpectColumnValuesToBeBetween",
                        kwargs=kw,
                        where=where,
                        **base,
                    )
                )
            for other, codes in f.required_if.items():
                rules.append(
                    ok_rule(
                        name=f"{table}.{col}.required_if_{other}",
                        layer="raw",
                        table=table,
                        category="completeness",
                        subcategory="atemporal",
                        severity="critical",
                        max_failing_share=VALUE_LEVEL_SHARE,
                        id_columns=RAW_ID_COLUMNS,
                        source="dictionary",
                        reason=f"dictionary: {f.name} is required when {other} is one of {list(codes)}.",
                        query=f"""select {", ".join(RAW_ID_COLUMNS)}, {col} is not null as ok from {table}
                              where {ACTIVE} and {other} in ({", ".join(_lit(c) for c in codes)})""",
                    )
                )
            if f.range_by:
                cl = dictionary.code_lists[dictionary.form(form_name).field(f.range_by).code_list]
                cases = " ".join(
                    f"when {_lit(c.code)} then {col} between {_num(c.attributes['min'])} and {_num(c.attributes['max'])}"
                    for c in cl.codes
                    if "min" in c.attributes and "max" in c.attributes
                )
                rules.append(
                    ok_rule(
                        name=f"{table}.{col}.range_by_{f.range_by}",
                        layer="raw",
                        table=table,
                        category="plausibility",
                        subcategory="atemporal",
                        severity="critical",
                        max_failing_share=VALUE_LEVEL_SHARE,
                        id_columns=RAW_ID_COLUMNS,
                        source="dictionary",
                        reason=f"dictionary: {f.name} within the range of its {f.range_by} (code list '{cl.name}').",
                        query=f"""select {", ".join(RAW_ID_COLUMNS)},
                                     coalesce(case {f.range_by} {cases} else false end, false) as ok
                              from {table} where {ACTIVE} and {col} is not null""",
                    )
                )
            if f.allowed_by:
                by = dictionary.form(form_name).field(f.allowed_by)
                cl = dictionary.code_lists[by.code_list]
                branches = [
                    f"when {_lit(code)} then {col} in ({', '.join(_lit(a) for a in allowed)})"
                    for code, allowed in dictionary.allowed_codes(f, by).items()
                ]
                if branches:
                    rules.append(
                        ok_rule(
                            name=f"{table}.{col}.allowed_by_{f.allowed_by}",
                            layer="raw",
                            table=table,
                            category="conformance",
                            subcategory="relational",
                            severity="critical",
                            max_failing_share=VALUE_LEVEL_SHARE,
                            id_columns=RAW_ID_COLUMNS,
                            source="dictionary",
                            reason=f"dictionary: the codes allowed in {f.name} depend on {f.allowed_by} "
                            f"(attributes of code list '{cl.name}').",
                            query=f"""select {", ".join(RAW_ID_COLUMNS)},
                                         coalesce(case {f.allowed_by} {" ".join(branches)} else false end, false) as ok
                                  from {table} where {ACTIVE} and {col} is not null""",
                        )
                    )
        for a, b in form.date_order:
            rules.append(
                ok_rule(
                    name=f"{table}.{a}_le_{b}",
                    layer="raw",
                    table=table,
                    category="plausibility",
                    subcategory="temporal",
                    severity="critical",
                    max_failing_share=VALUE_LEVEL_SHARE,
                    id_columns=RAW_ID_COLUMNS,
                    source="dictionary",
                    reason=f"dictionary date_order: {a} <= {b} within a record.",
                    query=f"""select {", ".join(RAW_ID_COLUMNS)}, {a} <= {b} as ok from {table}
                          where {ACTIVE} and {a} is not null and {b} is not null""",
                )
            )
    return rules


def versioning_rules(dictionary) -> list[Rule]:
    """Hand rules: the version history ingest keeps (ARCHITECTURE.md raw.<form> contract)."""
    rules: list[Rule] = []
    for form_name in dictionary.forms:
        table = raw_table(form_name)
        rules.append(
            Rule(
                name=f"{table}.version_key_unique",
                layer="raw",
                table=table,
                category="plausibility",
                subcategory="uniqueness",
                severity="critical",
                max_failing_share=0.0,
                id_columns=RAW_ID_COLUMNS,
                reason="site_code + record_id + _version identifies one accepted row; a duplicate means a file was "
                "loaded twice or versions were numbered wrongly.",
                expectation="ExpectCompoundColumnsToBeUnique",
                kwargs={"column_list": list(RAW_ID_COLUMNS)},
            )
        )
        rules.append(
            ok_rule(
                name=f"{table}.one_current_version",
                layer="raw",
                table=table,
                category="plausibility",
                subcategory="uniqueness",
                severity="critical",
                max_failing_share=0.0,
                id_columns=("site_code", "record_id"),
                reason="Exactly one current version per site_code + record_id: staging reads _is_current, so zero "
                "loses a record and two duplicate it.",
                query=f"""select site_code, record_id, count(*) filter (where _is_current) = 1 as ok
                      from {table} group by site_code, record_id""",
            )
        )
        rules.append(
            ok_rule(
                name=f"{table}.current_iff_open_validity",
                layer="raw",
                table=table,
                category="conformance",
                subcategory="computational",
                severity="critical",
                max_failing_share=0.0,
                id_columns=RAW_ID_COLUMNS,
                reason="_is_current must equal (_valid_to_month IS NULL), and the current version must be the "
                "highest _version: the history is a clean type-2 chain.",
                query=f"""select {", ".join(RAW_ID_COLUMNS)},
                             coalesce(_is_current = (_valid_to_month is null)
                                      and (not _is_current or _version = max(_version) over
                                           (partition by site_code, record_id)), false) as ok
                      from {table}""",
            )
        )
    return rules


def rules(dictionary) -> list[Rule]:
    return dictionary_rules(dictionary) + versioning_rules(dictionary)
