"""The generator's row checker reads its rules from the dictionary; synthetic RRNs are shaped right, never real."""

from __future__ import annotations

import numpy as np

from kocartr.dictionary import load_dictionary
from kocartr.privacy import RRN_RE
from kocartr.synth.defects import synthetic_rrn
from kocartr.synth.rules import allowed_values, check_row


def _lab(**kw):
    row = {
        "site_code": "S01",
        "patient_id": "S01-P00001",
        "record_id": "S01-P00001-LAB1",
        "submission_month": "2024-05",
        "action": None,
        "lab_date": "2024-04-02",
        "analyte": "ANC",
        "value": "1.25",
        "unit": None,
        "specimen": None,
    }
    d = load_dictionary()
    row["unit"] = d.code_lists["analyte"].attribute("ANC", "unit")
    row.update(kw)
    return row


def test_clean_lab_row_passes():
    d = load_dictionary()
    assert check_row(d, "lab", _lab(), "S01", "2024-05") == []


def test_rules_come_from_the_dictionary():
    d = load_dictionary()
    hi = d.code_lists["analyte"].attribute("ANC", "max")
    assert check_row(d, "lab", _lab(value=str(hi + 1))) == [("invalid_value", "value")]  # range_by analyte
    other_unit = next(u for u in d.codes("lab_unit") if u != d.code_lists["analyte"].attribute("ANC", "unit"))
    assert check_row(d, "lab", _lab(unit=other_unit)) == [("unknown_code", "unit")]  # allowed_by analyte
    assert check_row(d, "lab", _lab(analyte="NOPE", unit=None)) == [
        ("unknown_code", "analyte"),
        ("missing_required", "unit"),
    ]
    assert check_row(d, "lab", _lab(lab_date=None)) == [("missing_required", "lab_date")]
    assert check_row(d, "lab", _lab(patient_id="900101-1234567")) == [("direct_identifier", "patient_id")]
    assert check_row(d, "lab", _lab(), "S02", "2024-05") == [("folder_mismatch", "site_code")]
    lugano = allowed_values(d, "response", d.form("response").field("response"), "LUGANO_2014")
    assert lugano == tuple(d.code_lists["response_criteria"].attribute("LUGANO_2014", "responses").split(";"))


def test_synthetic_rrn_shape_and_bad_check_digit():
    rng = np.random.default_rng(0)
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    for _ in range(200):
        v = synthetic_rrn(rng)
        assert RRN_RE.fullmatch(v)
        digits = v.replace("-", "")
        check = (11 - sum(int(a) * w for a, w in zip(digits[:12], weights)) % 11) % 10
        assert int(digits[12]) != check
