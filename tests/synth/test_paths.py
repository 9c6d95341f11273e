"""A sample-sized registry (400 patients, 5 sites, the sample's seed) exercises every path the pipeline must handle,
read back from the submitted files: re-infusion, several CRS / ICANS episodes, pregnancies,
late registration with and without a progression before it, a death reported on a follow-up form only, a death
with a fatal (grade 5) adverse event, new malignancies after a BCMA product."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from kocartr.synth import generate
from tests.synth.conftest import all_rows


@pytest.fixture(scope="module")
def sample_sized(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample400")
    generate(out, patients=400, sites=5, seed=20261124)
    return out


def _patients(rows: list[dict], **where) -> set[tuple[str, str]]:
    return {(r["site_code"], r["patient_id"]) for r in rows if all(r.get(k) == v for k, v in where.items())}


def test_every_path_in_a_sample_sized_set(sample_sized):
    out = sample_sized
    infusions = all_rows(out, "product_infusion")
    assert _patients(infusions, infusion_number="2"), "no re-infusion"
    for form in ("crs", "icans"):
        per_patient = Counter((r["site_code"], r["patient_id"]) for r in all_rows(out, form))
        assert max(per_patient.values()) >= 2, f"no patient with several {form} episodes"
    # ~2 expected at these rates (24 women aged 18-45, ~60 men aged 18-55, 1-5 years of follow-up): any subject.
    assert _patients(all_rows(out, "pregnancy")), "no pregnancy"

    deaths = _patients(all_rows(out, "death"))
    fu_dead = _patients(all_rows(out, "followup"), vital_status="DEAD")
    assert fu_dead - deaths, "no death reported on a follow-up form only"
    fatal = set()
    for form, col in (("adverse_event", "ctcae_grade"), ("crs", "astct_grade"), ("icans", "astct_grade")):
        fatal |= _patients(all_rows(out, form), **{col: "5"})
    assert fatal & deaths, "no death with a fatal adverse event"

    truth = pl.read_parquet(out / "ground_truth" / "patients.parquet").filter(
        pl.col("in_registry") & pl.col("registered_late")
    )
    prior = truth.filter(pl.col("progression_date") < pl.col("enrolment_date")).height
    assert prior > 0 and truth.height - prior > 0, "late registration with and without a prior progression"

    spm = pl.read_parquet(out / "ground_truth" / "patients.parquet").filter(
        pl.col("in_registry") & pl.col("spm_date").is_not_null()
    )
    assert set(spm["product"]) >= {"CILTA_CEL"}, "no new malignancy after a BCMA product"
