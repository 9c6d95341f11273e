"""The `kocartr` command's contract with its user."""

from kocartr.cli import main


def test_run_refuses_to_start_without_a_key_and_creates_nothing(tmp_path, monkeypatch, capsys):
    for var in ("KOCARTR_DEMO", "KOCARTR_HMAC_KEY", "KOCARTR_HMAC_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    warehouse = tmp_path / "out" / "warehouse.duckdb"
    code = main(
        [
            "run",
            "--submissions",
            str(tmp_path),
            "--warehouse",
            str(warehouse),
            "--release-dir",
            str(tmp_path / "releases"),
        ]
    )
    assert code == 2
    assert "KOCARTR_HMAC_KEY" in capsys.readouterr().err
    assert not warehouse.parent.exists()


def test_unknown_registry_month_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "submissions" / "S01" / "2026-05").mkdir(parents=True)
    code = main(
        [
            "run",
            "--submissions",
            str(tmp_path / "submissions"),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
            "--demo",
            "--release-dir",
            str(tmp_path / "releases"),
            "--month",
            "2099-01",
        ]
    )
    assert code == 2
    assert "not complete yet" in capsys.readouterr().err
