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
