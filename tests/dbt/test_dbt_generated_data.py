"""dbt build on a generated-and-ingested submission set (kocartr synth + kocartr ingest, a few hundred patients):
everything builds and passes, every endpoint re-derives from the timeline, the follow-up schedule is complete."""

from __future__ import annotations

import random

import duckdb
import pytest
from dbt_rederive import adtte_rows, rederive
from dbt_runner import run_dbt

synth = pytest.importorskip("kocartr.synth")
ingest_mod = pytest.importorskip("kocartr.ingest")

N_PATIENTS = 300


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    work = tmp_path_factory.mktemp("dbt_generated")
    synth.generate(work / "gen", patients=N_PATIENTS, sites=6, seed=11)
    warehouse = work / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        ingest_mod.ingest(con, work / "gen" / "submissions", ingest_mod.load_key(demo=True))
    finally:
        con.close()
    # the generator's last month (synth default) is the cut-off: a build without one fails by design
    result = run_dbt(["build"], warehouse, work, cutoff="2026-10-31")
    assert result.returncode == 0, result.stdout[-8000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    yield con
    con.close()


def test_generated_set_builds_every_layer(generated):
    for table in (
        "marts.dim_patient",
        "marts.fct_infusion",
        "marts.fct_patient_timeline",
        "adam.adsl",
        "adam.adtte",
        "adam.adae",
        "marts.fct_followup_schedule",
    ):
        assert generated.sql(f"select count(*) from {table}").fetchall()[0][0] > 0, table
    n_adsl = generated.sql("select count(*) from adam.adsl").fetchall()[0][0]
    assert 0.8 * N_PATIENTS <= n_adsl <= N_PATIENTS


def test_endpoints_rederive_from_timeline_for_sampled_patients(generated):
    patients = [p for (p,) in generated.sql("select USUBJID from adam.adsl order by USUBJID").fetchall()]
    sample = random.Random(5).sample(patients, 60)
    # add the patients with the rarer event paths (competing events, SPM, never infused)
    sample += [
        p
        for (p,) in generated.sql(
            "select distinct USUBJID from adam.adtte where (PARAMCD in ('NRM', 'SPM') and CNSR = 0) "
            "or CMPEVFL = 'Y' union select USUBJID from adam.adsl where DTHSRC <> 'death' "
            "union select USUBJID from adam.adsl where INFFL = 'N'"
        ).fetchall()
    ]
    for p in sorted(set(sample)):
        assert rederive(generated, p) == adtte_rows(generated, p), p


def test_followup_schedule_accounts_for_every_expected_visit(generated):
    missing = generated.sql("""
        select count(*) from marts.dim_patient p cross join seeds.followup_schedule s
        anti join marts.fct_followup_schedule f on f.patient_key = p.patient_key and f.timepoint = s.timepoint
        where p.is_infused""").fetchall()[0][0]
    assert missing == 0
    n_infused = generated.sql("select count(*) from marts.dim_patient where is_infused").fetchall()[0][0]
    n_visits = generated.sql("select count(*) from marts.fct_followup_schedule").fetchall()[0][0]
    n_track = generated.sql("select count(*) from seeds.followup_schedule").fetchall()[0][0]
    assert n_visits == n_infused * n_track
