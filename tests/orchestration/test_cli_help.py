"""A CLI that explains itself: every option of every command has help with an example, every command's help names
the environment variables it reads and the exit codes, and the README documents the same."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kocartr.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
ENV_READ = {  # command -> environment variables it reads (as the code does)
    "run": ["KOCARTR_HMAC_KEY", "KOCARTR_HMAC_KEY_FILE", "KOCARTR_DEMO", "KOCARTR_LOCK_WAIT", "DAGSTER_HOME"],
    "rekey": ["KOCARTR_HMAC_KEY", "KOCARTR_HMAC_KEY_FILE", "KOCARTR_DEMO"],
    "queries": ["KOCARTR_SUBMISSIONS"],
}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **sub.choices}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_with_an_example(command):
    parser = _commands()[command]
    options = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert options
    missing = [a.option_strings[-1] for a in options if not a.help or "e.g. " not in a.help]
    assert missing == []


@pytest.mark.parametrize("command", sorted(c for c in _commands() if c))
def test_every_command_names_its_environment_and_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text and "  2  refused before starting" in text
    assert "example" in text and "environment" in text
    for var in ENV_READ.get(command, []):
        assert var in text
    if command not in ENV_READ:
        assert "environment: none read" in text


def test_version_and_readme_document_exit_codes_and_environment(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.startswith("kocartr ")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in ("Exit codes", "| 0 |", "| 1 |", "| 2 |", *sorted({v for vs in ENV_READ.values() for v in vs})):
        assert text in readme
