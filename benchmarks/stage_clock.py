"""CPU and memory at each stage of a benchmarked step (release_step.py, feedback_step.py, ingest_step.py,
analyses_step.py), and an optional cProfile of it."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def rss_mib() -> int:
    """Resident memory of this process now (MiB)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def peak_mib() -> int:
    """Highest resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class StageClock:
    """Prints, to stderr, the process CPU seconds since the last stage and since the start, and the memory, each
    time a stage ends (`clock.stage(name)`)."""

    def __init__(self) -> None:
        self.start = self.last = time.process_time()

    def stage(self, name: str) -> None:
        now = time.process_time()
        print(
            f"{name:45s} cpu {now - self.last:7.2f} s (total {now - self.start:7.2f})  rss {rss_mib():6d} MiB  "
            f"peak {peak_mib():6d} MiB",
            file=sys.stderr,
            flush=True,
        )
        self.last = now


def profiled(path: Path | None, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args), under cProfile written to `path` when one is given (the step scripts' --profile)."""
    if path is None:
        return fn(*args)
    import cProfile

    with cProfile.Profile() as prof:
        result = fn(*args)
    prof.dump_stats(path)
    return result
