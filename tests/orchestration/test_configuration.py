"""The pipeline is configured through Dagster resources, never by writing the process environment: the CLI builds
its RegistryConfig from its arguments, the code location (`make ui`, schedule, sensor) from environment variables
read once, and both wire the same assets with the same resources."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PACKAGES = ("orchestration", "kocartr", "analyses", "expectations")
# (file, variable): a third-party library's telemetry switch set before that library is imported, not pipeline
# configuration (GX reads it at context creation).
ALLOWED = {("expectations/runner.py", "GX_ANALYTICS_ENABLED")}
MUTATING_METHODS = {"setdefault", "pop", "update", "clear", "popitem", "__setitem__", "__delitem__"}


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and getattr(node.value, "id", "") == "os"


def _constant(node: ast.AST | None) -> str:
    return str(node.value) if isinstance(node, ast.Constant) else "?"


def environment_writes(source: str) -> list[tuple[int, str]]:
    """(line, variable) of every write to os.environ (item assignment or deletion, mutating method, putenv)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for t in targets:
            if isinstance(t, ast.Subscript) and _is_environ(t.value):
                found.append((node.lineno, _constant(t.slice)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if _is_environ(func.value) and func.attr in MUTATING_METHODS:
                found.append((node.lineno, _constant(node.args[0] if node.args else None)))
            if getattr(func.value, "id", "") == "os" and func.attr in {"putenv", "unsetenv"}:
                found.append((node.lineno, _constant(node.args[0] if node.args else None)))
    return found


def test_the_scan_finds_every_kind_of_write():
    source = (
        "import os\nos.environ['A'] = '1'\nos.environ.setdefault('B', '1')\nos.environ.pop('C', None)\n"
        "del os.environ['D']\nos.putenv('E', '1')\nos.environ.update({})\nx = os.environ.get('F')\n"
    )
    assert sorted(environment_writes(source)) == [(2, "A"), (3, "B"), (4, "C"), (5, "D"), (6, "E"), (7, "?")]


def test_no_pipeline_code_writes_the_process_environment():
    writes = []
    for package in PIPELINE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, var in environment_writes(path.read_text(encoding="utf-8")):
                if (rel, var) not in ALLOWED:
                    writes.append(f"{rel}:{line} {var}")
    assert writes == []


def test_the_code_location_reads_its_configuration_from_environment_variables_by_name():
    import dagster as dg

    from orchestration.resources import config_from_env

    config = config_from_env({"KOCARTR_DEMO": "1", "KOCARTR_HMAC_KEY_FILE": "/keys/registry.key"})
    assert isinstance(config.warehouse, dg.EnvVar) and config.warehouse.env_var_name == "KOCARTR_WAREHOUSE"
    assert config.submissions_dir.env_var_name == "KOCARTR_SUBMISSIONS"
    assert config.demo is True and config.hmac_key == ""
    # the key's file by name, resolved when a run starts: its value is never part of the code location
    assert isinstance(config.hmac_key_file, dg.EnvVar) and config.hmac_key_file.env_var_name == "KOCARTR_HMAC_KEY_FILE"
    assert config_from_env({}).demo is False


def test_the_configuration_is_checked_once_in_one_line_each(tmp_path):
    from kocartr.ingest import MissingKeyError
    from kocartr.warehouse import WarehouseError
    from orchestration.resources import RegistryConfig

    def config(**kw) -> RegistryConfig:
        base = {
            "warehouse": str(tmp_path / "w.duckdb"),
            "submissions_dir": str(tmp_path),
            "release_dir": str(tmp_path / "r"),
            "queries_dir": str(tmp_path / "q"),
        }
        return RegistryConfig(**{**base, **kw})

    config(demo=True).check()
    with pytest.raises(MissingKeyError):
        config().check()
    config(hmac_key="00ff" * 16).check()
    with pytest.raises(FileNotFoundError):
        config(demo=True, submissions_dir=str(tmp_path / "missing")).check()
    with pytest.raises(WarehouseError):
        config(demo=True, warehouse=str(tmp_path)).check()
    key_file = tmp_path / "k.key"
    key_file.write_text("ab" * 32)
    assert config(hmac_key_file=str(key_file)).key() == bytes.fromhex("ab" * 32)


def test_the_cli_and_the_code_location_share_one_wiring():
    from orchestration.definitions import build_definitions, defs
    from orchestration.resources import RegistryConfig

    cli = build_definitions(
        RegistryConfig(warehouse="w.duckdb", submissions_dir=".", release_dir=".", queries_dir=".", demo=True)
    )
    assert set(cli.resources) == set(defs.resources) == {"registry", "warehouse", "dbt"}
    assert {k for a in cli.assets for k in a.keys} == {k for a in defs.assets for k in a.keys}
    assert [j.name for j in cli.jobs] == [j.name for j in defs.jobs]


def test_a_run_with_the_code_locations_resources_builds_what_the_cli_built(
    pipeline_run, small_submissions, tmp_path, monkeypatch
):
    """What the UI, the schedule or the sensor launch (resources from environment variables) publishes the same
    tables as `kocartr run` (resources from its arguments) for the same submissions and key."""
    import json

    from kocartr.months import month_end
    from kocartr.release.publish import MANIFEST
    from orchestration.definitions import build_definitions
    from orchestration.jobs import INGEST_JOB, MONTHLY_JOB
    from orchestration.resources import config_from_env
    from orchestration.runner import project_instance

    result, _, _ = pipeline_run
    ui = tmp_path / "ui"
    ui.mkdir()
    environ = {
        "KOCARTR_WAREHOUSE": str(ui / "warehouse.duckdb"),
        "KOCARTR_SUBMISSIONS": str(small_submissions / "submissions"),
        "KOCARTR_RELEASES": str(ui / "releases"),
        "KOCARTR_QUERIES": str(ui / "queries"),
        "KOCARTR_DEMO": "1",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)  # what `make ui` exports; the code location only reads them
    defs = build_definitions(config_from_env())
    instance = project_instance(ui / "dagster_home")
    try:
        ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=instance, run_config={"ops": {"site_submissions": {"config": {"through_month": result.month}}}}
        )
        monthly = defs.resolve_job_def(MONTHLY_JOB).execute_in_process(instance=instance, partition_key=result.month)
    finally:
        instance.dispose()
    assert ingest.success and monthly.success

    def fingerprint(release: Path) -> str:
        return json.loads((release / MANIFEST).read_text(encoding="utf-8"))["tables_sha256"]

    cutoff = month_end(result.month).isoformat()
    assert fingerprint(ui / "releases" / cutoff) == fingerprint(Path(result.release_path))


def test_the_sensor_reads_the_submissions_folder_from_its_resource(tmp_path):
    import dagster as dg

    from orchestration.jobs import submissions_sensor
    from orchestration.resources import RegistryConfig

    month = tmp_path / "submissions" / "S01" / "2024-01"
    month.mkdir(parents=True)
    (month / "registration.csv").write_text("site_code,patient_id\n", encoding="utf-8")
    config = RegistryConfig(
        warehouse=str(tmp_path / "w.duckdb"),
        submissions_dir=str(tmp_path / "submissions"),
        release_dir=str(tmp_path / "r"),
        queries_dir=str(tmp_path / "q"),
        demo=True,
    )
    result = submissions_sensor(dg.build_sensor_context(resources={"registry": config}))
    assert [r.tags["kocartr/batch"] for r in result.run_requests] == ["2024-01_S01"]
