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


def test_demo_mode_is_announced_once_on_the_terminal(tmp_path):
    """`kocartr run --demo` says DEMO MODE once (its banner), not again as the key resolver's log warning. A real
    process: under pytest a logging handler would swallow the warning the terminal showed."""
    import os
    import subprocess
    import sys

    (tmp_path / "submissions" / "S01" / "2026-05").mkdir(parents=True)
    args = ["run", "--submissions", str(tmp_path / "submissions"), "--warehouse", str(tmp_path / "w.duckdb")]
    args += ["--release-dir", str(tmp_path / "releases"), "--demo", "--month", "2099-01"]  # stops after the key
    env = {k: v for k, v in os.environ.items() if k not in ("KOCARTR_HMAC_KEY", "KOCARTR_HMAC_KEY_FILE")}
    code = "import sys; from kocartr.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "not complete yet" in proc.stderr, proc.stderr
    assert (proc.stdout + proc.stderr).count("DEMO MODE") == 1, (proc.stdout, proc.stderr)
