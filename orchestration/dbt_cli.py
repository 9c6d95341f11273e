"""How Dagster calls dbt: the project handle, manifest preparation and the CLI arguments (pure, unit-tested)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from kocartr.paths import CONFIG_DIR, DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SOURCE_DIRS = ("models", "seeds", "macros", "tests")


def dbt_executable() -> str:
    """dbt from this interpreter's environment (dagster-dbt does not install it; engineering notes)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def build_args() -> list[str]:
    """`dbt build` of an op's selection.

    `buildable` indirect selection: a test runs in the layer op that builds the last model it reads. The default
    (eager) would run, in the staging op, mart tests that merely reference a seed, before the marts exist.
    """
    return ["build", "--indirect-selection", "buildable"]


def manifest_is_stale(project_dir: Path = DBT_PROJECT_DIR) -> bool:
    manifest = project_dir / "target" / "manifest.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    watched = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    # data/config holds the clinical-rule seeds (seed-paths in dbt_project.yml)
    for folder in [project_dir / sub for sub in _SOURCE_DIRS] + [CONFIG_DIR]:
        watched.extend(p for p in folder.rglob("*") if p.is_file())
    return any(p.exists() and p.stat().st_mtime > built for p in watched)


# What dbt's partial parse depends on beyond the project files: the profile (the warehouse path) and the env var the
# models read. Parsing with the values a run will use lets all three layer invocations reuse one parse.
PARSE_ENV = ("KOCARTR_WAREHOUSE", "KOCARTR_DATA_CUTOFF")


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR, env: Mapping[str, str] | None = None) -> Path:
    """Run `dbt parse` (~3-10 s) when the project files changed or, given the environment a run's dbt invocations
    will get (`env`), when the warehouse path or the cut-off differ from the last parse. Without `env` (loading the
    code location) an existing, up-to-date manifest is kept whatever it was parsed with."""
    stamp = project_dir / "target" / "parsed_with.json"
    full_env = {**os.environ, **(env or {})}
    # Parsing needs the profile to resolve; the path is not opened by `dbt parse`.
    full_env.setdefault("KOCARTR_WAREHOUSE", str(project_dir / "target" / "parse-only.duckdb"))
    parsed_with = {k: full_env.get(k, "") for k in PARSE_ENV}
    stale = manifest_is_stale(project_dir) or not stamp.exists()
    if stale or (env is not None and json.loads(stamp.read_text()) != parsed_with):
        _parse(project_dir, full_env)
        stamp.write_text(json.dumps(parsed_with), encoding="utf-8")
    return project_dir / "target" / "manifest.json"


def _parse(project_dir: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--quiet",
            "--log-level-file",
            "none",
        ],  # no dbt_project/logs/dbt.log growing run after run
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
