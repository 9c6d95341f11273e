"""Clinical thresholds and score bands for the quality rules, read from the seeds dbt loads (data/config/*.csv,
each row citing its standard), so the gates and the warehouse share one definition."""

from __future__ import annotations

import csv
from functools import lru_cache

from kocartr.paths import CONFIG_DIR

CLINICAL_THRESHOLDS = CONFIG_DIR / "clinical_thresholds.csv"
ICANS_SCORE_GRADING = CONFIG_DIR / "icans_score_grading.csv"


@lru_cache(maxsize=1)
def _thresholds() -> dict[str, float]:
    with CLINICAL_THRESHOLDS.open(encoding="utf-8") as fh:
        return {r["rule_id"]: float(r["value"]) for r in csv.DictReader(fh)}


def threshold(rule_id: str) -> float:
    """The value of one row of clinical_thresholds.csv (KeyError naming the file when absent)."""
    try:
        return _thresholds()[rule_id]
    except KeyError:
        raise KeyError(f"{CLINICAL_THRESHOLDS.name}: no rule_id {rule_id!r}") from None


@lru_cache(maxsize=4)
def score_bands(score_type: str) -> tuple[tuple[int, int, int], ...]:
    """(score_min, score_max, grade) bands of one ICANS score (ICE, CAPD) from icans_score_grading.csv."""
    with ICANS_SCORE_GRADING.open(encoding="utf-8") as fh:
        bands = tuple(
            (int(r["score_min"]), int(r["score_max"]), int(r["grade"]))
            for r in csv.DictReader(fh)
            if r["score_type"] == score_type
        )
    if not bands:
        raise KeyError(f"{ICANS_SCORE_GRADING.name}: no bands for score {score_type!r}")
    return bands


def score_grade_sql(score_type: str, column: str) -> str:
    """SQL CASE giving the ICANS grade a score implies (0 when no band covers it, e.g. ICE 10 or no score)."""
    whens = " ".join(f"when {column} between {lo} and {hi} then {g}" for lo, hi, g in score_bands(score_type))
    return f"(case {whens} else 0 end)"
