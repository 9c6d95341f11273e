"""Small questions asked of a warehouse connection (DuckDB), shared by every layer that reads it."""

from __future__ import annotations


def table_exists(con, table: str) -> bool:
    """Whether `schema.table` exists (views included): a gate may have stopped a run before it was built."""
    schema, name = table.split(".")
    return con.sql("select count(*) from information_schema.tables where table_schema = $s and table_name = $n",
                   params={"s": schema, "n": name}).fetchall()[0][0] > 0
