"""dbt runs inside the Dagster process (orchestration/dbt_build.py): a failing dbt test still stops its layer, is
named in the model's check and in the step's error, and dbt leaves the warehouse free for the next step."""

from __future__ import annotations

import shutil

import duckdb
import pytest

pytestmark = pytest.mark.slow


def test_a_failing_dbt_test_fails_its_layer_names_the_test_and_frees_the_warehouse(
    pipeline_run, small_submissions, tmp_path
):
    import dagster as dg

    from orchestration.assets.warehouse import dbt_layer_assets
    from orchestration.resources import registry_resources
    from orchestration.runner import registry_config

    result, warehouse, _ = pipeline_run
    broken = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, broken)
    con = duckdb.connect(str(broken))
    # one current registration loses its consent date, two others get a sex code outside the dictionary's list:
    # two rules of stg_registration's column_rules test (severity error)
    con.execute(
        "update raw.registration set consent_date = null "
        "where rowid = (select min(rowid) from raw.registration where _is_current)"
    )
    con.execute(
        "update raw.registration set sex = 'Q' where rowid in "
        "(select rowid from raw.registration where _is_current order by rowid limit 2 offset 1)"
    )
    con.close()

    staging = dbt_layer_assets()[0]
    config = registry_config(small_submissions / "submissions", broken, tmp_path / "releases", demo=True)
    run = dg.materialize(
        [staging],
        partition_key=result.month,
        resources=registry_resources(config),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )

    assert not run.success
    registration = dg.AssetKey(["staging", "stg_registration"])
    check = [e for e in run.get_asset_check_evaluations() if e.asset_key == registration]
    assert len(check) == 1 and not check[0].passed
    # the check names the test, its failing rows, and each rule and column that failed with its rows
    assert (
        "column_rules_stg_registration (fail, 3 failing rows; code list sex on sex: 2 rows; "
        "not_null on consent_date: 1 rows)"
    ) in (check[0].description or "")
    assert "| column_rules_stg_registration | code list sex | sex | 1 | 2 |" in check[0].metadata["failed_rules"].value
    failure = [e for e in run.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    error = failure[0].event_specific_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert any("dbt build failed" in m and "column_rules_stg_registration" in m for m in messages)
    # the other staging models were built and reported while dbt ran
    built = {m.asset_key for m in run.asset_materializations_for_node(staging.node_def.name)}
    assert dg.AssetKey(["staging", "stg_lab"]) in built
    # dbt closed its DuckDB database: this process opens the file again, with another configuration
    duckdb.connect(str(broken), read_only=True).close()


def test_a_changed_project_is_parsed_once_in_the_process_that_finds_it(tmp_path):
    """The run that finds the project changed parses it in-process (manifest.json and the partial parse for later
    processes) and builds with that very parse: no second parse of the same project state."""
    from kocartr.paths import DBT_PROJECT_DIR
    from orchestration.dbt_build import parsed_project
    from orchestration.dbt_cli import PARTIAL_PARSE, ensure_manifest, fresh_parse

    project = tmp_path / "repo" / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "repo" / "data").symlink_to(DBT_PROJECT_DIR.parent / "data")  # the seeds in ../data/config

    manifest = ensure_manifest(project)
    parsed = fresh_parse(manifest)
    assert parsed is not None and (project / "target" / PARTIAL_PARSE).is_file()
    assert "model.kocartr.adsl" in parsed.nodes
    assert parsed_project(str(tmp_path / "any" / "warehouse.duckdb"), project) is parsed
    assert not list((project / "target").glob(".parse-*"))  # the private parse folder is gone

    ensure_manifest(project)  # unchanged project: nothing parsed again
    assert fresh_parse(manifest) is parsed
