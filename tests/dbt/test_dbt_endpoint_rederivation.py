"""Every adtte endpoint re-derived by hand from fct_patient_timeline matches adam.adtte (fixture warehouse)."""

from __future__ import annotations

from dbt_rederive import adtte_rows, rederive


def test_every_fixture_patient_rederives(wh):
    patients = [p for (p,) in wh.sql("select USUBJID from adam.adsl order by 1").fetchall()]
    assert len(patients) == 6
    for p in patients:
        assert rederive(wh, p) == adtte_rows(wh, p), p
