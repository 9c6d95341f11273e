"""Pure pieces of the orchestration: partition keys, dbt arguments, month choice, sensor change detection."""

import pytest

from kocartr.months import month_end, month_of
from kocartr.paths import DBT_PROJECT_DIR
from orchestration.jobs import changed_batches
from orchestration.partitions import batch_key, parse_batch_key
from orchestration.runner import choose_month


def test_batch_key_round_trip_and_order():
    assert batch_key("S03", "2024-02") == "2024-02_S03"
    assert parse_batch_key("2024-02_S03") == ("S03", "2024-02")
    # month-first keys sort chronologically across sites
    assert sorted([batch_key("S10", "2024-03"), batch_key("S02", "2024-04")])[0].startswith("2024-03")


@pytest.mark.parametrize("bad", ["S03", "2024-02", "24-02_S01", ""])
def test_parse_batch_key_rejects_malformed(bad):
    with pytest.raises(ValueError):
        parse_batch_key(bad)


def test_month_end_handles_leap_years_and_december():
    assert month_end("2024-02").isoformat() == "2024-02-29"
    assert month_end("2023-02").isoformat() == "2023-02-28"
    assert month_end("2025-12").isoformat() == "2025-12-31"
    assert month_of(month_end("2025-12")) == "2025-12"
    with pytest.raises(ValueError):
        month_end("2025-13")


def test_dbt_gets_the_month_cutoff_and_warehouse_as_arguments_not_the_process_environment(monkeypatch, tmp_path):
    import os

    import yaml

    from orchestration.dbt_build import write_profiles
    from orchestration.resources import data_cutoff

    monkeypatch.delenv("KOCARTR_DATA_CUTOFF", raising=False)
    assert data_cutoff("2024-02") == "2024-02-29"
    folder = write_profiles(str(tmp_path / "w.duckdb"), tmp_path / "profiles")
    written = yaml.safe_load((folder / "profiles.yml").read_text(encoding="utf-8"))["kocartr"]["outputs"]["dev"]
    project = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))["kocartr"]["outputs"][
        "dev"
    ]
    assert written == {**project, "path": str(tmp_path / "w.duckdb")}  # every other setting is the project's
    assert "KOCARTR_DATA_CUTOFF" not in os.environ and os.environ.get("KOCARTR_WAREHOUSE") != str(tmp_path / "w.duckdb")


def test_choose_month():
    months = ["2024-01", "2024-03", "2024-02"]
    assert choose_month(months, None, "2026-10") == "2024-03"
    assert choose_month(months, "2024-02", "2026-10") == "2024-02"
    # data from a month that is not over yet are built at the last complete month
    assert choose_month(["2026-11"], None, "2026-10") == "2026-10"
    with pytest.raises(ValueError):
        choose_month(months, "2026-11", "2026-10")
    with pytest.raises(ValueError):
        choose_month([], None, "2026-10")


def test_changed_batches_detects_new_and_modified_only():
    before = {"2024-01_S01": "a:1:1", "2024-01_S02": "b:2:2"}
    after = {"2024-01_S01": "a:1:1", "2024-01_S02": "b:3:9", "2024-02_S01": "c:1:1"}
    assert changed_batches(before, after) == ["2024-01_S02", "2024-02_S01"]
    assert changed_batches(after, after) == []


def test_select_batches_by_key_and_month():
    from kocartr.ingest import Batch
    from orchestration.assets.ingest import select_batches

    def B(site, month, problem=None):  # noqa: N802
        return Batch(site, month, (), problem)

    tree = [B(site="S02", month="2024-02"), B(site="S01", month="2024-01"), B(site="S01", month="2024-03")]
    assert [(b.site, b.month) for b in select_batches(tree, [], "")] == [
        ("S01", "2024-01"),
        ("S02", "2024-02"),
        ("S01", "2024-03"),
    ]
    assert [(b.site, b.month) for b in select_batches(tree, [], "2024-02")] == [("S01", "2024-01"), ("S02", "2024-02")]
    assert [(b.site, b.month) for b in select_batches(tree, ["2024-03_S01"], "")] == [("S01", "2024-03")]
    with pytest.raises(ValueError, match="2024-05_S09"):
        select_batches(tree, ["2024-05_S09"], "")
    # a bad month folder sorts after every month, yet is never dropped: ingest rejects its files with a reason
    bad = tree + [B("S03", "november", "bad_month_folder"), B("S03", "2026-13", "bad_month_folder")]
    assert [(b.site, b.month) for b in select_batches(bad, [], "2024-02")] == [
        ("S01", "2024-01"),
        ("S02", "2024-02"),
        ("S03", "2026-13"),
        ("S03", "november"),
    ]


def test_sensor_requests_one_run_per_changed_batch():
    import dagster as dg

    from orchestration.jobs import ingest_request

    req = ingest_request("2024-02_S01", "lab.csv:10:123")
    assert req.run_config == {"ops": {"site_submissions": {"config": {"batches": ["2024-02_S01"]}}}}
    assert req.tags["kocartr/batch"] == "2024-02_S01"
    assert req.asset_selection is not None
    assert dg.AssetKey(["raw", "registration"]) in req.asset_selection
    assert dg.AssetKey(["raw", "linkage_death"]) not in req.asset_selection
    # a changed fingerprint is a new run key, so a corrected batch is ingested again
    assert ingest_request("2024-02_S01", "lab.csv:11:124").run_key != req.run_key
    # a linkage return runs the linkage asset (and its gate) only
    link = ingest_request("2024-02_LINKAGE", "linkage_death.csv:10:123")
    assert link.run_config == {"ops": {"linkage_returns": {"config": {"batches": ["2024-02_LINKAGE"]}}}}
    assert link.asset_selection is not None
    assert set(link.asset_selection) == {
        dg.AssetKey(["raw", f]) for f in ("linkage_death", "linkage_cancer", "linkage_completeness")
    }


def test_batches_split_between_site_and_linkage_ingest():
    from kocartr.ingest import Batch
    from orchestration.assets.ingest import of_submitters

    tree = [
        Batch("S01", "2024-01", ()),
        Batch("LINKAGE", "2024-01", ()),
        Batch("", "", (), "unexpected_location"),
        Batch("LINKAGE", "november", (), "bad_month_folder"),
    ]
    sites = of_submitters(tree, {"LINKAGE"}, declared=False)
    linkage = of_submitters(tree, {"LINKAGE"}, declared=True)
    assert [(b.site, b.month) for b in sites] == [("S01", "2024-01"), ("", "")]  # stray files: the site ingest's
    assert [(b.site, b.month) for b in linkage] == [("LINKAGE", "2024-01"), ("LINKAGE", "november")]


def test_linkage_tables_have_their_own_gate():
    from orchestration.checks import GATES, gate_of, gate_rules

    linkage = {"raw.linkage_death"}
    assert gate_of("raw", "raw.linkage_death", linkage) == "linkage"
    assert gate_of("raw", "raw.registration", linkage) == "raw"
    assert gate_of("marts", "marts.fct_linkage_reconciliation", linkage) == "marts"
    by_gate = {g: {r.name for r in gate_rules(g)} for g in GATES}
    assert {
        "raw.linkage_completeness.complete_through_per_source",
        "raw.linkage_completeness.complete_through_by_return_month",
        "raw.linkage_death.patient_key_registered",
        "raw.linkage_death.one_current_version",  # no duplicate record id
    } <= by_gate["linkage"]
    assert all(".linkage_" not in n for n in by_gate["raw"])
    assert all(r.blocking for r in gate_rules("linkage"))


def test_run_counts_site_batches_and_linkage_returns_apart():
    from kocartr.ingest import Batch
    from orchestration.runner import ingest_counts

    tree = [
        Batch("S01", "2024-01", ()),
        Batch("S02", "2024-02", ()),
        Batch("LINKAGE", "2024-02", ()),
        Batch("LINKAGE", "2024-03", ()),  # after the registry month: deferred, not counted
        Batch("S01", "november", (), "bad_month_folder"),
    ]
    assert ingest_counts(tree, "2024-02") == (2, 1)


def test_a_models_dbt_tests_result_names_each_failing_test():
    import dagster as dg

    from orchestration.assets.warehouse import dbt_tests_result

    key = dg.AssetKey(["adam", "adsl"])
    tests = [
        {"test": "unique_adsl_USUBJID", "status": "fail", "failures": 3},
        {"test": "not_null_adsl_USUBJID", "status": "pass", "failures": 0},
        {"test": "relationships_adsl_SITEID", "status": "skipped", "failures": None},
    ]
    failed = dbt_tests_result(key, tests)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.description == (
        "1 of 2 dbt tests failed: unique_adsl_USUBJID (fail, 3 failing rows); 1 skipped (an upstream node failed)"
    )
    assert failed.metadata["failed_tests"].value == "unique_adsl_USUBJID"
    assert "| relationships_adsl_SITEID | skipped |" in failed.metadata["results"].value

    # a failed column_rules test names each rule and column that failed, with its failing values and rows
    rules = [("not_null", "SUBJID", 1, 2), ("unique", "USUBJID", 3, 6)]
    grouped = dbt_tests_result(key, [{"test": "column_rules_adsl", "status": "fail", "failures": 8, "rules": rules}])
    assert grouped.description == (
        "1 of 1 dbt tests failed: column_rules_adsl (fail, 8 failing rows; not_null on SUBJID: 2 rows; "
        "unique on USUBJID: 6 rows (3 values))"
    )
    assert "| column_rules_adsl | unique | USUBJID | 3 | 6 |" in grouped.metadata["failed_rules"].value
    assert "failed_rules" not in failed.metadata

    warned = dbt_tests_result(key, [{"test": "t1", "status": "warn", "failures": 2}])
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN  # a warn-severity test never blocks
    passed = dbt_tests_result(key, [{"test": "t1", "status": "pass", "failures": 0}])
    assert passed.passed and passed.description == "1 dbt tests passed"


def test_a_column_rules_test_is_described_rule_by_rule():
    """A model's check description lists its column_rules test one rule at a time, each with its columns."""
    from orchestration.assets.warehouse import dbt_test_description

    node = {
        "original_file_path": "models/marts/_marts.yml",
        "test_metadata": {
            "name": "column_rules",
            "kwargs": {
                "model": "{{ get_where_subquery(ref('fct_infusion')) }}",
                "not_null": ["infusion_key"],
                "unique": ["infusion_key"],
                "accepted_values": {"icu_flag": ["Y", "N"]},
                "relationships": {"patient_key": "ref('dim_patient')"},
                "multiple": [],
            },
        },
    }
    assert dbt_test_description(node) == (
        "dbt test `column_rules` (models/marts/_marts.yml): not_null infusion_key; unique infusion_key; "
        "accepted_values icu_flag: ['Y', 'N']; relationships patient_key: ref('dim_patient')"
    )
