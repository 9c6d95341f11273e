"""Acceptance: `kocartr run` is a real Dagster run in the project's persistent instance, which `make ui`
reads: the runs, the month's partition, the materializations and the check results are there afterwards."""

from __future__ import annotations

import dagster as dg


def test_the_run_is_recorded_in_the_project_instance(pipeline_run):
    from orchestration.definitions import build_definitions
    from orchestration.jobs import MONTHLY_JOB
    from orchestration.runner import project_instance, registry_config

    result, warehouse, work = pipeline_run
    assert result.success
    home = warehouse.parent / "dagster_home"
    assert result.dagster_home == str(home.resolve()) and (home / "dagster.yaml").is_file()

    # a new instance object on the same folder: what a later process (the UI) sees
    instance = project_instance(home)
    try:
        runs = {r.job_name: r for r in instance.get_runs()}
        assert {"ingest_batches", "monthly_dataset"} <= set(runs)
        monthly = runs["monthly_dataset"]
        assert monthly.status == dg.DagsterRunStatus.SUCCESS
        assert monthly.tags.get("dagster/partition") == result.month

        adsl = instance.get_latest_materialization_event(dg.AssetKey(["adam", "adsl"]))
        assert adsl is not None and adsl.run_id == monthly.run_id
        assert adsl.dagster_event.partition == result.month
        assert result.month in instance.get_materialized_partitions(dg.AssetKey(["release", "monthly_release"]))
        release = instance.get_latest_materialization_event(dg.AssetKey(["release", "monthly_release"]))
        metadata = release.asset_materialization.metadata
        assert len(metadata["tables_sha256"].value) == 64 and metadata["state"].value == "published"

        checks = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(monthly.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        # every check the monthly job declares (a dbt_tests check per model, a quality_rules check per gated table)
        # was evaluated and is in the instance
        job = build_definitions(registry_config(work, warehouse, work / "releases", demo=True)).resolve_job_def(
            MONTHLY_JOB
        )
        declared = job.asset_layer.asset_graph.asset_check_keys
        assert {dg.AssetCheckKey(c.asset_key, c.check_name) for c in checks} == declared and len(declared) > 60
        assert all(c.passed for c in checks if c.asset_key == dg.AssetKey(["adam", "adsl"]))
        assert sum(len(s.checks) for s in result.stages if s.job == "monthly_dataset") == len(checks)
    finally:
        instance.dispose()


def test_the_terminal_gets_one_line_per_step_and_the_log_file_the_rest(pipeline_run):
    result, _, _ = pipeline_run
    log = result.log_file
    text = open(log, encoding="utf-8").read()
    # dbt's node lines and Dagster's events went to the run's log file, not the terminal
    assert "STEP_SUCCESS" in text and "PASS" in text and "dbt build" in text


def test_step_line_is_one_short_line():
    from orchestration.progress import step_line

    class Data:
        duration_ms = 19_610.0

    class Event:
        event_type_value = "STEP_SUCCESS"
        step_key = "dbt_staging"
        event_specific_data = Data()

    assert step_line(Event()).split() == ["ok", "dbt_staging", "19.6", "s"]
    Event.event_type_value = "ASSET_MATERIALIZATION"
    assert step_line(Event()) is None
