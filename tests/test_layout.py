"""The package's layers (pyproject.toml, [tool.importlinter]) hold: imports go only downward, no loops."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_imports_go_only_downward_and_never_loop() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]  # names every broken import chain
    assert "2 kept, 0 broken" in out.stdout


def test_every_folder_and_top_module_of_the_package_is_in_a_layer() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    named = {part.strip() for layer in layers for part in layer.split("|")}
    package = REPO / "automl"
    present = {p.name for p in package.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    present |= {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert present == named, f"not in a layer: {sorted(present - named)}; no longer present: {sorted(named - present)}"
