"""The ground floor's compression and training settings validate themselves and round-trip."""

from __future__ import annotations

import pytest

from automl.config import ConfigError, DistillConfig, PruningConfig, QuantConfig, TrainConfig
from automl.config.compression import ShareConfig
from automl.config import fields as F


@pytest.mark.parametrize("build, field", [
    (lambda: PruningConfig(ratio=0.99), "ratio"),
    (lambda: PruningConfig(granularity="filter"), "granularity"),
    (lambda: QuantConfig(weight_bits=3), "weight_bits"),
    (lambda: QuantConfig(weight_bits=16, activation_bits=8), "activation_bits"),
    (lambda: QuantConfig(weight_bits=32, layer_bits=(4, 8)), "layer_bits"),
    (lambda: QuantConfig(weight_bits=8, edge_bits=16), "edge_bits"),
    (lambda: ShareConfig(clusters=1), "clusters"),
    (lambda: ShareConfig(clusters=300), "clusters"),
    (lambda: ShareConfig(layer_clusters=(4, 3.5)), "layer_clusters"),
    (lambda: ShareConfig(layer_clusters="4,16"), "layer_clusters"),
    (lambda: ShareConfig(edge_clusters=-1), "edge_clusters"),
    (lambda: DistillConfig(temperature=0.0), "temperature"),
    (lambda: TrainConfig(schedule="linear"), "schedule"),
    (lambda: TrainConfig(batch_size=0), "batch_size"),
])
def test_an_out_of_range_setting_names_its_field(build, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.field == field


def test_settings_round_trip_through_plain_dicts() -> None:
    for cfg in (PruningConfig(ratio=0.5, granularity="channel", round_to=8),
                QuantConfig(weight_bits=4, activation_bits=8, mode="qat", layer_bits=(2, 4, 8), edge_bits=8),
                ShareConfig(layer_clusters=(0, 4, 16), edge_clusters=256, finetune_epochs=1),
                DistillConfig(enabled=True, alpha=0.25, temperature=3.0),
                TrainConfig(epochs=3, lr=0.01, schedule="cosine")):
        assert F.from_mapping(type(cfg), F.to_plain(cfg), "x") == cfg


def test_derived_flags() -> None:
    assert not PruningConfig().enabled and PruningConfig(ratio=0.1).enabled
    assert not QuantConfig().enabled and QuantConfig(weight_bits=8).integer_weights
    assert QuantConfig(weight_bits=4, edge_bits=8).per_layer and not QuantConfig(weight_bits=4).per_layer
    assert DistillConfig(enabled=True, alpha=0.5).needs_teacher and not DistillConfig(enabled=True, alpha=1.0).needs_teacher
