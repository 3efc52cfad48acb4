"""CIFAR-10 read from tiny official python-pickle batches, through a restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from automl.config.errors import ConfigError
from automl.data import DatasetConfig, load_dataset

PER_BATCH, N_TEST = 20, 20


def write_cifar(root: Path, protocol: int = 2) -> dict[str, np.ndarray]:
    """Official layout: <root>/cifar-10-batches-py/{data_batch_1..5,test_batch} with b'data', b'labels'."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name, n in [(f"data_batch_{i}", PER_BATCH) for i in range(1, 6)] + [("test_batch", N_TEST)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [i % 10 for i in range(n)]
        batch = {b"batch_label": name.encode(), b"data": data, b"labels": labels,
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = data
    return written


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_official_batches_load(tmp_path, protocol):
    written = write_cifar(tmp_path, protocol)
    splits = load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path), seed=2))
    assert splits.input_shape == (3, 32, 32) and splits.num_classes == 10
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (85, 15, N_TEST)
    assert len(splits.mean) == len(splits.std) == 3
    for c in range(3):  # per-channel statistics from the training split
        assert splits.x_train[:, c].mean().item() == pytest.approx(0.0, abs=1e-5)
        assert splits.x_train[:, c].std(correction=0).item() == pytest.approx(1.0, abs=1e-4)
    # Rows are channel-major 3x32x32 images; the test split is test_batch in order.
    mean = torch.tensor(splits.mean).view(1, 3, 1, 1)
    std = torch.tensor(splits.std).view(1, 3, 1, 1)
    raw = (splits.x_test * std + mean) * 255
    expected = torch.from_numpy(written["test_batch"]).float().view(-1, 3, 32, 32)
    assert torch.allclose(raw, expected, atol=1e-3)


def test_numpy1_pickles_with_text_keys_load(tmp_path):
    """The official files were pickled by numpy 1.x (``numpy.core``) with ``str`` keys."""
    write_cifar(tmp_path)
    data = np.full((PER_BATCH, 3072), 7, np.uint8)
    blob = pickle.dumps({"data": data, "labels": [9] * PER_BATCH}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").write_bytes(blob)
    splits = load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path)))
    assert (torch.cat([splits.y_train, splits.y_val]) == 9).sum().item() == PER_BATCH + 4 * (PER_BATCH // 10)  # + class 9 of batches 1-4


class _Payload:
    """Pickles to a call of ``open(marker, "w")``: a stand-in for arbitrary code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_batches_cannot_execute_code(tmp_path):
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1], b"x": _Payload(marker)}
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(batch))
    with pytest.raises(ConfigError, match="refusing to load global io.open") as err:
        load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path)))
    assert err.value.field == "dataset.root" and "data_batch_3" in err.value.message
    assert not marker.exists()


def test_missing_batches_are_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path)))
    assert err.value.field == "dataset.root"
    assert f"{tmp_path}/cifar-10-batches-py/data_batch_1" in err.value.message
    assert "test_batch" in err.value.message and "nothing is downloaded" in err.value.message


def test_wrong_batch_contents_are_a_config_error(tmp_path):
    write_cifar(tmp_path)
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ConfigError, match="test_batch: expected 'data' uint8 N x 3072"):
        load_dataset(DatasetConfig(name="cifar10", root=str(tmp_path)))
