"""The Dagster code location loads and wires the layers in order."""

import dagster as dg


def test_definitions_load_with_every_layer_and_job():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    schemas = {k.path[0] for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert {"raw", "audit", "staging", "intermediate", "marts", "adam", "analysis"} <= schemas
    assert defs.resolve_job_def("ingest_batches").partitions_def is None  # batches go by run config
    assert defs.resolve_job_def("monthly_dataset").partitions_def is not None


def test_layers_depend_on_each_other_in_flow_order():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    # staging reads raw, ADaM sits downstream of staging, the analyses read ADaM
    stg = graph.get(dg.AssetKey(["staging", "stg_registration"]))
    assert dg.AssetKey(["raw", "registration"]) in stg.parent_keys
    upstream_of_adtte = dg.AssetSelection.keys(dg.AssetKey(["adam", "adtte"])).upstream().resolve(graph)
    assert dg.AssetKey(["staging", "stg_death"]) in upstream_of_adtte
    assert dg.AssetKey(["adam", "adtte"]) in graph.get(dg.AssetKey(["analysis", "survival_estimates"])).parent_keys


def test_every_asset_and_check_has_a_description():
    """What `make ui` shows next to each asset and check: from dbt docs, the dbt test, the rule
    configuration or the analysis builder, never blank."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    blank_assets = [
        k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable and not graph.get(k).description
    ]
    specs = [s for a in graph.assets_defs for s in a.check_specs]
    assert blank_assets == []
    assert len(specs) > 200 and [s.key for s in specs if not s.description] == []


def test_each_model_has_one_dbt_tests_check_that_names_each_of_its_dbt_tests():
    """A model's dbt tests are one blocking check (one Dagster event per model, not per test), and the check's
    description names every test dbt attaches to the model: nothing is lost from what the UI shows."""
    import json

    from orchestration.dbt_cli import MANIFEST
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = [s for a in graph.assets_defs for s in a.check_specs if s.name == "dbt_tests"]
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    attached = {
        n["name"]: n["attached_node"] or n["depends_on"]["nodes"][0]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and (n.get("attached_node") or len(n["depends_on"]["nodes"]) == 1)
    }
    assert len({c.asset_key for c in checks}) == len(checks) == len(set(attached.values()))
    listed = {line.split("`")[1]: c.asset_key for c in checks for line in c.description.splitlines()[1:]}
    assert set(listed) == set(attached)
    by_model = {manifest["nodes"][uid]["name"]: uid for uid in attached.values()}
    assert all(by_model[listed[name].path[-1]] == model for name, model in attached.items())
    assert all(c.blocking for c in checks)  # every dbt test of the project has severity error
