"""Run the venv's dbt on the project against a given warehouse file (used by the dbt tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kocartr.paths import DBT_PROJECT_DIR
from orchestration.dbt_cli import ensure_manifest, reuse_parse

VENV_BIN = Path(sys.executable).parent


def run_dbt(args: list[str], warehouse: Path, work: Path, cutoff: str | None = None) -> subprocess.CompletedProcess:
    """Run the venv's dbt on the project with its own target/log folders (safe beside other runs).

    As the pipeline does, the invocation starts from the project's one parse stamped for this warehouse
    (`reuse_parse`), so dbt re-parses no file. The cut-off goes by KOCARTR_DATA_CUTOFF, not `--vars`: command-line
    vars are a parse input (dbt's vars checksum) and would force a full parse.
    """
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KOCARTR_WAREHOUSE"] = str(warehouse)
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if cutoff is not None:
        env["KOCARTR_DATA_CUTOFF"] = cutoff
    ensure_manifest()
    reuse_parse(str(warehouse), work / "target")
    cmd = [
        "dbt",
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(DBT_PROJECT_DIR))
