"""dbt assets, one op per layer so that each layer's quality gate can stop the next layer.

Staging (with seeds), then intermediate + marts ("core"), then the ADaM analysis datasets. Each op is a
`dbt build` (models and their dbt tests) for one registry month, run inside the Dagster process
(orchestration/dbt_build.py), whose cut-off reaches the models as the dbt var `data_cutoff` (staging reads the
registry as of that month). The project's parse is loaded once per process, so a layer costs only its nodes.

A model's dbt tests are one Dagster asset check, `dbt_tests`, whose result names every test that did not pass and
whose metadata lists each test with its status and failing rows (for a model's `column_rules` test, each rule and
column that failed): one check event per model instead of one per test (a Dagster event costs ~10-20 ms of
bookkeeping; most models have one dbt test, `column_rules`, and a model that has several still gets one). The check is
blocking when a test of the model is (dbt severity error), and fails with ERROR severity when such a test fails,
so what stops downstream is unchanged.
"""

import tempfile
from collections.abc import Iterator, Mapping
from itertools import takewhile
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

from orchestration.dbt_cli import MANIFEST
from orchestration.partitions import one_month_per_run, registry_months
from orchestration.resources import RegistryConfig, RegistryDbt

# Selected by schema, not by path: Dagster resolves `path:` against its working directory, not the dbt project.
LAYERS: dict[str, str] = {
    "staging": "config.schema:staging resource_type:seed",
    "core": "config.schema:intermediate config.schema:marts",
    "adam": "config.schema:adam",
}


DBT_TESTS_CHECK = "dbt_tests"


class RegistryTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "staging"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else None

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """Every dbt test of a model maps to the model's one `dbt_tests` check (dagster-dbt keeps one spec per key)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        tests = [t for t in tests_of(manifest, spec.asset_key, self) if t != unique_id] + [unique_id]
        specs = [super(RegistryTranslator, self).get_asset_check_spec(asset_spec, manifest, t, project) for t in tests]
        lines = [f"- `{manifest['nodes'][t]['name']}`: {dbt_test_description(manifest['nodes'][t])}" for t in tests]
        return dg.AssetCheckSpec(
            name=DBT_TESTS_CHECK,
            asset=spec.asset_key,
            blocking=any(s.blocking for s in specs if s is not None),
            description=f"The {len(tests)} dbt tests of this model, run by its `dbt build`:\n" + "\n".join(lines),
            additional_deps={d.asset_key for s in specs if s is not None for d in s.additional_deps},
        )


_TESTS_BY_ASSET: dict[int, tuple[Mapping[str, Any], dict[dg.AssetKey, list[str]]]] = {}


def tests_of(manifest: Mapping[str, Any], asset_key: dg.AssetKey, translator: DagsterDbtTranslator) -> list[str]:
    """The dbt tests dagster-dbt attaches to an asset (unique ids, sorted), indexed once per manifest object (the
    index keeps the manifest referenced, so its id is not reused)."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test

    held = _TESTS_BY_ASSET.get(id(manifest))
    if held is None or held[0] is not manifest:
        index: dict[dg.AssetKey, list[str]] = {}
        for uid in manifest["nodes"]:
            key = get_asset_check_key_for_test(manifest, translator, uid, project=None)
            if key is not None:
                index.setdefault(key.asset_key, []).append(uid)
        held = _TESTS_BY_ASSET[id(manifest)] = (manifest, index)
    return sorted(held[1].get(asset_key, []))


def dbt_test_description(test: Mapping[str, Any]) -> str:
    """A dbt test's description from the project itself: its own description, else the generic test and its
    arguments (`unique` on USUBJID), else the header comment of a singular test's SQL."""
    if test.get("description"):
        return test["description"]
    meta = test.get("test_metadata") or {}
    if meta.get("name") == "column_rules":  # a model's column rules, one line per rule
        rules = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model" and v}
        return f"dbt test `column_rules` ({test.get('original_file_path', '')}): " + "; ".join(
            f"{rule} "
            + (", ".join(f"{c}: {a}" for c, a in cols.items()) if isinstance(cols, dict) else ", ".join(cols))
            for rule, cols in rules.items()
        )
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
        # Each build's compiled SQL (no dbt.log or JSON artifacts) goes to a temporary folder removed when the layer
        # is done: dbt_project/target once grew 24 MB per run. The events reach Dagster while dbt streams them.
        refuse_checks_without_their_model(context)
        with tempfile.TemporaryDirectory(prefix=f"kocartr-dbt-{layer}-") as target:
            invocation = dbt.build(context, registry.warehouse, context.partition_key, Path(target))
            context.log.info(f"dbt {' '.join(invocation.args)} (in this process)")  # the command, for the run log
            yield from dbt_events(invocation, context)

    return _assets


def refuse_checks_without_their_model(context: dg.AssetExecutionContext) -> None:
    """A model's `dbt_tests` run in the `dbt build` of the model: a run selecting the check without its model (the
    UI's "execute checks") is refused in one line rather than run on a part of the tests."""
    alone = sorted(
        {k.asset_key.to_user_string() for k in context.selected_asset_check_keys}
        - {k.to_user_string() for k in context.selected_asset_keys}
    )
    if alone:
        raise dg.Failure(f"dbt tests run in their model's dbt build: materialize {', '.join(alone)} to run them")


def dbt_events(invocation: Any, context: dg.AssetExecutionContext) -> Iterator[Any]:
    """The Dagster events of a dbt invocation: each model's as dagster-dbt makes them, except its test results,
    gathered into the model's one `dbt_tests` result, yielded when dbt has finished (also when dbt failed: the
    results name the tests that stopped it)."""
    from dagster_dbt.asset_utils import get_asset_check_key_for_test

    manifest, translator = invocation.manifest, invocation.dagster_dbt_translator
    outcomes: dict[dg.AssetKey, list[dict[str, Any]]] = {}
    try:
        for event in invocation.stream_raw_events():
            uid = event.raw_event["data"].get("node_info", {}).get("unique_id", "")
            key = get_asset_check_key_for_test(manifest, translator, uid, None) if event.is_result_event else None
            if (
                key is not None
                and dg.AssetCheckKey(key.asset_key, DBT_TESTS_CHECK) in context.selected_asset_check_keys
            ):
                data = event.raw_event["data"]
                outcomes.setdefault(key.asset_key, []).append(
                    {
                        "test": key.name,
                        "status": str(data["status"]).lower(),
                        "failures": data.get("num_failures"),
                        "uid": uid,
                    }
                )
                continue
            yield from event.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=translator,
                context=context,
                target_path=invocation.target_path,
            )
    except Exception:
        yield from _tests_results(invocation, outcomes)
        raise
    yield from _tests_results(invocation, outcomes)


def _tests_results(invocation: Any, outcomes: dict[dg.AssetKey, list[dict[str, Any]]]) -> Iterator[Any]:
    """Each model's `dbt_tests` result, a failed `column_rules` test with its rules and columns that failed."""
    for asset, tests in sorted(outcomes.items()):
        for t in tests:
            if t["status"] in ("fail", "warn"):
                t["rules"] = invocation.rule_failures(t["uid"])
        yield dbt_tests_result(asset, tests)


def dbt_tests_result(asset: dg.AssetKey, tests: list[dict[str, Any]]) -> dg.AssetCheckResult:
    """One model's `dbt_tests` result: passed when every test that ran passed; ERROR severity unless every test
    that failed only warned (dbt severity warn), as each test's own check had; the failing tests named first."""
    ran = [t for t in tests if t["status"] != "skipped"]
    bad = [t for t in ran if t["status"] != "pass"]
    skipped = len(tests) - len(ran)
    named = [
        f"{t['test']} ({t['status']}"
        + (f", {t['failures']} failing rows" if t["failures"] else "")
        + "".join(f"; {r} on {c}: {n} rows" + (f" ({v} values)" if v > 1 else "") for r, c, v, n in t.get("rules", []))
        + ")"
        for t in bad
    ]
    description = (
        (f"{len(bad)} of {len(ran)} dbt tests failed: " + "; ".join(named)) if bad else f"{len(ran)} dbt tests passed"
    ) + (f"; {skipped} skipped (an upstream node failed)" if skipped else "")
    rows = [f"| {t['test']} | {t['status']} | {t['failures'] if t['failures'] is not None else ''} |" for t in tests]
    rules = [f"| {t['test']} | {r} | {c} | {v} | {n} |" for t in bad for r, c, v, n in t.get("rules", [])]
    metadata: dict[str, Any] = {
        "tests": len(ran),
        "failed": len(bad),
        "failed_tests": ", ".join(t["test"] for t in bad),
        "results": dg.MetadataValue.md("| test | status | failing rows |\n|---|---|---|\n" + "\n".join(rows)),
    }
    if rules:
        metadata["failed_rules"] = dg.MetadataValue.md(
            "| test | rule | column | failing values | failing rows |\n|---|---|---|---|---|\n" + "\n".join(rules)
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=DBT_TESTS_CHECK,
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN
        if bad and all(t["status"] == "warn" for t in bad)
        else dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def dbt_layer_assets() -> list[dg.AssetsDefinition]:
    return [_layer_assets(layer, select) for layer, select in LAYERS.items()]
