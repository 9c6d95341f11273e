"""adam.adtte reconciled row by row with the generator's per-patient endpoint truth.

The truth (kocartr.synth.endpoint_truth) re-derives every endpoint from the records as reported by the cut-off,
independently of dbt; kocartr.synth.reconcile maps it to the ADaM encoding in one place. Patients with an
injected row defect are left out. One test per parameter, so a failure names the endpoint.

A several-thousand-patient reconciliation is benchmarks/reconcile_truth.py (too slow for the suite here).
"""

from __future__ import annotations

import polars as pl
import pytest

from expectations.config import ADTTE_PARAMCDS
from kocartr.ingest.privacy import DEMO_KEY
from kocartr.synth.reconcile import adrs_mismatches, adtte_mismatches


@pytest.fixture(scope="module")
def reconciled(pipeline_run, small_submissions):
    _, warehouse, _ = pipeline_run
    return adtte_mismatches(warehouse, small_submissions / "ground_truth", DEMO_KEY)


def test_truth_covers_the_reported_patients(reconciled, small_submissions):
    mismatches, compared = reconciled
    truth = pl.read_parquet(small_submissions / "ground_truth" / "endpoint_truth.parquet")
    clean = truth.filter(~pl.col("has_defect"))
    assert compared >= clean.height > 500  # every clean truth row was looked up in ADTTE
    assert clean["patient_id"].n_unique() > 60
    assert mismatches.filter(pl.col("kind") == "missing_in_truth").height == 0


@pytest.mark.parametrize("param", ADTTE_PARAMCDS)
def test_adtte_equals_truth(reconciled, param):
    mismatches, _ = reconciled
    bad = mismatches.filter(pl.col("PARAMCD") == param)
    assert bad.height == 0, bad.select(
        "patient_id", "kind", "STARTDT", "STARTDT_adtte", "AVAL", "AVAL_adtte", "CNSR", "CNSR_adtte"
    ).head(20)


def test_adrs_equals_truth(pipeline_run, small_submissions):
    _, warehouse, _ = pipeline_run
    got = adrs_mismatches(warehouse, small_submissions / "ground_truth", DEMO_KEY)
    assert got is not None, "adam.adrs is missing"
    mismatches, compared = got
    assert compared > 0
    assert mismatches.height == 0, mismatches.head(20)
