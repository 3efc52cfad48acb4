"""MNIST and Fashion-MNIST from the official idx-ubyte files in torchvision's on-disk layout.

``<root>/MNIST/raw/`` or ``<root>/FashionMNIST/raw/`` must hold ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
plain or gzipped (``.gz``, as distributed). torchvision's ``MNIST(download=False)`` is not
used: it only accepts the uncompressed files (it gunzips during its download step), so the
few lines of idx parsing live here and both forms are read. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from automl.config.errors import ConfigError

NUM_CLASSES = 10
FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}  # torchvision class names
_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_UBYTE = 0x08  # idx type code for unsigned bytes


def mnist_samples(name: str, root: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The official (train, test) splits of ``name`` as float32 N,1,28,28 images in [0, 1] and int64 labels.

    Raises:
        ConfigError: ``dataset.root`` when a file is missing or not a valid idx file.
    """
    raw = Path(root) / FOLDERS[name] / "raw"
    paths = {f: _find(raw / f) for f in _FILES}
    missing = [f"{raw / f}(.gz)" for f, p in paths.items() if p is None]
    if missing:
        raise ConfigError("dataset.root", f"no {FOLDERS[name]} files under {root}: expected {', '.join(missing)} "
                                          "(nothing is downloaded; put the official files there)")
    arrays = {f: _read_idx(p) for f, p in paths.items()}  # type: ignore[arg-type]
    splits = []
    for prefix in ("train", "t10k"):
        images, labels = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) \
                or (labels.size and labels.max() >= NUM_CLASSES):
            raise ConfigError("dataset.root", f"{raw}: {prefix} images {images.shape} and labels {labels.shape} "
                                              "do not match (expected N,H,W images and N labels in 0..9)")
        x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)
        splits.append((x, torch.from_numpy(labels).long()))
    return splits[0], splits[1]


def _find(path: Path) -> Path | None:
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte idx file (big-endian header: 0, 0, type, ndim, then ndim uint32 sizes)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:  # unreadable, or a corrupt/truncated gzip
        raise ConfigError("dataset.root", f"cannot read {path}: {err}") from None
    ndim = data[3] if len(data) >= 4 else 0
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != bytes((0, 0, _UBYTE)) or ndim == 0:
        raise ConfigError("dataset.root", f"{path} is not an unsigned-byte idx file")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise ConfigError("dataset.root", f"{path}: header says {shape} but holds {len(data) - header} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()
