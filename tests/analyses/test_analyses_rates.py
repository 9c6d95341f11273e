"""Exact CIs and median/IQR against closed forms and published values."""

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from analyses.rates import clopper_pearson, median_iqr, poisson_rate


def test_clopper_pearson_zero_events_closed_form() -> None:
    # x = 0: lower 0, upper = 1 - (alpha/2)^(1/n)
    ci = clopper_pearson(0, 10)
    assert ci.proportion == 0.0 and ci.lower == 0.0
    assert ci.upper == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    assert ci.upper == pytest.approx(0.3084971, abs=1e-7)


def test_clopper_pearson_all_events_closed_form() -> None:
    ci = clopper_pearson(10, 10)
    assert ci.upper == 1.0
    assert ci.lower == pytest.approx(0.025 ** (1 / 10), abs=1e-12)


def test_clopper_pearson_five_of_ten_published() -> None:
    # R binom.test(5, 10)$conf.int: 0.1870860 0.8129140
    ci = clopper_pearson(5, 10)
    assert ci.lower == pytest.approx(0.1870860, abs=1e-7)
    assert ci.upper == pytest.approx(0.8129140, abs=1e-7)


@pytest.mark.parametrize("k,n", [(1, 1), (0, 1), (3, 17), (12, 40), (99, 100), (7, 1000)])
def test_clopper_pearson_matches_scipy_binomtest(k: int, n: int) -> None:
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    ci = clopper_pearson(k, n)
    assert ci.lower == pytest.approx(ref.low, abs=1e-12)
    assert ci.upper == pytest.approx(ref.high, abs=1e-12)


def test_clopper_pearson_empty_and_invalid() -> None:
    assert clopper_pearson(0, 0).proportion is None
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_garwood_closed_forms() -> None:
    # x = 0: upper = -ln(alpha/2); x = 1: lower = -ln(1 - alpha/2)
    r0 = poisson_rate(0, 100.0)
    assert r0.rate_per_100py == 0.0 and r0.lower == 0.0
    assert r0.upper == pytest.approx(-math.log(0.025), abs=1e-9)  # 3.688879 per 100 PY
    r1 = poisson_rate(1, 100.0)
    assert r1.lower == pytest.approx(-math.log(0.975), abs=1e-12)
    assert r1.upper == pytest.approx(5.571643, abs=1e-6)


def test_garwood_five_events_published_and_scaling() -> None:
    # R poisson.test(5)$conf.int: 1.623486 11.668332 (counts); per 100 PY with 50 PY: x 2
    r = poisson_rate(5, 50.0)
    assert r.rate_per_100py == pytest.approx(10.0)
    assert r.lower == pytest.approx(1.623486 * 2, abs=1e-5)
    assert r.upper == pytest.approx(11.668332 * 2, abs=1e-5)
    assert poisson_rate(3, 0.0).rate_per_100py is None


def test_median_iqr_definitions() -> None:
    m = median_iqr([4, 1, 3, 2, np.nan])
    assert (m.n, m.median, m.q1, m.q3, m.minimum, m.maximum) == (4, 2.5, 1.75, 3.25, 1.0, 4.0)
    m2 = median_iqr([4, 1, 3, 2], method="averaged_inverted_cdf")  # SAS QNTLDEF=5
    assert (m2.median, m2.q1, m2.q3) == (2.5, 1.5, 3.5)
    assert median_iqr([]).median is None
