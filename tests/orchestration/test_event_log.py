"""The project instance's event log (orchestration/event_log.py): Dagster's own SQLite files and schema, written
through kept connections; what it stores is what Dagster's stock storage reads back, and nothing stays open."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


@dg.asset
def one_asset() -> int:
    return 1


@dg.asset_check(asset=one_asset)
def one_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_runs_are_stored_in_dagsters_own_files(tmp_path: Path) -> None:
    from dagster._core.storage.event_log import SqliteEventLogStorage

    from orchestration.event_log import PooledSqliteEventLogStorage
    from orchestration.runner import project_instance

    home = tmp_path / "dagster_home"
    instance = project_instance(home)
    try:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        result = dg.materialize([one_asset, one_check], instance=instance)
        assert result.success
        run_id = result.run_id
        ours = [(e.dagster_event_type, e.step_key) for e in instance.all_logs(run_id)]
        with storage.run_connection(run_id) as conn:  # the kept connection: WAL, no fsync per commit
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        instance.dispose()

    runs_dir = home / "history" / "runs"
    assert not list(runs_dir.glob("*.db-wal"))  # every connection closed at dispose (the last one checkpoints)
    stock = SqliteEventLogStorage(str(runs_dir))  # what `make ui` or any Dagster tool would read
    try:
        assert [(e.dagster_event_type, e.step_key) for e in stock.get_logs_for_run(run_id)] == ours
        assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in {t for t, _ in ours}
        assert stock.get_latest_materialization_events([dg.AssetKey("one_asset")])[dg.AssetKey("one_asset")]
    finally:
        stock.dispose()
    assert len(ours) > 10


def test_the_instance_config_follows_its_folder_and_keeps_a_file_someone_wrote(tmp_path: Path) -> None:
    from orchestration.runner import project_instance

    first = tmp_path / "a" / "dagster_home"
    project_instance(first).dispose()
    moved = tmp_path / "b" / "dagster_home"
    moved.parent.mkdir()
    first.rename(moved)  # the folder moved: its event log must follow it, not write into the old path
    project_instance(moved).dispose()
    assert str(moved.resolve() / "history" / "runs") in (moved / "dagster.yaml").read_text(encoding="utf-8")
    assert not first.exists()

    own = tmp_path / "c" / "dagster_home"
    own.mkdir(parents=True)
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    project_instance(own).dispose()
    assert (own / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: false\n"


def test_a_watching_ui_sees_each_event_as_it_is_stored(tmp_path: Path) -> None:
    """The UI follows a running run through Dagster's file watcher on the run's database: it must see each new event
    while the writing process still holds its connection, not at the end of the run."""
    import logging
    import time

    from dagster._core.events.log import EventLogEntry
    from dagster._core.utils import make_new_run_id

    from orchestration.event_log import PooledSqliteEventLogStorage

    def entry(run_id: str, message: str) -> EventLogEntry:
        return EventLogEntry(
            error_info=None,
            level=logging.INFO,
            user_message=message,
            run_id=run_id,
            timestamp=time.time(),
            step_key=None,
            job_name=None,
            dagster_event=None,
        )

    writer = PooledSqliteEventLogStorage(str(tmp_path))  # the run's process
    ui = PooledSqliteEventLogStorage(str(tmp_path))  # the webserver's own storage
    run_id = make_new_run_id()
    seen: list[str] = []
    try:
        writer.store_event(entry(run_id, "first"))
        ui.watch(run_id, None, lambda event, _cursor: seen.append(event.user_message))
        for message in ("second", "third"):
            writer.store_event(entry(run_id, message))
            deadline = time.monotonic() + 10
            while message not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
            assert message in seen
        reads = len(seen)
        ui.get_logs_for_run(run_id)  # a read does not touch the file: no watcher loop
        time.sleep(0.5)
        assert len(seen) == reads
    finally:
        ui.dispose()
        writer.dispose()
