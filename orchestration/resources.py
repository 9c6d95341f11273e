"""Resources. One environment variable per location, read at run time (never at import):
KOCARTR_WAREHOUSE (the DuckDB file; dbt's profile reads the same variable), KOCARTR_SUBMISSIONS (the submissions
tree), KOCARTR_RELEASES (where releases are published), KOCARTR_QUERIES (site query workbooks)."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource


class RegistryPaths(dg.ConfigurableResource):
    submissions_dir: str
    release_dir: str
    queries_dir: str


def default_resources() -> dict[str, object]:
    from dagster_dbt import DbtCliResource

    from kocartr.paths import DBT_PROJECT_DIR
    from orchestration.dbt_cli import dbt_executable

    return {
        "warehouse": DuckDBResource(database=dg.EnvVar("KOCARTR_WAREHOUSE")),
        "paths": RegistryPaths(
            submissions_dir=dg.EnvVar("KOCARTR_SUBMISSIONS"),
            release_dir=dg.EnvVar("KOCARTR_RELEASES"),
            queries_dir=dg.EnvVar("KOCARTR_QUERIES"),
        ),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=dbt_executable()
        ),
    }
