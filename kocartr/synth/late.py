"""Late-effect data: hospital admissions, vaccinations, immune-reconstitution labs, BCMA neurological events and
infections after day 180.

Every draw here comes from its own generator (`late_rng`, seeded from the run's seed), so adding these forms left
the main random stream, and every value the other builders draw, as it was.
"""

from __future__ import annotations

import numpy as np

from kocartr.synth import params as P
from kocartr.synth.cohort import NEVER, Cohort, lookup
from kocartr.synth.forms import (
    OBJ,
    FormRows,
    _hangul_pick,
    _pick,
    _seriousness,
    ctcae_version,
    infection_organisms,
    select,
)

# Admission kinds in the order they are built: (reason, patient index, admission day, length of stay, ICU flag).
Admissions = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def late_rng(seed: int, part: int = 0) -> np.random.Generator:
    """The late-effect stream; `part` > 0 gives a builder its own stream so that it moves no other builder's draws."""
    return np.random.default_rng([seed, P.LATE_STREAM, part] if part else [seed, P.LATE_STREAM])


def _observed(c: Cohort, pidx: np.ndarray, day: np.ndarray) -> np.ndarray:
    return (day <= c.death_day[pidx]) & (day <= c.ltfu_day[pidx]) & (day <= c.cutoff_day)


def _stay(rng: np.random.Generator, median: float, n: int, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(np.log(median), 0.45, n)), lo, hi).astype(np.int64)


# --- hospitalization ------------------------------------------------------------------------------------------


def _infusion_admissions(c: Cohort, rng: np.random.Generator) -> list[Admissions]:
    """The planned admission for each infusion (inpatient products), longer with severe CRS / ICANS; outpatients
    with CRS are admitted at its onset."""
    H = P.HOSPITALIZATION
    idx = np.flatnonzero(c.in_registry & c.infused)
    n = len(idx)
    inpatient = rng.random(n) < lookup(c.product[idx], H["inpatient_share"], 1.0)
    start = np.where(rng.random(n) < H["admitted_for_lymphodepletion"], -rng.integers(5, 7, n), -1)
    crs_g, icans_g = c.crs_grade[idx], c.icans_grade[idx]
    worst = np.maximum(crs_g, icans_g)
    post = _stay(rng, H["post_infusion_days_median"], n, 6, 60) + H["extra_days_per_grade"] * np.maximum(worst - 1, 0)
    icu = (worst >= 3) & (rng.random(n) < H["icu_given_grade3"])
    inf = c.infusion_day[idx]
    out: list[Admissions] = [
        ("INFUSION", idx[inpatient], (inf + start)[inpatient], (post - start)[inpatient], icu[inpatient])
    ]
    crs_out = ~inpatient & (crs_g > 0)
    onset = inf + c.crs_onset[idx]
    out.append(("CRS", idx[crs_out], onset[crs_out], (post - c.crs_onset[idx] + 2)[crs_out], icu[crs_out]))
    re = np.flatnonzero(c.in_registry & (c.reinfusion_day < NEVER))
    m = len(re)
    out.append(("INFUSION", re, c.reinfusion_day[re] - 1, _stay(rng, 10, m, 5, 30), np.zeros(m, bool)))
    return out


def _readmissions(c: Cohort, rng: np.random.Generator, ae: FormRows, labs: dict[str, np.ndarray]) -> list[Admissions]:
    """Readmissions for reported infections (grade >= 3, some grade 2), late cytopenia, progression and other."""
    H = P.HOSPITALIZATION
    grade = np.nan_to_num(np.asarray(ae.cols["ctcae_grade"], float))
    infection = np.asarray(ae.cols["ae_term"] == "INFECTION") & (
        (grade >= 3) | ((grade == 2) & (rng.random(len(grade)) < H["infection_grade2_admitted"]))
    )
    p = ae.pidx[infection]
    g = grade[infection]
    k = len(p)
    out: list[Admissions] = [
        ("INFECTION", p, ae.cols["onset_date"][infection], _stay(rng, 8, k, 2, 60), (g >= 4) & (rng.random(k) < 0.6))
    ]
    base = np.flatnonzero(c.in_registry & c.infused)
    dip = base[labs["anc_dip"][base] & (rng.random(len(base)) < H["late_cytopenia_admitted"])]
    out.append(
        (
            "CYTOPENIA",
            dip,
            c.infusion_day[dip] + rng.integers(42, 91, len(dip)),
            _stay(rng, 5, len(dip), 2, 20),
            np.zeros(len(dip), bool),
        )
    )
    prog = base[(c.prog_day[base] < NEVER) & (rng.random(len(base)) < H["progression_admitted"])]
    out.append(
        (
            "PROGRESSION",
            prog,
            c.prog_day[prog] + rng.integers(0, 15, len(prog)),
            _stay(rng, 10, len(prog), 2, 60),
            rng.random(len(prog)) < 0.05,
        )
    )
    # Other causes at a constant yearly rate over the years followed (one drawn admission, probability ~ rate x years).
    end = np.minimum(np.minimum(c.death_day[base], c.ltfu_day[base]), c.cutoff_day)
    years = np.maximum(end - c.infusion_day[base] - 30, 0) / 365.25
    other = base[rng.random(len(base)) < np.minimum(1.0, H["other_per_year"] * years)]
    span = np.maximum(end[np.isin(base, other)] - c.infusion_day[other] - 30, 1)
    out.append(
        (
            "OTHER",
            other,
            c.infusion_day[other] + 30 + (rng.random(len(other)) * span).astype(np.int64),
            _stay(rng, 5, len(other), 1, 30),
            rng.random(len(other)) < 0.03,
        )
    )
    return out


def _non_overlapping(pidx: np.ndarray, adm: np.ndarray, dis: np.ndarray) -> np.ndarray:
    """Keep an admission only if it starts after the patient's previous kept discharge (rows sorted by patient,
    admission): an event during a stay prolongs it rather than opening a second one."""
    keep = np.zeros(len(pidx), bool)
    last_p, last_dis = -1, -(10**9)
    for i in range(len(pidx)):
        if pidx[i] != last_p or adm[i] > last_dis:
            keep[i] = True
            last_p, last_dis = pidx[i], dis[i]
    return keep


def hospitalization(c: Cohort, rng: np.random.Generator, ae: FormRows, labs: dict[str, np.ndarray]) -> FormRows:
    parts = _infusion_admissions(c, rng) + _readmissions(c, rng, ae, labs)
    reason = np.concatenate([np.full(len(x[1]), x[0], dtype=OBJ) for x in parts])
    pidx = np.concatenate([x[1] for x in parts]).astype(np.int64)
    adm = np.concatenate([x[2] for x in parts]).astype(np.int64)
    dis = adm + np.concatenate([x[3] for x in parts]).astype(np.int64)
    icu = np.concatenate([x[4] for x in parts]).astype(bool)
    order = np.lexsort((adm, pidx))
    pidx, adm, dis, icu, reason = pidx[order], adm[order], dis[order], icu[order], reason[order]
    keep = _non_overlapping(pidx, adm, dis) & _observed(c, pidx, adm)
    pidx, adm, dis, icu, reason = pidx[keep], adm[keep], dis[keep], icu[keep], reason[keep]
    dis = np.minimum(dis, c.death_day[pidx])  # a death in hospital ends the stay
    known = (dis <= c.cutoff_day) & (dis <= c.ltfu_day[pidx])
    n = len(pidx)
    icu_days = np.where(icu, np.minimum(rng.integers(1, 11, n), np.maximum(dis - adm, 1)), np.nan)
    return FormRows(
        pidx,
        np.where(known, dis, adm),  # sent at discharge; still in hospital at the cut-off: sent with no discharge
        {
            "admission_date": adm,
            "discharge_date": np.where(known, dis, NEVER),
            "reason": reason,
            "icu_admission": np.where(icu, "Y", "N").astype(OBJ),
            "icu_days": np.where(known, icu_days, np.nan),
        },
    )


# --- immune reconstitution labs -------------------------------------------------------------------------------


def latent_labs(c: Cohort, rng: np.random.Generator, b_rec: np.ndarray) -> dict[str, np.ndarray]:
    """Per-patient immune-reconstitution state (params.IMMUNE). CAR persistence after the expansion is tied to
    B-cell aplasia for CD19 products (aplasia is the pharmacodynamic mark of functioning CAR-T cells)."""
    im, n = P.IMMUNE, c.n
    mm = c.disease_group == "MM"
    cd19 = c.target == "CD19"
    persists = np.where(cd19, (b_rec > 300) | (rng.random(n) < 0.3), rng.random(n) < im["car_persistence_bcma"])
    return {
        "cd4_base": rng.lognormal(np.log(im["cd4_base"]), 0.6, n),
        "cd4_nadir": rng.lognormal(np.log(im["cd4_nadir"]), 0.6, n),
        "cd4_plateau": rng.lognormal(np.log(im["cd4_plateau"]), 0.5, n),
        "cd4_tau": rng.lognormal(np.log(im["cd4_recovery_days"]), 0.5, n),
        "iga_base": rng.lognormal(np.log(np.where(mm, im["iga_base_mm"], im["iga_base"])), 0.6, n),
        "igm_base": rng.lognormal(np.log(np.where(mm, im["igm_base_mm"], im["igm_base"])), 0.6, n),
        "car_tail_level": np.where(persists, rng.lognormal(np.log(im["car_tail_copies"]), 1.0, n), 0.0),
        "car_tail_tau": rng.lognormal(np.log(im["car_tail_days"]), 0.6, n),
    }


def _recovering(low: np.ndarray, high: np.ndarray, since: np.ndarray, tau: float) -> np.ndarray:
    return low + (high - low) * (1 - np.exp(-np.maximum(since, 0) / tau))


def _immune_values(analyte: str, cd19: np.ndarray, labs: dict, p: np.ndarray, t: np.ndarray, rng) -> np.ndarray:
    """One analyte's value per (patient, day after infusion); before day 0 the baseline."""
    n = len(p)
    noise = rng.lognormal(0, 0.15, n)
    aplastic = cd19[p] & (t < labs["b_rec"][p])
    since_b = t - np.where(cd19[p], labs["b_rec"][p], 365.0)  # BCMA: plasma-cell aplasia through the first year
    if analyte == "CD4":
        nadir, plateau = labs["cd4_nadir"][p], labs["cd4_plateau"][p]
        post = nadir + (plateau - nadir) * (1 - np.exp(-np.maximum(t, 0) / labs["cd4_tau"][p]))
        return np.where(t < 0, labs["cd4_base"][p], np.maximum(post, 1.0)) * noise
    if analyte in ("IGA", "IGM"):
        base = labs["iga_base" if analyte == "IGA" else "igm_base"][p]
        low = base * P.IMMUNE["low_share"][analyte]
        post = np.where(aplastic | (~cd19[p] & (t < 365)), low, _recovering(low, base, since_b, 180.0))
        return np.where(t < 0, base, post) * noise
    if analyte == "IGG":
        base = labs["igg_base"][p]
        low = base * np.where(cd19[p], 0.65, 0.45)
        return np.where(aplastic | (~cd19[p] & (t < 365)), low, _recovering(low, base * 0.9, since_b, 365.0)) * noise
    if analyte == "CD19_B_CELLS":
        return np.where(aplastic, rng.uniform(0, 5, n), rng.lognormal(np.log(120), 0.5, n))
    tail = labs["car_tail_level"][p] * np.exp(-np.maximum(t, 0) / labs["car_tail_tau"][p])
    return np.where(tail < 20, 0.0, tail)  # CAR_PCR below the assay's detection limit reads 0


def immune_labs(d, c: Cohort, rng: np.random.Generator, labs: dict[str, np.ndarray]) -> FormRows:
    """CD4 T cells, IgA and IgM over the years; CD19 B cells, IgG and CAR persistence yearly after year 1
    (the first year's are forms.lab's)."""
    import polars as pl

    analyte_list = d.code_lists["analyte"]
    base = np.flatnonzero(c.in_registry & c.infused)
    cd19 = c.target == "CD19"
    years = P.IMMUNE["late_years_days"]
    plan = {
        "CD4": P.IMMUNE["cd4_days"] + years,
        "IGA": P.IGG_DAYS + years,
        "IGM": P.IGG_DAYS + years,
        "IGG": years,
        "CD19_B_CELLS": years,
        "CAR_PCR": years,
    }
    parts = []
    for analyte, days in plan.items():
        p = np.repeat(base, len(days))
        t = np.tile(np.array(days), len(base))
        t = t + np.where(t >= 300, rng.integers(-14, 15, len(t)), np.where(t >= 7, rng.integers(-1, 2, len(t)), 0))
        lo, hi = analyte_list.attribute(analyte, "min"), analyte_list.attribute(analyte, "max")
        v = np.clip(_immune_values(analyte, cd19, labs, p, t, rng), lo, hi)
        parts.append((p, c.infusion_day[p] + t, np.full(len(p), analyte, dtype=OBJ), v))
    pidx = np.concatenate([x[0] for x in parts])
    day = np.concatenate([x[1] for x in parts])
    order = np.lexsort((day, pidx))
    order = order[_observed(c, pidx[order], day[order])]
    analytes = np.concatenate([x[2] for x in parts])[order]
    units = {a: analyte_list.attribute(a, "unit") for a in plan}
    return FormRows(
        pidx[order],
        day[order],
        {
            "lab_date": day[order],
            "analyte": pl.Series(analytes.tolist(), dtype=pl.Utf8),
            "value": np.concatenate([x[3] for x in parts])[order],
            "unit": pl.Series([units[a] for a in analytes], dtype=pl.Utf8),
            "specimen": pl.Series(["PERIPHERAL_BLOOD" if a == "CAR_PCR" else None for a in analytes], dtype=pl.Utf8),
        },
        {"value": np.zeros(len(order), dtype=np.int64)},
    )


# --- BCMA-related neurological events -------------------------------------------------------------------------


def neuro_events(c: Cohort, rng: np.random.Generator) -> FormRows:
    """Parkinsonism / movement and neurocognitive disorders and cranial nerve palsies (params.NEURO), rows of the
    adverse_event form. Parkinsonism often does not resolve; cranial nerve palsies mostly do within weeks."""
    base = np.flatnonzero(c.in_registry & c.infused)
    parts = []
    for term, spec in P.NEURO.items():
        rate = lookup(c.target[base], spec["rate"], 0.0)
        p = base[rng.random(len(base)) < rate]
        n = len(p)
        onset = c.infusion_day[p] + np.clip(np.round(rng.lognormal(np.log(spec["onset_median_day"]), 0.4, n)), 5, 200)
        grade = np.array(spec["grades"])[rng.integers(0, len(spec["grades"]), n)]
        res = onset + np.round(rng.lognormal(np.log(spec["duration_median_days"]), 0.5, n))
        res = np.where((rng.random(n) < spec["unresolved"]) | (res > c.death_day[p]), NEVER, res)
        parts.append((p, onset.astype(np.int64), res.astype(np.int64), np.full(n, term, dtype=OBJ), grade))
    pidx = np.concatenate([x[0] for x in parts])
    onset = np.concatenate([x[1] for x in parts])
    res = np.concatenate([x[2] for x in parts])
    terms = np.concatenate([x[3] for x in parts])
    grade = np.concatenate([x[4] for x in parts]).astype(float)
    order = np.lexsort((onset, pidx))
    pidx, onset, res, terms, grade = pidx[order], onset[order], res[order], terms[order], grade[order]
    n = len(pidx)
    blank = np.full(n, "", dtype=OBJ)
    rows = FormRows(
        pidx,
        np.where(res < NEVER, res, onset),
        {
            "ae_term": terms,
            "onset_date": onset,
            "resolution_date": res,
            "ctcae_grade": grade,
            "ctcae_version": np.full(n, "V5_0", dtype=OBJ),
            "infection_organism_type": blank,
            "infection_organism": blank,
            "infection_site": blank,
            **_seriousness(np.full(n, "OTHER"), grade, 5),
            "description": blank,
        },
    )
    return select(rows, _observed(c, pidx, onset))


def late_infections(c: Cohort, rng: np.random.Generator) -> FormRows:
    """Infection episodes after day 180 (params.INFECTION): a Poisson process at a constant rate per person-year
    from `late_from_day` while alive, followed and before the cut-off; rows of the adverse_event form."""
    inf = P.INFECTION
    base = np.flatnonzero(c.in_registry & c.infused)
    start = c.infusion_day[base] + inf["late_from_day"]
    end = np.minimum(np.minimum(c.death_day[base], c.ltfu_day[base]), c.cutoff_day)
    span = np.maximum(end - start, 0)
    counts = rng.poisson(inf["late_per_year"] * span / 365.25)
    pidx = np.repeat(base, counts)
    n = len(pidx)
    onset = np.repeat(start, counts) + (rng.random(n) * np.repeat(span, counts)).astype(np.int64)
    grade = np.array(inf["late_grades"])[rng.integers(0, len(inf["late_grades"]), n)].astype(float)
    res = onset + rng.integers(inf["duration_days"][0], inf["duration_days"][1] + 1, n)
    res = np.where((res > c.death_day[pidx]) | (rng.random(n) < 0.1), NEVER, res)
    org_type, organism = infection_organisms(rng, n, inf["late_organism_types"])
    rows = FormRows(
        pidx,
        np.where(res < NEVER, res, onset),
        {
            "ae_term": np.full(n, "INFECTION", dtype=OBJ),
            "onset_date": onset,
            "resolution_date": res,
            "ctcae_grade": grade,
            "ctcae_version": ctcae_version(rng, onset).astype(OBJ),
            "infection_organism_type": org_type.astype(OBJ),
            "infection_organism": organism,
            "infection_site": _pick(rng, inf["sites"], n),
            **_seriousness(np.full(n, "INFECTION"), grade, 7),
            "description": _hangul_pick(rng, P.KO_INFECTION, n, 0.5),
        },
    )
    return select(rows, _observed(c, pidx, onset))


# --- subsequent therapy ---------------------------------------------------------------------------------------


def subsequent_therapy_type(pidx: np.ndarray, group: np.ndarray, given: np.ndarray) -> np.ndarray:
    """One therapy class per patient (fixed, so every follow-up of the patient agrees), by disease group
    (params.SUBSEQUENT_THERAPY); blank where no subsequent therapy was given. No random draw: derived from the
    patient index like the therapy's start date, so the main stream is untouched."""
    u = ((pidx.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)).astype(float) / 2**32
    out = np.full(len(pidx), "", dtype=OBJ)
    for grp in np.unique(group.astype(str)):
        mix = P.SUBSEQUENT_THERAPY.get(grp, P.SUBSEQUENT_THERAPY["OTHER"])
        codes = np.array(list(mix), dtype=OBJ)
        cum = np.cumsum(np.array(list(mix.values()), float))
        m = group == grp
        out[m] = codes[np.minimum(np.searchsorted(cum / cum[-1], u[m], side="right"), len(codes) - 1)]
    return np.where(given, out, "").astype(OBJ)


# --- vaccination ----------------------------------------------------------------------------------------------


def _vaccine_plan() -> list[tuple[str, int, int]]:
    """(vaccine, dose number, day after infusion) per EBMT/EHA timing (params.VACCINATION)."""
    plan = []
    for vaccine, days in P.VACCINATION["schedule"].items():
        plan += [(vaccine, k + 1, day) for k, day in enumerate(days)]
    return plan


def vaccination(c: Cohort, rng: np.random.Generator, labs: dict[str, np.ndarray]) -> FormRows:
    """Revaccination of a share of patients alive and in remission; antibody response tested for some, poorer
    during B-cell aplasia (CD19) or plasma-cell aplasia (BCMA, first year)."""
    V = P.VACCINATION
    base = np.flatnonzero(c.in_registry & c.infused)
    who = base[rng.random(len(base)) < V["revaccinated"]]
    plan = _vaccine_plan()
    p = np.repeat(who, len(plan))
    k = np.tile(np.arange(len(plan)), len(who))
    t = np.array([x[2] for x in plan])[k] + rng.integers(-10, 21, len(p))
    day = c.infusion_day[p] + t
    keep = _observed(c, p, day) & (day < c.prog_day[p]) & (rng.random(len(p)) < V["dose_given"])
    p, k, t, day = p[keep], k[keep], t[keep], day[keep]
    n = len(p)
    aplastic = np.where(c.target[p] == "CD19", t < labs["b_rec"][p], t < 365)
    protective = rng.random(n) < np.where(aplastic, V["protective_aplastic"], V["protective_recovered"])
    tested = rng.random(n) < V["response_tested"]
    test_day = day + rng.integers(28, 61, n)
    tested &= _observed(c, p, test_day)
    return FormRows(
        p,
        np.where(tested, test_day, day),
        {
            "vaccine": np.array([x[0] for x in plan], dtype=OBJ)[k],
            "vaccination_date": day,
            "dose_number": np.array([x[1] for x in plan], float)[k],
            "antibody_response": np.where(tested, np.where(protective, "PROTECTIVE", "NOT_PROTECTIVE"), "").astype(OBJ),
            "response_date": np.where(tested, test_day, NEVER),
        },
    )
