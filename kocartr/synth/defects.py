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


def inject(
    d: Dictionary,
    frames: dict[str, pl.DataFrame],
    rng: np.random.Generator,
    defect_rate: float,
    last_month: int,
    correction_rate: float = P.CORRECTION_RATE,
    deletion_rate: float = P.DELETION_RATE,
) -> dict[str, pl.DataFrame]:
    out = {}
    sites = list(d.codes("site"))
    for form in d.forms:
        df = frames.get(form)
        if df is None or df.height == 0:
            continue
        if "_defect" not in df.columns:
            df = df.with_columns(pl.lit(None, pl.Utf8).alias("_defect"), pl.lit(None, pl.Utf8).alias("_dfield"))
        n = df.height
        used = np.zeros(n, bool)
        # Rows already marked (the registration updates) and the rows whose record_id they repeat stay as they are.
        if df["_defect"].null_count() < n:
            repeated = df.filter(pl.col("_defect").is_not_null())["record_id"]
            used |= df["record_id"].is_in(repeated.implode()).to_numpy()
        extra: list[dict] = []
        replaced: dict[int, dict] = {}
        month_col = df["_month"].to_numpy()

        def free_rows(k: int, mask: np.ndarray | None = None, used: np.ndarray = used) -> np.ndarray:
            ok = ~used if mask is None else (~used & mask)
            cand = np.flatnonzero(ok)
            if len(cand) == 0 or k <= 0:
                return np.zeros(0, np.int64)
            pick = rng.choice(cand, size=min(k, len(cand)), replace=False)
            used[pick] = True
            return np.sort(pick)

        def later(m: int) -> int | None:
            if m >= last_month:
                return None
            return int(min(last_month, m + int(rng.integers(1, 4))))

        # Deletions: a record entered in error (new record_id, same content) and deleted a few months later.
        if form in DELETABLE:
            picked = free_rows(int(round(deletion_rate * n)), month_col < last_month)
            for row in df[picked].to_dicts():
                m2 = later(row["_month"])
                assert m2 is not None, "picked rows are all before the last month"
                spurious = dict(row, record_id=row["record_id"] + "E", _ord=BIG_ORD + len(extra))
                delete = dict(
                    spurious,
                    action="D",
                    submission_month=month_label(m2),
                    _month=m2,
                    _ord=BIG_ORD + len(extra) + 1,
                    _defect="deletion",
                    _dfield=None,
                )
                extra += [spurious, delete]
        # Corrections: the earlier row carried a wrong value, a later month's row the right one.
        for name in CORRECTABLE.get(form, ()):
            k = int(round(correction_rate * n / len(CORRECTABLE[form])))
            mask = (month_col < last_month) & df[name].is_not_null().to_numpy()
            picked = free_rows(k, mask)
            for i, row in zip(picked, df[picked].to_dicts()):
                wrong = _wrong_value(d, form, name, row[name], rng)
                if wrong is None:
                    continue
                m2 = later(row["_month"])
                assert m2 is not None, "picked rows are all before the last month"
                replaced[int(i)] = dict(row, **{name: wrong})
                extra.append(
                    dict(
                        row,
                        submission_month=month_label(m2),
                        _month=m2,
                        _ord=BIG_ORD + len(extra),
                        _defect="correction",
                        _dfield=name,
                    )
                )
        # Row defects: exactly one per row, verified against the dictionary.
        for cls, share in P.DEFECT_MIX.items():
            k = int(round(defect_rate * share * n))
            if k == 0:
                continue
            tries = free_rows(min(n, k * 3))
            done = 0
            for i, row in zip(tries, df[tries].to_dicts()):
                if done >= k:
                    used[i] = False
                    continue
                site, month = sites[row["_site"]], month_label(row["_month"])
                if cls == "duplicate_row":
                    extra.append(dict(row, _ord=BIG_ORD + len(extra), _defect="duplicate_row", _dfield=None))
                    done += 1
                    continue
                got = _mutate(d, form, {k2: v for k2, v in row.items()}, cls, rng)
                if got is None:
                    used[i] = False
                    continue
                new, name = got
                found = check_row(d, form, {c: new[c] for c in d.columns(form)}, site, month)
                if [x[0] for x in found] != [cls]:
                    used[i] = False
                    continue
                new["_defect"], new["_dfield"] = cls, name
                replaced[int(i)] = new
                done += 1
        if replaced:  # overwrite in place (cheaper than filter + concat on the multi-million-row lab frame)
            at = pl.Series(list(replaced), dtype=pl.Int64)
            new_df = pl.DataFrame(list(replaced.values()), schema=df.schema)
            changed = [c for c in df.columns if not new_df[c].equals(df[c].gather(at), null_equal=True)]
            df = df.with_columns([df[c].clone().scatter(at, new_df[c]) for c in changed])
        if extra:
            df = pl.concat([df, pl.DataFrame(extra, schema=df.schema)])
        out[form] = df
    return out


__all__ = ["inject", "synthetic_rrn"]
