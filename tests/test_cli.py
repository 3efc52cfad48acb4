"""The command line: bad input is exit code 2 with one line naming file and field."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def automl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "automl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


STUDY = textwrap.dedent("""\
    name: bad
    dataset: {name: digits}
    space: space.yaml
    n_trials: 2
    """)
SPACE = textwrap.dedent("""\
    name: s
    params:
      arch.family: {fixed: cnn}
      quant.weight_bits: {categorical: [8, 32]}
    """)


@pytest.mark.parametrize("study_edit, space_edit, field", [
    (lambda s: s + "bogus_key: 1\n", None, "bogus_key"),
    (lambda s: s.replace("n_trials: 2", "n_trials: two"), None, "n_trials"),
    (None, lambda s: s.replace("[8, 32]", "[3, 8]"), "quant.weight_bits"),
    (None, lambda s: s + "  pruning.ratio: {float: [0.0, 1.5]}\n", "pruning.ratio"),
    (None, lambda s: "name: s\nparams: {}\n", "params"),
    (lambda s: s.replace("space.yaml", "missing.yaml"), None, "space"),
    (lambda s: s + "objectives: [\n", None, "line"),
    (lambda s: s + "early_stopping: {rungs: [3, 1]}\n", None, "early_stopping.rungs"),
    (None, lambda s: s.replace("{fixed: cnn}", "{fixed: cnn1d}"), "arch.family"),  # 1-D family, 2-D images
])
def test_bad_files_exit_2_with_one_line_naming_the_field(tmp_path, study_edit, space_edit, field):
    study, space = STUDY, SPACE
    if study_edit:
        study = study_edit(study)
    if space_edit:
        space = space_edit(space)
    (tmp_path / "study.yaml").write_text(study)
    (tmp_path / "space.yaml").write_text(space)
    out = automl("launch", "study.yaml", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert field in lines[0] and "Traceback" not in out.stderr
    assert ".yaml" in lines[0]


def test_missing_study_file_and_unknown_study(tmp_path):
    out = automl("launch", "nope.yaml", cwd=tmp_path)
    assert out.returncode == 2 and "nope" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = automl("pareto", "never_ran", cwd=tmp_path)
    assert out.returncode == 2 and "never_ran" in out.stderr


def test_missing_dataset_folder_is_a_clear_error(tmp_path):
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "study.yaml").write_text(STUDY.replace("{name: digits}", f"{{name: mnist, root: {tmp_path / 'nowhere'}}}"))
    out = automl("launch", "study.yaml", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "dataset.root" in out.stderr and "nowhere" in out.stderr
