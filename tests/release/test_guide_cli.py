"""The investigator guide shipped in each release: its example queries run; column descriptions; the CLI."""

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
from release_helpers import CUTOFF, warehouse_variant

from kocartr.release import verify_release
from kocartr.release.__main__ import main
from kocartr.release.publish import RELEASE_DB


def test_guide_sql_examples_run(published: Path):
    text = (published / "README.md").read_text(encoding="utf-8")
    assert CUTOFF.isoformat() in text and "read_parquet" in text and "duckdb -readonly" in text
    sql_blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    assert sql_blocks
    con = duckdb.connect(str(published / RELEASE_DB), read_only=True)
    try:
        for stmt in (s.strip() for b in sql_blocks for s in b.split(";")):
            if stmt:
                assert con.sql(stmt).fetchall() is not None, stmt
    finally:
        con.close()


def test_guide_python_polars_example_runs(published: Path):
    text = (published / "README.md").read_text(encoding="utf-8")
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    cwd = os.getcwd()
    os.chdir(published)
    try:
        ns: dict = {}
        exec(block, ns)  # noqa: S102 - our own documentation
        # one OS row per infused patient (ADSL: every patient with an order) and a non-empty query result
        infused = ns["adsl"].filter(ns["adsl"]["INFFL"] == "Y").height
        assert ns["os_"].height == infused > 0 and ns["adsl"].height >= infused and len(ns["df"]) > 0
    finally:
        os.chdir(cwd)


def test_columns_have_descriptions(published: Path):
    with open(published / "columns.csv", encoding="utf-8") as fh:
        rows = {(r["schema"], r["table"], r["column"]): r["description"] for r in csv.DictReader(fh)}
    assert "pseudonym" in rows[("adam", "adsl", "USUBJID")]
    assert rows[("marts", "fct_infusion", "infusion_date")]  # the dbt docs, persisted as a DuckDB comment
    described = sum(1 for v in rows.values() if v)
    assert described / len(rows) > 0.7


def test_release_without_analysis_tables_still_builds(tmp_path: Path, warehouse: Path):
    wh = warehouse_variant(
        warehouse,
        tmp_path / "wh.duckdb",
        [
            "DROP TABLE analysis.survival_estimates",
            "DROP TABLE analysis.cumulative_incidence",
            "DROP TABLE analysis.proportions",
        ],
    )
    assert main(["--warehouse", str(wh), "--cutoff", CUTOFF.isoformat(), "--out", str(tmp_path / "out")]) == 0
    rel = tmp_path / "out" / CUTOFF.isoformat()
    assert verify_release(rel) == []
    assert main(["--verify", str(rel)]) == 0


def test_module_cli(tmp_path: Path, published: Path):
    res = subprocess.run(
        [sys.executable, "-m", "kocartr.release", "--list", str(published.parent)], capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.strip() == str(published)
    res = subprocess.run(
        [sys.executable, "-m", "kocartr.release", "--verify", str(published)], capture_output=True, text=True
    )
    assert res.returncode == 0 and "OK" in res.stdout


def test_guide_lifelines_example_uses_entry_times_and_runs_without_warnings(published: Path):
    import warnings

    text = (published / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "lifelines" in b)
    assert "entry=d.ENTRYT" in block and "PREENTFL == 'N'" in block
    cwd = os.getcwd()
    os.chdir(published)
    try:
        ns: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(block.replace("print(", "_ = ("), ns)  # noqa: S102 - our own documentation
        assert ns["km"].event_observed.sum() > 0
    finally:
        os.chdir(cwd)


def test_guide_r_example_runs_without_warnings(published: Path, tmp_path: Path):
    import shutil

    import pytest

    if shutil.which("Rscript") is None:
        pytest.skip("R is not installed (Rscript not on PATH): the R example is checked where R is available")
    text = (published / "README.md").read_text(encoding="utf-8")
    block = re.findall(r"```r\n(.*?)```", text, re.S)[0]  # verbatim: it reads the release's own CSV
    script = tmp_path / "guide.R"
    script.write_text("options(warn = 2)\n" + block, encoding="utf-8")
    res = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, cwd=published)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "survival" in res.stdout or "n.risk" in res.stdout
