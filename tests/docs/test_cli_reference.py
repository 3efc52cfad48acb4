"""docs/cli.md is what the argument parser says today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from automl.cli import build_parser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("make_cli_reference", DOCS / "make_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == _generator().render(), \
        "docs/cli.md is stale: run `python docs/make_cli_reference.py`"


def test_it_covers_every_command_and_flag() -> None:
    page = (DOCS / "cli.md").read_text()
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    for name, command in sub.choices.items():
        assert f"## automl {name}" in page
        for action in command._actions:
            for flag in action.option_strings:
                assert flag in page, f"automl {name} {flag} is not in docs/cli.md"
