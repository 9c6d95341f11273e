"""Validation of one form's rows against the data dictionary, vectorized with polars.

Everything a rule needs (types, required, required_if, code lists, allowed_by / range_by attributes, patterns,
ranges, date order) is read from the dictionary; nothing here names a field or a code. Each check is a boolean
expression over the whole frame (all files of a form at once); a row fails when any check is true, and every
true check becomes one quarantine row (field + rule), so a row can fail several.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from kocartr.dictionary import Dictionary, Field
from kocartr.ingest import messages
from kocartr.ingest.dates import DATE_EXPECTED, is_ambiguous_date, parse_date, parse_iso_date
from kocartr.ingest.reading import BAD_COLS, ROW
from kocartr.privacy import redact, rrn_expr

SOURCE_FILE = "_source_file"
FOLDER_SITE = "_folder_site"
FOLDER_MONTH = "_folder_month"
KEEP_IF_BLANK = "_has_unknown_value"
WITHHELD = "(withheld)"  # values never copied into the quarantine: site patient and record IDs, free text
RECORD_FIELD = "record_id"
ISSUE_SCHEMA = {
    SOURCE_FILE: pl.String,
    ROW: pl.Int64,
    "record_id": pl.String,
    "field": pl.String,
    "rule": pl.String,
    "value": pl.String,
    "expected": pl.String,
    "message_en": pl.String,
    "message_ko": pl.String,
}
_INT_RE = r"^[+-]?\d+(?:\.0+)?$"
_DEC_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
PATIENT_FIELD = "patient_id"
ACTION_FIELD = "action"


@dataclass(frozen=True)
class Check:
    field: str
    rule: str
    mask: pl.Expr
    expected: pl.Expr
    value: pl.Expr | None = None  # defaults to the field's raw value


def _t(name: str) -> str:
    return f"_t_{name}"


def _fmt(x: Any) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)


def _range_text(lo: Any, hi: Any, unit: str | None) -> str:
    parts = []
    if lo is not None:
        parts.append(f">= {_fmt(lo)}")
    if hi is not None:
        parts.append(f"<= {_fmt(hi)}")
    return " and ".join(parts) + (f" {unit}" if unit else "")


def _code_map(d: Dictionary, code_list: str) -> dict[str, str]:
    """Codes match case-insensitively after trimming; stored canonical (as the dictionary spells them)."""
    return {c.upper(): c for c in d.codes(code_list)}


def _allowed_attribute(d: Dictionary, f: Field, other: Field) -> dict[str, str]:
    """Other field's code -> allowed codes for f, ';'-joined (Dictionary.allowed_codes)."""
    return {code: ";".join(codes) for code, codes in d.allowed_codes(f, other).items()}


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null()


def clean(frame: pl.DataFrame, fields: tuple[Field, ...]) -> pl.DataFrame:
    """Trim stray spaces (not inside free text, kept exactly); blank -> null."""
    exprs = []
    for f in fields:
        c = pl.col(f.name)
        if f.is_free_text:
            exprs.append(pl.when(c.str.strip_chars() != "").then(c).alias(f.name))
        else:
            # Unicode White_Space: also the no-break and ideographic spaces of Korean exports. replace, not
            # when/then: the same values at half the cost.
            exprs.append(c.str.strip_chars().replace("", None).alias(f.name))
    return frame.with_columns(exprs)


def typed_exprs(d: Dictionary, fields: tuple[Field, ...]) -> list[pl.Expr]:
    """Typed / canonical value of each field as _t_<name> (null when blank or invalid), from columns `clean` has
    trimmed (a single code is not trimmed again)."""
    out = []
    for f in fields:
        c = pl.col(f.name)
        e: pl.Expr
        if f.type == "integer":
            e = pl.when(c.str.contains(_INT_RE)).then(c.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False))
        elif f.type == "decimal":
            v = pl.when(c.str.contains(_DEC_RE)).then(c.cast(pl.Float64, strict=False))
            e = pl.when(v.is_finite()).then(v)
        elif f.type == "date":
            e = parse_iso_date(c)  # the common case; other formats: _complete_dates
        elif f.type == "code":
            mapping = _code_map(d, f.codes_from)

            def canon(x: pl.Expr, mapping: dict[str, str] = mapping) -> pl.Expr:
                return x.str.to_uppercase().replace_strict(mapping, default=None, return_dtype=pl.String)

            if f.multiple:
                parts = c.str.split(";").list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
                mapped = parts.list.eval(canon(pl.element().str.strip_chars()))
                e = pl.when(mapped.list.eval(pl.element().is_null()).list.any().not_()).then(mapped.list.join(";"))
            else:
                e = canon(c)
        else:
            e = c
        out.append(e.alias(_t(f.name)))
    return out


def _type_checks(d: Dictionary, f: Field) -> list[Check]:
    """A present value that did not parse as the field's type (or match its pattern)."""
    c, t = pl.col(f.name), pl.col(_t(f.name))
    present = c.is_not_null()
    bad = present & t.is_null()
    expected = pl.lit(_expected_for(d, f))
    if f.type == "integer":
        return [Check(f.name, "invalid_integer", bad, expected)]
    if f.type == "decimal":
        return [Check(f.name, "invalid_decimal", bad, expected)]
    if f.type == "date":
        amb = is_ambiguous_date(c)
        return [
            Check(f.name, "ambiguous_date", bad & amb, pl.lit(DATE_EXPECTED)),
            Check(f.name, "invalid_date", bad & ~amb, pl.lit(DATE_EXPECTED)),
        ]
    if f.type == "code":
        return [Check(f.name, "unknown_code", bad, expected)]
    if f.type == "string" and f.pattern:
        matches = c.str.contains(f"^(?:{f.pattern})$")
        return [Check(f.name, "pattern", present & ~matches, pl.lit(f"text matching the pattern {f.pattern}"))]
    return []


def _range_checks(d: Dictionary, f: Field, by_name: dict[str, Field]) -> list[Check]:
    """Numeric limits: the field's own min/max, and limits that depend on another field's code (range_by)."""
    t = pl.col(_t(f.name))
    checks: list[Check] = []
    if f.type in ("integer", "decimal") and (f.min is not None or f.max is not None):
        out = pl.lit(False)
        if f.min is not None:
            out = out | (t < f.min)
        if f.max is not None:
            out = out | (t > f.max)
        checks.append(Check(f.name, "out_of_range", t.is_not_null() & out, pl.lit(_range_text(f.min, f.max, f.unit))))
    if f.range_by:
        ctl = by_name[f.range_by]
        cl = d.code_lists[ctl.codes_from]
        lo = {x.code: float(x.attributes["min"]) for x in cl.codes if "min" in x.attributes}
        hi = {x.code: float(x.attributes["max"]) for x in cl.codes if "max" in x.attributes}
        text = {
            x.code: f"{_range_text(lo.get(x.code), hi.get(x.code), x.attributes.get('unit'))} for {ctl.name} {x.code}"
            for x in cl.codes
            if x.code in lo or x.code in hi
        }
        oc = pl.col(_t(ctl.name))
        lo_e = oc.replace_strict(lo, default=None, return_dtype=pl.Float64)
        hi_e = oc.replace_strict(hi, default=None, return_dtype=pl.Float64)
        out = (lo_e.is_not_null() & (t < lo_e)) | (hi_e.is_not_null() & (t > hi_e))
        expected = oc.replace_strict(text, default=None, return_dtype=pl.String)
        checks.append(Check(f.name, "out_of_range", t.is_not_null() & out.fill_null(False), expected))
    return checks


def _allowed_by_check(d: Dictionary, f: Field, by_name: dict[str, Field]) -> list[Check]:
    """A code allowed only for some codes of another field (allowed_by)."""
    if not f.allowed_by:
        return []
    t, lit = pl.col(_t(f.name)), pl.lit
    ctl = by_name[f.allowed_by]
    oc = pl.col(_t(ctl.name))
    allowed_e = oc.replace_strict(_allowed_attribute(d, f, ctl), default=None, return_dtype=pl.String)
    ok = pl.concat_str([lit(";"), allowed_e, lit(";")]).str.contains(
        pl.concat_str([lit(";"), t, lit(";")]), literal=True
    )
    expected = pl.concat_str([lit("one of "), allowed_e.str.replace_all(";", ", "), lit(f" for {ctl.name} "), oc])
    return [Check(f.name, "code_not_allowed", t.is_not_null() & allowed_e.is_not_null() & ~ok, expected)]


def field_checks(d: Dictionary, f: Field, by_name: dict[str, Field], is_common: bool) -> list[Check]:
    checks: list[Check] = []
    if f.required:
        checks.append(Check(f.name, "required", _blank(f.name), pl.lit(_expected_for(d, f))))
    for other, codes in f.required_if.items():
        canon_codes = [_code_map(d, by_name[other].codes_from).get(x.upper(), x) for x in codes]
        cond = pl.col(_t(other)).is_in(canon_codes)
        expected = pl.lit(f"required when {other} is {' or '.join(canon_codes)}")
        checks.append(Check(f.name, "required_if", _blank(f.name) & cond, expected))
    checks += _type_checks(d, f) + _range_checks(d, f, by_name) + _allowed_by_check(d, f, by_name)
    if not is_common:
        # A delete (action D) needs only the common fields.
        checks = [Check(k.field, k.rule, k.mask & ~pl.col("_is_delete"), k.expected, k.value) for k in checks]
    return checks


def _expected_for(d: Dictionary, f: Field) -> str:
    if f.type == "code":
        codes = ", ".join(d.codes(f.codes_from))
        return f"one of {codes}" + (" (several separated by ';')" if f.multiple else "")
    if f.type == "date":
        return DATE_EXPECTED
    if f.type == "integer":
        return "a whole number" + (
            f" {_range_text(f.min, f.max, f.unit)}" if f.min is not None or f.max is not None else ""
        )
    if f.type == "decimal":
        return "a number" + (f" {_range_text(f.min, f.max, f.unit)}" if f.min is not None or f.max is not None else "")
    if f.pattern:
        return f"text matching the pattern {f.pattern}"
    return "a value"


def _message_expr(template: str, f: Field | None, field: str, expected: pl.Expr) -> pl.Expr:
    label_ko = (f.label_ko if f else None) or field
    filled = messages.render(template, field, label_ko, "\x00")
    pieces = filled.split("\x00")
    if len(pieces) == 1:
        return pl.lit(filled)
    parts: list[pl.Expr] = []
    for i, p in enumerate(pieces):
        if i:
            parts.append(expected.fill_null(""))
        parts.append(pl.lit(p))
    return pl.concat_str(parts)


def _on_subset(
    frame: pl.DataFrame, need: pl.Series, expr: pl.Expr, dtype: pl.DataType | type[pl.DataType]
) -> pl.Series | None:
    """Evaluate an expensive expression only on the rows that need it; null elsewhere."""
    if not need.any():
        return None
    idx = need.arg_true()
    values = frame.filter(need).select(expr.cast(dtype)).to_series()
    return pl.Series(values=[None] * frame.height, dtype=dtype).scatter(idx, values)


def _complete_dates(frame: pl.DataFrame, fields: tuple[Field, ...]) -> pl.DataFrame:
    """Dates the fast ISO parse left null (other export formats, serials) go through the full parser."""
    out = []
    for f in fields:
        if f.type != "date":
            continue
        need = frame.select(pl.col(f.name).is_not_null() & pl.col(_t(f.name)).is_null()).to_series()
        slow = _on_subset(frame, need, parse_date(pl.col(f.name)), pl.Date)
        if slow is not None:
            out.append(pl.coalesce(pl.col(_t(f.name)), pl.lit(slow)).alias(_t(f.name)))
    return frame.with_columns(out) if out else frame


def _first_rows(frame: pl.DataFrame) -> pl.Series:
    """Row number of the first occurrence of each (file, record_id), only where the pair repeats. A 64-bit hash
    finds the few candidate rows cheaply; the exact comparison runs on those alone."""
    rid = pl.col(_t("record_id"))
    key = rid.hash(seed=0) ^ pl.col(SOURCE_FILE).hash(seed=1)
    need = frame.select((key.is_duplicated() & rid.is_not_null()).fill_null(False)).to_series()
    first = _on_subset(frame, need, pl.col(ROW).min().over([SOURCE_FILE, rid]), pl.Int64)
    return first if first is not None else pl.Series(values=[None] * frame.height, dtype=pl.Int64)


def _prepare(frame: pl.DataFrame, d: Dictionary, form: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with typed columns, rows received per file). All-blank rows (spreadsheet exports trail them) hold
    nothing to lose: not counted, not checked."""
    fields = d.all_fields(form)
    frame = clean(frame, fields)
    blank = pl.all_horizontal(pl.col(f.name).is_null() for f in fields)
    if KEEP_IF_BLANK in frame.columns:
        blank = blank & ~pl.col(KEEP_IF_BLANK)
    frame = frame.filter(~blank)
    received = frame.group_by(SOURCE_FILE).len(name="n")
    # Typed / canonical values (null where blank or invalid); RRN screening runs on the text of every field.
    frame = _complete_dates(frame.with_columns(typed_exprs(d, fields)), fields)
    frame = frame.with_columns((pl.col(_t(ACTION_FIELD)).fill_null("U") == "D").alias("_is_delete"))
    # Duplicates: the first occurrence in the file is kept (computed before filtering, as a column).
    return frame.with_columns(_first_rows(frame).alias("_first_row")), received


def _row_checks(d: Dictionary, form: str) -> list[Check]:
    """Every check of a form's rows, in the order their issues are listed."""
    fm = d.form(form)
    fields = d.all_fields(form)
    by_name = {f.name: f for f in fields}
    common_names = {f.name for f in d.common_for(form)}
    no_rrn = pl.lit("no resident registration number in any field")
    checks = [Check(f.name, "direct_identifier", rrn_expr(pl.col(f.name)).fill_null(False), no_rrn) for f in fields]
    checks.append(
        Check(
            "(row)", "column_count", pl.col(BAD_COLS), pl.lit("as many columns as the header"), pl.lit(None, pl.String)
        )
    )
    for f in fields:
        checks.extend(field_checks(d, f, by_name, f.name in common_names))
    for a, b in fm.date_order:
        ta, tb = pl.col(_t(a)), pl.col(_t(b))
        checks.append(
            Check(
                b,
                "date_order",
                (ta > tb).fill_null(False) & ~pl.col("_is_delete"),
                pl.lit(f"{a} on or before {b}"),
                pl.concat_str([pl.lit(f"{a}="), pl.col(a), pl.lit(f"; {b}="), pl.col(b)]),
            )
        )
    first = pl.col("_first_row")
    source = pl.col(_t(fm.source_field))
    return checks + [
        Check("record_id", "duplicate_record", (pl.col(ROW) > first).fill_null(False), first.cast(pl.String)),
        Check(fm.source_field, "site_mismatch", (source != pl.col(FOLDER_SITE)).fill_null(False), pl.col(FOLDER_SITE)),
        Check(
            "submission_month",
            "month_mismatch",
            (pl.col("submission_month") != pl.col(FOLDER_MONTH)).fill_null(False),
            pl.col(FOLDER_MONTH),
        ),
    ]


def _issue_rows(hit: pl.DataFrame, k: Check, fld: Field | None) -> pl.DataFrame:
    """One issue per failing row: the value is withheld for identifiers and free text."""
    en, ko = messages.RULE_MESSAGES[k.rule]
    if k.value is not None:
        value = k.value
    elif k.field in (PATIENT_FIELD, "patient_key", RECORD_FIELD) or (fld is not None and fld.is_free_text):
        value = pl.lit(WITHHELD)
    else:
        value = pl.col(k.field)
    return hit.select(
        pl.col(SOURCE_FILE),
        pl.col(ROW),
        pl.col("record_id"),
        pl.lit(k.field).alias("field"),
        pl.lit(k.rule).alias("rule"),
        value.cast(pl.String).alias("value"),
        k.expected.cast(pl.String).alias("expected"),
        _message_expr(en, fld, k.field, k.expected).alias("message_en"),
        _message_expr(ko, fld, k.field, k.expected).alias("message_ko"),
    )


def _accepted_columns(d: Dictionary, form: str) -> list[pl.Expr]:
    """raw.<form> columns: site_code holds the submitter (a site code, or the declared source of a linkage return);
    a delete keeps only the common fields."""
    fm = d.form(form)
    patient = fm.patient_field if fm.patient_level else None
    out = [
        pl.col(_t(fm.source_field)).alias("site_code"),
        pl.col(_t(patient)).alias(patient) if patient else pl.lit(None, dtype=pl.String).alias("patient_key"),
        pl.col(_t("record_id")).alias("record_id"),
        pl.col(_t("submission_month")).alias("submission_month"),
        pl.col(_t(ACTION_FIELD)).fill_null("U").alias("record_action"),
    ]
    out += [pl.when(~pl.col("_is_delete")).then(pl.col(_t(f.name))).alias(f.name) for f in fm.fields]
    return out + [pl.col(SOURCE_FILE), pl.col(ROW)]


def validate_form(frame: pl.DataFrame, d: Dictionary, form: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(accepted rows with typed columns, issues, rows received per file). `frame` holds the form's dictionary
    columns as strings plus _source_file, _source_row, _column_count_bad, _folder_site, _folder_month and
    optionally KEEP_IF_BLANK (true where a row has content outside the dictionary's columns)."""
    by_name = {f.name: f for f in d.all_fields(form)}
    frame, received = _prepare(frame, d, form)
    checks = _row_checks(d, form)
    frame = frame.with_columns(k.mask.fill_null(False).alias(f"_m{i}") for i, k in enumerate(checks))
    masks = [f"_m{i}" for i in range(len(checks))]
    issues = []
    for mask, k in zip(masks, checks):
        hit = frame.filter(pl.col(mask))
        if hit.height:
            issues.append(_issue_rows(hit, k, by_name.get(k.field)))
    issues_df = pl.concat(issues) if issues else pl.DataFrame(schema=ISSUE_SCHEMA)
    # lazily: only the raw table's columns of the accepted rows are filtered, not every typed and mask column
    accepted = frame.lazy().filter(~pl.any_horizontal(masks)).select(_accepted_columns(d, form)).collect()
    return accepted, issues_df, received


def unknown_column_rrn_issues(frame: pl.DataFrame, unknown: dict[str, str]) -> pl.DataFrame:
    """RRN screening of columns that are not in the dictionary (they are dropped, but must not hide an RRN)."""
    out = []
    en, ko = messages.RULE_MESSAGES["direct_identifier"]
    for col, header in unknown.items():
        header = redact(header) or ""  # a header shaped like an RRN rejects the file; never echo one regardless
        hit = frame.filter(rrn_expr(pl.col(col)).fill_null(False))
        if hit.height:
            out.append(
                hit.select(
                    pl.col(SOURCE_FILE),
                    pl.col(ROW),
                    pl.col("record_id").str.strip_chars(),
                    pl.lit(header).alias("field"),
                    pl.lit("direct_identifier").alias("rule"),
                    pl.col(col).alias("value"),
                    pl.lit("no resident registration number in any field").alias("expected"),
                    pl.lit(messages.render(en, header, header)).alias("message_en"),
                    pl.lit(messages.render(ko, header, header)).alias("message_ko"),
                )
            )
    return pl.concat(out) if out else pl.DataFrame(schema=ISSUE_SCHEMA)


def unregistered_patient_issues(accepted: pl.DataFrame, registered: pl.Series) -> pl.DataFrame:
    """Linkage rows keyed to a patient the registry never registered: quarantined (the agency links only the
    patients the registry sends it, so such a row is a linkage error, never a patient to add)."""
    hit = accepted.filter(~pl.col("patient_key").is_in(registered.implode()))
    en, ko = messages.RULE_MESSAGES["unregistered_patient"]
    expected = "a patient key of raw.registration"
    return hit.select(
        pl.col(SOURCE_FILE),
        pl.col(ROW).cast(pl.Int64),
        pl.col("record_id"),
        pl.lit("patient_key").alias("field"),
        pl.lit("unregistered_patient").alias("rule"),
        pl.lit(WITHHELD).alias("value"),
        pl.lit(expected).alias("expected"),
        pl.lit(messages.render(en, "patient_key", None, expected)).alias("message_en"),
        pl.lit(messages.render(ko, "patient_key", None, expected)).alias("message_ko"),
    )
