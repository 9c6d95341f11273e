"""The frames the runner hands to Great Expectations: only the columns the expectations read, one validation per
table.

A rule's frame comes from DuckDB as one Arrow table and is split in two: the identifier and site columns (`ids`,
kept in Arrow, read only for the rows GX reports failing and for the per-site row counts) and the checked columns
(`values`, what GX evaluates). GX copies its whole frame at every metric it filters (nulls, failing rows), so a
frame of a table's checked columns alone, without the identifiers' strings, costs a fraction of one that carries
them; GX then reports failing rows by position (the frame's RangeIndex), and the identifiers of those positions are
taken from `ids`.

The frames of one table's rules are laid side by side in one frame (`layout`, `GxFrame`): frame j's columns are
renamed `<column>__<j>`, and a frame of boolean `ok` columns shorter than the others is padded with NULLs, which
GX column-map expectations skip (nonnull count, failing rows and their positions are those of the frame alone). A
frame whose rules count NULLs (not-null, compound uniqueness) is never padded: it shares a validation only with
frames of its own length or shorter padded ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from expectations.rules import Rule


@dataclass
class Member:
    """One frame query's rows: the rules validated on it, their identifiers and their checked columns."""

    rules: list[Rule]
    ids: Any  # pyarrow.Table: identifier and site columns (integers with NULLs as float64, as pandas reads them)
    values: Any  # pyarrow.Table: the checked columns the frame has (a missing one makes GX raise for its rule)
    site_cache: dict[str, Any] = field(default_factory=dict)  # site_codes, per column

    @property
    def n(self) -> int:
        return int(self.ids.num_rows)

    @property
    def paddable(self) -> bool:
        """Rules that skip NULLs on boolean columns only (the `ok` rules): padding rows are never checked."""
        import pyarrow as pa

        return all(
            r.expectation == "ExpectColumnValuesToBeInSet" and r.kwargs.get("value_set") == [True] for r in self.rules
        ) and all(pa.types.is_boolean(t) for t in self.values.schema.types)


def id_columns(rules: Sequence[Rule]) -> list[str]:
    return list(dict.fromkeys(c for r in rules for c in (*r.id_columns, *([r.site_column] if r.site_column else []))))


def split(table, rules: Sequence[Rule]) -> Member:
    """Split the Arrow table of a frame query. Raises, for the runner to report as an error of these rules:
    ValueError on a NULL `ok`, KeyError on missing identifier columns."""
    names = table.column_names
    for rule in rules:  # a NULL `ok` would be skipped silently by GX: refuse it
        if rule.kwargs.get("column") == "ok" and "ok" in names and table["ok"].null_count:
            raise ValueError(f"rule query of {rule.name} returned NULL ok for {table['ok'].null_count} rows")
    ids = id_columns(rules)
    missing = [c for c in ids if c not in names]
    if missing:
        raise KeyError(f"identifier columns {missing} not in the frame")
    checked = [c for c in dict.fromkeys(c for r in rules for c in r.columns) if c in names]
    return Member(list(rules), _as_pandas_types(table.select(ids)), table.select(checked))


def _as_pandas_types(table):
    """Integer columns with NULLs become float64, as pandas reads them from Arrow: failing keys and site codes
    keep the values (`_version=1.0`) the whole-frame pandas conversion gives."""
    import pyarrow as pa

    for i, col in enumerate(table.schema):
        if pa.types.is_integer(col.type) and table.column(i).null_count:
            table = table.set_column(i, col.name, table.column(i).cast(pa.float64()))
    return table


def layout(members: list[Member]) -> list[list[Member]]:
    """Group one table's frames into as few validations as padding allows (see the module docstring)."""
    fixed: dict[int, list[Member]] = {}
    loose: list[Member] = []
    for m in members:
        (loose if m.paddable else fixed.setdefault(m.n, [])).append(m)
    groups = [fixed[n] for n in sorted(fixed, reverse=True)]
    rest: list[Member] = []
    for m in loose:  # into the shortest fixed group it fits, else with the other padded frames
        fits = [g for g in groups if g[0].n >= m.n]
        (min(fits, key=lambda g: g[0].n) if fits else rest).append(m)
    return groups + ([rest] if rest else [])


class GxFrame:
    """The columns GX validates for one group (`layout`), side by side, as Arrow; pandas only when asked: the whole
    frame (`full`, built once) or the distinct values of some columns (`distinct`)."""

    def __init__(self, group: list[Member]):
        import pyarrow as pa

        self.length = max(m.n for m in group)
        self.columns: dict[str, Any] = {}
        self.renamed: list[list[Rule]] = []  # per member, its rules with kwargs naming their columns here
        for j, m in enumerate(group):
            name = {c: (c if len(group) == 1 else f"{c}__{j}") for c in m.values.column_names}
            for c in m.values.column_names:
                col = m.values.column(c).combine_chunks()
                pad = self.length - m.n
                self.columns[name[c]] = col if not pad else pa.concat_arrays([col, pa.nulls(pad, col.type)])
            self.renamed.append([_rename(r, name) for r in m.rules])
        self._full = None

    def full(self):
        """The pandas frame of every row (built on first use, then shared by every pass)."""
        if self._full is None:
            self._full = _to_pandas(self.columns, self.length)
        return self._full

    def distinct(self, names: Sequence[str]):
        """A pandas frame of the columns `names` (those present) holding each column's distinct values, NULL and
        NaN included, the shorter columns filled up by repeating their first value: every column has the same SET
        of values, with the same types, as in `full`. A column-map verdict allowed no failing row depends on that
        set alone (GX evaluates map conditions row by row and succeeds, for `mostly` = 1, iff no non-null row fails
        or none is non-null), so GX's verdict on this frame is its verdict on `full`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        values = {c: pc.unique(self.columns[c]) for c in dict.fromkeys(names) if c in self.columns}
        length = max((len(v) for v in values.values()), default=min(self.length, 1))
        for c, v in values.items():
            if len(v) < length:  # len(v) >= 1: an empty column only in a frame of no rows, where length is 0
                values[c] = pa.concat_arrays([v, v.take(pa.array([0] * (length - len(v)), pa.int64()))])
        return _to_pandas(values, length)


def _to_pandas(columns: dict[str, Any], length: int):
    import pandas as pd
    import pyarrow as pa

    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(length))
    return pa.table(columns).to_pandas(types_mapper=_pandas_types().get)


def present(column) -> Any:
    """Per row of an Arrow column, whether pandas (and so GX, which skips NULLs in column-map expectations) holds a
    value there after `_to_pandas`: NULL and, for floats, NaN are NA in pandas."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_floating(t):
        return np.asarray(pc.and_(pc.is_valid(column), pc.invert(pc.fill_null(pc.is_nan(column), True))))
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.asarray(pc.is_valid(column))
    frame = _to_pandas({"c": column}, len(column))  # any other type: ask pandas itself
    return frame["c"].notna().to_numpy(dtype=bool)


def _rename(rule: Rule, name: dict[str, str]) -> Rule:
    kwargs = dict(rule.kwargs)
    if "column" in kwargs:
        kwargs["column"] = name.get(kwargs["column"], kwargs["column"])
    if "column_list" in kwargs:
        kwargs["column_list"] = [name.get(c, c) for c in kwargs["column_list"]]
    return replace(rule, kwargs=kwargs)


def _pandas_types() -> dict[Any, Any]:
    """pyarrow-backed strings (GX's null / set metrics on object columns are 2-4x slower on 1M-row frames) and
    nullable booleans (an `ok` column with NULLs would otherwise be an object column)."""
    import pandas as pd
    import pyarrow as pa

    string_dtype = pd.StringDtype("pyarrow")
    return {
        pa.string(): string_dtype,
        pa.large_string(): string_dtype,
        pa.string_view(): string_dtype,
        pa.bool_(): pd.BooleanDtype(),
    }


def _id_types() -> dict[Any, Any]:
    """The pandas types of identifier and site columns: pyarrow strings; booleans as pandas reads them by default."""
    import pyarrow as pa

    types = _pandas_types()
    types.pop(pa.bool_())
    return types


def id_frame(member: Member, columns: Sequence[str], positions: Sequence[int] | None = None):
    """Identifier columns as pandas, of the rows at `positions` (in that order) or of all rows."""
    import pyarrow as pa

    ids = member.ids.select(list(dict.fromkeys(columns)))
    if positions is not None:  # Arrow concatenates a chunked column at every take: combine it once, if needed
        if positions and member.ids.column(0).num_chunks > 1:
            member.ids = member.ids.combine_chunks()
            ids = member.ids.select(list(dict.fromkeys(columns)))
        ids = ids.take(pa.array(positions, type=pa.int64())) if positions else ids.slice(0, 0)
    return ids.to_pandas(types_mapper=_id_types().get)


def site_codes(member: Member, column: str):
    """Column `column` of `member` as (codes per row, the distinct values as pandas reads them, NULL included):
    rows per site are then one bincount per rule."""
    import pyarrow as pa

    if column not in member.site_cache:
        encoded = member.ids.column(column).combine_chunks().dictionary_encode(null_encoding="encode")
        values = pa.table({"v": encoded.dictionary}).to_pandas(types_mapper=_id_types().get)["v"].tolist()
        member.site_cache[column] = (encoded.indices.to_numpy(zero_copy_only=False), values)
    return member.site_cache[column]
