"""Runner behaviour: thresholds, per-site counts, errors versus bad data, persistence, the release gate."""

import dataclasses

import pytest
import warehouse

from expectations import config as C
from expectations.results import persist_results
from expectations.rules import rule as make_rule
from expectations.runner import QualityGateFailed, blocking_failures, gate, run_checks, run_rules
from expectations.suites import all_rules, rules_for_table

DEATH_AFTER_INF = "staging.stg_death.death_on_or_after_infusion"


def _rule(name):
    return next(r for r in all_rules() if r.name == name)


@pytest.fixture(scope="module")
def big_con():
    """400 patients (100 deaths) over 3 sites."""
    con = warehouse.build(n=400)
    yield con
    con.close()


@pytest.fixture()
def big(big_con):
    big_con.execute("begin transaction")
    yield big_con
    big_con.execute("rollback")


def _break_deaths(con, table_filter: str):
    con.execute(f"update staging.stg_death set death_date = death_date - 500 where {table_filter}")


def test_one_implausible_record_does_not_block(big):
    _break_deaths(big, "record_id = (select min(record_id) from staging.stg_death)")
    (o,) = run_rules(big, [_rule(DEATH_AFTER_INF)], "r")
    assert o.blocking and o.severity == "critical"
    assert o.passed, o.describe()
    assert (o.rows_checked, o.rows_failing) == (100, 1)
    assert o.failing_records == [{"site_code": "S01", "record_id": "dea-0000"}]  # goes to the site queries
    assert [(s.site_code, s.rows_checked, s.rows_failing) for s in o.by_site] == [
        ("S01", 34, 1),
        ("S02", 33, 0),
        ("S03", 33, 0),
    ]


def test_many_implausible_records_block(big):
    _break_deaths(big, "site_code = 'S02'")
    (o,) = run_rules(big, [_rule(DEATH_AFTER_INF)], "r")
    assert not o.passed and o.error is None
    assert o.rows_failing == 33 and o.failing_sites == ["S02"]
    assert len(o.failing_records) == C.FAILING_SAMPLE_SIZE and len(o.failing_keys) == 33
    with pytest.raises(QualityGateFailed, match="death_on_or_after_infusion"):
        gate([o])


def test_threshold_is_the_share_boundary(big):
    rule = _rule(DEATH_AFTER_INF)  # 2% of 100 deaths
    _break_deaths(big, "record_id in (select record_id from staging.stg_death order by record_id limit 2)")
    assert run_rules(big, [rule], "r")[0].passed
    _break_deaths(big, "record_id in (select record_id from staging.stg_death order by record_id limit 3)")
    assert not run_rules(big, [rule], "r")[0].passed


def test_per_site_completeness_threshold(big):
    rule = _rule("staging.stg_baseline.ecog.site_completeness")  # each site >= 80% non-null
    big.execute(
        "update staging.stg_baseline set ecog = null where site_code = 'S01' "
        "and cast(substr(record_id, 5) as integer) % 2 = 0"
    )  # S01 loses half: 1/6 overall
    (o,) = run_rules(big, [rule], "r")
    assert o.failing_share < o.threshold  # the all-sites share alone would pass
    assert not o.passed and not o.blocking  # S01 fails its site threshold; a warning never blocks
    assert {s.site_code: s.failing_share > o.threshold for s in o.by_site} == {"S01": True, "S02": False, "S03": False}
    gate([o])  # warnings never close the gate


def test_warning_failure_does_not_block(con):
    con.execute("update staging.stg_crs set astct_grade = 2")
    outs = run_checks(con, "staging.stg_crs", "r")
    failed = {o.name for o in outs if not o.passed}
    assert failed == {"staging.stg_crs.grade_matches_components"}
    assert blocking_failures(outs) == []


def test_gx_exception_is_an_error_not_bad_data(con):
    gx_raises = make_rule(
        "staging.stg_crs",
        "gx_raises",
        category="conformance",
        subcategory="value",
        severity="critical",
        max_failing_share=0.0,
        reason="test",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "no_such_column"},
        query="select site_code, record_id from staging.stg_crs",
    )
    (o,) = run_rules(con, [gx_raises], "r")
    assert o.error and "no_such_column" in o.error
    assert not o.passed and o.rows_failing == 0 and o.failing_records == []
    assert o.status == "ERROR"
    with pytest.raises(QualityGateFailed, match="ERROR"):
        gate([o])


def test_gx_crash_errors_every_check_of_the_frame(con, monkeypatch):
    from great_expectations.datasource.fluent.interfaces import Batch

    def boom(self, *a, **k):
        raise RuntimeError("GX exploded")

    monkeypatch.setattr(Batch, "validate", boom)
    outs = run_checks(con, "adam.adsl", "r")
    assert outs and all(o.error and "GX exploded" in o.error and not o.passed for o in outs)


def test_sibling_rules_survive_an_erroring_rule(con):
    good = _rule("adam.adsl.siteid.not_null")
    bad = dataclasses.replace(good, name="adam.adsl.bad_kwargs", kwargs={"column": "SITEID", "bogus": 1})
    outs = {o.name: o for o in run_rules(con, [good, bad], "r")}
    assert outs["adam.adsl.siteid.not_null"].passed and outs["adam.adsl.siteid.not_null"].error is None
    assert outs["adam.adsl.bad_kwargs"].error


def test_missing_table_errors_clearly(con):
    con.execute("drop table marts.fct_infusion")
    outs = run_checks(con, "marts.fct_infusion", "r")
    assert outs and all(not o.passed and o.error and "fct_infusion" in o.error for o in outs)
    con.execute("drop table raw.lab")
    outs = run_checks(con, "raw.lab", "r")
    assert all(o.error and "raw.lab" in o.error and not o.passed for o in outs)  # schema check included


def test_null_ok_is_refused(con):
    null_ok = make_rule(
        "staging.stg_crs",
        "null_ok",
        category="plausibility",
        subcategory="temporal",
        severity="critical",
        max_failing_share=0.0,
        reason="test",
        query="select site_code, record_id, cast(null as boolean) as ok from staging.stg_crs",
    )
    (o,) = run_rules(con, [null_ok], "r")
    assert o.error and "NULL ok" in o.error


def test_failing_records_carry_identifiers_only(con):
    con.execute("update raw.death set _valid_to_month = '2099-01'")
    (o,) = [o for o in run_checks(con, "raw.death", "r") if o.name == "raw.death.current_iff_open_validity"]
    assert not o.passed
    assert all(set(k) == {"site_code", "record_id", "_version"} for k in o.failing_keys)
    assert "free text" not in repr(o.failing_keys)


def test_persist_results_counts(con):
    con.execute("update staging.stg_death set death_date = death_date - 500 where site_code = 'S01'")
    outs = run_checks(con, "staging.stg_death", "run-1")
    n = persist_results(con, outs, "run-1", data_month="2025-06")
    rows = con.sql(
        f"select site_code, rows_checked, rows_failing, passed, severity, category, layer "
        f"from {C.DQ_RESULTS} where check_name = '{DEATH_AFTER_INF}' order by site_code"
    ).fetchall()
    # 12 patients, deaths for patients 0, 4, 8 -> S01, S02, S03 one each; S01's broken
    assert rows == [
        ("ALL", 3, 1, False, "critical", "plausibility", "staging"),
        ("S01", 1, 1, False, "critical", "plausibility", "staging"),
        ("S02", 1, 0, True, "critical", "plausibility", "staging"),
        ("S03", 1, 0, True, "critical", "plausibility", "staging"),
    ]
    assert n == con.sql(f"select count(*) from {C.DQ_RESULTS} where run_id = 'run-1'").fetchall()[0][0]
    assert con.sql(
        f"select site_code, record_key from {C.DQ_FAILING_RECORDS} where check_name = '{DEATH_AFTER_INF}'"
    ).fetchall() == [("S01", "site_code=S01; record_id=dea-0000")]
    # re-running the same check in the same run replaces, never duplicates
    persist_results(con, outs, "run-1", data_month="2025-06")
    assert n == con.sql(f"select count(*) from {C.DQ_RESULTS} where run_id = 'run-1'").fetchall()[0][0]
    # errors are persisted as such
    con.execute("drop table staging.stg_crs")
    errs = run_checks(con, "staging.stg_crs", "run-1")
    persist_results(con, errs, "run-1")
    st = con.sql(f"select distinct status, passed from {C.DQ_RESULTS} where table_name = 'staging.stg_crs'").fetchall()
    assert st == [("ERROR", False)]


def test_every_rule_states_category_severity_threshold_reason():
    for r in all_rules():
        r.validate()
    assert {r.layer for r in all_rules()} == set(C.LAYERS)
    assert {r.category for r in all_rules()} == set(C.CATEGORIES)
    assert any(r.source == "dictionary" for r in all_rules()) and any(r.source == "hand" for r in all_rules())
    assert len(rules_for_table("raw.lab")) > 3


def test_raw_gate_does_not_rerun_ingest_row_checks():
    """Ingest validates every row against the dictionary and quarantines what fails: the raw gate checks only the
    schema and the version history, all rules of a table in one frame (one GX validation)."""
    linkage = {"complete_through_per_source", "complete_through_by_return_month", "patient_key_registered"}
    kinds = {r.name.rsplit(".", 1)[1] for r in all_rules() if r.layer == "raw"}
    assert (
        kinds
        == {"column_types", "version_key_unique", "one_current_version", "current_iff_open_validity"}
        | {"registry_not_empty"}
        | linkage
    )
    # the linkage gate's own rules look across rows and tables (per source; against raw.registration, the
    # invariant behind ingest's unregistered_patient quarantine), on the linkage tables only
    assert all(r.table.startswith("raw.linkage_") for r in all_rules() if r.name.rsplit(".", 1)[1] in linkage)
    for table in {r.table for r in all_rules() if r.layer == "raw"}:
        frames = {
            r.frame_sql()
            for r in rules_for_table(table)
            if not r.name.endswith("registry_not_empty") and r.name.rsplit(".", 1)[1] not in linkage
        }
        assert len(frames) == 1, table


def test_shared_frame_counts_each_rule_on_its_own_rows(con):
    """One frame, one column per rule, NULL where a rule does not look: counts are per rule, as if run alone."""
    con.execute("update raw.death set _is_current = false where site_code = 'S01'")
    outs = {o.name.rsplit(".", 1)[1]: o for o in run_checks(con, "raw.death", "r")}
    n_rows = con.sql("select count(*) from raw.death").fetchall()[0][0]
    n_records = con.sql("select count(distinct (site_code, record_id)) from raw.death").fetchall()[0][0]
    assert outs["version_key_unique"].passed and outs["version_key_unique"].rows_checked == n_rows
    one = outs["one_current_version"]
    assert not one.passed and one.rows_checked == n_records and one.failing_sites == ["S01"]
    assert all(set(k) == {"site_code", "record_id"} for k in one.failing_keys)
    assert outs["column_types"].passed and outs["column_types"].by_site == []


def test_dagster_check_names_unique_per_table():
    import re
    from collections import Counter

    names = Counter((r.table, r.check_name) for r in all_rules())
    assert max(names.values()) == 1
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", r.check_name) for r in all_rules())


def test_rules_name_the_tables_they_read():
    r = _rule("staging.stg_death.no_visit_after_death")
    assert r.reads[0] == "staging.stg_death"
    assert {"staging.stg_lab", "staging.stg_response", "staging.stg_crs"} <= set(r.reads)
    assert _rule("adam.adsl.age_range").reads == ("adam.adsl",)


def test_raw_type_rules_agree_with_the_loader_schema():
    """Contract with kocartr.ingest: the raw tables it creates pass the generated column-type checks."""
    import duckdb

    ingest_wh = pytest.importorskip("kocartr.ingest.warehouse")
    from kocartr.dictionary import load_dictionary

    con = duckdb.connect()
    ingest_wh.ensure_tables(con, load_dictionary())
    rules = [r for r in all_rules() if r.name.endswith(".column_types")]
    outs = run_rules(con, rules, "contract")
    assert len(outs) == len(load_dictionary().forms)
    assert all(o.passed and o.error is None for o in outs), [o.describe() for o in outs if not o.passed]


def test_clinical_values_come_from_the_seeds():
    """The late-onset day and the ICE / CAPD bands are read from data/config, not written in the suites."""
    from expectations.config import clinical_threshold, score_bands

    late = int(clinical_threshold("crs_icans_late_onset_day"))
    assert f"ASTDY <= {late}" in _rule("adam.adae.late_onset").query
    assert f"<= {late}" in _rule("staging.stg_crs.late_onset").query
    sql = _rule("staging.stg_icans.grade_matches_ice_and_domains").query
    assert all(f"between {lo} and {hi} then {g}" in sql for lo, hi, g in score_bands("ICE"))


def test_stacked_ok_frames_give_each_rule_its_own_outcome(con):
    """A table's `ok` frames are validated together; each outcome equals the rule's outcome run alone."""
    con.execute("update staging.stg_death set death_date = death_date - 500 where site_code = 'S01'")
    rules = [r for r in rules_for_table("staging.stg_death") if r.kwargs.get("column") == "ok"]
    assert len(rules) > 2
    together = {o.name: o for o in run_rules(con, rules, "r")}
    for rule in rules:
        (alone,) = run_rules(con, [rule], "r")
        both = together[rule.name]
        assert (both.passed, both.rows_checked, both.rows_failing, both.by_site, both.failing_keys) == (
            alone.passed,
            alone.rows_checked,
            alone.rows_failing,
            alone.by_site,
            alone.failing_keys,
        ), rule.name
    assert any(not o.passed for o in together.values())


@pytest.mark.parametrize("distinct_rows", [0, None])
def test_a_table_is_validated_on_one_frame_and_each_rule_as_if_alone(con, monkeypatch, distinct_rows):
    """All rules of adam.adtte (not-null and compound-unique on the table, `ok` queries of other lengths) run on
    one GX frame of every row: COMPLETE for the rules with a threshold, the verdict alone (BOOLEAN_ONLY) for the
    rules allowed no failing row, then COMPLETE for exactly those of them that failed. On a frame of at least
    DISTINCT_ROWS rows (here: any, with 0) the column-map rules among them get their verdict on a frame of their
    columns' distinct values (a few rows) instead. Each outcome equals the rule's outcome run alone."""
    from expectations import runner

    if distinct_rows is not None:
        monkeypatch.setattr(runner, "DISTINCT_ROWS", distinct_rows)
    from great_expectations.datasource.fluent.interfaces import Batch

    con.execute("update adam.adtte set AVAL = null where PARAMCD = 'OS' and SITEID = 'S01'")
    con.execute("update adam.adtte set ENTRYT = -1 where PARAMCD = 'PFS'")
    rules = rules_for_table("adam.adtte")
    assert {r.expectation for r in rules} >= {"ExpectColumnValuesToNotBeNull", "ExpectCompoundColumnsToBeUnique"}
    calls = []
    validate = Batch.validate

    def recording(self, suite, *a, **k):
        names = {e.meta["rule"] for e in suite.expectations}
        df = self.data.dataframe
        calls.append((id(df), len(df), k["result_format"]["result_format"], names))
        return validate(self, suite, *a, **k)

    monkeypatch.setattr(Batch, "validate", recording)
    together = {o.name: o for o in run_rules(con, rules, "r")}
    rows = con.sql("select count(*) from adam.adtte").fetchall()[0][0]
    zero = {r.name for r in rules if r.max_failing_share == 0}
    unique = {r.name for r in rules if r.expectation == "ExpectCompoundColumnsToBeUnique"}
    assert unique and unique <= zero
    full = [c for c in calls if c[1] == rows]
    assert len({frame for frame, *_ in full}) == 1
    assert [(fmt, names) for _, _, fmt, names in full] == [
        ("COMPLETE", {r.name for r in rules} - zero),
        ("BOOLEAN_ONLY", unique if distinct_rows == 0 else zero),
        ("COMPLETE", {n for n in zero if not together[n].passed}),
    ]
    distinct = [c for c in calls if c[1] != rows]
    if distinct_rows == 0:
        ((_, n, fmt, names),) = distinct
        assert (fmt, names) == ("BOOLEAN_ONLY", zero - unique) and n <= 3  # True, False, NULL at most
    else:
        assert rows < runner.DISTINCT_ROWS and distinct == []
    failed = {n for n, o in together.items() if not o.passed}
    assert {"adam.adtte.aval.not_null", "adam.adtte.entry_nonnegative"} <= failed
    _assert_each_as_if_alone(con, rules, together)


def test_failing_keys_read_as_pandas_reads_the_whole_frame(con):
    """Identifiers are taken from Arrow for the failing rows only, yet keep the values the whole frame has in
    pandas: an integer identifier with NULLs elsewhere in the frame reads as a float (1.0), a date as ISO text."""
    odd = make_rule(
        "staging.stg_crs",
        "odd_ids",
        category="plausibility",
        subcategory="temporal",
        severity="critical",
        reason="test",
        query="select site_code, record_id, case when record_id <> (select min(record_id) from staging.stg_crs) "
        "then 1 end as n, onset_date, record_id = (select min(record_id) from staging.stg_crs) as ok "
        "from staging.stg_crs",
        id_columns=("site_code", "n", "onset_date"),
    )
    (o,) = run_rules(con, [odd], "r")
    frame = con.sql(odd.query).to_arrow_table().to_pandas()  # how the runner read whole frames before
    assert frame["n"].dtype == "float64"
    expected = [
        {"site_code": r.site_code, "n": float(r.n), "onset_date": r.onset_date.isoformat()}
        for r in frame[~frame["ok"]].itertuples()
    ]
    assert o.rows_failing == len(expected) > 0
    assert sorted(map(str, o.failing_keys)) == sorted(map(str, expected))
    assert all(isinstance(k["n"], float) for k in o.failing_keys)


def test_layout_pads_only_ok_frames_and_never_past_a_counted_frame():
    """Frames whose rules count NULLs (not-null) fix a validation's length; `ok` frames join the shortest one they
    fit in, and those longer than all of them run together on their own."""
    import pyarrow as pa

    from expectations.frames import Member, layout

    not_null = _rule("staging.stg_baseline.ecog.site_completeness")
    ok = _rule(DEATH_AFTER_INF)

    def member(rule, n, kind):
        values = pa.array([True] * n) if kind == "bool" else pa.array(range(n))
        return Member([rule], pa.table({"i": pa.array(range(n))}), pa.table({"c": values}))

    fixed5, fixed3 = member(not_null, 5, "int"), member(not_null, 3, "int")
    ok2, ok4, ok7 = (member(ok, n, "bool") for n in (2, 4, 7))
    assert not fixed5.paddable and ok2.paddable
    groups = layout([ok2, fixed5, ok7, fixed3, ok4])
    assert [[m.n for m in g] for g in groups] == [[5, 4], [3, 2], [7]]


def test_an_ok_frame_longer_than_its_table_runs_apart_with_the_same_outcome(con):
    """An `ok` query returning more rows than the table frame (here each record twice) cannot be padded under a
    not-null rule's frame: it gets a validation of its own, and every outcome is the rule's alone."""
    twice = make_rule(
        "staging.stg_baseline",
        "twice",
        category="plausibility",
        subcategory="temporal",
        severity="warning",
        max_failing_share=0.5,
        reason="test",
        query="select site_code, record_id, ecog is not null as ok from staging.stg_baseline, (values (1), (2))",
    )
    con.execute("update staging.stg_baseline set ecog = null where site_code = 'S02'")
    rules = [*rules_for_table("staging.stg_baseline"), twice]
    together = {o.name: o for o in run_rules(con, rules, "r")}
    assert together[twice.name].rows_checked == 2 * together["staging.stg_baseline.ecog.site_completeness"].rows_checked
    _assert_each_as_if_alone(con, rules, together)
    assert together[twice.name].rows_failing > 0


def _outcome(o) -> tuple:
    return (o.passed, o.rows_checked, o.rows_failing, o.by_site, sorted(map(str, o.failing_keys)))


def _assert_each_as_if_alone(con, rules, together: dict) -> None:
    """Each rule's outcome in its table's one validation equals the outcome of the rule run alone."""
    for rule in rules:
        (alone,) = run_rules(con, [rule], "r")
        assert _outcome(together[rule.name]) == _outcome(alone), rule.name


def test_raw_version_frame_equals_one_window_over_every_record(con):
    """The raw version rules' frame runs the window only over records of several rows (found by hashed key) and
    computes a one-row record's values without it; on odd histories (NULL keys, versions and flags, duplicate keys,
    three versions) every row's values equal those of one window over every record, the rules' definition."""
    rows = [
        ("S01", None, 1, True, None),
        ("S01", None, 1, True, None),
        (None, "n1", 1, True, None),
        ("S01", "v1", None, True, None),
        ("S01", "v2", 1, None, None),
        ("S01", "v3", 1, False, "2025-03"),
        ("S01", "v3", 2, False, "2025-04"),
        ("S01", "v3", 3, True, None),
        ("S02", "v4", 1, True, None),
        ("S02", "v4", 1, True, None),
        ("S02", "v5", 1, True, None),
        ("S02", "v5", None, True, None),
        ("S03", "v6", 2, True, "2025-05"),
        ("S03", "v7", 1, False, "2025-01"),
        ("S03", "v8", 2, True, None),
        ("S03", "v8", 1, True, None),
    ]
    con.executemany(
        "insert into raw.death (site_code, record_id, _version, _is_current, _valid_to_month) values (?, ?, ?, ?, ?)",
        rows,
    )
    whole = "rows between unbounded preceding and unbounded following"
    definition = f"""select site_code, record_id, _version,
           count(*) over (w range between current row and current row) = 1 as ok_version_key_unique,
           case when row_number() over w = 1 then count(*) filter (where _is_current) over (w {whole}) = 1 end
               as ok_one_current_version,
           coalesce(_is_current = (_valid_to_month is null)
                    and (not _is_current or _version = max(_version) over (w {whole})), false)
               as ok_current_iff_open_validity
        from raw.death window w as (partition by site_code, record_id order by _version)"""
    frame = f"""select site_code, record_id, _version, ok_version_key_unique, ok_one_current_version,
           ok_current_iff_open_validity from ({_rule("raw.death.version_key_unique").frame_sql()})
        where column_name is null"""
    failing = con.sql(f"select count(*) from ({definition}) where not ok_current_iff_open_validity").fetchall()
    assert failing[0][0] >= 4  # the odd rows are there and some fail
    for a, b in ((frame, definition), (definition, frame)):
        assert con.sql(f"select count(*) from (({a}) except all ({b}))").fetchall() == [(0,)]
    assert con.sql(f"select count(*) from ({frame})").fetchall() == con.sql("select count(*) from raw.death").fetchall()


def test_a_column_without_distinct_values_gets_its_verdict_on_every_row(con):
    """Arrow has no distinct kernel for list columns: such a rule's verdict runs on the frame of every row."""
    lists = make_rule(
        "staging.stg_crs",
        "lists",
        category="completeness",
        subcategory="atemporal",
        severity="critical",
        reason="test",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "l"},
        query="select site_code, record_id, case when astct_grade > 1 then [astct_grade] end as l from staging.stg_crs",
    )
    (o,) = run_rules(con, [lists], "r")
    n, nulls = con.sql(
        "select count(*), count(*) filter (where astct_grade <= 1 or astct_grade is null) from staging.stg_crs"
    ).fetchall()[0]
    assert o.error is None and o.rows_checked == n and o.rows_failing == nulls > 0 and not o.passed
