"""The suites write every rule through one constructor (expectations.rules.rule): a query with a boolean `ok`, or a
GX expectation on the table; name and layer follow from the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from expectations.rules import rule

EXPECTATIONS = Path(__file__).resolve().parents[2] / "expectations"


def test_a_query_rule_expects_its_ok_column_true_and_takes_layer_and_name_from_the_table():
    r = rule("marts.fct_x", "a.b", category="plausibility", subcategory="temporal", reason="r", query="select 1")
    assert (r.name, r.layer, r.expectation) == ("marts.fct_x.a.b", "marts", "ExpectColumnValuesToBeInSet")
    assert r.kwargs == {"column": "ok", "value_set": [True]} and r.query == "select 1"
    assert rule("raw.lab", "v", category="conformance", subcategory="value", reason="r", query="q", ok_column="ok_v")
    assert (r.severity, r.max_failing_share) == ("critical", 0.0)
    r.validate()


def test_an_expectation_rule_reads_the_table_and_a_rule_needs_one_or_the_other():
    r = rule(
        "adam.adsl",
        "siteid.not_null",
        category="completeness",
        subcategory="atemporal",
        reason="r",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "SITEID"},
    )
    assert r.query is None and r.kwargs == {"column": "SITEID"} and r.frame_sql().endswith("from adam.adsl")
    with pytest.raises(ValueError, match="needs an expectation or a query"):
        rule("adam.adsl", "nothing", category="completeness", subcategory="atemporal", reason="r")


def test_no_suite_builds_a_rule_by_hand():
    """One constructor: a Rule(...) or a second helper of the same shape in a suite would be a second definition."""
    for path in EXPECTATIONS.rglob("*.py"):
        if path.name == "rules.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(Rule\(|ok_rule\b)", text), path
