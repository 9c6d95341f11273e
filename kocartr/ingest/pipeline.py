"""The one orchestrating function: discover -> read -> validate -> pseudonymize -> write, in one transaction."""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import stat
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from kocartr.dictionary import Dictionary, load_dictionary
from kocartr.ingest import messages, warehouse
from kocartr.ingest.discover import Batch, discover_batches
from kocartr.ingest.privacy import DEMO_KEY, KeyMismatchError, check_fingerprint, patient_keys, record_keys
from kocartr.ingest.reading import (
    BAD_COLS,
    ITEM,
    ROW,
    DeferredCsv,
    FileRead,
    FileReject,
    SheetData,
    read_deferred,
    read_file,
)
from kocartr.ingest.validate import (
    FOLDER_MONTH,
    FOLDER_SITE,
    KEEP_IF_BLANK,
    SOURCE_FILE,
    unknown_column_rrn_issues,
    unregistered_patient_issues,
    validate_form,
)
from kocartr.privacy import redact, redact_expr

log = logging.getLogger("kocartr.ingest")
# Bounds on what is read and not yet written (memory; results are the same whatever the chunks): a site form is
# validated and written once FORM_CHUNK_ROWS of its rows wait, every site form once PENDING_ROWS rows wait in all.
FORM_CHUNK_ROWS = 400_000
PENDING_ROWS = 2_000_000
HAS_UNKNOWN = KEEP_IF_BLANK
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # the errors pathlib's is_file reads as "no"


class IngestError(RuntimeError):
    """Ingest stopped; the transaction was rolled back, so no batch is half-written."""


@dataclass
class FileResult:
    source_file: str
    status: str  # ingested | skipped | rejected | deferred
    form: str | None = None
    rows_received: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    rows_read: int | None = None  # a rejected file's records read before rejection (None: none were read)


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    demo_key: bool = False

    def _sum(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def rows_received(self) -> int:
        return self._sum("rows_received")

    @property
    def rows_accepted(self) -> int:
        return self._sum("rows_accepted")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    def count(self, status: str) -> int:
        return len({f.source_file for f in self.files if f.status == status})

    def rejected_rows(self) -> str:
        """' (R rows read, U not read)' of the rejected files; '' when none was rejected."""
        rejected = [f for f in self.files if f.status == "rejected"]
        if not rejected:
            return ""
        unread = len({f.source_file for f in rejected if f.rows_read is None})
        return rows_read_note(sum(f.rows_read or 0 for f in rejected), unread)

    @property
    def by_form(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: {"received": 0, "accepted": 0, "quarantined": 0})
        for f in self.files:
            if f.status == "ingested" and f.form:
                o = out[f.form]
                o["received"] += f.rows_received
                o["accepted"] += f.rows_accepted
                o["quarantined"] += f.rows_quarantined
        return dict(out)

    @property
    def rows_per_second(self) -> float:
        return self.rows_received / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        deferred = self.count("deferred")
        return (
            f"ingest: {self.count('ingested')} files ingested, {self.count('skipped')} unchanged, "
            f"{self.count('rejected')} rejected{self.rejected_rows()}"
            + (f", {deferred} deferred to a later month" if deferred else "")
            + f"; rows {self.rows_received} = {self.rows_accepted} accepted + "
            f"{self.rows_quarantined} quarantined; {self.seconds:.1f} s ({self.rows_per_second:,.0f} rows/s)"
            + ("; DEMO KEY (public): registry keys are not secret" if self.demo_key else "")
        )


@dataclass
class _Pending:
    """Files read but not yet validated/written, per form."""

    frames: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: defaultdict(list))
    extra_issues: dict[str, list[pl.DataFrame]] = field(default_factory=lambda: defaultdict(list))
    deferred: dict[str, list[tuple[str, Batch, SheetData]]] = field(default_factory=lambda: defaultdict(list))
    ledger: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def take(self, form: str) -> tuple[list[pl.DataFrame], list[pl.DataFrame], list, list[dict]]:
        """A form's frames, extra issues, deferred sheets and ledger entries, no longer pending."""
        self.rows.pop(form, None)
        return (
            self.frames.pop(form, []),
            self.extra_issues.pop(form, []),
            self.deferred.pop(form, []),
            self.ledger.pop(form, []),
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows_read_note(read: int, unread: int) -> str:
    """' (R rows read, U not read)': what rejected files held, which the rows received do not count."""
    return f" ({read} rows read" + (f", {unread} not read)" if unread else ")")


def _reject_row(
    source_file: str,
    sha: str,
    batch: Batch,
    reason: str,
    detail: str = "",
    form: str | None = None,
    rows: int | None = None,
) -> dict:
    en, ko = messages.reject_message(reason, detail)
    return {
        "source_file": source_file,
        "file_sha256": sha,
        "site_code": redact(batch.site) or None,
        "submission_month": redact(batch.month) or None,
        "form": form,
        "reason_code": reason,
        "detail": redact(detail) or None,
        "message_en": redact(en),
        "message_ko": redact(ko),
        "rows_read": rows,
    }


def _sheet_rows(sheet: SheetData) -> int:
    """Data records of a sheet as read (header excluded), parsed or deferred."""
    if sheet.deferred is not None:
        return sheet.deferred.records - 1
    return sheet.frame.height if sheet.frame is not None else 0


def read_inside_root(path: Path, root: Path, resolved: dict[Path, Path]) -> bytes | None:
    """File bytes, or None when the path (a symlink, or a symlinked folder) resolves outside the submissions
    root. Folders are resolved once each (cached), files only when they are links. The one root check of every
    reader of the submissions (ingest, the site query workbooks' site ids)."""
    parent = path.parent
    for p in (root, parent):
        if p not in resolved:
            resolved[p] = p.resolve()
    try:
        mode = os.lstat(path).st_mode  # one system call where is_symlink and is_file took one each
    except OSError as e:
        if e.errno not in _MISSING:
            raise
        return None  # gone, or a path through a non-folder: not a file (as is_file says)
    if stat.S_ISLNK(mode):
        real = path.resolve()
        regular = real.is_file()
    else:
        real, regular = resolved[parent] / path.name, stat.S_ISREG(mode)
    if not regular or not real.is_relative_to(resolved[root]):
        return None
    with open(real, "rb") as fh:
        return fh.read()


def _relative(path: Path, root: Path) -> str:
    """The path below root, POSIX-style. Discovery builds every path from root, so the text after root's is the
    answer (os.path.relpath, for any other path, costs ~10 us a file)."""
    text, top = str(path), str(root)
    if text.startswith(top + "/") and top not in ("", "."):
        return text[len(top) + 1 :]
    return Path(os.path.relpath(path, root)).as_posix()


def _ledger_entry(rel: str, sha: str, batch: Batch, sheet: SheetData, read: FileRead, d: Dictionary) -> dict:
    return {
        "source_file": rel,
        "file_sha256": sha,
        "site_code": batch.site,
        "submission_month": batch.month,
        "form": sheet.form,
        "sheet": redact(sheet.sheet),
        "file_format": read.file_format,
        "encoding": read.encoding,
        "rows_received": 0,  # counted after blank rows are dropped
        "unknown_columns": redact("; ".join(sheet.unknown_columns)) or None,
        "missing_columns": "; ".join(sheet.missing_columns) or None,
        "dictionary_version": d.version,
    }


def _deferred_csv(s: SheetData) -> DeferredCsv:
    """The deferred CSV of a sheet queued as deferred (only such sheets reach `_materialize`)."""
    assert s.deferred is not None, "a deferred sheet without its DeferredCsv"
    return s.deferred


def _materialize(items: list[tuple[str, Batch, SheetData]]) -> tuple[list[pl.DataFrame], dict[str, FileReject]]:
    """Deferred CSVs of one form, parsed in as few polars calls as possible (grouped by separator and column
    layout), with the same columns the per-file path produces; plus files that turned out unreadable."""
    groups: dict[tuple, list[tuple[str, Batch, SheetData]]] = defaultdict(list)
    for item in items:
        s = item[2]
        groups[(_deferred_csv(s).sep, tuple(s.names))].append(item)
    out, bad = [], {}
    for (_, names), group in groups.items():
        parsed, unreadable = read_deferred([_deferred_csv(s) for _, _, s in group])
        bad.update({group[n][0]: r for n, r in unreadable.items()})
        meta = pl.DataFrame(
            {
                SOURCE_FILE: [r for r, _, _ in group],
                FOLDER_SITE: [b.site for _, b, _ in group],
                FOLDER_MONTH: [b.month for _, b, _ in group],
            }
        )
        frame = parsed.rename({f"c{i}": n for i, n in enumerate(names)})
        out.append(
            pl.concat([frame.drop(ITEM), meta[frame[ITEM]]], how="horizontal").with_columns(
                pl.lit(False).alias(HAS_UNKNOWN)
            )
        )
    return out, bad


def _prepare(frames: list[pl.DataFrame], d: Dictionary, form: str) -> pl.DataFrame:
    """All of a form's files as one frame with every dictionary column present (missing optional ones null)."""
    cols = d.columns(form)
    # One chunk per column: thousands of small per-file chunks make every later expression several times slower.
    frame = pl.concat(frames, how="diagonal").rechunk()
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in cols if c not in frame.columns)


def _wrong_folder_files(frame: pl.DataFrame, source_field: str = "site_code") -> dict[str, tuple[str, str]]:
    """Files whose rows ALL name another site (or month): they sit in the wrong folder and are rejected whole
    (source_file -> (reason, expected)); single mismatching rows are quarantined instead."""
    site = pl.col(source_field).str.strip_chars().str.to_uppercase()
    month = pl.col("submission_month").str.strip_chars()
    # Only a file with a row naming another site or month can be misfiled: the per-file look reads those files alone.
    suspects = frame.filter((site != pl.col(FOLDER_SITE)) | (month != pl.col(FOLDER_MONTH)))[SOURCE_FILE].unique()
    if suspects.is_empty():
        return {}
    per_file = (
        frame.filter(pl.col(SOURCE_FILE).is_in(suspects.implode()))
        .group_by(SOURCE_FILE)
        .agg(
            site_given=site.is_not_null().any(),
            site_match=(site == pl.col(FOLDER_SITE)).any(),
            month_given=month.is_not_null().any(),
            month_match=(month == pl.col(FOLDER_MONTH)).any(),
            folder_site=pl.col(FOLDER_SITE).first(),
            folder_month=pl.col(FOLDER_MONTH).first(),
        )
    )
    out = {}
    for r in per_file.iter_rows(named=True):
        if r["site_given"] and not r["site_match"]:
            out[r[SOURCE_FILE]] = ("wrong_site_folder", r["folder_site"])
        elif r["month_given"] and not r["month_match"]:
            out[r[SOURCE_FILE]] = ("wrong_month_folder", r["folder_month"])
    return out


def _keys(key: bytes, accepted: pl.DataFrame, cache: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """patient_key per distinct (site, patient_id); each pair is keyed once per ingest call, across forms."""
    pairs = accepted.select("site_code", "patient_id").unique()
    known = cache.get("keys")
    todo = pairs if known is None else pairs.join(known, on=["site_code", "patient_id"], how="anti")
    if todo.height:
        fresh = patient_keys(key, todo["site_code"], todo["patient_id"])
        cache["keys"] = fresh if known is None else pl.concat([known, fresh])
    return cache["keys"]


def _flush(run: _Run, forms: Collection[str]) -> None:
    """Validate and write the pending rows of `forms`: accepted rows, quarantine, ledger. Site forms go first: a
    linkage row is checked against the registrations written before it (same transaction)."""
    d, ledger = run.d, []
    for form in sorted(forms, key=lambda f: (not d.form(f).is_site_form, f)):
        ledger += _flush_form(run, form)
    if ledger:
        warehouse.insert(
            run.con,
            f"{warehouse.AUDIT}.ingest_ledger",
            pl.DataFrame(ledger, schema={n: _pl_type(t) for n, t in warehouse.LEDGER_COLUMNS}).sort(
                "source_file", "form"
            ),
        )


def _flush_form(run: _Run, form: str) -> list[dict]:
    """One form's pending files: reject the unreadable and misfiled ones, write accepted and quarantined rows;
    returns their ledger entries (with counts)."""
    con, d, key, report = run.con, run.d, run.key, run.report
    file_sha, file_batch, rejects = run.file_sha, run.file_batch, run.rejects
    frames, extra, deferred, entries = run.pending.take(form)
    late_frames, unreadable = _materialize(deferred)
    del deferred  # the CSV bytes: parsed now
    frame = _prepare(frames + late_frames, d, form)
    del frames, late_frames
    wrong = _wrong_folder_files(frame, d.form(form).source_field) if frame.height else {}
    read = dict(frame.group_by(SOURCE_FILE).len().iter_rows()) if wrong else {}
    for path, r in sorted(unreadable.items()):
        rejects.append(_reject_row(path, file_sha[path], file_batch[path], r.reason, r.detail, form))
        report.files.append(FileResult(path, "rejected", form, reason=r.reason))
    if wrong:
        frame = frame.filter(~pl.col(SOURCE_FILE).is_in(list(wrong)))
        extra = [e.filter(~pl.col(SOURCE_FILE).is_in(list(wrong))) for e in extra]
        for path, (reason, expected) in sorted(wrong.items()):
            rejects.append(_reject_row(path, file_sha[path], file_batch[path], reason, expected, form, read[path]))
            report.files.append(FileResult(path, "rejected", form, reason=reason, rows_read=read[path]))
    accepted, issues, received_df = validate_form(frame, d, form)
    if _keyed_by_agency(d, form):
        extra = [*extra, unregistered_patient_issues(accepted, _registered_keys(con))]
    issues = pl.concat([issues] + extra)
    if extra:  # rows with an RRN in a column outside the dictionary, linkage rows of unregistered patients
        accepted = accepted.join(issues.select(SOURCE_FILE, ROW).unique(), on=[SOURCE_FILE, ROW], how="anti")
    if accepted.height:
        _write_accepted(con, key, form, accepted, file_sha, run.key_cache)
        run.touched.update((form, s) for s in accepted["site_code"].unique().to_list())
    del accepted
    if issues.height:
        _write_quarantine(con, key, form, _with_patient_keys(key, issues, frame), file_sha, file_batch)
    gone = set(wrong) | set(unreadable)
    entries = [e for e in entries if e["source_file"] not in gone]
    return _ledger_counts(entries, form, dict(received_df.iter_rows()), issues, report)


def _write_accepted(
    con: duckdb.DuckDBPyConnection,
    key: bytes,
    form: str,
    accepted: pl.DataFrame,
    file_sha: dict[str, str],
    key_cache: dict[str, pl.DataFrame],
) -> None:
    """raw.<form>: accepted rows with their record key, patient key (site forms; linkage returns carry the registry
    key already), file checksum and first version."""
    # Rows are written in (file, row) order, sorted on one integer: the file's rank among the names (few), then
    # the row (< 2^32 in any file that fits in memory); twice as fast as sorting on the name and the row.
    sha = (
        pl.DataFrame({SOURCE_FILE: list(file_sha), "_file_sha256": list(file_sha.values())})
        .sort(SOURCE_FILE)
        .with_row_index("_file_rank")
    )
    accepted = accepted.with_columns(record_keys(key, accepted["site_code"], accepted["record_id"]))
    if "patient_id" in accepted.columns:
        accepted = accepted.join(_keys(key, accepted, key_cache), on=["site_code", "patient_id"], how="left").drop(
            "patient_id"
        )
    accepted = (
        accepted.join(sha, on=SOURCE_FILE, how="left")
        .sort(pl.col("_file_rank").cast(pl.Int64) * (1 << 32) + pl.col(ROW))
        .drop("_file_rank")
        .with_columns(
            pl.lit(1, dtype=pl.Int32).alias("_version"),
            pl.col("submission_month").alias("_valid_from_month"),
            pl.lit(None, dtype=pl.String).alias("_valid_to_month"),
            pl.lit(True).alias("_is_current"),
        )
    )
    warehouse.insert(con, f"{warehouse.RAW}.{form}", accepted)


def _with_patient_keys(key: bytes, issues: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """issues + patient_key of the failing row (site forms), so a pending row names its patient (analyses exclude
    the patient from that toxicity's denominator). None when any rule failed on the patient id itself: never key
    a malformed or identifying value."""
    if not {"site_code", "patient_id"} <= set(frame.columns):  # linkage returns: keyed by the agency
        return issues.with_columns(pl.lit(None, dtype=pl.String).alias("patient_key"))
    bad = issues.filter(pl.col("field").is_in(["site_code", "patient_id"])).select(SOURCE_FILE, ROW).unique()
    ids = (  # the ids of the failing rows only, trimmed
        frame.select(SOURCE_FILE, ROW, "site_code", "patient_id")
        .join(issues.select(SOURCE_FILE, ROW).unique(), on=[SOURCE_FILE, ROW])
        .with_columns(pl.col(c).str.strip_chars().replace("", None) for c in ("site_code", "patient_id"))
        .join(bad, on=[SOURCE_FILE, ROW], how="anti")
        .drop_nulls(["site_code", "patient_id"])
    )
    keyed = ids.join(patient_keys(key, ids["site_code"], ids["patient_id"]), on=["site_code", "patient_id"])
    return issues.join(keyed.select(SOURCE_FILE, ROW, "patient_key").unique(), on=[SOURCE_FILE, ROW], how="left")


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    key: bytes,
    form: str,
    issues: pl.DataFrame,
    file_sha: dict[str, str],
    file_batch: dict[str, Batch],
) -> None:
    """audit.quarantine: one row per failing row and rule, identifiers keyed, values redacted."""
    meta = pl.DataFrame(
        {
            SOURCE_FILE: list(file_batch),
            "site_code": [b.site for b in file_batch.values()],
            "submission_month": [b.month for b in file_batch.values()],
            "file_sha256": [file_sha[p] for p in file_batch],
        }
    )
    q = issues.join(meta, on=SOURCE_FILE, how="left").sort(SOURCE_FILE, ROW, "field", "rule")
    q = q.with_columns(record_keys(key, q["site_code"], q["record_id"].str.strip_chars())).select(
        "site_code",
        "submission_month",
        pl.col(SOURCE_FILE).alias("source_file"),
        "file_sha256",
        pl.lit(form).alias("form"),
        "record_id",
        pl.col(ROW).alias("source_row"),
        redact_expr(pl.col("field")).alias("field"),
        "rule",
        redact_expr(pl.col("value")).alias("value_redacted"),
        "expected",
        "message_en",
        "message_ko",
        "patient_key",
    )
    warehouse.insert(con, f"{warehouse.AUDIT}.quarantine", q)


def _ledger_counts(
    entries: list[dict], form: str, received: dict[str, int], issues: pl.DataFrame, report: IngestReport
) -> list[dict]:
    """Each ledger entry with its rows received, quarantined (a row failing several rules counts once) and
    accepted; the report's file results likewise."""
    q_count = dict(issues.select(SOURCE_FILE, ROW).unique().group_by(SOURCE_FILE).len(name="n").iter_rows())
    for entry in entries:
        n = received.get(entry["source_file"], 0)
        quarantined = q_count.get(entry["source_file"], 0)
        entry.update(rows_received=n, rows_quarantined=quarantined, rows_accepted=n - quarantined)
        report.files.append(FileResult(entry["source_file"], "ingested", form, n, n - quarantined, quarantined))
    return entries


def _keyed_by_agency(d: Dictionary, form: str) -> bool:
    """A declared source's patient rows: they carry the registry patient key as the agency returned it."""
    fm = d.form(form)
    return not fm.is_site_form and fm.patient_level


def _registered_keys(con: duckdb.DuckDBPyConnection) -> pl.Series:
    """Every patient key ever registered (any version): linkage matches the registry's own patient list."""
    return con.sql(f"select distinct patient_key from {warehouse.RAW}.registration").pl()["patient_key"]


def _wrong_source(d: Dictionary, form: str, folder: str) -> bool:
    """A linkage form in a site folder, or a site form in a declared source's folder."""
    fm = d.form(form)
    return folder != fm.source if not fm.is_site_form else folder in d.sources


def _expected_source(d: Dictionary, form: str) -> str:
    fm = d.form(form)
    return f"the {fm.source} folder" if not fm.is_site_form else "a site folder"


def _pl_type(sql: str) -> type[pl.DataType]:
    return pl.Int64 if sql.startswith("BIGINT") else pl.String


def _record_deferred(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    deferred: list[Batch],
    through_month: str,
    report: IngestReport,
    submitters: Collection[str] | None,
) -> None:
    """Files of months after the registry month being built: recorded (not read) until that month is built.
    `submitters`: the site / source folders whose list this call replaces (None: all)."""
    rows = []
    en, ko = messages.reject_message("deferred_later_month", through_month)
    for batch in deferred:
        for path in batch.files:
            rel = redact(Path(os.path.relpath(path, root)).as_posix()) or ""
            rows.append(
                {
                    "source_file": rel,
                    "site_code": batch.site,
                    "submission_month": batch.month,
                    "registry_month": through_month,
                    "message_en": en,
                    "message_ko": ko,
                }
            )
            report.files.append(FileResult(rel, "deferred"))
    # Deferral is a state as of this build: the current list replaces the last one (of the same submitters).
    if submitters is None:
        con.execute(f"DELETE FROM {warehouse.AUDIT}.deferred_files")
    else:
        con.execute(
            f"DELETE FROM {warehouse.AUDIT}.deferred_files WHERE list_contains(?, site_code)", [list(submitters)]
        )
    warehouse.insert(
        con,
        f"{warehouse.AUDIT}.deferred_files",
        pl.DataFrame(rows, schema={n: pl.String for n, _ in warehouse.DEFERRED_COLUMNS}),
    )


def check_warehouse_key(path: Path, key: bytes) -> None:
    """Before any work: refuse a key that is not the one an existing warehouse was built with (read-only look)."""
    if not Path(path).is_file():
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return  # not openable here: the run reports it itself, and ingest checks the key again
    try:
        stored = warehouse.stored_fingerprint(con)
    finally:
        con.close()
    check_fingerprint(stored, key)


@dataclass
class _Run:
    """One ingest call's state: what is read and waiting to be written, and what has been decided per file."""

    con: duckdb.DuckDBPyConnection
    d: Dictionary
    key: bytes
    root: Path
    report: IngestReport
    done: dict[str, set[str]]
    pending: _Pending = field(default_factory=_Pending)
    rejects: list[dict] = field(default_factory=list)
    file_sha: dict[str, str] = field(default_factory=dict)
    file_batch: dict[str, Batch] = field(default_factory=dict)
    touched: set[tuple[str, str]] = field(default_factory=set)
    key_cache: dict[str, pl.DataFrame] = field(default_factory=dict)
    resolved: dict[Path, Path] = field(default_factory=dict)

    @functools.cached_property
    def site_forms(self) -> frozenset[str]:
        return frozenset(f for f, fm in self.d.forms.items() if fm.is_site_form)

    def reject(
        self,
        rel: str,
        sha: str,
        batch: Batch,
        reason: str,
        detail: str = "",
        form: str | None = None,
        rows: int | None = None,
    ) -> None:
        self.rejects.append(_reject_row(rel, sha, batch, reason, detail, form, rows))
        self.report.files.append(FileResult(rel, "rejected", form, reason=reason, rows_read=rows))
        log.info("rejected %s: %s (%s)", rel, reason, "not read" if rows is None else f"{rows} rows read")

    def take_file(self, batch: Batch, path: Path) -> None:
        """Skip a file already ingested with this content, replace one changed since, reject one that cannot be
        read or belongs elsewhere; else queue its sheets."""
        rel_raw = _relative(path, self.root)
        rel = redact(rel_raw)  # a file name is stored too: it must not carry an RRN either
        data = read_inside_root(path, self.root, self.resolved)
        sha = _sha256(data if data is not None else f"link:{rel}".encode())
        if sha in self.done.get(rel, ()):
            self.report.files.append(FileResult(rel, "skipped"))
            return
        if rel in self.done:
            warehouse.remove_path(self.con, self.d, rel)
            self.touched.update((form, batch.site) for form in self.d.forms)
        self.done.setdefault(rel, set()).add(sha)
        if data is None:
            return self.reject(rel, sha, batch, "outside_root")
        if batch.problem:
            return self.reject(rel, sha, batch, batch.problem, batch.detail)
        if rel != rel_raw:
            return self.reject(rel, sha, batch, "direct_identifier", "file name")
        try:
            read = read_file(path.name, data, self.d, defer=True)
        except FileReject as exc:
            return self.reject(rel, sha, batch, exc.reason, exc.detail, exc.form)
        for r in read.rejects:
            self.reject(rel, sha, batch, r.reason, r.detail, r.form)
        for sheet in read.sheets:
            if _wrong_source(self.d, sheet.form, batch.site):
                expected = _expected_source(self.d, sheet.form)
                self.reject(rel, sha, batch, "form_not_for_source", expected, sheet.form, _sheet_rows(sheet))
            else:
                self.take_sheet(rel, sha, batch, sheet, read)
        self.flush_full()

    def take_sheet(self, rel: str, sha: str, batch: Batch, sheet: SheetData, read) -> None:
        """Queue one sheet: deferred (read at flush time) or as a frame of the dictionary's columns plus where each
        row came from; columns outside the dictionary are screened for RRNs, then dropped."""
        d, pending = self.d, self.pending
        self.file_sha[rel], self.file_batch[rel] = sha, batch
        pending.ledger[sheet.form].append(_ledger_entry(rel, sha, batch, sheet, read, d))
        if sheet.deferred is not None:
            pending.deferred[sheet.form].append((rel, batch, sheet))
            pending.rows[sheet.form] += sheet.deferred.records - 1
            return
        assert sheet.frame is not None, "a sheet is either deferred or read into a frame"
        known = [c for c in sheet.frame.columns if c in set(d.columns(sheet.form))]
        unknown = dict(zip([c for c in sheet.frame.columns if c.startswith("_unknown_")], sheet.unknown_columns))
        meta = [
            pl.lit(rel).alias(SOURCE_FILE),
            pl.lit(batch.site).alias(FOLDER_SITE),
            pl.lit(batch.month).alias(FOLDER_MONTH),
            pl.col(ROW).cast(pl.Int64),
            pl.col(BAD_COLS) if BAD_COLS in sheet.frame.columns else pl.lit(False).alias(BAD_COLS),
        ]
        if unknown:  # a row holding only unknown columns is not blank
            frame = sheet.frame.with_columns(meta)
            pending.extra_issues[sheet.form].append(unknown_column_rrn_issues(frame, unknown))
            has = pl.any_horizontal(pl.col(c).str.strip_chars().fill_null("") != "" for c in unknown)
            frame = frame.select(*known, ROW, BAD_COLS, SOURCE_FILE, FOLDER_SITE, FOLDER_MONTH, has.alias(HAS_UNKNOWN))
        else:
            frame = sheet.frame.select(*known, *meta, pl.lit(False).alias(HAS_UNKNOWN))
        pending.frames[sheet.form].append(frame)
        pending.rows[sheet.form] += frame.height

    def flush(self) -> None:
        """Every pending form."""
        p = self.pending
        _flush(self, set(p.frames) | set(p.extra_issues) | set(p.deferred) | set(p.ledger))

    def flush_full(self) -> None:
        """Every pending site form once PENDING_ROWS rows wait in all, else each one with FORM_CHUNK_ROWS rows
        waiting. Linkage forms wait for `finish`: their rows are checked against every registration of the call."""
        site_forms = {f: n for f, n in self.pending.rows.items() if f in self.site_forms}
        full = sum(site_forms.values()) >= PENDING_ROWS
        forms = [f for f, n in site_forms.items() if full or n >= FORM_CHUNK_ROWS]
        if forms:
            _flush(self, forms)

    def finish(self, deferred: list[Batch], through_month: str, submitters: Collection[str] | None) -> None:
        """The last chunk, the deferred months, the rejected files, and the versions of every touched form."""
        self.flush()
        if through_month:
            _record_deferred(self.con, self.root, deferred, through_month, self.report, submitters)
        if self.rejects:
            schema = {n: _pl_type(t) for n, t in warehouse.REJECT_COLUMNS}
            warehouse.insert(self.con, f"{warehouse.AUDIT}.file_rejects", pl.DataFrame(self.rejects, schema=schema))
        warehouse.drop_settled_deferrals(self.con)
        by_form: dict[str, list[str]] = defaultdict(list)
        for form, site in self.touched:
            by_form[form].append(site)
        for form, sites in sorted(by_form.items()):
            warehouse.recompute_versions(self.con, form, sites)


def ingest(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    key: bytes,
    batches: list[Batch] | None = None,
    deferred: list[Batch] | None = None,
    through_month: str = "",
    progress: Callable[[int, int], None] | None = None,
    submitters: Collection[str] | None = None,
) -> IngestReport:
    """Ingest the given batches (default: every batch under root) into raw.* and audit.*, in one transaction.

    Files already recorded with the same SHA-256 are skipped; a changed file at a recorded path first removes
    what that path contributed. `deferred` batches (months after `through_month`, the registry month being
    built) are recorded in audit.deferred_files, not read; they replace the deferrals of `submitters` (site codes
    and declared sources; default all), so site submissions and linkage returns can be ingested apart. Linkage
    rows of a patient no registration names are quarantined (unregistered_patient). The key must be the one the
    warehouse was built with (KeyMismatchError). `progress(done, total)` is told each file's turn (files so far,
    files in all).
    Returns per-file counts and totals."""
    started = time.perf_counter()
    d = load_dictionary()
    root = Path(root)
    report = IngestReport(demo_key=key == DEMO_KEY)
    if report.demo_key:
        log.warning("DEMO MODE: ingesting with the PUBLISHED demo HMAC key; registry keys are not secret.")
    batches = discover_batches(root) if batches is None else batches
    con.execute("BEGIN TRANSACTION")
    try:
        warehouse.ensure_tables(con, d)
        warehouse.bind_key(con, key)
        done = warehouse.processed_files(con)
        for rel in warehouse.awaiting_registration(con):
            done[rel] = set()  # known but not settled: replaced and read again like a changed file
        run = _Run(con, d, key, root, report, done)
        total_files, seen = sum(len(b.files) for b in batches), 0
        for batch in batches:
            for path in batch.files:
                seen += 1
                if progress is not None:
                    progress(seen, total_files)
                run.take_file(batch, path)
        run.finish(deferred or [], through_month, submitters)
        con.execute("COMMIT")
    except BaseException as e:
        con.execute("ROLLBACK")
        if isinstance(e, KeyMismatchError):
            raise
        if isinstance(e, Exception):
            # Library messages can quote cell content: pass on only a redacted, shortened form.
            raise IngestError(f"ingest failed, no table changed: {type(e).__name__}: {redact(str(e))[:300]}") from None
        raise
    report.seconds = time.perf_counter() - started
    log.info(report.summary())
    return report
