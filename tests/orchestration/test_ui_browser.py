"""The Dagster UI on the project's instance, after a `kocartr run`, in a headless browser: what the analytics team
opens with `make ui` shows the run and the quality checks' results (not "Not evaluated")."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_SECONDS = 300  # loading the code location parses ~700 checks; generous on a busy 2-core machine


def _browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"


def _wait_for_runs(base: str, server: subprocess.Popen) -> list[dict]:
    """The webserver's own answer (GraphQL) once it has loaded the code location and reads the instance."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {server.returncode}")
        try:
            return _graphql(base, RUNS)["runsOrError"]["results"]
        except (OSError, KeyError, ValueError):
            time.sleep(2)
    pytest.fail(f"dagster-webserver did not answer within {READY_SECONDS} s")


def page_text(dom: str) -> str:
    """The visible text of a dumped page: scripts and styles dropped, tags as separators."""
    dom = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"(\s*\|\s*)+", "|", html.unescape(re.sub(r"<[^>]+>", "|", dom)))


def render(browser: str, url: str, expected: list[str], attempts: int = 3) -> str:
    """The page as the browser rendered it (the UI is a React app fed by GraphQL), retried while the expected
    texts are not there yet."""
    text = ""
    for attempt in range(attempts):
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                f"--virtual-time-budget={30_000 * (attempt + 1)}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        text = page_text(proc.stdout)
        if all(e in text for e in expected):
            break
    return text


@pytest.fixture
def webserver(pipeline_run, small_submissions) -> Iterator[tuple[str, subprocess.Popen]]:
    """`make ui` on the fixture run's instance: dagster-webserver with the code location's environment variables."""
    if _browser() is None:
        pytest.skip("no chromium on this machine: the headless-browser test of the Dagster UI needs one")
    result, warehouse, work = pipeline_run
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": result.dagster_home,
        "KOCARTR_WAREHOUSE": str(warehouse),
        "KOCARTR_SUBMISSIONS": str(small_submissions / "submissions"),
        "KOCARTR_RELEASES": str(work / "releases"),
        "KOCARTR_QUERIES": str(work / "queries"),
        "KOCARTR_DEMO": "1",
    }
    command = [sys.executable, "-m", "dagster_webserver", "-m", "orchestration.definitions"]
    log = open(work / "webserver.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the code server it starts goes with it
    )
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_the_ui_shows_the_cli_run_and_its_check_results(webserver):
    browser = _browser()
    assert browser is not None  # the fixture skipped otherwise
    base, server = webserver
    runs = _wait_for_runs(base, server)
    monthly = [r for r in runs if r["jobName"] == "monthly_dataset"]
    assert monthly and monthly[0]["status"] == "SUCCESS"
    run_id = monthly[0]["runId"]

    run_page = render(browser, f"{base}/runs/{run_id}", ["monthly_dataset", run_id[:8], "dbt_adam"])
    assert "monthly_dataset" in run_page and run_id[:8] in run_page
    assert "dbt_adam" in run_page and "SUCCESS" in run_page.upper()

    # the quality gate's check of adam.adsl's rules (expectations/) and its dbt tests: evaluated, with the result
    checks_page = render(browser, f"{base}/assets/adam/adsl?view=checks", ["quality_rules", "Evaluation result"])
    assert "Checks (" in checks_page and "|quality_rules|" in checks_page
    assert "Succeeded" in checks_page and "Not evaluated" not in checks_page
    assert re.search(r"Evaluation result\|Passed", checks_page)
