"""CPU profile of one `kocartr run` by Dagster step: where the seconds of a run go, in CPU time (the machine is
shared; wall time says more about the neighbours than about the code).

    .venv/bin/python benchmarks/profile_run.py --work /tmp/prof [--submissions data/sample/submissions]
        [--cprofile /tmp/prof/run.prof] [--json /tmp/prof/cpu.json]

Runs the pipeline in this process (as `kocartr run --demo` does, into a new warehouse under --work) and reads the
process's CPU clock (user + system, its own and that of the children it waited for: dbt's subprocesses) when each
Dagster step starts and ends: the in-process executor runs one step at a time, so the difference is that step's
CPU. What no step accounts for (imports, definitions, the Dagster run bookkeeping between steps) is "outside steps".
--cprofile also writes a cProfile of the whole process (it slows pure-Python code down, so the step figures of
that run are higher: profile and measure in separate runs).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_now() -> float:
    """CPU seconds of this process and of its waited-for children, user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class StepClock:
    """Per Dagster step: CPU and wall seconds between its STEP_START and its STEP_SUCCESS / STEP_FAILURE."""

    def __init__(self) -> None:
        self.start: dict[str, tuple[float, float]] = {}
        self.steps: dict[str, dict[str, float]] = {}

    def event(self, step: str, kind: str) -> None:
        if kind == "STEP_START":
            self.start[step] = (cpu_now(), time.perf_counter())
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in self.start:
            cpu0, wall0 = self.start.pop(step)
            self.steps[step] = {"cpu_s": round(cpu_now() - cpu0, 2), "wall_s": round(time.perf_counter() - wall0, 2)}


def attach(clock: StepClock) -> None:
    """Feed the clock from the run's own terminal logger (orchestration.progress), which sees every step event."""
    from orchestration import progress

    emit = progress._StepLines.emit

    def timed_emit(self, record):
        meta = getattr(record, "dagster_meta", None)
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        if event is not None and event.step_key:
            clock.event(event.step_key, event.event_type_value)
        emit(self, record)

    progress._StepLines.emit = timed_emit  # type: ignore[method-assign]


def run(submissions: Path, work: Path) -> dict:
    from orchestration.runner import run_pipeline

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    clock = StepClock()
    attach(clock)
    cpu0, wall0 = cpu_now(), time.perf_counter()
    result = run_pipeline(
        submissions, work / "warehouse.duckdb", work / "releases", demo=True, dagster_home=work / "dagster_home"
    )
    total = {"cpu_s": round(cpu_now() - cpu0, 2), "wall_s": round(time.perf_counter() - wall0, 2)}
    in_steps = sum(s["cpu_s"] for s in clock.steps.values())
    return {
        "success": result.success,
        "tables_sha256": result.release_metadata.get("tables_sha256", ""),
        "total": total,
        "outside_steps_cpu_s": round(total["cpu_s"] - in_steps, 2),
        "steps": clock.steps,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=Path, default=ROOT / "data" / "sample" / "submissions")
    ap.add_argument("--work", type=Path, required=True, help="a scratch folder (emptied first)")
    ap.add_argument("--cprofile", type=Path, help="write a cProfile of the whole run here")
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--cpu-timer", action="store_true", help="cProfile with the CPU clock (default: wall clock)")
    args = ap.parse_args(argv)
    if args.cprofile:
        import cProfile

        prof = cProfile.Profile(time.process_time) if args.cpu_timer else cProfile.Profile()
        report = prof.runcall(run, args.submissions, args.work)
        prof.dump_stats(str(args.cprofile))
    else:
        report = run(args.submissions, args.work)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    print(text, file=sys.__stdout__)
    return 0 if report["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
