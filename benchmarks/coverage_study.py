"""Coverage study: do the pipeline's 95% CIs contain the true generating values at about 95%?

    .venv/bin/python benchmarks/coverage_study.py --seeds 1 2 3 ... --patients 1500 --sites 8

For each seed: `kocartr synth` (truth in ground_truth/params.json), `kocartr run --demo` end to end in a
subprocess (ingest -> dbt -> quality gates -> analyses -> release), then read from the warehouse
  - CRS grade >= 3 proportion per product      analysis.proportions (endpoint CRS, measure grade_ge3, PRODUCT)
                                                 truth: params.model TOXICITY[p].crs_g3
                                                        = truth.per_product[p].crs_grade3plus
  - OS at 12 months, overall and per product   analysis.survival_estimates (OS, landmark, 12 months; KM, log-log CI,
                                                 from first infusion, delayed entry for late registrants)
                                                 truth: truth.{overall,per_product[p]}.os_12mo
  - SPM cumulative incidence at 36 months      analysis.cumulative_incidence (SPM vs death, landmark, 36 months;
                                                 Aalen-Johansen, delayed entry)
                                                 truth: truth.overall.spm_cif_36mo_death_competing
and scores whether each truth lies in [lower_95, upper_95]. Supplementary quantities for which params.json also
holds a truth (OS 24 mo, PFS 12 mo, NRM 12 mo, SPM 36 mo per product) are scored the same way and reported apart,
with late-effect families whose generating values are computed here from the generator's own constants and
functions (late_effect_records): B-cell aplasia and IgG below the hypogammaglobulinaemia threshold at 12 months
per product (analysis.landmark_prevalence, Clopper-Pearson; analytic), early ICAHT grade >= 3 per product
(analysis.proportions; Monte Carlo of the neutrophil course graded by the int_icaht counting rule), CR rate and ORR
by day 90 and 180 per product (analysis.proportions from ADRS; Monte Carlo of cohort and response form per disease
group, weighted by the published stratum's disease groups), and the infection rates in days 31-180 and after day
180 (analysis.infection_rates, Garwood), and mean DAOH-100 per product (analysis.daoh, Student t CI; Monte Carlo
of cohort, adverse events and hospitalization per disease group, weighted as the response truths). Pregnancy
outcomes (counts only) publish no interval to score.

Per quantity: replicates R, covered count, coverage with its Clopper-Pearson 95% CI (analyses.rates), mean
estimate, mean truth, bias (mean of estimate - truth), empirical SD of the estimate - truth, mean model SE
(CI half-width / 1.96), misses below / above. A stratum is "small" (reported apart, kept out of the pooled
summary) when its median n over replicates is below --min-n.

For CRS the latent patient file (ground_truth/patients.parquet) also gives the count the pipeline should have
seen (infused by the cut-off, in the registry, latent max CRS grade >= 3): a fidelity check of the data path,
separate from the statistical coverage.

Writes benchmarks/results/coverage.json and benchmarks/results/coverage.md. Work folders (one per seed) live in
benchmarks/results/work/coverage/; submissions and release folders are deleted after reading unless --keep.
--reuse skips seeds whose warehouse and params.json already exist (re-analysis without re-running).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
WORK = RESULTS / "work" / "coverage"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from analyses.rates import clopper_pearson  # noqa: E402

TOL = 1e-9  # months compared with a tolerance (time_months is days / (365.25/12))

# Why a quantity is off nominal with the pipeline as it is, and what fixes it: written beside every row
# outside the range consistent with 95% coverage or biased by more than 2 Monte Carlo SE.
LC_BIAS = (
    "informative censoring at last contact: deaths are reported whenever they happen, alive status only at visits, "
    "so survivors are censored at their last visit while peers who die later are events; KM is biased low and "
    "the bias grows with time. Fixed by the national death linkage: OS censored at its completeness date "
    "(os_censor_at_linkage_completeness = 1); OS_LC keeps last-contact censoring to show the difference."
)
SPM_BETWEEN_VISITS = (
    "on a pipeline predating censoring where cancer status is known: site-reported malignancies only (linkage "
    "cancers raised queries, not SPM events), censored at last contact, while a malignancy is dated when diagnosed, "
    "between visits, and its form is a contact and the malignancy-free are known only at visits (the OS mechanism "
    "again). Fixed: with os_censor_at_linkage_completeness = 1, national cancer registry cancers are SPM events and "
    "SPM is censored at the earlier of the cancer and death registries' completeness dates (endpoints.md). "
    "Overall (pooled over products) against params.json, an estimand gap rather than an estimator bias: censoring "
    "at the cancer registry's completeness date (six months before the cut-off) shortens the follow-up of the "
    "late-approved, high-SPM product (CILTA_CEL), so the pooled Aalen-Johansen estimate at 36 months weighs it "
    "less than the case-mix average params.json takes; the design-matched truth, censored the same way, is covered."
)
NRM_AFTER_LC = (
    "with linkage, a death found after the last site contact counted as non-relapse death although relapse status "
    "after that contact is unknown, while the event-free were censored at it. Fixed: with censoring where status "
    "is known, PFS / NRM / RELAPSE censor such a patient at the last site contact (endpoints.md)."
)
KNOWN_CAUSES = {
    "OS at 24 months (KM)": LC_BIAS,
    "OS at 24 months, censored at last contact (KM)": LC_BIAS + " This row is OS_LC: the bias is its point.",
    "PFS at 12 months (KM)": (
        "the same informative censoring (progression and death ascertained beyond the last contact), plus, on a "
        "pipeline predating the endpoint specification, censoring at the last disease assessment (that "
        "specification's one censoring rule moves it to last contact)."
    ),
    "SPM cumulative incidence at 36 months (AJ)": SPM_BETWEEN_VISITS,
    "NRM cumulative incidence at 12 months (AJ)": NRM_AFTER_LC,
    "CRS grade>=3 proportion": (
        "reporting lag: a CRS row is sent after resolution plus 3-45 days, the infusion earlier, so patients "
        "infused shortly before the cut-off count in the denominator without their CRS; material for a product "
        "launched recently (few patients, many of them recent). Fixed by toxicity proportions over patients "
        "evaluable for the toxicity (infused >= N days before the cut-off; data/config/toxicity_evaluability.csv)."
    ),
}
KNOWN_CAUSES["CRS any grade proportion"] = KNOWN_CAUSES["CRS grade>=3 proportion"]
KNOWN_CAUSES["OS at 12 months (KM)"] = (
    "on a pipeline predating the endpoint specification, deaths reported on a follow-up form only (no death form; "
    "5% of deaths in the generator) are ignored, which biases OS up; the death rule (every source) fixes it. "
    "With few replicates a flag may also be chance (the bias SE rests on the replicates' spread)."
)


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); log {log}\n{tail}")
    return time.perf_counter() - t0


def generate_and_run(seed: int, patients: int, sites: int, keep: bool, reuse: bool) -> tuple[Path, dict]:
    wd = WORK / f"seed{seed}_n{patients}_s{sites}"
    gen, wh, rel = wd / "gen", wd / "warehouse.duckdb", wd / "release"
    params_copy = wd / "params.json"
    timing: dict = {}
    if reuse and wh.exists() and params_copy.exists() and (wd / "patients.parquet").exists():
        timing["reused"] = True
        return wd, timing
    if wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True)
    timing["synth_s"] = round(
        run(
            [
                str(BIN / "kocartr"),
                "synth",
                "--out",
                str(gen),
                "--patients",
                str(patients),
                "--sites",
                str(sites),
                "--seed",
                str(seed),
            ],
            wd / "synth.log",
        ),
        1,
    )
    shutil.copy(gen / "ground_truth" / "params.json", params_copy)
    shutil.copy(gen / "ground_truth" / "patients.parquet", wd / "patients.parquet")
    timing["run_s"] = round(
        run(
            [
                str(BIN / "kocartr"),
                "run",
                "--submissions",
                str(gen / "submissions"),
                "--warehouse",
                str(wh),
                "--release-dir",
                str(rel),
                "--demo",
            ],
            wd / "run.log",
        ),
        1,
    )
    if not keep:
        shutil.rmtree(gen / "submissions", ignore_errors=True)
        shutil.rmtree(rel, ignore_errors=True)
    return wd, timing


def _rows(con, sql: str, args: list) -> list[dict]:
    cur = con.execute(sql, args)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


# (estimator table, endpoint, landmark months, params.json truth key, label, group, strata), in report order;
# "primary" rows are the study's scored quantities.
KM, AJ = "analysis.survival_estimates", "analysis.cumulative_incidence"
SPM_36 = ("SPM", 36.0, "spm_cif_36mo_death_competing", "SPM cumulative incidence at 36 months (AJ)")
LANDMARK_QUANTITIES = (
    (KM, "OS", 12.0, "os_12mo", "OS at 12 months (KM)", "primary", ("overall", "PRODUCT")),
    (AJ, *SPM_36, "primary", ("overall",)),
    (AJ, *SPM_36, "supplementary", ("PRODUCT",)),  # params.json holds a truth for these too
    (KM, "OS", 24.0, "os_24mo", "OS at 24 months (KM)", "supplementary", ("overall", "PRODUCT")),
    (KM, "OS_LC", 24.0, "os_24mo", "OS at 24 months, censored at last contact (KM)", "supplementary", ("overall",)),
    (KM, "PFS", 12.0, "pfs_12mo", "PFS at 12 months (KM)", "supplementary", ("overall", "PRODUCT")),
    (
        AJ,
        "NRM",
        12.0,
        "nrm_12mo",
        "NRM cumulative incidence at 12 months (AJ)",
        "supplementary",
        ("overall", "PRODUCT"),
    ),
)


def _crs_records(con, truth: dict, latent) -> list[dict]:
    """CRS grade >= 3 and any grade per product (any grade: the reporting-lag check of recent products)."""
    import polars as pl

    out: list[dict] = []
    for measure, key, min_grade, quantity in (
        ("grade_ge3", "crs_grade3plus", 3, "CRS grade>=3 proportion"),
        ("any_grade", "crs_any", 1, "CRS any grade proportion"),
    ):
        for r in _rows(
            con,
            """select stratum, n, events, proportion, lower_95, upper_95 from analysis.proportions
               where endpoint = 'CRS' and measure = ? and stratum_variable = 'PRODUCT'""",
            [measure],
        ):
            p = r["stratum"]
            lat = latent.filter(pl.col("product") == p)
            out.append(
                {
                    "quantity": quantity,
                    "group": "primary",
                    "stratum": p,
                    "estimate": r["proportion"],
                    "lower_95": r["lower_95"],
                    "upper_95": r["upper_95"],
                    "n": r["n"],
                    "events": r["events"],
                    "truth": truth["per_product"].get(p, {}).get(key),
                    "truth_key": key,
                    "latent_n": lat.height,
                    "latent_events": int((lat["crs_grade"] >= min_grade).sum()),
                }
            )
    return out


def _landmark_records(con, truth: dict, spec: tuple) -> list[dict]:
    """One record per stratum of one landmark quantity (`spec`: a row of LANDMARK_QUANTITIES)."""
    table, endpoint, months, key, quantity, group, strata = spec
    out: list[dict] = []
    for r in _rows(
        con,
        f"""select stratum_variable, stratum, n, events, n_at_risk, n_delayed_entry, estimate, lower_95, upper_95
            from {table} where endpoint = ? and row_type = 'landmark' and abs(time_months - ?) < 1e-6""",
        [endpoint, months],
    ):
        sv = r["stratum_variable"]
        if sv not in strata:
            continue
        if sv == "overall":
            t, label = truth["overall"].get(key), "overall"
        else:
            t, label = truth["per_product"].get(r["stratum"], {}).get(key), r["stratum"]
        out.append(
            {
                "quantity": quantity,
                "group": group,
                "stratum": label,
                **{
                    c: r[c] for c in ("estimate", "lower_95", "upper_95", "n", "events", "n_at_risk", "n_delayed_entry")
                },
                "truth": t,
                "truth_key": key,
            }
        )
    return out


def _scored(records: list[dict]) -> list[dict]:
    """Each record with `covered`: whether its CI holds the truth (None when either is missing)."""
    for o in records:
        o["covered"] = (
            None
            if o["truth"] is None or o["lower_95"] is None or o["upper_95"] is None
            else bool(o["lower_95"] <= o["truth"] <= o["upper_95"])
        )
    return records


def read_estimates(wd: Path) -> tuple[list[dict], dict]:
    """One record per (quantity, stratum) with estimate, CI, n and the matched truth."""
    import duckdb
    import polars as pl

    params = json.loads((wd / "params.json").read_text(encoding="utf-8"))
    truth = params["truth"]
    cutoff = dt.date.fromisoformat(params["data_cutoff"])
    latent = pl.read_parquet(wd / "patients.parquet").filter(
        pl.col("in_registry") & pl.col("infused") & (pl.col("infusion_date") <= cutoff)
    )
    con = duckdb.connect(str(wd / "warehouse.duckdb"), read_only=True)
    try:
        out = _crs_records(con, truth, latent)
        for spec in LANDMARK_QUANTITIES:
            out += _landmark_records(con, truth, spec)
        out += late_effect_records(con, params)
    finally:
        con.close()
    return _scored(out), params


def generate_truth_only(seed: int, patients: int, sites: int, reuse: bool) -> tuple[Path, dict]:
    """`--from-truth`: generate one seed without injected row defects and keep only its ground truth (endpoint truth,
    patients, params); no pipeline run."""
    from kocartr.synth.generate import generate

    wd = WORK / f"truth_seed{seed}_n{patients}_s{sites}"
    kept = ("params.json", "patients.parquet", "endpoint_truth.parquet")
    if reuse and all((wd / f).exists() for f in kept):
        return wd, {"reused": True}
    if wd.exists():
        shutil.rmtree(wd)
    t0 = time.perf_counter()
    generate(wd / "gen", patients=patients, sites=sites, seed=seed, defect_rate=0.0)
    for f in kept:
        shutil.copy(wd / "gen" / "ground_truth" / f, wd / f)
    shutil.rmtree(wd / "gen")
    return wd, {"synth_s": round(time.perf_counter() - t0, 1)}


def truth_adtte(wd: Path):
    """The generator's endpoint truth encoded as ADTTE (PARAMCD, AVAL, CNSR, CMPEVFL, ENTRYT, PREENTFL, PRODUCT,
    DISGRP): the rows the pipeline derives from the same submissions (tests/test_truth_reconciliation.py checks
    they are equal, row for row, for every patient without an injected defect)."""
    import polars as pl

    pts = pl.read_parquet(wd / "patients.parquet").select("patient_id", "product", "disease_group")
    ep = pl.read_parquet(wd / "endpoint_truth.parquet").join(pts, on="patient_id", how="left")
    status = pl.col("status")
    return ep.select(
        pl.col("patient_id").alias("USUBJID"),
        pl.col("paramcd").alias("PARAMCD"),
        pl.col("aval_days").cast(pl.Float64).alias("AVAL"),
        pl.when(status == "event").then(0).when(status == "censored").then(1).otherwise(None).alias("CNSR"),
        pl.when(status == "competing").then(pl.lit("Y")).otherwise(pl.lit("N")).alias("CMPEVFL"),
        pl.col("entry_days").cast(pl.Float64).alias("ENTRYT"),
        pl.when(pl.col("pre_entry")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("PREENTFL"),
        pl.col("product").alias("PRODUCT"),
        pl.col("disease_group").alias("DISGRP"),
    )


def estimates_from_truth(wd: Path) -> tuple[list[dict], dict]:
    """The pipeline's own estimators (analyses.outcomes) on the truth's ADTTE rows, read through the same landmark
    queries as a warehouse: the time-to-event rows of read_estimates, without CRS or late-effect rows."""
    import duckdb

    from analyses.outcomes import CIF_ENDPOINTS, cumulative_incidence, survival_estimates

    params = json.loads((wd / "params.json").read_text(encoding="utf-8"))
    cutoff = dt.date.fromisoformat(params["data_cutoff"])
    adtte = truth_adtte(wd)
    km = {q[1] for q in LANDMARK_QUANTITIES if q[0] == KM}
    aj = {q[1] for q in LANDMARK_QUANTITIES if q[0] == AJ}
    surv = survival_estimates(adtte, cutoff, endpoints=tuple(sorted(km)), include_curve=False)
    cif = cumulative_incidence(adtte, cutoff, {e: c for e, c in CIF_ENDPOINTS.items() if e in aj}, include_curve=False)
    con = duckdb.connect()
    try:
        con.execute("create schema analysis")
        for name, frame in ((KM, surv), (AJ, cif)):
            con.register("frame", frame.to_arrow())
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
        out = [r for spec in LANDMARK_QUANTITIES for r in _landmark_records(con, params["truth"], spec)]
    finally:
        con.close()
    return _scored(out), params


# Late-effect generating values (kocartr/synth/params.py B_CELL_RECOVERY, INFECTION): B-cell recovery day
# lognormal for CD19-target products, CD19 B cells uniform while aplastic else lognormal, rounded; the 12-month count
# is drawn on day 365 +- 1. Infections: a share of infused patients has one early episode, onset uniform on days
# 1-180 (constant hazard there); after day 180 episodes arrive at a constant rate per person-year.
LATE_TRUTH_KEYS = ("bcell_aplasia_12mo", "infection_rate_31_180", "infection_rate_gt180")


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def bcell_aplasia_truth(cd19_target: bool, threshold: float = 20.0) -> float:
    """P(CD19 B cells < threshold on the 12-month count): still aplastic (recovery after the draw day, day 364-366
    equally likely), or recovered but drawn below the threshold (rounded to an integer)."""
    from kocartr.synth.params import B_CELL_RECOVERY as B

    low_normal = _phi((math.log(threshold - 0.5) - math.log(B["normal_median"])) / B["normal_log_sd"])
    if not cd19_target:
        return low_normal
    still = sum(1.0 - _phi((math.log(d) - math.log(B["median_day"])) / B["log_sd"]) for d in (364, 365, 366)) / 3
    return still + (1.0 - still) * low_normal


def infection_rate_truth(window: str) -> float:
    """Non-fatal infection episodes per 100 person-years in days 31-180 (constant daily hazard of onset) or after
    day 180 (the late rate)."""
    from kocartr.synth.params import INFECTION

    if window == "D181+":
        return INFECTION["late_per_year"] * 100
    return INFECTION["early_share"] / INFECTION["early_days"][1] * 365.25 * 100


def igg_low_truth(cd19_target: bool, threshold: float = 400.0) -> float:
    """P(IgG < threshold on the 12-month count) (also at months 3 and 6: no recovery in the first year):
    baseline lognormal(log 700, 0.35) times the first-year share (0.65 after a CD19 product, 0.45 otherwise: plasma
    cells of BCMA products) times lognormal(0, 0.15) lab noise, written as an integer (below the threshold =
    below threshold - 0.5 before rounding); the baseline clip at 150 / 2500 mg/dL is 4 SD away and left out."""
    share = 0.65 if cd19_target else 0.45
    sd = math.hypot(0.35, 0.15)
    return _phi((math.log(threshold - 0.5) - math.log(700.0 * share)) / sd)


def icaht_early_grade(
    days: list[int], values: list[float], grading: list[tuple[int, float, int]], end: int, transient: int
) -> int:
    """Early ICAHT grade of one ANC series (days >= 0, ascending, every value through follow-up) by the rule of
    int_icaht.sql: a value holds until the next one (the last for its own day), days 0..end are counted, a stretch
    above the threshold shorter than `transient` days followed by a value at or below it counts as below.
    grading: (grade, anc_max, min_days) rows of the EARLY phase (data/config/icaht_grading.csv)."""
    grade = 0
    for thr in sorted({g[1] for g in grading}):
        early = [i for i, d in enumerate(days) if d <= end]
        held = [min(days[i + 1] if i + 1 < len(days) else days[i] + 1, end + 1) - days[i] for i in early]
        below = [values[i] <= thr for i in early]
        total, i = 0, 0
        while i < len(early):
            j = i
            while j < len(early) and below[j] == below[i]:
                j += 1  # early[i:j] is one island
            span = sum(held[i:j])
            if below[i] or (span < transient and any(below[j:])):
                total += span
            i = j
        grade = max([grade] + [g for g, a, m in grading if a == thr and total >= m])
    return grade


@functools.cache
def icaht_early_ge3_truth(n: int = 100_000, seed: int = 20261203) -> float:
    """P(early ICAHT grade >= 3): Monte Carlo of the generator's own neutrophil course (forms.latent_labs, the ANC
    series of forms._lab_series on params.COUNT_DAYS with the lab form's +-1 day jitter from day 7, values written
    with 2 decimals), graded by icaht_early_grade. Product-independent in the generator. Every count observed (no
    death or cut-off before day 60): the estimand of patients followed through the early window."""
    import csv
    from types import SimpleNamespace

    import numpy as np

    from kocartr.paths import CONFIG_DIR
    from kocartr.synth import forms
    from kocartr.synth import params as P

    with open(CONFIG_DIR / "icaht_grading.csv", encoding="utf-8") as fh:
        grading = [
            (int(r["grade"]), float(r["anc_max"]), int(r["min_days"]))
            for r in csv.DictReader(fh)
            if r["phase"] == "EARLY"
        ]
    from analyses.late_effects import config_value

    end, transient = int(config_value("icaht_early_end_day")), int(config_value("icaht_transient_recovery_days"))
    rng = np.random.default_rng(seed)
    labs = forms.latent_labs(SimpleNamespace(n=n), rng)  # type: ignore[arg-type]
    anc = forms._lab_series(labs, np.zeros(n, bool), rng)[0][2]
    sched = np.array([d for d in P.COUNT_DAYS if 0 <= d <= 90])
    p = np.repeat(np.arange(n), len(sched))
    day = np.tile(sched, n)
    day = day + np.where(day >= 7, rng.integers(-1, 2, len(day)), 0)
    val = np.round(np.clip(anc(p, day), 0, 100), 2).reshape(n, len(sched))
    day = day.reshape(n, len(sched))
    ge3 = sum(icaht_early_grade(day[i].tolist(), val[i].tolist(), grading, end, transient) >= 3 for i in range(n))
    return ge3 / n


def best_response_flags(pidx, day, resp, index_day, window: int, rank: dict, complete: set, responder: set):
    """(complete, responder) per patient index of the best response by day `window` (lowest rank; NE and
    assessments after the window left out), as endpoint_truth.best_response; no assessment: neither."""
    import numpy as np

    keep = (resp != "NE") & (day > index_day[pidx]) & (day <= index_day[pidx] + window)
    n = len(index_day)
    best = np.full(n, 10**6)
    r = np.array([rank[x] for x in resp[keep]], dtype=np.int64)
    np.minimum.at(best, pidx[keep], r)
    by_rank = {v: k for k, v in rank.items()}
    code = np.array([by_rank.get(int(b), "") for b in best], dtype=object)
    return np.isin(code, list(complete)), np.isin(code, list(responder))


@functools.cache
def response_truth(n: int = 400_000, seed: int = 20261203) -> dict[tuple[str, str, str], float]:
    """CR rate and ORR by day 90 / 180 per disease group and product, {(endpoint, measure, 'GROUP/PRODUCT'): p} (the
    analysis' DISGRP/PRODUCT strata: response criteria and cure differ by disease): Monte Carlo of the generator's
    own cohort (cohort.build_cohort: product and disease mix, cure, progression, death, loss to follow-up) and
    response form (forms.response, assessments on days 28 / 90 / 180 / 365 -3..+7, the progression assessment),
    best response by the registry's rule (endpoint_truth.load_rules: ranks, complete, responder, windows), among
    infused registry patients; no administrative cut-off (the pipeline's denominator is patients whose window has
    ended). Death, loss to follow-up or no assessment in the window: a non-responder, as in the analysis."""
    import dataclasses

    import numpy as np

    from kocartr.dictionary import load_dictionary
    from kocartr.synth import cohort, forms
    from kocartr.synth.endpoint_truth import RESPONSE_WINDOWS, load_rules

    d = load_dictionary()
    rules = load_rules(d)
    rng = np.random.default_rng(seed)
    c = cohort.build_cohort(d, rng, n, 8, "2021-04", "2026-10")
    c = dataclasses.replace(c, cutoff_day=10**8)
    rows = forms.response(d, c, rng)
    base = c.in_registry & c.infused
    out: dict[tuple[str, str, str], float] = {}
    for w in RESPONSE_WINDOWS:
        cr, rsp = best_response_flags(
            rows.pidx,
            np.asarray(rows.cols["assessment_date"]),
            np.asarray(rows.cols["response"], dtype=object),
            c.infusion_day,
            rules.windows[w],
            rules.rank,
            set(rules.complete),
            set(rules.responder),
        )
        cell = np.char.add(np.char.add(c.disease_group.astype(str), "/"), c.product.astype(str))
        for key in np.unique(cell[base]):
            m = base & (cell == key)
            out[(f"RESPONSE_{w}", "cr_rate", str(key))] = float(cr[m].mean())
            out[(f"RESPONSE_{w}", "orr", str(key))] = float(rsp[m].mean())
    return out


def product_response_truth(
    con, endpoint: str, measure: str, product: str, truth: dict[tuple[str, str, str], float] | None = None
) -> float | None:
    """The response truth of a PRODUCT stratum as published: the cells' truths (response_truth) weighted by the
    stratum's patients per disease group (its DISGRP/PRODUCT rows). Publication recoding pools a disease group x
    product cell below 10 patients into OTHER_PRODUCTS, so e.g. TRIAL's ALL patients (CR / CRi in every assessment
    before relapse) leave the TRIAL stratum in some seeds and not others. None when a cell has no truth."""
    truth = truth or response_truth()
    cells = _rows(
        con,
        """select stratum, n from analysis.proportions
           where endpoint = ? and measure = ? and stratum_variable = 'DISGRP/PRODUCT' and stratum like ?""",
        [endpoint, measure, f"%/{product}"],
    )
    n = sum(r["n"] for r in cells)
    if n == 0 or any((endpoint, measure, r["stratum"]) not in truth for r in cells):
        return None
    return sum(r["n"] * truth[(endpoint, measure, r["stratum"])] for r in cells) / n


def daoh_days(inf_day, death_day, pidx, adm, dis, window: int):
    """DAOH per patient by the definition in endpoints.md, on the generator's absolute days: a day d in 1..window
    after the infusion is in hospital when adm <= d < dis (nights; overlapping stays once), DAOH = window - hospital
    days, 0 when the patient died on or before day `window`."""
    import numpy as np

    n = len(inf_day)
    a = np.clip(adm - inf_day[pidx], 1, window + 1)
    b = np.clip(dis - inf_day[pidx], 1, window + 1)
    keep = a < b
    grid = np.zeros((n, window + 2), np.int32)  # column d: stays covering day d (difference array, then cumsum)
    np.add.at(grid, (pidx[keep], a[keep]), 1)
    np.add.at(grid, (pidx[keep], b[keep]), -1)
    in_hospital = (np.cumsum(grid, axis=1)[:, 1 : window + 1] > 0).sum(axis=1)
    return np.where(death_day - inf_day <= window, 0, window - in_hospital).astype(float)


@functools.cache
def daoh_truth(
    n: int = 200_000, seed: int = 20261203, months: tuple[str, str] = ("2021-04", "2026-10")
) -> dict[str, float]:
    """Mean DAOH-100 per 'GROUP/PRODUCT' cell: Monte Carlo of the generator's own cohort (cohort.build_cohort:
    products, disease mix, CRS / ICANS grades, progression, death, loss to follow-up; `months`: the run's first and
    last month, so the cut-off and the follow-up the 'other' readmission draw depends on are the run's), labs and
    adverse-event rows (forms.latent_labs, late.latent_labs, forms.adverse_event, late.late_infections: the
    infections and late cytopenia that readmit) and late.hospitalization (infusion, CRS, reinfusion, infection,
    cytopenia, progression and other admissions, overlap rule, death ending a stay), counted by daoh_days over the
    analysis' evaluable set: infused registry patients infused >= 100 days before the cut-off, dead by day 100 or
    not lost to follow-up before it. labgrades.grade_from_labs is left out: it regrades cytopenia rows only."""
    import numpy as np

    from analyses.late_effects import config_value
    from kocartr.dictionary import load_dictionary
    from kocartr.synth import cohort, forms, late

    window = int(config_value("daoh_window_days"))
    rng = np.random.default_rng(seed)
    c = cohort.build_cohort(load_dictionary(), rng, n, 8, *months)
    labs = forms.latent_labs(c, rng)
    lrng = late.late_rng(seed)
    labs.update(late.latent_labs(c, lrng, labs["b_rec"]))
    ae = forms.concat(forms.adverse_event(c, rng, labs), late.late_infections(c, late.late_rng(seed, part=1)))
    h = late.hospitalization(c, lrng, ae, labs)
    adm = np.asarray(h.cols["admission_date"], np.int64)
    dis = np.asarray(h.cols["discharge_date"], np.int64)  # NEVER when not known: runs to the window end
    val = daoh_days(c.infusion_day, c.death_day, h.pidx, adm, dis, window)
    died = c.death_day - c.infusion_day <= window
    followed = died | (c.ltfu_day - c.infusion_day >= window)
    ev = c.in_registry & c.infused & (c.cutoff_day - c.infusion_day >= window) & followed
    cell = np.char.add(np.char.add(c.disease_group.astype(str), "/"), c.product.astype(str))
    return {str(k): float(val[ev & (cell == k)].mean()) for k in np.unique(cell[ev])}


def product_daoh_truth(con, product: str, truth: dict[str, float] | None = None) -> float | None:
    """Mean DAOH-100 of a published PRODUCT stratum: the cells' truths (daoh_truth) weighted as
    product_response_truth weights them, by the stratum's DISGRP/PRODUCT cells of RESPONSE_D90 (infused patients
    whose day-90 window has ended: the DAOH evaluable set up to patients infused 90-99 days before the cut-off or
    lost in days 91-99). None when a cell has no truth (e.g. a recoded disease group)."""
    cells = truth if truth is not None else daoh_truth()
    keyed = {("RESPONSE_D90", "orr", k): v for k, v in cells.items()}
    return product_response_truth(con, "RESPONSE_D90", "orr", product, keyed)


# Late-effect landmark prevalences scored: (endpoint, landmark day, label, truth key, truth(cd19 target, threshold)).
LATE_LANDMARKS = (
    ("BCELL_APLASIA", 365, "B-cell aplasia at 12 months (landmark)", LATE_TRUTH_KEYS[0], bcell_aplasia_truth),
    ("IGG_LOW", 365, "IgG below threshold at 12 months (landmark)", "igg_low_12mo", igg_low_truth),
)
# Late-effect proportions (analysis.proportions, stratum PRODUCT): (endpoint, measure, label, truth key).
LATE_PROPORTIONS = (
    ("ICAHT_EARLY", "grade_ge3", "Early ICAHT grade>=3 proportion", "icaht_early_ge3"),
    ("RESPONSE_D90", "cr_rate", "CR rate by day 90", "cr_d90"),
    ("RESPONSE_D90", "orr", "ORR by day 90", "orr_d90"),
    ("RESPONSE_D180", "cr_rate", "CR rate by day 180", "cr_d180"),
    ("RESPONSE_D180", "orr", "ORR by day 180", "orr_d180"),
)
# Truths that are per-patient probabilities (no design dependence), or already computed under the run's design
# (mean DAOH-100: the study's months and cut-off, the stratum's disease mix): the design-matched truth is the same.
PER_PATIENT_TRUTH_KEYS = (
    "crs_grade3plus",
    "crs_any",
    *LATE_TRUTH_KEYS,
    *(x[3] for x in LATE_LANDMARKS),
    *(x[3] for x in LATE_PROPORTIONS),
    "daoh100_mean",
)


def late_effect_records(con, params: dict) -> list[dict]:
    """Landmark prevalences (B-cell aplasia, low IgG at 12 months per product; analysis.landmark_prevalence),
    early ICAHT grade >= 3 and response rates per product (analysis.proportions), mean DAOH-100 per product
    (analysis.daoh), the infection rates in days 31-180 and after day 180, all organisms, overall
    (analysis.infection_rates), with their generating values."""
    from kocartr.dictionary import load_dictionary
    from kocartr.warehouse import table_exists

    if not (table_exists(con, "analysis.landmark_prevalence") and table_exists(con, "analysis.infection_rates")):
        return []
    targets = {p.code: p.attributes.get("target") for p in load_dictionary().code_lists["product"].codes}
    out: list[dict] = []
    for endpoint, day, label, key, truth_fn in LATE_LANDMARKS:
        for r in _rows(
            con,
            """select stratum, n, events, proportion, lower_95, upper_95, threshold from analysis.landmark_prevalence
               where endpoint = ? and landmark_day = ? and stratum_variable = 'PRODUCT'""",
            [endpoint, day],
        ):
            if r["stratum"] in targets:  # a recoded stratum (OTHER_PRODUCTS) mixes targets: no single truth
                t = truth_fn(targets[r["stratum"]] == "CD19", r["threshold"])
                out.append(_late_record(label, r["stratum"], r, r["proportion"], t, key))
    out += _late_proportion_records(con) + _daoh_records(con, params)
    for window, label, key in (
        ("D31-180", "Infection rate days 31-180 per 100 PY", LATE_TRUTH_KEYS[1]),
        ("D181+", "Infection rate after day 180 per 100 PY", LATE_TRUTH_KEYS[2]),
    ):
        for r in _rows(
            con,
            """select stratum, n, events, rate_per_100py, lower_95, upper_95 from analysis.infection_rates
               where time_window = ? and organism_class = 'ANY' and stratum_variable = 'overall'""",
            [window],
        ):
            out.append(_late_record(label, "overall", r, r["rate_per_100py"], infection_rate_truth(window), key))
    return out


def _late_proportion_records(con) -> list[dict]:
    """Early ICAHT grade >= 3 (the same generating value in every stratum: the neutrophil course does not depend
    on the product) and CR rate / ORR by day 90 and 180 per product (product_response_truth; OTHER_PRODUCTS has
    none)."""
    out: list[dict] = []
    for endpoint, measure, label, key in LATE_PROPORTIONS:
        for r in _rows(
            con,
            """select stratum, n, events, proportion, lower_95, upper_95 from analysis.proportions
               where endpoint = ? and measure = ? and stratum_variable = 'PRODUCT'""",
            [endpoint, measure],
        ):
            t: float | None = (
                icaht_early_ge3_truth()
                if endpoint == "ICAHT_EARLY"
                else product_response_truth(con, endpoint, measure, r["stratum"])
            )
            if t is not None:
                out.append(_late_record(label, r["stratum"], r, r["proportion"], t, key))
    return out


def _daoh_records(con, params: dict) -> list[dict]:
    """Mean DAOH-100 per product (analysis.daoh, Student t CI) against product_daoh_truth; nothing when the table
    or its CI columns are missing (a warehouse from before the CI); OTHER_PRODUCTS and unknown cells have no truth."""
    from kocartr.warehouse import column_exists

    if not column_exists(con, "analysis.daoh", "lower_95"):
        return []
    a = params.get("arguments", {})
    truth = daoh_truth(months=(a.get("first_month", "2021-04"), a.get("last_month", "2026-10")))
    out: list[dict] = []
    for r in _rows(
        con,
        """select stratum, n, n_died as events, mean, lower_95, upper_95 from analysis.daoh
           where stratum_variable = 'PRODUCT' and n is not null""",
        [],
    ):
        t = product_daoh_truth(con, r["stratum"], truth)
        if t is not None:
            out.append(_late_record("Mean DAOH-100 (days)", r["stratum"], r, r["mean"], t, "daoh100_mean"))
    return out


def _late_record(quantity: str, stratum: str, r: dict, estimate: float | None, truth: float, key: str) -> dict:
    return {
        "quantity": quantity,
        "group": "supplementary",
        "stratum": stratum,
        "estimate": estimate,
        "lower_95": r["lower_95"],
        "upper_95": r["upper_95"],
        "n": r["n"],
        "events": r["events"],
        "truth": truth,
        "truth_key": key,
    }


def _km_aj(entry, exit_, cause, horizon: float, n_causes: int) -> tuple[float, list[float]]:
    """Large-sample KM S(horizon) for any event and Aalen-Johansen F_k(horizon) on integer days.

    Risk set at day t: entry < t <= exit (analyses/_riskset.py convention); cause 0 = censored, k >= 1 event k.
    """
    import numpy as np

    keep = exit_ > entry
    entry, exit_, cause = entry[keep].astype(np.int64), exit_[keep].astype(np.int64), cause[keep]
    top = int(math.floor(horizon))
    size = int(max(exit_.max(), entry.max(), top)) + 2
    enter = np.bincount(entry + 1, minlength=size)[:size]  # at risk from entry + 1
    leave = np.bincount(exit_ + 1, minlength=size)[:size]  # no longer at risk after exit
    at_risk = np.cumsum(enter - leave)
    d = [np.bincount(exit_[cause == k], minlength=size)[:size] for k in range(1, n_causes + 1)]
    days = np.arange(1, top + 1)
    y = at_risk[days].astype(float)
    dk = [x[days].astype(float) for x in d]
    dall = sum(dk)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(y > 0, dall / y, 0.0)
        hk = [np.where(y > 0, x / y, 0.0) for x in dk]
    s = np.cumprod(1.0 - h)
    s_minus = np.r_[1.0, s[:-1]]
    if y[-1] == 0:  # nobody followed to the horizon: undefined, as in the pipeline
        return float("nan"), [float("nan")] * n_causes
    return float(s[-1]), [float(np.sum(s_minus * x)) for x in hk]


def spm_censoring(params: dict, inf, cens):
    """Per design patient, the day (from infusion) SPM is censored at by the pipeline's rule: where cancer status is
    known (configuration os_censor_at_linkage_completeness), the earlier of the generated set's cancer and death
    completeness dates when on or after the infusion; otherwise `cens` (min(cut-off, LTFU) - infusion)."""
    import numpy as np

    from kocartr.censoring import os_censors_at_linkage
    from kocartr.synth.linkage import complete_through

    cut = (dt.date.fromisoformat(params["data_cutoff"]) - dt.date(1970, 1, 1)).days
    if not os_censors_at_linkage():
        return cens
    admin = min(min(complete_through(params["arguments"]["last_month"]).values()), cut)
    return np.where(admin >= inf, admin - inf, cens)


def matched_truths(wd: Path, params: dict, reps: int, seed: int) -> dict[tuple[str, str], float]:
    """Design-matched truths: the large-sample limit of the pipeline's estimators under this seed's design.

    The generating model (kocartr.synth.cohort.outcomes, the function truth.py also uses) is re-drawn `reps`
    times for each patient of the realised design - infused on or before the cut-off, enrolled by the cut-off -
    keeping each patient's product, disease group, infusion date, enrolment (delayed entry when registered late)
    and administrative / loss-to-follow-up censoring (min(cut-off, LTFU) - infusion; the pipeline censors at the
    last contact, which is earlier, independent of outcome; SPM where cancer status is known: spm_censoring).
    Then KM / Aalen-Johansen with delayed entry on the floored day times (as the generator writes dates).
    params.json's truths average over the realised case mix of ALL infused patients instead, without regard to who
    is observed when.
    """
    import numpy as np
    import polars as pl

    from kocartr.synth import params as P
    from kocartr.synth.cohort import outcomes, toxicity_grades

    cutoff = dt.date.fromisoformat(params["data_cutoff"])
    pts = pl.read_parquet(wd / "patients.parquet").filter(
        pl.col("infused") & (pl.col("infusion_date") <= cutoff) & (pl.col("enrolment_date") <= cutoff)
    )
    epoch = dt.date(1970, 1, 1)
    inf = (pts["infusion_date"].cast(pl.Int64)).to_numpy()
    enrol = (pts["enrolment_date"].cast(pl.Int64)).to_numpy()
    cut = (cutoff - epoch).days
    ltfu = pts["ltfu_date"].cast(pl.Int64).fill_null(10**7).to_numpy()
    late = pts["registered_late"].to_numpy()
    entry1 = np.where(late, np.maximum(enrol - inf, 0), 0)
    cens1 = np.minimum(cut, ltfu) - inf
    rng = np.random.default_rng([seed, 424242])
    product = np.tile(pts["product"].to_numpy().astype(object), reps)
    group = np.tile(pts["disease_group"].to_numpy().astype(object), reps)
    # product target (SPM rate); older patients.parquet files have none: myeloma products target BCMA
    tgt = (
        pts["target"] if "target" in pts.columns else pl.Series(np.where(pts["disease_group"] == "MM", "BCMA", "CD19"))
    )
    target = np.tile(tgt.to_numpy().astype(object), reps)
    entry, cens = np.tile(entry1, reps), np.tile(cens1, reps)
    n = len(product)
    crs = toxicity_grades(rng, product, "crs")
    icans = toxicity_grades(rng, product, "icans")

    def onset(kind: str, lo: int, hi: int) -> np.ndarray:
        med = np.array([float(P.TOXICITY[p][f"{kind}_onset"]) for p in product])
        return np.clip(np.rint(med * np.exp(rng.normal(0, P.ONSET_LOG_SD[kind], n))), lo, hi).astype(np.int64)

    o = outcomes(rng, product, group, target, crs, onset("crs", 0, 14), icans, onset("icans", 1, 30))
    big = 10**7
    death = np.floor(o["t_death"]).astype(np.int64)
    prog = np.where(np.isfinite(o["t_prog"]), np.floor(np.nan_to_num(o["t_prog"], posinf=0)), big).astype(np.int64)
    spm = np.where(np.isfinite(o["t_spm"]), np.floor(np.nan_to_num(o["t_spm"], posinf=0)), big).astype(np.int64)
    # Late registrants who died before enrolment never reach the registry (cohort.in_registry).
    present = ~(np.tile(late, reps) & (death + np.tile(inf, reps) < np.tile(enrol, reps)))

    def endpoint(first: np.ndarray, cause_if_event: np.ndarray, c: np.ndarray = cens) -> tuple[np.ndarray, np.ndarray]:
        return np.minimum(first, c), np.where(first <= c, cause_if_event, 0)

    os_exit, os_cause = endpoint(death, np.ones(n, np.int64))
    pfs_exit, pfs_cause = endpoint(np.minimum(prog, death), np.ones(n, np.int64))
    # SPM censored as the estimator does (spm_censoring: the registries follow patients the sites lost)
    spm_cens = np.tile(spm_censoring(params, inf, cens1), reps)
    spm_exit, spm_cause = endpoint(np.minimum(spm, death), np.where(spm <= death, 1, 2), spm_cens)
    rel_first = np.minimum(prog, death)
    rel_exit, rel_cause = endpoint(rel_first, np.where(prog <= death, 2, 1))  # 1 = NRM, 2 = relapse
    m12, m24, m36 = 365.25, 730.5, 1095.75
    out: dict[tuple[str, str], float] = {}
    strata = [("overall", present)] + [(p, present & (product == p)) for p in sorted(set(product))]
    for label, m in strata:
        if m.sum() == 0:
            continue
        out[("os_12mo", label)] = _km_aj(entry[m], os_exit[m], os_cause[m], m12, 1)[0]
        out[("os_24mo", label)] = _km_aj(entry[m], os_exit[m], os_cause[m], m24, 1)[0]
        out[("pfs_12mo", label)] = _km_aj(entry[m], pfs_exit[m], pfs_cause[m], m12, 1)[0]
        out[("spm_cif_36mo_death_competing", label)] = _km_aj(entry[m], spm_exit[m], spm_cause[m], m36, 2)[1][0]
        out[("nrm_12mo", label)] = _km_aj(entry[m], rel_exit[m], rel_cause[m], m12, 2)[1][0]
    return out


def binom_range(r: int, p: float = 0.95) -> tuple[int, int]:
    """Central 95% range of covered counts out of r if the true coverage is p."""
    from scipy.stats import binom

    return int(binom.ppf(0.025, r, p)), int(binom.ppf(0.975, r, p))


def summarise(records: list[dict], min_n: int, truth: str = "truth") -> list[dict]:
    """Coverage table against `truth` ('truth' = params.json, 'truth_matched' = design-matched)."""
    keys: dict[tuple, list[dict]] = {}
    for r in records:
        keys.setdefault((r["group"], r["quantity"], r["stratum"]), []).append(r)
    rows = []
    for (group, quantity, stratum), rs in keys.items():
        scored = [
            r
            for r in rs
            if r.get(truth) is not None
            and r["lower_95"] is not None
            and r["upper_95"] is not None
            and r["estimate"] is not None
        ]
        cov = [bool(r["lower_95"] <= r[truth] <= r["upper_95"]) for r in scored]
        k, R = sum(cov), len(scored)
        ci = clopper_pearson(k, R) if R else None
        diffs = [r["estimate"] - r[truth] for r in scored]
        ses = [(r["upper_95"] - r["lower_95"]) / (2 * 1.96) for r in scored]
        med_n = statistics.median(r["n"] for r in rs)
        lo_r, hi_r = binom_range(R) if R else (None, None)
        row = {
            "group": group,
            "quantity": quantity,
            "stratum": stratum,
            "truth_source": truth,
            "replicates": R,
            "unscored": len(rs) - R,
            "covered": k,
            "coverage": k / R if R else None,
            "coverage_lower_95": ci.lower if ci else None,
            "coverage_upper_95": ci.upper if ci else None,
            "consistent_range_if_95": [lo_r, hi_r],
            "misses_truth_below_ci": sum(r[truth] < r["lower_95"] for r in scored),
            "misses_truth_above_ci": sum(r[truth] > r["upper_95"] for r in scored),
            "mean_estimate": statistics.fmean(r["estimate"] for r in scored) if R else None,
            "mean_truth": statistics.fmean(r[truth] for r in scored) if R else None,
            "bias": statistics.fmean(diffs) if R else None,
            "bias_se": (statistics.stdev(diffs) / math.sqrt(R)) if R > 1 else None,
            "empirical_sd": statistics.stdev(diffs) if R > 1 else None,
            "mean_model_se": statistics.fmean(ses) if R else None,
            "median_n": med_n,
            "small_stratum": med_n < min_n,
        }
        if quantity.startswith("CRS"):
            row["pipeline_events_total"] = sum(r["events"] for r in rs)
            row["latent_events_total"] = sum(r["latent_events"] for r in rs)
            row["pipeline_n_total"] = sum(r["n"] for r in rs)
            row["latent_n_total"] = sum(r["latent_n"] for r in rs)
        rows.append(row)
    order = {"primary": 0, "supplementary": 1}
    rows.sort(
        key=lambda x: (order[x["group"]], x["small_stratum"], x["quantity"], x["stratum"] != "overall", x["stratum"])
    )
    return rows


def pooled(summary: list[dict]) -> dict:
    prim = [r for r in summary if r["group"] == "primary" and not r["small_stratum"]]
    k, n = sum(r["covered"] for r in prim), sum(r["replicates"] for r in prim)
    ci = clopper_pearson(k, n)
    return {
        "rows": len(prim),
        "covered": k,
        "scored": n,
        "coverage": k / n if n else None,
        "lower": ci.lower,
        "upper": ci.upper,
    }


def fmt(x, nd=3) -> str:
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _md_method(meta: dict) -> list[str]:
    """Title, command and method: what was run and how coverage is scored."""
    R = meta["replicates"]
    lo, hi = binom_range(R)
    return [
        "# Coverage study: 95% CIs against the true generating values",
        "",
        f"Command: `{meta['command']}`  ",
        f"Seeds ({R}): {', '.join(map(str, meta['seeds']))}; {meta['patients']} patients, {meta['sites']} sites "
        f"per replicate; data cut-off {', '.join(sorted(set(meta['cutoffs'])))}; total wall time of this "
        f"invocation {meta['total_wall_s'] / 60:.1f} min; pipeline runs {meta['pipeline_wall_s'] / 60:.1f} min "
        f"({meta['python']}, {meta['machine']}).",
        "",
        "## Method",
        "",
        (
            "Each seed (`--from-truth`): `kocartr.synth.generate` without injected row defects, then the "
            "pipeline's estimators (analyses.outcomes) on the generator's endpoint truth encoded as ADTTE; no "
            "pipeline run. The truth reconciliation tests show that truth equals the pipeline's ADTTE row for row, "
            "so the estimates are the pipeline's; CRS and late-effect rows need the warehouse and are absent. "
            if meta.get("mode") == "from-truth"
            else "Each seed: `kocartr synth` -> `kocartr run --demo` (ingest, dbt, quality gates, analyses, release) "
            "in a subprocess; "
        )
        + "the 95% CI of each quantity is scored as covering when lower_95 <= truth <= upper_95.",
        "",
        "- CRS grade >= 3 per product: `analysis.proportions` (CRS, grade_ge3, PRODUCT; denominator infused "
        "patients; Clopper-Pearson). Truth `truth.per_product[p].crs_grade3plus` = `TOXICITY[p].crs_g3`, the "
        "marginal probability that an infused patient's maximum CRS grade is >= 3: the same estimand.",
        "- OS at 12 months, overall and per product: `analysis.survival_estimates` (OS, landmark 12 months = "
        "365.25 days; KM from first infusion, delayed entry; log(-log) CI). Truth `truth.*.os_12mo`.",
        "- SPM cumulative incidence at 36 months, overall: `analysis.cumulative_incidence` (SPM vs DEATH, landmark "
        "36 months; Aalen-Johansen, delayed entry). Truth `truth.overall.spm_cif_36mo_death_competing`.",
        "",
        "Two truths are scored for the time-to-event quantities:",
        "",
        "1. **params.json truth**: Monte Carlo of the generating model over the realised case mix of *all* infused "
        "patients (incl. those infused after the cut-off), P(T > 365 d) etc.",
        "2. **design-matched truth** (computed here, `matched_truths()`): the same generating model "
        "(`kocartr.synth.cohort.outcomes`) re-drawn "
        f"{meta['mc_reps']} times for each patient of the realised design (infused and enrolled by the cut-off), "
        "keeping product, disease group, infusion date, delayed entry and administrative/LTFU censoring, dates "
        "floored to days as the generator writes them; then KM / Aalen-Johansen with delayed entry. This is "
        "what the pipeline's estimator converges to for this design. For a single product it equals the "
        "params.json truth up to Monte Carlo error; overall it differs because censoring depends on the product "
        "(products approved later - CILTA_CEL 2023, ANBAL_CEL - have short follow-up), so the pooled KM/AJ "
        "weights the early product mix; see *Estimand gap*.",
        "",
        "Columns: R replicates scored, covered count, coverage with its Clopper-Pearson 95% CI, mean estimate, "
        "mean truth, bias = mean(estimate - truth) +/- its Monte Carlo SE, empirical SD of estimate - truth vs "
        "the mean model SE (CI half-width / 1.96), misses by side (low = truth below the CI, i.e. estimate too "
        "high).",
        "",
        f"**With R = {R} replicates and true coverage 95%, the covered count lies in [{lo}, {hi}] with ~95% "
        f"probability** (binomial central range), i.e. observed coverage {lo / R:.0%}-{hi / R:.0%} is consistent "
        "with nominal; equivalently 0.95 inside the coverage's Clopper-Pearson interval. Rows are correlated "
        "within a seed and many rows are tested, so about 1 row in 20 may fall outside by chance.",
        "",
        f"Strata with median n < {meta['min_n']} are reported apart and kept out of the pooled count.",
        "",
    ]


def _md_table(rows: list[dict]) -> list[str]:
    t = [
        "| quantity | stratum | median n | R | covered | coverage (95% CI) | mean est. | mean truth "
        "| bias (+/- MC SE) | emp. SD | model SE | misses low/high |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        mn = r["median_n"]
        cov = (
            "- (no scored replicate)"
            if r["coverage"] is None
            else f"{r['coverage']:.2f} ({r['coverage_lower_95']:.2f}-{r['coverage_upper_95']:.2f})"
        )
        t.append(
            f"| {r['quantity']} | {r['stratum']} | {int(mn) if float(mn).is_integer() else mn} "
            f"| {r['replicates']} | {r['covered']} | {cov} | {fmt(r['mean_estimate'], 4)} "
            f"| {fmt(r['mean_truth'], 4)} "
            f"| {fmt(r['bias'], 4)} (+/- {fmt(r['bias_se'], 4)}) | {fmt(r['empirical_sd'], 4)} "
            f"| {fmt(r['mean_model_se'], 4)} | {r['misses_truth_below_ci']}/{r['misses_truth_above_ci']} |"
        )
    return t


def _pick(summ: dict[str, list[dict]], src: str, group: str, small: bool) -> list[dict]:
    return [r for r in summ[src] if r["group"] == group and r["small_stratum"] == small]


def _md_primary(summ: dict[str, list[dict]], pool: dict[str, dict]) -> list[str]:
    """Primary quantities against each truth, with the pooled coverage."""
    lines: list[str] = []
    for src, title in (("truth", "params.json truth"), ("truth_matched", "design-matched truth")):
        p = pool[src]
        lines += (
            [f"## Primary quantities vs {title}", ""]
            + _md_table(_pick(summ, src, "primary", False))
            + [
                "",
                f"Pooled over these {p['rows']} rows: {p['covered']} / {p['scored']} covered = {p['coverage']:.3f} "
                f"(Clopper-Pearson {p['lower']:.3f}-{p['upper']:.3f}; optimistic, rows within a seed are not "
                "independent).",
                "",
            ]
        )
    return lines


def _md_gap(summ: dict[str, list[dict]]) -> list[str]:
    """Estimand gap: params.json truth vs the design-matched truth (primary, time-to-event)."""
    gap = {(r["quantity"], r["stratum"]): r for r in summ["truth_matched"]}
    lines = [
        "## Estimand gap (mean over seeds)",
        "",
        "| quantity | stratum | params.json truth | design-matched truth | matched - params |",
        "|---|---|---:|---:|---:|",
    ]
    for r in summ["truth"]:
        g = gap.get((r["quantity"], r["stratum"]))
        if r["group"] != "primary" or r["quantity"].startswith("CRS") or g is None or g["mean_truth"] is None:
            continue
        lines.append(
            f"| {r['quantity']} | {r['stratum']} | {fmt(r['mean_truth'], 4)} | {fmt(g['mean_truth'], 4)} "
            f"| {g['mean_truth'] - r['mean_truth']:+.4f} |"
        )
    lines.append("")
    return lines


def _md_small_and_supplementary(summ: dict[str, list[dict]], min_n: int) -> list[str]:
    """Small strata apart, then the supplementary quantities."""
    lines: list[str] = []
    small = _pick(summ, "truth", "primary", True) + _pick(summ, "truth", "supplementary", True)
    if small:
        lines += (
            [f"## Small strata (median n < {min_n}; params.json truth; reported apart)", ""]
            + _md_table(small)
            + [
                "",
                "A product approved late in the window: few infused patients, few or no patients followed "
                "to the landmark (undefined estimates are not scored), Clopper-Pearson conservative at a "
                "handful of events; these rows say little about the estimators.",
                "",
            ]
        )
    for src, title in (("truth_matched", "design-matched truth"), ("truth", "params.json truth")):
        lines += (
            [f"## Supplementary quantities vs {title}", ""] + _md_table(_pick(summ, src, "supplementary", False)) + [""]
        )
    return lines


def _md_crs_fidelity(summ: dict[str, list[dict]]) -> list[str]:
    """CRS: pipeline counts vs the latent patients (data-path fidelity)."""
    lines: list[str] = []
    crs = [r for r in summ["truth"] if r["quantity"].startswith("CRS")]
    if crs:
        lines += [
            "## Data-path fidelity for CRS (pipeline counts vs latent patients, summed over seeds)",
            "",
            "Latent: in the registry, infused on or before the cut-off, latent maximum CRS grade at or "
            "above the measure's (ground_truth/patients.parquet).",
            "",
            "| measure | product | pipeline n | latent n | pipeline events | latent events |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in crs:
            lines.append(
                f"| {r['quantity']} | {r['stratum']} | {r['pipeline_n_total']} | {r['latent_n_total']} | "
                f"{r['pipeline_events_total']} | {r['latent_events_total']} |"
            )
        lines.append("")
    return lines


def _md_interpretation(meta: dict, summ: dict[str, list[dict]]) -> list[str]:
    """Computed flags (coverage off range, bias) and the causes known to the study."""
    lines: list[str] = []
    auto, flagged = [], set()
    for src, title in (("truth", "params.json truth"), ("truth_matched", "design-matched truth")):
        rows = [r for r in summ[src] if r["replicates"]]
        out_rng = [
            f"{r['quantity']} / {r['stratum']} ({r['covered']}/{r['replicates']})"
            for r in rows
            if not r["small_stratum"]
            and not (r["consistent_range_if_95"][0] <= r["covered"] <= r["consistent_range_if_95"][1])
        ]
        biased = [
            f"{r['quantity']} / {r['stratum']}{' (small stratum)' if r['small_stratum'] else ''} ({r['bias']:+.4f})"
            for r in rows
            if r["bias_se"] and abs(r["bias"]) > 2 * r["bias_se"]
        ]
        auto.append(
            f"- vs {title}: coverage outside the range consistent with 95%: "
            f"{'; '.join(out_rng) or 'none'}. |bias| > 2 Monte Carlo SE: {'; '.join(biased) or 'none'}."
        )
        flagged |= {x.split(" / ")[0] for x in out_rng + biased}
    why = [f"- **{q}**: {KNOWN_CAUSES.get(q, 'no known cause: investigate.')}" for q in sorted(flagged)]
    if meta["replicates"] < 5:
        why.append(
            f"- Only {meta['replicates']} replicates: coverage cannot be judged and the Monte Carlo SE of the "
            "bias is itself unreliable; this run checks the study's mechanics, not the estimators."
        )
    lines += (
        ["## Interpretation", "", "Computed:", ""]
        + auto
        + ["", "Why not nominal (causes known to the study):", ""]
        + (why or ["- none flagged"])
    )
    return lines


def write_md(path: Path, meta: dict, summ: dict[str, list[dict]], pool: dict[str, dict]) -> None:
    lines = (
        _md_method(meta)
        + _md_primary(summ, pool)
        + _md_gap(summ)
        + _md_small_and_supplementary(summ, meta["min_n"])
        + _md_crs_fidelity(summ)
        + _md_interpretation(meta, summ)
        + ["", meta.get("interpretation", ""), ""]
    )
    path.write_text("\n".join(lines), encoding="utf-8")


def _score_matched(recs: list[dict], matched: dict[tuple[str, str], float]) -> None:
    """Attach the design-matched truth and whether the CI covers it to each record."""
    for r in recs:
        if r["truth_key"] in PER_PATIENT_TRUTH_KEYS:
            r["truth_matched"] = r["truth"]  # a per-patient probability: no design dependence
        else:
            v = matched.get((r["truth_key"], r["stratum"]))
            r["truth_matched"] = None if v is None or math.isnan(v) else v
        r["covered_matched"] = (
            None
            if r["truth_matched"] is None or r["lower_95"] is None
            else bool(r["lower_95"] <= r["truth_matched"] <= r["upper_95"])
        )


def _run_seeds(args: argparse.Namespace) -> tuple[list[dict], list[dict], list[str]]:
    """Generate, run and score every seed: (records, per-seed timings, cut-offs)."""
    WORK.mkdir(parents=True, exist_ok=True)
    records, per_seed, cutoffs = [], [], []
    for seed in args.seeds:
        ts = time.perf_counter()
        if args.from_truth:
            wd, timing = generate_truth_only(seed, args.patients, args.sites, args.reuse)
        else:
            wd, timing = generate_and_run(seed, args.patients, args.sites, args.keep, args.reuse)
        if timing.get("reused"):
            if (wd / "timing.json").exists():
                timing = {**json.loads((wd / "timing.json").read_text()), "reused": True}
        else:
            (wd / "timing.json").write_text(json.dumps(timing))
        recs, params = estimates_from_truth(wd) if args.from_truth else read_estimates(wd)
        matched = matched_truths(wd, params, args.mc_reps, seed)
        for r in recs:
            r["seed"] = seed
        _score_matched(recs, matched)
        records += recs
        cutoffs.append(params["data_cutoff"])
        per_seed.append(
            {
                "seed": seed,
                "work_dir": str(wd.relative_to(ROOT)),
                **timing,
                "wall_s_this_invocation": round(time.perf_counter() - ts, 1),
            }
        )
        prim = [r for r in recs if r["group"] == "primary" and r["covered"] is not None]
        print(
            f"seed {seed}: {sum(r['covered'] for r in prim)}/{len(prim)} primary covered (params truth), "
            f"{sum(bool(r['covered_matched']) for r in prim)} (matched), "
            f"{per_seed[-1]['wall_s_this_invocation']} s",
            flush=True,
        )

    return records, per_seed, cutoffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--patients", type=int, default=1500)
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--min-n", type=int, default=50, help="strata with a smaller median n are reported apart")
    ap.add_argument("--mc-reps", type=int, default=300, help="design-matched truth: draws per design patient")
    ap.add_argument("--keep", action="store_true", help="keep submissions and release folders")
    ap.add_argument("--reuse", action="store_true", help="reuse a seed's warehouse when it exists")
    ap.add_argument(
        "--from-truth",
        action="store_true",
        help="no pipeline run: the pipeline's estimators on each seed's endpoint truth (generated without row "
        "defects), which the truth reconciliation tests show equals the pipeline's ADTTE; time-to-event rows only",
    )
    ap.add_argument("--interpretation-file", help="markdown paragraph(s) to put under Interpretation")
    ap.add_argument(
        "--from-json",
        type=Path,
        help="re-render the markdown from an earlier results json (no generation, no pipeline run)",
    )
    ap.add_argument(
        "--out-name",
        default="coverage",
        help="results file stem under benchmarks/results (a reduced run must not replace the full one)",
    )
    args = ap.parse_args()

    if args.from_json:
        old = json.loads(args.from_json.read_text(encoding="utf-8"))
        summ = {src: summarise(old["records"], old["meta"]["min_n"], src) for src in ("truth", "truth_matched")}
        write_md(RESULTS / f"{args.out_name}.md", old["meta"], summ, {src: pooled(r) for src, r in summ.items()})
        print(f"re-rendered {RESULTS / args.out_name}.md from {args.from_json}")
        return
    t0 = time.perf_counter()
    records, per_seed, cutoffs = _run_seeds(args)
    summ = {src: summarise(records, args.min_n, src) for src in ("truth", "truth_matched")}
    pool = {src: pooled(rows) for src, rows in summ.items()}
    meta = {
        "command": "python benchmarks/coverage_study.py " + " ".join(sys.argv[1:]),
        "mode": "from-truth" if args.from_truth else "pipeline",
        "seeds": args.seeds,
        "replicates": len(args.seeds),
        "patients": args.patients,
        "sites": args.sites,
        "min_n": args.min_n,
        "mc_reps": args.mc_reps,
        "cutoffs": cutoffs,
        "total_wall_s": round(time.perf_counter() - t0, 1),
        "pipeline_wall_s": round(sum((s.get("synth_s") or 0) + (s.get("run_s") or 0) for s in per_seed), 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if args.interpretation_file:
        meta["interpretation"] = Path(args.interpretation_file).read_text(encoding="utf-8").strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out_name}.json").write_text(
        json.dumps(
            {"meta": meta, "pooled_primary": pool, "summary": summ, "per_seed": per_seed, "records": records},
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    write_md(RESULTS / f"{args.out_name}.md", meta, summ, pool)
    print(
        f"pooled primary coverage: params truth {pool['truth']['covered']}/{pool['truth']['scored']}, "
        f"matched {pool['truth_matched']['covered']}/{pool['truth_matched']['scored']}; wrote "
        f"{RESULTS / args.out_name}.json and .md ({meta['total_wall_s']:.0f} s)"
    )


if __name__ == "__main__":
    main()
