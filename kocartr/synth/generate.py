"""generate(): the whole synthetic registry - submissions per site and month, and ground truth kept apart."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary, load_dictionary
from kocartr.synth import assemble, cohort, defects, endpoint_truth, forms, labgrades, late, linkage, truth, writer
from kocartr.synth import params as P


def _frames(d: Dictionary, c: cohort.Cohort, rng: np.random.Generator, last: int, seed: int) -> dict[str, pl.DataFrame]:
    labs = forms.latent_labs(c, rng)
    lrng = late.late_rng(seed)  # late-effect data draw apart: the main stream stays as it was
    labs.update(late.latent_labs(c, lrng, labs["b_rec"]))
    reg, upd = forms.registration(c, rng)
    built = {
        "baseline": forms.concat(forms.baseline(c, rng, labs), forms.baseline(c, rng, labs, second=True)),
        "product_infusion": forms.concat(
            forms.product_infusion(d, c, rng), forms.product_infusion(d, c, rng, second=True)
        ),
        "crs": forms.concat(forms.crs(d, c, rng), forms.crs(d, c, rng, forms.later_episodes(c, rng, "crs"))),
        "icans": forms.concat(forms.icans(d, c, rng), forms.icans(d, c, rng, forms.later_episodes(c, rng, "icans"))),
        "adverse_event": forms.adverse_event(c, rng, labs),
        "lab": forms.lab(d, c, rng, labs),
        "response": forms.response(d, c, rng),
        "followup": forms.followup(d, c, rng),
        "secondary_malignancy": forms.secondary_malignancy(c, rng),
        "pregnancy": forms.pregnancy(c, rng),
        "death": forms.death(c, rng),
    }
    built["lab"] = forms.concat(built["lab"], late.immune_labs(d, c, lrng, labs))
    built["adverse_event"] = forms.concat(built["adverse_event"], late.neuro_events(c, lrng))
    built["adverse_event"] = forms.concat(built["adverse_event"], late.late_infections(c, late.late_rng(seed, part=1)))
    built["adverse_event"] = labgrades.grade_from_labs(built["adverse_event"], built["lab"])
    built["hospitalization"] = late.hospitalization(c, lrng, built["adverse_event"], labs)
    built["vaccination"] = late.vaccination(c, lrng, labs)
    frames = {}
    reg_month = assemble.submission_month(c, reg, rng)
    reg_df = assemble.to_frame(d, "registration", c, reg, reg_month, last)
    # The update goes in a later file than the enrolment row: a record_id twice in one file is a duplicate.
    sent = np.zeros(len(c.enrol_day), np.int64)
    sent[reg.pidx] = reg_month
    upd_month = np.maximum(assemble.submission_month(c, upd, rng), sent[upd.pidx] + 1)
    upd_df = assemble.to_frame(d, "registration", c, upd, upd_month, last, ord_offset=reg_df.height)
    # The later registration row filling not_infused_reason repeats the record_id: logged as a correction.
    frames["registration"] = pl.concat(
        [
            reg_df.with_columns(pl.lit(None, pl.Utf8).alias("_defect"), pl.lit(None, pl.Utf8).alias("_dfield")),
            upd_df.with_columns(pl.lit("correction").alias("_defect"), pl.lit("not_infused_reason").alias("_dfield")),
        ]
    )
    for form, rows in built.items():
        frames[form] = assemble.to_frame(d, form, c, rows, assemble.submission_month(c, rows, rng), last)
    return frames


# Generator parameters recorded in ground_truth/params.json (params.py holds each with its source).
MODEL_PARAMS = (
    "PRODUCTS",
    "TOXICITY",
    "G5_GIVEN_G3",
    "EFFICACY",
    "NRM_LATE_PER_YEAR",
    "NRM_EARLY_SHAPE",
    "SPM_PER_YEAR",
    "SPM_MYELOID_BCMA",
    "SPM_CATEGORIES",
    "LTFU_PER_YEAR",
    "PREGNANCY_PER_YEAR",
    "FERTILE_AGES",
    "DEATH_FORM_MISSING",
    "FATAL_INFECTION_AE",
    "REINFUSION_AFTER_PROGRESSION",
    "CRS_AFTER_REINFUSION",
    "ICANS_RECURRENT",
    "ANC_COURSE",
    "HOSPITALIZATION",
    "IMMUNE",
    "NEURO",
    "SUBSEQUENT_THERAPY",
    "VACCINATION",
    "B_CELL_RECOVERY",
    "INFECTION",
    "NOT_INFUSED",
    "NOT_INFUSED_REASONS",
    "REGISTERED_LATE",
    "MISSED_VISIT",
    "LAG_DAYS",
    "DEFECT_MIX",
    "CORRECTION_RATE",
    "DELETION_RATE",
    "FILE_VARIANTS",
    "XLSX_MAX_ROWS",
)


def _params_json(d: Dictionary, c: cohort.Cohort, seed: int, arguments: dict) -> dict:
    """ground_truth/params.json: the arguments, the model's parameters and the true generating values."""
    return {
        "generator": "kocartr.synth",
        "dictionary_version": d.version,
        "arguments": arguments,
        "data_cutoff": str(np.datetime64(int(c.cutoff_day), "D")),
        "model": {k: getattr(P, k) for k in MODEL_PARAMS},
        "followup_windows_days": P.followup_windows(),
        "truth": truth.truth(c, seed),
    }


def _summary(
    out_dir: Path,
    arguments: dict,
    seed: int,
    n_files: int,
    link: dict,
    rows: dict[str, int],
    defect_df: pl.DataFrame,
    variant_df: pl.DataFrame,
) -> dict:
    counts = defect_df.group_by("defect_class").len().sort("defect_class")
    return {
        "out_dir": str(out_dir),
        "patients": arguments["patients"],
        "sites": arguments["sites"],
        "seed": seed,
        "months": [arguments["first_month"], arguments["last_month"]],
        "files": n_files,
        "linkage": link,
        "rows": rows,
        "rows_total": sum(rows.values()),
        "defects": dict(zip(counts["defect_class"].to_list(), counts["len"].to_list())),
        "file_variants": dict(variant_df.group_by("variant").len().sort("variant").iter_rows()),
    }


def generate(
    out_dir: Path,
    patients: int,
    sites: int,
    seed: int,
    first_month: str = "2021-04",
    last_month: str = "2026-10",
    defect_rate: float = 0.01,
) -> dict:
    """Write out_dir/submissions/<SITE>/<YYYY-MM>/<form>.csv|xlsx and out_dir/ground_truth/; return a summary.

    Deterministic: the same arguments give byte-identical files. `defect_rate` is the share of rows carrying
    one injected row defect (split by params.DEFECT_MIX); corrections and deletions have their own rates.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    arguments = {
        "patients": patients,
        "sites": sites,
        "first_month": first_month,
        "last_month": last_month,
        "defect_rate": defect_rate,
    }
    out_dir = Path(out_dir)
    d = load_dictionary()
    rng = np.random.default_rng(seed)
    last = cohort.month_index(last_month)
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        stages[name] = round(time.perf_counter() - t0 - sum(stages.values()), 2)

    c = cohort.build_cohort(d, rng, patients, sites, first_month, last_month)
    lap("cohort")
    frames = _frames(d, c, rng, last, seed)
    lap("forms")
    as_reported = frames  # before injected defects: what the sites reported (linkage finds the rest)
    frames = defects.inject(d, frames, rng, defect_rate, last)
    # Deaths no site is told of (own stream, drawn after the defects): their reports leave both sets of frames.
    never_told = linkage.unreported_deaths(c, as_reported, np.random.default_rng([seed, 8]))
    as_reported = linkage.drop_death_reports(c, as_reported, never_told)
    frames = linkage.drop_death_reports(c, frames, never_told)
    lap("defects")

    sub, gt = out_dir / "submissions", out_dir / "ground_truth"
    for p in (sub, gt):
        if p.exists():
            shutil.rmtree(p)
        p.mkdir(parents=True)
    defect_df, variant_df, n_files = writer.write_submissions(d, frames, sub, c.sites, rng)
    lap("write")
    # Own random stream: adding linkage changes no site file.
    link = linkage.write_linkage(
        d, c, as_reported, sub, gt, first_month, last_month, np.random.default_rng([seed, 7]), never_told=never_told
    )
    lap("linkage")

    defect_df.write_csv(gt / "defects.csv")
    variant_df.write_csv(gt / "files.csv")
    cohort.patients_frame(c).write_parquet(gt / "patients.parquet", statistics=False)
    # What a correct pipeline must derive from the records as reported, never read by the pipeline,
    # and from the national linkage returns as written to disk (deaths no site reported, completeness).
    returned = endpoint_truth.read_linkage(sub, last, int(c.cutoff_day))
    ep_truth, resp_truth = endpoint_truth.endpoint_truth(d, frames, c.sites, last, int(c.cutoff_day), returned)
    ep_truth.write_parquet(gt / "endpoint_truth.parquet", statistics=False)
    resp_truth.write_parquet(gt / "response_truth.parquet", statistics=False)
    lap("endpoint_truth")
    rows = {f: int(df.height) for f, df in frames.items()}
    params = _params_json(d, c, seed, {**arguments, "seed": seed})
    lap("truth")
    (gt / "params.json").write_text(
        json.dumps(params, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    summary = _summary(out_dir, arguments, seed, n_files, link, rows, defect_df, variant_df)
    return {
        **summary,
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - c0, 2),
        "stage_seconds": stages,
    }
