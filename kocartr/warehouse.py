"""Small questions asked of a warehouse connection (DuckDB), shared by every layer that reads it."""

from __future__ import annotations

import re
import time
from pathlib import Path


def table_exists(con, table: str) -> bool:
    """Whether `schema.table` exists (views included): a gate may have stopped a run before it was built."""
    schema, name = table.split(".")
    return (
        con.sql(
            "select count(*) from information_schema.tables where table_schema = $s and table_name = $n",
            params={"s": schema, "n": name},
        ).fetchall()[0][0]
        > 0
    )


def column_exists(con, table: str, column: str) -> bool:
    """Whether `schema.table` has `column`: a warehouse built before the column was added is widened only by the
    next ingest."""
    schema, name = table.split(".")
    return (
        con.sql(
            "select count(*) from information_schema.columns where table_schema = $s and table_name = $n "
            "and column_name = $c",
            params={"s": schema, "n": name, "c": column},
        ).fetchall()[0][0]
        > 0
    )


class WarehouseError(RuntimeError):
    """The warehouse path cannot be used (a folder, not DuckDB, locked): a one-line message for the user."""


# Every DuckDB database file carries this magic at byte 8 (DuckDB storage format, "main header").
_DUCKDB_MAGIC = b"DUCK"
DEFAULT_LOCK_WAIT_SECONDS = 10.0


def check_warehouse_path(path: Path, must_exist: bool = False) -> Path:
    """Refuse, in one line, a warehouse path that is a folder, lies under a file, or is a file that is not DuckDB."""
    if path.is_dir():
        raise WarehouseError(f"warehouse {path} is a folder; give the path of a .duckdb file")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise WarehouseError(f"warehouse {path}: {parent} is a file, not a folder")
    if not path.exists():
        if must_exist:
            raise WarehouseError(f"warehouse {path} does not exist; build it with `kocartr run` first")
        return path
    with open(path, "rb") as fh:
        header = fh.read(12)
    if header[8:12] != _DUCKDB_MAGIC:
        raise WarehouseError(f"warehouse {path} is not a DuckDB database file")
    return path


def lock_holder(message: str) -> str:
    """Who holds the lock, as DuckDB names it ("Conflicting lock is held in /usr/bin/python3 (PID 123)")."""
    found = re.search(r"held in (\S+) \(PID (\d+)\)", message)
    if found:
        return f"PID {found.group(2)} ({Path(found.group(1)).name})"
    found = re.search(r"PID (\d+)", message)
    return f"PID {found.group(1)}" if found else "another process"


def is_lock_error(message: str) -> bool:
    return "Conflicting lock" in message or "Could not set lock" in message


def wait_for_write_lock(path: Path, wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS, releases: str = "") -> None:
    """Make sure this process can write the warehouse before a run starts: DuckDB allows one writer, and a reader in
    another process (an investigator's notebook) blocks it. Retry for at most `wait_seconds`, then raise a one-line
    WarehouseError naming the holder. Creates the file when missing (the run would)."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    while True:
        try:
            duckdb.connect(str(path)).close()
            return
        except duckdb.Error as exc:
            if not is_lock_error(str(exc)):
                raise WarehouseError(f"warehouse {path} cannot be opened: {str(exc).splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                where = f" under {releases}" if releases else ""
                raise WarehouseError(
                    f"warehouse {path} is locked by {lock_holder(str(exc))}; waited {wait_seconds:g} s. Close that "
                    f"connection and run again (investigators: read the release files{where}, which never lock)"
                ) from None
            time.sleep(0.5)


def registry_patients(path: Path) -> int:
    """Patients in adam.adsl (0 when it was never built): an empty registry is never released."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql("select count(*) from adam.adsl").fetchall()[0][0] if table_exists(con, "adam.adsl") else 0
    finally:
        con.close()


def empty_registry_message(path: Path) -> str:
    return (
        f"no release: the registry in {path} holds 0 patients (adam.adsl is empty); check that --submissions "
        "points at <SITE>/<YYYY-MM>/ folders and read audit.file_rejects"
    )
