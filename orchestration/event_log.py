"""The run event log of the project's Dagster instance: Dagster's own SQLite storage, one connection per database.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine, opens a SQLite connection, commits with an fsync
and closes it again for every event it stores (twice for asset and check events, which it mirrors into the
cross-run index). A sample run stores ~1,200 events: that bookkeeping cost ~5 of the run's 42 s of CPU
(`benchmarks/profile_run.py`, 2026-12-03), and every fsync waits on the disk. This storage is the same tables, the
same files and the same schema, so `make ui` and any Dagster tool read them as before; it differs in two ways:

- each database's engine and connection are kept for the life of the instance (a pool of one: the storage's own
  lock already serializes its writers), not rebuilt per event; the index's tables are looked up once, not per event;
  a run's database file gets a new modification time after each write (the UI watches the file: with the
  connection kept, commits go to the write-ahead log and the file itself changes only at a checkpoint);
- the databases (write-ahead log, as Dagster sets them up) commit with `synchronous=NORMAL`: a commit survives the
  process being killed (kill -9 included), and only an operating-system crash can lose the last commits of the
  run history. The warehouse and the release, which hold the registry's data, are DuckDB files written apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one engine and connection per database (run shard or index), kept open."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: dict[str, Any] = {}  # before the base's __init__, which already connects
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Any:
        import sqlalchemy as db
        from sqlalchemy.pool import StaticPool

        engine = self._engines.get(shard)
        if engine is None:
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,  # one connection, reused; the storage's lock serializes its use
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _no_fsync_per_commit)
            self._engines[shard] = engine
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                changes = conn.connection.dbapi_connection.total_changes
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME and conn.connection.dbapi_connection.total_changes != changes:
                    # the UI follows a run by watching its database file, which a commit into the kept
                    # connection's write-ahead log leaves untouched: its time says the run has new events
                    os.utime(self.path_for_shard(shard))

    def has_table(self, table_name: str) -> bool:
        # asked for every asset and check event, each time through a new engine; only migrations add tables, and
        # nothing here drops one, so a table found once is remembered
        if table_name not in self._tables:
            if not super().has_table(table_name):
                return False
            self._tables.add(table_name)
        return True

    def _forget(self, shard: str | None = None) -> None:
        """Close the kept connections (of one database, or all): when a run's events are deleted, at wipe (which
        deletes the run databases) and at dispose."""
        with self._db_lock:
            for name in [shard] if shard else list(self._engines):
                engine = self._engines.pop(name, None)
                if engine is not None:
                    engine.dispose()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self._forget(run_id)

    def wipe(self) -> None:
        self._forget()
        super().wipe()

    def dispose(self) -> None:
        self._forget()
        super().dispose()


def _no_fsync_per_commit(dbapi_connection: Any, _record: Any) -> None:
    # WAL + NORMAL: durable across a process crash, no fsync per commit (SQLite docs, "PRAGMA synchronous")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
