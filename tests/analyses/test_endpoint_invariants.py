"""Invariants of the endpoints on a real pipeline run (tests/conftest.py `pipeline_run`: a generated set through
ingest, dbt, quality gates and analyses).

One censoring rule (endpoints.md "One censoring rule"): PFS, RELAPSE and NRM of a patient end at the same time
(REL or death, else last contact) with the same delayed entry, so for every t
1 - KM_PFS(t) = CIF_RELAPSE(t) + CIF_NRM(t) (Aalen-Johansen with the KM of PFS as the all-cause survival).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from analyses.competing_risks import aalen_johansen, cif_at
from analyses.survival import kaplan_meier, survival_at


def _rows(con, paramcd: str):
    return con.sql(
        "select USUBJID, AVAL, CNSR, CMPEVFL, ENTRYT, PREENTFL from adam.adtte "
        f"where PARAMCD = '{paramcd}' order by USUBJID"
    ).fetchall()


@pytest.fixture(scope="module")
def adtte(pipeline_run):
    _, warehouse, _ = pipeline_run
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        yield {p: _rows(con, p) for p in ("PFS", "RELAPSE", "NRM")}
    finally:
        con.close()


def test_pfs_relapse_nrm_share_times_entry_and_flags(adtte):
    pfs, rel, nrm = adtte["PFS"], adtte["RELAPSE"], adtte["NRM"]
    assert len(pfs) == len(rel) == len(nrm) > 50
    for a, b, c in zip(pfs, rel, nrm):
        assert a[0] == b[0] == c[0]
        assert a[1] == b[1] == c[1] and a[4] == b[4] == c[4] and a[5] == b[5] == c[5], a[0]
        # PFS event <=> exactly one of RELAPSE / NRM is the event and the other competes
        if a[2] == 0:
            assert {(b[2], b[3]), (c[2], c[3])} == {(0, "N"), (None, "Y")}, a[0]
        else:
            assert a[2] == b[2] == c[2] == 1, a[0]


def test_one_minus_pfs_equals_relapse_plus_nrm_at_every_time(adtte):
    keep = [i for i, r in enumerate(adtte["PFS"]) if r[5] == "N"]
    t = np.array([adtte["PFS"][i][1] for i in keep])
    e = np.array([adtte["PFS"][i][4] for i in keep])
    pfs_ev = np.array([adtte["PFS"][i][2] == 0 for i in keep], dtype=int)
    # status for the cumulative incidence: 1 relapse, 2 non-relapse death, 0 censored
    status = np.array([1 if adtte["RELAPSE"][i][2] == 0 else 2 if adtte["NRM"][i][2] == 0 else 0 for i in keep])
    assert pfs_ev.sum() == (status > 0).sum() > 10
    km = kaplan_meier(t, pfs_ev, e)
    times = np.unique(t)
    s = survival_at(km, times)["estimate"]
    f_rel = cif_at(aalen_johansen(t, status, cause=1, entry=e), times)["estimate"]
    f_nrm = cif_at(aalen_johansen(t, status, cause=2, entry=e), times)["estimate"]
    np.testing.assert_allclose(1.0 - s, f_rel + f_nrm, atol=1e-12)
