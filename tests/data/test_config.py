"""DatasetConfig: validation names the field; round-trips through a plain dict."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.config.errors import ConfigError
from automl.data import DatasetConfig


def test_round_trips_through_a_dict():
    cfg = DatasetConfig(name="mnist", root="/data", seed=3, val_fraction=0.1, max_train=500)
    assert cfg.to_dict() == {"name": "mnist", "root": "/data", "seed": 3, "val_fraction": 0.1,
                             "test_fraction": 0.2, "max_train": 500}
    assert DatasetConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_name_lists_the_allowed_names():
    with pytest.raises(ConfigError) as err:
        DatasetConfig(name="imagenet")
    assert err.value.field == "name"
    assert err.value.message == ("unknown dataset 'imagenet' (allowed: digits, digits32, mnist, fashion_mnist, "
                                 "cifar10, or an import path pkg.module:function)")


def test_import_path_names_are_accepted_by_form():
    assert DatasetConfig(name="my_pkg.sub.mod:load").name == "my_pkg.sub.mod:load"
    with pytest.raises(ConfigError, match="unknown dataset"):
        DatasetConfig(name="my_pkg.mod:")


@pytest.mark.parametrize("key, value", [
    ("val_fraction", 0.0), ("val_fraction", 0.51), ("test_fraction", -0.1), ("test_fraction", "0.2"),
    ("seed", -1), ("seed", 1.5), ("max_train", 9), ("max_train", True), ("root", ""),
])
def test_bad_values_name_the_field_under_the_prefix(key, value):
    with pytest.raises(ConfigError) as err:
        DatasetConfig.from_dict({key: value})
    assert err.value.field == f"dataset.{key}"


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(ConfigError) as err:
        DatasetConfig.from_dict({"val_frac": 0.1})
    assert err.value.field == "dataset.val_frac"


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_folder_datasets_need_a_root(name):
    with pytest.raises(ConfigError) as err:
        DatasetConfig(name=name)
    assert err.value.field == "root"
    assert "nothing is downloaded" in err.value.message


def test_path_root_is_stored_as_text_and_hashable():
    cfg = DatasetConfig(name="mnist", root=Path("/data"))
    assert cfg.root == "/data"
    assert hash(cfg) == hash(DatasetConfig(name="mnist", root="/data"))


def test_fraction_bounds_are_inclusive_at_one_half():
    assert DatasetConfig(val_fraction=0.5, test_fraction=0.5).val_fraction == 0.5
