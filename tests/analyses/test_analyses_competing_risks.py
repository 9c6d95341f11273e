"""Own Aalen-Johansen estimator and Gray's test: hand-computed cases and R cmprsk published output."""

import numpy as np
import pytest

from analyses.competing_risks import aalen_johansen, cif_at, gray_test, loglog_ci
from analyses.survival import kaplan_meier


def test_engineering_notes_event_at_time_zero() -> None:
    # lifelines' AalenJohansenFitter gives 0 here; the estimator gives 1/3 at t = 0
    ci = aalen_johansen(np.array([0, 2, 3.0]), np.array([1, 0, 0]), cause=1)
    assert ci.time[0] == 0.0
    np.testing.assert_allclose(ci.estimate, [1 / 3, 1 / 3, 1 / 3], atol=1e-15)
    assert cif_at(ci, np.array([0.0, 2.5]))["estimate"].tolist() == pytest.approx([1 / 3, 1 / 3])


def test_ties_across_causes_and_censoring_by_hand() -> None:
    # t=1: n=5, one cause-1, one cause-2, one censored -> F1 = 1/5, S(1) = 3/5
    # t=2: n=2, one cause-1 -> F1 = 1/5 + (3/5)(1/2) = 1/2, S(2) = 3/10; t=3 censored
    t = np.array([1, 1, 1, 2, 3.0])
    st = np.array([1, 2, 0, 1, 0])
    f1 = aalen_johansen(t, st, cause=1)
    f2 = aalen_johansen(t, st, cause=2)
    np.testing.assert_allclose(f1.estimate, [0.2, 0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose(f2.estimate, [0.2, 0.2, 0.2], atol=1e-15)
    np.testing.assert_allclose(f1.estimate + f2.estimate + f1.all_cause_survival, 1.0, atol=1e-15)
    assert f1.n_at_risk.tolist() == [5, 2, 1]
    assert (f1.n_event.tolist(), f1.n_competing.tolist(), f1.n_censored.tolist()) == ([1, 1, 0], [1, 0, 0], [1, 0, 1])
    # cmprsk variance by hand: Var F(1) = (1/5^2)[1*0 + 1*1] = 0.04
    # Var F(2) = (1/25)[1*(0.3/0.6)^2 + 1*(1-0.5)^2] + (0.6^2/2^2)[1*1] = 0.02 + 0.09 = 0.11
    np.testing.assert_allclose(f1.variance, [0.04, 0.11, 0.11], atol=1e-15)


def test_delayed_entry_shrinks_risk_set_by_hand() -> None:
    # (entry, exit, status): (0,2,1) (0,4,2) (3,5,0) (4,6,1); at risk when entry < t <= exit
    # t=2: n=2 -> F1 = 1/2, S = 1/2; t=4: n=2 ({2,3}), cause 2 -> S = 1/4; t=6: n=1 -> F1 = 1/2 + 1/4
    ci = aalen_johansen(np.array([2, 4, 5, 6.0]), np.array([1, 2, 0, 1]), cause=1, entry=np.array([0, 0, 3, 4.0]))
    np.testing.assert_allclose(ci.estimate, [0.5, 0.5, 0.5, 0.75], atol=1e-15)
    np.testing.assert_allclose(ci.all_cause_survival, [0.5, 0.25, 0.25, 0.0], atol=1e-15)
    assert ci.n_at_risk.tolist() == [2, 2, 2, 1]


def test_all_censored_and_single_patient() -> None:
    ci = aalen_johansen(np.array([1, 2.0]), np.array([0, 0]))
    assert ci.estimate.tolist() == [0.0, 0.0] and ci.variance.tolist() == [0.0, 0.0]
    assert np.all(np.isnan(ci.lower)) and np.all(np.isnan(ci.upper))  # log(-log) undefined at F = 0
    one = aalen_johansen(np.array([3.0]), np.array([1]))
    assert one.estimate.tolist() == [1.0] and np.isnan(one.lower[0])
    other = aalen_johansen(np.array([3.0]), np.array([2]), cause=1)
    assert other.estimate.tolist() == [0.0] and other.all_cause_survival.tolist() == [0.0]
    assert aalen_johansen(np.array([]), np.array([], dtype=int)).n == 0


def test_landmark_beyond_follow_up_is_undefined() -> None:
    ci = aalen_johansen(np.array([1, 2, 3.0]), np.array([1, 0, 2]))
    out = cif_at(ci, np.array([0.5, 3.0, 3.5]))
    assert out["estimate"][0] == 0.0 and out["estimate"][1] == pytest.approx(1 / 3)
    assert np.isnan(out["estimate"][2])


def test_single_cause_equals_one_minus_km_with_delayed_entry() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        t = rng.integers(0, 30, n).astype(float)
        ev = rng.integers(0, 2, n)
        ent = np.minimum(rng.integers(0, 8, n), t) * (rng.random(n) < 0.3)
        ev[(ev == 1) & (ent == t) & (t > ent.min())] = 0
        km = kaplan_meier(t, ev, ent)
        aj = aalen_johansen(t, ev, cause=1, entry=ent)
        np.testing.assert_allclose(aj.estimate, 1.0 - km.estimate, atol=1e-12)
        assert aj.n_at_risk.tolist() == km.n_at_risk.tolist()


def test_single_cause_variance_closed_form() -> None:
    # no competing risk: cmprsk variance = S(t)^2 * sum d/((n-1)(n-d)) with tie factor (n-d)/(n-1)
    t = np.array([1, 1, 2, 3, 4, 4, 5.0])
    st = np.array([1, 1, 0, 1, 1, 0, 0])
    ci = aalen_johansen(t, st)
    # t=1: n=7,d=2; t=3: n=4,d=1; t=4: n=3,d=1
    s = (5 / 7) * (3 / 4) * (2 / 3)
    expected = s**2 * (2 / (6 * 5) + 1 / (3 * 3) + 1 / (2 * 2))
    assert ci.variance[np.flatnonzero(ci.time == 4)[0]] == pytest.approx(expected, rel=1e-12)


def test_loglog_ci_formula() -> None:
    lo, hi = loglog_ci(np.array([0.2]), np.array([0.0016]))
    se = 0.04 / (0.2 * -np.log(0.2))
    assert lo[0] == pytest.approx(0.2 ** np.exp(1.959963984540054 * se))
    assert hi[0] == pytest.approx(0.2 ** np.exp(-1.959963984540054 * se))
    assert lo[0] < 0.2 < hi[0]


# --- R cmprsk published output (CRAN cmprsk tests/test.Rout.save; data regenerated in conftest.py) ---------

CUMINC_ALL = {  # print(cuminc(ss, cc)) at times 1..5
    1: (
        [0.2352861, 0.3287068, 0.4247898, 0.4247898, 0.4247898],
        [0.002062112, 0.002957844, 0.004170634, 0.004170634, 0.004170634],
    ),
    2: (
        [0.2567862, 0.3931580, 0.4631781, 0.4911861, 0.4911861],
        [0.002190305, 0.003273248, 0.004004514, 0.004369940, 0.004369940],
    ),
}
CUMINC_BY_GROUP = {  # print(cuminc(ss, cc, gg, strt))$est / $var, NA entries omitted
    ("a", 1): (
        [0.1311269, 0.2699184, 0.3420625, 0.3420625, 0.3420625],
        [0.003922836, 0.009113464, 0.012507959, 0.01250796, 0.01250796],
    ),
    ("b", 1): ([0.2176471, 0.2615686], [0.005528913, 0.006916070]),
    ("c", 1): ([0.3816280, 0.4889137, 0.5723581], [0.009854126, 0.012351948, 0.015575726]),
    ("a", 2): (
        [0.2257601, 0.2972171, 0.4415053, 0.4415053, 0.4415053],
        [0.005947601, 0.007356628, 0.014479506, 0.01447951, 0.01447951],
    ),
    ("b", 2): ([0.3117647, 0.5878431], [0.007033454, 0.010927780]),
    ("c", 2): ([0.2160508, 0.2607532, 0.2607532], [0.006497566, 0.007867543, 0.007867543]),
}


def test_cif_and_variance_match_cmprsk(cmprsk_reference_data: dict) -> None:
    d = cmprsk_reference_data
    for cause, (est, var) in CUMINC_ALL.items():
        out = cif_at(aalen_johansen(d["ss"], d["cc"], cause=cause), np.arange(1.0, 6.0))
        np.testing.assert_allclose(out["estimate"], est, atol=5e-8)
        np.testing.assert_allclose(out["variance"], var, rtol=5e-7)
    for (g, cause), (est, var) in CUMINC_BY_GROUP.items():
        sel = d["gg"] == g
        out = cif_at(aalen_johansen(d["ss"][sel], d["cc"][sel], cause=cause), np.arange(1.0, 6.0))
        k = len(est)
        np.testing.assert_allclose(out["estimate"][:k], est, atol=5e-8)
        np.testing.assert_allclose(out["variance"][:k], var, rtol=5e-7)
        assert np.all(np.isnan(out["estimate"][k:]))  # NA in cmprsk: beyond the group's follow-up


def test_gray_test_matches_cmprsk_stratified_three_groups(cmprsk_reference_data: dict) -> None:
    d = cmprsk_reference_data
    # Tests: stat pv df / 1 3.393977 0.1832345 2 / 2 1.989511 0.3698139 2
    for cause, stat, pv in ((1, 3.393977, 0.1832345), (2, 1.989511, 0.3698139)):
        r = gray_test(d["ss"], d["cc"], d["gg"], cause=cause, strata=d["strt"])
        assert r.df == 2
        assert r.statistic == pytest.approx(stat, abs=5e-7)
        assert r.p_value == pytest.approx(pv, abs=5e-8)


def test_gray_test_matches_cmprsk_two_groups_and_subset(cmprsk_reference_data: dict) -> None:
    d = cmprsk_reference_data
    sel = d["gg"] != "b"  # cuminc(ss, cc, gg, strt, subset = gg != 'b')
    for cause, stat, pv in ((1, 3.5151549, 0.06080997), (2, 0.1400145, 0.70826655)):
        r = gray_test(d["ss"][sel], d["cc"][sel], d["gg"][sel], cause=cause, strata=d["strt"][sel])
        assert r.df == 1
        assert r.statistic == pytest.approx(stat, abs=5e-8)
        assert r.p_value == pytest.approx(pv, abs=5e-9)
    # cuminc(ss, cc, gg2, strt, subset = X == 1): first 80 rows, group NA at rows 5, 10, 50 (1-based)
    keep = np.arange(100) < 80
    keep[[4, 9, 49]] = False
    for cause, stat in ((1, 4.716769), (2, 2.696396)):
        r = gray_test(d["ss"][keep], d["cc"][keep], d["gg"][keep], cause=cause, strata=d["strt"][keep])
        assert r.statistic == pytest.approx(stat, abs=5e-7)


def test_gray_test_invariances_and_degenerate_inputs(cmprsk_reference_data: dict) -> None:
    d = cmprsk_reference_data
    base = gray_test(d["ss"], d["cc"], d["gg"], cause=1)
    relabelled = gray_test(d["ss"], d["cc"], np.array([{"a": "z", "b": "y", "c": "x"}[g] for g in d["gg"]]), cause=1)
    assert relabelled.statistic == pytest.approx(base.statistic, rel=1e-10)
    # two identical copies of the same sample: the CIFs coincide, the score is 0
    t2 = np.concatenate([d["ss"], d["ss"]])
    c2 = np.concatenate([d["cc"], d["cc"]])
    g2 = np.array(["A"] * 100 + ["B"] * 100)
    assert gray_test(t2, c2, g2, cause=1).statistic == pytest.approx(0.0, abs=1e-20)
    one_group = gray_test(d["ss"], d["cc"], np.array(["a"] * 100))
    assert one_group.statistic is None and one_group.p_value is None
