"""The estimators against R survival (survfit) with the same entry times, where R is installed.

R's counting-process form needs start < stop: patients entering at day 0 start at -0.5 day (the guide's
treatment of day-0 events, docs/INVESTIGATORS.md), which is the risk-set convention of analyses/_riskset.py
(entry == t == earliest entry counts at t). Compared: the KM step curve (estimate, log(-log) CI, numbers at
risk), the median and its CI (R's quantile.survfit rule: plateau midpoint, NA for a limit never reached), and
the Aalen-Johansen cumulative incidence (survfit multi-state) with delayed entry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from analyses.competing_risks import aalen_johansen
from analyses.survival import kaplan_meier, median_survival

pytestmark = pytest.mark.skipif(
    shutil.which("Rscript") is None, reason="R is not installed (Rscript not on PATH): R comparison skipped"
)

R_SCRIPT = r"""
suppressMessages(library(survival)); library(jsonlite)
d <- read.csv(commandArgs(TRUE)[1])
d$tstart <- ifelse(d$entry == 0, -0.5, d$entry)
fit <- survfit(Surv(tstart, time, event) ~ 1, data = d, conf.type = "log-log")
q <- quantile(fit, 0.5)
d$state <- factor(d$cause, levels = 0:2, labels = c("censor", "c1", "c2"))
aj <- survfit(Surv(tstart, time, state) ~ 1, data = d, id = id)
out <- list(time = fit$time, surv = fit$surv, lower = fit$lower, upper = fit$upper, n_risk = fit$n.risk,
            median = unname(q$quantile), median_lower = unname(q$lower), median_upper = unname(q$upper),
            aj_time = aj$time, aj_c1 = aj$pstate[, which(aj$states == "c1")])
cat(toJSON(out, digits = NA, na = "null"))
"""


def _r(tmp_path: Path, time, event, entry, cause) -> dict:
    csv = tmp_path / "d.csv"
    rows = ["id,time,event,entry,cause"] + [
        f"{i},{t},{e},{s},{c}" for i, (t, e, s, c) in enumerate(zip(time, event, entry, cause))
    ]
    csv.write_text("\n".join(rows) + "\n")
    script = tmp_path / "ref.R"
    script.write_text(R_SCRIPT)
    res = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def _none(x):
    return None if x is None or (isinstance(x, list) and not x) else (x[0] if isinstance(x, list) else x)


def _compare(tmp_path, time, cause, entry):
    time, cause, entry = (np.asarray(a, dtype=float) for a in (time, cause, entry))
    event = (cause > 0).astype(int)
    ref = _r(tmp_path, time.astype(int), event, entry.astype(int), cause.astype(int))
    km = kaplan_meier(time, event, entry)
    np.testing.assert_array_equal(km.time, ref["time"])
    np.testing.assert_allclose(km.estimate, ref["surv"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(km.n_at_risk, ref["n_risk"])
    lo_r = np.array([np.nan if v is None else v for v in ref["lower"]], dtype=float)
    hi_r = np.array([np.nan if v is None else v for v in ref["upper"]], dtype=float)
    defined = (km.estimate > 0) & (km.estimate < 1)  # R gives NA (S = 0) or 1 (S = 1) where ours is NaN
    np.testing.assert_allclose(km.lower[defined], lo_r[defined], rtol=1e-10)
    np.testing.assert_allclose(km.upper[defined], hi_r[defined], rtol=1e-10)
    m = median_survival(km)
    for ours, theirs in ((m.median, ref["median"]), (m.lower, ref["median_lower"]), (m.upper, ref["median_upper"])):
        theirs = _none(theirs)
        assert (ours is None) == (theirs is None) and (ours is None or ours == pytest.approx(theirs, abs=1e-9))
    aj = aalen_johansen(time, cause.astype(int), cause=1, entry=entry)
    step = np.searchsorted(aj.time, np.asarray(ref["aj_time"]), side="right") - 1
    ours_at = np.where(step >= 0, aj.estimate[np.clip(step, 0, None)], 0.0)
    np.testing.assert_allclose(ours_at, ref["aj_c1"], atol=1e-12)
    return m


def test_km_median_and_cif_equal_r_with_delayed_entry_ties_and_day0_events(tmp_path):
    rng = np.random.default_rng(12)
    n = 300
    time = rng.integers(0, 900, n)
    cause = rng.choice([0, 1, 2], n, p=[0.45, 0.35, 0.2])
    entry = np.where(rng.random(n) < 0.3, rng.integers(1, 200, n), 0)
    entry = np.where(entry >= time, 0, entry)  # enrolled before the exit (pre-entry rows are excluded upstream)
    time[:6], cause[:6], entry[:6] = 0, 1, 0  # day-0 events (e.g. death on the infusion day)
    _compare(tmp_path, time, cause, entry)


def test_median_limit_not_reached_is_null_as_in_r(tmp_path):
    # last step to 0: R gives NA for the upper limit, never [t, t]
    m = _compare(tmp_path, [1, 2, 3, 4, 5], [1, 1, 1, 1, 1], [0] * 5)
    assert m.upper is None


def test_median_on_an_exact_half_plateau_as_in_r(tmp_path):
    m = _compare(tmp_path, [1, 2, 2, 3], [1, 1, 0, 1], [0] * 4)
    assert m.median == 2.5
    m = _compare(tmp_path, list(range(1, 11)), [1] * 5 + [0] * 5, [0] * 10)
    assert m.median == 7.5
