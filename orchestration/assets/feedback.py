"""Feedback assets: the per-site data-quality scorecard and the per-site query workbooks."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from kocartr.months import month_end
from orchestration.assets.ingest import AUDIT_TABLES
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryPaths


@dg.asset(
    key=["audit", "dq_scorecard"],
    deps=[dg.AssetKey(["marts", "fct_followup_schedule"])],
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


@dg.asset(
    key=["audit", "site_query_workbooks"],
    deps=[dg.AssetKey(["audit", t]) for t in AUDIT_TABLES],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="quality",
    kinds={"excel"},
    description="One query workbook per site (quarantined rows, rejected files, quality-check failures so far), "
                "for the site's data manager. `kocartr queries` writes the same on demand.",
)
def site_query_workbooks(context: dg.AssetExecutionContext, warehouse: DuckDBResource,
                         paths: RegistryPaths) -> dg.MaterializeResult:
    from kocartr.ingest import write_site_queries

    out_dir = Path(paths.queries_dir) / context.partition_key
    counts = {}
    with warehouse.get_connection() as con:
        sites = [r[0] for r in con.sql(
            "select site_code from audit.quarantine union select site_code from audit.file_rejects "
            "where site_code is not null order by 1").fetchall()]
        for site in sites:
            counts[site] = write_site_queries(con, site, out_dir / f"{site}-queries.xlsx")
    return dg.MaterializeResult(metadata={"folder": dg.MetadataValue.path(str(out_dir)), "queries": counts})
