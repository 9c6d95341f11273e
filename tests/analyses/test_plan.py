"""The analysis plan: one typed configuration, consistent, and the only place landmarks and the month length are
defined."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from analyses import outcomes
from analyses import survival as sv
from analyses.plan import PLAN_FILE, PlanError, load_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]
# Code and configuration that analyses or publishes (the generator in kocartr/synth simulates its own time scale;
# tests hand-compute their expectations).
SCANNED = ["analyses", "kocartr", "orchestration", "expectations", "dbt_project/models", "dbt_project/macros", "data"]
EXEMPT = {PLAN_FILE.resolve()}
EXEMPT_DIRS = [ROOT / "kocartr" / "synth", ROOT / "data" / "sample"]
DEFINITIONS = [
    (re.compile(r"30\.4375|365\.25\s*/\s*12"), "a month length"),
    (
        re.compile(r"^\s*(landmarks?_months|at_risk_months|risk_table_months|days_per_month)\s*:\s*[\[\d]", re.M),
        "a plan key",
    ),
    (re.compile(r"(LANDMARK|RISK_TABLE|AT_RISK)\w*\s*(:[^=\n]*)?=\s*[\(\[]\s*\d"), "a landmark list"),
]


def _raw() -> dict:
    return yaml.safe_load(PLAN_FILE.read_text(encoding="utf-8"))


def test_the_plan_is_read_by_the_analyses_and_the_release():
    from kocartr.release.config import load_release_config

    plan = load_plan()
    assert sv.DAYS_PER_MONTH == plan.days_per_month == 365.25 / 12
    assert sv.LANDMARK_MONTHS == plan.landmark_months and sv.RISK_TABLE_MONTHS == plan.risk_table_months
    assert outcomes.CIF_ENDPOINTS == {c: e.competing for c, e in plan.endpoints.items() if e.estimator == "CIF"}
    assert set(outcomes.SURVIVAL_ENDPOINTS) | set(outcomes.CIF_ENDPOINTS) == set(plan.endpoints)
    assert outcomes.STRATIFIERS == plan.stratifiers
    cfg = load_release_config()
    assert cfg.landmarks_months == plan.published_landmark_months
    assert cfg.at_risk_months == plan.published_at_risk_months
    assert cfg.days_per_month == plan.days_per_month
    assert set(cfg.landmarks_months) <= set(plan.landmark_months)


def test_every_endpoint_has_an_estimator_a_population_and_both_names():
    plan = load_plan()
    for code, e in plan.endpoints.items():
        assert e.estimator in ("KM", "CIF") and e.population in plan.populations
        assert e.label.en and e.label.ko and e.label.ko != e.label.en, code
        assert (e.competing is not None) == (e.estimator == "CIF"), code
    assert plan.label("OS").both() == "Overall survival / 전체 생존"
    assert plan.label("UNKNOWN").en == "UNKNOWN"


def test_landmarks_in_days_and_in_months():
    plan = load_plan()
    assert plan.landmark_days("ANC_REC") == (28.0, 60.0, 90.0, 180.0)
    assert plan.landmark_days("OS")[1] == pytest.approx(12 * 365.25 / 12)
    assert all(isinstance(m, int) for m in plan.published_landmark_months)  # labels read "12-month"


def test_product_colours_are_fixed_and_distinct():
    plan = load_plan()
    every = plan.colours(["AXI_CEL", "TISA_CEL", "CILTA_CEL", "LBCL"])
    fewer = plan.colours(["TISA_CEL"])
    assert every["TISA_CEL"] == fewer["TISA_CEL"] == plan.product_colours["TISA_CEL"]
    assert len(set(every.values())) == 4
    assert len(set(plan.product_colours.values())) == len(plan.product_colours)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["publish"].update(landmarks_months=[6, 18]), "publish.landmarks_months [18]"),
        (lambda r: r["endpoints"]["NRM"].pop("competing"), "NRM: a CIF endpoint needs its competing event"),
        (lambda r: r["endpoints"]["OS"].update(estimator="Cox"), "OS: estimator must be KM or CIF"),
        (lambda r: r["endpoints"]["OS"].update(population="adults"), "OS: unknown population 'adults'"),
        (lambda r: r["publish"].update(km_endpoints=["OS", "NRM"]), "publish.km_endpoints ['NRM']"),
        (lambda r: r["strata"]["DISGRP"].pop("en"), "stratum DISGRP has no English display name"),
    ],
)
def test_an_inconsistent_plan_is_refused_in_one_line(edit, message):
    raw = copy.deepcopy(_raw())
    edit(raw)
    with pytest.raises(PlanError, match=re.escape(message)) as exc:
        parse_plan(raw)
    assert "\n" not in str(exc.value) and PLAN_FILE.name in str(exc.value)


def _files():
    for top in SCANNED:
        for p in sorted((ROOT / top).rglob("*")):
            if p.suffix not in (".py", ".yaml", ".yml", ".sql", ".R", ".md", ".csv") or not p.is_file():
                continue
            if p.resolve() in EXEMPT or any(d in p.parents for d in EXEMPT_DIRS):
                continue
            yield p


def test_landmarks_and_month_length_are_defined_only_in_the_plan():
    found = []
    for p in _files():
        text = p.read_text(encoding="utf-8", errors="replace")
        for pattern, what in DEFINITIONS:
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{p.relative_to(ROOT)}:{line}: {what}: {m.group(0).strip()}")
    assert not found, "define these in data/config/analysis_plan.yaml only:\n" + "\n".join(found)


def test_the_scan_would_find_a_second_definition(tmp_path):
    text = "DAYS = 30.4375\nLANDMARK_MONTHS: tuple = (6, 12)\nlandmarks_months: [6, 12]\n"
    hits = [what for pattern, what in DEFINITIONS if pattern.search(text)]
    assert hits == ["a month length", "a plan key", "a landmark list"]
