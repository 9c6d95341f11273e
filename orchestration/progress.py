"""What a run shows: a quiet terminal (one line per finished step, with its time) and a log file holding everything
(Dagster's events, dbt's node lines, warnings). `kocartr run -v` streams the full log to the terminal as well."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

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


def say(line: str) -> None:
    """One line on the terminal, even while the run's output goes to its log file."""
    stream = _terminal or sys.stdout
    stream.write(line + "\n")
    stream.flush()


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


class _StepLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        line = step_line(event) if event is not None else None
        if line:
            say(line)


@dg.logger(
    config_schema={"log_file": dg.Field(str, default_value=""), "verbose": dg.Field(bool, default_value=False)},
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
        log.addHandler(_StepLines())
    return log


def logger_config(log_file: Path, verbose: bool) -> dict:
    return {"loggers": {LOGGER: {"config": {"log_file": str(log_file), "verbose": verbose}}}}
