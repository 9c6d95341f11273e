"""Each rule passes on the clean warehouse and fails on a fixture that breaks it."""

import pytest
from breakers import breaker

from expectations.runner import run_layer, run_rules
from expectations.suites import all_rules

RULES = all_rules()


@pytest.mark.parametrize("layer", ["raw", "staging", "marts", "adam"])
def test_clean_warehouse_passes_every_rule(clean_con, layer):
    outcomes = run_layer(clean_con, layer, "clean")
    assert outcomes
    bad = [o.describe() for o in outcomes if not o.passed]
    assert not bad, bad
    assert all(o.error is None for o in outcomes)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule_fails_on_its_fixture(con, rule):
    for sql in breaker(rule):
        con.execute(sql)
    (outcome,) = run_rules(con, [rule], "broken")
    assert outcome.error is None, outcome.error
    assert not outcome.passed, outcome.describe()
    assert outcome.rows_failing > 0
    assert outcome.failing_share > outcome.threshold or outcome.per_site
    assert outcome.failing_records and all(set(k) == set(rule.id_columns) for k in outcome.failing_records)
