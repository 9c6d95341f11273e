"""Analysis asset: the ADaM datasets -> schema `analysis` (survival, cumulative incidence, rates, proportions).

Thin wrapper around analyses.outcomes.build_all; the tables are replaced whole, in one transaction.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.months import month_end
from orchestration.partitions import one_month_per_run, registry_months

ANALYSIS_TABLES = ("survival_estimates", "cumulative_incidence", "event_rates", "proportions") + (
    "landmark_prevalence",  # late effects: analyses.late_effects.LATE_TABLES
    "infection_rates",
    "late_cumulative_incidence",
    "pregnancy_outcomes",
    "daoh",
    "median_followup",  # analyses.followup
    "sir",  # analyses.sir (secondary malignancies)
    "publication_recoding",  # analyses.recoding (the plan's categories as published)
)
ADAM_INPUTS = (
    dg.AssetKey(["adam", "adsl"]),
    dg.AssetKey(["adam", "adtte"]),
    dg.AssetKey(["adam", "adae"]),
    dg.AssetKey(["adam", "adrs"]),
)


def table_description(table: str) -> str:
    """The analysis table's description, from its builder's docstring in analyses.outcomes (written once there)."""
    from analyses import late_effects, outcomes

    builder = (
        getattr(outcomes, table, None) or getattr(outcomes, f"{table}_table", None) or getattr(late_effects, table)
    )
    return f"analysis.{table}: " + (builder.__doc__ or "").strip().splitlines()[0].removeprefix(f"analysis.{table}: ")


def write_tables(con, schema: str, tables: dict) -> None:
    """Replace tables atomically: readers see all the new tables or all the old ones."""
    con.execute(f"create schema if not exists {schema}")
    con.execute("begin transaction")
    try:
        for name, frame in tables.items():
            con.register("_frame", frame.to_arrow())
            con.execute(f"create or replace table {schema}.{name} as select * from _frame")
            con.unregister("_frame")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


@dg.multi_asset(
    name="outcome_analyses",
    specs=[
        dg.AssetSpec(
            ["analysis", t],
            deps=list(ADAM_INPUTS),
            group_name="analysis",
            kinds={"duckdb", "python"},
            description=table_description(t),
        )
        for t in ANALYSIS_TABLES
    ],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    can_subset=False,
)
def outcome_analyses(context: dg.AssetExecutionContext, warehouse: DuckDBResource):
    from analyses.late_effects import read_inputs
    from analyses.outcomes import build_all, read_pending

    cutoff = month_end(context.partition_key)
    with warehouse.get_connection() as con:
        adsl = con.sql("select * from adam.adsl").pl()
        adtte = con.sql("select * from adam.adtte").pl()
        adae = con.sql("select * from adam.adae").pl()
        adrs = con.sql("select * from adam.adrs").pl()
        pending = read_pending(con, context.partition_key)  # toxicity rows awaiting a site correction
        tables = build_all(adtte, adsl, adae, cutoff, adrs=adrs, late=read_inputs(con), pending=pending)
        write_tables(con, "analysis", tables)
    for name in ANALYSIS_TABLES:
        yield dg.MaterializeResult(
            asset_key=["analysis", name], metadata={"rows": tables[name].height, "data_cutoff": cutoff.isoformat()}
        )
