"""A third of the patients die before their infusion: the run stops before the analyses and names the check."""

import pytest
import warehouse

from expectations.runner import QualityGateFailed, gate, run_layer

LAYERS_BEFORE_ANALYSES = ("raw", "staging", "marts", "adam")


def materialize(con, analyses):
    """The pipeline's order: each layer's blocking checks gate everything after it."""
    for layer in LAYERS_BEFORE_ANALYSES:
        gate(run_layer(con, layer, "scenario"))
    analyses()


@pytest.fixture()
def third_dead_before_infusion():
    con = warehouse.build(n=27)
    # a third of the patients (9 of 27: 3 per site) get a death date 10 days before their infusion
    con.execute("delete from raw.death")
    con.execute("""insert into raw.death by name
                   select p.site_code, p.patient_key, 'dea-' || substr(p.record_id, 5) as record_id,
                          p.submission_month, 'U' as record_action, p.infusion_date - 10 as death_date,
                          'INFECTION' as primary_cause, p._source_file, p._source_row, p._file_sha256, 1 as _version,
                          p._valid_from_month, null as _valid_to_month, true as _is_current
                   from raw.product_infusion p where cast(substr(p.record_id, 5) as integer) // 3 % 3 = 0""")
    # downstream layers rebuilt from raw the way dbt would
    con.execute("delete from staging.stg_death")
    con.execute(
        "insert into staging.stg_death by name select site_code, patient_key, record_id, submission_month, "
        "death_date, primary_cause, contributing_causes, autopsy from raw.death"
    )
    con.execute("""update adam.adsl set DTHDT = d.death_date, DTHFL = 'Y' from staging.stg_death d
                   where d.patient_key = adam.adsl.USUBJID""")
    yield con
    con.close()


def test_run_stops_before_analyses_and_names_the_check(third_dead_before_infusion):
    con = third_dead_before_infusion
    ran = []
    with pytest.raises(QualityGateFailed) as info:
        materialize(con, lambda: ran.append("analyses"))
    assert ran == []  # the analyses never ran
    failed = {o.name: o for o in info.value.outcomes}
    o = failed["staging.stg_death.death_on_or_after_infusion"]
    assert o.blocking and not o.passed and o.error is None
    assert (o.rows_checked, o.rows_failing) == (9, 9)
    assert sorted(o.failing_sites) == ["S01", "S02", "S03"]
    assert "staging.stg_death.death_on_or_after_infusion" in str(info.value)
    assert "S01" in str(info.value)
    # raw was fine (the loader kept its promises): the gate closed at staging
    assert all(name.startswith("staging.") for name in failed)
    # the ADaM gate would have caught it too, had staging let it through
    adsl = {x.name: x for x in run_layer(con, "adam", "scenario")}
    assert not adsl["adam.adsl.death_on_or_after_infusion"].passed
    assert not adsl["adam.adsl.death_on_or_after_last_contact"].passed
