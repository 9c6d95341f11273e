"""Quality gates: Great Expectations suites per layer (raw, staging, marts, adam), organised by the Kahn
data-quality framework, run as blocking Dagster asset checks, persisted to audit.dq_results, summarised in the
per-site monthly scorecard audit.dq_scorecard. See expectations/README.md.

Public API (GX is imported lazily, once per process, on the first check run):
    run_checks(con, table, run_id) -> list[CheckOutcome]
    run_layer(con, layer, run_id) -> list[CheckOutcome]
    run_rules(con, rules, run_id) -> list[CheckOutcome]
    blocking_failures(outcomes) -> list[CheckOutcome];  gate(outcomes) raises QualityGateFailed
    persist_results(con, outcomes, run_id, data_month=None, run_at=None) -> int
    site_verdicts(con, month=None) -> polars.DataFrame (per check and site: the site's own verdict)
    scorecard(con, as_of=None, write=True) -> polars.DataFrame
    all_rules(), rules_for_layer(layer), rules_for_table(table), tables(layer=None)
"""

from expectations.results import persist_results, site_verdicts
from expectations.rules import Rule
from expectations.runner import (
    CheckOutcome,
    QualityGateFailed,
    SiteCount,
    blocking_failures,
    gate,
    run_checks,
    run_layer,
    run_rules,
)
from expectations.scorecard import scorecard
from expectations.suites import all_rules, rules_for_layer, rules_for_table, tables

__all__ = [
    "site_verdicts",
    "CheckOutcome",
    "SiteCount",
    "QualityGateFailed",
    "Rule",
    "run_checks",
    "run_layer",
    "run_rules",
    "blocking_failures",
    "gate",
    "persist_results",
    "scorecard",
    "all_rules",
    "rules_for_layer",
    "rules_for_table",
    "tables",
]
