"""The quiet terminal: progress while a long step runs (in place on a terminal, periodic lines in a pipe), and a
summary that names every warning, failure and its next step, the release fingerprint and every analysis table."""

from __future__ import annotations

import io

import duckdb
import pytest

from orchestration import progress


class _Terminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def terminal(monkeypatch):
    def make(tty: bool) -> _Terminal:
        stream = _Terminal(tty)
        monkeypatch.setattr(progress, "_terminal", stream)
        monkeypatch.setattr(progress, "_pending_status", False)
        return stream

    return make


def _dbt_step(tracker: progress.StepProgress, models: int, tests: int) -> None:
    tracker.event("dbt_core", "STEP_START")
    for _ in range(models):
        tracker.event("dbt_core", "ASSET_MATERIALIZATION")
    for _ in range(tests):
        tracker.event("dbt_core", "ASSET_CHECK_EVALUATION")


def test_on_a_terminal_progress_is_one_line_rewritten_in_place(terminal):
    stream = terminal(tty=True)
    tracker = progress.StepProgress({"dbt_core": {"tables": 32, "checks": 129}})
    _dbt_step(tracker, models=3, tests=2)
    progress.say("  ok      dbt_core")
    text = stream.getvalue()
    assert text.count("\n") == 1  # only the step's final line ends a line
    assert "\r\033[K" in text and "3/32 tables, 2/129 checks" in text
    assert text.endswith("\r\033[K  ok      dbt_core\n")  # the progress line is cleared first


def test_in_a_pipe_progress_lines_come_periodically(terminal):
    stream = terminal(tty=False)
    _dbt_step(progress.StepProgress({"dbt_core": {"tables": 32}}, periodic=3600), models=30, tests=0)
    assert stream.getvalue() == ""  # a short step: no progress lines at all, only its final line later
    _dbt_step(progress.StepProgress({"dbt_core": {"tables": 32}}, periodic=0), models=2, tests=0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "2/32 tables" in lines[-1] and "\r" not in stream.getvalue()


def test_a_steps_own_progress_is_a_few_messages_not_one_per_file():
    messages: list[str] = []

    class Log:
        def info(self, message: str) -> None:
            messages.append(message)

    report = progress.ProgressLog(Log(), "files")
    for done in range(1, 20_001):
        report(done, 20_000)
    assert len(messages) <= 100 // progress.ProgressLog.PERCENT_STEP + 1
    assert messages[-1] == "progress: 20000/20000 files"

    tracker = progress.StepProgress({}, periodic=0)
    tracker.event("site_submissions", "STEP_START")
    tracker.event("site_submissions", "", messages[3])
    assert tracker.counts["site_submissions"]["files"] == int(messages[3].split()[1].split("/")[0])
    assert tracker.expected["site_submissions"] == {"files": 20_000}


def test_progress_line_names_counts_against_totals():
    line = progress.progress_line("dbt_core", {"tables": 5, "checks": 7}, {"tables": 32}, 65)
    assert line.split() == ["...", "dbt_core", "5/32", "tables,", "7", "checks", "1m", "05s"]


def _warehouse(path) -> None:
    con = duckdb.connect(str(path))
    for schema in ("adam", "analysis"):
        con.execute(f"create schema {schema}")
    con.execute("create table adam.adsl as select 1 as x")
    for table in ("survival_estimates", "event_rates", "a_new_analysis"):
        con.execute(f"create table analysis.{table} as select * from range(3)")
    con.close()


def test_the_summary_names_warnings_failures_next_steps_release_and_every_analysis_table(tmp_path):
    from orchestration.runner import CheckLine, PipelineResult, StageResult
    from orchestration.summary import NEXT_STEP, NEXT_WARNING, format_summary

    warehouse = tmp_path / "warehouse.duckdb"
    _warehouse(warehouse)
    release = tmp_path / "releases" / "2024-06-30"
    release.mkdir(parents=True)
    monthly = StageResult(
        job="monthly_dataset",
        success=False,
        partition="2024-06",
        checks=[CheckLine("staging/stg_lab", "lab_unit_known", False, "WARN", False, "3/40 rows failing")],
        failed_steps=["outcome_analyses"],
        errors={"outcome_analyses": "division by zero"},
        metadata={"release/monthly_release": {"state": "published", "tables_sha256": "ab" * 32}},
    )
    text = format_summary(PipelineResult(month="2024-06", stages=[monthly], release_path=str(release)), warehouse)
    assert "warn staging/stg_lab :: lab_unit_known: 3/40 rows failing" in text and NEXT_WARNING in text
    assert "outcome_analyses: division by zero" in text and NEXT_STEP in text
    assert f"release: {release}" in text and f"fingerprint (tables_sha256) {'ab' * 32}" in text
    rows = next(line for line in text.splitlines() if line.startswith("rows: "))
    for table in ("adam.adsl 1", "analysis.survival_estimates 3", "analysis.event_rates 3", "analysis.a_new_analysis"):
        assert table in rows


def test_summary_says_what_the_linkage_returns_hold(tmp_path):
    """The run summary's linkage line: current records per linkage form, rows quarantined, each national source's
    latest completeness date; a registry without returns says so."""
    from kocartr.ingest import ingest, patient_key
    from orchestration.summary import linkage_line
    from tests.ingest.helpers import KEY, clean_rows, csv_text, write

    root = tmp_path / "submissions"
    write(root, "S01/2026-05/registration.csv", csv_text(clean_rows("registration", 1)))
    death = clean_rows("linkage_death", 2, site="LINKAGE")
    death[0].update(patient_key=patient_key(KEY, "S01", "P00001"), death_date="2026-03-02")
    death[1].update(patient_key=patient_key(KEY, "S01", "P09999"), death_date="2026-03-02")  # not registered
    write(root, "LINKAGE/2026-05/linkage_death.csv", csv_text(death))
    comp = clean_rows("linkage_completeness", 2, site="LINKAGE")
    for row, (src, day) in zip(comp, (("DEATH_STATISTICS", "2026-03-31"), ("CANCER_REGISTRY", "2025-11-30"))):
        row.update(record_id=f"{src}-2026-05", linkage_source=src, complete_through=day)
    write(root, "LINKAGE/2026-05/linkage_completeness.csv", csv_text(comp))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        assert linkage_line(con) == "linkage: no national linkage returns"
        ingest(con, root, KEY)
        line = linkage_line(con)
    finally:
        con.close()
    assert line == (
        "linkage: linkage_death 1, linkage_cancer 0 records; 1 rows quarantined; "
        "complete through CANCER_REGISTRY 2025-11-30, DEATH_STATISTICS 2026-03-31"
    )


def test_summary_counts_the_rows_of_rejected_files(tmp_path):
    """A rejected file's rows are not among the rows received: the ingest line says how many were read before the
    rejection, and how many files were never read into rows."""
    from kocartr.ingest import ingest
    from orchestration.summary import _rejected
    from tests.ingest.helpers import KEY, clean_rows, csv_text, write

    root = tmp_path / "submissions"
    write(root, "S01/2026-05/registration.csv", csv_text(clean_rows("registration", 1)))
    write(root, "S02/2026-05/lab.csv", csv_text(clean_rows("lab", 3)))  # every row names S01: wrong folder
    write(root, "S01/2026-05/death.csv", b"")  # empty: nothing read
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        ingest(con, root, KEY)
        assert _rejected(con) == "2 files rejected (3 rows read, 1 not read)"
        con.execute("alter table audit.file_rejects drop column rows_read")  # a warehouse from before the column
        assert _rejected(con) == "2 files rejected"
    finally:
        con.close()
