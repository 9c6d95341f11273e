"""Late-effect data through the real pipeline (generated set -> ingest -> dbt): the new mart and ADaM columns are
populated. Reuses the session's pipeline run."""

from __future__ import annotations

import duckdb
import pytest


@pytest.fixture(scope="module")
def con(pipeline_run):
    result, warehouse, _ = pipeline_run
    c = duckdb.connect(str(warehouse), read_only=True)
    yield c
    c.close()


def _one(con, sql: str):
    return con.sql(sql).fetchall()[0]


def test_hospitalization_mart_has_exactly_the_shared_columns(con):
    cols = [r[0] for r in con.sql("describe marts.fct_hospitalization").fetchall()]
    assert cols == [
        "patient_key",
        "site_code",
        "admission_date",
        "discharge_date",
        "reason",
        "icu_flag",
        "admission_day",
        "discharge_day",
    ]
    n, n_inf, n_re, bad_day, bad_icu = _one(
        con,
        """select count(*), count(*) filter (where reason = 'INFUSION'), count(*) filter (where reason <> 'INFUSION'),
                  count(*) filter (where reason = 'INFUSION' and admission_day not between -7 and 0
                                   and admission_day < 30),
                  count(*) filter (where icu_flag not in ('Y', 'N'))
           from marts.fct_hospitalization""",
    )
    assert n > 0 and n_inf > 0 and n_re > 0 and bad_day == 0 and bad_icu == 0
    # day 0 = first infusion: discharge_day - admission_day is the length of stay
    assert _one(
        con,
        "select count(*) from marts.fct_hospitalization where discharge_day - admission_day "
        "<> date_diff('day', admission_date, discharge_date)",
    ) == (0,)


def test_infections_carry_organism_class_and_site_to_adae(con):
    n, with_org, with_site, graded, with_day = _one(
        con,
        """select count(*), count(AEORGCL), count(INFSITE), count(ATOXGRN), count(ASTDY)
           from adam.adae where AECAT = 'INFECTION'""",
    )
    assert n > 0 and with_org == n and with_site == n and graded == n and with_day == n
    assert _one(con, "select count(*) from adam.adae where AECAT <> 'INFECTION' and AEORGCL is not null") == (0,)


def test_immune_reconstitution_labs_reach_staging(con):
    rows = dict(
        con.sql(
            "select analyte, count(*) from staging.stg_lab where analyte in ('CD4', 'IGA', 'IGM') group by analyte"
        ).fetchall()
    )
    assert set(rows) == {"CD4", "IGA", "IGM"} and min(rows.values()) > 0


def test_vaccination_subsequent_therapy_and_lots_reach_the_marts(con):
    n, dated, tested = _one(
        con, "select count(*), count(vaccination_day), count(antibody_response) from marts.fct_vaccination"
    )
    assert n > 0 and dated > 0.9 * n and 0 < tested < n
    typed, given = _one(
        con,
        """select count(subsequent_therapy_type), count(*) from marts.fct_followup_schedule
           where subsequent_therapy = 'Y'""",
    )
    assert given > 0 and typed == given
    missing_lot = _one(
        con,
        """select count(*) from marts.fct_infusion
           where product_code in ('AXI_CEL', 'CILTA_CEL') and is_infused and lot_number is null""",
    )
    with_lot = _one(con, "select count(lot_number) from marts.fct_infusion")
    assert with_lot[0] > 0 and missing_lot[0] <= 0.05 * with_lot[0]
