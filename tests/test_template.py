"""The site template is generated from the dictionary: read it back and compare."""

from __future__ import annotations

import openpyxl
import pytest

from kocartr.dictionary import load_dictionary
from kocartr.template import CODE_SHEET_COLUMNS, FIELD_SHEET_COLUMNS, write_template


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    path = tmp_path_factory.mktemp("tpl") / "template.xlsx"
    write_template(path)
    return openpyxl.load_workbook(path)


def test_sheets(workbook):
    d = load_dictionary()
    assert workbook.sheetnames == ["README", *d.site_forms, "fields", "code_lists"]


def test_form_headers_and_comments(workbook):
    d = load_dictionary()
    for form in d.site_forms:
        ws = workbook[form]
        header = [c.value for c in ws[1]]
        assert header == d.columns(form)
        for cell, f in zip(ws[1], d.all_fields(form)):
            assert cell.comment is not None and f"type: {f.type}" in cell.comment.text
            if f.unit:
                assert f.unit in cell.comment.text
        assert ws.max_row == 1  # no example rows: a filled sheet is a valid submission as is


def test_fields_sheet(workbook):
    d = load_dictionary()
    rows = list(workbook["fields"].iter_rows(values_only=True))
    assert list(rows[0]) == FIELD_SHEET_COLUMNS
    got = {(r[0], r[1]): dict(zip(FIELD_SHEET_COLUMNS, r)) for r in rows[1:]}
    assert len(got) == sum(len(d.all_fields(f)) for f in d.site_forms)
    f = d.form("lab").field("value")
    assert got[("lab", "value")]["range"].startswith("by analyte")
    pi = got[("product_infusion", "lot_number")]
    assert pi["required"] == "conditional" and "AXI_CEL" in pi["required_if"]
    assert got[("registration", "sex")]["label_ko"] == d.form("registration").field("sex").label_ko
    assert got[("baseline", "hematotox_hgb")]["unit"] == d.form("baseline").field("hematotox_hgb").unit
    assert f.range_by == "analyte"


def test_code_lists_sheet(workbook):
    d = load_dictionary()
    rows = list(workbook["code_lists"].iter_rows(values_only=True))
    assert list(rows[0]) == CODE_SHEET_COLUMNS
    got: dict[str, list[str]] = {}
    for r in rows[1:]:
        got.setdefault(r[0], []).append(r[1])
    assert got == {name: list(cl.values) for name, cl in d.code_lists.items()}


def test_readme(workbook):
    d = load_dictionary()
    text = "\n".join(str(r[0]) for r in workbook["README"].iter_rows(values_only=True) if r[0])
    assert f"Dictionary version: {d.version}" in text
    assert "YYYY-MM-DD" in text and "record_id" in text
