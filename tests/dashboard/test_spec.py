"""The dashboard's panel file: the shipped one loads; mistakes are one-line errors naming the field."""

from __future__ import annotations

import pytest

from automl.config import ConfigError
from automl.dashboard.spec import DEFAULT_FILE, KINDS, load_spec


def test_shipped_panels_load() -> None:
    spec = load_spec()
    assert DEFAULT_FILE.name == "study.yaml" and DEFAULT_FILE.parent.name == "dashboards"
    assert {p.kind for p in spec.panels} == set(KINDS)
    scatter = [p for p in spec.panels if p.kind == "scatter"]
    assert {(p.x, p.y) for p in scatter} == {("size_ratio", "accuracy"), ("latency_ratio", "accuracy")}
    assert spec.colour == "quant.weight_bits" and spec.marker == "pruning.granularity"


@pytest.mark.parametrize("text, field", [
    ("colour: a\nmarker: b\ntoggle: c\npanels: [{kind: pie}]", "panels[0].kind"),
    ("colour: a\nmarker: b\ntoggle: c\npanels: [{kind: scatter, x: flops, y: accuracy}]", "panels[0].x"),
    ("colour: a\nmarker: b\ntoggle: c\npanels: []", "panels"),
    ("colour: a\nmarker: b\ntoggle: c\nwidth: 3\npanels: [{kind: curves}]", "width"),
    ("marker: b\ntoggle: c\npanels: [{kind: curves}]", "colour"),
])
def test_bad_panel_files_name_the_field(tmp_path, text: str, field: str) -> None:
    path = tmp_path / "panels.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    assert info.value.field == field and "\n" not in str(info.value)
    with pytest.raises(ConfigError) as missing:
        load_spec(tmp_path / "nowhere.yaml")
    assert missing.value.field == "--panels"
