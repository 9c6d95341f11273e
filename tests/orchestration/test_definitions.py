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
    assert len(specs) > 400 and [s.key for s in specs if not s.description] == []
