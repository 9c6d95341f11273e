"""How Dagster calls dbt: the project handle, manifest preparation and the CLI arguments (pure, unit-tested)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kocartr.months import month_end
from kocartr.paths import CONFIG_DIR, DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
_SOURCE_DIRS = ("models", "seeds", "macros", "tests")


def dbt_executable() -> str:
    """dbt from this interpreter's environment (dagster-dbt does not install it; engineering notes)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def build_args(registry_month: str) -> list[str]:
    """`dbt build` for one registry month: its cut-off goes to the models as the `data_cutoff` var.

    `buildable` indirect selection: a test runs in the layer op that builds the last model it reads. The default
    (eager) would run, in the staging op, mart tests that merely reference a seed, before the marts exist.
    """
    return ["build", "--indirect-selection", "buildable",
            "--vars", json.dumps({"data_cutoff": month_end(registry_month).isoformat()})]


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


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Run `dbt parse` (~3 s) only when the manifest is missing or older than the project files."""
    if manifest_is_stale(project_dir):
        env = {**os.environ}
        # Parsing needs the profile to resolve; the path is not opened by `dbt parse`.
        env.setdefault("KOCARTR_WAREHOUSE", str(project_dir / "target" / "parse-only.duckdb"))
        proc = subprocess.run(
            [dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
             "--quiet"],
            env=env, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{proc.stdout}\n{proc.stderr}")
    return project_dir / "target" / "manifest.json"
