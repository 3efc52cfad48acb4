"""A study whose dataset and model family are the user's own modules, kept only in the driver's
folder, runs on the two-node test cluster (cluster_harness.py: the second node sees an empty
tmpfs over that folder) through the ``automl`` console script with no PYTHONPATH: the driver
imports them from its folder, the workers get them through Ray's ``runtime_env`` ``py_modules``
(automl/study/user_code.py, automl/search/ray_boot.py).

The dataset comes from a single-file module, the family from a package: both forms Ray ships.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.study.attrs import reused_from, worker_of
from tests.search.cluster_harness import Cluster, can_run, cluster_env

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(can_run() is not None, reason=str(can_run()))]

DATA_MODULE = textwrap.dedent("""\
    import numpy as np


    def rows():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return (bunch.data.astype(np.float32) / 16.0).reshape(-1, 8, 8), bunch.target
    """)
MODELS_INIT = "from byo_models.nets import build\n"
MODELS_NETS = textwrap.dedent("""\
    import math

    from torch import nn


    def build(num_classes, input_shape, width=16):
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
                             nn.Linear(width, num_classes))
    """)
SPACE = textwrap.dedent("""\
    name: byo_space
    params:
      arch.family: {fixed: "byo_models:build"}
      arch.choices.width: {int: [4, 32]}  # wide enough that 4 trials rarely repeat a candidate
      quant.weight_bits: {categorical: [8, 32]}
      quant.mode: {fixed: ptq}
    """)
STUDY = textwrap.dedent("""\
    name: byo_cluster
    dataset: {name: "byo_data:rows"}
    teacher:
      arch: {family: "byo_models:build", choices: {width: 16}}
      train: {epochs: 1}
    space: byo_space.yaml
    n_trials: 4
    concurrency: 2
    resources_per_trial: {cpu: 1, gpu: 0}
    train: {epochs: 1, batch_size: 64}
    """)


def test_user_modules_only_in_the_driver_s_folder_reach_both_nodes(tmp_path) -> None:
    work = tmp_path / "driver"
    (work / "byo_models").mkdir(parents=True)
    (work / "byo_data.py").write_text(DATA_MODULE)
    (work / "byo_models" / "__init__.py").write_text(MODELS_INIT)
    (work / "byo_models" / "nets.py").write_text(MODELS_NETS)
    (work / "byo_space.yaml").write_text(SPACE)
    (work / "byo_cluster.yaml").write_text(STUDY)
    cluster = Cluster(work=work, env=cluster_env())
    try:
        cluster.start()
        driver_env = {k: v for k, v in cluster.env.items() if k != "PYTHONPATH"}  # as a user types it
        out = subprocess.run([str(Path(sys.executable).with_name("automl")), "launch", "byo_cluster.yaml",
                              "--quiet", "--ray-address", cluster.address, "--tracking-uri", cluster.tracking_uri],
                             cwd=work, env=driver_env, capture_output=True, text=True, timeout=600, check=False)
        assert out.returncode == 0, out.stderr[-3000:]
        record = json.loads((work / "runs" / "byo_cluster" / "study.json").read_text())
        study = optuna.load_study(study_name="byo_cluster", storage=record["storage"])
        errors = {t.number: t.user_attrs.get("error") for t in study.trials if t.state != TrialState.COMPLETE}
        assert not errors, errors  # e.g. ModuleNotFoundError: No module named 'byo_models'
        assert len(study.trials) == 4
        assert record["cluster"]["nodes"] == 2
        driver_node = record["cluster"]["driver"]["ray_node_id"]
        per_node = Counter(worker_of(t)["ray_node_id"] for t in study.trials
                           if reused_from(t) is None)  # a repeat is answered by its first, not trained
        assert len(per_node) == 2 and any(n != driver_node for n in per_node), \
            f"trials per node {dict(per_node)}: expected some on the second node (driver {driver_node})"
        print(f"\nbyo_cluster: trials per node { {n[:12]: c for n, c in per_node.items()} }, "
              f"driver node {driver_node[:12]}")
    finally:
        cluster.stop()
