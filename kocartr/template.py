"""The site submission template (XLSX), generated from the dictionary so it can never drift from validation.

Sheets: README, one per form (header row; each header cell carries a comment with type, unit, requirement and
the Korean label; code fields get a drop-down from the code list), `fields` (the field reference) and
`code_lists` (every code with labels and attributes).
"""

from __future__ import annotations

import json
from pathlib import Path

from kocartr.dictionary import Dictionary, Field, load_dictionary

FIELD_SHEET_COLUMNS = [
    "form",
    "field",
    "type",
    "required",
    "required_if",
    "code_list",
    "range",
    "unit",
    "cibmtr",
    "description",
    "label_ko",
    "pattern",
    "allowed_by",
    "multiple",
]
CODE_SHEET_COLUMNS = ["code_list", "code", "label", "label_ko", "attributes"]
DATA_ROWS = 1000  # rows that get drop-down validation on each form sheet


def _required_if(f: Field) -> str:
    return "; ".join(f"{k} in ({', '.join(v)})" for k, v in f.required_if.items())


def _range(f: Field) -> str:
    if f.range_by:
        return f"by {f.range_by} (code_lists attributes min/max)"
    if f.min is None and f.max is None:
        return ""
    return f"{'' if f.min is None else f.min} - {'' if f.max is None else f.max}"


def field_rows(d: Dictionary) -> list[list[str]]:
    rows = []
    for form in d.forms:
        for f in d.all_fields(form):
            rows.append(
                [
                    form,
                    f.name,
                    f.type + (" (several, ';')" if f.multiple else ""),
                    "yes" if f.required else ("conditional" if f.required_if else "no"),
                    _required_if(f),
                    f.code_list or "",
                    _range(f),
                    f.unit or "",
                    f.cibmtr or "",
                    f.description,
                    f.label_ko or "",
                    f.pattern or "",
                    f.allowed_by or "",
                    "yes" if f.multiple else "",
                ]
            )
    return rows


def _comment(f: Field) -> str:
    parts = [f"{f.label_ko or ''} {f.name}".strip(), f"type: {f.type}"]
    if f.type == "date":
        parts.append("format: YYYY-MM-DD")
    if f.code_list:
        parts.append(
            f"codes: sheet code_lists, list {f.code_list}" + (" (several, separated by ';')" if f.multiple else "")
        )
    if _range(f):
        parts.append(f"range: {_range(f)}")
    if f.unit:
        parts.append(f"unit: {f.unit}")
    if f.pattern:
        parts.append(f"pattern: {f.pattern}")
    parts.append("required" if f.required else (f"required if {_required_if(f)}" if f.required_if else "optional"))
    if f.is_free_text:
        parts.append("free text: never names, phone numbers or resident registration numbers")
    parts.append(f.description)
    return "\n".join(parts)


def _readme(d: Dictionary, raw_released: str | None) -> list[str]:
    return [
        "Ko-CARTR site submission template (한국 CAR-T 세포치료 레지스트리 제출 양식)",
        f"Dictionary version: {d.version}" + (f" (released {raw_released})" if raw_released else ""),
        "",
        "How to submit",
        "- One file per form and registry month: <SITE>/<YYYY-MM>/<form>.csv (UTF-8; CP949 is accepted) or .xlsx "
        "with one sheet named after the form (this workbook's form sheets are ready to fill).",
        "- Keep the header row exactly as given; one row per record from row 2.",
        "- Every row: site_code (your registry site code), patient_id (your pseudonymous ID, never a resident "
        "registration number), record_id (stable for the record in this form), submission_month (YYYY-MM).",
        "- To correct a record, send it again with the same record_id (action blank or U); to delete it, send "
        "the record_id with action D.",
        "- Dates: YYYY-MM-DD (YYYY.MM.DD, YYYYMMDD and Excel date cells are also accepted).",
        "- Codes: exactly as listed in the code_lists sheet (upper case); several codes where allowed are "
        "separated by ';'.",
        "- Free-text fields (type text) must not contain names, phone numbers or resident registration numbers "
        "(주민등록번호): a row with one is quarantined.",
        "- The fields sheet lists every field with its type, requirement, code list, range, unit and CIBMTR item.",
        "",
        "Sheets: README, " + ", ".join(d.forms) + ", fields, code_lists",
    ]


def write_template(path: Path) -> None:
    """Write the site submission template workbook for the current dictionary to `path`."""
    import xlsxwriter
    import yaml

    from kocartr.paths import DICTIONARY_FILE

    d = load_dictionary()
    with open(DICTIONARY_FILE, encoding="utf-8") as fh:
        released = yaml.safe_load(fh).get("released")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    req = wb.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    text_fmt = wb.add_format({"num_format": "@"})

    readme = wb.add_worksheet("README")
    readme.set_column(0, 0, 120)
    for r, line in enumerate(_readme(d, str(released) if released else None)):
        readme.write_string(r, 0, line, bold if r == 0 else None)

    # code_lists first in memory (drop-downs on form sheets point into it), added to the book last.
    code_rows: list[list[str]] = []
    spans: dict[str, tuple[int, int]] = {}
    for name, cl in d.code_lists.items():
        start = len(code_rows) + 2  # spreadsheet row of the first code (header is row 1)
        for c in cl.codes:
            code_rows.append(
                [
                    name,
                    c.code,
                    c.label,
                    c.label_ko or "",
                    json.dumps(c.attributes, ensure_ascii=False, sort_keys=True) if c.attributes else "",
                ]
            )
        spans[name] = (start, len(code_rows) + 1)

    for form in d.forms:
        ws = wb.add_worksheet(form[:31])
        for j, f in enumerate(d.all_fields(form)):
            ws.write_string(0, j, f.name, req if f.required else bold)
            ws.write_comment(0, j, _comment(f), {"x_scale": 2.5, "y_scale": 2.5})
            ws.set_column(
                j,
                j,
                max(12, len(f.name) + 2),
                date_fmt if f.type == "date" else (text_fmt if f.type in ("string", "code", "text") else None),
            )
            if f.type == "code" and not f.multiple:
                a, b = spans[f.codes_from]
                ws.data_validation(
                    1,
                    j,
                    DATA_ROWS,
                    j,
                    {"validate": "list", "source": f"=code_lists!$B${a}:$B${b}", "error_type": "warning"},
                )
        ws.freeze_panes(1, 0)

    fields = wb.add_worksheet("fields")
    fields.write_row(0, 0, FIELD_SHEET_COLUMNS, bold)
    for r, row in enumerate(field_rows(d), start=1):
        fields.write_row(r, 0, row)
    fields.freeze_panes(1, 2)
    fields.autofilter(0, 0, r, len(FIELD_SHEET_COLUMNS) - 1)

    codes = wb.add_worksheet("code_lists")
    codes.write_row(0, 0, CODE_SHEET_COLUMNS, bold)
    for r, row in enumerate(code_rows, start=1):
        codes.write_row(r, 0, row)
    codes.freeze_panes(1, 0)
    wb.close()
