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

from kocartr.ingest.reading import ITEM, ROW, DeferredCsv, FileReject, SheetData, read_deferred, read_file
from kocartr.privacy import redact

SiteIds = tuple[str | None, str | None]  # (record_id, patient_id) as the site wrote them
_ID_COLUMNS = ("record_id", "patient_id")


def _id_columns(frame: pl.DataFrame) -> list[pl.Expr]:
    have = set(frame.columns)
    return [(pl.col(c) if c in have else pl.lit(None, pl.String)).alias(c) for c in _ID_COLUMNS]


def _sheets_of_file(path: Path, root: Path, form: str | None, resolved: dict[Path, Path]) -> list[SheetData]:
    """The file's sheets of `form` (every sheet when None), CSVs possibly deferred; none if the file is unreadable
    or lies outside `root` (checked as ingest checks it, folders resolved once each)."""
    from kocartr.dictionary import load_dictionary
    from kocartr.ingest.pipeline import read_inside_root

    try:
        data = read_inside_root(path, root, resolved)
        if data is None:
            return []  # a path that climbs out of the submissions root (or is no file) is never read
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
    """Ids of the asked rows of many deferred CSVs of one layout, parsed in one call (an unreadable file's rows
    are simply absent, as when it is read alone)."""
    parsed, _unreadable = read_deferred([d for _, d in group])
    frame = parsed.rename({f"c{i}": n for i, n in enumerate(names)})
    files = [f for f, _ in group]
    asked = pl.DataFrame(
        [(n, r) for n, f in enumerate(files) for r in wanted[f]], schema={ITEM: pl.Int64, ROW: pl.Int64}, orient="row"
    )
    picked = frame.select(pl.col(ITEM).cast(pl.Int64), pl.col(ROW).cast(pl.Int64), *_id_columns(frame)).join(
        asked, on=[ITEM, ROW], how="semi"
    )
    return {(files[i], int(r)): (redact(rec), redact(pat)) for i, r, rec, pat in picked.iter_rows()}


def site_ids(root: Path, wanted: Iterable[tuple[str, int, str | None]]) -> dict[tuple[str, int], SiteIds]:
    """{(source_file, source_row): (record_id, patient_id)} for the (source_file, source_row, form) asked for.
    A file outside `root` (a path that climbs out) is never read."""
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
        for sheet in _sheets_of_file(root / f, root, form, resolved):
            if sheet.deferred is not None:  # a plain CSV (one sheet): parsed below with the others of its layout
                layouts[(sheet.deferred.sep, tuple(sheet.names))].append((f, sheet.deferred))
                deferred_rows[f] |= rows
            elif sheet.frame is not None:
                for row, ids in _sheet_ids(sheet.frame, rows).items():
                    out[(f, row)] = ids  # a later sheet of the same form wins, as it always did
    for (_, names), group in layouts.items():
        out.update(_deferred_ids(group, names, deferred_rows))
    return out
