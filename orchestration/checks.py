"""Quality gates: the Great Expectations suites of expectations/ as Dagster asset checks, one check op per gate:
one per layer, and the linkage gate (the raw tables of the national linkage returns, asset `linkage_returns`).

Each rule is an asset check on the table it guards. Critical rules are blocking: when one fails (more failing rows
than its threshold allows), nothing downstream of that table is materialized. Warnings never block. A rule whose
GX run raised is reported as an error of the check and fails the step, never as bad data. Every outcome is
persisted to audit.dq_results (and failing record keys to audit.dq_failing_records, for the site queries).
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


def _layer_checks(layer: str) -> dg.AssetChecksDefinition:  # layer: one of GATES
    rules = {(asset_key_of(r.table), r.check_name): r for r in gate_rules(layer)}
    specs = [
        dg.AssetCheckSpec(
            name=name,
            asset=key,
            blocking=r.blocking,
            description=r.reason[:500],
            additional_deps=[asset_key_of(t) for t in r.reads if t != r.table],
        )
        for (key, name), r in rules.items()
    ]

    @dg.multi_asset_check(specs=specs, name=f"{layer}_quality_gate", can_subset=True)
    def _gate(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource):
        from expectations import persist_results, run_rules

        selected = [rules[(k.asset_key, k.name)] for k in context.selected_asset_check_keys]
        month = context.run.tags.get("dagster/partition")
        with warehouse.get_connection() as con:
            outcomes = run_rules(con, selected, context.run.run_id)
            con.execute("begin transaction")
            persist_results(con, outcomes, context.run.run_id, data_month=month)
            con.execute("commit")
        by_name = {o.name: o for o in outcomes}
        errored = []
        for rule in selected:
            o = by_name[rule.name]
            if o.error:
                errored.append(f"{rule.name}: {o.error}")
            yield dg.AssetCheckResult(
                asset_key=asset_key_of(rule.table),
                check_name=rule.check_name,
                passed=bool(o.passed),
                severity=dg.AssetCheckSeverity.ERROR if rule.blocking else dg.AssetCheckSeverity.WARN,
                description=o.describe(),
                metadata=o.as_metadata(),
            )
        if errored:
            raise dg.Failure(
                f"{len(errored)} {layer} quality checks could not run (an error of the check, "
                "not bad data):\n" + "\n".join(errored)
            )

    return _gate


def quality_gates() -> list[dg.AssetChecksDefinition]:
    return [_layer_checks(gate) for gate in GATES]
