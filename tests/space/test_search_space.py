"""Search spaces: YAML -> Optuna suggestions -> valid CandidateConfigs; bad files fail in one line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest

from automl.candidate.config import CandidateConfig
from automl.config import ConfigError
from automl.space.search_space import GROUPS, load_space, parse_condition

REPO = Path(__file__).resolve().parents[2]
SPACES = [REPO / "search_spaces" / "cnn_joint.yaml", REPO / "search_spaces" / "mobilenet_joint.yaml"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))


def _write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_space(path)
    err = info.value
    assert "\n" not in str(err)
    assert str(path) in str(err)
    return err


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_cover_all_groups_and_build_candidates(path: Path) -> None:
    space = load_space(path)
    assert space.groups() == GROUPS
    study = _study(1)
    for _ in range(30):
        trial = study.ask()
        cand = space.suggest(trial, {"train": {"epochs": 1, "seed": 3}})
        cfg = CandidateConfig.from_dict(cand)  # every sample is a valid candidate
        assert cfg.train.epochs == 1 and cfg.train.seed == 3  # the base is merged in
        study.tell(trial, 0.0)


def test_conditional_params_appear_only_when_their_condition_holds() -> None:
    space = load_space(SPACES[0])
    study = _study(7)
    seen_on = seen_off = 0
    for _ in range(30):
        trial = study.ask()
        cand = space.suggest(trial)
        enabled = cand["distill"]["enabled"]
        assert ("temperature" in cand["distill"]) == enabled
        assert ("alpha" in cand["distill"]) == enabled
        assert ("distill.temperature" in trial.params) == enabled
        quant = cand["quant"]
        assert ("activation_bits" in quant) == (quant["weight_bits"] <= 8)
        assert ("granularity" in cand.get("pruning", {})) == (cand["pruning"]["ratio"] > 0)
        seen_on += enabled
        seen_off += not enabled
        study.tell(trial, 0.0)
    assert seen_on and seen_off


def test_per_stage_list_has_one_value_per_stage() -> None:
    space = load_space(SPACES[0])
    study = _study(3)
    lengths = set()
    for _ in range(30):
        trial = study.ask()
        choices = space.suggest(trial)["arch"]["choices"]
        assert len(choices["widths"]) == choices["stages"]
        assert [trial.params[f"arch.choices.widths.{i}"] for i in range(choices["stages"])] == choices["widths"]
        assert f"arch.choices.widths.{choices['stages']}" not in trial.params
        lengths.add(choices["stages"])
        study.tell(trial, 0.0)
    assert lengths == {1, 2, 3}


def test_fixed_length_list_and_round_trip(tmp_path: Path) -> None:
    space = load_space(SPACES[1])
    trial = _study().ask()
    assert len(space.suggest(trial)["arch"]["choices"]["depths"]) == 7
    again = load_space(_write(tmp_path, __import__("yaml").safe_dump(space.to_dict(), sort_keys=False)))
    assert again == space


def test_function_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_space_mod.py").write_text(textwrap.dedent("""
        def define(trial):
            return {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [8]}},
                    "quant": {"weight_bits": trial.suggest_categorical("bits", [8, 32])}}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    space = load_space(_write(tmp_path, "name: user\nfunction: my_space_mod:define\n"))
    assert space.groups() == ("arch", "quant")
    cand = space.suggest(_study().ask(), {"train": {"epochs": 2}})
    assert CandidateConfig.from_dict(cand).quant.weight_bits in (8, 32)
    err = _error(tmp_path, "name: user\nfunction: my_space_mod:nope\n")
    assert err.field == "function"


@pytest.mark.parametrize("spec, field, needle", [
    ("quant.weight_bits: {categorical: [3, 8]}", "params.quant.weight_bits", "2, 4, 8, 16, 32"),
    ("pruning.ratio: {float: [0.0, 1.5]}", "params.pruning.ratio", "0.95"),
    ("pruning.granularity: {categorical: [unstructured, filter]}", "params.pruning.granularity", "channel"),
    ("quant.activation_bits: {categorical: [4]}", "params.quant.activation_bits", "8, 32"),
    ("distill.temperature: {float: [0.0, 4.0]}", "params.distill.temperature", "range"),
    ("pruning.ratio: {float: [0.5, 0.1]}", "params.pruning.ratio.float", "greater than"),
    ("pruning.ratio: {uniform: [0.0, 0.5]}", "params.pruning.ratio.uniform", "unknown key"),
    ("pruning.ratio: {float: [0.0, 0.5], log: true}", "params.pruning.ratio.log", "low > 0"),
    ("pruning.ratio: {}", "params.pruning.ratio", "exactly one type key"),
    ("pruning.speed: {float: [0.0, 0.5]}", "params.pruning.speed", "unknown knob"),
    ("pruning.ratio: {categorical: []}", "params.pruning.ratio.categorical", "non-empty"),
    ("distill.alpha: {float: [0.0, 1.0], when: distill.enabled}\n  distill.enabled: {categorical: [true, false]}",
     "params.distill.alpha.when", "later"),
    ("distill.alpha: {float: [0.0, 1.0], when: distill.nope}", "params.distill.alpha.when", "not a param"),
    ("arch.choices.widths: {categorical: [8], per_stage: arch.choices.stages}", "params.arch.choices.widths.per_stage",
     "earlier"),
])
def test_bad_params_name_the_field(tmp_path: Path, spec: str, field: str, needle: str) -> None:
    err = _error(tmp_path, f"name: bad\nparams:\n  {spec}\n")
    assert err.field == field, str(err)
    assert needle in err.message, str(err)


def test_arch_choices_checked_by_the_family(tmp_path: Path) -> None:
    err = _error(tmp_path, """
        name: bad
        params:
          arch.family: {fixed: cnn}
          arch.choices.kernel_size: {categorical: [3, 7]}
    """)
    assert err.field == "params.arch.choices.kernel_size"


@pytest.mark.parametrize("text, field, needle", [
    ("name: empty\nparams: {}\n", "params", "empty"),
    ("name: x\nparams:\n  quant.mode: {categorical: [ptq]}\nextra: 1\n", "extra", "unknown key"),
    ("params:\n  quant.mode: {categorical: [ptq]}\n", "name", "non-empty"),
    ("name: x\nparams: [1, 2]\n", "params", "mapping"),
])
def test_bad_top_level(tmp_path: Path, text: str, field: str, needle: str) -> None:
    err = _error(tmp_path, text)
    assert err.field == field and needle in err.message


def test_malformed_yaml_reports_the_line(tmp_path: Path) -> None:
    err = _error(tmp_path, "name: x\nparams:\n  quant.mode: {categorical: [ptq\n  other: 1\n")
    assert "malformed YAML at line" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "nope.yaml")


@pytest.mark.parametrize("text", [
    "__import__('os')", "__import__('os').system('true')", "a.b or c", "x == (1)", "x + 1 > 2",
    "lambda: 1", "x ==", "and x", "x in [1, 2", "not", "x.__class__ == 1 ; y",
])
def test_condition_parser_rejects_code(text: str) -> None:
    with pytest.raises(ConfigError, match="cannot parse condition"):
        parse_condition(text)


def test_condition_semantics() -> None:
    c = parse_condition("quant.weight_bits <= 8 and not distill.enabled and quant.mode in [ptq, 'qat']")
    assert c.holds({"quant.weight_bits": 8, "distill.enabled": False, "quant.mode": "qat"})
    assert not c.holds({"quant.weight_bits": 16, "distill.enabled": False, "quant.mode": "qat"})
    assert not c.holds({"quant.weight_bits": 8, "distill.enabled": True, "quant.mode": "ptq"})
    assert parse_condition("x != 1").holds({"x": 2})
    assert parse_condition("g == channel").holds({"g": "channel"})
    assert parse_condition("x not in [1, 2]").holds({"x": 3})
    assert not parse_condition("x == 1").holds({"x": True})  # true is not 1
    assert not parse_condition("x > 0").holds({})  # absent: comparisons are false
    assert parse_condition("not x").holds({})
    assert not parse_condition("x > 0").holds({"x": "text"})  # incomparable: false


def test_stepped_floats_are_exact_grid_values() -> None:
    space = load_space(REPO / "search_spaces" / "cnn_joint.yaml")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    ratios = []
    for _ in range(40):
        ratios.append(space.suggest(study.ask())["pruning"]["ratio"])
    # step 0.05: every value is a clean multiple, no 0.30000000000000004
    assert all(r == round(round(r / 0.05) * 0.05, 10) for r in ratios)
    assert all(len(repr(r)) <= 4 for r in ratios) and len(set(ratios)) > 5  # e.g. 0.3, 0.85


def test_per_stage_quant_layer_bits_builds_candidates_the_model_takes(tmp_path: Path) -> None:
    from automl.models.registry import create_model
    from automl.quantization import layer_bit_widths

    space = load_space(_write(tmp_path, """
        name: bits
        params:
          arch.family: {fixed: cnn}
          arch.choices.stages: {int: [1, 3]}
          arch.choices.widths: {categorical: [8], per_stage: arch.choices.stages}
          quant.weight_bits: {categorical: [8, 32]}
          quant.layer_bits: {categorical: [2, 4, 8], per_stage: arch.choices.stages, when: "quant.weight_bits <= 8"}
          quant.edge_bits: {categorical: [8], when: "quant.weight_bits <= 8"}
    """))
    study = _study(5)
    seen = set()
    for _ in range(20):
        trial = study.ask()
        cfg = CandidateConfig.from_dict(space.suggest(trial))
        q = cfg.quant
        assert (q.layer_bits is None) == (q.weight_bits == 32) == (q.edge_bits is None)
        if q.layer_bits is not None:
            assert len(q.layer_bits) == cfg.arch.choices["stages"]
            assert list(q.layer_bits) == [trial.params[f"quant.layer_bits.{i}"] for i in range(len(q.layer_bits))]
            model = create_model("cnn", cfg.arch.choices, num_classes=10, input_shape=(1, 8, 8))
            widths = list(layer_bit_widths(model, q).values())
            assert widths[0] == widths[-1] == 8
            seen.update(widths[1:-1])
        study.tell(trial, 0.0)
    assert seen == {2, 4, 8}


@pytest.mark.parametrize("spec, needle", [
    ("quant.weight_bits: {categorical: [8], per_stage: 2}", "list fields (quant.layer_bits, share.layer_clusters)"),
    ("quant.layer_bits: {categorical: [2, 3], per_stage: 2}", "2, 4, 8"),
])
def test_bad_per_stage_quant_params(tmp_path: Path, spec: str, needle: str) -> None:
    err = _error(tmp_path, f"name: bad\nparams:\n  {spec}\n")
    assert needle in err.message, str(err)


def test_arch_init_is_a_knob_and_its_values_are_checked(tmp_path):
    err = _error(tmp_path, """\
        name: s
        params:
          arch.init: {categorical: [teacher, pretrained]}
        """)
    assert err.field == "params.arch.init" and "'pretrained' is not allowed (allowed: scratch, teacher)" in str(err)
    space = load_space(_write(tmp_path, """\
        name: s
        params:
          arch.init: {categorical: [teacher, scratch]}
          arch.choices.stages: {int: [1, 2], when: "arch.init == scratch"}
          train.epochs: {fixed: 0, when: "arch.init == teacher"}
        """))
    picked = space.suggest(optuna.trial.FixedTrial({"arch.init": "teacher"}))
    assert picked == {"arch": {"init": "teacher"}, "train": {"epochs": 0}}
