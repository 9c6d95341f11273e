"""HTA workbook (no visible patient count 1-4), figures, and the HTML report (self-contained, renders)."""

import json
import re
from pathlib import Path

import openpyxl
import pytest
from release_helpers import CUTOFF, raw_late_detail_code

from analyses.plan import load_plan
from kocartr.release.config import load_release_config
from kocartr.release.publish import MANIFEST
from kocartr.release.render_check import find_chromium, render_html
from kocartr.release.workbook import (
    H_EVENTS,
    H_N,
    SHEET_AT_RISK,
    SHEET_CIF,
    SHEET_CIF_STEPS,
    SHEET_FOLLOWUP,
    SHEET_KM,
    SHEET_KM_STEPS,
    SHEET_LATE,
    SHEET_METHODS,
    SHEET_README,
    SHEET_RECODING,
    SHEET_SIR,
    is_count_header,
)

SHEET_RATES = "CRS_ICANS 독성"

MARKER = load_release_config().marker


def _sheets(published: Path):
    wb = openpyxl.load_workbook(published / f"hta_outcomes_{CUTOFF}.xlsx", read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _is_count_header(h) -> bool:
    return is_count_header(h)


def test_workbook_sheets_and_readme(published: Path):
    sheets = _sheets(published)
    assert list(sheets) == [
        SHEET_README,
        SHEET_METHODS,
        SHEET_RECODING,
        SHEET_KM,
        SHEET_AT_RISK,
        SHEET_KM_STEPS,
        SHEET_CIF_STEPS,
        SHEET_RATES,
        SHEET_CIF,
        SHEET_FOLLOWUP,
        SHEET_LATE,
        SHEET_SIR,
    ]
    assert all(len(name) <= 31 and re.search("[가-힣]", name) for name in sheets)  # English and Korean
    for name, rows in sheets.items():
        if name != SHEET_README:
            assert all(re.search("[가-힣]", h) for h in rows[0] if h), name
    readme = {r[0]: r[1] for r in sheets[SHEET_README]}
    manifest = json.loads((published / MANIFEST).read_text())
    assert readme["Data cut-off"] == CUTOFF.isoformat()
    assert readme["Manifest hash (tables_sha256)"] == manifest["tables_sha256"]
    assert readme["Data dictionary version"] == "1.0.0"
    assert readme["Sheets"].split("; ") == list(sheets)[1:]
    methods = " ".join(str(r[1]) for r in sheets[SHEET_METHODS])
    for word in ("Aalen-Johansen", "Kaplan-Meier", "complementary", "ASTCT", "Reverse Kaplan-Meier", "Table redesign"):
        assert word in methods
    assert {r[0] for r in sheets[SHEET_KM][1:]} == {"OS", "PFS", "EFS"}  # the plan's publish.km_endpoints
    assert {r[1] for r in sheets[SHEET_KM][1:] if r[0] == "OS"} == {"Overall survival / 전체 생존"}
    assert {r[0] for r in sheets[SHEET_CIF][1:]} == {"NRM", "SPM"}
    assert len(sheets[SHEET_KM_STEPS]) > 20 and len(sheets[SHEET_CIF_STEPS]) > 20


def test_no_visible_count_between_1_and_4(published: Path):
    sheets = _sheets(published)
    checked = hidden = 0
    for name, rows in sheets.items():
        header = rows[0] if rows else []
        for j, h in enumerate(header):
            if not _is_count_header(h):
                continue
            for r in rows[1:]:
                v = r[j] if j < len(r) else None
                if v == MARKER:
                    hidden += 1
                    continue
                if v is None:
                    continue
                checked += 1
                assert isinstance(v, (int, float)) and not (1 <= v <= 4), (name, h, r)
    assert checked > 50 and hidden > 0  # the fixture has small strata: suppression did happen


def test_estimates_of_suppressed_rows_are_hidden(published: Path):
    sheets = _sheets(published)
    for name in (SHEET_KM, SHEET_RATES, SHEET_CIF):
        header, *rows = sheets[name]
        n_col, e_col = header.index(H_N), header.index(H_EVENTS)
        for r in rows:
            if MARKER in (r[n_col], r[e_col]):
                assert all(v in (MARKER, None) for v in r[e_col + 1 :]), (name, r)


def test_km_steps_only_for_published_strata(published: Path):
    sheets = _sheets(published)
    shown = {(r[0], r[2], r[3]) for r in sheets[SHEET_KM][1:] if MARKER not in (r[5], r[6])}
    assert {(r[0], r[2], r[3]) for r in sheets[SHEET_KM_STEPS][1:]} <= shown
    shown = {(r[0], r[2], r[3]) for r in sheets[SHEET_CIF][1:] if MARKER not in (r[5], r[6])}
    assert {(r[0], r[2], r[3]) for r in sheets[SHEET_CIF_STEPS][1:]} <= shown


def test_report_is_self_contained(published: Path):
    html = (published / "report.html").read_text(encoding="utf-8")
    assert CUTOFF.isoformat() in html
    assert json.loads((published / MANIFEST).read_text())["tables_sha256"] in html
    assert html.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html
    for section in ("Data quality per site", "Follow-up completeness", "CRS, ICANS and ICAHT", "Cumulative incidence"):
        assert section in html
    # scorecard: per site, the latest month on or before the cut-off (the registry month itself here)
    dq = html[html.index('id="sec-quality"') : html.index('id="sec-completeness"')]
    assert CUTOFF.strftime("%Y-%m") in dq
    # rates as percentages, not raw fractions; no empty CI "()" anywhere
    assert not re.search(r">0\.\d+<", dq)
    assert "()" not in html
    # no count 1-4 in a table cell or flow box of the patient tables (the scorecard counts checks, not patients,
    # and is left out)
    patient_tables = (
        html[html.index('id="sec-flow"') : html.index('id="sec-quality"')] + html[html.index('id="sec-completeness"') :]
    )
    for cell in re.findall(r"<td[^>]*>([^<]*)</td>", patient_tables) + re.findall(r"<b>([^<]*)</b>", patient_tables):
        assert not re.fullmatch(r"[1-4]", cell.strip()), cell
    for count in re.findall(r"</span>: ([^<]*)<", patient_tables):  # flow boxes: "<group>: n"
        assert not re.fullmatch(r"[1-4]", count.strip()), count


def test_figures_are_pngs(published: Path):
    figs = sorted((published / "figures").glob("*.png"))
    assert {f.name for f in figs} >= {
        "km_os_by_product.png",
        "km_pfs_by_product.png",
        "cif_nrm_by_product.png",
        "cif_spm_by_product.png",
    }
    for f in figs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(published: Path, tmp_path: Path):
    png = render_html(published / "report.html", tmp_path / "report.png", width=1200, height=3000)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return
    im = Image.open(png).convert("L")
    assert im.size == (1200, 3000)
    # the rendered page is not blank: plenty of non-white pixels (text, tables, embedded figures)
    dark = sum(1 for px in im.getdata() if px < 200)
    assert dark > 20_000


def test_hidden_group_sizes_are_consistent_across_sheets(published: Path):
    """A product size hidden in one sheet is hidden in every sheet (else sheets combined would reveal it)."""
    sheets = _sheets(published)
    hidden_by_sheet = {}
    for name in (SHEET_KM, SHEET_RATES, SHEET_CIF, SHEET_FOLLOWUP):
        header, *rows = sheets[name]
        n_col = header.index(H_N)
        if any(len(r) > n_col and r[n_col] is not None for r in rows):  # follow-up: once analysis has the table
            hidden_by_sheet[name] = {(r[2], r[3]) for r in rows if r[n_col] == MARKER}
    header, *rows = sheets[SHEET_AT_RISK]
    zero = header.index("At risk 0 mo / 위험군 0개월")
    hidden_by_sheet["At risk (0 mo)"] = {(r[2], r[3]) for r in rows if r[zero] == MARKER}
    product = {name: {k for k in v if k[0] == "PRODUCT"} for name, v in hidden_by_sheet.items()}
    # whatever product groups the data makes small, every sheet hides the same ones (the suppression pattern
    # itself is tested on hand-made tables in test_suppression.py and test_disclosure_audit.py)
    first = product[SHEET_KM]
    assert all(v == first for v in product.values()), product


def test_other_analysis_table_shapes_resolve_through_aliases(tmp_path: Path):
    """Analysis tables with other column names (time, lower, upper, n_events per step, no row_type) still give a
    full workbook and figures: names are resolved in one place (release.yaml `names.column_aliases`)."""
    from release_fixture import build_fixture_warehouse

    from kocartr.release import publish_release, verify_release

    wh = build_fixture_warehouse(tmp_path / "wh.duckdb", CUTOFF, n_patients=80, analysis_format="legacy")
    rel = publish_release(wh, CUTOFF, tmp_path / "out")
    assert verify_release(rel) == []
    sheets = _sheets(rel)
    assert len(sheets[SHEET_KM]) > 3 and len(sheets[SHEET_KM_STEPS]) > 20 and len(sheets[SHEET_RATES]) > 2
    for name, rows in sheets.items():
        header = rows[0] if rows else []
        for j, h in enumerate(header):
            if _is_count_header(h):
                assert not any(isinstance(r[j], (int, float)) and 1 <= r[j] <= 4 for r in rows[1:]), (name, h)
    assert len(list((rel / "figures").glob("*.png"))) == 4


def test_estimate_without_ci_and_scorecard_cells_read_as_text():
    from kocartr.release.report import _est_ci, _scorecard_cell

    assert _est_ci(1.0, None, None) == "100.0%"
    assert _est_ci(0.8, 0.7, 0.9) == "80.0% (70.0% - 90.0%)"
    assert _est_ci(None, None, None) == ""
    assert _scorecard_cell("completeness", 0.912) == "91.2%"
    from decimal import Decimal

    assert _scorecard_cell("completeness", Decimal("0.91")) == "91.0%"
    assert _scorecard_cell("plausibility_checks", 40) == "40"
    assert _scorecard_cell("failing_checks", ["DQ01", "DQ07"]) == "DQ01, DQ07"
    assert _scorecard_cell("failing_checks", []) == "none"


def test_product_colour_does_not_depend_on_which_strata_are_drawn(tmp_path: Path):
    """One colour per product everywhere: fixed by the analysis plan, not by drawing order."""
    from kocartr.release.figures import stratum_colors

    cfg = load_release_config()
    every = stratum_colors(None, cfg, ["AXI_CEL", "CILTA_CEL", "TISA_CEL"])
    fewer = stratum_colors(None, cfg, ["TISA_CEL"])  # AXI_CEL and CILTA_CEL suppressed in this figure
    assert every["TISA_CEL"] == fewer["TISA_CEL"] == cfg.plan.product_colours["TISA_CEL"]
    assert len(set(every.values())) == 3


def _analysis(published: Path, table: str):
    import duckdb

    con = duckdb.connect(str(published / "kocartr_release.duckdb"), read_only=True)
    try:
        return con.sql(f"SELECT * FROM analysis.{table}").pl()
    finally:
        con.close()


def _rows(df, row_type: str) -> dict:
    """{(endpoint, stratum_variable, stratum, time_months): row} of one row type."""
    out = {}
    for r in df.filter(df["row_type"] == row_type).to_dicts():
        t = None if r["time_months"] is None else round(r["time_months"], 6)
        out[(r["endpoint"], r["stratum_variable"], r["stratum"], t)] = r
    return out


def test_workbook_numbers_are_the_analysis_tables_own_rows(published: Path):
    """Nothing re-derived: every landmark, median, number at risk and step count in the workbook equals the
    analysis table's row (a release number that differed from analysis.* fails here)."""
    from analyses.plan import load_plan

    plan, sheets = load_plan(), _sheets(published)
    checked = 0
    for sheet, table in ((SHEET_KM, "survival_estimates"), (SHEET_CIF, "cumulative_incidence")):
        df = _analysis(published, table)
        landmarks, medians = _rows(df, "landmark"), _rows(df, "median")
        header, *rows = sheets[sheet]
        for r in rows:
            if MARKER in r:
                continue
            key = (r[0], r[2], r[3])
            for m in plan.published_landmark_months:
                col = next(j for j, h in enumerate(header) if h.startswith(f"{m}-month ") and "CI" not in h)
                lm = landmarks[(*key, float(m))]
                for j, k in enumerate(("estimate", "lower_95", "upper_95")):
                    assert (
                        r[col + j] == pytest.approx(lm[k], rel=1e-14, abs=0)
                        if lm[k] is not None
                        else r[col + j] is None
                    )
                    checked += 1
            if sheet == SHEET_KM:
                med = medians[(*key, None)]["estimate"]
                assert r[header.index("Median (months) / 중앙값 (개월)")] == (None if med is None else round(med, 2))
    header, *rows = sheets[SHEET_AT_RISK]
    risk = {**_rows(_analysis(published, "survival_estimates"), "risk_table")}
    risk.update(_rows(_analysis(published, "cumulative_incidence"), "risk_table"))
    for r in rows:
        for m in plan.published_at_risk_months:
            v = r[header.index(f"At risk {m} mo / 위험군 {m}개월")]
            if v != MARKER:
                assert v == risk[(r[0], r[2], r[3], float(m))]["n_at_risk"], (r[:4], m)
                checked += 1
    assert checked > 100


def test_step_sheets_carry_the_curve_rows_with_their_counts(published: Path):
    sheets = _sheets(published)
    for sheet, table, counts in (
        (SHEET_KM_STEPS, "survival_estimates", ("n_at_risk", "n_event_at_time", "n_censored_at_time")),
        (SHEET_CIF_STEPS, "cumulative_incidence", ("n_at_risk", "n_event_at_time", "n_competing_at_time")),
    ):
        df = _analysis(published, table)
        curve = {
            (r["endpoint"], r["stratum_variable"], r["stratum"], r["time_days"]): r
            for r in df.filter(df["row_type"] == "curve").to_dicts()
        }
        header, *rows = sheets[sheet]
        steps = [r for r in rows if r[4] in [k[3] for k in curve] and (r[0], r[2], r[3], r[4]) in curve]
        assert len(steps) > 20
        for r in steps:
            c = curve[(r[0], r[2], r[3], r[4])]
            assert r[6] == pytest.approx(c["estimate"], rel=1e-14)
            assert [r[header.index(h)] for h in header[9:12]] == [c[k] for k in counts], (sheet, r)


def test_rate_sheets_list_only_their_own_rates(tmp_path: Path):
    """Each sheet of published rates holds the rates the plan puts on it (ICAHT never on the CRS/ICANS sheet)."""
    import xlsxwriter  # noqa: F401

    from kocartr.release import workbook as wbk
    from kocartr.release.config import ReleaseConfig
    from kocartr.release.outcomes import PublishedOutcomes, Rate

    class Config(ReleaseConfig):
        @property
        def rates(self):
            return [
                {"endpoint": "CRS", "measure": "grade_ge3", "label": "CRS grade >= 3", "sheet": "CRS_ICANS 독성"},
                {
                    "endpoint": "ICAHT_LATE",
                    "measure": "grade_ge3",
                    "label": "Late ICAHT >= 3",
                    "sheet": "ICAHT 혈액독성",
                },
            ]

    def rate(label: str, n: int) -> Rate:
        return Rate(label, "overall", "overall", "Clopper-Pearson", n, 5, 5 / n, 0.1, 0.9)

    pub = PublishedOutcomes(None, [], None, [], [rate("CRS grade >= 3", 20), rate("Late ICAHT >= 3", 30)], {})
    book = wbk._open(tmp_path / "w.xlsx", {"cutoff": "2026-10-31"}, Config(load_release_config().raw))
    wbk._rates(book, None, pub)
    book.wb.close()
    wb = openpyxl.load_workbook(tmp_path / "w.xlsx", read_only=True)
    got = {ws.title: [r[0] for r in list(ws.iter_rows(values_only=True))[1:]] for ws in wb.worksheets}
    assert got == {"CRS_ICANS 독성": ["CRS grade >= 3"], "ICAHT 혈액독성": ["Late ICAHT >= 3"]}


def _section(html: str, sec: str) -> str:
    start = html.index(f'id="{sec}"')
    return html[start : html.index("</section>", start)]


def test_report_late_effects_and_sir_sections(published: Path):
    """Both sections in English and Korean; no visible count 1-4 in their cells; the SIR's synthetic reference
    rates said so visibly; the sheet's rows are the report's rows (one suppression)."""
    from kocartr.release.report import load_labels

    html = (published / "report.html").read_text(encoding="utf-8")
    labels = load_labels()
    for sec, key in (("sec-late", "sec_late"), ("sec-sir", "sec_sir")):
        part = _section(html, sec)
        assert labels[key]["en"] in part and labels[key]["ko"] in part
        assert "<table" in part  # the pipeline-built release has the tables
        for cell in re.findall(r"<td[^>]*>([^<]*)</td>", part):
            assert not re.fullmatch(r"[1-4]", cell.strip()), (sec, cell)
    late = _section(html, "sec-late")
    assert [c for c in load_plan().late_effects if f">{c}<" in late] == []  # endpoints by name, never by code
    sir = _section(html, "sec-sir")
    assert labels["sir_synthetic"]["en"] in sir and labels["sir_synthetic"]["ko"] in sir
    assert "SYNTHETIC" in sir
    sheets = _sheets(published)
    header, *late_rows = sheets[SHEET_LATE]
    details = [str(r[header.index("Detail / 세부")]) for r in late_rows if r[1]]
    assert details and [d for d in details if raw_late_detail_code().search(d)] == []  # named, never coded
    assert [c for c in re.findall(r"<td[^>]*>([^<]*)</td>", late) if raw_late_detail_code().search(c)] == []
    # the report hides what the sheet hides in the rows it shows (overall, by product): one joint decision, so the
    # two outputs cannot be combined to reveal a hidden count
    shown_rows = [r for r in late_rows if r[1] and r[2] in ("overall", "PRODUCT")]
    assert shown_rows and {r[2] for r in late_rows if r[1]} > {"overall", "PRODUCT"}
    assert len(re.findall(r'<td class="[^"]*supp[^"]*"', late)) == sum(r.count(MARKER) for r in shown_rows)
    header, *rows = sheets[SHEET_SIR]
    assert "SYNTHETIC" in str(rows[0][0])  # warning above the table
    data = [r for r in rows[1:] if r[1]]
    assert {r[1] for r in data} == {"SPM", "SPM_TCELL"} and {r[2] for r in data} == {"overall", "PRODUCT"}
    assert all("SYNTHETIC" in r[-1] for r in data)
    obs = header.index(H_EVENTS)
    for r in data:
        assert r[obs] == MARKER or not (1 <= r[obs] <= 4), r
        if r[obs] == MARKER:
            assert r[obs + 3 : obs + 6] == [MARKER] * 3, r  # SIR and CI derive from the observed count
    shown = re.findall(r'<td class="[^"]*supp[^"]*"', sir)
    assert len(shown) == sum(r.count(MARKER) for r in data)


def test_sir_rows_suppress_observed_counts_against_the_overall_row():
    import duckdb

    from kocartr.release.sir_sheet import sir_rows

    con = duckdb.connect()
    con.execute("create schema analysis")
    con.execute(
        """create table analysis.sir as select * from (values
        ('SPM', 'overall', 'overall', 'ALL_SITES', 10, 5.0, 100.0, 2.0, 1.0, 3.7, 'SYNTHETIC x'),
        ('SPM', 'PRODUCT', 'A', 'ALL_SITES', 8, 3.0, 60.0, 2.7, 1.1, 5.2, 'SYNTHETIC x'),
        ('SPM', 'PRODUCT', 'B', 'ALL_SITES', 2, 2.0, 40.0, 1.0, 0.1, 3.6, 'SYNTHETIC x'),
        ('SPM_TCELL', 'overall', 'overall', 'T_CELL', 0, 0.1, 100.0, 0.0, 0.0, 36.9, 'SYNTHETIC x')
        ) t(endpoint, stratum_variable, stratum, malignancy_category, observed, expected, person_years, sir,
            lower_95, upper_95, reference_source)"""
    )
    rows = {(r[1].value, r[3].value): r for r in sir_rows(con, 5)}
    assert [c.hidden for c in rows[("SPM", "B")][4:]] == [True, False, False, True, True, True, False]
    assert rows[("SPM", "A")][4].hidden  # complement: A = overall - B
    assert not rows[("SPM", "overall")][4].hidden and not rows[("SPM_TCELL", "overall")][4].hidden
    assert sir_rows(duckdb.connect(), 5) == []


def test_outputs_built_from_one_decision_equal_those_built_alone(published: Path, warehouse: Path, tmp_path: Path):
    # the release decides the suppressed outcomes once and hands a copy to the workbook, figures and report; each of
    # them, building its own decision from the release database, writes the same bytes
    import duckdb

    from kocartr.release import figures, publish, report, workbook

    manifest = json.loads((published / MANIFEST).read_text(encoding="utf-8"))
    config = load_release_config()
    wh = duckdb.connect(str(warehouse), read_only=True)
    try:
        scorecard = publish.read_scorecard(wh, CUTOFF)
    finally:
        wh.close()
    context = {
        "cutoff": manifest["cutoff"],
        "dictionary_version": manifest["dictionary_version"],
        "tables_sha256": manifest["tables_sha256"],
        "threshold": manifest["suppression_threshold"],
        "quality_summary": manifest["quality_summary"],
        "package_version": manifest["code_version"]["package"],
        "regulatory_notes": manifest["notes"],
        "scorecard": scorecard,
    }
    book = f"hta_outcomes_{context['cutoff']}.xlsx"
    con = duckdb.connect(str(published / publish.RELEASE_DB), read_only=True)
    try:
        workbook.write_workbook(con, tmp_path / book, context, config)
        figs = figures.write_figures(con, tmp_path / "figures", context, config)
        report.write_report(con, tmp_path / "report.html", context, config, figs)
    finally:
        con.close()
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert made == sorted([book, "report.html", *(f["file"] for f in figs)])
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (published / rel).read_bytes(), rel
