"""The HTA outcome workbook (XLSX, xlsxwriter) of a release, with sheet names and headers in English and Korean.

Sheets (SHEETS, in order): README, Methods & definitions, OS_PFS (landmarks and medians with CIs), At risk
(numbers at risk on the published month grid), KM steps and CIF steps (step coordinates with per-step at risk,
events, competing events and censorings), one sheet per group of published toxicity rates (the analysis plan's
`publish.rates`, e.g. CRS_ICANS), Cumulative incidence (landmarks), Follow-up (median follow-up, reverse KM),
Late effects (rows from kocartr.release.late_effects_sheet), SIR (secondary malignancies, kocartr.release.sir_sheet).
Every number is the analysis tables' own row (kocartr.release.outcomes; nothing re-derived). Every count derived
from patients goes through kocartr.release.suppression; a suppressed count shows the marker (default "[s]"), and
every estimate derived from a suppressed count is shown as the marker too. Deterministic: fixed document
properties -> same bytes.

To add a sheet: write a function `(book, con, pub) -> None` and append it to SHEET_WRITERS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from analyses.plan import Label
from kocartr.censoring import methods_statement
from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig


def bi(en: str, ko: str) -> str:
    """A bilingual header or sheet name: 'English / 한국어'."""
    return f"{en} / {ko}"


# Sheet names (Excel: at most 31 characters, no / \\ ? * [ ] :), English then Korean.
SHEET_README = "README 안내"
SHEET_METHODS = "Methods 방법 및 정의"
SHEET_KM = "OS_PFS 생존"
SHEET_AT_RISK = "At risk 위험군 수"
SHEET_KM_STEPS = "KM steps KM 계단 자료"
SHEET_CIF_STEPS = "CIF steps 누적발생 계단 자료"
SHEET_CIF = "Cumulative incidence 누적발생률"
SHEET_FOLLOWUP = "Follow-up 추적관찰 기간"
SHEET_LATE = "Late effects 후기 이상반응"
SHEET_SIR = "SIR 이차 악성종양 표준화발생비"
SHEET_RECODING = "Recoding 공표 범주 재분류"

H_N = bi("N patients", "환자 수")
H_EVENTS = bi("Events", "사건 수")
H_AT_RISK = "At risk"  # prefix of the at-risk grid headers: "At risk 6 mo / 위험군 6개월"
COUNT_HEADERS = (H_N, H_EVENTS)  # column headers that hold suppressed patient counts (tests read these)
# Per-step counts of the step sheets: recoverable from the published curve and numbers at risk (methods sheet)
STEP_HEADERS = (
    bi("At risk at step", "해당 시점 위험군"),
    bi("Events at step", "해당 시점 사건"),
    bi("Competing events at step", "해당 시점 경쟁 사건"),
    bi("Censored at step", "해당 시점 중도절단"),
)
KEY_HEADERS = [
    bi("Endpoint", "평가변수"),
    bi("Endpoint name", "평가변수명"),
    bi("Stratified by", "층화 변수"),
    bi("Stratum", "층"),
]


def is_count_header(h: object) -> bool:
    """A header whose cells are suppressed patient counts (N, events, numbers at risk on the month grid)."""
    import re

    return isinstance(h, str) and (h in COUNT_HEADERS or re.match(rf"{H_AT_RISK} [\d.]+ mo", h) is not None)


def _fmt_days(d: float | None, dpm: float) -> float | None:
    return None if d is None else round(d / dpm, 2)


@dataclass
class Book:
    """The open workbook, its formats and the manifest summary; `sheet` and `put` write with the conventions."""

    wb: Any
    config: ReleaseConfig
    context: dict[str, Any]
    fmt: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=lambda: {"sheets": []})
    readme: Any = None  # the README sheet: its list of sheets is written once all sheets exist
    labels: dict[str, str] = field(default_factory=dict)  # code -> bilingual name (Book.label)
    rows: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)  # sheet part -> rows spliced after close

    def sheet(self, name: str, headers: list[str], widths: list[int] | None = None):
        ws = self.wb.add_worksheet(name)
        self.summary["sheets"].append(name)
        for j, h in enumerate(headers):
            ws.write(0, j, h, self.fmt["head"])
            ws.set_column(j, j, (widths[j] if widths else max(12, min(len(h) + 2, 30))))
        ws.freeze_panes(1, 0)
        return ws

    def put(self, ws, i: int, j: int, value: Any, fmt: str | None = None, hidden: bool = False) -> None:
        if hidden:
            ws.write_string(i, j, self.config.marker, self.fmt["hidden"])
        elif value is None:
            ws.write_blank(i, j, None)
        elif isinstance(value, str):
            ws.write_string(i, j, value)
        elif fmt:
            ws.write_number(i, j, value, self.fmt[fmt])
        else:
            ws.write_number(i, j, value)

    def keys(self, ws, i: int, endpoint: str, stratum_variable: str, stratum: str) -> None:
        """The four key columns: endpoint code, its English / Korean name, stratifier (ADaM name) and stratum."""
        self.put(ws, i, 0, endpoint)
        self.put(ws, i, 1, self.label(endpoint))
        self.put(ws, i, 2, stratum_variable)
        self.put(ws, i, 3, stratum)

    def label(self, code: str) -> str:
        """The plan's 'English / 한국어' name of a code, looked up once per code (the step sheets ask per row)."""
        if code not in self.labels:
            self.labels[code] = self.config.plan.label(code).both()
        return self.labels[code]


def _open(path: Path, context: dict[str, Any], config: ReleaseConfig) -> Book:
    import xlsxwriter

    cut = context["cutoff"]
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False}
    )
    y, m, d = (int(x) for x in cut.split("-"))
    wb.set_properties(
        {
            "title": f"Ko-CARTR HTA outcomes, data cut-off {cut}",
            "author": "Ko-CARTR",
            "company": "Korean Society of Hematology - Ko-CARTR",
            "created": datetime(y, m, d),
        }
    )
    fmt = {
        "bold": wb.add_format({"bold": True}),
        "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}),
        "pct": wb.add_format({"num_format": "0.0%"}),
        "num": wb.add_format({"num_format": "0"}),
        "dec": wb.add_format({"num_format": "0.0"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        "hidden": wb.add_format({"align": "right", "font_color": "#7F7F7F"}),
    }
    return Book(wb, config, context, fmt)


def methods_rows(config: ReleaseConfig, context: dict[str, Any]) -> list[tuple[str, str]]:
    t = config.threshold
    return [
        ("Data cut-off", f"{context['cutoff']}: only data recorded on or before this date enter the release."),
        ("Time zero", "Day 0 = first CAR-T infusion date (ADaM TRTSDT / adtte STARTDT)."),
        ("OS", "Overall survival: death from any cause. " + methods_statement()),
        ("PFS", "Progression-free survival: relapse/progression or death; censored at last disease assessment."),
        ("NRM", "Non-relapse mortality: death without prior relapse/progression; relapse/progression competing."),
        (
            "SPM",
            "Secondary (new) malignancy per CIBMTR 3500, excluding relapse/progression of the treated disease "
            "and MDS->AML transformation; death without SPM competing.",
        ),
        (
            "CRS / ICANS grade >= 3",
            "Patients with a CRS / ICANS episode of ASTCT grade >= 3 (Lee et al., Biol "
            "Blood Marrow Transplant 2019;25:625) among infused patients; exact "
            "(Clopper-Pearson) 95% CI unless the method column says otherwise.",
        ),
        (
            "Kaplan-Meier",
            "Survival probabilities by Kaplan-Meier; the CI type is stated in the method column "
            "(log(-log) unless stated). Patients registered after infusion enter the risk set late "
            "(left truncation).",
        ),
        ("Cumulative incidence", "Aalen-Johansen estimator with the competing event named above; never 1 - KM."),
        (
            "Landmarks",
            f"Estimate at {'/'.join(str(m) for m in config.landmarks_months)} months = the analysis table's landmark "
            f"row: the step function at that time (1 month = {config.days_per_month} days; analysis plan "
            "data/config/analysis_plan.yaml); blank when follow-up ends earlier.",
        ),
        (
            "Median and CI",
            "Median = first time the KM estimate is <= 0.5; 95% CI = first times the lower / upper "
            "confidence limits are <= 0.5 (Brookmeyer-Crowley, as R survfit); blank = not reached.",
        ),
        ("Numbers at risk", "Patients still under observation and event-free just before the time shown."),
        (
            "KM / CIF step coordinates",
            "Time (days and months), estimate and CI at every distinct event/censoring time, with the number at "
            "risk, events, competing events (CIF) and censorings at that time, for fitting parametric / "
            "mixture-cure models or reconstructing patient-level data (Guyot et al., BMC Med Res Methodol "
            "2012;12:9). Only strata whose size and event count are published appear; their per-step counts "
            "follow from the published curve and numbers at risk (d = n x (1 - S(t) / S(t-))), so they are "
            "not suppressed.",
        ),
        (
            "Median follow-up",
            "Reverse Kaplan-Meier (Schemper & Smith, Control Clin Trials 1996;17:343): death censors, being "
            "alive at last contact is the event; median with Brookmeyer-Crowley 95% CI and IQR, in months.",
        ),
        (
            "Small-cell suppression",
            f"Patient counts from 1 to {t - 1} are hidden (primary suppression); when a "
            "row or group total would reveal a hidden count, the next smallest count of "
            "that row/group is hidden too (complementary suppression). Estimates derived "
            f"from hidden counts are hidden. Marker: {config.marker}. 0 is shown. "
            "Every table is then audited against recovery by differencing: for each "
            "hidden count, the smallest and largest value consistent with all published "
            "totals, zeros and cells is computed by linear programming, and more counts "
            f"are hidden until every hidden count has at least {t} possible values; a "
            "table that cannot pass is not published. "
            "No Korean small-cell rule was found; the threshold is configuration "
            "(data/config/release.yaml).",
        ),
        ("Publication recoding", recoding_statement(config)),
        (
            "Manifest hash",
            "SHA-256 of the release's table contents (manifest.json `tables_sha256`); "
            "verify with kocartr.release.verify_release.",
        ),
        (
            "Seriousness",
            "ICH E2A (1994): a serious adverse event results in death, is life-threatening, requires or "
            "prolongs hospitalization, results in persistent or significant disability, is a congenital "
            "anomaly, or is medically important; every grade 4 (life-threatening) or 5 (death) event is "
            "serious by definition. Severity (grade) and seriousness are separate questions.",
        ),
    ] + rule_source_rows()


def recoding_statement(config: ReleaseConfig) -> str:
    """The analysis plan's table redesign (publication_recoding) in one paragraph."""
    rec = config.plan.recoding
    if rec is None:
        return "None: disease groups and products are published as recorded."
    pooled = "; ".join(f"{v.variable}: '{v.label.en}' ({v.code})" for v in rec.variables.values())
    return (
        "Table redesign before cell suppression (Hundepool et al., Statistical Disclosure Control, Wiley 2012, "
        "ch. 5, section 5.3 'Table redesign': collapsing categories, table thresholds). A missing value and the "
        f"plan's listed values go to the pooled category ({pooled}); a disease group or product with fewer than "
        f"{rec.min_stratum_size} infused patients is pooled, and the pooled disease group is not broken down by "
        f"product; a disease group x product combination with fewer than {rec.min_stratum_size} patients has its "
        "product pooled, then, if still below, its disease group too. No group below the minimum is shown on its "
        "own row; overall rows are unchanged. Every analysis table, this workbook, the report and `kocartr "
        "analyze` use the published categories (analysis.publication_recoding; sheet '"
        f"{SHEET_RECODING}'). Rule: data/config/analysis_plan.yaml."
    )


def _recoding(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    """The recorded (DISGRP, PRODUCT) pairs published under a pooled category, with the rule (no counts)."""
    headers = [bi("Disease group (recorded)", "질환군 (기록)"), bi("Product (recorded)", "제품 (기록)")]
    headers += [bi("Disease group (published)", "질환군 (공표)"), bi("Product (published)", "제품 (공표)")]
    ws = book.sheet(SHEET_RECODING, [*headers, bi("Rule", "규칙")], [26, 22, 26, 22, 60])
    rows = outcomes.read_recoding(con)
    if not rows:
        ws.write_string(1, 0, "no category is recoded for publication in this release")
    for i, r in enumerate(rows, start=1):
        for j, c in enumerate(("DISGRP", "PRODUCT", "DISGRP_PUB", "PRODUCT_PUB", "rule")):
            ws.write_string(i, j, str(r[c] or ""))


def rule_source_rows() -> list[tuple[str, str]]:
    """One methods row per follow-up window and grading rule the marts apply (data/config seeds), with its
    citation and verification status: which rules are published and which are registry choices."""
    from kocartr.release.regulatory import rule_sources

    return [
        (f"{kind.capitalize()} ({seed})", f"{rule}. Source: {citation} [{status}]")
        for seed, kind, rule, citation, status in rule_sources()
    ]


def _readme(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    config, ctx = book.config, book.context
    ws = book.wb.add_worksheet(SHEET_README)
    book.summary["sheets"].append(SHEET_README)
    ws.set_column(0, 0, 44)
    ws.set_column(1, 1, 100)
    info = [
        (bi("Ko-CARTR HTA outcome workbook", "Ko-CARTR 보건의료기술평가 결과 통합문서"), ""),
        ("Data cut-off", ctx["cutoff"]),
        ("Manifest hash (tables_sha256)", ctx["tables_sha256"]),
        ("Data dictionary version", ctx["dictionary_version"]),
        ("Code version (kocartr)", ctx.get("package_version", "")),
        (
            "Small-cell suppression",
            f"counts 1-{config.threshold - 1} hidden, with complementary suppression; marker {config.marker}",
        ),
        ("Sheets", ""),  # filled in by write_workbook
        ("Time unit", f"days, and months (1 month = {config.days_per_month} days)"),
        ("Analysis plan", "data/config/analysis_plan.yaml: endpoints, estimators, landmarks, CI methods"),
    ]
    for i, (k, v) in enumerate(info):
        ws.write_string(i, 0, k, book.fmt["bold"])
        ws.write_string(i, 1, v)
    book.readme = (ws, [k for k, _ in info].index("Sheets"))


def _methods(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    ws = book.sheet(SHEET_METHODS, [bi("Term", "용어"), bi("Definition", "정의")], [30, 110])
    for i, (k, v) in enumerate(methods_rows(book.config, book.context), start=1):
        ws.write_string(i, 0, k, book.fmt["bold"])
        ws.write_string(i, 1, v, book.fmt["wrap"])


def _landmark_headers(config: ReleaseConfig, what: tuple[str, str]) -> list[str]:
    out = []
    for m in config.landmarks_months:
        out += [
            bi(f"{m}-month {what[0]}", f"{m}개월 {what[1]}"),
            bi(f"{m}-month 95% CI lower", f"{m}개월 95% 신뢰구간 하한"),
            bi(f"{m}-month 95% CI upper", f"{m}개월 95% 신뢰구간 상한"),
        ]
    return out


def _summary_rows(book: Book, ws, items: list[outcomes.CurveSummary], with_median: bool) -> None:
    dpm = book.config.days_per_month
    for i, s in enumerate(items, start=1):
        h = s.estimates_hidden
        book.keys(ws, i, s.endpoint, s.stratum_variable, s.stratum)
        book.put(ws, i, 4, s.method)
        book.put(ws, i, 5, s.n, "num", s.n_hidden)
        book.put(ws, i, 6, s.events, "num", s.events_hidden)
        col = 7
        if with_median:
            for j, v in enumerate(s.median):
                book.put(ws, i, col + j, _fmt_days(v, dpm), "dec", h)
            col += 3
        for k, mth in enumerate(book.config.landmarks_months):
            for j, v in enumerate(s.landmarks[mth]):
                book.put(ws, i, col + 3 * k + j, v, "pct", h)


def _os_pfs(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    headers = [*KEY_HEADERS, bi("Method", "방법"), H_N, H_EVENTS]
    headers += [bi("Median (months)", "중앙값 (개월)"), bi("Median 95% CI lower", "중앙값 95% 신뢰구간 하한")]
    headers += [bi("Median 95% CI upper", "중앙값 95% 신뢰구간 상한")]
    ws = book.sheet(SHEET_KM, headers + _landmark_headers(book.config, ("estimate", "추정치")))
    if pub.km is None:
        ws.write_string(1, 0, "analysis survival table not available in this release")
    _summary_rows(book, ws, pub.km_summary, with_median=True)
    book.summary["km_groups"] = len(pub.km_summary)


def _at_risk(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    months = book.config.at_risk_months
    ws = book.sheet(SHEET_AT_RISK, KEY_HEADERS + [f"{H_AT_RISK} {m} mo / 위험군 {m}개월" for m in months])
    i = 1
    for cs in (pub.km, pub.cif):
        if cs is None:
            continue
        for r in pub.at_risk(cs, book.config):
            book.keys(ws, i, r["endpoint"], r["stratum_variable"], r["stratum"])
            for j, mth in enumerate(months):
                v, hid = r["values"][mth]
                book.put(ws, i, 4 + j, v, "num", hid)
            i += 1


def _steps(book: Book, name: str, cs: outcomes.CurveSet | None, items: list[outcomes.CurveSummary], cif: bool) -> None:
    """Step coordinates with per-step counts, for the strata whose size and events are published."""
    from kocartr.sheet_rows import can_splice, rows_xml, write_cells

    headers = KEY_HEADERS + [bi("Time (days)", "시간 (일)"), bi("Time (months)", "시간 (개월)")]
    headers += [
        bi("Estimate", "추정치"),
        bi("95% CI lower", "95% 신뢰구간 하한"),
        bi("95% CI upper", "95% 신뢰구간 상한"),
    ]
    counts = ["n_at_risk", "n_events"] + (["n_competing"] if cif else []) + ["n_censored"]
    steps = [h for h in STEP_HEADERS if cif or "Competing" not in h]
    ws = book.sheet(name, headers + steps)
    if cs is None:
        return
    shown = {(s.endpoint, s.stratum_variable, s.stratum) for s in items if not s.estimates_hidden}
    frame = _step_rows(book, cs, shown, counts)
    book.summary[f"{'cif' if cif else 'km'}_step_rows"] = frame.height
    # ~70,000 rows at 10k patients, ~10 s of xlsxwriter at 100k: the rows are built column-wise and spliced into
    # the sheet after the workbook is written (kocartr.sheet_rows: the same cells, strings entered in the
    # shared-string table now, as write_string would), unless a value is one the splice does not write
    if 0 < frame.height < _MAX_ROWS and can_splice(frame, shared=True):
        part = f"xl/worksheets/sheet{ws.index + 1}.xml"
        book.rows[part] = (frame.width, frame.height, rows_xml(frame, [None] * frame.width, book.wb.str_table))
        return
    write_cells(ws, frame)  # cell by cell, as Book.put writes them


_MAX_ROWS = 1_048_575  # Excel's rows below the header: a longer sheet is left to xlsxwriter (which drops the rest)


def _step_rows(book: Book, cs: outcomes.CurveSet, shown: set, counts: list[str]):
    """The step sheet's rows (polars): keys, the endpoint's bilingual name, time in days and months (rounded as
    `_fmt_days`), estimate, CI and the per-step counts, for the shown strata, in the curves' order."""
    import polars as pl

    curves = cs.curves.select([*outcomes.KEYS, "time", "estimate", "lower", "upper", *counts])
    groups = curves.select(outcomes.KEYS).unique(maintain_order=True)
    groups = groups.with_columns(pl.Series("_shown", [g in shown for g in groups.iter_rows()], dtype=pl.Boolean))
    curves = curves.join(groups, on=outcomes.KEYS, how="left", nulls_equal=True, maintain_order="left")
    curves = curves.filter("_shown").drop("_shown")
    dpm = book.config.days_per_month
    label = pl.Series("label", [book.label(ep) for ep in curves["endpoint"].to_list()], dtype=pl.String)
    months = pl.Series("months", [_fmt_days(t, dpm) for t in curves["time"].to_list()], dtype=pl.Float64)
    return curves.insert_column(1, label).insert_column(5, months)


def _km_steps(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    _steps(book, SHEET_KM_STEPS, pub.km, pub.km_summary, cif=False)


def _cif_steps(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    _steps(book, SHEET_CIF_STEPS, pub.cif, pub.cif_summary, cif=True)


def _rates(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    """One sheet per `sheet` of the plan's published rates: each sheet lists only its own rates."""
    headers = [*KEY_HEADERS, bi("Method", "방법"), H_N, H_EVENTS, bi("Proportion", "비율")]
    headers += [bi("95% CI lower", "95% 신뢰구간 하한"), bi("95% CI upper", "95% 신뢰구간 상한")]
    by_sheet: dict[str, list[str]] = {}
    for item in book.config.rates:
        by_sheet.setdefault(item["sheet"], []).append(item["label"])
    for name, labels in by_sheet.items():
        ws = book.sheet(name, headers)
        rows = [r for r in pub.rates if r.endpoint in labels]
        if not rows:
            ws.write_string(1, 0, "analysis proportions table not available in this release")
        for i, r in enumerate(rows, start=1):
            h = r.n_hidden or r.events_hidden
            book.keys(ws, i, r.endpoint, r.stratum_variable, r.stratum)
            book.put(ws, i, 1, _rate_name(book.config, r.endpoint))
            book.put(ws, i, 4, r.method)
            book.put(ws, i, 5, r.n, "num", r.n_hidden)
            book.put(ws, i, 6, r.events, "num", r.events_hidden)
            for j, v in enumerate((r.estimate, r.lower, r.upper)):
                book.put(ws, i, 7 + j, v, "pct", h)


def _rate_name(config: ReleaseConfig, label: str) -> str:
    for r in config.plan.published_rates:
        if r.label.en == label:
            return r.label.both()
    return label


def _cumulative_incidence(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    headers = [*KEY_HEADERS, bi("Method", "방법"), H_N, H_EVENTS]
    ws = book.sheet(SHEET_CIF, headers + _landmark_headers(book.config, ("cumulative incidence", "누적발생률")))
    if pub.cif is None:
        ws.write_string(1, 0, "analysis cumulative_incidence table not available in this release")
    _summary_rows(book, ws, pub.cif_summary, with_median=False)


def _followup(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    """Median follow-up (analysis.median_followup, reverse KM) per stratum, suppressed with the outcome tables
    (build_outcomes: one joint decision on stratum sizes, so a size hidden anywhere is hidden here)."""
    headers = [*KEY_HEADERS, bi("Method", "방법"), H_N, bi("Median follow-up (months)", "추적관찰 기간 중앙값 (개월)")]
    headers += [bi("95% CI lower", "95% 신뢰구간 하한"), bi("95% CI upper", "95% 신뢰구간 상한")]
    headers += [bi("Q1 (months)", "1사분위수 (개월)"), bi("Q3 (months)", "3사분위수 (개월)")]
    ws = book.sheet(SHEET_FOLLOWUP, headers)
    if not outcomes._table_exists(con, "analysis", "median_followup"):
        ws.write_string(1, 0, "analysis median_followup table not available in this release")
        return
    cols = ("median_months", "lower_95", "upper_95", "q1_months", "q3_months")
    for i, f in enumerate(pub.followup, start=1):
        r, hid = f.row, f.n_hidden or f.events_hidden
        book.keys(ws, i, r["endpoint"], r["stratum_variable"], r["stratum"])
        book.put(ws, i, 4, r["method"])
        book.put(ws, i, 5, r["n"], "num", f.n_hidden)
        for j, c in enumerate(cols):
            book.put(ws, i, 6 + j, None if r.get(c) is None else round(r[c], 2), "dec", hid)


def _late_endpoint(book: Book, code: str) -> str:
    """'English / 한국어 (CODE)': the plan's display name, and the analysis table's code to filter on."""
    return f"{book.config.plan.label(code).both()} ({code})"


def _late_effects(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    """Landmark prevalences, infection rates, 12-month B-cell recovery / severe infection cumulative incidence,
    pregnancy outcomes, DAOH-100 (rows and suppression: kocartr.release.late_effects_sheet)."""
    from kocartr.release.late_effects_sheet import HEADERS, late_effect_rows

    ws = book.sheet(SHEET_LATE, HEADERS)
    rows = late_effect_rows(con, book.config.threshold, pub)
    if not rows:
        ws.write_string(1, 0, "analysis late-effect tables not available in this release")
    kinds = {"count": "num", "pct": "pct", "dec": "dec"}
    for i, row in enumerate(rows, start=1):
        for j, c in enumerate(row):
            value = _late_endpoint(book, c.value) if j == 1 else c.value
            value = value.both() if isinstance(value, Label) else value  # the Detail column (English / Korean)
            book.put(ws, i, j, value, kinds.get(c.kind), c.hidden)
    book.summary["late_effect_rows"] = len(rows)


def _sir(book: Book, con, pub: outcomes.PublishedOutcomes) -> None:
    """Secondary-malignancy SIR overall and by product (rows and suppression: kocartr.release.sir_sheet); the
    reference rates' source on every row, and a warning above the table when they are synthetic."""
    from kocartr.release.sir_sheet import HEADERS, SYNTHETIC_WARNING, is_synthetic, sir_rows

    ws = book.sheet(SHEET_SIR, HEADERS)
    book.fmt.setdefault("dec2", book.wb.add_format({"num_format": "0.00"}))
    rows = sir_rows(con, book.config.threshold)
    first = 1
    if not rows:
        ws.write_string(first, 0, "analysis.sir not available in this release")
    elif any(is_synthetic(r[-1].value) for r in rows):
        ws.write_string(first, 0, SYNTHETIC_WARNING, book.fmt["bold"])
        first += 1
    kinds = {"count": "num", "pct": "pct", "dec": "dec", "dec2": "dec2"}
    for i, row in enumerate(rows, start=first):
        for j, c in enumerate(row):
            book.put(ws, i, j, c.value, kinds.get(c.kind), c.hidden)
    book.summary["sir_rows"] = len(rows)


SheetWriter = Callable[[Book, Any, outcomes.PublishedOutcomes], None]
# The workbook's sheets in order; a new sheet is one function and one line here.
SHEET_WRITERS: list[SheetWriter] = [
    _readme,
    _methods,
    _recoding,
    _os_pfs,
    _at_risk,
    _km_steps,
    _cif_steps,
    _rates,
    _cumulative_incidence,
    _followup,
    _late_effects,
    _sir,
]


def write_workbook(
    con, path: Path, context: dict[str, Any], config: ReleaseConfig, pub: outcomes.PublishedOutcomes | None = None
) -> dict[str, Any]:
    """Write the workbook from the release database `con` (read-only). Returns a summary for the manifest.
    `pub`: outcomes.build_outcomes(con, config) when the caller has it already (built here otherwise)."""
    book = _open(path, context, config)
    pub = pub if pub is not None else outcomes.build_outcomes(con, config)
    for writer in SHEET_WRITERS:
        writer(book, con, pub)
    if book.readme is not None:
        ws, row = book.readme
        ws.write_string(row, 1, "; ".join(book.summary["sheets"][1:]))
    book.wb.close()
    if book.rows:
        from kocartr.sheet_rows import splice_rows

        splice_rows(Path(path).read_bytes(), Path(path), book.rows)
    return book.summary
