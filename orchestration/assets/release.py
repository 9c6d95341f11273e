"""Release asset: publish the registry month's immutable release (kocartr.release) after the analyses.

The release reads the warehouse read-only itself, so no warehouse connection is held during the build.
An existing release of the same cut-off is never rebuilt: it is verified and reported.
"""

import json
from pathlib import Path

import dagster as dg

from kocartr.months import month_end, next_month
from kocartr.warehouse import table_exists
from orchestration.assets.analyses import ANALYSIS_TABLES
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryConfig


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
        at_site = [
            f"{r['site_code']} {r['check_name']}: {r['failing_share']:.1%} > {r['threshold']:.1%}"
            for r in site_verdicts(con).iter_rows(named=True)
            if not r["passed"]
        ]
    finally:
        con.close()
    checks = [dict(zip(("check", "layer", "severity", "status", "rows_checked", "rows_failing"), r)) for r in rows]
    return {
        "checks": len(checks),
        "not_passed": [c for c in checks if c["status"] != "PASSED"],
        "failed_at_site": at_site,
    }


def rebuilt_fingerprint(warehouse: Path, cutoff) -> str:
    """tables_sha256 of the release this warehouse would publish now for `cutoff` (built in a temporary folder,
    tables only): equal to the published one when a rerun reproduces the release."""
    import tempfile

    from kocartr.release import publish_release
    from kocartr.release.publish import MANIFEST

    with tempfile.TemporaryDirectory(prefix="kocartr-rebuild-") as tmp:
        path = publish_release(warehouse, cutoff, Path(tmp), extras=False)
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))["tables_sha256"]


def published_state(published: str, rebuilt: str, cutoff, next_cutoff) -> str:
    """One line on a rerun of a published month (the release is immutable; ARCHITECTURE "Corrections")."""
    if rebuilt == published:
        return f"already published, unchanged; this run reproduces it (tables_sha256 {published[:12]})"
    return (
        f"already published, unchanged (immutable, tables_sha256 {published[:12]}); the warehouse now differs "
        f"from it (tables_sha256 {rebuilt[:12]}): corrections submitted after the release reach the next "
        f"month's release ({next_cutoff})"
    )


@dg.asset(
    key=["release", "monthly_release"],
    deps=[dg.AssetKey(["analysis", t]) for t in ANALYSIS_TABLES] + [dg.AssetKey(["audit", "dq_scorecard"])],
    partitions_def=registry_months,
    backfill_policy=one_month_per_run,
    group_name="release",
    kinds={"duckdb", "parquet"},
    description="Immutable release of the registry month: read-only DuckDB, Parquet, manifest, HTA workbook, report. "
    "Never rebuilt: a rerun of a published month verifies it and says whether the warehouse still "
    "reproduces it; an empty registry is never released.",
)
def monthly_release(context: dg.AssetExecutionContext, registry: RegistryConfig) -> dg.MaterializeResult:
    from kocartr.release import ReleaseError, ReleaseExistsError, publish_release, verify_release
    from kocartr.release.publish import MANIFEST
    from kocartr.warehouse import empty_registry_message, registry_patients

    warehouse = Path(registry.warehouse)
    cutoff = month_end(context.partition_key)
    out_dir = Path(registry.release_dir)
    if registry_patients(warehouse) == 0:
        raise dg.Failure(empty_registry_message(warehouse))
    try:
        path = publish_release(warehouse, cutoff, out_dir, quality_summary=quality_summary(warehouse))
        state = "published"
    except ReleaseExistsError:
        path = out_dir / cutoff.isoformat()
        problems = verify_release(path)
        if problems:
            raise dg.Failure(f"existing release {path} does not verify: {'; '.join(problems)}") from None
        published = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["tables_sha256"]
        state = published_state(
            published, rebuilt_fingerprint(warehouse, cutoff), cutoff, month_end(next_month(context.partition_key))
        )
    except ReleaseError as exc:
        raise dg.Failure(f"release {cutoff} not published: {'; '.join(str(exc).split(chr(10)))}") from None
    fingerprint = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["tables_sha256"]
    context.log.info(f"release {cutoff}: {state} at {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "state": state,
            "data_cutoff": cutoff.isoformat(),
            "tables_sha256": fingerprint,
        }
    )
