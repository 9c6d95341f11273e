"""Turn the latent cohort into form rows, each with the registry month in which the site submits it.

Each builder returns a FormRows: the patient of every row, the day the row becomes reportable, and the form's
columns as numpy arrays (dates as epoch days with NEVER for blank, numbers as float with NaN for blank, codes and
text as object arrays with "" for blank). `to_frame` then types them as submission strings by the dictionary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from kocartr.dictionary import Dictionary
from kocartr.synth import params as P
from kocartr.synth.cohort import NEVER, Cohort, day_to_month, lookup
from kocartr.synth.rules import codes_by_grade, grade_of

if TYPE_CHECKING:
    import polars as pl

OBJ = object


@dataclass
class FormRows:
    pidx: np.ndarray  # patient index per row
    report_day: np.ndarray  # the row can be sent once this day has passed
    cols: dict[str, np.ndarray | pl.Series] = field(default_factory=dict)  # numpy, or polars for string columns
    decimals: dict[str, np.ndarray | int] = field(default_factory=dict)  # decimal places per decimal column


def _pick(rng: np.random.Generator, options: list[str], n: int, p: list[float] | None = None) -> np.ndarray:
    p_arr = None if p is None else np.asarray(p, float) / np.sum(p)
    return np.array(options, dtype=OBJ)[rng.choice(len(options), size=n, p=p_arr)]


def _blank(mask: np.ndarray, values: np.ndarray, blank) -> np.ndarray:
    return np.where(mask, blank, values)


def _hangul_pick(rng: np.random.Generator, texts: tuple[str, ...], n: int, share: float) -> np.ndarray:
    return np.where(rng.random(n) < share, _pick(rng, list(texts), n), "").astype(OBJ)


def _alive_observed(c: Cohort, pidx: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Rows the site can know about: on or before death, follow-up loss and the data cutoff."""
    return (day <= c.death_day[pidx]) & (day <= c.ltfu_day[pidx]) & (day <= c.cutoff_day)


def _take(v, keep: np.ndarray):
    """Boolean selection for numpy arrays and polars Series alike."""
    return v[keep] if isinstance(v, np.ndarray) else v.filter(keep)


# --- per-patient latent lab state, shared by baseline (CAR-HEMATOTOX) and the lab form -------------------------


def latent_labs(c: Cohort, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = c.n
    return {
        "anc_base": np.clip(rng.lognormal(np.log(3.0), 0.5, n), 0.3, 30),
        "anc_nadir": np.clip(
            rng.lognormal(np.log(P.ANC_COURSE["nadir_median"]), P.ANC_COURSE["nadir_log_sd"], n), 0.01, 0.45
        ),
        "anc_rec": np.clip(
            rng.lognormal(np.log(P.ANC_COURSE["recovery_median_day"]), P.ANC_COURSE["recovery_log_sd"], n), 3, 150
        ),
        "anc_dip": rng.random(n) < 0.12,
        "plt_base": np.clip(rng.lognormal(np.log(150), 0.5, n), 15, 900),
        "plt_nadir": np.clip(rng.lognormal(np.log(25), 0.6, n), 3, 60),
        "plt_rec": np.clip(rng.lognormal(np.log(14), 0.7, n), 3, 200),
        "hgb_base": np.clip(rng.normal(10.5, 1.5, n), 6.5, 15.5),
        "crp": np.clip(rng.lognormal(np.log(1.0), 1.0, n), 0.01, 40),
        "ferritin": np.clip(rng.lognormal(np.log(600), 0.9, n), 10, 20000),
        "igg_base": np.clip(rng.lognormal(np.log(700), 0.35, n), 150, 2500),
        "b_rec": rng.lognormal(np.log(P.B_CELL_RECOVERY["median_day"]), P.B_CELL_RECOVERY["log_sd"], n),
        "car_peak": np.clip(rng.lognormal(np.log(2e4), 1.0, n), 50, 5e6),
    }


def _count_curve(base, nadir, rec, day, floor_after, rng):
    """Cytopenia after lymphodepletion: baseline before day 0, nadir until recovery, then a rise to a plateau."""
    plateau = np.maximum(floor_after * 2, base * rng.uniform(0.5, 0.95, len(day)))
    after = plateau - (plateau - floor_after * 1.2) * np.exp(-(day - rec) / 10.0)
    v = np.where(day < 0, base, np.where(day < rec, nadir, after))
    v = v * rng.lognormal(0, 0.12, len(day))
    return np.where(day >= rec, np.maximum(v, floor_after), np.where(day < 0, v, np.minimum(v, floor_after * 0.95)))


# --- builders ------------------------------------------------------------------------------------------------


def registration(c: Cohort, rng: np.random.Generator) -> tuple[FormRows, FormRows]:
    """The enrolment row, and the later update row that fills not_infused_reason when it becomes known."""
    idx = np.flatnonzero(c.in_registry)
    lag_month = day_to_month(c.reason_day[idx] + 20)
    known_at_enrol = ~c.infused[idx] & (lag_month <= day_to_month(c.enrol_day[idx]))
    reg = FormRows(
        idx,
        c.enrol_day[idx],
        {
            "consent_date": c.consent_day[idx],
            "enrolment_date": c.enrol_day[idx],
            "cart_order_date": c.order_day[idx],
            "birth_year": c.birth_year[idx].astype(float),
            "sex": c.sex[idx],
            "not_infused_reason": np.where(known_at_enrol, c.not_infused_reason[idx], "").astype(OBJ),
        },
    )
    u = idx[~c.infused[idx] & ~known_at_enrol]
    upd = FormRows(
        u,
        c.reason_day[u],
        {
            "consent_date": c.consent_day[u],
            "enrolment_date": c.enrol_day[u],
            "cart_order_date": c.order_day[u],
            "birth_year": c.birth_year[u].astype(float),
            "sex": c.sex[u],
            "not_infused_reason": c.not_infused_reason[u],
        },
    )
    return reg, upd


def baseline(c: Cohort, rng: np.random.Generator, labs: dict[str, np.ndarray], second: bool = False) -> FormRows:
    """Form 4000 per infusion: the first, or (second=True) the re-infusion of the patients who had one."""
    idx = np.flatnonzero(c.in_registry & (c.reinfusion_day < NEVER if second else c.infused))
    n = len(idx)
    inf = (c.reinfusion_day if second else c.infusion_day)[idx]
    grp = c.disease_group[idx]
    ld_start = inf - rng.integers(5, 7, n)
    ld_end = ld_start + 2
    dx_back = np.where(grp == "ALL", rng.integers(90, 1500, n), rng.integers(200, 3000, n))
    prior_lines = np.where(grp == "MM", rng.integers(1, 7, n), rng.integers(2, 5, n))
    hct = np.where(
        grp == "MM",
        _pick(rng, ["AUTO", "NONE", "BOTH"], n, [0.75, 0.22, 0.03]),
        np.where(
            grp == "ALL",
            _pick(rng, ["NONE", "ALLO"], n, [0.7, 0.3]),
            _pick(rng, ["NONE", "AUTO", "ALLO"], n, [0.72, 0.25, 0.03]),
        ),
    )
    ecog = rng.choice([0, 1, 2, 3], size=n, p=[0.35, 0.48, 0.14, 0.03]).astype(float)
    has_htx = rng.random(n) < 0.9
    blank = ~has_htx
    rows = FormRows(
        idx,
        inf,
        {
            "infusion_number": np.full(n, 2.0 if second else 1.0),
            "diagnosis": c.diagnosis[idx],
            "disease_group": grp,
            "diagnosis_date": _blank(rng.random(n) < 0.05, ld_start - dx_back, NEVER),
            "disease_status": _pick(
                rng,
                ["CR", "PR", "SD", "PD", "RELAPSE", "REFRACTORY", "UNKNOWN"],
                n,
                [0.05, 0.2, 0.15, 0.3, 0.15, 0.13, 0.02],
            ),
            "prior_lines": prior_lines.astype(float),
            "prior_hct": hct,
            "bridging_therapy": _pick(
                rng, ["NONE", "CHEMO", "RT", "CHEMO_RT", "OTHER"], n, [0.35, 0.35, 0.12, 0.08, 0.1]
            ),
            "ld_regimen": _pick(rng, ["FLU_CY", "BENDA", "OTHER"], n, [0.93, 0.05, 0.02]),
            "ld_start_date": ld_start,
            "ld_end_date": _blank(rng.random(n) < 0.03, ld_end, NEVER),
            "ecog": _blank(rng.random(n) < 0.05, ecog, np.nan),
            "hematotox_date": _blank(blank, ld_start - rng.integers(0, 3, n), NEVER),
            "hematotox_anc": _blank(blank, labs["anc_base"][idx], np.nan),
            "hematotox_hgb": _blank(blank, labs["hgb_base"][idx], np.nan),
            "hematotox_plt": _blank(blank, labs["plt_base"][idx], np.nan),
            "hematotox_crp": _blank(blank, labs["crp"][idx], np.nan),
            "hematotox_ferritin": _blank(blank, labs["ferritin"][idx], np.nan),
            "comment": _hangul_pick(rng, P.KO_COMMENTS, n, 0.2),
        },
        {"hematotox_anc": 2, "hematotox_hgb": 1, "hematotox_plt": 0, "hematotox_crp": 2, "hematotox_ferritin": 0},
    )
    return select(rows, _alive_observed(c, idx, inf)) if second else rows


def product_infusion(d: Dictionary, c: Cohort, rng: np.random.Generator, second: bool = False) -> FormRows:
    """Form 4006 per infusion: the first, or (second=True) a re-infusion of the same product (same apheresis)."""
    idx = np.flatnonzero(c.in_registry & (c.reinfusion_day < NEVER if second else c.infused))
    n = len(idx)
    prod = c.product[idx]
    inf = (c.reinfusion_day if second else c.infusion_day)[idx]
    cols: dict[str, np.ndarray | pl.Series] = {
        "infusion_number": np.full(n, 2.0 if second else 1.0),
        "product_code": prod,
        "product_setting": np.array([P.PRODUCTS[p]["setting"] for p in prod], dtype=OBJ),
        "leukapheresis_date": c.leuk_day[idx],
        "infusion_date": inf,
        "out_of_specification": _pick(rng, ["N", "Y", "U"], n, [0.96, 0.03, 0.01]),
    }
    # Product identifiers exactly where the dictionary's required_if asks for them (CIBMTR 4006 table).
    for f in d.form("product_infusion").fields:
        if "product_code" in f.required_if:
            need = np.isin(prod, list(f.required_if["product_code"]))
            ident = np.array([f"{f.name[:2].upper()}-{x:07X}" for x in rng.integers(0, 16**7, n)], dtype=OBJ)
            cols[f.name] = np.where(need, ident, "").astype(OBJ)
    per_kg = np.isin(prod, ["AXI_CEL", "CILTA_CEL", "ANBAL_CEL"])
    dose = np.where(
        per_kg,
        np.where(prod == "CILTA_CEL", rng.uniform(0.5, 1.0, n), rng.uniform(1.0, 2.0, n)),
        rng.uniform(0.6, 6.0, n),
    )
    no_dose = rng.random(n) < 0.04
    cols["dose_value"] = np.where(no_dose, np.nan, dose)
    cols["dose_unit"] = np.where(no_dose, "", np.where(per_kg, "CELLS_1E6_PER_KG", "CELLS_1E8")).astype(OBJ)
    rows = FormRows(idx, inf, cols, {"dose_value": 2})
    return select(rows, _alive_observed(c, idx, inf)) if second else rows


def _component_codes(
    d: Dictionary, rng: np.random.Generator, grade: np.ndarray, domains: list[str]
) -> dict[str, np.ndarray]:
    """Pick one code per grading domain so that the worst domain equals `grade` (ASTCT: grade = max component).

    Grades come from the code lists' astct_grade attributes; a random domain able to reach the grade carries it,
    the others take codes of lower or equal grade (mostly the mildest).
    """
    n = len(grade)
    by = {dom: codes_by_grade(d, dom) for dom in domains}
    out = {dom: np.empty(n, dtype=OBJ) for dom in domains}
    for g in np.unique(grade):
        rows = np.flatnonzero(grade == g)
        able = [dom for dom in domains if g in by[dom]]
        carrier = np.array(able, dtype=OBJ)[rng.integers(0, len(able), len(rows))]
        for dom in domains:
            mild = sorted(k for k in by[dom] if k <= g)
            lower = [k for k in mild if k < g] or mild
            low_codes = [code for k in lower for code in by[dom][k]]
            weights = np.array([4.0 if grade_of(d, dom, code) == min(by[dom]) else 1.0 for code in low_codes])
            pick_low = np.array(low_codes, dtype=OBJ)[rng.choice(len(low_codes), len(rows), p=weights / weights.sum())]
            top = by[dom].get(g, low_codes)
            pick_top = np.array(top, dtype=OBJ)[rng.integers(0, len(top), len(rows))]
            out[dom][rows] = np.where(carrier == dom, pick_top, pick_low)
    return out


def crs(d: Dictionary, c: Cohort, rng: np.random.Generator, episodes: Episodes | None = None) -> FormRows:
    """One row per CRS episode: each patient's first (latent grade and onset), or the given further episodes."""
    idx, g, onset = episodes or first_episodes(c, "crs")
    n = len(idx)
    comp = _component_codes(d, rng, np.minimum(g, 4), ["crs_hypotension", "crs_hypoxia"])
    resolved = onset + np.ceil(rng.gamma(2.0, 1.5 + g, n)).astype(np.int64)
    resolution = np.where((g == 5) | (resolved > c.death_day[idx]), NEVER, resolved)
    toci = np.where(g >= 2, rng.random(n) < 0.9, rng.random(n) < 0.25)
    icu = np.where(g >= 3, rng.random(n) < 0.85, rng.random(n) < 0.03)
    return FormRows(
        idx,
        np.where(resolution < NEVER, resolution, onset),
        {
            "onset_date": onset,
            "resolution_date": resolution,
            "max_temperature_c": _blank(rng.random(n) < 0.1, np.round(rng.uniform(38.0, 40.6, n), 1), np.nan),
            "fever": np.full(n, "Y", dtype=OBJ),
            "hypotension": comp["crs_hypotension"],
            "hypoxia": comp["crs_hypoxia"],
            "astct_grade": g.astype(float),
            "tocilizumab": np.where(toci, "Y", "N").astype(OBJ),
            "tocilizumab_doses": np.where(toci, rng.integers(1, 5, n), np.nan),
            "steroids": np.where(g >= 3, "Y", np.where(rng.random(n) < 0.2, "Y", "N")).astype(OBJ),
            "icu_admission": np.where(icu, "Y", "N").astype(OBJ),
            "icu_days": np.where(icu, rng.integers(1, 12, n), np.nan),
            **_seriousness(np.full(n, "CRS"), g, 1),
        },
        {"max_temperature_c": 1},
    )


def icans(d: Dictionary, c: Cohort, rng: np.random.Generator, episodes: Episodes | None = None) -> FormRows:
    """One row per ICANS episode: each patient's first (latent grade and onset), or the given further episodes."""
    idx, g, onset = episodes or first_episodes(c, "icans")
    n = len(idx)
    g4 = np.minimum(g, 4)
    comp = _component_codes(d, rng, g4, ["icans_consciousness", "icans_seizure", "icans_cerebral_edema"])
    # Motor weakness (grade 4 when present) carries some grade-4 episodes; then the others stay below 4.
    motor = (g4 == P.MOTOR_WEAKNESS_GRADE) & (rng.random(n) < 0.15)
    for dom in ("icans_consciousness", "icans_seizure", "icans_cerebral_edema"):
        grades = np.array([grade_of(d, dom, x) for x in comp[dom]])
        mild = codes_by_grade(d, dom)[0][0]
        comp[dom] = np.where(motor & (grades == 4), mild, comp[dom])
    cons_grade = np.array([grade_of(d, "icans_consciousness", x) for x in comp["icans_consciousness"]])
    # ICE score within the band of a grade <= the episode grade; 0 when unarousable (ASTCT).
    ice_grade = np.where(rng.random(n) < 0.7, np.minimum(g4, 3), np.maximum(0, np.minimum(g4, 3) - 1))
    lo = np.array([P.ICE_BANDS[k][0] for k in ice_grade])
    hi = np.array([P.ICE_BANDS[k][1] for k in ice_grade])
    ice = np.where(cons_grade == 4, 0, lo + np.floor(rng.random(n) * (hi - lo + 1))).astype(float)
    child = c.age[idx] < 12
    clo = np.array([P.CAPD_BANDS[k][0] for k in g4])
    chi = np.array([P.CAPD_BANDS[k][1] for k in g4])
    capd = (clo + np.floor(rng.random(n) * (chi - clo + 1))).astype(float)
    resolved = onset + np.ceil(rng.gamma(2.0, 1.0 + g, n)).astype(np.int64)
    resolution = np.where((g == 5) | (resolved > c.death_day[idx]), NEVER, resolved)
    return FormRows(
        idx,
        np.where(resolution < NEVER, resolution, onset),
        {
            "onset_date": onset,
            "resolution_date": resolution,
            "ice_score": np.where(child, np.nan, ice),
            "capd_score": np.where(child, capd, np.nan),
            "consciousness": comp["icans_consciousness"],
            "seizure": comp["icans_seizure"],
            "motor_weakness": np.where(motor, "Y", "N").astype(OBJ),
            "cerebral_edema": comp["icans_cerebral_edema"],
            "astct_grade": g.astype(float),
            "steroids": np.where(g >= 2, "Y", np.where(rng.random(n) < 0.3, "Y", "N")).astype(OBJ),
            "icu_admission": np.where((g >= 3) & (rng.random(n) < 0.7), "Y", "N").astype(OBJ),
            **_seriousness(np.full(n, "ICANS"), g, 2),
        },
    )


Episodes = tuple[np.ndarray, np.ndarray, np.ndarray]  # patient index, ASTCT grade, onset (epoch day) per episode


def first_episodes(c: Cohort, kind: str) -> Episodes:
    grade = c.crs_grade if kind == "crs" else c.icans_grade
    onset = c.crs_onset if kind == "crs" else c.icans_onset
    idx = np.flatnonzero(c.in_registry & (grade > 0))
    return idx, grade[idx], c.infusion_day[idx] + onset[idx]


def later_episodes(c: Cohort, rng: np.random.Generator, kind: str) -> Episodes:
    """Further, milder episodes (grade <= the first): CRS after a re-infusion, a recurrent ICANS episode a few days
    after the first. Only those the site can know about (before death, loss to follow-up and the cut-off)."""
    idx, g, first = first_episodes(c, kind)
    if kind == "crs":
        pick = (c.reinfusion_day[idx] < NEVER) & (rng.random(len(idx)) < P.CRS_AFTER_REINFUSION)
        onset = c.reinfusion_day[idx] + rng.integers(1, 8, len(idx))
    else:
        pick = (g < 5) & (rng.random(len(idx)) < P.ICANS_RECURRENT)
        onset = first + 12 + rng.integers(0, 10, len(idx))  # after the first episode resolved (gamma mean < 12 d)
    grade = np.minimum(g, np.where(rng.random(len(idx)) < 0.7, 1, 2))
    keep = pick & _alive_observed(c, idx, onset + 8)
    return idx[keep], grade[keep], onset[keep]


def adverse_event(c: Cohort, rng: np.random.Generator, labs: dict[str, np.ndarray]) -> FormRows:
    base = np.flatnonzero(c.in_registry & c.infused)
    specs = [  # term, share, onset day range, grade choices, duration range
        ("NEUTROPENIA", 0.70, (0, 5), [3, 4], (5, 40)),
        ("THROMBOCYTOPENIA", 0.40, (0, 10), [2, 3, 4], (7, 60)),
        ("ANEMIA", 0.30, (0, 14), [2, 3], (7, 60)),
        (
            "INFECTION",
            P.INFECTION["early_share"],
            P.INFECTION["early_days"],
            [2, 3, 4, 5],
            P.INFECTION["duration_days"],
        ),
        ("IEC_HS", 0.02, (5, 20), [2, 3, 4], (7, 30)),
        ("HYPOGAMMAGLOBULINEMIA", 0.20, (60, 200), [2, 3], (60, 400)),
        ("TLS", 0.01, (0, 5), [3, 4], (2, 10)),
        ("OTHER", 0.05, (1, 90), [1, 2, 3], (3, 30)),
    ]
    parts = []
    for term, share, (a, b), grades, (da, db) in specs:
        p = base[rng.random(len(base)) < share]
        n = len(p)
        onset = c.infusion_day[p] + rng.integers(a, b + 1, n)
        grade = np.array(grades)[rng.integers(0, len(grades), n)]
        if term == "INFECTION":  # grade 5 only when the patient did die of infection that day
            grade = np.where(grade == 5, 4, grade)
        res = onset + rng.integers(da, db + 1, n)
        res = np.where((res > c.death_day[p]) | (rng.random(n) < 0.1), NEVER, res)
        parts.append((p, onset, res, np.full(n, term, dtype=OBJ), grade))
    # Infection deaths reported as a grade-5 infection too (resolution = the date of death).
    p = base[(c.death_cause[base] == "INFECTION") & (c.death_day[base] < NEVER)]
    p = p[rng.random(len(p)) < P.FATAL_INFECTION_AE]
    onset = np.maximum(c.infusion_day[p] + 1, c.death_day[p] - rng.integers(2, 15, len(p)))
    parts.append((p, onset, c.death_day[p], np.full(len(p), "INFECTION", dtype=OBJ), np.full(len(p), 5)))
    pidx = np.concatenate([x[0] for x in parts])
    onset = np.concatenate([x[1] for x in parts])
    res = np.concatenate([x[2] for x in parts])
    terms = np.concatenate([x[3] for x in parts])
    grade = np.concatenate([x[4] for x in parts]).astype(float)
    order = np.lexsort((onset, pidx))
    pidx, onset, res, terms, grade = pidx[order], onset[order], res[order], terms[order], grade[order]
    n = len(pidx)
    inf = terms == "INFECTION"
    org_type, organism = infection_organisms(rng, n, P.INFECTION["organism_types"])
    version = ctcae_version(rng, onset)
    keep = _alive_observed(c, pidx, onset)
    report = np.where(res < NEVER, res, onset)
    rows = FormRows(
        pidx,
        report,
        {
            "ae_term": terms,
            "onset_date": onset,
            "resolution_date": res,
            "ctcae_grade": grade,
            "ctcae_version": version.astype(OBJ),
            "infection_organism_type": np.where(inf, org_type, "").astype(OBJ),
            "infection_organism": np.where(inf, organism, "").astype(OBJ),
            "infection_site": np.where(inf, _pick(rng, P.INFECTION["sites"], n), "").astype(OBJ),
            **_seriousness(np.where(inf, "INFECTION", "OTHER"), grade, 3),
            "description": np.where(inf, _hangul_pick(rng, P.KO_INFECTION, n, 0.5), "").astype(OBJ),
        },
    )
    return select(rows, keep)


def infection_organisms(rng: np.random.Generator, n: int, type_shares: dict[str, float]) -> tuple[np.ndarray, ...]:
    """Organism class (params.INFECTION shares) and a named organism of that class per infection row."""
    org_type = _pick(rng, list(type_shares), n, list(type_shares.values()))
    named = {kind: _pick(rng, names, n) for kind, names in P.INFECTION["organisms"].items()}
    return org_type, np.select([org_type == kind for kind in named], list(named.values()), "").astype(OBJ)


def ctcae_version(rng: np.random.Generator, onset: np.ndarray) -> np.ndarray:
    """CTCAE v5.0, or v5.0 / v6.0 at random for onsets from 2026 (the v6.0 transition)."""
    recent = onset >= np.datetime64("2026-01-01").astype(np.int64)
    return np.where(recent, _pick(rng, ["V5_0", "V6_0"], len(onset)), "V5_0")


# Share of events reported serious (ICH E2A) by grade, per kind of event; grade 4-5 are always serious (E2A:
# life-threatening / death). CAR-T patients are inpatients early on, so many grade 2-3 CRS/ICANS are serious
# through (prolonged) hospitalization. Synthetic choices, not published rates.
SERIOUS_SHARE = {
    "CRS": {1: 0.1, 2: 0.5, 3: 0.85},
    "ICANS": {1: 0.15, 2: 0.6, 3: 0.9},
    "INFECTION": {1: 0.0, 2: 0.15, 3: 0.7},
    "OTHER": {1: 0.0, 2: 0.05, 3: 0.35},
}


def _seriousness(kind: np.ndarray, grade: np.ndarray, salt: int) -> dict[str, np.ndarray]:
    """`serious` and `seriousness_criteria` (ICH E2A) per event. Draws come from a generator seeded by the rows
    themselves, so adding these columns leaves the main random stream (and every other synthetic value) as it was."""
    n = len(grade)
    u = np.random.default_rng([salt, n, int(np.nansum(grade))]).random(n)
    share = np.array([SERIOUS_SHARE.get(k, SERIOUS_SHARE["OTHER"]).get(int(g), 1.0) for k, g in zip(kind, grade)])
    serious = (grade >= 4) | (u < share)
    crit = np.where(
        kind == "MALIGNANCY",
        "MEDICALLY_IMPORTANT",
        np.where(grade >= 5, "DEATH", np.where(grade >= 4, "LIFE_THREATENING;HOSPITALIZATION", "HOSPITALIZATION")),
    )
    return {
        "serious": np.where(serious, "Y", "N").astype(OBJ),
        "seriousness_criteria": np.where(serious, crit, "").astype(OBJ),
    }


def concat(a: FormRows, b: FormRows) -> FormRows:
    """Rows of both, ordered by patient then report day (record ids number each patient's rows in order)."""
    import polars as pl

    order = np.lexsort((np.r_[a.report_day, b.report_day], np.r_[a.pidx, b.pidx]))

    def cat(x, y):
        if isinstance(x, pl.Series):
            return pl.concat([x, y]).gather(order)
        return np.concatenate([x, y])[order]

    dec = {
        k: v
        if not isinstance(v, np.ndarray) and v == b.decimals.get(k)
        else cat(np.broadcast_to(v, a.pidx.shape), np.broadcast_to(b.decimals[k], b.pidx.shape))
        for k, v in a.decimals.items()
    }
    return FormRows(
        np.r_[a.pidx, b.pidx][order],
        np.r_[a.report_day, b.report_day][order],
        {k: cat(v, b.cols[k]) for k, v in a.cols.items()},
        dec,
    )


def select(rows: FormRows, keep: np.ndarray) -> FormRows:
    return FormRows(
        rows.pidx[keep],
        rows.report_day[keep],
        {k: _take(v, keep) for k, v in rows.cols.items()},
        {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in rows.decimals.items()},
    )


LabSeries = tuple[str, tuple[int, ...], Callable[[np.ndarray, np.ndarray], np.ndarray], int, bool]


def _lab_series(labs: dict[str, np.ndarray], cd19: np.ndarray, rng: np.random.Generator) -> list[LabSeries]:
    """(analyte, scheduled days, value at (patient, day), decimals, specimen recorded) per analyte, in draw order."""
    B = P.B_CELL_RECOVERY

    def _car_tail(p: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The persistence phase after the expansion (latent from kocartr.synth.late; none without it)."""
        if "car_tail_level" not in labs:
            return np.zeros(len(p))
        return labs["car_tail_level"][p] * np.exp(-np.maximum(t, 0) / labs["car_tail_tau"][p])

    def anc(p, t):
        v = _count_curve(labs["anc_base"][p], labs["anc_nadir"][p], labs["anc_rec"][p], t, 0.5, rng)
        dip = labs["anc_dip"][p] & (t >= 42) & (t <= 90)  # biphasic late neutropenia (ICAHT late)
        return np.where(dip, rng.uniform(0.2, 0.9, len(t)), v)

    return [
        ("ANC", P.COUNT_DAYS, anc, 2, False),
        (
            "PLT",
            P.COUNT_DAYS,
            lambda p, t: _count_curve(labs["plt_base"][p], labs["plt_nadir"][p], labs["plt_rec"][p], t, 20.0, rng),
            0,
            False,
        ),
        (
            "HGB",
            P.COUNT_DAYS,
            lambda p, t: np.where(
                t < 0,
                labs["hgb_base"][p],
                np.clip(
                    labs["hgb_base"][p] - 2.0 * np.exp(-np.maximum(t, 0) / 40.0) + rng.normal(0, 0.5, len(t)), 6.0, 16.0
                ),
            ),
            1,
            False,
        ),
        ("CRP", (-5,), lambda p, t: labs["crp"][p], 2, False),
        ("FERRITIN", (-5,), lambda p, t: labs["ferritin"][p], 0, False),
        (
            "IGG",
            P.IGG_DAYS,
            lambda p, t: np.where(
                t < 0,
                labs["igg_base"][p],
                labs["igg_base"][p] * np.where(cd19[p], 0.65, 0.45) * rng.lognormal(0, 0.15, len(t)),
            ),
            0,
            False,
        ),
        (
            "CD19_B_CELLS",
            P.CD19_DAYS,
            lambda p, t: np.where(
                cd19[p] & (t < labs["b_rec"][p]),
                rng.uniform(B["aplastic_range"][0], B["aplastic_range"][1], len(t)),
                rng.lognormal(np.log(B["normal_median"]), B["normal_log_sd"], len(t)),
            ),
            0,
            False,
        ),
        (
            "CAR_PCR",
            P.CAR_DAYS,
            lambda p, t: np.where(
                (v := labs["car_peak"][p] * np.exp(-np.maximum(t - 10, 0) / 40.0) + _car_tail(p, t)) < 20, 0.0, v
            ),
            0,
            True,
        ),
    ]


def lab(d: Dictionary, c: Cohort, rng: np.random.Generator, labs: dict[str, np.ndarray]) -> FormRows:
    base = np.flatnonzero(c.in_registry & c.infused)
    analyte_list = d.code_lists["analyte"]
    names = list(analyte_list.values)
    cd19 = (
        lookup(
            c.product, {p.code: float(p.attributes.get("target") == "CD19") for p in d.code_lists["product"].codes}, 0.0
        )
        > 0
    )
    parts = []
    for analyte, days, value_fn, decimals, specimen in _lab_series(labs, cd19, rng):
        pidx = np.repeat(base, len(days))
        day = np.tile(np.array(days), len(base))
        day = day + np.where(day >= 7, rng.integers(-1, 2, len(day)), 0)
        v = value_fn(pidx, day)
        lo, hi = analyte_list.attribute(analyte, "min"), analyte_list.attribute(analyte, "max")
        parts.append(
            (
                pidx,
                day,
                np.full(len(pidx), names.index(analyte)),
                np.clip(v, lo, hi),
                np.full(len(pidx), decimals),
                np.full(len(pidx), specimen),
            )
        )
    return _lab_rows(c, analyte_list, names, parts)


def _lab_rows(c: Cohort, analyte_list, names: list[str], parts: list[tuple]) -> FormRows:
    """The lab form's rows from the drawn series: observed only (alive, followed, before the cut-off), in order."""
    import polars as pl

    pidx = np.concatenate([x[0] for x in parts])
    day = np.concatenate([x[1] for x in parts])
    lab_date = c.infusion_day[pidx] + day
    order = np.lexsort((lab_date, pidx))
    keep = _alive_observed(c, pidx[order], lab_date[order])
    order = order[keep]
    pidx, lab_date = pidx[order], lab_date[order]
    ai = pl.Series(np.concatenate([x[2] for x in parts])[order])
    value = np.concatenate([x[3] for x in parts])[order]
    decimals = np.concatenate([x[4] for x in parts])[order]
    spec = pl.Series(np.concatenate([x[5] for x in parts])[order])
    units = [analyte_list.attribute(a, "unit") for a in names]
    specimen = pl.select(pl.when(spec).then(pl.lit("PERIPHERAL_BLOOD")).otherwise(None)).to_series()
    return FormRows(
        pidx,
        lab_date,
        {
            "lab_date": lab_date,
            "analyte": pl.Series(names).gather(ai),
            "value": value,
            "unit": pl.Series(units).gather(ai),
            "specimen": specimen,
        },
        {"value": decimals},
    )


def response(d: Dictionary, c: Cohort, rng: np.random.Generator) -> FormRows:
    base = np.flatnonzero(c.in_registry & c.infused)
    days = np.array([28, 90, 180, 365])
    pidx = np.repeat(base, len(days))
    k = np.tile(np.arange(len(days)), len(base))
    adate = c.infusion_day[pidx] + days[k] + rng.integers(-3, 8, len(pidx))
    prog = c.prog_day[pidx]
    pre = adate < prog
    # Progression assessment on the progression date itself.
    pp = base[c.prog_day[base] < NEVER]
    pidx = np.concatenate([pidx[pre], pp])
    adate = np.concatenate([adate[pre], c.prog_day[pp]])
    is_pd = np.concatenate([np.zeros(pre.sum(), bool), np.ones(len(pp), bool)])
    k = np.concatenate([k[pre], np.full(len(pp), 9)])
    order = np.lexsort((adate, pidx))
    pidx, adate, is_pd, k = pidx[order], adate[order], is_pd[order], k[order]
    n = len(pidx)
    grp = c.disease_group[pidx]
    crit_of = {
        g.code: g.attributes.get("response_criteria", "LUGANO_2014") for g in d.code_lists["disease_group"].codes
    }
    criteria = lookup(grp, crit_of)
    allowed = {cl.code: str(cl.attributes["responses"]).split(";") for cl in d.code_lists["response_criteria"].codes}
    cured = c.cured[pidx]
    # Response by criteria: cured patients reach CR (CR-equivalents), the others respond partially then progress.
    want = np.where(
        is_pd,
        "PD",
        np.where(
            cured,
            np.where((k == 0) & (rng.random(n) < 0.35), "PR", "CR"),
            _pick(rng, ["PR", "SD", "CR"], n, [0.55, 0.3, 0.15]),
        ),
    )
    want = np.where((criteria == "IMWG_2016") & (want == "CR") & (k >= 2) & (rng.random(n) < 0.5), "SCR", want)
    want = np.where((criteria == "IMWG_2016") & (want == "PR") & (rng.random(n) < 0.5), "VGPR", want)
    want = np.where((criteria == "ALL_MRD") & is_pd, "RELAPSE", want)
    want = np.where((criteria == "ALL_MRD") & ~is_pd & ~cured & (want != "CR"), "CRI", want)
    ne = rng.random(n) < 0.02
    want = np.where(ne & ~is_pd, "NE", want)
    ok = np.array([w in allowed[cr] for w, cr in zip(want, criteria)])
    want = np.where(ok, want, "NE").astype(OBJ)
    method = np.where(criteria == "IMWG_2016", "SEROLOGY", np.where(criteria == "ALL_MRD", "BONE_MARROW", "PET_CT"))
    pet = method == "PET_CT"
    deauville = np.where(want == "CR", rng.integers(1, 4, n), np.where(want == "PD", 5, 4)).astype(float)
    mrd = np.where(
        criteria == "LUGANO_2014",
        "",
        np.where(
            np.isin(want, [r.code for r in d.code_lists["response"].codes if r.attributes.get("complete")]) & cured,
            "NEGATIVE",
            np.where(rng.random(n) < 0.3, "NOT_DONE", "POSITIVE"),
        ),
    )
    rows = FormRows(
        pidx,
        adate,
        {
            "assessment_date": adate,
            "criteria": criteria,
            "response": want,
            "method": method.astype(OBJ),
            "deauville_score": np.where(pet & (want != "NE"), deauville, np.nan),
            "mrd_status": mrd.astype(OBJ),
        },
    )
    return select(rows, _alive_observed(c, pidx, adate))


def followup(d: Dictionary, c: Cohort, rng: np.random.Generator) -> FormRows:
    from kocartr.synth.late import subsequent_therapy_type  # late imports this module

    windows = P.followup_windows()
    tps = [t for t in d.codes("followup_timepoint") if t in windows]
    lo = np.array([windows[t][0] for t in tps])
    hi = np.array([windows[t][1] for t in tps])
    base = np.flatnonzero(c.in_registry & c.infused)
    pidx = np.repeat(base, len(tps))
    k = np.tile(np.arange(len(tps)), len(base))
    inf = c.infusion_day[pidx]
    death = c.death_day[pidx]
    contact = inf + lo[k] + np.floor(rng.random(len(pidx)) * (hi[k] - lo[k] + 1)).astype(np.int64)
    alive_row = (contact < death) & (rng.random(len(pidx)) >= P.MISSED_VISIT)
    # The period in which the patient died reports the death (contact date = death date).
    prev_hi = np.where(k == 0, 0, hi[np.maximum(k - 1, 0)])
    dead_row = (death < NEVER) & (death - inf > prev_hi) & (death - inf <= hi[k]) & (death > inf)
    dead_row &= (rng.random(len(pidx)) < P.DEATH_VISIT) | ~c.death_form[pidx]
    contact = np.where(dead_row, death, contact)
    keep = (alive_row | dead_row) & _alive_observed(c, pidx, contact)
    pidx, contact, k, dead_row = pidx[keep], contact[keep], k[keep], dead_row[keep]
    n = len(pidx)
    prog = c.prog_day[pidx]
    progressed = prog <= contact
    relapse_word = np.where(c.disease_group[pidx] == "ALL", "RELAPSE", "PROGRESSION")
    status = np.where(
        progressed, relapse_word, np.where(c.cured[pidx], "CR", _pick(rng, ["PR", "SD", "CR"], n, [0.6, 0.3, 0.1]))
    )
    status = np.where(~progressed & (rng.random(n) < 0.05), "NOT_ASSESSED", status).astype(OBJ)
    inf = c.infusion_day[pidx]
    last_assess = np.where(status == "NOT_ASSESSED", NEVER, np.maximum(inf, contact - rng.integers(0, 31, n)))
    last_assess = np.where(progressed, np.maximum(last_assess, prog), last_assess)
    last_assess = np.minimum(last_assess, np.where(status == "NOT_ASSESSED", NEVER, contact))
    # Subsequent therapy after progression (a fixed per-patient start, so follow-ups agree with each other).
    ther_start = prog + 7 + (pidx * 7919) % 25  # a patient-fixed pseudo-random 7-31 days after progression
    ther = progressed & (ther_start <= contact)
    allo = (c.disease_group[pidx] == "ALL") & c.cured[pidx] & (pidx % 5 == 0)
    hct_day = inf + 100 + (pidx % 40)
    has_hct = allo & (hct_day <= contact)
    spm = c.spm_day[pidx]
    prev_contact = np.where(k == 0, inf, inf + hi[np.maximum(k - 1, 0)])
    new_malig = (spm <= contact) & (spm > prev_contact)
    hypo = c.disease_group[pidx] == "MM"
    return FormRows(
        pidx,
        contact,
        {
            "timepoint": np.array(tps, dtype=OBJ)[k],
            "contact_date": contact,
            "vital_status": np.where(dead_row, "DEAD", "ALIVE").astype(OBJ),
            "disease_status": status,
            "last_disease_assessment_date": last_assess,
            "progression_date": np.where(progressed, prog, NEVER),
            "subsequent_therapy": np.where(ther, "Y", "N").astype(OBJ),
            "subsequent_therapy_date": np.where(ther, ther_start, NEVER),
            "subsequent_therapy_type": subsequent_therapy_type(pidx, c.disease_group[pidx], ther),
            "subsequent_hct": np.where(has_hct, "ALLO", "NONE").astype(OBJ),
            "subsequent_hct_date": np.where(has_hct, hct_day, NEVER),
            "ivig": np.where(rng.random(n) < 0.1, "", np.where(hypo | (rng.random(n) < 0.2), "Y", "N")).astype(OBJ),
            "new_malignancy": np.where(new_malig, "Y", "N").astype(OBJ),
        },
    )


def secondary_malignancy(c: Cohort, rng: np.random.Generator) -> FormRows:
    idx = np.flatnonzero(c.in_registry & (c.spm_day < NEVER))
    n = len(idx)
    cat = c.spm_category[idx]
    tcell = cat == "T_CELL_NEOPLASM"
    tested = np.where(tcell, rng.random(n) < 0.9, rng.random(n) < 0.15)
    morph = np.array([P.SPM_ICDO3[x][1] for x in cat], dtype=OBJ)
    rows = FormRows(
        idx,
        c.spm_day[idx] + 30,
        {
            "diagnosis_date": c.spm_day[idx],
            "category": cat,
            "icdo3_morphology": np.where(rng.random(n) < 0.3, "", morph).astype(OBJ),
            "t_cell_malignancy": np.where(tcell, "Y", "N").astype(OBJ),
            "car_transgene_tested": np.where(tested, "Y", "N").astype(OBJ),
            "car_transgene_detected": np.where(tested, np.where(tcell & (rng.random(n) < 0.4), "Y", "N"), "").astype(
                OBJ
            ),
            **_seriousness(np.full(n, "MALIGNANCY"), np.full(n, 4.0), 4),
        },
    )
    return select(rows, _alive_observed(c, idx, c.spm_day[idx]))


def pregnancy(c: Cohort, rng: np.random.Generator) -> FormRows:
    idx = np.flatnonzero(c.in_registry & (c.preg_day < NEVER))
    n = len(idx)
    reported = c.preg_day[idx]
    conception = reported - rng.integers(30, 70, n)
    outcome_day = conception + np.where(rng.random(n) < 0.85, 270, rng.integers(40, 120, n))
    done = outcome_day + 20 <= np.minimum(c.cutoff_day, c.ltfu_day[idx])
    outcome = np.where(
        done,
        _pick(rng, ["LIVE_BIRTH", "MISCARRIAGE", "TERMINATION", "STILLBIRTH"], n, [0.82, 0.12, 0.05, 0.01]),
        "ONGOING",
    ).astype(OBJ)
    outcome_day = np.where(outcome == "LIVE_BIRTH", conception + 270, np.minimum(outcome_day, conception + 120))
    outcome_day = np.where(done, outcome_day, NEVER)
    rows = FormRows(
        idx,
        np.where(done, outcome_day, reported),
        {
            "subject": c.preg_subject[idx],
            "reported_date": reported,
            "conception_date": np.where(rng.random(n) < 0.2, NEVER, conception),
            "outcome": outcome,
            "outcome_date": outcome_day,
        },
    )
    return select(rows, _alive_observed(c, idx, reported))


def death(c: Cohort, rng: np.random.Generator) -> FormRows:
    idx = np.flatnonzero(c.in_registry & (c.death_day < NEVER) & c.death_form)
    n = len(idx)
    cause = c.death_cause[idx]
    contrib = np.where(
        rng.random(n) < 0.35, np.where(cause == "INFECTION", "ORGAN_FAILURE", "INFECTION;ORGAN_FAILURE"), ""
    )
    rows = FormRows(
        idx,
        c.death_day[idx],
        {
            "death_date": c.death_day[idx],
            "primary_cause": cause,
            "contributing_causes": contrib.astype(OBJ),
            "autopsy": _pick(rng, ["N", "U", ""], n, [0.8, 0.1, 0.1]),
            "cause_text": _hangul_pick(rng, P.KO_DEATH, n, 0.4),
        },
    )
    return select(rows, (c.death_day[idx] <= c.ltfu_day[idx]) & (c.death_day[idx] <= c.cutoff_day))
