"""Kill-safety for real: a release build in a subprocess is SIGKILLed at every stage and at random moments; no
partial release is ever visible, earlier releases still verify, and the next build cleans up and succeeds.
Also: the release DuckDB opens read-only in two processes while another release is being built."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from release_fixture import build_fixture_warehouse

from kocartr.release import list_releases, publish_release, verify_release
from kocartr.release.publish import RELEASE_DB, STAGE_DELAY_ENV

EARLIER, CUTOFF = date(2026, 9, 30), date(2026, 10, 31)
BUILD = (
    "import sys; from datetime import date; from kocartr.release import publish_release; "
    "publish_release(sys.argv[1], date.fromisoformat(sys.argv[2]), sys.argv[3])"
)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("kill")
    old = build_fixture_warehouse(base / "old.duckdb", EARLIER, n_patients=40, seed=3)
    new = build_fixture_warehouse(base / "new.duckdb", CUTOFF, n_patients=40, seed=4)
    out = base / "releases"
    earlier = publish_release(old, EARLIER, out)
    return {
        "out": out,
        "earlier": earlier,
        "warehouse": new,
        "earlier_manifest": (earlier / "manifest.json").read_bytes(),
    }


def _start(setup, delay: str | None):
    env = dict(os.environ)
    env.pop(STAGE_DELAY_ENV, None)
    if delay:
        env[STAGE_DELAY_ENV] = delay
    return subprocess.Popen(
        [sys.executable, "-c", BUILD, str(setup["warehouse"]), CUTOFF.isoformat(), str(setup["out"])],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )


def _assert_consistent(setup) -> bool:
    """The invariant after any kill. Returns whether the new release was published (complete)."""
    out, earlier = setup["out"], setup["earlier"]
    assert verify_release(earlier) == []
    assert (earlier / "manifest.json").read_bytes() == setup["earlier_manifest"]
    new = out / CUTOFF.isoformat()
    visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
    if new.exists():
        assert verify_release(new) == [], "a visible release must be complete and verified"
        assert list_releases(out) == [earlier, new]
        assert sorted(visible) == [EARLIER.isoformat(), CUTOFF.isoformat()]
        return True
    assert list_releases(out) == [earlier]
    assert visible == [EARLIER.isoformat()]
    return False


def _remove_new(setup):
    new = setup["out"] / CUTOFF.isoformat()
    if new.exists():
        for root, _dirs, _files in os.walk(new):
            os.chmod(root, 0o755)
        shutil.rmtree(new)


STAGES = [
    "start",
    "copied marts.dim_patient",
    "copied adam.adtte",
    "regulatory",
    "parquet adam.adsl",
    "parquet regulatory.mfds_ltfu_status",
    "workbook",
    "figures",
    "report",
    "manifest",
    "verified",
    "published",
]


@pytest.mark.parametrize("stage", STAGES)
def test_kill_at_each_stage(setup, stage):
    proc = _start(setup, "0.02")
    seen = []
    for line in proc.stderr:
        seen.append(line.strip())
        if line.strip() == f"release-stage {stage}":
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, seen
    published = _assert_consistent(setup)
    assert published == (stage == "published"), (stage, seen[-3:])
    if not published:  # the killed build left its scratch folder, invisible to readers
        assert list(setup["out"].glob(".building-*"))
    _remove_new(setup)


@pytest.mark.parametrize("seed", range(6))
def test_kill_at_random_moments(setup, seed):
    rng = random.Random(seed)
    proc = _start(setup, None)
    time.sleep(rng.uniform(0.3, 4.0))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    _assert_consistent(setup)
    _remove_new(setup)


def test_next_build_after_kills_cleans_up_and_succeeds(setup):
    proc = _start(setup, "0.02")
    for line in proc.stderr:
        if "parquet adam" in line:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert list(setup["out"].glob(".building-*"))
    rel = publish_release(setup["warehouse"], CUTOFF, setup["out"])
    assert verify_release(rel) == []
    assert not list(setup["out"].glob(".building-*"))
    assert list_releases(setup["out"], verified=True) == [setup["earlier"], rel]
    _remove_new(setup)


READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
wh = duckdb.connect(sys.argv[2], read_only=True)
n = con.sql("SELECT count(*) FROM adam.adsl").fetchall()[0][0]
m = wh.sql("SELECT count(*) FROM adam.adsl").fetchall()[0][0]
time.sleep(1.5)
print(n, m, con.sql("SELECT count(*) FROM analysis.survival_estimates").fetchall()[0][0] > 0)
"""


def test_release_db_opens_read_only_in_two_processes_while_a_build_runs(setup):
    build = _start(setup, "0.1")
    for line in build.stderr:
        if "copied" in line:
            break
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(setup["earlier"] / RELEASE_DB), str(setup["warehouse"])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [r.communicate(timeout=60) for r in readers]
    assert build.poll() is None, "the build should still be running while the readers held the files"
    for r, (o, e) in zip(readers, outs):
        assert r.returncode == 0, e
        assert o.split() == ["40", "40", "True"]
    build.stderr.read()
    assert build.wait(timeout=120) == 0
    assert verify_release(setup["out"] / CUTOFF.isoformat()) == []
    _remove_new(setup)
