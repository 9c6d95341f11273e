"""The shipped sample through the whole pipeline, as `make run` does it, reconciled with the generator's truth.

Every ADTTE and ADRS row of every patient without an injected defect must equal what a correct pipeline derives
from what the sites reported (kocartr.synth.endpoint_truth, an implementation independent of dbt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kocartr.paths import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from orchestration.runner import run_pipeline

    work = tmp_path_factory.mktemp("sample")
    result = run_pipeline(SAMPLE / "submissions", work / "warehouse.duckdb", work / "releases", demo=True)
    return result, work / "warehouse.duckdb"


@pytest.mark.slow
def test_sample_run_publishes_and_every_row_equals_the_truth(sample_run):
    from kocartr.ingest.privacy import DEMO_KEY
    from kocartr.synth.reconcile import adrs_mismatches, adtte_mismatches, summary

    result, warehouse = sample_run
    assert result.success and (Path(result.release_path) / "manifest.json").is_file()
    mismatches, compared = adtte_mismatches(warehouse, SAMPLE / "ground_truth", DEMO_KEY)
    assert compared > 2000 and mismatches.height == 0, summary(mismatches)
    responses, compared = adrs_mismatches(warehouse, SAMPLE / "ground_truth", DEMO_KEY)
    assert compared > 400 and responses.height == 0, responses.head(20)
