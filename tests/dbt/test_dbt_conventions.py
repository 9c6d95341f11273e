"""Project conventions enforced over the dbt manifest (dbt-project-evaluator style rules, written here because dbt
packages cannot be installed): folder prefixes, only staging reads sources, layers only read lower layers, every
model and column documented, every model primary-key tested, enforced contracts on marts and adam, header comment
naming the concept and its reference, column-name case."""

from __future__ import annotations

import json
import re

import pytest

from kocartr.paths import DBT_PROJECT_DIR

PREFIXES = {"staging": ("stg_",), "intermediate": ("int_",), "marts": ("dim_", "fct_"), "adam": ("ad",)}
LAYER_ORDER = ["staging", "intermediate", "marts", "adam"]
# A mart's patient, site and infusion keys each join their dimension (dbt relationships test).
FOREIGN_KEYS = {"patient_key": "dim_patient", "site_code": "dim_site", "infusion_key": "fct_infusion"}


@pytest.fixture(scope="module")
def manifest(built_warehouse):
    assert built_warehouse["result"].returncode == 0, built_warehouse["result"].stdout[-4000:]
    return json.loads(built_warehouse["manifest"].read_text())


@pytest.fixture(scope="module")
def models(manifest):
    return {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}


def layer(node) -> str:
    return node["original_file_path"].split("/")[1]


def test_every_model_sits_in_a_layer_folder_with_its_prefix(models):
    assert models
    for node in models.values():
        assert layer(node) in PREFIXES, node["original_file_path"]
        assert node["name"].startswith(PREFIXES[layer(node)]), node["name"]
        assert node["schema"] == layer(node), (node["name"], node["schema"])


def test_only_staging_reads_sources_and_layers_read_downwards(models, manifest):
    for node in models.values():
        deps = node["depends_on"]["nodes"]
        sources = [d for d in deps if d.startswith("source.")]
        if layer(node) == "staging":
            assert len(sources) == 1 and all(not d.startswith("model.") for d in deps), node["name"]
        else:
            assert not sources, f"{node['name']} reads a source"
            for d in deps:
                if d.startswith("model."):
                    assert LAYER_ORDER.index(layer(models[d])) <= LAYER_ORDER.index(layer(node)), (node["name"], d)


def test_adam_reads_marts_only(models):
    """ADaM datasets are built from the published marts (and seeds), never from staging or intermediate models."""
    for node in models.values():
        if layer(node) == "adam":
            for d in node["depends_on"]["nodes"]:
                if d.startswith("model."):
                    assert layer(models[d]) in ("marts", "adam"), (node["name"], d)


def test_one_staging_model_per_source_table(models, manifest):
    staged = sorted(d for n in models.values() if layer(n) == "staging" for d in n["depends_on"]["nodes"])
    assert staged == sorted(manifest["sources"])


def test_every_model_and_column_documented(models, wh):
    for node in models.values():
        assert node["description"].strip(), f"{node['name']} has no description"
        actual = [
            r[0]
            for r in wh.sql(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                params=[node["schema"], node["name"]],
            ).fetchall()
        ]
        assert actual, node["name"]
        documented = node["columns"]
        missing = [c for c in actual if c not in documented or not documented[c]["description"].strip()]
        assert not missing, f"{node['name']}: undocumented columns {missing}"
        extra = set(documented) - set(actual)
        assert not extra, f"{node['name']}: documented columns that do not exist {extra}"


def column_rules(manifest) -> dict[str, dict]:
    """The rules of each model's (and seed's) `column_rules` tests, by the node they test: a model's column rules live
    in one test (one dbt node), or one per severity / `where` config; their arguments merged."""
    rules: dict[str, dict] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and meta.get("name") == "column_rules":
            merged = rules.setdefault(node["attached_node"], {})
            for rule, args in meta["kwargs"].items():
                if isinstance(args, list):
                    merged[rule] = merged.get(rule, []) + args
                elif isinstance(args, dict):
                    merged[rule] = {**merged.get(rule, {}), **args}
    return rules


def test_every_model_has_a_primary_key_test(models, manifest):
    """A grain test on every model: a unique and not-null column, or a unique combination of columns."""
    keyed = set()
    for uid, kwargs in column_rules(manifest).items():
        if kwargs.get("unique_combination") or set(kwargs.get("unique", [])) & set(kwargs.get("not_null", [])):
            keyed.add(uid)
    assert set(models) - keyed == set()


def test_every_mart_key_joins_its_dimension(models, manifest):
    """Referential integrity of the marts investigators join: a patient_key, site_code or infusion_key column has a
    relationships test to dim_patient, dim_site or fct_infusion (fct_hospitalization once had none)."""
    tested = {
        (uid, column, to)
        for uid, kwargs in column_rules(manifest).items()
        for column, to in kwargs.get("relationships", {}).items()
    }
    expected = {
        (uid, col, f"ref('{dim}')")
        for uid, node in models.items()
        if layer(node) == "marts"
        for col, dim in FOREIGN_KEYS.items()
        if col in node["columns"] and node["name"] != dim
    }
    assert len(expected) > 20 and sorted(expected - tested) == []


def test_marts_and_adam_have_enforced_contracts_and_are_tables(models):
    for node in models.values():
        if layer(node) in ("marts", "adam"):
            assert node["config"]["contract"]["enforced"], node["name"]
            assert node["config"]["materialized"] == "table", node["name"]
            assert all(c.get("data_type") for c in node["columns"].values()), node["name"]


def test_every_model_has_a_header_naming_concept_and_reference(models):
    for node in models.values():
        head = (DBT_PROJECT_DIR / node["original_file_path"]).read_text().splitlines()[:6]
        text = "\n".join(head)
        assert re.search(r"^-- .*Concept: ", text, re.M) and "Reference" in text, node["name"]


def test_column_name_case(models):
    for node in models.values():
        pattern = r"^[A-Z][A-Z0-9]*$" if layer(node) == "adam" else r"^[a-z][a-z0-9_]*$"
        bad = [c for c in node["columns"] if not re.match(pattern, c)]
        assert not bad, (node["name"], bad)


def test_every_dictionary_code_column_is_tested_against_its_code_list(models, manifest):
    """Accepted values come from the dictionary's code lists (column_rules' code_lists, over the generated seed),
    never from a retyped list: every staging column that carries a code list is in its model's test."""
    tested = {
        (uid, c, cl) for uid, kwargs in column_rules(manifest).items() for c, cl in kwargs.get("code_lists", {}).items()
    }
    expected = set()
    for uid, node in models.items():
        for col in node["columns"].values():
            code_list = (col.get("meta") or {}).get("code_list")
            if layer(node) == "staging" and code_list:
                expected.add((uid, col["name"], code_list))
    assert expected and expected <= tested, expected - tested
