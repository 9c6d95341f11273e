"""Dictionary rules the generator needs, read from the dictionary (never restated), plus a row checker.

The checker is the generator's own self-test: every clean row must pass it, every injected defect row must fail
it for exactly the one injected reason. It mirrors the dictionary's documented semantics; the ingest validator
(kocartr.ingest) is the authority for real submissions.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from kocartr.dictionary import Dictionary, Field
from kocartr.privacy import looks_like_rrn

DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
COMMON_KEYS = ("site_code", "patient_id", "record_id", "submission_month", "action")


def allowed_values(d: Dictionary, form: str, field: Field, controlling_code: str) -> tuple[str, ...] | None:
    """Codes `field` may take when its `allowed_by` field holds `controlling_code`.

    None when the controlling code names no set (Dictionary.allowed_codes says where the sets live).
    """
    if field.allowed_by is None:
        return None
    return d.allowed_codes(field, _field_of(d, form, field.allowed_by)).get(controlling_code)


def range_of(d: Dictionary, form: str, field: Field, controlling_code: str) -> tuple[float | None, float | None]:
    """min/max for a `range_by` field: from the controlling code's attributes, else the field's own."""
    if field.range_by is None:
        return field.min, field.max
    clist = d.code_lists[_field_of(d, form, field.range_by).codes_from]
    return (clist.attribute(controlling_code, "min", field.min), clist.attribute(controlling_code, "max", field.max))


_CACHE: dict[int, dict] = {}


def _index(d: Dictionary) -> dict:
    """Per-dictionary lookups built once (check_row runs on every candidate defect row)."""
    got = _CACHE.get(id(d))
    if got is None or got["d"] is not d:
        fields = {(form, f.name): f for form in d.forms for f in d.all_fields(form)}
        got = {"d": d, "fields": fields, "codes": {k: frozenset(v.values) for k, v in d.code_lists.items()}}
        _CACHE[id(d)] = got
    return got


def _field_of(d: Dictionary, form: str, name: str) -> Field:
    return _index(d)["fields"][(form, name)]


def controlling_fields(d: Dictionary, form: str) -> set[str]:
    """Fields other fields depend on (required_if / allowed_by / range_by): blanking or corrupting one of them
    would turn one defect into several, so defect injection leaves them alone."""
    out: set[str] = set()
    for f in d.all_fields(form):
        out.update(f.required_if)
        for other in (f.allowed_by, f.range_by):
            if other:
                out.add(other)
    return out


def grade_of(d: Dictionary, code_list: str, code: str, key: str = "astct_grade") -> int:
    return int(d.code_lists[code_list].attribute(code, key))


def codes_by_grade(d: Dictionary, code_list: str, key: str = "astct_grade") -> dict[int, list[str]]:
    """Group a grading code list's codes by the grade their attribute implies."""
    out: dict[int, list[str]] = {}
    for c in d.code_lists[code_list].codes:
        out.setdefault(int(c.attributes[key]), []).append(c.code)
    return out


def _parse_date(v: str) -> dt.date | None:
    if not DATE_RE.fullmatch(v):
        return None
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        return None


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def check_row(
    d: Dictionary, form: str, row: dict[str, Any], site: str | None = None, month: str | None = None
) -> list[tuple[str, str]]:
    """Violations of one submitted row as (defect_class, field); empty for a valid row.

    Classes match defects.csv: missing_required, unknown_code, date_order, direct_identifier, plus
    invalid_value (type, range, pattern) and folder_mismatch, which the generator never injects.
    """

    def val(name: str) -> str:
        v = row.get(name)
        if v is None:
            return ""
        if isinstance(v, (dt.date, dt.datetime)):
            return v.strftime("%Y-%m-%d")
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    out: list[tuple[str, str]] = []
    fields = d.all_fields(form)
    for f in fields:
        v = val(f.name)
        if f.type in ("string", "text") and looks_like_rrn(v):
            out.append(("direct_identifier", f.name))
            continue
        if v == "":
            needed = f.required or any(val(o) in codes for o, codes in f.required_if.items())
            if needed:
                out.append(("missing_required", f.name))
            continue
        if f.type == "code":
            allowed = _index(d)["codes"][f.code_list]
            parts = v.split(";") if f.multiple else [v]
            if any(p not in allowed for p in parts):
                out.append(("unknown_code", f.name))
                continue
            if f.allowed_by and val(f.allowed_by):
                ok = allowed_values(d, form, f, val(f.allowed_by))
                if ok is not None and v not in ok:
                    out.append(("unknown_code", f.name))
        elif f.type == "date":
            if _parse_date(v) is None:
                out.append(("invalid_value", f.name))
        elif f.type in ("integer", "decimal"):
            x = _num(v)
            if x is None or (f.type == "integer" and not float(x).is_integer()):
                out.append(("invalid_value", f.name))
                continue
            lo, hi = range_of(d, form, f, val(f.range_by)) if f.range_by else (f.min, f.max)
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                out.append(("invalid_value", f.name))
        elif f.pattern and not re.fullmatch(f.pattern, v):
            out.append(("invalid_value", f.name))
    for a, b in d.form(form).date_order:
        da, db = _parse_date(val(a)), _parse_date(val(b))
        if da is not None and db is not None and da > db:
            out.append(("date_order", b))
    if site is not None and val("site_code") not in ("", site):
        out.append(("folder_mismatch", "site_code"))
    if month is not None and val("submission_month") not in ("", month):
        out.append(("folder_mismatch", "submission_month"))
    return out
