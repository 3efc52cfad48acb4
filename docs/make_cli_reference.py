"""Write docs/cli.md from the command line's own argument parser (``python docs/make_cli_reference.py``).

tests/docs/test_cli_reference.py fails when docs/cli.md differs from what this renders, so the
reference cannot fall behind the code.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from automl.cli import build_parser

OUT = Path(__file__).with_name("cli.md")
WIDTH = "100"  # argparse wraps help at $COLUMNS: fixed, so the page does not depend on the terminal


def render() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = ["# `automl` command reference", "",
                 "Generated from the argument parser by `python docs/make_cli_reference.py`; "
                 "a test fails when this page is stale.", "", "```", parser.format_help().rstrip(), "```"]
        for name, command in sub.choices.items():
            parts += ["", f"## automl {name}", "", "```", command.format_help().rstrip(), "```"]
        return "\n".join(parts) + "\n"
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
