"""Resources: the registry's configuration, given to every asset, check, sensor and dbt invocation explicitly.

`RegistryConfig` holds where the registry lives (warehouse, submissions, releases, site query workbooks) and how it
pseudonymizes (demo mode, the key or its file). `kocartr run` builds it from its arguments; the code location that
`make ui` / `dagster dev` loads builds it once from environment variables (`resources_from_env`). Both go through
`registry_resources`, so a run launched from the UI, the schedule or the sensor gets the same warehouse, dbt and
paths as the CLI. Nothing here writes to the process environment: dbt, a subprocess, gets its own environment
(`RegistryDbt.cli(env=...)`), which its profile and the data cut-off macro read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource


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

    def dbt_env(self, registry_month: str) -> dict[str, str]:
        """What a dbt invocation for the registry month reads: its profile's warehouse and the data cut-off."""
        return dbt_environment(self.warehouse, registry_month)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self.check()


def check_submissions(submissions: Path) -> Path:
    """The submissions root must be an existing folder (one-line error otherwise)."""
    if not submissions.exists():
        raise FileNotFoundError(f"submissions folder {submissions} does not exist")
    if not submissions.is_dir():
        raise NotADirectoryError(f"--submissions {submissions} is a file; give the folder holding <SITE>/<YYYY-MM>/")
    return submissions


def dbt_environment(warehouse: str, registry_month: str) -> dict[str, str]:
    """KOCARTR_WAREHOUSE for dbt's profile, KOCARTR_DATA_CUTOFF = the registry month's last day for the models.

    An environment variable, not `--vars`: dbt discards its partial parse whenever vars change, and a full parse
    of this project costs ~10 s per invocation (three per monthly run).
    """
    from kocartr.months import month_end

    return {"KOCARTR_WAREHOUSE": str(warehouse), "KOCARTR_DATA_CUTOFF": month_end(registry_month).isoformat()}


class RegistryDbt(DbtCliResource):
    """dbt whose invocations can be given an environment of their own (`env`), on top of the process's."""

    def cli(  # type: ignore[override]
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, **kwargs: Any
    ):
        if not env:
            return super().cli(args, **kwargs)
        return _cli_with_env(self, args, dict(env), **kwargs)


def _cli_with_env(
    resource: RegistryDbt,
    args: Sequence[str],
    env: dict[str, str],
    *,
    raise_on_error: bool = True,
    manifest: Any = None,
    dagster_dbt_translator: Any = None,
    context: Any = None,
    target_path: Path | None = None,
):
    """DbtCliResource.cli (dagster-dbt 0.29.27, pinned with dagster) with `env` added to the subprocess's environment.
    dagster-dbt builds that environment from os.environ only; setting os.environ would leak into every other step
    of the process. The in-process adapter handle (used only to fetch column metadata and row counts, which these
    assets do not ask for) is not created: its profile would read the process environment."""
    from dagster._utils import pushd
    from dagster_dbt.asset_utils import (
        DBT_INDIRECT_SELECTION_ENV,
        extract_runtime_selection_from_args,
        get_updated_cli_invocation_params_for_context,
    )
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
    from dagster_dbt.dagster_dbt_translator import DagsterDbtTranslator, validate_opt_translator
    from dagster_dbt.dbt_manifest import validate_manifest

    translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
    cleaned_args, selects, excludes = extract_runtime_selection_from_args(args)
    params = get_updated_cli_invocation_params_for_context(
        context=context,
        manifest=validate_manifest(manifest) if manifest else {},
        dagster_dbt_translator=translator,
        runtime_selects=selects,
        runtime_excludes=excludes,
    )
    target_path = target_path or resource._get_unique_target_path(context=context)  # noqa: SLF001
    project_dir = Path(params.dbt_project.project_dir if params.dbt_project else resource.project_dir)
    full_env = {
        **os.environ,
        **env,
        "DAGSTER_DBT_CLI": "true",
        "PYTHONUNBUFFERED": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",  # dagster-dbt reads dbt's structured events
        "DBT_TARGET_PATH": os.fspath(target_path),
        "DBT_LOG_PATH": os.fspath(target_path),
        **({"DBT_PROFILES_DIR": resource.profiles_dir} if resource.profiles_dir else {}),
        "DBT_PROJECT_DIR": str(project_dir),
    }
    if params.indirect_selection:
        full_env[DBT_INDIRECT_SELECTION_ENV] = params.indirect_selection
    profile_args = (["--profile", resource.profile] if resource.profile else []) + (
        ["--target", resource.target] if resource.target else []
    )
    full_args = [
        resource.dbt_executable,
        *resource.global_config_flags,
        *cleaned_args,
        *profile_args,
        *params.selection_args,
    ]
    if not target_path.is_absolute():
        target_path = project_dir.joinpath(target_path)
    with pushd(str(project_dir)):
        return DbtCliInvocation.run(
            args=full_args,
            env=full_env,
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target_path,
            raise_on_error=raise_on_error,
            context=context,
            adapter=None,
            cli_version=resource._cli_version,  # noqa: SLF001
            dbt_project=params.dbt_project,
        )


def registry_resources(config: RegistryConfig) -> dict[str, object]:
    """Every resource of the code location, from one configuration: the same for the CLI and the UI."""
    from dagster_duckdb import DuckDBResource

    from kocartr.paths import DBT_PROJECT_DIR
    from orchestration.dbt_cli import dbt_executable

    return {
        "registry": config,
        "warehouse": DuckDBResource(database=config.warehouse),
        "dbt": RegistryDbt(
            project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
        ),
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
