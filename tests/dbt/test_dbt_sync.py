"""The dictionary-generated parts of the dbt project never drift from the dictionary (kocartr dbt-sync)."""

from __future__ import annotations

import csv
import shutil

import yaml

from kocartr.dbt_sync import HEADER, check, render_all, sync
from kocartr.dictionary import load_dictionary
from kocartr.paths import DBT_PROJECT_DIR


def test_generated_files_are_current():
    assert check() == [], "run `kocartr dbt-sync` and commit the result"


def test_sync_writes_everything_then_nothing(tmp_path):
    dbt_dir = tmp_path / "dbt"
    written = sync(dbt_dir)
    assert {p.relative_to(dbt_dir).as_posix() for p in written} == set(render_all())
    assert sync(dbt_dir) == []
    assert check(dbt_dir) == []
    # a hand edit is reported as stale
    target = dbt_dir / "models" / "staging" / "stg_crs.sql"
    target.write_text(target.read_text() + "\n-- edited\n")
    assert check(dbt_dir) == ["models/staging/stg_crs.sql"]


def test_stale_staging_model_for_a_removed_form_is_reported(tmp_path):
    dbt_dir = tmp_path / "dbt"
    sync(dbt_dir)
    (dbt_dir / "models" / "staging" / "stg_retired_form.sql").write_text("select 1")
    assert any("stg_retired_form" in s for s in check(dbt_dir))


def test_sources_cover_every_form_and_field_with_lineage():
    d = load_dictionary()
    doc = yaml.safe_load((DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml").read_text())
    tables = {t["name"]: t for t in doc["sources"][0]["tables"]}
    assert set(tables) == set(d.forms)
    for name, form in d.forms.items():
        cols = {c["name"]: c for c in tables[name]["columns"]}
        for f in form.fields:
            assert f.name in cols and cols[f.name]["description"], (name, f.name)
            if f.cibmtr:
                assert f.cibmtr in cols[f.name]["description"]
        for lineage in ("patient_key", "record_action", "_source_file", "_version", "_is_current"):
            assert lineage in cols


def test_codes_seed_has_every_code_and_attribute():
    d = load_dictionary()
    with open(DBT_PROJECT_DIR / "seeds" / "dictionary_codes.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["code_list"], r["code"]) for r in rows} == {
        (cl.name, c.code) for cl in d.code_lists.values() for c in cl.codes
    }
    by = {(r["code_list"], r["code"]): r for r in rows}
    assert by[("crs_hypoxia", "HIGH_FLOW")]["astct_grade"] == "3"
    assert by[("death_cause", "PRIMARY_DISEASE")]["nrm"] == "false"
    assert by[("response", "CR")]["rank"] == "2"


def test_staging_drops_free_text_and_reads_the_registry_as_of_the_cutoff():
    d = load_dictionary()
    files = render_all()
    for name, form in d.forms.items():
        sql = files[f"models/staging/stg_{name}.sql"]
        assert sql.startswith(f"-- {HEADER}")
        # the latest version submitted by the cut-off month, unless that version deletes the record
        assert "where {{ cutoff_month_filter() }} and _version > 1" in sql
        assert "and _version = coalesce(_latest_version, 1) and record_action = 'U'" in sql
        for f in form.fields:
            assert (f"as {f.name}," in sql or f"as {f.name}\n" in sql) != f.is_free_text, (name, f.name)


def test_generated_yaml_starts_with_the_marker():
    for rel, content in render_all().items():
        if rel.endswith((".yml", ".sql")):
            assert HEADER in content.splitlines()[0], rel


def test_sync_into_a_copy_of_the_project_is_a_no_op(tmp_path):
    copy = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    assert sync(copy) == []
