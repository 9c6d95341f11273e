"""A layer's `dbt build` run inside the Dagster process, through dbt's programmatic entry point (`dbtRunner`).

Why not dbt's command line, as dagster-dbt runs it: each of the three subprocesses of a monthly run paid ~3 s of
start-up (importing dbt, loading and checking the parse) before its first node; on the sample that was 9 of dbt's
20 s. In-process, the project's parse is loaded once per process (`parsed_project`) and handed to every build, so a
build parses nothing (dbt docs, "Programmatic invocations": reusing a manifest skips parsing).

What the subprocess read from its own environment comes in arguments instead: the warehouse in a profiles.yml
written for the build (the project's profile with that path), the cut-off as the dbt var `data_cutoff` (with the
parse handed over, a var costs no re-parse). The process environment is never changed.

dbt's events reach Dagster as dagster-dbt's own event messages (`DbtCoreCliEventMessage` of the same structured
event a JSON log line holds), streamed while dbt runs: dbt works in a thread, its result events go through a queue.
dbt's node lines go to stdout in its text format, as before (the run's log file, the UI's compute logs).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kocartr.paths import DBT_PROJECT_DIR
from orchestration.dbt_cli import PARSE_WAREHOUSE, ensure_manifest, fresh_parse, project_profiles, reuse_parse

# The events dagster-dbt turns into materializations and check results (dbt-core's names; unit tests excluded).
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})


def write_profiles(warehouse: str, folder: Path, project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """The project's profiles.yml with `path` = this warehouse, written into `folder` (the `--profiles-dir` of one
    build): every other setting (threads, DuckDB memory limit) stays the project's."""
    import yaml

    profiles, output = project_profiles(project_dir)
    output["path"] = str(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    return folder


def dbt_args(
    command: str, warehouse_profiles: Path, target_path: Path, project_dir: Path = DBT_PROJECT_DIR
) -> list[str]:
    """The arguments every in-process invocation shares: no dbt.log, no JSON artifacts, plain text lines."""
    return [
        command,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(warehouse_profiles),
        "--target-path",
        str(target_path),
        "--log-level-file",
        "none",
        "--no-write-json",
        "--log-format",
        "text",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]


_PARSED: dict[tuple[int, str], Any] = {}
_PARSE_LOCK = threading.Lock()


def parsed_project(warehouse: str, project_dir: Path = DBT_PROJECT_DIR) -> Any:
    """dbt's parse of the project (a `Manifest`) for this warehouse, made once per process and project state.

    The parse names every node's DuckDB catalog after the warehouse file ("warehouse.duckdb" -> "warehouse"), so
    it is kept per file name; the project's shared partial parse (`ensure_manifest`, `reuse_parse`) serves the
    default name, any other name is parsed in full once."""
    manifest = ensure_manifest(project_dir)
    key = (manifest.stat().st_mtime_ns, Path(warehouse).name)
    with _PARSE_LOCK:
        if key not in _PARSED:
            # the changed project this process parsed just now serves the default name as it is
            fresh = fresh_parse(manifest) if key[1] == PARSE_WAREHOUSE else None
            _PARSED.clear()  # one project state per process: an edited project is parsed again
            _PARSED[key] = fresh if fresh is not None else _parse_for(warehouse, project_dir)
        return _PARSED[key]


def _parse_for(warehouse: str, project_dir: Path) -> Any:
    """dbt's parse for this warehouse: partial, from the project's shared parse, when the file name allows."""
    import tempfile

    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="kocartr-dbt-parse-") as scratch:
        target = Path(scratch) / "target"
        reuse_parse(warehouse, target, project_dir)
        profiles = write_profiles(warehouse, Path(scratch) / "profiles", project_dir)
        result = dbtRunner().invoke([*dbt_args("parse", profiles, target, project_dir), "--quiet"])
        close_dbt_duckdb()
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return result.result


def close_dbt_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open after an invocation.

    dbt-duckdb (1.11) keeps its environment, and with it the DuckDB database, in a class attribute when dbt is done
    (its close_all_connections only forgets it), and DuckDB refuses a second connection to the same file with
    another configuration (dbt's memory limit) in the same process: the next step could not open the warehouse."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:  # noqa: SLF001
        env = DuckDBConnectionManager._ENV  # noqa: SLF001
        DuckDBConnectionManager._ENV = None  # noqa: SLF001
        if env is not None:
            env.close()


_DONE = object()


@dataclass
class InProcessBuild:
    """One `dbt build` in this process, with what `dbt_events` reads of dagster-dbt's invocation: the JSON manifest,
    the translator, the target folder and the stream of dbt's result events (`stream_raw_events`)."""

    args: list[str]
    parsed: Any  # dbt's Manifest, handed to dbtRunner
    manifest: Mapping[str, Any]  # the JSON manifest dagster-dbt's translation reads
    dagster_dbt_translator: Any
    target_path: Path
    warehouse: str = ""
    errors: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # unique id -> dbt's RunResult, once dbt is done

    def stream_raw_events(self) -> Iterator[Any]:
        """dbt's result events as dagster-dbt event messages, while dbt runs; raises when the build failed (a test
        of error severity, a model that did not build), naming dbt's error lines, as the command line's exit code
        did."""
        from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
        from dbt.cli.main import dbtRunner
        from dbt_common.events.functions import msg_to_dict

        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        outcome: dict[str, Any] = {}

        def on_event(msg: Any) -> None:  # called from dbt's worker threads
            if msg.info.level == "error":
                self.errors.append(msg.info.msg)
            if msg.info.name in RESULT_EVENTS:
                events.put(DbtCoreCliEventMessage(raw_event=msg_to_dict(msg), event_history_metadata={}))

        def work() -> None:
            try:
                outcome["result"] = dbtRunner(manifest=self.parsed, callbacks=[on_event]).invoke(self.args)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["exception"] = exc
            finally:
                close_dbt_duckdb()
                events.put(_DONE)

        worker = threading.Thread(target=work, name="dbt-build", daemon=True)
        worker.start()
        while (event := events.get()) is not _DONE:
            yield event
        worker.join()
        if "result" in outcome and outcome["result"].result is not None:
            self.results = {r.node.unique_id: r for r in getattr(outcome["result"].result, "results", [])}
        self._raise_on_failure(outcome)

    def rule_failures(self, unique_id: str) -> list[tuple[str, str, int, int]]:
        """(rule, column, failing values, failing rows) of a `column_rules` test that did not pass, read back with
        the test's compiled SQL once dbt is done: dbt reports one count per test, and the reader of a model's check
        needs to see which rule failed on which column. Empty for any other test (its name says rule and column)."""
        import duckdb

        result = self.results.get(unique_id)
        meta = getattr(getattr(result, "node", None), "test_metadata", None)
        if result is None or meta is None or meta.name != "column_rules" or not self.warehouse:
            return []
        try:
            with duckdb.connect(self.warehouse, read_only=True) as con:
                rows = con.sql(
                    "select rule, column_name, count(*), sum(n_rows) "
                    f"from ({result.node.compiled_code}) group by all order by all"
                ).fetchall()
        except duckdb.Error:  # the check still names the test and its failing rows, as dbt's log does
            return []
        return [(str(rule), str(column), int(values), int(n)) for rule, column, values, n in rows]

    def _raise_on_failure(self, outcome: dict[str, Any]) -> None:
        from dagster_dbt.errors import DagsterDbtCliRuntimeError

        if "exception" in outcome:
            raise outcome["exception"]
        result = outcome["result"]
        if result.success:
            return
        reasons = [line.strip() for line in self.errors if line.strip()] or [str(result.exception)]
        raise DagsterDbtCliRuntimeError(description="dbt build failed: " + " | ".join(reasons)[:2000])


def build(
    context: Any,
    *,
    warehouse: str,
    data_cutoff: str,
    target_path: Path,
    project_dir: Path = DBT_PROJECT_DIR,
) -> InProcessBuild:
    """The `dbt build` of what the Dagster context selected (dagster-dbt's selection of the op's assets and
    checks), for this warehouse and cut-off, writing compiled SQL under `target_path`.

    `buildable` indirect selection: a test runs in the layer op that builds the last model it reads. The default
    (eager) would run, in the staging op, mart tests that merely reference a seed, before the marts exist."""
    import json

    from dagster_dbt import DagsterDbtTranslator
    from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context

    # The op's manifest and translator come from its assets definition: these two are placeholders.
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=DagsterDbtTranslator()
    )
    profiles = write_profiles(warehouse, target_path / "profiles", project_dir)
    args = [
        *dbt_args("build", profiles, target_path, project_dir),
        "--indirect-selection",
        "buildable",
        "--vars",
        json.dumps({"data_cutoff": data_cutoff}),
        *params.selection_args,
    ]
    return InProcessBuild(
        args=args,
        parsed=parsed_project(warehouse, project_dir),
        manifest=params.manifest,
        dagster_dbt_translator=params.dagster_dbt_translator,
        target_path=target_path,
        warehouse=str(warehouse),
    )
