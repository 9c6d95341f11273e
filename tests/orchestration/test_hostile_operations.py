"""An unlucky operator's mistakes: each is refused at once, in one line on stderr, with
exit 2 (a bad argument) or 1 (nothing to publish); never a traceback, never a half-written output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from kocartr.cli import main


def _refused(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _warehouse(path: Path) -> Path:
    duckdb.connect(str(path)).close()
    return path


def test_a_file_given_as_submissions(tmp_path, capsys):
    listing = tmp_path / "files.csv"
    listing.write_text("site_code\nS01\n", encoding="utf-8")
    line = _refused(
        capsys,
        [
            "run",
            "--submissions",
            str(listing),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--release-dir",
            str(tmp_path / "rel"),
            "--demo",
        ],
    )
    assert "is a file" in line
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize("case", ["folder", "not_duckdb", "parent_is_a_file"])
def test_a_warehouse_path_that_cannot_be_a_warehouse(tmp_path, capsys, case):
    (tmp_path / "subs").mkdir()
    if case == "folder":
        warehouse, expected = tmp_path / "wh", "is a folder"
        warehouse.mkdir()
    elif case == "not_duckdb":
        warehouse, expected = tmp_path / "w.duckdb", "not a DuckDB database"
        warehouse.write_text("site_code,patient_id\n", encoding="utf-8")
    else:
        (tmp_path / "plain").write_text("x", encoding="utf-8")
        warehouse, expected = tmp_path / "plain" / "w.duckdb", "is a file, not a folder"
    line = _refused(
        capsys,
        [
            "run",
            "--submissions",
            str(tmp_path / "subs"),
            "--warehouse",
            str(warehouse),
            "--release-dir",
            str(tmp_path / "rel"),
            "--demo",
        ],
    )
    assert expected in line
    assert not (tmp_path / "rel").exists()


@pytest.mark.parametrize(
    "cutoff,expected",
    [("2026-10-3", "not a date"), ("31/10/2026", "not a date"), ("2026-10-30", "not the last day of a registry month")],
)
def test_release_with_a_malformed_cutoff(tmp_path, capsys, cutoff, expected):
    wh = _warehouse(tmp_path / "w.duckdb")
    line = _refused(capsys, ["release", "--warehouse", str(wh), "--cutoff", cutoff, "--out", str(tmp_path / "r")])
    assert expected in line
    assert not (tmp_path / "r").exists()


def test_release_of_an_existing_cutoff(tmp_path, capsys):
    wh = _warehouse(tmp_path / "w.duckdb")
    (tmp_path / "r" / "2026-10-31").mkdir(parents=True)
    line = _refused(capsys, ["release", "--warehouse", str(wh), "--cutoff", "2026-10-31", "--out", str(tmp_path / "r")])
    assert "exists; releases are immutable" in line


def test_release_of_an_empty_registry_is_refused(tmp_path, capsys):
    wh = tmp_path / "w.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("create schema adam; create table adam.adsl (USUBJID varchar)")
    con.close()
    line = _refused(
        capsys, ["release", "--warehouse", str(wh), "--cutoff", "2026-10-31", "--out", str(tmp_path / "r")], code=1
    )
    assert "0 patients" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", ["queries", "release"])
def test_a_missing_warehouse(tmp_path, capsys, command):
    missing = str(tmp_path / "nope.duckdb")
    argv = (
        ["queries", "--site", "S01", "--out", str(tmp_path / "q.xlsx"), "--warehouse", missing]
        if command == "queries"
        else ["release", "--warehouse", missing, "--cutoff", "2026-10-31", "--out", str(tmp_path / "r")]
    )
    assert "does not exist" in _refused(capsys, argv)


def test_refusals_are_one_line_in_a_real_process_too(tmp_path):
    """The installed entry point, not only main(): exit 2, one stderr line, no traceback."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "kocartr.cli",
            "queries",
            "--site",
            "S01",
            "--out",
            str(tmp_path / "q.xlsx"),
            "--warehouse",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "is a folder" in res.stderr and "Traceback" not in res.stderr


HOLD = (
    "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); print('held', flush=True); "
    "time.sleep(120)"
)


def test_a_reader_holding_the_warehouse_is_named_at_once(tmp_path, capsys):
    """An investigator's read-only connection blocks DuckDB's one writer: the run waits at most --lock-wait, then
    exits 2 in one line naming the holder's PID and pointing to the release files."""
    (tmp_path / "subs").mkdir()
    wh = _warehouse(tmp_path / "w.duckdb")
    reader = subprocess.Popen([sys.executable, "-c", HOLD, str(wh)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "held"
        started = time.monotonic()
        line = _refused(
            capsys,
            [
                "run",
                "--submissions",
                str(tmp_path / "subs"),
                "--warehouse",
                str(wh),
                "--release-dir",
                str(tmp_path / "rel"),
                "--demo",
                "--lock-wait",
                "1.5",
            ],
        )
        waited = time.monotonic() - started
    finally:
        reader.kill()
        reader.wait()
    assert 1.5 <= waited < 10
    assert f"PID {reader.pid}" in line and "waited 1.5 s" in line and "release files" in line
    assert not (tmp_path / "rel").exists()


def test_nothing_ingested_from_a_tree_with_files_publishes_nothing(tmp_path, capsys, monkeypatch):
    """Files that are all rejected (no registration row) leave an empty registry: no release, exit 1, one line."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the run's Dagster instance stays under tmp_path
    month = tmp_path / "subs" / "S01" / "2024-01"
    month.mkdir(parents=True)
    (month / "notes.txt").write_text("not a form\n", encoding="utf-8")
    (month / "lab_results_final.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    wh, rel = tmp_path / "w.duckdb", tmp_path / "rel"
    assert (
        main(
            [
                "run",
                "--submissions",
                str(tmp_path / "subs"),
                "--warehouse",
                str(wh),
                "--release-dir",
                str(rel),
                "--demo",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    stopped = [line for line in out.splitlines() if line.startswith("STOPPED")]
    assert len(stopped) == 1 and "0 patients registered" in stopped[0] and "2 files found" in stopped[0]
    assert "OK:" not in out
    assert not rel.exists() or not any(rel.iterdir())
    assert (tmp_path / "dagster_home" / "dagster.yaml").is_file()
