"""MNIST / Fashion-MNIST read from tiny files in the official idx-ubyte layout."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from automl.config.errors import ConfigError
from automl.data import DatasetConfig, load_dataset

N_TRAIN, N_TEST = 100, 20


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(blob))
    else:
        path.write_bytes(blob)


def write_mnist(root: Path, folder: str, compress: bool) -> dict[str, np.ndarray]:
    """Official layout: <root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        arrays[f"{prefix}_x"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}_y"] = np.arange(n, dtype=np.uint8) % 10
        write_idx(raw / f"{prefix}-images-idx3-ubyte", arrays[f"{prefix}_x"], compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", arrays[f"{prefix}_y"], compress)
    return arrays


@pytest.mark.parametrize("name, folder, compress", [("mnist", "MNIST", True), ("fashion_mnist", "FashionMNIST", False)])
def test_official_files_load_with_the_official_test_split(tmp_path, name, folder, compress):
    arrays = write_mnist(tmp_path, folder, compress)
    splits = load_dataset(DatasetConfig(name=name, root=str(tmp_path)))
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (85, 15, N_TEST)
    # The official test split is the test split, in order; the pixels come back after un-normalising.
    assert torch.equal(splits.y_test, torch.from_numpy(arrays["t10k_y"]).long())
    raw = (splits.x_test * splits.std[0] + splits.mean[0]) * 255
    assert torch.allclose(raw, torch.from_numpy(arrays["t10k_x"]).float().unsqueeze(1), atol=1e-3)
    # Validation is carved from the official training split, stratified.
    pool = torch.cat([splits.y_train, splits.y_val]).sort().values
    assert torch.equal(pool, torch.from_numpy(arrays["train_y"]).long().sort().values)
    assert set(splits.y_val.tolist()) == set(range(10))


def test_missing_folder_names_the_expected_files(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as err:
        load_dataset(DatasetConfig(name="mnist", root=str(root)))
    assert err.value.field == "dataset.root"
    assert f"{root}/MNIST/raw/train-images-idx3-ubyte(.gz)" in err.value.message
    assert "t10k-labels-idx1-ubyte" in err.value.message and "nothing is downloaded" in err.value.message


def test_one_missing_file_is_named_alone(tmp_path):
    write_mnist(tmp_path, "FashionMNIST", compress=True)
    (tmp_path / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConfigError, match="expected .*t10k-labels-idx1-ubyte\\(\\.gz\\) \\(nothing") as err:
        load_dataset(DatasetConfig(name="fashion_mnist", root=str(tmp_path)))
    assert "train-images" not in err.value.message


def test_corrupt_file_is_a_config_error(tmp_path):
    write_mnist(tmp_path, "MNIST", compress=False)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 9)
    with pytest.raises(ConfigError, match="train-images-idx3-ubyte") as err:
        load_dataset(DatasetConfig(name="mnist", root=str(tmp_path)))
    assert err.value.field == "dataset.root"
