"""Run the whole pipeline in-process on one submissions tree: what `kocartr run` and `make run` do.

1. ingest every site-month batch up to the registry month in one run: site submissions and the raw gate, then the
   national linkage returns and their own gate;
2. materialize the monthly dataset for the registry month (dbt layers and their gates, analyses, release).
A blocking check that fails stops what is downstream of it; the summary says which check, where to look, and
the process exits non-zero.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.resources import RegistryConfig


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
    errors: dict[str, str] = field(default_factory=dict)  # failed step -> its error, one line
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # asset -> materialization metadata (text)


@dataclass
class PipelineResult:
    month: str
    stages: list[StageResult]
    release_path: str = ""  # the month's release folder
    queries_path: str = ""  # the month's site query workbooks
    stopped: str = ""  # why the runner stopped between stages (one line), e.g. an empty registry
    log_file: str = ""  # the run's full log (Dagster events, dbt output)
    dagster_home: str = ""  # the Dagster instance holding the run (what `make ui` shows)

    @property
    def success(self) -> bool:
        return all(s.success for s in self.stages) and not self.blocking_failures and not self.stopped

    @property
    def release_metadata(self) -> dict[str, str]:
        """The release step's materialization metadata (state, path, tables_sha256), empty when it did not run."""
        for stage in self.stages:
            if "release/monthly_release" in stage.metadata:
                return stage.metadata["release/monthly_release"]
        return {}

    @property
    def release_state(self) -> str:
        """What the release step did: published, or already published (reproduced or not)."""
        return self.release_metadata.get("state", "")

    @property
    def blocking_failures(self) -> list[CheckLine]:
        return [c for s in self.stages for c in s.checks if not c.passed and c.blocking]


def one_line(text: str) -> str:
    """An error as one line: its non-empty lines joined (release refusals list one problem per line)."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


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


def _failure_line(event) -> str:
    """The failed step's own message (a lock, a refused release), not the framework's wrapper, as one line."""
    from kocartr.warehouse import is_lock_error, lock_holder

    error = getattr(event.event_specific_data, "error", None)
    messages = []
    while error is not None:
        messages.append(error.message or "")
        error = error.cause
    text = " ".join(messages)
    if is_lock_error(text):
        return (
            f"the warehouse is locked by {lock_holder(text)} (another connection opened it during the run); "
            "investigators read the release files, which never lock"
        )
    # Dagster wraps user errors ("Error occurred while executing op ..."): the innermost message is the reason.
    return one_line(messages[-1] if messages else "")[:500]


def _stage_result(job: str, partition: str, result, instance) -> StageResult:
    import dagster as dg

    stage = StageResult(
        job=job, success=result.success, partition=partition, step_seconds=_step_seconds(instance, result.run_id)
    )
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            stage.failed_steps.append(event.step_key or "?")
            stage.errors[event.step_key or "?"] = _failure_line(event)
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            stage.metadata[mat.asset_key.to_user_string()] = {
                k: str(getattr(v, "value", v)) for k, v in mat.metadata.items()
            }
        elif event.event_type == dg.DagsterEventType.STEP_SKIPPED:
            stage.skipped_steps.append(event.step_key or "?")
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data  # AssetCheckEvaluation
            stage.checks.append(
                CheckLine(
                    asset=ev.asset_key.to_user_string(),
                    check=ev.check_name,
                    passed=ev.passed,
                    severity=ev.severity.value if ev.severity else "ERROR",
                    # Dagster blocks on a blocking check only when it fails with ERROR severity: a table's
                    # `quality_rules` check fails with WARN when only its warnings failed
                    blocking=bool(getattr(ev, "blocking", False))
                    and (ev.severity or dg.AssetCheckSeverity.ERROR) == dg.AssetCheckSeverity.ERROR,
                    description=str(ev.description or ""),
                )
            )
    return stage


def ingest_counts(batches: list, through: str) -> tuple[int, int]:
    """(site-month batches, linkage returns: declared-source month folders) up to the registry month."""
    from kocartr.dictionary import load_dictionary

    sources = set(load_dictionary().sources)
    months = [(b.site in sources, b.month) for b in batches if b.ok and b.month <= through]
    return sum(not s for s, _ in months), sum(s for s, _ in months)


def registry_is_empty(warehouse: Path) -> bool:
    """No registered patient in raw after ingest: nothing to build or release."""
    import duckdb

    from kocartr.warehouse import table_exists

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return (
            not table_exists(con, "raw.registration")
            or con.sql("select count(*) from raw.registration").fetchall()[0][0] == 0
        )
    finally:
        con.close()


DAGSTER_YAML = """# The project's Dagster instance: `kocartr run` records its runs here and `make ui` shows them.
telemetry:
  enabled: false
# Step stdout/stderr are not captured per step (that spawns `tail` processes per step): the run's own log file
# (path in the summary) holds every Dagster and dbt line, and the UI keeps the structured event log.
compute_logs:
  module: dagster._core.storage.noop_compute_log_manager
  class: NoOpComputeLogManager
# Dagster's SQLite event log, one kept connection per database (orchestration/event_log.py says why); the
# folder is Dagster's default, written out because a storage's config needs it (rewritten if the home moves)
event_log_storage:
  module: orchestration.event_log
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {event_log_dir}
"""


_FIRST_LINE = DAGSTER_YAML.splitlines()[0]


def project_instance(dagster_home: Path):
    """The persistent Dagster instance of this project (run history, partitions, materializations, check results);
    an ephemeral one keeps nothing and the UI would show none of the work (engineering notes)."""
    import dagster as dg

    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    text = DAGSTER_YAML.format(event_log_dir=json.dumps(str(dagster_home.resolve() / "history" / "runs")))
    # ours (first line) but from another folder or an older version: rewritten; a file someone wrote is kept
    old = config.read_text(encoding="utf-8") if config.exists() else None
    if old is None or (old != text and old.startswith(_FIRST_LINE)):
        config.write_text(text, encoding="utf-8")
    return dg.DagsterInstance.from_config(str(dagster_home.resolve()))


def default_dagster_home(warehouse: Path) -> Path:
    return warehouse.resolve().parent / "dagster_home"


def registry_config(
    submissions: Path,
    warehouse: Path,
    release_dir: Path,
    demo: bool = False,
    key_settings: Mapping[str, str] | None = None,
) -> RegistryConfig:
    """The run's configuration, explicit: absolute paths, site query workbooks in `queries/` beside the warehouse,
    the key as given (default: as KOCARTR_HMAC_KEY / KOCARTR_HMAC_KEY_FILE / KOCARTR_DEMO say; read, never set)."""
    from kocartr.ingest import demo_requested, key_settings_from_env
    from orchestration.resources import RegistryConfig

    keys = dict(key_settings_from_env() if key_settings is None else key_settings)
    return RegistryConfig(
        warehouse=str(warehouse.resolve()),
        submissions_dir=str(submissions.resolve()),
        release_dir=str(release_dir.resolve()),
        queries_dir=str(warehouse.resolve().parent / "queries"),
        demo=demo or (key_settings is None and demo_requested()),
        hmac_key=keys.get("hmac_key", ""),
        hmac_key_file=keys.get("hmac_key_file", ""),
    )


def refuse_early(config: RegistryConfig, lock_wait: float | None) -> None:
    """Everything that can be refused is refused before any work, each in one line (cli: exit 2)."""
    from kocartr.ingest import check_warehouse_key
    from kocartr.warehouse import DEFAULT_LOCK_WAIT_SECONDS, wait_for_write_lock

    key = config.check()  # submissions folder, warehouse path, a pseudonymization key (or explicit demo mode)
    if lock_wait is None:
        lock_wait = float(os.environ.get("KOCARTR_LOCK_WAIT", DEFAULT_LOCK_WAIT_SECONDS))
    wait_for_write_lock(Path(config.warehouse), lock_wait, releases=config.release_dir)
    check_warehouse_key(Path(config.warehouse), key)  # not the key the warehouse was built with: refused


def run_pipeline(
    submissions: Path,
    warehouse: Path,
    release_dir: Path,
    month: str | None = None,
    demo: bool = False,
    lock_wait: float | None = None,
    dagster_home: Path | None = None,
    verbose: bool = False,
    key_settings: Mapping[str, str] | None = None,
) -> PipelineResult:
    """Both jobs in the project's Dagster instance (default: `dagster_home/` beside the warehouse), with resources
    built here from the arguments (orchestration.definitions.build_definitions): what a UI run gets from its
    environment variables, the CLI passes explicitly. The terminal gets one line per stage and step; everything
    else goes to `<warehouse folder>/logs/run-*.log` (`PipelineResult.log_file`), or to the terminal too when
    verbose."""
    import time

    from kocartr.ingest import discover_batches
    from orchestration.partitions import registry_months
    from orchestration.progress import new_log_file, quiet, say

    config = registry_config(submissions, warehouse, release_dir, demo, key_settings)
    refuse_early(config, lock_wait)
    Path(config.warehouse).parent.mkdir(parents=True, exist_ok=True)
    batches = discover_batches(submissions)
    batch_months = [b.month for b in batches if b.ok]  # a bad month folder moves nothing
    last_complete = registry_months.get_last_partition_key()
    if last_complete is None:  # only before the first registry month has ended
        raise ValueError("no registry month is complete yet")
    target = choose_month(batch_months, month, last_complete)
    log_file = new_log_file(warehouse.resolve().parent / "logs", target)
    say(f"Ko-CARTR run for registry month {target}; full log: {log_file}")
    started = time.monotonic()
    with quiet(log_file, verbose):
        result = _run_jobs(config, target, batches, log_file, verbose, dagster_home or default_dagster_home(warehouse))
    say(f"done in {time.monotonic() - started:.0f} s")
    return result


def _run_jobs(config: RegistryConfig, target: str, batches: list, log_file: Path, verbose: bool, home: Path):
    """The ingest job, then (unless it stopped) the monthly job, then the feedback job, in the project instance."""
    from kocartr.months import month_end
    from orchestration.definitions import build_definitions  # parses the dbt project if it changed
    from orchestration.jobs import FEEDBACK_JOB, INGEST_JOB, MONTHLY_JOB
    from orchestration.progress import expected_outputs, logger_config, say

    defs = build_definitions(config)
    instance = project_instance(home)
    n_batches, n_returns = ingest_counts(batches, target)
    scope = f"{n_batches} site-month batches and {n_returns} linkage returns through {target}"
    say(f"[1/2] ingest: {scope} (raw and linkage quality gates)")
    ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={
            "ops": {op: {"config": {"through_month": target}} for op in ("site_submissions", "linkage_returns")},
            **logger_config(log_file, verbose, expected_outputs(defs.resolve_job_def(INGEST_JOB))),
        },
    )
    stages = [_stage_result(INGEST_JOB, scope, ingest, instance)]
    result = PipelineResult(
        month=target,
        stages=stages,
        release_path=str(Path(config.release_dir) / month_end(target).isoformat()),
        queries_path=str(Path(config.queries_dir) / target),
        log_file=str(log_file),
        dagster_home=str(instance.root_directory),
    )
    warehouse = Path(config.warehouse)
    if warehouse.exists() and registry_is_empty(warehouse):  # whatever the gates said: say why first
        result.stopped = (
            f"no release: 0 patients registered after ingesting {config.submissions_dir} "
            f"({sum(len(b.files) for b in batches)} files found); check that "
            "it holds <SITE>/<YYYY-MM>/ folders and read audit.file_rejects"
        )
    if result.success:
        say(f"[2/2] monthly dataset {target}: dbt layers and their gates, analyses, release")
        monthly = defs.resolve_job_def(MONTHLY_JOB).execute_in_process(
            instance=instance,
            partition_key=target,
            raise_on_error=False,
            run_config=logger_config(log_file, verbose, expected_outputs(defs.resolve_job_def(MONTHLY_JOB))),
        )
        stages.append(_stage_result(MONTHLY_JOB, target, monthly, instance))
    # site queries after every gate, also when one stopped the run: they explain the stop to the sites
    say(f"site queries {target}: after every gate")
    feedback = defs.resolve_job_def(FEEDBACK_JOB).execute_in_process(
        instance=instance, partition_key=target, raise_on_error=False, run_config=logger_config(log_file, verbose)
    )
    stages.append(_stage_result(FEEDBACK_JOB, target, feedback, instance))
    instance.dispose()
    return result
