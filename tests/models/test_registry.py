import json

import pytest
import torch

from automl.candidate.config import ArchConfig, CandidateConfig
from automl.config import ConfigError
from automl.models import create_model, families, validate_choices
from automl.models.cnn import CNNChoices
from automl.models.cnn1d import CNN1DChoices
from automl.models.mlp import MLPChoices
from automl.models.mobilenet import MobileNetV2Choices

USER = "tests.models.user_family:build"


IMAGES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
SIGNALS = [(1, 16), (8, 8), (3, 1)]
FEATURES = [(64,), (1,)]
FITS = [(f, s) for f in ("cnn", "mobilenet_v2") for s in IMAGES] + [("cnn1d", s) for s in SIGNALS] \
    + [("mlp", s) for s in IMAGES + SIGNALS + FEATURES]


def test_builtin_families_are_listed():
    assert families() == ["cnn", "mobilenet_v2", "cnn1d", "mlp"]


@pytest.mark.parametrize("family, shape", FITS)
def test_builtin_family_builds_and_runs(family, shape):
    model = create_model(family, {}, num_classes=7, input_shape=shape)
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 7)
    out.sum().backward()


@pytest.mark.parametrize("family", families())
def test_validate_choices_fills_defaults_and_round_trips(family):
    normalised = validate_choices(family, {})
    assert normalised and all(not isinstance(v, tuple) for v in normalised.values())
    assert validate_choices(family, json.loads(json.dumps(normalised))) == normalised


def test_cnn_choices_normalised():
    got = validate_choices("cnn", {"stages": 3, "widths": (8, 16, 24), "kernel_size": 5})
    assert got == {"stages": 3, "widths": [8, 16, 24], "kernel_size": 5, "blocks_per_stage": 1}


def test_cnn_choices_shape_the_network():
    choices = {"stages": 3, "widths": [4, 8, 12], "kernel_size": 5, "blocks_per_stage": 2}
    model = create_model("cnn", choices, num_classes=3, input_shape=(1, 8, 8))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8, 12, 12]
    assert all(c.kernel_size == (5, 5) for c in convs)


def test_cnn_four_stages_on_tiny_input_stops_downsampling():
    choices = {"stages": 4, "widths": [4, 4, 4, 4]}
    model = create_model("cnn", choices, num_classes=2, input_shape=(1, 8, 8))
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 2)
    assert model.features(torch.randn(1, 1, 8, 8)).shape[-2:] == (2, 2)


def test_mobilenet_expansion_int_becomes_list():
    got = validate_choices("mobilenet_v2", {"expansion": 4})
    assert got["expansion"] == [4] * 7


def test_mobilenet_final_feature_map_at_least_2x2():
    for shape in [(1, 8, 8), (3, 32, 32)]:
        model = create_model("mobilenet_v2", {}, num_classes=2, input_shape=shape)
        assert model.features(torch.randn(1, *shape)).shape[-2:] == (2, 2)


def test_mobilenet_zero_depth_stage_is_skipped():
    small = create_model("mobilenet_v2", {"depths": [1, 0, 0, 0, 0, 0, 1]}, num_classes=2, input_shape=(1, 8, 8))
    full = create_model("mobilenet_v2", {}, num_classes=2, input_shape=(1, 8, 8))
    assert len(small.features) == 1 + 2 + 1  # stem, two inverted residuals, head conv
    assert len(full.features) == 1 + 10 + 1
    assert small(torch.randn(2, 1, 8, 8)).shape == (2, 2)


@pytest.mark.parametrize("family, shape, takes", [
    ("cnn", (64,), "images (C, H, W)"),
    ("cnn", (8, 8), "images (C, H, W)"),
    ("mobilenet_v2", (2, 16), "images (C, H, W)"),
    ("cnn1d", (1, 8, 8), "signals (C, L)"),
    ("cnn1d", (64,), "signals (C, L)"),
])
def test_family_given_the_wrong_rank_says_which_ranks_it_takes(family, shape, takes):
    with pytest.raises(ConfigError) as err:
        create_model(family, {}, num_classes=3, input_shape=shape)
    assert err.value.field == "input_shape"
    assert f"family {family!r} takes {takes}, got {shape!r}" in err.value.message
    assert "mlp" in err.value.message  # names a family that fits
    assert "\n" not in str(err.value)


def test_cnn1d_choices_shape_the_network():
    choices = {"stages": 3, "widths": [4, 8, 12], "kernel_size": 7, "blocks_per_stage": 2}
    model = create_model("cnn1d", choices, num_classes=3, input_shape=(2, 32))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8, 12, 12] and convs[0].in_channels == 2
    assert all(c.kernel_size == (7,) for c in convs)
    assert model.features(torch.randn(1, 2, 32)).shape == (1, 12, 8)  # two pools: 32 -> 8


def test_cnn1d_stops_downsampling_on_short_signals():
    model = create_model("cnn1d", {"stages": 4, "widths": [4, 4, 4, 4]}, num_classes=2, input_shape=(3, 8))
    assert model.features(torch.randn(1, 3, 8)).shape[-1] == 2
    assert model(torch.randn(5, 3, 8)).shape == (5, 2)


def test_mlp_choices_shape_the_network():
    model = create_model("mlp", {"layers": 3, "widths": [32, 16, 8]}, num_classes=4, input_shape=(2, 3, 5))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(30, 32), (32, 16), (16, 8), (8, 4)]
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.Dropout)) for m in model.modules())
    linear = create_model("mlp", {"layers": 0, "widths": []}, num_classes=4, input_shape=(7,))
    assert [type(m) for m in linear.modules() if isinstance(m, torch.nn.Linear)] == [torch.nn.Linear]


def test_mlp_batch_norm_and_dropout_are_options():
    model = create_model("mlp", {"layers": 1, "widths": [16], "batch_norm": True, "dropout": 0.5},
                         num_classes=2, input_shape=(10,))
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert model.features[1].bias is None  # BatchNorm's shift replaces the bias


@pytest.mark.parametrize("family, choices, field, allowed", [
    ("cnn", {"kernel_size": 4}, "choices.kernel_size", "3, 5"),
    ("cnn", {"stages": 3, "widths": [8, 16]}, "choices.widths", "3"),
    ("cnn", {"widths": [8, 1024]}, "choices.widths", "512"),
    ("cnn", {"stages": 5}, "choices.stages", "4"),
    ("cnn", {"depth": 2}, "choices.depth", "stages, widths, kernel_size, blocks_per_stage"),
    ("cnn", {"blocks_per_stage": True}, "choices.blocks_per_stage", "integer"),
    ("mobilenet_v2", {"width_mult": 3.0}, "choices.width_mult", "2.0"),
    ("mobilenet_v2", {"depths": [1, 2, 3]}, "choices.depths", "7"),
    ("mobilenet_v2", {"depths": [1, 2, 2, 2, 1, 1, 5]}, "choices.depths", "4"),
    ("mobilenet_v2", {"expansion": 0}, "choices.expansion", "6"),
    ("cnn1d", {"kernel_size": 4}, "choices.kernel_size", "3, 5, 7"),
    ("cnn1d", {"stages": 1, "widths": [8, 8]}, "choices.widths", "1"),
    ("cnn1d", {"blocks_per_stage": 4}, "choices.blocks_per_stage", "3"),
    ("mlp", {"layers": 5}, "choices.layers", "4"),
    ("mlp", {"layers": 1}, "choices.widths", "one width per layer (1)"),
    ("mlp", {"widths": [64, 2]}, "choices.widths", "[4, 512]"),
    ("mlp", {"batch_norm": 1}, "choices.batch_norm", "true or false"),
    ("mlp", {"dropout": 1.0}, "choices.dropout", "0.9"),
    ("mlp", {"hidden": [8]}, "choices.hidden", "layers, widths, batch_norm, dropout"),
])
def test_bad_choices_name_field_and_allowed(family, choices, field, allowed):
    with pytest.raises(ConfigError) as err:
        validate_choices(family, choices)
    assert err.value.field == field
    assert allowed in err.value.message


def test_unknown_family_lists_allowed():
    with pytest.raises(ConfigError) as err:
        validate_choices("resnet", {})
    assert err.value.field == "family"
    assert "cnn, mobilenet_v2, cnn1d, mlp" in err.value.message and "pkg.module:function" in err.value.message


def test_arch_config_nests_errors_under_arch():
    with pytest.raises(ConfigError) as err:
        CandidateConfig.from_dict({"arch": {"family": "cnn", "choices": {"kernel_size": 4}}})
    assert err.value.field == "arch.choices.kernel_size"
    assert ArchConfig().choices == {"stages": 2, "widths": [16, 32], "kernel_size": 3, "blocks_per_stage": 1}


def test_choices_dataclasses_are_hashable():
    assert hash(CNNChoices()) == hash(CNNChoices(widths=[16, 32]))
    assert hash(CNN1DChoices()) == hash(CNN1DChoices(widths=[16, 32]))
    assert hash(MLPChoices()) == hash(MLPChoices(widths=[64, 32]))
    assert MobileNetV2Choices(expansion=6).expansion == (6,) * 7


def test_user_family_by_import_path():
    choices = validate_choices(USER, {"hidden": 5, "note": ("a", 1)})
    assert choices == {"hidden": 5, "note": ["a", 1]}
    model = create_model(USER, {"hidden": 5}, num_classes=4, input_shape=(1, 8, 8))
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)
    assert model[1].out_features == 5
    assert ArchConfig(family=USER, choices={"hidden": 5}).choices == {"hidden": 5}


@pytest.mark.parametrize("shape", [(12,), (3, 10), (2, 4, 4)])
def test_user_family_gets_the_input_shape_of_any_rank(shape):
    model = create_model(USER, {"hidden": 5}, num_classes=4, input_shape=shape)
    assert model(torch.randn(2, *shape)).shape == (2, 4)


@pytest.mark.parametrize("path", [
    "tests.models.no_such_module:build",
    "tests.models.user_family:missing",
    "tests.models.user_family:NOT_CALLABLE",
    ":build",
])
def test_user_family_import_failure(path):
    with pytest.raises(ConfigError) as err:
        validate_choices(path, {})
    assert err.value.field == "family"
    assert err.value.message.startswith(f"cannot import {path!r}")


def test_user_family_choices_must_be_json_safe():
    with pytest.raises(ConfigError) as err:
        validate_choices(USER, {"hidden": object()})
    assert err.value.field == "choices.hidden"
    with pytest.raises(ConfigError) as err:
        validate_choices(USER, {"hidden": float("nan")})
    assert err.value.field == "choices.hidden"


def test_user_family_must_return_module():
    with pytest.raises(ConfigError) as err:
        create_model("tests.models.user_family:build_not_a_module", {}, num_classes=2, input_shape=(1, 8, 8))
    assert err.value.field == "family"


@pytest.mark.parametrize("kwargs, field", [
    ({"num_classes": 0, "input_shape": (1, 8, 8)}, "num_classes"),
    ({"num_classes": 2, "input_shape": (1, 1, 8, 8)}, "input_shape"),
    ({"num_classes": 2, "input_shape": ()}, "input_shape"),
    ({"num_classes": 2, "input_shape": (0, 8)}, "input_shape"),
])
def test_create_model_rejects_bad_shape_arguments(kwargs, field):
    with pytest.raises(ConfigError) as err:
        create_model("cnn", {}, **kwargs)
    assert err.value.field == field
