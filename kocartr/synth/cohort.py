"""The latent patient model: who is ordered which product, when, and what truly happens to them.

Everything is a numpy array over patients (vectorized: 100k patients in well under a second). Dates are int64
days since 1970-01-01; NEVER marks an event that does not happen; months are int indices year * 12 + month - 1.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from kocartr.dictionary import Dictionary
from kocartr.synth import params as P

NEVER = np.int64(10**7)  # far after any cutoff
DAYS_PER_MONTH = 30.4375
_EPOCH = dt.date(1970, 1, 1)


def month_index(ym: str) -> int:
    y, m = ym.split("-")
    return int(y) * 12 + int(m) - 1


def month_label(idx: int) -> str:
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def month_start_day(idx: np.ndarray | int) -> np.ndarray:
    """First day (epoch days) of month index/indices."""
    idx = np.asarray(idx, dtype=np.int64)
    return (idx - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def day_to_month(days: np.ndarray) -> np.ndarray:
    """Epoch days -> month index."""
    mon = np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    return mon + 1970 * 12


def product_start_month(d: Dictionary, product: str) -> int | None:
    """First order month: the month after the Korean approval date on the product code list, else params."""
    approved = d.code_lists["product"].attribute(product, "approved_kr")
    if approved:
        return month_index(str(approved)[:7]) + 1
    start = P.PRODUCTS[product]["start"]
    return month_index(start) if start else None


@dataclass
class Cohort:
    """Latent truth for every patient ordered a CAR-T (arrays of equal length, one entry per patient)."""

    site: np.ndarray  # int index into sites
    sites: list[str]
    patient_id: np.ndarray  # str
    product: np.ndarray  # str
    target: np.ndarray  # antigen target of the product (CD19, BCMA)
    diagnosis: np.ndarray
    disease_group: np.ndarray
    sex: np.ndarray
    age: np.ndarray
    birth_year: np.ndarray
    order_day: np.ndarray
    consent_day: np.ndarray
    enrol_day: np.ndarray
    leuk_day: np.ndarray
    infusion_day: np.ndarray  # NEVER when not infused
    reinfusion_day: np.ndarray  # second infusion of the same product; NEVER when none
    infused: np.ndarray
    not_infused_reason: np.ndarray  # "" when infused
    reason_day: np.ndarray
    registered_late: np.ndarray
    in_registry: np.ndarray  # False when a retrospective patient died before enrolment (left truncation)
    crs_grade: np.ndarray  # 0 = no CRS
    crs_onset: np.ndarray  # days after infusion
    icans_grade: np.ndarray
    icans_onset: np.ndarray
    cured: np.ndarray
    prog_day: np.ndarray  # absolute days; NEVER
    death_day: np.ndarray
    death_cause: np.ndarray  # "" when alive
    death_form: np.ndarray  # False: the death is reported on the follow-up form only
    spm_day: np.ndarray
    spm_category: np.ndarray
    ltfu_day: np.ndarray
    preg_day: np.ndarray
    preg_subject: np.ndarray  # PATIENT or PARTNER; "" when no pregnancy
    cutoff_day: int

    @property
    def n(self) -> int:
        return len(self.site)


def _choice(rng: np.random.Generator, options: dict[str, float], n: int) -> np.ndarray:
    keys = list(options)
    p = np.array([options[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size=n, p=p / p.sum())]


def efficacy_key(product: str, group: str) -> str:
    key = f"{product}/{group}"
    return key if key in P.EFFICACY else f"{product}/*" if f"{product}/*" in P.EFFICACY else "TRIAL/*"


def lookup(keys: np.ndarray, mapping: dict, default=np.nan) -> np.ndarray:
    """mapping[key] per element, vectorized by looping over the few distinct keys."""
    first = next(iter(mapping.values()))
    out = np.full(len(keys), default, dtype=object if isinstance(first, str) else float)
    for k, v in mapping.items():
        out[keys == k] = v
    return out


def toxicity_grades(rng: np.random.Generator, product: np.ndarray, kind: str) -> np.ndarray:
    """Maximum CRS or ICANS grade per infused patient (0 = none) from the product's rates."""
    any_p = lookup(product, {p: t[f"{kind}_any"] for p, t in P.TOXICITY.items()})
    g3_p = lookup(product, {p: t[f"{kind}_g3"] for p, t in P.TOXICITY.items()})
    u = rng.random(len(product))
    low = np.where(rng.random(len(product)) < 0.6, 1, 2)
    hi_u = rng.random(len(product))
    high = np.where(hi_u < P.G5_GIVEN_G3, 5, np.where(hi_u < P.G5_GIVEN_G3 + 0.3, 4, 3))
    return np.where(u < g3_p, high, np.where(u < any_p, low, 0)).astype(np.int64)


def outcomes(
    rng: np.random.Generator,
    product: np.ndarray,
    group: np.ndarray,
    target: np.ndarray,
    crs_grade: np.ndarray,
    crs_onset: np.ndarray,
    icans_grade: np.ndarray,
    icans_onset: np.ndarray,
) -> dict[str, np.ndarray]:
    """True event times in days after infusion (progression, death and its cause class, SPM).

    Shared by the cohort and the large Monte Carlo in truth.py, so ground truth is the generating model.
    """
    n = len(product)
    par = {k: np.full(n, np.nan) for k in ("cure", "prog_median_mo", "post_prog_mo", "nrm_1y")}
    for prod in np.unique(product.astype(str)):
        pm = product == prod
        for grp in np.unique(group[pm].astype(str)):
            m = pm & (group == grp)
            for k in par:
                par[k][m] = P.EFFICACY[efficacy_key(prod, grp)][k]
    cured = rng.random(n) < par["cure"]
    t_prog = np.maximum(20.0, rng.exponential(par["prog_median_mo"] / np.log(2) * DAYS_PER_MONTH))
    t_prog = np.where(cured, np.inf, t_prog)
    # NRM: early Weibull (shape < 1, scale so that P(T <= 365) = nrm_1y) competing with a late constant hazard.
    scale = 365.0 / (-np.log1p(-par["nrm_1y"])) ** (1 / P.NRM_EARLY_SHAPE)
    t_early = scale * rng.weibull(P.NRM_EARLY_SHAPE, n)
    t_late = rng.exponential(365.0 / P.NRM_LATE_PER_YEAR, n)
    t_nrm = np.maximum(1.0, np.minimum(t_early, t_late))
    # Grade 5 CRS / ICANS is death from it, a few days after onset.
    tox_death = np.full(n, np.inf)
    tox_cause = np.full(n, "", dtype=object)
    for grade, onset, cause in ((icans_grade, icans_onset, "ICANS"), (crs_grade, crs_onset, "CRS")):
        g5 = grade == 5
        tox_death = np.where(g5, onset + rng.integers(2, 15, n), tox_death)
        tox_cause = np.where(g5, cause, tox_cause)
    t_nrm = np.where(np.isfinite(tox_death), tox_death, t_nrm)
    t_prog = np.where(t_nrm <= t_prog, np.inf, t_prog)
    t_pp = rng.exponential(par["post_prog_mo"] / np.log(2) * DAYS_PER_MONTH, n) + 7
    death = np.where(np.isfinite(t_prog), t_prog + t_pp, t_nrm)
    # A patient lives at least until the onset of each toxicity drawn for them: the toxicity rates are
    # estimation targets (params.json), so the rare early death moves instead of the toxicity vanishing.
    last_onset = np.maximum(np.where(crs_grade > 0, crs_onset, -1), np.where(icans_grade > 0, icans_onset, -1))
    death = np.maximum(death, last_onset + 1.0)
    nrm = ~np.isfinite(t_prog)
    spm_rate = lookup(target, P.SPM_PER_YEAR, P.SPM_PER_YEAR["CD19"])
    t_spm = rng.exponential(365.0 / spm_rate) + 30
    t_spm = np.where(t_spm < death, t_spm, np.inf)
    return {"cured": cured, "t_prog": t_prog, "t_death": death, "nrm": nrm, "tox_cause": tox_cause, "t_spm": t_spm}


Arrays = dict[str, np.ndarray]


def _orders(rng: np.random.Generator, n: int, m0: int, m1: int) -> Arrays:
    """Order dates: monthly volume grows over time (reimbursement, new centres), a linear ramp."""
    months = np.arange(m0, m1 + 1)
    w = 1.0 + 2.0 * (months - m0) / max(1, m1 - m0)
    order_month = rng.choice(months, size=n, p=w / w.sum())
    start = month_start_day(order_month)
    length = month_start_day(order_month + 1) - start
    order_day = start + (rng.random(n) * length).astype(np.int64)
    return {"order_month": order_month, "order_day": order_day}


def _products(d: Dictionary, rng: np.random.Generator, order_month: np.ndarray, m0: int) -> np.ndarray:
    """Product by what is available in the order month."""
    prods = list(P.PRODUCTS)
    starts = np.array([product_start_month(d, p) if product_start_month(d, p) is not None else m0 for p in prods])
    weights = np.array([P.PRODUCTS[p]["weight"] for p in prods])
    avail = (order_month[:, None] >= starts[None, :]) * weights[None, :]
    cum = np.cumsum(avail, axis=1) / avail.sum(axis=1, keepdims=True)
    return np.array(prods, dtype=object)[(rng.random(len(order_month))[:, None] > cum).sum(axis=1)]


def _disease(d: Dictionary, rng: np.random.Generator, product: np.ndarray) -> Arrays:
    """Diagnosis by product; antigen target from the product code list, trial products by disease (myeloma trials
    target BCMA)."""
    target_of = {c.code: c.attributes.get("target", "") for c in d.code_lists["product"].codes}
    diagnosis = np.empty(len(product), dtype=object)
    for p in P.PRODUCTS:
        idx = np.flatnonzero(product == p)
        diagnosis[idx] = _choice(rng, P.PRODUCTS[p]["diseases"], len(idx))
    group_of = {c.code: c.attributes.get("disease_group", "OTHER") for c in d.code_lists["diagnosis"].codes}
    disease_group = lookup(diagnosis, group_of, "OTHER")
    target = lookup(product, target_of, "").astype(object)
    target = np.where(target != "", target, np.where(disease_group == "MM", "BCMA", "CD19")).astype(object)
    return {"diagnosis": diagnosis, "disease_group": disease_group, "target": target}


def _demographics(rng: np.random.Generator, diagnosis: np.ndarray, group: np.ndarray, order_day: np.ndarray) -> Arrays:
    n = len(diagnosis)
    age = np.where(
        diagnosis == "B_ALL",
        rng.integers(3, 26, n),
        np.where(group == "MM", np.clip(rng.normal(61, 8, n), 35, 82), np.clip(rng.normal(58, 13, n), 19, 84)),
    ).astype(np.int64)
    birth_year = day_to_month(order_day) // 12 - age - (rng.random(n) < 0.5)
    sex = np.where(rng.random(n) < 0.58, "M", "F").astype(object)
    return {"age": age, "birth_year": birth_year, "sex": sex}


def _site_ids(rng: np.random.Generator, site_codes: list[str], order_day: np.ndarray) -> Arrays:
    """Sites differ in size (a few large centres); the site-issued id numbers patients in order of CAR-T order."""
    sites, n = len(site_codes), len(order_day)
    order_rank = np.argsort(order_day, kind="stable")
    sw = 1.0 / np.arange(1, sites + 1) ** 0.7
    site = rng.choice(sites, size=n, p=sw / sw.sum())
    seq = np.empty(n, dtype=np.int64)
    for s in range(sites):
        members = order_rank[site[order_rank] == s]
        seq[members] = np.arange(1, len(members) + 1)
    patient_id = np.array([f"{site_codes[s]}-P{q:05d}" for s, q in zip(site, seq)], dtype=object)
    return {"site": site, "patient_id": patient_id}


def _pathway(rng: np.random.Generator, order_day: np.ndarray) -> Arrays:
    """Leukapheresis, infusion (or the reason there was none) and registry enrolment, prospective or late."""
    n = len(order_day)
    leuk = order_day + rng.integers(5, 26, n)
    infused = rng.random(n) >= P.NOT_INFUSED
    infusion = np.where(infused, leuk + rng.integers(28, 61, n), NEVER)
    reason = np.where(infused, "", _choice(rng, P.NOT_INFUSED_REASONS, n)).astype(object)
    reason_day = np.where(infused, NEVER, leuk + rng.integers(14, 61, n))
    late = infused & (rng.random(n) < P.REGISTERED_LATE / (1 - P.NOT_INFUSED))
    consent_pro = order_day + rng.integers(0, 8, n)
    enrol_pro = consent_pro + rng.integers(0, 6, n)
    enrol_late = infusion + rng.integers(20, 500, n)
    return {
        "leuk_day": leuk,
        "infused": infused,
        "infusion_day": infusion,
        "not_infused_reason": reason,
        "reason_day": reason_day,
        "registered_late": late,
        "enrol_day": np.where(late, enrol_late, enrol_pro),
        "consent_day": np.where(late, enrol_late - rng.integers(0, 8, n), consent_pro),
    }


def _toxicity(rng: np.random.Generator, product: np.ndarray, infused: np.ndarray) -> Arrays:
    """Latent maximum CRS / ICANS grade and onset day per infused patient (params.TOXICITY)."""
    n = len(product)
    crs = np.where(infused, toxicity_grades(rng, product, "crs"), 0)
    icans = np.where(infused, toxicity_grades(rng, product, "icans"), 0)
    crs_med = lookup(product, {p: float(t["crs_onset"]) for p, t in P.TOXICITY.items()})
    icans_med = lookup(product, {p: float(t["icans_onset"]) for p, t in P.TOXICITY.items()})
    crs_onset = np.clip(np.rint(crs_med * np.exp(rng.normal(0, P.ONSET_LOG_SD["crs"], n))), 0, 14).astype(np.int64)
    icans_onset = np.clip(np.rint(icans_med * np.exp(rng.normal(0, P.ONSET_LOG_SD["icans"], n))), 1, 30).astype(
        np.int64
    )
    return {"crs_grade": crs, "crs_onset": crs_onset, "icans_grade": icans, "icans_onset": icans_onset}


def _deaths(d: Dictionary, rng: np.random.Generator, v: Arrays, o: Arrays, death_day: np.ndarray) -> Arrays:
    """Death cause: progression -> primary disease; NRM -> grade 5 toxicity or the dictionary's NRM causes; not
    infused because of death: death before infusion from the disease."""
    n = len(death_day)
    nrm_codes = [
        c.code
        for c in d.code_lists["death_cause"].codes
        if c.attributes.get("nrm") and c.code not in P.NRM_CAUSES_FROM_EVENTS
    ]
    nrm_w = {c: (len(nrm_codes) - 1.0 if c == "INFECTION" else 1.0) for c in nrm_codes}  # half are infections
    disease_causes = [c.code for c in d.code_lists["death_cause"].codes if c.attributes.get("nrm") is False]
    cause = np.where(o["nrm"], _choice(rng, nrm_w, n), disease_causes[0]).astype(object)
    cause = np.where(o["tox_cause"] != "", o["tox_cause"], cause)
    cause = np.where(o["nrm"] & (v["spm_day"] < death_day) & (rng.random(n) < 0.5), "SECONDARY_MALIGNANCY", cause)
    died_before = ~v["infused"] & (v["not_infused_reason"] == "DEATH")
    death_day = np.where(died_before, v["reason_day"], death_day)
    cause = np.where(died_before, disease_causes[0], np.where(death_day < NEVER, cause, "")).astype(object)
    return {"death_day": death_day, "death_cause": cause}


def _late_course(rng: np.random.Generator, v: Arrays) -> Arrays:
    """New-malignancy category, loss to follow-up, pregnancies, re-infusion and a missing death form."""
    n, infused, infusion, death_day = len(v["sex"]), v["infused"], v["infusion_day"], v["death_day"]
    spm_cat = np.where(v["spm_day"] < NEVER, _choice(rng, P.SPM_CATEGORIES, n), "").astype(object)
    myeloid_bcma = (v["target"] == "BCMA") & (rng.random(n) < P.SPM_MYELOID_BCMA)
    spm_cat = np.where((v["spm_day"] < NEVER) & myeloid_bcma, "MDS_AML", spm_cat).astype(object)
    ltfu_from = np.maximum(v["enrol_day"], np.where(infused, infusion, v["enrol_day"]))
    ltfu = ltfu_from + rng.exponential(365.0 / P.LTFU_PER_YEAR, n).astype(np.int64)
    lo = lookup(v["sex"], {s: float(a[0]) for s, a in P.FERTILE_AGES.items()})
    hi = lookup(v["sex"], {s: float(a[1]) for s, a in P.FERTILE_AGES.items()})
    subject = np.where(v["sex"] == "F", "PATIENT", "PARTNER").astype(object)
    fertile = infused & (v["age"] >= lo) & (v["age"] <= hi)
    preg = infusion + 120 + rng.exponential(365.0 / lookup(subject, P.PREGNANCY_PER_YEAR)).astype(np.int64)
    preg = np.where(fertile & (preg < death_day), preg, NEVER)
    # Re-infusion after progression (same product), while the patient still has >= 45 days to live.
    prog_day = v["prog_day"]
    reinf = prog_day + rng.integers(14, 46, n)
    reinf_ok = (prog_day < NEVER) & (death_day - prog_day >= 45) & (rng.random(n) < P.REINFUSION_AFTER_PROGRESSION)
    return {
        "spm_category": spm_cat,
        "ltfu_day": ltfu,
        "preg_day": preg,
        "preg_subject": np.where(preg < NEVER, subject, "").astype(object),
        "reinfusion_day": np.where(reinf_ok & (reinf < death_day), reinf, NEVER),
        "death_form": ~(infused & (death_day < NEVER) & (rng.random(n) < P.DEATH_FORM_MISSING)),
    }


def build_cohort(
    d: Dictionary, rng: np.random.Generator, patients: int, sites: int, first_month: str, last_month: str
) -> Cohort:
    site_codes = list(d.codes("site"))[:sites]
    if len(site_codes) < sites:
        raise ValueError(f"the dictionary lists only {len(site_codes)} sites")
    m0, m1 = month_index(first_month), month_index(last_month)
    # Stages in a fixed order: each draws from the one stream, so the order is part of the seed's meaning.
    v: Arrays = _orders(rng, patients, m0, m1)
    v["product"] = _products(d, rng, v["order_month"], m0)
    v |= _disease(d, rng, v["product"])
    v |= _demographics(rng, v["diagnosis"], v["disease_group"], v["order_day"])
    v |= _site_ids(rng, site_codes, v["order_day"])
    v |= _pathway(rng, v["order_day"])
    v |= _toxicity(rng, v["product"], v["infused"])
    tox = [v[k] for k in ("crs_grade", "crs_onset", "icans_grade", "icans_onset")]
    o = outcomes(rng, v["product"], v["disease_group"], v["target"], *tox)

    def absolute(t: np.ndarray) -> np.ndarray:
        return np.where(
            v["infused"] & np.isfinite(t),
            v["infusion_day"] + np.floor(np.nan_to_num(t, posinf=0)).astype(np.int64),
            NEVER,
        )

    v["prog_day"], v["spm_day"], v["cured"] = absolute(o["t_prog"]), absolute(o["t_spm"]), o["cured"]
    v |= _deaths(d, rng, v, o, absolute(o["t_death"]))
    v |= _late_course(rng, v)
    v["in_registry"] = ~(v["registered_late"] & (v["death_day"] < v["enrol_day"])) & (
        day_to_month(v["enrol_day"]) <= m1
    )
    del v["order_month"]
    return Cohort(sites=site_codes, cutoff_day=int(month_start_day(m1 + 1)) - 1, **v)


def patients_frame(c: Cohort):
    """One row per patient with the latent truth (ground_truth/patients.parquet)."""
    import polars as pl

    def date(a: np.ndarray) -> pl.Series:
        return pl.Series(np.where(a >= NEVER, np.datetime64("NaT", "D"), a.astype("datetime64[D]")))

    inf = c.infusion_day

    def rel(a: np.ndarray) -> np.ndarray:
        return np.where((a < NEVER) & c.infused, (a - inf).astype(float), np.nan)

    return pl.DataFrame(
        {
            "site": [c.sites[s] for s in c.site],
            "patient_id": c.patient_id.astype(str),
            "product": c.product.astype(str),
            "target": c.target.astype(str),
            "diagnosis": c.diagnosis.astype(str),
            "disease_group": c.disease_group.astype(str),
            "sex": c.sex.astype(str),
            "age": c.age,
            "birth_year": c.birth_year,
            "order_date": date(c.order_day),
            "consent_date": date(c.consent_day),
            "enrolment_date": date(c.enrol_day),
            "leukapheresis_date": date(c.leuk_day),
            "infusion_date": date(c.infusion_day),
            "infused": c.infused,
            "not_infused_reason": c.not_infused_reason.astype(str),
            "registered_late": c.registered_late,
            "in_registry": c.in_registry,
            "crs_grade": c.crs_grade,
            "crs_onset_day": np.where(c.crs_grade > 0, c.crs_onset, -1),
            "icans_grade": c.icans_grade,
            "icans_onset_day": np.where(c.icans_grade > 0, c.icans_onset, -1),
            "cured": c.cured,
            "progression_date": date(c.prog_day),
            "progression_day": rel(c.prog_day),
            "death_date": date(c.death_day),
            "death_day": rel(c.death_day),
            "death_cause": c.death_cause.astype(str),
            "spm_date": date(c.spm_day),
            "spm_day": rel(c.spm_day),
            "spm_category": c.spm_category.astype(str),
            "ltfu_date": date(c.ltfu_day),
            "pregnancy_date": date(c.preg_day),
            "pregnancy_subject": c.preg_subject.astype(str),
            "reinfusion_date": date(c.reinfusion_day),
            "death_form_reported": c.death_form,
            "censor_date": date(np.minimum(c.ltfu_day, c.cutoff_day)),
        }
    )
