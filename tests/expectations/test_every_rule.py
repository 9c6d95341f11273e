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


def test_censoring_at_registry_completeness_before_entry_is_no_failure(con):
    """A patient registered after a national registry's completeness date is censored there, before entry: no
    temporal failure (the analyses exclude the row as no follow-up inside the completeness window); a censoring at
    the last contact before entry still fails."""
    (rule,) = [r for r in RULES if r.name.endswith("adtte.censoring_not_before_entry")]
    con.execute("update adam.adtte set ENTRYT = AVAL + 1, CNSDTDSC = 'CANCER REGISTRY COMPLETENESS' where CNSR = 1")
    (ok,) = run_rules(con, [rule], "completeness")
    assert ok.error is None and ok.passed and ok.rows_failing == 0
    con.execute("update adam.adtte set CNSDTDSC = 'LAST CONTACT' where CNSR = 1")
    (bad,) = run_rules(con, [rule], "last contact")
    assert not bad.passed and bad.rows_failing > 0
