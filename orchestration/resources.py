"""Resources: the registry's configuration, given to every asset, check, sensor and dbt invocation explicitly.

`RegistryConfig` holds where the registry lives (warehouse, submissions, releases, site query workbooks) and how it
pseudonymizes (demo mode, the key or its file). `kocartr run` builds it from its arguments; the code location that
`make ui` / `dagster dev` loads builds it once from environment variables (`resources_from_env`). Both go through
`registry_resources`, so a run launched from the UI, the schedule or the sensor gets the same warehouse, dbt and
paths as the CLI. Nothing here writes to the process environment: dbt runs in-process and gets the warehouse and
the cut-off as arguments (`RegistryDbt.build`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg


class RegistryConfig(dg.ConfigurableResource):
    """Where the registry lives and how it pseudonymizes; checked once when a run starts (`check`)."""

    warehouse: str  # the DuckDB file (dbt's profile gets the same path)
    submissions_dir: str  # <SITE>/<YYYY-MM>/<form>.csv|xlsx
    release_dir: str  # where monthly releases are published
    queries_dir: str  # site query workbooks, one folder per registry month
    demo: bool = False  # the published demo key (synthetic data only)
    hmac_key: str = ""  # the registry key itself (hex or text); from KOCARTR_HMAC_KEY, never typed into run config
    hmac_key_file: str = ""  # else a file holding it, kept outside the warehouse

    def key(self) -> bytes:
        from kocartr.ingest import resolve_key

        return resolve_key(self.hmac_key, self.hmac_key_file, self.demo)

    def check(self) -> bytes:
        """Refuse, in one line, what cannot work: a missing submissions folder, a warehouse path that is not a
        DuckDB file, no key. Returns the key."""
        from kocartr.warehouse import check_warehouse_path

        check_submissions(Path(self.submissions_dir))
        check_warehouse_path(Path(self.warehouse))
        return self.key()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.check()


def check_submissions(submissions: Path) -> Path:
    """The submissions root must be an existing folder (one-line error otherwise)."""
    if not submissions.exists():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if not submissions.is_dir():
        raise NotADirectoryError(f"--submissions {submissions} is a file; give the folder holding <SITE>/<YYYY-MM>/")
    return submissions


def data_cutoff(registry_month: str) -> str:
    """The data cut-off of a registry month's build: the month's last day (ISO), dbt's var `data_cutoff`."""
    from kocartr.months import month_end

    return month_end(registry_month).isoformat()


class RegistryDbt(dg.ConfigurableResource):
    """dbt, run inside the Dagster process (orchestration/dbt_build.py): a layer's `dbt build` for one warehouse
    and registry month, given both as arguments (the process environment is never changed)."""

    project_dir: str

    def build(self, context: Any, warehouse: str, registry_month: str, target_path: Path):
        from orchestration.dbt_build import build

        return build(
            context,
            warehouse=warehouse,
            data_cutoff=data_cutoff(registry_month),
            target_path=target_path,
            project_dir=Path(self.project_dir),
        )


def registry_resources(config: RegistryConfig) -> dict[str, object]:
    """Every resource of the code location, from one configuration: the same for the CLI and the UI."""
    from dagster_duckdb import DuckDBResource

    from kocartr.paths import DBT_PROJECT_DIR

    return {
        "registry": config,
        "warehouse": DuckDBResource(database=config.warehouse),
        "dbt": RegistryDbt(project_dir=str(DBT_PROJECT_DIR)),
    }


TRUE_WORDS = {"1", "true", "yes"}


def config_from_env(environ: Mapping[str, str] | None = None) -> RegistryConfig:
    """The configuration `make ui` / `dagster dev` gives the code location: paths as EnvVar (resolved when a run
    starts, shown by name in the UI, never by value), demo mode read once here. The key goes by EnvVar too, so
    its value never appears in the UI."""
    environ = os.environ if environ is None else environ

    def optional(name: str) -> str:
        return dg.EnvVar(name) if environ.get(name) else ""

    return RegistryConfig(
        warehouse=dg.EnvVar("KOCARTR_WAREHOUSE"),
        submissions_dir=dg.EnvVar("KOCARTR_SUBMISSIONS"),
        release_dir=dg.EnvVar("KOCARTR_RELEASES"),
        queries_dir=dg.EnvVar("KOCARTR_QUERIES"),
        demo=environ.get("KOCARTR_DEMO", "").strip().lower() in TRUE_WORDS,
        hmac_key=optional("KOCARTR_HMAC_KEY"),
        hmac_key_file=optional("KOCARTR_HMAC_KEY_FILE"),
    )
