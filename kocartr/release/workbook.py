"""The HTA outcome workbook (XLSX, xlsxwriter) of a release.

Sheets: README (cut-off, manifest hash, versions, suppression), Methods & definitions, OS_PFS (landmarks and
medians with CIs), At risk (numbers at risk on a month grid), KM steps (step coordinates for modelling),
CRS_ICANS (grade >= 3 rates), Cumulative incidence (NRM, SPM). Every count derived from patients goes through
kocartr.release.suppression; a suppressed count shows the marker (default "[s]"), and every estimate derived from
a suppressed count is shown as the marker too. Deterministic: fixed document properties -> same bytes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from kocartr.censoring import methods_statement
from kocartr.release import outcomes
from kocartr.release.config import ReleaseConfig

COUNT_HEADERS = ("N patients", "Events")  # column headers that hold patient counts (tests read these)


def _fmt_days(d: float | None, dpm: float) -> float | None:
    return None if d is None else round(d / dpm, 2)


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
            "Estimate at 6/12/24 months = the step function at that time (1 month = "
            f"{config.days_per_month} days); blank when follow-up ends earlier.",
        ),
        (
            "Median and CI",
            "Median = first time the KM estimate is <= 0.5; 95% CI = first times the lower / upper "
            "confidence limits are <= 0.5 (Brookmeyer-Crowley, as R survfit); blank = not reached.",
        ),
        ("Numbers at risk", "Patients still under observation and event-free just before the time shown."),
        (
            "KM step coordinates",
            "Time (days and months), estimate and CI at every distinct event/censoring time, "
            "for fitting parametric / mixture-cure models. Strata whose size is suppressed "
            "are omitted; per-step event counts are not published.",
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


def rule_source_rows() -> list[tuple[str, str]]:
    """One methods row per follow-up window and grading rule the marts apply (data/config seeds), with its
    citation and verification status: which rules are published and which are registry choices."""
    from kocartr.release.regulatory import rule_sources

    return [
        (f"{kind.capitalize()} ({seed})", f"{rule}. Source: {citation} [{status}]")
        for seed, kind, rule, citation, status in rule_sources()
    ]


def write_workbook(con, path: Path, context: dict[str, Any], config: ReleaseConfig) -> dict[str, Any]:
    """Write the workbook from the release database `con` (read-only). Returns a summary for the manifest."""
    import xlsxwriter

    marker = config.marker
    dpm = config.days_per_month
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
    bold = wb.add_format({"bold": True})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    pct = wb.add_format({"num_format": "0.0%"})
    num = wb.add_format({"num_format": "0"})
    dec = wb.add_format({"num_format": "0.0"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    hidden_fmt = wb.add_format({"align": "right", "font_color": "#7F7F7F"})
    summary: dict[str, Any] = {"sheets": []}

    def sheet(name: str, headers: list[str], widths: list[int] | None = None):
        ws = wb.add_worksheet(name)
        summary["sheets"].append(name)
        for j, h in enumerate(headers):
            ws.write(0, j, h, head)
            ws.set_column(j, j, (widths[j] if widths else max(12, len(h) + 2)))
        ws.freeze_panes(1, 0)
        return ws

    def put(ws, i, j, value, fmt=None, hidden=False):
        if hidden:
            ws.write_string(i, j, marker, hidden_fmt)
        elif value is None:
            ws.write_blank(i, j, None)
        elif isinstance(value, str):
            ws.write_string(i, j, value)
        else:
            ws.write_number(i, j, value, fmt) if fmt else ws.write_number(i, j, value)

    # README
    ws = wb.add_worksheet("README")
    summary["sheets"].append("README")
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 90)
    info = [
        ("Ko-CARTR HTA outcome workbook", ""),
        ("Data cut-off", cut),
        ("Manifest hash (tables_sha256)", context["tables_sha256"]),
        ("Data dictionary version", context["dictionary_version"]),
        ("Code version (kocartr)", context.get("package_version", "")),
        (
            "Small-cell suppression",
            f"counts 1-{config.threshold - 1} hidden, with complementary suppression; marker {marker}",
        ),
        ("Sheets", "Methods & definitions; OS_PFS; At risk; KM steps; CRS_ICANS; Cumulative incidence"),
        ("Time unit", f"days, and months (1 month = {dpm} days)"),
    ]
    for i, (k, v) in enumerate(info):
        ws.write_string(i, 0, k, bold)
        ws.write_string(i, 1, v)

    ws = sheet("Methods & definitions", ["Term", "Definition"], [28, 110])
    for i, (k, v) in enumerate(methods_rows(config, context), start=1):
        ws.write_string(i, 0, k, bold)
        ws.write_string(i, 1, v, wrap)

    # OS / PFS
    pub = outcomes.build_outcomes(con, config)
    km = pub.km
    lms = config.landmarks_months
    headers = ["Endpoint", "Stratified by", "Stratum", "Method", "N patients", "Events"]
    headers += ["Median (months)", "Median 95% CI lower", "Median 95% CI upper"]
    for mth in lms:
        headers += [f"{mth}-month estimate", f"{mth}-month 95% CI lower", f"{mth}-month 95% CI upper"]
    ws = sheet("OS_PFS", headers)
    if km is None:
        ws.write_string(1, 0, "analysis survival table not available in this release")
        km_sum = []
    else:
        km_sum = pub.km_summary
        for i, s in enumerate(km_sum, start=1):
            h = s.estimates_hidden
            put(ws, i, 0, s.endpoint)
            put(ws, i, 1, s.stratum_variable)
            put(ws, i, 2, s.stratum)
            put(ws, i, 3, s.method)
            put(ws, i, 4, s.n, num, s.n_hidden)
            put(ws, i, 5, s.events, num, s.events_hidden)
            for j, v in enumerate(s.median):
                put(ws, i, 6 + j, _fmt_days(v, dpm), dec, h)
            for k, mth in enumerate(lms):
                for j, v in enumerate(s.landmarks[mth]):
                    put(ws, i, 9 + 3 * k + j, v, pct, h)
    summary["km_groups"] = len(km_sum)

    # numbers at risk
    months = config.at_risk_months
    ws = sheet("At risk", ["Endpoint", "Stratified by", "Stratum"] + [f"At risk {m} mo" for m in months])
    if km is not None:
        for i, r in enumerate(pub.at_risk(km, config), start=1):
            put(ws, i, 0, r["endpoint"])
            put(ws, i, 1, r["stratum_variable"])
            put(ws, i, 2, r["stratum"])
            for j, mth in enumerate(months):
                v, hid = r["values"][mth]
                put(ws, i, 3 + j, v, num, hid)

    # KM step coordinates
    ws = sheet(
        "KM steps",
        [
            "Endpoint",
            "Stratified by",
            "Stratum",
            "Time (days)",
            "Time (months)",
            "Estimate",
            "95% CI lower",
            "95% CI upper",
        ],
    )
    if km is not None:
        shown = {(s.endpoint, s.stratum_variable, s.stratum) for s in km_sum if not s.estimates_hidden}
        i = 1
        for r in km.curves.to_dicts():
            if (r["endpoint"], r["stratum_variable"], r["stratum"]) not in shown:
                continue
            for j, v in enumerate(
                [
                    r["endpoint"],
                    r["stratum_variable"],
                    r["stratum"],
                    r["time"],
                    _fmt_days(r["time"], dpm),
                    r["estimate"],
                    r["lower"],
                    r["upper"],
                ]
            ):
                put(ws, i, j, v)
            i += 1
        summary["km_step_rows"] = i - 1

    # CRS / ICANS
    ws = sheet(
        "CRS_ICANS",
        [
            "Endpoint",
            "Stratified by",
            "Stratum",
            "Method",
            "N patients",
            "Events",
            "Proportion",
            "95% CI lower",
            "95% CI upper",
        ],
    )
    if not pub.rates:
        ws.write_string(1, 0, "analysis proportions table not available in this release")
    else:
        for i, r in enumerate(pub.rates, start=1):
            h = r.n_hidden or r.events_hidden
            put(ws, i, 0, r.endpoint)
            put(ws, i, 1, r.stratum_variable)
            put(ws, i, 2, r.stratum)
            put(ws, i, 3, r.method)
            put(ws, i, 4, r.n, num, r.n_hidden)
            put(ws, i, 5, r.events, num, r.events_hidden)
            put(ws, i, 6, r.estimate, pct, h)
            put(ws, i, 7, r.lower, pct, h)
            put(ws, i, 8, r.upper, pct, h)

    # cumulative incidence
    headers = ["Endpoint", "Stratified by", "Stratum", "Method", "N patients", "Events"]
    for mth in lms:
        headers += [f"{mth}-month cumulative incidence", f"{mth}-month 95% CI lower", f"{mth}-month 95% CI upper"]
    ws = sheet("Cumulative incidence", headers)
    cif = pub.cif
    if cif is None:
        ws.write_string(1, 0, "analysis cumulative_incidence table not available in this release")
    else:
        for i, s in enumerate(pub.cif_summary, start=1):
            h = s.estimates_hidden
            put(ws, i, 0, s.endpoint)
            put(ws, i, 1, s.stratum_variable)
            put(ws, i, 2, s.stratum)
            put(ws, i, 3, s.method)
            put(ws, i, 4, s.n, num, s.n_hidden)
            put(ws, i, 5, s.events, num, s.events_hidden)
            for k, mth in enumerate(lms):
                for j, v in enumerate(s.landmarks[mth]):
                    put(ws, i, 6 + 3 * k + j, v, pct, h)
    wb.close()
    return summary
