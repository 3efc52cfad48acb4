"""The end-to-end tests' tiny study and the command line they drive (the study itself is the
session fixture ``launched`` in ``tests/conftest.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def automl(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "automl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_study(folder: Path, name: str, space: str, trials: int) -> Path:
    study = folder / f"{name}.yaml"
    study.write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{name: digits}}
        teacher:
          arch: {{family: cnn, choices: {{stages: 2, widths: [16, 32]}}}}
          train: {{epochs: 3}}
        space: {space}
        sampler: nsga2
        n_trials: {trials}
        concurrency: 2
        resources_per_trial: {{cpu: 1, gpu: 0}}
        train: {{epochs: 2, batch_size: 64}}
        seed: 0
        """))
    return study


SPACE = textwrap.dedent("""\
    name: tiny_joint
    params:
      arch.family: {fixed: cnn}
      arch.choices.stages: {int: [1, 2]}
      arch.choices.widths: {categorical: [8, 16], per_stage: arch.choices.stages}
      pruning.ratio: {categorical: [0.0, 0.5]}
      pruning.granularity: {categorical: [unstructured, channel], when: "pruning.ratio > 0"}
      pruning.finetune_epochs: {fixed: 1}
      quant.weight_bits: {categorical: [4, 8, 32]}
      quant.activation_bits: {categorical: [8, 32], when: "quant.weight_bits <= 8"}
      quant.mode: {fixed: ptq}
      distill.enabled: {categorical: [true, false]}
      distill.alpha: {float: [0.2, 0.8], when: distill.enabled}
      distill.temperature: {float: [1.0, 4.0], when: distill.enabled}
    """)


def tiny_study(folder: Path, name: str, trials: int) -> Path:
    """The tiny study (``SPACE`` beside it as ``tiny_joint.yaml``) written into ``folder``."""
    (folder / "tiny_joint.yaml").write_text(SPACE)
    return write_study(folder, name, "tiny_joint.yaml", trials=trials)
