"""CIFAR-10 from the official python-pickle batches in torchvision's on-disk layout.

``<root>/cifar-10-batches-py/`` must hold ``data_batch_1`` .. ``data_batch_5`` and
``test_batch``: pickled dicts with ``data`` (N x 3072 uint8, channel-major 3x32x32 rows) and
``labels`` (N ints), keys as ``bytes`` or ``str``. torchvision's ``CIFAR10(download=False)``
is not used: it insists on the md5 checksums of the full official files (and of
``batches.meta``, which training does not need) and unpickles them with plain
``pickle.load``, which runs whatever the file names. These batches are read with
:class:`_ArrayUnpickler`, which only resolves the handful of numpy array-reconstruction
globals the batches use, so a tampered file cannot execute code. Nothing is downloaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from automl.config.errors import ConfigError

NUM_CLASSES = 10
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
_SHAPE = (3, 32, 32)

_ALLOWED = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),  # pickled by numpy 1.x (the official files)
    ("numpy._core.multiarray", "_reconstruct"),  # pickled by numpy 2.x
    ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes written by Python 3 under pickle protocol 2
})


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler for plain containers and numpy arrays; any other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def cifar10_samples(root: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The official (train, test) splits as float32 N,3,32,32 images in [0, 1] and int64 labels.

    Raises:
        ConfigError: ``dataset.root`` when a batch is missing or not a CIFAR-10 python batch.
    """
    folder = Path(root) / FOLDER
    missing = [str(folder / b) for b in TRAIN_BATCHES + TEST_BATCHES if not (folder / b).is_file()]
    if missing:
        raise ConfigError("dataset.root", f"no CIFAR-10 files under {root}: expected {', '.join(missing)} "
                                          "(nothing is downloaded; put the official python batches there)")
    return _read_batches(folder, TRAIN_BATCHES), _read_batches(folder, TEST_BATCHES)


def _read_batches(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for name in names:
        data, batch_labels = _read_batch(folder / name)
        images.append(data)
        labels.append(batch_labels)
    x = torch.from_numpy(np.concatenate(images)).view(-1, *_SHAPE).float().div_(255.0)
    return x, torch.from_numpy(np.concatenate(labels)).long()


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="latin1").load()  # latin1: numpy 1.x / Python 2 pickles
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as err:
        raise ConfigError("dataset.root", f"cannot read CIFAR-10 batch {path}: {err}") from None
    if not isinstance(entry, dict):
        raise ConfigError("dataset.root", f"{path}: expected a pickled dict, got {type(entry).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), np.asarray(entry.get("labels", []))
    size = int(np.prod(_SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != size \
            or labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) \
            or (labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES):
        raise ConfigError("dataset.root", f"{path}: expected 'data' uint8 N x {size} and N 'labels' in 0..9")
    return data, labels
