"""A study's own ``pkg.module:function`` beside it imports as written: ``automl`` (the console
script, no PYTHONPATH) puts the current folder first on ``sys.path``; the modules a cluster's
workers need are named for Ray's ``runtime_env`` ``py_modules`` (the cluster end-to-end test:
tests/search/test_user_code_cluster_e2e.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from automl.search.ray_boot import job_runtime_env
from automl.study.config import StudyConfig
from automl.study.user_code import local_modules, top_level_names, user_import_paths

CONSOLE_SCRIPT = Path(sys.executable).with_name("automl")

USER_CODE = textwrap.dedent("""\
    import numpy as np
    from torch import nn


    def rows():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(60, 4, 6)).astype(np.float32)
        return x, np.arange(60) % 3


    def build(num_classes, input_shape, width=8):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), width), nn.ReLU(),
                             nn.Linear(width, num_classes))


    def define(trial):
        return {"arch": {"family": "byo_code:build", "choices": {"width": trial.suggest_categorical("w", [4, 8])}}}
    """)
SPACE = textwrap.dedent("""\
    name: byo
    params:
      arch.family: {categorical: [byo_code:build, mlp]}
      quant.weight_bits: {categorical: [8, 32]}
    """)
STUDY = textwrap.dedent("""\
    name: byo
    dataset: {name: "byo_code:rows"}
    teacher:
      arch: {family: "byo_code:build", choices: {width: 8}}
      train: {epochs: 1}
    space: space.yaml
    n_trials: 2
    """)


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the user's module ``byo_code.py``, a space and a study naming it; the
    test runs in it, with ``sys.path`` and ``sys.modules`` restored afterwards."""
    (tmp_path / "byo_code.py").write_text(USER_CODE)
    (tmp_path / "space.yaml").write_text(SPACE)
    (tmp_path / "study.yaml").write_text(STUDY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if os.path.abspath(p or os.curdir) != str(tmp_path)])
    yield tmp_path
    sys.modules.pop("byo_code", None)


def test_the_console_script_imports_a_study_s_own_module_from_the_current_folder(user_folder: Path) -> None:
    # the study is valid up to its sampler: the teacher's family (imported while the file is
    # validated) resolves; then the bad sampler is the one error, exit 2, no Ray started
    (user_folder / "study.yaml").write_text(STUDY + "sampler: bogus\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(CONSOLE_SCRIPT), "launch", "study.yaml"], cwd=user_folder, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2, out.stderr
    assert "sampler" in out.stderr and "cannot import" not in out.stderr, out.stderr


def test_main_puts_the_current_folder_first_and_the_dataset_imports(user_folder: Path) -> None:
    from automl.cli import main
    from automl.data import DatasetConfig
    from automl.data.user import load_user_dataset

    (user_folder / "study.yaml").write_text(STUDY + "sampler: bogus\n")
    assert main(["launch", "study.yaml"]) == 2  # after the teacher's family imported: the sampler
    assert sys.path[0] == str(user_folder)
    splits = load_user_dataset(DatasetConfig("byo_code:rows"))
    assert tuple(splits.input_shape) == (4, 6)
    before = list(sys.path)
    main(["pareto", "never_ran", "--run-dir", str(user_folder / "none")])
    assert sys.path == before  # once, not once per call


def test_the_import_paths_of_a_study_and_the_local_modules_they_name(user_folder: Path) -> None:
    sys.path.insert(0, str(user_folder))
    cfg = StudyConfig.from_dict({**_yaml(STUDY)}, base_dir=user_folder)
    assert user_import_paths(cfg) == ("byo_code:rows", "byo_code:build")
    (user_folder / "fn_space.yaml").write_text("name: f\nfunction: byo_code:define\n")
    cfg = StudyConfig.from_dict({**_yaml(STUDY), "dataset": {"name": "digits"}, "space": "fn_space.yaml"},
                                base_dir=user_folder)
    assert user_import_paths(cfg) == ("byo_code:build", "byo_code:define")
    assert local_modules(user_import_paths(cfg)) == (str(user_folder / "byo_code.py"),)


def test_local_modules_are_files_and_packages_under_the_folder_only(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    (here / "pkg_a" / "sub").mkdir(parents=True)
    (here / "pkg_a" / "__init__.py").write_text("")
    (here / "pkg_a" / "sub" / "mod.py").write_text("def f(): pass\n")
    (here / "nsp").mkdir()  # a namespace package (no __init__.py), like the repository's studies/
    (here / "nsp" / "m.py").write_text("def f(): pass\n")
    (here / "one.py").write_text("def f(): pass\n")
    elsewhere.mkdir()
    (elsewhere / "far.py").write_text("def f(): pass\n")
    monkeypatch.setattr(sys, "path", [str(here), str(elsewhere), *sys.path])
    paths = ["pkg_a.sub.mod:f", "nsp.m:f", "one:f", "one:g", "far:f", "json:loads", "optuna:create_study",
             "automl.models.cnn:build", "missing_module_xyz:f"]
    assert top_level_names(paths)[:3] == ("pkg_a", "nsp", "one")
    assert local_modules(paths, root=here) == (str(here / "pkg_a"), str(here / "nsp"), str(here / "one.py"))
    assert local_modules(paths, root=tmp_path)[-1] == str(elsewhere / "far.py")
    assert local_modules(["digits", "cnn"], root=here) == ()


def test_the_job_runtime_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    local = job_runtime_env(None, ("/work/x.py",))  # a local Ray shares the driver's disk
    assert set(local) == {"env_vars"} and local["env_vars"]["PYTHONPATH"].split(os.pathsep)[0] == os.getcwd()
    assert job_runtime_env("10.0.0.1:6379", ()) is None
    assert job_runtime_env("10.0.0.1:6379", ("/w/pkg", "/w/one.py")) == {"py_modules": ["/w/pkg", "/w/one.py"]}
    # `ray job submit --working-dir .` ships the code itself (and Ray will not merge two py_modules)
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {"working_dir": "gcs://x.zip"}}))
    assert job_runtime_env("10.0.0.1:6379", ("/w/pkg",)) is None
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {"env_vars": {"A": "1"}}}))
    assert job_runtime_env("10.0.0.1:6379", ("/w/pkg",)) == {"py_modules": ["/w/pkg"]}


def _yaml(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)
