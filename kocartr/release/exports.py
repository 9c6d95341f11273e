"""Release files that SAS and R users open without DuckDB or Arrow: CSV and SAS transport (XPT v5) for every ADaM
and analysis table, and a Define-XML 2.1 document describing them.

- CSV (`csv/<schema>/<table>.csv`): UTF-8, header row, ISO dates, empty cell = missing, full column names.
- XPT v5 (`xpt/<schema>/<name>.xpt`): the format regulators accept (FDA Study Data Technical Conformance Guide:
  SAS transport version 5). v5 limits names to 8 characters and labels to 40: ADaM names already fit; longer
  analysis-table names get a deterministic short name (`sas_name`), and `define.xml` maps it back to the full
  name. Dates are SAS dates with format DATE9.; flags stay character; character values are UTF-8 bytes. v5 caps
  them at 200 bytes: a longer value is split, never cut, by the CDISC convention for long text (SDTMIG v3.4
  section 4.5.3.2): the variable holds the first part and continuation variables suffixed 1, 2, ... the rest,
  split before a blank where one falls within the limit (v5 drops trailing blanks; a leading blank survives), so
  `NOTE || NOTE1 || ...` (R `paste0`, SAS `trim(NOTE) || NOTE1`) gives back the value; define.xml names each part.
- `define.xml`: Define-XML 2.1 (CDISC) generated from the same column descriptions as columns.csv (dbt docs
  persisted into the warehouse), one ItemGroupDef per dataset with its class, structure and file.

XPT headers carry a creation time; it is set to the cut-off so that a rebuild is byte-identical.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    import polars as pl

EXPORT_SCHEMAS = ("adam", "analysis")
XPT_MAX_CHAR_BYTES = 200
XPT_MAX_LABEL = 40
# ADaM dataset classes (ADaMIG v1.3 / ADaM OCCDS v1.1); other analysis tables are ADAM OTHER.
ADAM_CLASSES = {
    "adsl": ("SUBJECT LEVEL ANALYSIS DATASET", "One record per subject"),
    "adtte": ("BASIC DATA STRUCTURE", "One record per subject per infusion per parameter"),
    "adrs": ("BASIC DATA STRUCTURE", "One record per subject per parameter"),
    "adae": ("OCCURRENCE DATA STRUCTURE", "One record per subject per adverse event"),
}
_SAS_TIME = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass
class ColumnMeta:
    name: str
    sas_name: str
    duck_type: str
    description: str
    length: int | None = None
    continues: str | None = None  # the variable this one continues (XPT long-text split), else None

    @property
    def data_type(self) -> str:
        """Define-XML data type of the XPT variable (dates are numeric SAS dates: integer with DATE9.)."""
        t = self.duck_type.upper()
        if t == "DATE" or t.startswith(
            ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
        ):
            return "integer"
        if t.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL")):
            return "float"
        return "text"


@dataclass
class DatasetMeta:
    schema: str
    table: str
    sas_name: str
    label: str
    rows: int
    columns: list[ColumnMeta] = field(default_factory=list)

    @property
    def xpt(self) -> str:
        return f"xpt/{self.schema}/{self.sas_name.lower()}.xpt"

    @property
    def csv(self) -> str:
        return f"csv/{self.schema}/{self.table}.csv"


def sas_name(name: str, taken: set[str]) -> str:
    """A SAS v5 name (<= 8 characters of A-Z, 0-9, _; not starting with a digit) for `name`, unique within
    `taken`: the name upper-cased and cut to 8 characters, with a numeric suffix on collision. Deterministic for
    the same table (columns are named in table order)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    if clean[:1].isdigit():
        clean = "_" + clean
    candidate, n = clean[:8], 1
    while candidate in taken:
        suffix = str(n)
        candidate = clean[: 8 - len(suffix)] + suffix
        n += 1
    taken.add(candidate)
    return candidate


def _label(text: str) -> str:
    """An XPT v5 label: ASCII, at most 40 characters (the full text stays in define.xml and columns.csv)."""
    ascii_text = text.encode("ascii", "replace").decode().replace("?", " ").strip()
    return ascii_text if len(ascii_text) <= XPT_MAX_LABEL else ascii_text[: XPT_MAX_LABEL - 3].rstrip() + "..."


def _sas_timestamp(cutoff: date) -> bytes:
    return f"{cutoff.day:02d}{_MONTHS[cutoff.month - 1]}{cutoff.year % 100:02d}:00:00:00".encode()


def _fix_header_times(path: Path, cutoff: date) -> None:
    """Replace the creation/modification times in the XPT header records (before the first observation) with
    the cut-off, so that the same data give the same bytes. In place: the header is the first few KiB and a time
    keeps its 16 bytes (reading and rewriting a 500 MB file for them cost seconds of I/O)."""
    from kocartr.release.xpt import read_header

    with open(path, "r+b") as fh:
        head, marker = read_header(fh)
        if marker < 0:
            raise ValueError(f"{path}: no OBS header record")
        fixed = _SAS_TIME.sub(_sas_timestamp(cutoff), head[:marker])
        if len(fixed) != marker:  # pragma: no cover - a SAS time is 16 bytes before and after
            raise ValueError(f"{path}: header times changed length")
        fh.seek(0)
        fh.write(fixed)


def split_text(value: str, limit: int = XPT_MAX_CHAR_BYTES) -> list[str]:
    """`value` in parts of at most `limit` UTF-8 bytes whose concatenation is `value`: cut at a character
    boundary, before the last blank that leaves a non-empty part (so no part ends in a blank, which v5 would drop)."""
    parts: list[str] = []
    rest = value
    while len(rest.encode()) > limit:
        end = len(rest.encode()[:limit].decode("utf-8", "ignore"))  # characters that fit in `limit` bytes
        blank = rest.rfind(" ", 1, end + 1)
        cut = blank if blank > 0 and rest[:blank].strip() else end
        parts.append(rest[:cut])
        rest = rest[cut:]
    return [*parts, rest]


def _continuation_name(base: str, k: int, taken: set[str]) -> str:
    """`NOTE` -> `NOTE1`, `NOTE2`, ...: the base cut so the suffix fits 8 characters, unique within `taken`."""
    candidate = base[: 8 - len(str(k))] + str(k)
    if candidate in taken:
        return sas_name(candidate, taken)
    taken.add(candidate)
    return candidate


def _check_parts(name: str, split: list[list[str] | None]) -> None:
    """A cut inside a run of 14 or more digits could leave 13 of them, RRN-shaped, at the end of a part: the
    release's scan checks the table's values in the release database, not the XPT's parts, so the parts are
    checked here (the few values over 200 bytes) and the export refused on one."""
    from kocartr.privacy import output_has_rrn
    from kocartr.release.publish import ReleaseError

    for parts in split:
        if parts is not None and len(parts) > 1 and any(output_has_rrn(p) for p in parts):
            raise ReleaseError(
                f"{name}: splitting a text value over {XPT_MAX_CHAR_BYTES} bytes made an RRN-shaped part"
            )


def _split_long_text(
    df: pl.DataFrame, columns: list[ColumnMeta], taken: set[str]
) -> tuple[pl.DataFrame, list[ColumnMeta]]:
    """Split every text column with a value over the v5 limit into continuation columns (placed right after it,
    in the polars frame `df` and in the returned column list). Returns (frame, columns)."""
    import polars as pl

    out: list[ColumnMeta] = []
    for c in columns:
        out.append(c)
        if c.data_type != "text" or c.duck_type.upper() == "DATE" or (c.length or 0) <= XPT_MAX_CHAR_BYTES:
            continue
        split = [None if v is None else split_text(v) for v in df[c.name].to_list()]
        _check_parts(c.name, split)
        parts = {c.name: [None if p is None else p[0] for p in split]}
        c.length = max(len(p[0].encode()) for p in split if p is not None)
        for k in range(1, max(len(p) for p in split if p is not None)):
            part = ColumnMeta(c.name, _continuation_name(c.sas_name, k, taken), c.duck_type, c.description)
            values = [p[k] if p is not None and len(p) > k else None for p in split]
            part.length, part.continues = max(len(v.encode()) for v in values if v is not None), c.sas_name
            parts[part.sas_name] = values
            out.append(part)
        at = df.columns.index(c.name)
        added = pl.DataFrame({name: pl.Series(name, v, dtype=pl.String) for name, v in parts.items()})
        df = pl.concat([df[:, :at], added, df[:, at + 1 :]], how="horizontal")
    return df, out


def _frame_for_xpt(rows, columns: list[ColumnMeta], taken: set[str]) -> tuple[pl.DataFrame, list[ColumnMeta]]:
    """The table's sorted rows (Arrow) as a polars frame XPT can hold (dates as dates, booleans as Y/N, numbers
    as doubles, long text split) and its columns, continuation parts included. Built column by column (no Python
    object per value; pyreadstat writes a polars frame without the per-value `pd.isna` of a pandas one). A date
    column without any date is written as text, as the pandas frame of earlier releases had it (an empty object
    column), so that the files stay byte-identical."""
    import polars as pl

    df = pl.from_arrow(rows)
    assert isinstance(df, pl.DataFrame)
    exprs = []
    for c in columns:
        t, col = c.duck_type.upper(), pl.col(c.name)
        if t == "DATE":
            all_null = df[c.name].null_count() == df.height
            exprs.append(col.cast(pl.String) if all_null else col)
        elif t == "BOOLEAN":
            exprs.append(pl.when(col).then(pl.lit("Y")).when(col.not_()).then(pl.lit("N")).alias(c.name))
        elif c.data_type == "text":
            if df.schema[c.name] != pl.String:  # another type (none today): its Python text, as before
                values = [None if v is None else str(v) for v in df[c.name].to_list()]
                df = df.with_columns(pl.Series(c.name, values, dtype=pl.String))
            longest = df[c.name].str.len_bytes().max()
            c.length = int(longest) if isinstance(longest, int) and longest > 0 else 1
            exprs.append(col)
        elif c.data_type in ("integer", "float"):
            exprs.append(col.cast(pl.Float64).fill_nan(None))
        else:  # pragma: no cover - every DuckDB type is date, boolean, text, integer or float above
            raise TypeError(f"{c.name}: {c.duck_type}")
    df, columns = _split_long_text(df.select(exprs), columns, taken)
    return df.rename({c.name: c.sas_name for c in columns if c.continues is None}), columns


@dataclass
class Exporter:
    """Writes the CSV and XPT files of the exported tables into `folder`, one table at a time from its sorted rows
    (the release's copy stage hands each table over as it copies it: one sort, one read); `datasets` collects
    their metadata for define.xml. Tables must come in (schema, table) order: the XPT dataset names depend on it."""

    folder: Path
    table_labels: dict[str, str]
    cutoff: date
    datasets: list[DatasetMeta] = field(default_factory=list)
    taken_tables: set[str] = field(default_factory=set)

    def add(self, con, rows, schema: str, table: str, columns: list[tuple[str, str, str]]) -> DatasetMeta:
        """Write one table: `rows` its Arrow rows sorted by all columns, `columns` (name, DuckDB type, description)
        in table order; `con` a DuckDB connection (writes the CSV)."""
        from kocartr.release import xpt

        taken_cols: set[str] = set()
        meta = DatasetMeta(
            schema,
            table,
            sas_name(table, self.taken_tables),
            self.table_labels.get(f"{schema}.{table}") or table,
            rows.num_rows,
            [ColumnMeta(n, sas_name(n, taken_cols), t, d) for n, t, d in columns],
        )
        csv_path = self.folder / meta.csv
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        # The CSV is written from the rows the XPT frame is made of (COPY keeps their order).
        con.register("_export_rows", rows)
        try:
            con.execute(f"""COPY (SELECT * FROM _export_rows) TO '{csv_path}'
                            (HEADER, DELIMITER ',', DATEFORMAT '%Y-%m-%d')""")
        finally:
            con.unregister("_export_rows")
        xpt_path = self.folder / meta.xpt
        xpt_path.parent.mkdir(parents=True, exist_ok=True)
        frame, meta.columns = _frame_for_xpt(rows, meta.columns, taken_cols)
        xpt.write_xport(
            frame,
            xpt_path,
            file_label=_label(meta.label),
            table_name=meta.sas_name,
            column_labels={
                c.sas_name: _label(f"{c.continues} continued" if c.continues else c.description or c.name)
                for c in meta.columns
            },
            variable_format={c.sas_name: "DATE9." for c in meta.columns if c.duck_type.upper() == "DATE"},
        )
        _fix_header_times(xpt_path, self.cutoff)
        self.datasets.append(meta)
        return meta


def write_exports(
    con,
    folder: Path,
    col_docs: list[dict[str, Any]],
    table_labels: dict[str, str],
    cutoff: date,
    schemas: tuple[str, ...] = EXPORT_SCHEMAS,
) -> list[DatasetMeta]:
    """Write CSV and XPT v5 files of every table of `schemas` in the release database `con` (read-only) into
    `folder`; return their metadata for define.xml. (The release itself exports each table as it copies it.)"""
    docs = {(d["schema"], d["table"], d["column"]): d for d in col_docs}
    tables = con.execute(
        f"""SELECT schema_name, table_name FROM duckdb_tables()
            WHERE schema_name IN ({", ".join("?" * len(schemas))}) ORDER BY 1, 2""",
        list(schemas),
    ).fetchall()
    exporter = Exporter(folder, table_labels, cutoff)
    for schema, table in tables:
        cols = con.execute(
            """SELECT column_name, data_type FROM duckdb_columns()
                              WHERE schema_name = ? AND table_name = ? ORDER BY column_index""",
            [schema, table],
        ).fetchall()
        columns = [(n, t, (docs.get((schema, table, n)) or {}).get("description") or "") for n, t in cols]
        rows = con.sql(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').to_arrow_table()
        exporter.add(con, rows, schema, table, columns)
    return exporter.datasets


def define_xml(datasets: list[DatasetMeta], cutoff: date, dictionary_version: str) -> str:
    """Define-XML 2.1 for the exported datasets (ODM 1.3.2 + def 2.1 namespaces)."""
    cut = cutoff.isoformat()
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:xlink="http://www.w3.org/1999/xlink"',
        '     xmlns:def="http://www.cdisc.org/ns/def/v2.1" ODMVersion="1.3.2" FileType="Snapshot"',
        f'     FileOID="KOCARTR.DEFINE.{cut}" CreationDateTime="{cut}T00:00:00" Originator="Ko-CARTR"',
        '     SourceSystem="kocartr" def:Context="Other">',
        f'  <Study OID="KOCARTR.{cut}">',
        "    <GlobalVariables>",
        "      <StudyName>Ko-CARTR</StudyName>",
        "      <StudyDescription>Korean CAR T-Cell Registry: monthly analysis datasets</StudyDescription>",
        "      <ProtocolName>Ko-CARTR registry</ProtocolName>",
        "    </GlobalVariables>",
        f'    <MetaDataVersion OID="MDV.KOCARTR.{cut}" Name="Ko-CARTR release {cut}"',
        f'        Description="Cut-off {cut}; data dictionary {escape(dictionary_version)}" def:DefineVersion="2.1.0">',
        "      <def:Standards>",
        '        <def:Standard OID="STD.ADAMIG" Name="ADaMIG" Type="IG" Version="1.3" Status="Final"/>',
        "      </def:Standards>",
    ]
    for ds in datasets:
        cls, structure = ADAM_CLASSES.get(ds.table, ("ADAM OTHER", "One record per row of the analysis table"))
        std = ' def:StandardOID="STD.ADAMIG"' if ds.table in ADAM_CLASSES else ' def:IsNonStandard="Yes"'
        lines += [
            f'      <ItemGroupDef OID="IG.{ds.schema}.{ds.sas_name}" Name={quoteattr(ds.sas_name)} '
            f'SASDatasetName={quoteattr(ds.sas_name)} Repeating="{"No" if ds.table == "adsl" else "Yes"}" '
            f'IsReferenceData="No" Purpose="Analysis" def:Structure={quoteattr(structure)}{std} '
            f'def:ArchiveLocationID="LF.{ds.schema}.{ds.sas_name}">',
            f'        <Description><TranslatedText xml:lang="en">{escape(ds.label)} '
            f"({escape(ds.schema)}.{escape(ds.table)}; {ds.rows} records)</TranslatedText></Description>",
        ]
        for i, c in enumerate(ds.columns, start=1):
            lines.append(
                f'        <ItemRef ItemOID="IT.{ds.schema}.{ds.sas_name}.{c.sas_name}" OrderNumber="{i}" '
                'Mandatory="No"/>'
            )
        lines += [
            f'        <def:Class Name="{cls}"/>',
            f'        <def:leaf ID="LF.{ds.schema}.{ds.sas_name}" xlink:href="{ds.xpt}">'
            f"<def:title>{ds.xpt}</def:title></def:leaf>",
            "      </ItemGroupDef>",
        ]
    for ds in datasets:
        for c in ds.columns:
            length = f' Length="{c.length}"' if c.data_type == "text" and c.length else ""
            fmt = ' def:DisplayFormat="DATE9."' if c.duck_type.upper() == "DATE" else ""
            full = "" if c.sas_name == c.name else f" [column {c.name} in CSV, Parquet and DuckDB]"
            if c.continues:
                full += f" [continuation of {c.continues}: a value over {XPT_MAX_CHAR_BYTES} bytes goes on here]"
            lines += [
                f'      <ItemDef OID="IT.{ds.schema}.{ds.sas_name}.{c.sas_name}" Name={quoteattr(c.sas_name)} '
                f'SASFieldName={quoteattr(c.sas_name)} DataType="{c.data_type}"{length}{fmt}>',
                f'        <Description><TranslatedText xml:lang="en">{escape(c.description or c.name)}{escape(full)}'
                "</TranslatedText></Description>",
                '        <def:Origin Type="Derived"/>',
                "      </ItemDef>",
            ]
    lines += ["    </MetaDataVersion>", "  </Study>", "</ODM>", ""]
    return "\n".join(lines)
