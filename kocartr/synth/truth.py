"""True values an estimator should recover, computed from the generating model itself.

Toxicity probabilities are parameters (exact). Time-to-event truths come from a large Monte Carlo over the
realised case mix of infused patients (their product and disease group, replicated), with its own seeded stream.
"""

from __future__ import annotations

import numpy as np

from kocartr.synth import params as P
from kocartr.synth.cohort import Cohort, outcomes, toxicity_grades

MC_DRAWS = 1_000_000


def truth(c: Cohort, seed: int) -> dict:
    rng = np.random.default_rng([seed, 7919])
    inf = np.flatnonzero(c.infused)
    reps = max(1, MC_DRAWS // max(1, len(inf)))
    product = np.tile(c.product[inf], reps)
    group = np.tile(c.disease_group[inf], reps)
    target = np.tile(c.target[inf], reps)
    n = len(product)
    crs = toxicity_grades(rng, product, "crs")
    icans = toxicity_grades(rng, product, "icans")
    onset_c = np.tile(c.crs_onset[inf], reps)
    onset_i = np.tile(c.icans_onset[inf], reps)
    o = outcomes(rng, product, group, target, crs, onset_c, icans, onset_i)
    t_death, t_prog, t_spm = o["t_death"], o["t_prog"], o["t_spm"]
    out: dict = {"mc_draws": int(n), "per_product": {}}

    def summary(mask: np.ndarray) -> dict:
        pfs_event = np.minimum(t_prog, t_death)
        return {
            "os_12mo": float(np.mean(t_death[mask] > 365)),
            "os_24mo": float(np.mean(t_death[mask] > 730)),
            "pfs_12mo": float(np.mean(pfs_event[mask] > 365)),
            "nrm_12mo": float(np.mean(o["nrm"][mask] & (t_death[mask] <= 365))),
            "spm_cif_36mo_death_competing": float(np.mean(t_spm[mask] <= 1095)),
        }

    for p in sorted(set(product)):
        m = product == p
        out["per_product"][p] = {
            "crs_any": P.TOXICITY[p]["crs_any"],
            "crs_grade3plus": P.TOXICITY[p]["crs_g3"],
            "icans_any": P.TOXICITY[p]["icans_any"],
            "icans_grade3plus": P.TOXICITY[p]["icans_g3"],
            "infused_patients": int(m.sum() // reps),
            **summary(m),
        }
    out["overall"] = summary(np.ones(n, bool))
    out["note"] = (
        "Time-to-event truths: Monte Carlo of the generating model over the realised case mix of infused "
        "patients (day 0 = infusion; SPM cumulative incidence with death as competing risk; all infused "
        "patients, including retrospective ones who died before enrolment and so are absent from the "
        "submissions: estimate with delayed entry)."
    )
    return out
