"""HTA workbook (no visible patient count 1-4), figures, and the HTML report (self-contained, renders)."""

import json
import re
from pathlib import Path

import openpyxl
import pytest
from conftest import CUTOFF

from kocartr.release.config import load_release_config
from kocartr.release.publish import MANIFEST
from kocartr.release.render_check import find_chromium, render_html

MARKER = load_release_config().marker


def _sheets(published: Path):
    wb = openpyxl.load_workbook(published / f"hta_outcomes_{CUTOFF}.xlsx", read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _is_count_header(h) -> bool:
    return isinstance(h, str) and (h in ("N patients", "Events") or h.startswith("At risk"))


def test_workbook_sheets_and_readme(published: Path):
    sheets = _sheets(published)
    assert list(sheets) == [
        "README",
        "Methods & definitions",
        "OS_PFS",
        "At risk",
        "KM steps",
        "CRS_ICANS",
        "Cumulative incidence",
    ]
    readme = {r[0]: r[1] for r in sheets["README"]}
    manifest = json.loads((published / MANIFEST).read_text())
    assert readme["Data cut-off"] == "2026-10-31"
    assert readme["Manifest hash (tables_sha256)"] == manifest["tables_sha256"]
    assert readme["Data dictionary version"] == "1.0.0"
    methods = " ".join(str(r[1]) for r in sheets["Methods & definitions"])
    for word in ("Aalen-Johansen", "Kaplan-Meier", "complementary", "ASTCT"):
        assert word in methods
    assert {r[0] for r in sheets["OS_PFS"][1:]} == {"OS", "PFS"}
    assert {r[0] for r in sheets["Cumulative incidence"][1:]} == {"NRM", "SPM"}
    assert {r[0] for r in sheets["CRS_ICANS"][1:]} == {"CRS grade >= 3", "ICANS grade >= 3"}
    assert len(sheets["KM steps"]) > 20


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
    for name in ("OS_PFS", "CRS_ICANS", "Cumulative incidence"):
        header, *rows = sheets[name]
        n_col, e_col = header.index("N patients"), header.index("Events")
        for r in rows:
            if MARKER in (r[n_col], r[e_col]):
                assert all(v in (MARKER, None) for v in r[e_col + 1 :]), (name, r)


def test_km_steps_only_for_published_strata(published: Path):
    sheets = _sheets(published)
    shown = {(r[0], r[1], r[2]) for r in sheets["OS_PFS"][1:] if r[4] != MARKER and r[5] != MARKER}
    assert {(r[0], r[1], r[2]) for r in sheets["KM steps"][1:]} <= shown


def test_report_is_self_contained(published: Path):
    html = (published / "report.html").read_text(encoding="utf-8")
    assert "2026-10-31" in html
    assert json.loads((published / MANIFEST).read_text())["tables_sha256"] in html
    assert html.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html
    for section in ("Data quality per site", "Follow-up completeness", "CRS, ICANS and ICAHT", "Cumulative incidence"):
        assert section in html
    # scorecard: per site, the latest month on or before the cut-off (S02's 2026-11 row is after it)
    dq = html[html.index('id="sec-quality"') : html.index('id="sec-completeness"')]
    assert "2026-10" in dq and "91.0%" in dq and "2026-11" not in dq and "50.0%<" not in dq
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
    for name in ("OS_PFS", "CRS_ICANS", "Cumulative incidence"):
        header, *rows = sheets[name]
        n_col = header.index("N patients")
        hidden_by_sheet[name] = {(r[1], r[2]) for r in rows if r[n_col] == MARKER}
    header, *rows = sheets["At risk"]
    hidden_by_sheet["At risk (0 mo)"] = {(r[1], r[2]) for r in rows if r[header.index("At risk 0 mo")] == MARKER}
    product = {name: {k for k in v if k[0] == "PRODUCT"} for name, v in hidden_by_sheet.items()}
    first = product["OS_PFS"]
    assert first and len(first) >= 2  # a small product and its complement
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
    assert len(sheets["OS_PFS"]) > 3 and len(sheets["KM steps"]) > 20 and len(sheets["CRS_ICANS"]) > 2
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
    """One colour per product everywhere: fixed by the product's rank in dim_product, not by drawing order."""
    import duckdb

    from kocartr.release.figures import COLORS, stratum_colors

    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    con.execute(
        "CREATE SCHEMA marts; CREATE TABLE marts.dim_product AS "
        "SELECT * FROM (VALUES ('AXI_CEL'), ('CILTA_CEL'), ('TISA_CEL')) t(product_code)"
    )
    cfg = load_release_config()
    every = stratum_colors(con, cfg, ["AXI_CEL", "CILTA_CEL", "TISA_CEL"])
    fewer = stratum_colors(con, cfg, ["TISA_CEL"])  # AXI_CEL and CILTA_CEL suppressed in this figure
    assert every["TISA_CEL"] == fewer["TISA_CEL"] == COLORS[2]
    assert len(set(every.values())) == 3
