"""Run only the site ingest into a NEW warehouse, as the pipeline's `site_submissions` asset runs it
(`orchestration.assets.ingest.run_ingest` with the run config `kocartr run` gives it: every batch through the
registry month), and print the CPU seconds and resident memory of the ingest's phases; or compare two such
warehouses.

    /usr/bin/time -v .venv/bin/python benchmarks/ingest_step.py run SUBMISSIONS WAREHOUSE [--through 2026-10]
    .venv/bin/python benchmarks/ingest_step.py compare WAREHOUSE OTHER_WAREHOUSE

`run`: SUBMISSIONS is only read; WAREHOUSE must not exist yet (the step is measured on a first load, as
`make bench` runs it). The demo key is used, as the benchmark's `kocartr run --demo` does. Quote `/usr/bin/time`'s
user + system seconds and maximum resident set size for the whole step. The phase lines say where they went: CPU
spent inside each instrumented function, inclusive of the functions it calls (so the lines do not add up):
process CPU (every thread: polars', DuckDB's) for the phases called a few hundred times at most, main-thread CPU
for those called once per file (reading the process clock sums every thread's: ~0.1 ms a call); the peak RSS a
sampling thread saw while each was the innermost phase running; and, after each write of pending rows, the
resident memory and the part DuckDB's buffer manager accounts for.
`compare`: every table of schemas raw and audit holds the same rows in both warehouses (row counts, EXCEPT ALL
both ways; the ingest writes no timestamps, so no column is left out). Run it as its own process: it reads both
warehouses whole, so its memory is not the ingest's.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from stage_clock import peak_mib, rss_mib

# (module, attribute path, called once per file); a missing one is skipped, so the script runs on older code too
PHASES = [
    ("kocartr.ingest", "ingest", False),
    ("kocartr.ingest.pipeline", "_Run.take_file", True),
    ("kocartr.ingest.pipeline", "read_file", True),
    ("kocartr.ingest.pipeline", "_flush", False),
    ("kocartr.ingest.pipeline", "_materialize", False),
    ("kocartr.ingest.pipeline", "_prepare", False),
    ("kocartr.ingest.pipeline", "_wrong_folder_files", False),
    ("kocartr.ingest.pipeline", "validate_form", False),
    ("kocartr.ingest.pipeline", "_write_accepted", False),
    ("kocartr.ingest.pipeline", "_with_patient_keys", False),
    ("kocartr.ingest.pipeline", "_write_quarantine", False),
    ("kocartr.ingest.pipeline", "_Run.finish", False),
    ("kocartr.ingest.warehouse", "insert", False),
    ("kocartr.ingest.warehouse", "recompute_versions", False),
]


def _duckdb_mib(con: Any) -> int:
    """Memory DuckDB's buffer manager holds (its own accounting)."""
    return int(con.sql("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()[0][0] or 0) >> 20


class Phases:
    """CPU seconds and calls per instrumented function (inclusive; re-entrant calls counted once), and the highest
    resident memory a sampling thread saw while each was the innermost one running."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self.per_file: set[str] = set()

    def wrap(self, name: str, fn: Callable[..., Any], per_file: bool, after: Callable[..., None] | None):
        clock = time.thread_time if per_file else time.process_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            if name in self.stack:
                return fn(*args, **kwargs)
            self.stack.append(name)
            start = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[name] += clock() - start
                self.calls[name] += 1
                self.stack.remove(name)
                if after is not None:
                    after(*args)

        return timed

    def install(self, on_flush: Callable[..., None]) -> None:
        import importlib

        for module_name, path, per_file in PHASES:
            owner: Any = importlib.import_module(module_name)
            *parents, attr = path.split(".")
            for p in parents:
                owner = getattr(owner, p)
            fn = getattr(owner, attr, None)
            if fn is not None:
                after = on_flush if attr == "_flush" else None
                name = f"{module_name.rsplit('.', 1)[-1]}.{path}"
                setattr(owner, attr, self.wrap(name, fn, per_file, after))
                if per_file:
                    self.per_file.add(name)

    def sample(self, stop: threading.Event) -> None:
        while not stop.wait(0.02):
            where = self.stack[-1] if self.stack else "(other)"
            self.peak[where] = max(self.peak[where], rss_mib())

    def report(self) -> None:
        print("phase (inclusive CPU, * main thread only; peak RSS sampled while innermost)", file=sys.stderr)
        for name, cpu in sorted(self.cpu.items(), key=lambda kv: -kv[1]):
            star = "*" if name in self.per_file else " "
            print(
                f"  {name:34s}{star} cpu {cpu:7.2f} s  calls {self.calls[name]:6d}  peak rss {self.peak[name]:6d} MiB",
                file=sys.stderr,
            )
        print(f"  {'(outside these)':35s} peak rss {self.peak['(other)']:6d} MiB", file=sys.stderr)


class TimedCommit:
    """The warehouse resource, handing out connections whose COMMIT is timed (process CPU): the ingest's one
    transaction is written to the database file there."""

    def __init__(self, resource: Any, phases: Phases) -> None:
        self.resource, self.phases = resource, phases

    @contextlib.contextmanager
    def get_connection(self):
        phases = self.phases

        class Connection:
            def __init__(self, con: Any) -> None:
                self._con = con

            def __getattr__(self, name: str) -> Any:
                return getattr(self._con, name)

            def execute(self, sql: str, *args: Any) -> Any:
                if sql.strip().upper() != "COMMIT":
                    return self._con.execute(sql, *args)
                return phases.wrap("duckdb COMMIT", self._con.execute, False, None)(sql, *args)

        with self.resource.get_connection() as con:
            yield Connection(con)


def run(submissions: Path, warehouse: Path, through: str) -> int:
    """The site ingest as the asset runs it, instrumented."""
    start = time.process_time()
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from orchestration.assets.ingest import IngestConfig, run_ingest
    from orchestration.resources import RegistryConfig

    phases, chunk = Phases(), [0]

    def on_flush(state: Any, *_: Any) -> None:
        chunk[0] += 1
        print(
            f"write {chunk[0]:3d}: cpu total {time.process_time() - start:7.2f} s  rss {rss_mib():6d} MiB  "
            f"peak {peak_mib():6d} MiB  duckdb {_duckdb_mib(state.con):6d} MiB",
            file=sys.stderr,
            flush=True,
        )

    phases.install(on_flush)
    print(f"imports: cpu {time.process_time() - start:.2f} s  rss {rss_mib()} MiB", file=sys.stderr, flush=True)
    registry = RegistryConfig(
        warehouse=str(warehouse),
        submissions_dir=str(submissions),
        release_dir=str(warehouse.parent / "releases"),
        queries_dir=str(warehouse.parent / "queries"),
        demo=True,
    )
    stop = threading.Event()
    threading.Thread(target=phases.sample, args=(stop,), daemon=True).start()
    wall = time.perf_counter()
    batches, report = run_ingest(
        dg.build_asset_context(),
        IngestConfig(through_month=through),
        cast(DuckDBResource, TimedCommit(DuckDBResource(database=str(warehouse)), phases)),
        registry,
        declared=False,
    )
    stop.set()
    print(report.summary())
    print(
        f"ingest step: cpu {time.process_time() - start:.2f} s (imports included), wall "
        f"{time.perf_counter() - wall:.1f} s, peak rss {peak_mib()} MiB, {len(batches)} batches",
        file=sys.stderr,
    )
    phases.report()
    return 0


def compare(warehouse: Path, other: Path) -> list[str]:
    """Tables of schemas raw and audit whose rows differ between the two warehouses (or exist in one only)."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(f"ATTACH '{other}' AS other (READ_ONLY)")
        here = con.sql("SELECT current_database()").fetchall()[0][0]
        listed = "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = '{}' AND "
        listed += "schema_name IN ('raw', 'audit')"
        mine = {t for (t,) in con.sql(listed.format(here)).fetchall()}
        theirs = {t for (t,) in con.sql(listed.format("other")).fetchall()}
        differ = sorted(mine ^ theirs)
        for t in sorted(mine & theirs):
            n, m = (con.sql(f"SELECT count(*) FROM {p}{t}").fetchall()[0][0] for p in ("", "other."))
            extra = [
                con.sql(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchall()[0][0]
                for a, b in ((t, f"other.{t}"), (f"other.{t}", t))
            ]
            print(f"  {t:32s} rows {n:9d} / {m:9d}  only here {extra[0]}  only there {extra[1]}")
            if n != m or any(extra):
                differ.append(t)
        return differ
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="ingest SUBMISSIONS into a new WAREHOUSE, instrumented")
    r.add_argument("submissions", type=Path)
    r.add_argument("warehouse", type=Path)
    r.add_argument("--through", default="2026-10", help="registry month (the run config's through_month)")
    c = sub.add_parser("compare", help="the raw and audit tables of two warehouses, row for row")
    c.add_argument("warehouse", type=Path)
    c.add_argument("other", type=Path)
    args = ap.parse_args(argv)
    if args.command == "compare":
        differ = compare(args.warehouse, args.other)
        print("identical" if not differ else f"DIFFERENT: {', '.join(differ)}")
        return 1 if differ else 0
    if args.warehouse.exists():
        ap.error(f"{args.warehouse} exists: the step is measured on a new warehouse")
    args.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return run(args.submissions, args.warehouse, args.through)


if __name__ == "__main__":
    raise SystemExit(main())
