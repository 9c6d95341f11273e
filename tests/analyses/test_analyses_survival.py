"""Kaplan-Meier (lifelines) wrapper: hand-computed cases and a textbook dataset."""

import math

import numpy as np
import pytest

from analyses.survival import (
    DAYS_PER_MONTH,
    _product_limit,
    kaplan_meier,
    median_survival,
    number_at_risk,
    survival_at,
)

Z = 1.959963984540054

# Freireich et al. (Blood 1963) 6-MP arm, remission duration in weeks (0 = censored); the same data as
# lifelines.datasets.load_leukemia() Rx == 0. Published KM (Klein & Moeschberger, Survival Analysis, 2nd ed.
# 2003, Table 4.1A): S and Greenwood SE at the event times.
SIX_MP_T = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
SIX_MP_E = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
KM_TABLE_4_1A = {
    6: (0.857, 0.076),
    7: (0.807, 0.087),
    10: (0.753, 0.096),
    13: (0.690, 0.107),
    16: (0.627, 0.114),
    22: (0.538, 0.128),
    23: (0.448, 0.135),
}


def test_six_mp_matches_klein_moeschberger() -> None:
    c = kaplan_meier(np.array(SIX_MP_T, float), np.array(SIX_MP_E))
    for t, (s_pub, se_pub) in KM_TABLE_4_1A.items():
        i = int(np.flatnonzero(c.time == t)[0])
        s = c.estimate[i]
        assert round(s, 3) == s_pub
        # Greenwood SE recovered from the log(-log) band: lower = S^exp(z*sigma), SE = S*|log S|*sigma
        sigma = math.log(math.log(c.lower[i]) / math.log(s)) / Z
        assert round(s * abs(math.log(s)) * sigma, 3) == se_pub
    assert median_survival(c).median == 23.0  # K&M: median 23 weeks


def test_six_mp_loglog_ci_by_hand_at_week_6() -> None:
    # n = 21, d = 3: S = 18/21, Greenwood sum 3/(21*18); log(-log) limits S^exp(-+z*sqrt(V)/|log S|)
    c = kaplan_meier(np.array(SIX_MP_T, float), np.array(SIX_MP_E))
    s = 18 / 21
    sig = math.sqrt(3 / (21 * 18)) / -math.log(s)
    assert c.estimate[0] == pytest.approx(s, abs=1e-14)
    assert c.lower[0] == pytest.approx(s ** math.exp(Z * sig), abs=1e-12)  # 0.6197
    assert c.upper[0] == pytest.approx(s ** math.exp(-Z * sig), abs=1e-12)  # 0.9516
    assert round(c.lower[0], 4) == 0.6197 and round(c.upper[0], 4) == 0.9516


def test_ties_event_and_censoring_at_same_time_and_exact_half_median() -> None:
    # t=1: n=4,d=1 -> 3/4; t=2: censored subject still at risk, n=3,d=1 -> 1/2; t=3: n=1,d=1 -> 0
    c = kaplan_meier(np.array([1, 2, 2, 3.0]), np.array([1, 1, 0, 1]))
    np.testing.assert_allclose(c.estimate, [0.75, 0.5, 0.0], atol=1e-14)
    assert c.n_at_risk.tolist() == [4, 3, 1]
    assert c.n_censored.tolist() == [0, 1, 0]
    # S is exactly 1/2 on [2, 3): R's rule takes the midpoint of the plateau, (2 + 3) / 2
    assert median_survival(c).median == 2.5
    assert np.isnan(c.lower[-1]) and np.isnan(c.upper[-1])  # S = 0: log(-log) undefined


def test_exact_half_plateau_robust_to_floating_point() -> None:
    # 10 subjects, deaths at 1..5: S(5) = 5/10 exactly in rational arithmetic
    c = kaplan_meier(np.arange(1, 11, dtype=float), np.array([1] * 5 + [0] * 5))
    # S stays at 1/2 to the end of follow-up (t = 10): R takes (5 + 10) / 2
    assert median_survival(c).median == 7.5


def test_event_at_day_zero() -> None:
    c = kaplan_meier(np.array([0, 2, 3.0]), np.array([1, 0, 0]))
    assert c.time[0] == 0.0 and c.estimate[0] == pytest.approx(2 / 3, abs=1e-14)
    assert survival_at(c, np.array([0.0, 2.5]))["estimate"].tolist() == pytest.approx([2 / 3, 2 / 3])


def test_all_censored() -> None:
    c = kaplan_meier(np.array([1, 2, 3.0]), np.array([0, 0, 0]))
    assert c.events == 0 and np.all(c.estimate == 1.0)
    assert np.all(np.isnan(c.lower)) and np.all(np.isnan(c.upper))
    m = median_survival(c)
    assert (m.median, m.lower, m.upper) == (None, None, None)
    at = survival_at(c, np.array([0.5, 3.0, 4.0]))
    assert at["estimate"][:2].tolist() == [1.0, 1.0] and np.isnan(at["estimate"][2])  # beyond follow-up


def test_single_patient() -> None:
    c = kaplan_meier(np.array([5.0]), np.array([1]))
    assert c.estimate.tolist() == [0.0] and c.n_at_risk.tolist() == [1]
    assert median_survival(c).median == 5.0
    assert survival_at(c, np.array([4.0]))["estimate"][0] == 1.0
    c0 = kaplan_meier(np.array([5.0]), np.array([0]))
    assert c0.estimate.tolist() == [1.0] and median_survival(c0).median is None


def test_delayed_entry_risk_sets_by_hand() -> None:
    # (entry, exit, event): (0,2,1) (0,4,1) (3,5,0) (4,6,1); at risk at t when entry < t <= exit
    # t=2: {1,2} d=1 -> 1/2; t=4: {2,3} (subject 4 enters AT 4: not yet at risk) d=1 -> 1/4;
    # t=5: {3,4} censoring; t=6: {4} d=1 -> 0
    t, e, ent = np.array([2, 4, 5, 6.0]), np.array([1, 1, 0, 1]), np.array([0, 0, 3, 4.0])
    c = kaplan_meier(t, e, ent)
    np.testing.assert_allclose(c.estimate, [0.5, 0.25, 0.25, 0.0], atol=1e-14)
    assert c.n_at_risk.tolist() == [2, 2, 2, 1]
    # t=0: both origin entrants; t=3: only (0,4] (entry 3 is not < 3); t=4.5: (3,5] and (4,6]
    assert number_at_risk(t, ent, np.array([0.0, 3.0, 4.0, 4.5])).tolist() == [2, 1, 2, 2]
    assert c.person_time == pytest.approx(2 + 4 + 2 + 2)


def test_event_at_own_entry_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="own entry time"):
        kaplan_meier(np.array([2, 4.0]), np.array([1, 1]), np.array([0, 4.0]))
    with pytest.raises(ValueError):
        kaplan_meier(np.array([2.0]), np.array([1]), np.array([3.0]))  # entry after exit


def test_lifelines_and_numpy_product_limit_agree() -> None:
    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(1, 50))
        t = rng.integers(0, 25, n).astype(float)
        ev = rng.integers(0, 2, n)
        ent = np.minimum(rng.integers(0, 6, n), t) * (rng.random(n) < 0.3)
        ev[(ev == 1) & (ent == t) & (t > ent.min())] = 0
        c = kaplan_meier(t, ev, ent)
        p = _product_limit(t, ev.astype(bool), ent, 0.95)
        np.testing.assert_allclose(c.estimate, p.estimate, atol=1e-13)
        np.testing.assert_allclose(c.lower, p.lower, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(c.upper, p.upper, atol=1e-12, equal_nan=True)
        assert c.n_at_risk.tolist() == p.n_at_risk.tolist()


def test_lifelines_refusal_falls_back_to_product_limit() -> None:
    # risk set emptied by an early censoring, later entrants: lifelines raises StatError; KM is defined
    c = kaplan_meier(np.array([1, 5, 6, 8.0]), np.array([0, 1, 0, 1]), np.array([0, 2, 2, 3.0]))
    assert c.engine.startswith("numpy")
    # t=5: at risk {2,3,4} d=1 -> 2/3; t=8: {4} d=1 -> 0
    np.testing.assert_allclose(c.estimate, [1.0, 2 / 3, 2 / 3, 0.0], atol=1e-14)


def test_landmark_month_definition() -> None:
    assert DAYS_PER_MONTH == 365.25 / 12
    six = 6 * DAYS_PER_MONTH  # 182.625 days
    c = kaplan_meier(np.array([182.0, 183.0, 400.0]), np.array([1, 1, 0]))
    assert survival_at(c, np.array([six]))["estimate"][0] == pytest.approx(2 / 3)


def test_median_ci_limit_not_reached_is_none_not_the_last_step() -> None:
    # 5 deaths at 1..5, no censoring: S drops to 0 at t = 5. The lower band is <= 0.5 from t = 2 on (lower limit
    # reached); the upper band stays above 0.5 until S = 0, where the band is undefined: R gives NA, not [5, 5].
    c = kaplan_meier(np.arange(1, 6, dtype=float), np.ones(5))
    m = median_survival(c)
    assert m.median == 3.0
    assert m.lower is not None and m.lower <= 3.0
    up = c.upper[~np.isnan(c.upper)]
    assert (up > 0.5).all() and m.upper is None
