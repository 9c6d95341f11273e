"""Rows of the secondary-malignancy SIR sheet and report section, suppressed (kocartr.release.suppression).

From analysis.sir (analyses/sir.py): observed and expected secondary malignancies, SIR and its exact Poisson CI,
overall and by product, per malignancy category. Within one category the products' observed counts sum to the
overall count, so they are suppressed as one vector against the overall row; the SIR and its CI follow from the
observed count and the (published) expected count, so they are hidden with it. The reference rates' source is
stated on every row (the shipped data/config/population_cancer_rates.csv is SYNTHETIC).
"""

from __future__ import annotations

from typing import Any

from kocartr.release.late_effects_sheet import Cell, _groups, _table
from kocartr.release.suppression import suppress_vector
from kocartr.release.workbook import H_EVENTS, bi

HEADERS = [
    bi("Malignancy category", "악성종양 범주"),
    bi("Endpoint", "평가변수"),
    bi("Stratified by", "층화 변수"),
    bi("Stratum", "층"),
    H_EVENTS,  # observed: a patient count, suppressed
    bi("Expected", "기대 수"),
    bi("Person-years", "인년"),
    bi("SIR", "표준화발생비"),
    bi("95% CI lower", "95% 신뢰구간 하한"),
    bi("95% CI upper", "95% 신뢰구간 상한"),
    bi("Reference rates source", "기준 발생률 출처"),
]
SYNTHETIC_WARNING = bi(
    "SYNTHETIC reference rates: not population data, not for interpretation",
    "합성 기준 발생률: 실제 인구 자료가 아니므로 해석에 사용하지 말 것",
)


def is_synthetic(source: str | None) -> bool:
    return source is not None and "SYNTHETIC" in source.upper()


def sir_rows(con: Any, threshold: int) -> list[list[Cell]]:
    """Overall row then products, per malignancy category; empty when the release has no analysis.sir."""
    out = []
    for _, grp in _groups(_table(con, "sir"), ("endpoint",)).items():
        overall = next((r for r in grp if r["stratum_variable"] == "overall"), None)
        strata = sorted((r for r in grp if r["stratum_variable"] != "overall"), key=lambda r: str(r["stratum"]))
        hidden: dict[int, bool] = {}
        for levels in _groups(strata, ("stratum_variable",)).values():
            flags, total_h = suppress_vector(
                [r["observed"] for r in levels], overall["observed"] if overall else None, threshold
            )
            hidden.update({id(r): f for r, f in zip(levels, flags)})
            if overall is not None:
                hidden[id(overall)] = hidden.get(id(overall), False) or total_h
        if overall is not None and id(overall) not in hidden:
            hidden[id(overall)] = suppress_vector([overall["observed"]], None, threshold, total_shown=False)[0][0]
        for r in ([overall] if overall else []) + strata:
            h = hidden.get(id(r), False)
            out.append(
                [
                    Cell(r["malignancy_category"]),
                    Cell(r["endpoint"]),
                    Cell(r["stratum_variable"]),
                    Cell(r["stratum"]),
                    Cell(r["observed"], "count", h),
                    Cell(r["expected"], "dec2"),
                    Cell(r["person_years"], "dec"),
                    Cell(r["sir"], "dec2", h),
                    Cell(r["lower_95"], "dec2", h),
                    Cell(r["upper_95"], "dec2", h),
                    Cell(r["reference_source"]),
                ]
            )
    return out
