"""dbt assets, one op per layer so that each layer's quality gate can stop the next layer.

Staging (with seeds), then intermediate + marts ("core"), then the ADaM analysis datasets. Each op is a
`dbt build` (models and their dbt tests) for one registry month, whose cut-off reaches the models as
KOCARTR_DATA_CUTOFF in the dbt subprocess's own environment (staging reads the registry as of that month).
Three dbt invocations cost ~6 s of start-up in all; the gates between layers are worth it.
"""

import tempfile
from collections.abc import Mapping
from itertools import takewhile
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from orchestration.dbt_cli import MANIFEST, build_args, reuse_parse
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryConfig, RegistryDbt

# Selected by schema, not by path: Dagster resolves `path:` against its working directory, not the dbt project.
LAYERS: dict[str, str] = {
    "staging": "config.schema:staging resource_type:seed",
    "core": "config.schema:intermediate config.schema:marts",
    "adam": "config.schema:adam",
}


class RegistryTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "staging"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else None

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=dbt_test_description(manifest["nodes"][unique_id]))


def dbt_test_description(test: Mapping[str, Any]) -> str:
    """A dbt test's description from the project itself: its own description, else the generic test and its
    arguments (`unique` on USUBJID), else the header comment of a singular test's SQL."""
    if test.get("description"):
        return test["description"]
    meta = test.get("test_metadata") or {}
    if meta:
        args = {k: v for k, v in (meta.get("kwargs") or {}).items() if k not in ("model", "column_name")}
        column = test.get("column_name")
        return (
            f"dbt test `{meta['name']}`"
            + (f" on column {column}" if column else "")
            + (f" {args}" if args else "")
            + f" ({test.get('original_file_path', '')})"
        )
    lines = test.get("raw_code", "").strip().splitlines()
    header = [line.removeprefix("--").strip() for line in takewhile(lambda x: x.startswith("--"), lines)]
    return " ".join(header)[:500] or f"dbt singular test {test['name']}"


TRANSLATOR = RegistryTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _layer_assets(layer: str, select: str) -> dg.AssetsDefinition:
    @dbt_assets(
        manifest=Path(MANIFEST),
        select=select,
        # dbt unit tests check the SQL logic on fixed inputs, not the month's data: they run in tests/dbt
        # (pytest), not in every monthly build (~2 s each).
        exclude="test_type:unit",
        name=f"dbt_{layer}",
        partitions_def=registry_months,
        backfill_policy=one_month_per_run,
        dagster_dbt_translator=TRANSLATOR,
    )
    def _assets(context: dg.AssetExecutionContext, dbt: RegistryDbt, registry: RegistryConfig):
        # Each invocation's artifacts (~8 MB: manifest copy, run results, compiled SQL, dbt.log) go to a temporary
        # folder removed when the layer is done: dbt_project/target once grew 24 MB per run. The events reach
        # Dagster's log (the run's log file) while dbt streams them.
        env = registry.dbt_env(context.partition_key)
        # Each gets the project's parse stamped for this warehouse, so dbt does not parse the project again.
        with tempfile.TemporaryDirectory(prefix=f"kocartr-dbt-{layer}-") as target:
            reuse_parse(registry.warehouse, Path(target))
            yield from dbt.cli(build_args(), context=context, target_path=Path(target), env=env).stream()

    return _assets


def dbt_layer_assets() -> list[dg.AssetsDefinition]:
    return [_layer_assets(layer, select) for layer, select in LAYERS.items()]
