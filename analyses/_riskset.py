"""Risk-set convention shared by the Kaplan-Meier and Aalen-Johansen code (delayed entry).

lifelines 0.30.3 KaplanMeierFitter (utils._additive_estimate, lifelines issue #497) removes the events at t
*before* adding the subjects who enter at t, except at the first time of its table (the smallest entry time),
where entrants count. So, with delayed entry, a subject is at risk at t when

    entry < t <= exit,   or   entry == t == min(entry over the sample)

which is R's counting-process convention for Surv(entry, exit, event) plus "subjects entering at the origin
are at risk at the origin" (so events at t = 0 count when follow-up starts at 0). We use the same rule in
our own estimators so that KM (lifelines) and Aalen-Johansen (own) agree.

Consequence: a subject whose event happens at its own entry time after the origin (entry == exit > min
entry) is never at risk, so its event cannot be counted. lifelines would count the event without counting
the subject at risk (a wrong ratio, S can drop to 0); R refuses such rows. We raise ValueError; the table
builders exclude such rows and report how many.
"""

from __future__ import annotations

import numpy as np


def validate_entry(time: np.ndarray, event_any: np.ndarray, entry: np.ndarray) -> None:
    if (entry > time).any():
        raise ValueError("entry must be <= exit time for every subject")
    if entry.size and (event_any & (entry == time) & (time > entry.min())).any():
        raise ValueError(
            "event at the subject's own entry time (entry == exit > earliest entry): never at risk under "
            "the entry < t convention; exclude or correct these rows"
        )


def number_at_risk(exit_time: np.ndarray, entry: np.ndarray | None, at: np.ndarray) -> np.ndarray:
    """Subjects at risk at each t in ``at``: entry < t <= exit, or entry == t == earliest entry."""
    x = np.sort(np.asarray(exit_time, dtype=float))
    q = np.asarray(at, dtype=float)
    if x.size == 0:
        return np.zeros(q.shape, dtype=np.int64)
    e = np.zeros_like(x) if entry is None else np.sort(np.asarray(entry, dtype=float))
    n = np.searchsorted(e, q, side="left") - np.searchsorted(x, q, side="left")
    e0 = e[0]
    n = n + np.where(q == e0, np.searchsorted(e, e0, side="right"), 0)
    return n.astype(np.int64)
