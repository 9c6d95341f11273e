"""AE-versus-lab (CTCAE) and seriousness (ICH E2A) rules: each has a fixture that passes with records actually
checked, and one that breaks it. The clean warehouse has one NEUTROPENIA AE (grade 2, CTCAE v5.0, day 10-20) and
one ANC value (day 14) per patient; CRS / ICANS / AE are reported serious."""

import pytest

from expectations.runner import run_rules
from expectations.suites import all_rules
from expectations.suites.consistency import ctcae_lab_cutoffs

RULES = {r.name: r for r in all_rules()}

# rule -> (SQL making a consistent record that the rule checks, SQL making it inconsistent)
CASES = {
    # CTCAE v5.0 neutropenia: ANC 0.8 (< 1.0) = grade 3; 0.3 (< 0.5) = grade 4
    "staging.stg_adverse_event.neutropenia_grade_vs_lab_nadir": (
        ["update staging.stg_adverse_event set ctcae_grade = 3", "update staging.stg_lab set value = 0.8"],
        ["update staging.stg_adverse_event set ctcae_grade = 3", "update staging.stg_lab set value = 0.3"],
    ),
    # platelets 40 (< 50) = grade 3; 20 (< 25) = grade 4
    "staging.stg_adverse_event.thrombocytopenia_grade_vs_lab_nadir": (
        [
            "update staging.stg_adverse_event set ae_term = 'THROMBOCYTOPENIA', ctcae_grade = 3",
            "update staging.stg_lab set analyte = 'PLT', value = 40",
        ],
        [
            "update staging.stg_adverse_event set ae_term = 'THROMBOCYTOPENIA', ctcae_grade = 3",
            "update staging.stg_lab set analyte = 'PLT', value = 20",
        ],
    ),
    # haemoglobin 9.0 (< 10) = grade 2; 7.5 (< 8) = grade 3
    "staging.stg_adverse_event.anemia_grade_vs_lab_nadir": (
        [
            "update staging.stg_adverse_event set ae_term = 'ANEMIA', ctcae_grade = 2",
            "update staging.stg_lab set analyte = 'HGB', value = 9.0",
        ],
        [
            "update staging.stg_adverse_event set ae_term = 'ANEMIA', ctcae_grade = 2",
            "update staging.stg_lab set analyte = 'HGB', value = 7.5",
        ],
    ),
    **{
        f"staging.stg_{f}.grade4plus_reported_serious": (
            [f"update staging.stg_{f} set {g} = 4, serious = 'Y'"],
            [f"update staging.stg_{f} set {g} = 4, serious = 'N'"],
        )
        for f, g in (("crs", "astct_grade"), ("icans", "astct_grade"), ("adverse_event", "ctcae_grade"))
    },
}


def test_every_consistency_rule_has_cases():
    names = {n for n in RULES if n.endswith("_grade_vs_lab_nadir") or n.endswith("grade4plus_reported_serious")}
    assert names == set(CASES)
    # one rule per AE term of the seed (the suite hard-codes no cut-off)
    assert {r[0] for r in ctcae_lab_cutoffs()} == {"NEUTROPENIA", "THROMBOCYTOPENIA", "ANEMIA"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_consistent_record_passes(con, name):
    for sql in CASES[name][0]:
        con.execute(sql)
    (o,) = run_rules(con, [RULES[name]], "pass")
    assert o.error is None, o.error
    assert o.rows_checked > 0 and o.passed and o.rows_failing == 0, o.describe()


@pytest.mark.parametrize("name", sorted(CASES))
def test_inconsistent_record_fails_and_is_queried(con, name):
    for sql in CASES[name][1]:
        con.execute(sql)
    (o,) = run_rules(con, [RULES[name]], "fail")
    assert o.error is None, o.error
    assert not o.passed and o.rows_failing == o.rows_checked > 0
    assert not o.blocking  # a site query, never a release blocker or a silent re-grade
    assert all(set(k) == {"site_code", "record_id"} for k in o.failing_records)


def test_lab_window_ends_at_resolution(con):
    """A nadir after the AE resolved does not count against its grade."""
    con.execute("update staging.stg_adverse_event set ctcae_grade = 2")
    con.execute("update staging.stg_lab set value = 0.3, lab_date = lab_date + 30")  # day 44, AE ended day 20
    (o,) = run_rules(con, [RULES["staging.stg_adverse_event.neutropenia_grade_vs_lab_nadir"]], "window")
    assert o.rows_checked == 0 and o.passed
