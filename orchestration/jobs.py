"""Jobs, the monthly schedule and the submissions sensor.

- ingest_batches: the site-month batches and linkage returns named in its run config (the sensor: one per run),
  or all of them: site submissions and the raw gate, then the linkage returns and their gate.
- monthly_dataset: everything downstream of raw for one registry month: dbt layers, analyses, release.
- site_feedback: the month's site queries and workbooks, after monthly_dataset whatever its outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from orchestration.partitions import BATCH_TAG, batch_key, parse_batch_key, registry_months
from orchestration.resources import RegistryConfig

INGEST_JOB = "ingest_batches"
MONTHLY_JOB = "monthly_dataset"
FEEDBACK_JOB = "site_feedback"

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest site-month submission batches into raw and audit, with the raw-layer quality gate.",
)

monthly_job = dg.define_asset_job(
    MONTHLY_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("ingest", "feedback"),
    partitions_def=registry_months,
    description="Materialize the monthly dataset: warehouse layers, gates, analyses and the release.",
)

# Site queries come after every gate, also when a gate stopped the monthly job (a skipped downstream asset would
# leave the sites without the queries that explain the stop): their own job, run after the monthly one.
feedback_job = dg.define_asset_job(
    FEEDBACK_JOB,
    selection=dg.AssetSelection.groups("feedback"),
    partitions_def=registry_months,
    description="Build the month's site queries (audit.site_queries) and the per-site query workbooks.",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[monthly_job],
    request_job=feedback_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def feedback_after_success(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return feedback_request(context.dagster_run)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    monitored_jobs=[monthly_job],
    request_job=feedback_job,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def feedback_after_failure(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    return feedback_request(context.dagster_run)


def feedback_request(run) -> dg.RunRequest:
    """The feedback run for the month of a finished monthly run (scheduled runs; `kocartr run` calls it itself)."""
    return dg.RunRequest(run_key=f"feedback:{run.run_id}", partition_key=run.tags.get("dagster/partition"))


# Sites submit during the month after; the dataset for month M is built on the 10th of M+1.
monthly_schedule = dg.build_schedule_from_partitioned_job(monthly_job, day_of_month=10, hour_of_day=2)


def batch_fingerprints(root: Path) -> dict[str, str]:
    """A cheap fingerprint per batch (file names, sizes, mtimes): the sensor reads no file contents."""
    from kocartr.ingest import discover_batches
    from kocartr.privacy import redact

    prints: dict[str, str] = {}
    for batch in (b for b in discover_batches(root) if b.ok):  # misplaced files are rejected by `kocartr run`
        parts = []
        for f in sorted(batch.files):
            st = Path(f).stat()
            parts.append(f"{redact(Path(f).name)}:{st.st_size}:{st.st_mtime_ns}")
        prints[batch_key(batch.site, batch.month)] = "|".join(parts)
    return prints


def changed_batches(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(k for k, v in current.items() if previous.get(k) != v)


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def submissions_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryConfig
) -> dg.SensorResult | dg.SkipReason:
    root = registry.submissions_dir
    if not Path(root).is_dir():
        return dg.SkipReason(f"the submissions folder {root} is not a folder")
    previous = json.loads(context.cursor) if context.cursor else {}
    current = batch_fingerprints(Path(root))
    todo = changed_batches(previous, current)
    if not todo:
        return dg.SkipReason("no new or changed batches")
    return dg.SensorResult(
        run_requests=[ingest_request(k, current[k]) for k in todo],
        cursor=json.dumps(current, sort_keys=True),
    )


def ingest_request(key: str, fingerprint: str) -> dg.RunRequest:
    """One run per batch version: the run key makes a re-evaluation of the same batch state a no-op. A site batch
    runs the site ingest and the raw gate, a linkage return (a declared source's folder) the linkage ingest and
    its gate: only the asset that reads the batch."""
    from kocartr.dictionary import load_dictionary
    from orchestration.assets.ingest import site_asset_keys
    from orchestration.assets.linkage import linkage_asset_keys

    declared = parse_batch_key(key)[0] in load_dictionary().sources
    return dg.RunRequest(
        run_key=f"{key}:{fingerprint}",
        run_config={"ops": {"linkage_returns" if declared else "site_submissions": {"config": {"batches": [key]}}}},
        tags={BATCH_TAG: key},
        asset_selection=linkage_asset_keys() if declared else site_asset_keys(),
    )
