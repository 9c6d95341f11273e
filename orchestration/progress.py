"""What a run shows: a quiet terminal (one line per finished step, with its time, and progress while a long step
runs) and a log file holding everything (Dagster's events, dbt's node lines, warnings). `kocartr run -v` streams the
full log to the terminal as well.

Progress comes from what the step already reports to Dagster: each dbt model and test and each quality rule is an
event (materialization, check evaluation), counted against what the step will produce; ingest reports its files
(`ProgressLog`, a few events per run, never one per file). On a terminal it is one line rewritten in place;
into a pipe or a file, a line at most every PERIODIC_SECONDS per step."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

LOGGER = "run_log"
KEEP_LOGS = (
    30  # run logs kept per warehouse folder; older ones are removed (a day of runs once left 558 MB of dbt files)
)

# The terminal while a quiet run redirects stdout/stderr (dbt's node lines are written to stdout) to its log file.
_terminal: TextIO | None = None


def new_log_file(folder: Path, month: str) -> Path:
    """`<folder>/run-<UTC time>-<month>.log`, keeping the newest KEEP_LOGS run logs."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("run-*.log"))[: -(KEEP_LOGS - 1) or None]:
        old.unlink(missing_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return folder / f"run-{stamp}-{month}.log"


PERIODIC_SECONDS = 30.0  # without a terminal: at most one progress line per step this often
PROGRESS_PREFIX = "progress: "  # a Dagster log message carrying `<done>/<total> <unit>` from a step


def _stream() -> TextIO:
    return _terminal or sys.stdout


def _is_tty() -> bool:
    return bool(getattr(_stream(), "isatty", lambda: False)())


_pending_status = False  # an in-place progress line is on the terminal and must be cleared before the next line


def say(line: str) -> None:
    """One line on the terminal, even while the run's output goes to its log file."""
    global _pending_status
    stream = _stream()
    if _pending_status:
        stream.write("\r\033[K")
        _pending_status = False
    stream.write(line + "\n")
    stream.flush()


def status(line: str) -> None:
    """A progress line: rewritten in place on a terminal; elsewhere an ordinary line (the caller throttles)."""
    global _pending_status
    if not _is_tty():
        say(line)
        return
    stream = _stream()
    stream.write("\r\033[K" + line[:160])
    stream.flush()
    _pending_status = True


@contextlib.contextmanager
def quiet(log_file: Path, verbose: bool) -> Iterator[None]:
    """Send stdout/stderr to the run's log file (unless verbose), keeping the terminal for `say`."""
    global _terminal
    if verbose:
        yield
        return
    before, _terminal = _terminal, sys.stdout
    try:
        with (
            open(log_file, "a", encoding="utf-8") as fh,
            contextlib.redirect_stdout(fh),
            contextlib.redirect_stderr(fh),
        ):
            yield
    finally:
        _terminal = before


def step_line(event) -> str | None:
    """`  ok    dbt_staging  19.6 s` for a finished, failed or skipped step; None for any other event."""
    kind = event.event_type_value
    if kind == "STEP_SUCCESS":
        mark = "ok"
    elif kind == "STEP_FAILURE":
        mark = "FAILED"
    elif kind == "STEP_SKIPPED":
        return f"  {'skipped':<7} {event.step_key}"
    else:
        return None
    seconds = (getattr(event.event_specific_data, "duration_ms", None) or 0) / 1000
    return f"  {mark:<7} {event.step_key:<40} {seconds:6.1f} s"


def progress_line(step: str, counts: dict[str, int], expected: dict[str, int], seconds: float) -> str:
    """`  ...     dbt_core    57/120 models, 300/410 tests  1m 05s` for a running step."""
    parts = []
    for unit, done in counts.items():
        total = expected.get(unit)
        parts.append(f"{done}/{total} {unit}" if total else f"{done} {unit}")
    return f"  {'...':<7} {step:<40} {', '.join(parts)}  {int(seconds) // 60}m {int(seconds) % 60:02d}s"


EVENT_UNITS = {"ASSET_MATERIALIZATION": "tables", "ASSET_CHECK_EVALUATION": "checks"}


class StepProgress:
    """Counts a running step's events and says how far it is, on a terminal or periodically."""

    def __init__(self, expected: dict[str, dict[str, int]], periodic: float = PERIODIC_SECONDS):
        self.expected = expected  # step -> unit -> how many the step produces
        self.periodic = periodic
        self.counts: dict[str, dict[str, int]] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def event(self, step: str, kind: str, message: str = "") -> None:
        now = time.monotonic()
        if kind == "STEP_START":
            self.started[step], self.last_line[step], self.counts[step] = now, now, {}
            return
        counts = self.counts.setdefault(step, {})
        if kind in EVENT_UNITS:
            unit = EVENT_UNITS[kind]
            counts[unit] = counts.get(unit, 0) + 1
        elif message.startswith(PROGRESS_PREFIX):  # `progress: 12/208 files`
            done_total, _, unit = message.removeprefix(PROGRESS_PREFIX).partition(" ")
            done, _, total = done_total.partition("/")
            counts[unit] = int(done)
            self.expected.setdefault(step, {})[unit] = int(total)
        else:
            return
        tty = _is_tty()
        if not tty and now - self.last_line.get(step, now) < self.periodic:
            return
        self.last_line[step] = now
        status(progress_line(step, counts, self.expected.get(step, {}), now - self.started.get(step, now)))


class _StepLines(logging.Handler):
    def __init__(self, expected: dict[str, dict[str, int]]):
        super().__init__()
        self.progress = StepProgress(expected)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not isinstance(meta, dict):
            return
        event = meta.get("dagster_event")
        step = meta.get("step_key") or (event.step_key if event is not None else None)
        if event is not None:
            line = step_line(event)
            if line:
                say(line)
            elif step:
                self.progress.event(step, event.event_type_value)
        elif step:
            self.progress.event(step, "", str(meta.get("orig_message", "")))


class ProgressLog:
    """A step's own progress (files read, ...) as a few Dagster log messages: each time another PERCENT_STEP of
    the work is done, so a run of 20,000 files logs 20 messages, not 20,000."""

    PERCENT_STEP = 5

    def __init__(self, log: Any, unit: str):
        self.log, self.unit, self.last = log, unit, -1

    def __call__(self, done: int, total: int) -> None:
        bucket = 100 * done // max(total, 1) // self.PERCENT_STEP
        if bucket > self.last or done == total:
            self.last = bucket
            self.log.info(f"{PROGRESS_PREFIX}{done}/{total} {self.unit}")


def expected_outputs(job_def: Any) -> dict[str, dict[str, int]]:
    """Per step of a job: how many tables and checks it produces (the denominators of its progress)."""
    import dagster as dg
    from dagster._core.definitions.dependency import NodeHandle

    expected: dict[str, dict[str, int]] = {}
    for name in job_def.graph.node_dict:
        keys = job_def.asset_layer.get_selected_entity_keys_for_node(NodeHandle(name, None))
        checks = sum(isinstance(k, dg.AssetCheckKey) for k in keys)
        units = {"tables": len(keys) - checks, "checks": checks}
        expected[name] = {u: n for u, n in units.items() if n}
    return expected


@dg.logger(
    config_schema={
        "log_file": dg.Field(str, default_value=""),
        "verbose": dg.Field(bool, default_value=False),
        # step -> unit -> count, the denominators of the progress line (expected_outputs)
        "expected": dg.Field(dg.Permissive(), default_value={}),
    },
    description="Ko-CARTR run log: every event to the run's log file; one line per finished step on the terminal "
    "(everything with verbose).",
)
def run_log(init_context) -> logging.Logger:
    log = logging.Logger("kocartr.run", level=logging.DEBUG)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    if init_context.logger_config["log_file"]:
        handler = logging.FileHandler(init_context.logger_config["log_file"], encoding="utf-8")
        handler.setFormatter(fmt)
        log.addHandler(handler)
    if init_context.logger_config["verbose"]:
        full = logging.StreamHandler(sys.stderr)
        full.setFormatter(fmt)
        log.addHandler(full)
    else:
        log.addHandler(_StepLines(dict(init_context.logger_config["expected"])))
    return log


def logger_config(log_file: Path, verbose: bool, expected: dict[str, dict[str, int]] | None = None) -> dict:
    config = {"log_file": str(log_file), "verbose": verbose, "expected": expected or {}}
    return {"loggers": {LOGGER: {"config": config}}}
