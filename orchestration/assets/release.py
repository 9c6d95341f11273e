"""Release asset: publish the registry month's immutable release (kocartr.release) after the analyses.

The release reads the warehouse read-only itself, so no warehouse connection is held during the build.
An existing release of the same cut-off is never rebuilt: it is verified and reported.
"""

from pathlib import Path

import dagster as dg

from kocartr.months import month_end
from kocartr.warehouse import table_exists
from orchestration.assets.analyses import ANALYSIS_TABLES
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryPaths


def quality_summary(warehouse: Path) -> dict | None:
    """The latest quality-gate results for the manifest (None before any gate has run)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not table_exists(con, "audit.dq_results"):
            return None
        # The latest evaluation of each check (raw checks run in the ingest run, the others in the monthly run).
        rows = con.sql("""
            select check_name, layer, severity, status, rows_checked, rows_failing
            from audit.dq_results
            where site_code = 'ALL'
            qualify row_number() over (partition by layer, table_name, check_name order by run_at desc) = 1
            order by layer, table_name, check_name""").fetchall()
        from expectations import site_verdicts

        # a check can pass for all sites together and fail at one: named per site (expectations.site_verdicts)
        at_site = [f"{r['site_code']} {r['check_name']}: {r['failing_share']:.1%} > {r['threshold']:.1%}"
                   for r in site_verdicts(con).iter_rows(named=True) if not r["passed"]]
    finally:
        con.close()
    checks = [dict(zip(("check", "layer", "severity", "status", "rows_checked", "rows_failing"), r)) for r in rows]
    return {"checks": len(checks), "not_passed": [c for c in checks if c["status"] != "PASSED"],
            "failed_at_site": at_site}


@dg.asset(
    key=["release", "monthly_release"],
    deps=[dg.AssetKey(["analysis", t]) for t in ANALYSIS_TABLES] + [dg.AssetKey(["audit", "dq_scorecard"])],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="release",
    kinds={"duckdb", "parquet"},
    description="Immutable release of the registry month: read-only DuckDB, Parquet, manifest, HTA workbook, report.",
)
def monthly_release(context: dg.AssetExecutionContext, paths: RegistryPaths) -> dg.MaterializeResult:
    import os

    from kocartr.release import ReleaseExistsError, publish_release, verify_release

    warehouse = Path(os.environ["KOCARTR_WAREHOUSE"])
    cutoff = month_end(context.partition_key)
    out_dir = Path(paths.release_dir)
    try:
        path = publish_release(warehouse, cutoff, out_dir, quality_summary=quality_summary(warehouse))
        state = "published"
    except ReleaseExistsError:
        path = out_dir / cutoff.isoformat()
        problems = verify_release(path)
        if problems:
            raise dg.Failure(f"existing release {path} does not verify: {problems}") from None
        state = "already published (immutable; verified, not rebuilt)"
    context.log.info(f"release {cutoff}: {state} at {path}")
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)), "state": state,
                                          "data_cutoff": cutoff.isoformat()})
