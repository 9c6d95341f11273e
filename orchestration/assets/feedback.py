"""Feedback assets: the per-site data-quality scorecard, the monthly query table and the per-site query workbooks."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.months import month_end
from orchestration.assets.ingest import AUDIT_TABLES
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryConfig

ADAM_KEYS = [dg.AssetKey(["adam", t]) for t in ("adsl", "adtte", "adae")]  # the last layer and its gate


@dg.asset(
    key=["audit", "dq_scorecard"],
    # after ADaM too, so that its per-site verdicts (checks_failed_at_site) cover every layer's gate
    deps=[dg.AssetKey(["marts", "fct_followup_schedule"]), *ADAM_KEYS],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="quality",
    kinds={"duckdb"},
    description="Per site and month: completeness of key variables, follow-up timeliness, quarantine rate, "
    "plausibility failures (expectations.scorecard).",
)
def dq_scorecard(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
    from expectations import scorecard

    with warehouse.get_connection() as con:
        frame = scorecard(con, as_of=month_end(context.partition_key))
    return dg.MaterializeResult(metadata={"rows": frame.height, "sites": frame["site_code"].n_unique()})


# Built after every layer and its gate (adam is the last), in the feedback job that the runner starts after the
# monthly job whether or not a gate stopped it: a site hears about the problems that stopped its data most of all.
FEEDBACK_DEPS = (
    [dg.AssetKey(["audit", t]) for t in AUDIT_TABLES] + [dg.AssetKey(["marts", "fct_followup_schedule"])] + ADAM_KEYS
)


@dg.asset(
    key=["audit", "site_queries"],
    deps=FEEDBACK_DEPS,
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="feedback",
    kinds={"duckdb"},
    description="One row per query and registry month: every quarantined row, rejected file, record failing a "
    "quality rule and overdue or missed follow-up visit, with a stable id and status new / open / "
    "resolved (kocartr.feedback.queries).",
)
def site_queries(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
    from kocartr.feedback import build_site_queries

    with warehouse.get_connection() as con:
        rows = build_site_queries(con, context.partition_key)
    by_status = {s: int(n) for s, n in rows.group_by("status").len().iter_rows()}
    return dg.MaterializeResult(metadata={"queries": rows.height, **by_status})


@dg.asset(
    key=["audit", "site_query_workbooks"],
    deps=[dg.AssetKey(["audit", "site_queries"])],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="feedback",
    kinds={"excel"},
    description="One query workbook per site: a view of audit.site_queries for the registry month, with the site's "
    "own record ids read back from its files. `kocartr queries` writes the same on demand.",
)
def site_query_workbooks(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, registry: RegistryConfig
) -> dg.MaterializeResult:
    from kocartr.feedback import query_sites, write_site_queries

    out_dir = Path(registry.queries_dir) / context.partition_key
    counts = {}
    with warehouse.get_connection() as con:
        for site in query_sites(con):
            counts[site] = write_site_queries(
                con, site, context.partition_key, out_dir / f"{site}-queries.xlsx", Path(registry.submissions_dir)
            )
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(out_dir)), "queries": counts})
