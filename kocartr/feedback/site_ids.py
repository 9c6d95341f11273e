"""The site's own record and patient ids, read back from its submission files at workbook-build time.

The warehouse keeps site-issued identifiers only keyed (HMAC) or not at all, so a query names the record by its
lineage (`source_file` relative to the submissions root, spreadsheet `source_row`, header = row 1), and only the
site's own workbook shows the ids, taken from the site's own file (screened: an RRN-shaped value is redacted).
Nothing read here is written to the warehouse.

Files are read as ingest reads them (kocartr.ingest.reading), and, as ingest does, well-formed CSVs are parsed
many at a time (read_deferred): a site's hundreds of small files cost one polars call per column layout, not
several each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from kocartr.ingest.reading import (
    ITEM,
    ROW,
    DeferredCsv,
    FileReject,
    SheetData,
    read_deferred,
    read_deferred_rows,
    read_file,
)
from kocartr.privacy import redact

SiteIds = tuple[str | None, str | None]  # (record_id, patient_id) as the site wrote them
_ID_COLUMNS = ("record_id", "patient_id")


def _id_columns(frame: pl.DataFrame, names: tuple[str, ...] | None = None) -> list[pl.Expr]:
    """The id columns of a parsed sheet, by name, or (`names`: a deferred layout's column names) by position."""
    have = list(frame.columns) if names is None else list(names)
    return [
        (pl.col(c if names is None else f"c{have.index(c)}") if c in have else pl.lit(None, pl.String)).alias(c)
        for c in _ID_COLUMNS
    ]


def _sheets_of_file(
    path: Path, root: Path, form: str | None, resolved: dict[Path, Path], ingested: set[str] | None = None
) -> list[SheetData]:
    """The file's sheets of `form` (every sheet when None), CSVs possibly deferred; none if the file is unreadable,
    lies outside `root` (checked as ingest checks it, folders resolved once each) or, given the SHA-256 of the
    versions ingest read at that path (`ingested`), holds none of them now."""
    import hashlib

    from kocartr.dictionary import load_dictionary
    from kocartr.ingest.pipeline import read_inside_root

    try:
        data = read_inside_root(path, root, resolved)
        if data is None:
            return []  # a path that climbs out of the submissions root (or is no file) is never read
        if ingested is not None and hashlib.sha256(data).hexdigest() not in ingested:
            return []  # edited or replaced since ingest: its rows are not the ones the query names
        read = read_file(path.name, data, load_dictionary(), defer=True)
    except (OSError, FileReject):
        return []  # the file is gone or unreadable now: the workbook says so, the query stays
    return [s for s in read.sheets if (s.frame is not None or s.deferred is not None) and form in (None, s.form)]


def _sheet_ids(frame: pl.DataFrame, rows: set[int]) -> dict[int, SiteIds]:
    """{row: ids} for the asked rows of one parsed sheet (ROW and named columns)."""
    asked = pl.DataFrame({ROW: sorted(rows)}, schema={ROW: pl.Int64})
    picked = frame.select(pl.col(ROW).cast(pl.Int64), *_id_columns(frame)).join(asked, on=ROW, how="semi")
    # an id cell holding a resident registration number is shown redacted, never in clear
    return {int(r): (redact(rec), redact(pat)) for r, rec, pat in picked.iter_rows()}


def _deferred_ids(
    group: list[tuple[str, DeferredCsv]], names: tuple[str, ...], wanted: dict[str, set[int]]
) -> dict[tuple[str, int], SiteIds]:
    """Ids of the asked rows of many deferred CSVs of one layout: only the asked lines of the files whose lines are
    records (read_deferred_rows), the other files parsed whole in one call (an unreadable file's rows are simply
    absent, as when it is read alone)."""
    files = [f for f, _ in group]
    cut, whole = read_deferred_rows([d for _, d in group], [wanted[f] for f in files])
    parts = [cut.select(ITEM, ROW, *_id_columns(cut, names))]
    if whole:
        parsed, _unreadable = read_deferred([group[n][1] for n in whole])
        asked = pl.DataFrame(
            [(k, r) for k, n in enumerate(whole) for r in wanted[files[n]]],
            schema={ITEM: pl.Int64, ROW: pl.Int64},
            orient="row",
        )
        picked = parsed.select(pl.col(ITEM).cast(pl.Int64), pl.col(ROW).cast(pl.Int64), *_id_columns(parsed, names))
        back = pl.col(ITEM).replace_strict(dict(enumerate(whole)), return_dtype=pl.Int64)  # the group's indices
        parts.append(picked.join(asked, on=[ITEM, ROW], how="semi").with_columns(back))
    return {
        (files[i], int(r)): (redact(rec), redact(pat))
        for i, r, rec, pat in pl.concat(parts, how="vertical_relaxed").iter_rows()
    }


def site_ids(
    root: Path, wanted: Iterable[tuple[str, int, str | None]], ingested: dict[str, set[str]] | None = None
) -> dict[tuple[str, int], SiteIds]:
    """{(source_file, source_row): (record_id, patient_id)} for the (source_file, source_row, form) asked for.
    A file outside `root` (a path that climbs out) is never read; with `ingested` ({source_file: SHA-256 of the
    versions ingest read there}, from audit.ingest_ledger), a file whose bytes match none gives no ids."""
    root = Path(root)
    by_file: dict[tuple[str, str | None], set[int]] = defaultdict(set)
    for f, r, form in wanted:
        if f and r is not None:
            by_file[(f, form)].add(int(r))
    out: dict[tuple[str, int], SiteIds] = {}
    layouts: dict[tuple[str, tuple[str, ...]], list[tuple[str, DeferredCsv]]] = defaultdict(list)
    deferred_rows: dict[str, set[int]] = defaultdict(set)
    resolved: dict[Path, Path] = {}
    for (f, form), rows in by_file.items():
        known = None if ingested is None else ingested.get(f, set())
        for sheet in _sheets_of_file(root / f, root, form, resolved, known):
            if sheet.deferred is not None:  # a plain CSV (one sheet): parsed below with the others of its layout
                layouts[(sheet.deferred.sep, tuple(sheet.names))].append((f, sheet.deferred))
                deferred_rows[f] |= rows
            elif sheet.frame is not None:
                for row, ids in _sheet_ids(sheet.frame, rows).items():
                    out[(f, row)] = ids  # a later sheet of the same form wins, as it always did
    for (_, names), group in layouts.items():
        out.update(_deferred_ids(group, names, deferred_rows))
    return out
