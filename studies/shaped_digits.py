"""The 8x8 digits as a user dataset of feature vectors or of 1-D signals: the import-path
form ``studies.shaped_digits:features`` a study's ``dataset.name`` takes (run from the
repository root so ``studies`` is importable).

* ``features``: N,64 feature vectors (pixels / 16) -- family ``mlp``;
* ``rows``: N,8,8 signals, 8 channels (the image rows) of length 8 -- ``cnn1d`` (or ``mlp``).

Run as a script, it measures one candidate per family at fp32 and at int8 QDQ with
:func:`automl.evaluate_candidate` (accuracy, bytes and the kernels ONNX Runtime runs)::

    python -m studies.shaped_digits     # from the repository root
"""

from __future__ import annotations

import numpy as np


def features() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as N,64 float32 feature vectors in [0, 1] and labels 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(np.float32) / 16.0, bunch.target


def rows() -> tuple[np.ndarray, np.ndarray]:
    """The same digits as N,8,8 signals: channel c is image row c, read left to right."""
    x, y = features()
    return x.reshape(-1, 8, 8), y


CASES = (("mlp", {"layers": 2, "widths": [64, 32]}, "studies.shaped_digits:features"),
         ("cnn1d", {"stages": 2, "widths": [16, 32]}, "studies.shaped_digits:rows"),
         ("cnn", {"stages": 2, "widths": [16, 32]}, "digits"))  # the images, for comparison
QUANTS = (("fp32", {}), ("int8 QDQ", {"weight_bits": 8, "activation_bits": 8}))


def main() -> None:
    import tempfile

    import torch

    from automl import CandidateConfig, DatasetConfig, evaluate_candidate
    from automl.data import load_dataset

    torch.set_num_threads(1)
    print("family  input      quant     val_acc  test_acc  bytes   MACs   kernels")
    for family, choices, name in CASES:
        for label, quant in QUANTS:
            cfg = CandidateConfig.from_dict({"arch": {"family": family, "choices": choices},
                                             "train": {"epochs": 15, "seed": 0}, "quant": quant})
            dataset = DatasetConfig(name=name)
            with tempfile.TemporaryDirectory() as tmp:
                r = evaluate_candidate(cfg, dataset, workdir=tmp)
            shape = "x".join(map(str, load_dataset(dataset).input_shape))
            print(f"{family:7s} {shape:10s} {label:9s} {r.accuracy:.4f}   {r.test_accuracy:.4f}    "
                  f"{r.size_bytes:<7d} {r.macs:<6d} {r.kernels}", flush=True)


if __name__ == "__main__":
    main()
