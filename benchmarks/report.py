"""Shared by the benchmark scripts: print a result table and optionally keep it in a file."""

from __future__ import annotations

from pathlib import Path


def emit(lines: list[str], out: Path | None) -> None:
    text = "\n".join(lines)
    print(text)
    if out:
        out.write_text(text + "\n")
