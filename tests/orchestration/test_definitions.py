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
    assert len(specs) > 100 and [s.key for s in specs if not s.description] == []


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


def test_each_table_has_one_quality_rules_check_that_names_each_of_its_rules():
    """A table's GX rules are one check (one Dagster event per table, not per rule), blocking when any of them is
    critical, its description naming every rule of the table, and its deps every table a rule reads."""
    from expectations.suites import all_rules
    from orchestration.checks import GX_CHECK
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = {s.asset_key: s for a in graph.assets_defs for s in a.check_specs if s.name == GX_CHECK}
    tables: dict = {}
    for r in all_rules():
        tables.setdefault(dg.AssetKey(r.table.split(".")), []).append(r)
    assert set(checks) == set(tables)
    for key, rules in tables.items():
        spec = checks[key]
        listed = [line.split("`")[1] for line in spec.description.splitlines()[1:]]
        assert sorted(f"{rules[0].table}.{name}" for name in listed) == sorted(r.name for r in rules)
        assert spec.blocking == any(r.severity == "critical" for r in rules)
        reads = {dg.AssetKey(t.split(".")) for r in rules for t in r.reads} - {key}
        assert {d.asset_key for d in spec.additional_deps} == reads
    assert any(not c.blocking for c in checks.values())  # a table with warnings only (no critical rule)


def test_a_tables_check_fails_with_error_only_when_a_critical_rule_fails():
    """The table's result: passed when every rule passed; WARN when only warnings failed (Dagster then blocks
    nothing, as with one non-blocking check per warning); ERROR when a critical rule failed or errored."""
    from expectations.runner import CheckOutcome
    from orchestration.checks import table_result

    def outcome(name: str, severity: str, passed: bool, error: str | None = None) -> CheckOutcome:
        return CheckOutcome(
            name=f"staging.stg_crs.{name}",
            layer="staging",
            table="staging.stg_crs",
            category="plausibility",
            subcategory="temporal",
            severity=severity,
            blocking=severity == "critical",
            passed=passed,
            rows_checked=10,
            rows_failing=0 if passed or error else 3,
            failing_share=0.0 if passed or error else 0.3,
            threshold=0.05,
            by_site=[],
            failing_records=[],
            error=error,
        )

    ok = table_result("staging.stg_crs", [outcome("a", "critical", True), outcome("b", "warning", True)])
    assert ok.passed and ok.description == "2 rules passed" and ok.metadata["failed"].value == 0
    warn = table_result("staging.stg_crs", [outcome("a", "critical", True), outcome("b", "warning", False)])
    assert not warn.passed and warn.severity == dg.AssetCheckSeverity.WARN
    assert warn.description.startswith("1 of 2 rules did not pass: staging.stg_crs.b [warning] FAILED")
    bad = table_result("staging.stg_crs", [outcome("a", "critical", False), outcome("b", "warning", False)])
    assert not bad.passed and bad.severity == dg.AssetCheckSeverity.ERROR
    assert bad.metadata["failed_rules"].value == "staging.stg_crs.a, staging.stg_crs.b"
    err = table_result("staging.stg_crs", [outcome("a", "critical", False, error="GX raised")])
    assert err.severity == dg.AssetCheckSeverity.ERROR and "ERROR: GX raised" in err.description
    assert set(bad.metadata["outcomes"].value) == {"staging.stg_crs.a", "staging.stg_crs.b"}
