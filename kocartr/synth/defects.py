"""Inject known defects, corrections and deletions into the form frames, marking each affected row.

Marked rows carry `_defect` (defects.csv class) and `_dfield` (the field, blank for duplicates and deletions);
the writer turns the marks into ground_truth/defects.csv once it knows each row's file and spreadsheet row.
Every row defect is verified with the generator's row checker: the row fails for exactly the injected reason.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from kocartr.dictionary import Dictionary
from kocartr.synth import params as P
from kocartr.synth.cohort import month_label
from kocartr.synth.rules import check_row, controlling_fields

UNKNOWN_CODES = ("XX", "99", "OTHER_CODE", "미상", "GRADE_9")
# Values a site plausibly gets wrong and corrects next month (field -> how to make the earlier, wrong value).
CORRECTABLE = {
    "baseline": ("ecog", "prior_lines", "comment"),
    "product_infusion": ("dose_value",),
    "crs": ("max_temperature_c", "tocilizumab_doses"),
    "lab": ("value",),
    "followup": ("ivig",),
    "death": ("autopsy",),
}
DELETABLE = ("lab", "adverse_event", "response")
BIG_ORD = 10**12  # rows appended after a file's own rows


def synthetic_rrn(rng: np.random.Generator) -> str:
    """A resident-registration-number-shaped value that is never a real one: its check digit is wrong."""
    born = dt.date(1940, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 65)))
    century2000 = born.year >= 2000
    g = int(rng.integers(3, 5)) if century2000 else int(rng.integers(1, 3))
    body = born.strftime("%y%m%d") + str(g) + "".join(str(int(x)) for x in rng.integers(0, 10, 5))
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = (11 - sum(int(a) * w for a, w in zip(body, weights)) % 11) % 10
    last = (check + int(rng.integers(1, 10))) % 10
    digits = body + str(last)
    return digits[:6] + "-" + digits[6:] if rng.random() < 0.5 else digits


def _shift_date(v: str, days: int) -> str:
    return (dt.date.fromisoformat(v) + dt.timedelta(days=days)).isoformat()


def _mutate(d: Dictionary, form: str, row: dict, cls: str, rng: np.random.Generator) -> tuple[dict, str] | None:
    """One candidate defect on a copy of `row`; None when this row cannot carry that class."""
    r = dict(row)
    fields = [f for f in d.form(form).fields]
    ctrl = controlling_fields(d, form)
    if cls == "missing_required":
        cands = [f.name for f in fields if f.required and f.name not in ctrl and r.get(f.name)]
        if not cands:
            return None
        name = cands[int(rng.integers(len(cands)))]
        r[name] = None
        return r, name
    if cls == "unknown_code":
        code_fields = [f for f in fields if f.type == "code" and f.name not in ctrl and r.get(f.name)]
        if not code_fields:
            return None
        f = code_fields[int(rng.integers(len(code_fields)))]
        bad = [x for x in UNKNOWN_CODES if x not in d.codes(f.codes_from)]
        r[f.name] = bad[int(rng.integers(len(bad)))]
        return r, f.name
    if cls == "date_order":
        pairs = [(a, b) for a, b in d.form(form).date_order if r.get(a) and r.get(b)]
        if not pairs:
            return None
        a, b = pairs[int(rng.integers(len(pairs)))]
        if r[a] < r[b]:
            r[a], r[b] = r[b], r[a]
        else:
            r[b] = _shift_date(r[a], -int(rng.integers(1, 31)))
        return r, b
    if cls == "direct_identifier":
        texts = [f.name for f in fields if f.type == "text"]
        rrn = synthetic_rrn(rng)
        if texts and rng.random() < 0.5:
            name = texts[int(rng.integers(len(texts)))]
            r[name] = ((r.get(name) or "") + f" 주민번호 {rrn}").strip()
            return r, name
        r["patient_id"] = rrn
        return r, "patient_id"
    raise ValueError(cls)


def _wrong_value(d: Dictionary, form: str, name: str, value: str, rng: np.random.Generator) -> str | None:
    """A different but valid value for a correctable field (the one the site first sent)."""
    f = d.form(form).field(name)
    if f.type == "text":
        return value + " (수정 전)"
    if f.type == "code":
        others = [x for x in d.codes(f.codes_from) if x != value]
        return others[int(rng.integers(len(others)))]
    x = float(value)
    lo = f.min if f.min is not None else 0.0
    hi = f.max if f.max is not None else x * 2 + 10
    if f.type == "integer":
        y = int(min(hi, max(lo, x + (1 if rng.random() < 0.5 else -1))))
        if y == x:
            y = int(min(hi, max(lo, x - 1 if y >= hi else x + 1)))
        return None if y == x else str(y)
    if name == "max_temperature_c":
        return f"{min(hi, max(38.0, x + 0.3 if x < 40 else x - 0.3)):.1f}"
    decimals = len(value.split(".")[1]) if "." in value else 0
    z = round(x * 1.1 + (10**-decimals if decimals else 1), decimals)
    return (str(int(z)) if decimals == 0 else f"{z:.{decimals}f}") if z != x else None


class _Rows:
    """Row picking for one form's frame: each row is changed at most once; `extra` rows are appended and
    `replaced` rows overwritten at the end."""

    def __init__(self, df: pl.DataFrame, rng: np.random.Generator, last_month: int) -> None:
        self.rng, self.last_month, n = rng, last_month, df.height
        self.used = np.zeros(n, bool)
        # Rows already marked (the registration updates) and the rows whose record_id they repeat stay as they are.
        if df["_defect"].null_count() < n:
            repeated = df.filter(pl.col("_defect").is_not_null())["record_id"]
            self.used |= df["record_id"].is_in(repeated.implode()).to_numpy()
        self.extra: list[dict] = []
        self.replaced: dict[int, dict] = {}

    def free(self, k: int, mask: np.ndarray | None = None) -> np.ndarray:
        ok = ~self.used if mask is None else (~self.used & mask)
        cand = np.flatnonzero(ok)
        if len(cand) == 0 or k <= 0:
            return np.zeros(0, np.int64)
        pick = self.rng.choice(cand, size=min(k, len(cand)), replace=False)
        self.used[pick] = True
        return np.sort(pick)

    def later(self, m: int) -> int:
        """A submission month 1-3 months after m, within the window (picked rows are all before the last month)."""
        assert m < self.last_month, "picked rows are all before the last month"
        return int(min(self.last_month, m + int(self.rng.integers(1, 4))))


def _deletions(df: pl.DataFrame, rows: _Rows, rate: float) -> None:
    """A record entered in error (new record_id, same content) and deleted a few months later."""
    picked = rows.free(int(round(rate * df.height)), df["_month"].to_numpy() < rows.last_month)
    for row in df[picked].to_dicts():
        m2 = rows.later(row["_month"])
        spurious = dict(row, record_id=row["record_id"] + "E", _ord=BIG_ORD + len(rows.extra))
        delete = dict(
            spurious,
            action="D",
            submission_month=month_label(m2),
            _month=m2,
            _ord=BIG_ORD + len(rows.extra) + 1,
            _defect="deletion",
            _dfield=None,
        )
        rows.extra += [spurious, delete]


def _corrections(d: Dictionary, form: str, df: pl.DataFrame, rows: _Rows, rate: float) -> None:
    """The earlier row carried a wrong value, a later month's row the right one."""
    month_col = df["_month"].to_numpy()
    for name in CORRECTABLE.get(form, ()):
        k = int(round(rate * df.height / len(CORRECTABLE[form])))
        picked = rows.free(k, (month_col < rows.last_month) & df[name].is_not_null().to_numpy())
        for i, row in zip(picked, df[picked].to_dicts()):
            wrong = _wrong_value(d, form, name, row[name], rows.rng)
            if wrong is None:
                continue
            m2 = rows.later(row["_month"])
            rows.replaced[int(i)] = dict(row, **{name: wrong})
            rows.extra.append(
                dict(
                    row,
                    submission_month=month_label(m2),
                    _month=m2,
                    _ord=BIG_ORD + len(rows.extra),
                    _defect="correction",
                    _dfield=name,
                )
            )


def _row_defects(d: Dictionary, form: str, df: pl.DataFrame, rows: _Rows, rate: float, sites: list[str]) -> None:
    """Exactly one defect per row, of each class in params.DEFECT_MIX, verified against the dictionary."""
    n = df.height
    for cls, share in P.DEFECT_MIX.items():
        k = int(round(rate * share * n))
        if k == 0:
            continue
        done = 0
        tries = rows.free(min(n, k * 3))
        for i, row in zip(tries, df[tries].to_dicts()):
            if done >= k:
                rows.used[i] = False
                continue
            if cls == "duplicate_row":
                rows.extra.append(dict(row, _ord=BIG_ORD + len(rows.extra), _defect="duplicate_row", _dfield=None))
                done += 1
                continue
            got = _mutate(d, form, dict(row), cls, rows.rng)
            if got is None or _found(d, form, got[0], sites[row["_site"]], row["_month"]) != [cls]:
                rows.used[i] = False  # the mutation did not make exactly this defect: leave the row alone
                continue
            new, name = got
            new["_defect"], new["_dfield"] = cls, name
            rows.replaced[int(i)] = new
            done += 1


def _found(d: Dictionary, form: str, row: dict, site: str, month: int) -> list[str]:
    """The defect classes ingest's row check finds in a mutated row."""
    return [x[0] for x in check_row(d, form, {c: row[c] for c in d.columns(form)}, site, month_label(month))]


def _apply(df: pl.DataFrame, rows: _Rows) -> pl.DataFrame:
    if rows.replaced:  # overwrite in place (cheaper than filter + concat on the multi-million-row lab frame)
        at = pl.Series(list(rows.replaced), dtype=pl.Int64)
        new_df = pl.DataFrame(list(rows.replaced.values()), schema=df.schema)
        changed = [c for c in df.columns if not new_df[c].equals(df[c].gather(at), null_equal=True)]
        df = df.with_columns([df[c].clone().scatter(at, new_df[c]) for c in changed])
    if rows.extra:
        df = pl.concat([df, pl.DataFrame(rows.extra, schema=df.schema)])
    return df


def inject(
    d: Dictionary,
    frames: dict[str, pl.DataFrame],
    rng: np.random.Generator,
    defect_rate: float,
    last_month: int,
    correction_rate: float = P.CORRECTION_RATE,
    deletion_rate: float = P.DELETION_RATE,
) -> dict[str, pl.DataFrame]:
    """Deletions, corrections and row defects per form, in that order (the order is part of the seed's meaning)."""
    out = {}
    sites = list(d.codes("site"))
    for form in d.forms:
        df = frames.get(form)
        if df is None or df.height == 0:
            continue
        if "_defect" not in df.columns:
            df = df.with_columns(pl.lit(None, pl.Utf8).alias("_defect"), pl.lit(None, pl.Utf8).alias("_dfield"))
        rows = _Rows(df, rng, last_month)
        if form in DELETABLE:
            _deletions(df, rows, deletion_rate)
        _corrections(d, form, df, rows, correction_rate)
        _row_defects(d, form, df, rows, defect_rate, sites)
        out[form] = _apply(df, rows)
    return out


__all__ = ["inject", "synthetic_rrn"]
