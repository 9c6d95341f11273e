"""Run the whole pipeline in-process on one submissions tree: what `kocartr run` and `make run` do.

1. ingest every site-month batch up to the registry month in one run (raw gate included);
2. materialize the monthly dataset for the registry month (dbt layers and their gates, analyses, release).
A blocking check that fails stops what is downstream of it; the summary says which check, where to look, and
the process exits non-zero.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CheckLine:
    asset: str
    check: str
    passed: bool
    severity: str
    blocking: bool
    description: str = ""


@dataclass
class StageResult:
    job: str
    success: bool
    partition: str
    failed_steps: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)
    checks: list[CheckLine] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class PipelineResult:
    month: str
    stages: list[StageResult]
    release_path: str = ""  # the month's release folder
    queries_path: str = ""  # the month's site query workbooks

    @property
    def success(self) -> bool:
        return all(s.success for s in self.stages) and not self.blocking_failures

    @property
    def blocking_failures(self) -> list[CheckLine]:
        return [c for s in self.stages for c in s.checks if not c.passed and c.blocking]


def configure_environment(submissions: Path, warehouse: Path, release_dir: Path, demo: bool) -> None:
    """One variable per location, read by dbt's profile and by the Dagster resources alike."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    os.environ["KOCARTR_WAREHOUSE"] = str(warehouse.resolve())
    os.environ["KOCARTR_SUBMISSIONS"] = str(submissions.resolve())
    os.environ["KOCARTR_RELEASES"] = str(release_dir.resolve())
    os.environ["KOCARTR_QUERIES"] = str((warehouse.parent / "queries").resolve())
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if demo:
        os.environ["KOCARTR_DEMO"] = "1"


def choose_month(batch_months: list[str], requested: str | None, last_complete: str) -> str:
    """The registry month to build: the one asked for, else the latest submitted, at most the last complete month."""
    if requested:
        if requested > last_complete:
            raise ValueError(f"registry month {requested} is not complete yet (last complete: {last_complete})")
        return requested
    if not batch_months:
        raise ValueError("no site-month batches found in the submissions folder")
    return min(max(batch_months), last_complete)


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall time per step, from the run's event log (for `--timings` and the benchmark)."""
    import dagster as dg

    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        ev = entry.dagster_event
        if ev is None or not ev.step_key:
            continue
        if ev.event_type == dg.DagsterEventType.STEP_START:
            started[ev.step_key] = entry.timestamp
        elif ev.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            seconds[ev.step_key] = round(entry.timestamp - started.get(ev.step_key, entry.timestamp), 3)
    return seconds


def _stage_result(job: str, partition: str, result, instance) -> StageResult:
    import dagster as dg

    stage = StageResult(job=job, success=result.success, partition=partition,
                        step_seconds=_step_seconds(instance, result.run_id))
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            stage.failed_steps.append(event.step_key or "?")
        elif event.event_type == dg.DagsterEventType.STEP_SKIPPED:
            stage.skipped_steps.append(event.step_key or "?")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data  # AssetCheckEvaluation
            stage.checks.append(CheckLine(
                asset=ev.asset_key.to_user_string(),
                check=ev.check_name,
                passed=ev.passed,
                severity=ev.severity.value if ev.severity else "ERROR",
                blocking=bool(getattr(ev, "blocking", False)),
                description=str(ev.description or ""),
            ))
    return stage


def run_pipeline(submissions: Path, warehouse: Path, release_dir: Path, month: str | None = None,
                 demo: bool = False) -> PipelineResult:
    from kocartr.ingest import discover_batches, load_key

    load_key(demo)  # refuse to start without a pseudonymization key (or explicit demo mode) before any work
    configure_environment(submissions, warehouse, release_dir, demo)

    import dagster as dg
    from orchestration.dbt_cli import cutoff_environment, ensure_manifest
    from orchestration.jobs import FEEDBACK_JOB, INGEST_JOB, MONTHLY_JOB
    from orchestration.partitions import registry_months

    batch_months = [b.month for b in discover_batches(submissions)]
    target = choose_month(batch_months, month, registry_months.get_last_partition_key())
    with cutoff_environment(target):
        ensure_manifest()  # parsed as the dbt steps will run, so each of them reuses this parse
    from orchestration.definitions import defs

    # An ephemeral instance: the ledger in the warehouse, not Dagster's run storage, makes ingest idempotent.
    instance = dg.DagsterInstance.ephemeral()
    stages = []
    ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"ops": {"site_submissions": {"config": {"through_month": target}}}},
    )
    n_batches = sum(1 for m in batch_months if m <= target)
    stages.append(_stage_result(INGEST_JOB, f"{n_batches} site-month batches through {target}", ingest, instance))
    from kocartr.months import month_end

    result = PipelineResult(month=target, stages=stages,
                            release_path=str(release_dir.resolve() / month_end(target).isoformat()),
                            queries_path=os.path.join(os.environ["KOCARTR_QUERIES"], target))
    if result.success:
        monthly = defs.resolve_job_def(MONTHLY_JOB).execute_in_process(
            instance=instance, partition_key=target, raise_on_error=False
        )
        stages.append(_stage_result(MONTHLY_JOB, target, monthly, instance))
    # site queries after every gate, also when one stopped the run: they explain the stop to the sites
    feedback = defs.resolve_job_def(FEEDBACK_JOB).execute_in_process(
        instance=instance, partition_key=target, raise_on_error=False)
    stages.append(_stage_result(FEEDBACK_JOB, target, feedback, instance))
    return result
