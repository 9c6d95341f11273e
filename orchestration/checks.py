"""Quality gates: the Great Expectations suites of expectations/ as Dagster asset checks, one check op per gate:
one per layer, and the linkage gate (the raw tables of the national linkage returns, asset `linkage_returns`).

A table's rules are one asset check on the table, `quality_rules` (one Dagster event per table, not per rule: each
check result costs Dagster ~29 ms of CPU, more than GX's run of the rule; benchmarks/results/profile-gates-sample.md).
The check is blocking when any of its rules is critical, and fails with ERROR severity when a critical rule fails
(more failing rows than its threshold allows) or errors, with WARN when only warnings fail: Dagster blocks per asset,
so nothing downstream of that table is materialized exactly when a critical rule of it failed, as with one check
per rule. Its description lists every rule, its result names each rule that did not pass, and its metadata holds
every rule's outcome. A rule whose GX run raised is reported as an error of the check and fails the step, never as
bad data. Every outcome is persisted to audit.dq_results (and failing record keys to audit.dq_failing_records, for
the site queries).
"""

from typing import TYPE_CHECKING

import dagster as dg
from dagster_duckdb import DuckDBResource

if TYPE_CHECKING:
    from expectations.rules import Rule

GATES = ("raw", "linkage", "staging", "marts", "adam")


def asset_key_of(table: str) -> dg.AssetKey:
    return dg.AssetKey(table.split("."))


def gate_of(layer: str, table: str, linkage_tables: set[str]) -> str:
    """The gate a rule belongs to: its layer's, except the linkage returns' raw tables, which have their own."""
    return "linkage" if table in linkage_tables else layer


def gate_rules(gate: str) -> list["Rule"]:
    from expectations import all_rules
    from expectations.suites.raw import linkage_tables
    from kocartr.dictionary import load_dictionary

    linkage = linkage_tables(load_dictionary())
    return [r for r in all_rules() if gate_of(r.layer, r.table, linkage) == gate]


GX_CHECK = "quality_rules"  # the check name of a table's rules


def _table_spec(table: str, rules: list["Rule"]) -> dg.AssetCheckSpec:
    lines = [f"- `{r.name[len(table) + 1 :]}` [{r.severity}]: {r.reason}" for r in rules]
    return dg.AssetCheckSpec(
        name=GX_CHECK,
        asset=asset_key_of(table),
        blocking=any(r.blocking for r in rules),
        description=f"The {len(rules)} quality rules (Great Expectations) of this table:\n" + "\n".join(lines),
        additional_deps=[asset_key_of(t) for t in dict.fromkeys(t for r in rules for t in r.reads if t != table)],
    )


def table_result(table: str, outcomes: list) -> dg.AssetCheckResult:
    """One table's `quality_rules` result from its rules' outcomes (expectations.runner.CheckOutcome): passed when
    every rule passed; ERROR severity when a critical rule failed or errored, else WARN; failing rules named."""
    bad = [o for o in outcomes if not o.passed]
    critical = any(o.blocking for o in bad)
    description = (
        f"{len(bad)} of {len(outcomes)} rules did not pass: " + " | ".join(o.describe() for o in bad)
        if bad
        else f"{len(outcomes)} rules passed"
    )
    return dg.AssetCheckResult(
        asset_key=asset_key_of(table),
        check_name=GX_CHECK,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR if critical else dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "rules": len(outcomes),
            "failed": len(bad),
            "failed_rules": ", ".join(o.name for o in bad),
            "outcomes": {o.name: o.as_metadata() for o in outcomes},
        },
    )


def _layer_checks(layer: str) -> dg.AssetChecksDefinition:  # layer: one of GATES
    tables: dict[str, list[Rule]] = {}
    for r in gate_rules(layer):
        tables.setdefault(r.table, []).append(r)
    by_key = {asset_key_of(t): t for t in tables}

    @dg.multi_asset_check(
        specs=[_table_spec(t, rules) for t, rules in tables.items()], name=f"{layer}_quality_gate", can_subset=True
    )
    def _gate(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
        from expectations import persist_results, run_rules

        selected = [by_key[k.asset_key] for k in context.selected_asset_check_keys]
        month = context.run.tags.get("dagster/partition")
        with warehouse.get_connection() as con:
            outcomes = run_rules(con, [r for t in selected for r in tables[t]], context.run.run_id)
            con.execute("begin transaction")
            persist_results(con, outcomes, context.run.run_id, data_month=month)
            con.execute("commit")
        by_name = {o.name: o for o in outcomes}
        errored = [f"{o.name}: {o.error}" for o in outcomes if o.error]
        for table in selected:
            yield table_result(table, [by_name[r.name] for r in tables[table]])
        if errored:
            raise dg.Failure(
                f"{len(errored)} {layer} quality checks could not run (an error of the check, "
                "not bad data):\n" + "\n".join(errored)
            )

    return _gate


def quality_gates() -> list[dg.AssetChecksDefinition]:
    return [_layer_checks(gate) for gate in GATES]
