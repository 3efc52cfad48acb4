"""docs/study-file.md documents exactly the keys and defaults the code has.

How the page is read:

- A section starts at a markdown heading. Its table is the first run of lines starting with
  ``|``. The first column of each body row is the key, written as one code span (`` `n_trials` ``).
  Pipes inside a cell must be escaped (``\\|``).
- The top-level table is the one under the heading "Top-level keys". The sub-tables are under
  the headings `` `dataset` ``, `` `teacher` ``, `` `train` ``, `` `resources_per_trial` `` and
  `` `early_stopping` ``. The command-line overrides are under "Command-line overrides".
- A default cell is read as **its first code span, parsed as YAML**. So `` `32` `` is 32,
  `` `tpe` `` is "tpe", `` `""` `` is "", `` `null` `` is None, `` `[3]` `` is [3], and
  `` `off` `` is False (YAML 1.1), which ``EarlyStoppingConfig.from_setting`` turns into None
  (no early stopping), the dataclass default. Any words after the code span are prose.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from automl.candidate.config import ArchConfig
from automl.cli import build_parser
from automl.config.compression import TrainConfig
from automl.data.config import DatasetConfig
from automl.study import config as study_config
from automl.study.config import OVERRIDE_KEYS, Resources, StudyConfig
from automl.study.mo_asha import EarlyStoppingConfig

PAGE = Path(__file__).resolve().parents[2] / "docs" / "study-file.md"

# StudyConfig fields with a plain default, and the study-file key each one is written as
PLAIN_DEFAULTS = ("n_trials", "concurrency", "sampler", "seed", "description", "trial_timeout_s",
                  "timing_resource", "early_stopping")
SUB_TABLES = {"dataset": DatasetConfig, "train": TrainConfig, "resources_per_trial": Resources,
              "early_stopping": EarlyStoppingConfig}
_CODE = re.compile(r"`([^`]*)`")


def _cells(line: str) -> list[str]:
    inner = line.strip().strip("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def _sections(text: str) -> dict[str, list[list[str]]]:
    """Heading text -> the body rows (lists of cells) of the first table under it."""
    out: dict[str, list[list[str]]] = {}
    heading, rows, in_table, done = None, [], False, False
    for line in text.splitlines() + ["# end"]:
        if line.startswith("#"):
            if heading is not None:
                out[heading] = rows
            heading, rows, in_table, done = line.lstrip("#").strip(), [], False, False
        elif line.startswith("|") and not done:
            rows.append(_cells(line))
            in_table = True
        elif in_table:
            done = True
    return {h: r[2:] for h, r in out.items()}  # drop the header and the --- row


def _table(title: str) -> dict[str, list[str]]:
    """The rows of the table under the heading ``title``, keyed by their first column's code span."""
    sections = _sections(PAGE.read_text())
    assert title in sections, f"docs/study-file.md has no section {title!r} (has: {list(sections)})"
    rows = sections[title]
    assert rows, f"the section {title!r} of docs/study-file.md has no table"
    table: dict[str, list[str]] = {}
    for row in rows:
        m = re.fullmatch(r"`([^`]+)`", row[0])
        assert m, f"{title}: the first column must be one `key`, got {row[0]!r}"
        assert m.group(1) not in table, f"{title}: {m.group(1)!r} is listed twice"
        table[m.group(1)] = row
    return table


def _documented_default(cell: str) -> Any:
    m = _CODE.search(cell)
    assert m, f"the default {cell!r} has no `code span` to read"
    return yaml.safe_load(m.group(1))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def test_key_tables_have_the_four_columns() -> None:
    text = PAGE.read_text()
    for title in ["Top-level keys", "`teacher`", *(f"`{t}`" for t in SUB_TABLES)]:
        section = text.split(f"\n## {title}\n", 1)[1]
        header = next(ln for ln in section.splitlines() if ln.startswith("|"))
        assert _cells(header)[1:] == ["default", "allowed values / range", "meaning"], (title, header)


def test_the_top_level_table_lists_exactly_the_study_keys() -> None:
    documented = list(_table("Top-level keys"))
    assert set(documented) == set(study_config._KEYS), (
        f"undocumented: {sorted(set(study_config._KEYS) - set(documented))}; "
        f"not keys of a study file: {sorted(set(documented) - set(study_config._KEYS))}")
    assert documented == list(study_config._KEYS), "list the keys in the order of _KEYS"


@pytest.mark.parametrize("key", PLAIN_DEFAULTS)
def test_plain_defaults_match_the_dataclass(key: str) -> None:
    field = {f.name: f for f in dataclasses.fields(StudyConfig)}[key]
    assert field.default is not dataclasses.MISSING, f"StudyConfig.{key} no longer has a plain default"
    written = _documented_default(_table("Top-level keys")[key][1])
    if key == "early_stopping":
        written = EarlyStoppingConfig.from_setting(written)
    assert written == field.default, f"{key}: documented {written!r}, the code's default is {field.default!r}"


@pytest.mark.parametrize("title, cls", SUB_TABLES.items())
def test_sub_tables_list_exactly_the_dataclass_fields(title: str, cls: type) -> None:
    table = _table(f"`{title}`")
    fields = [f.name for f in dataclasses.fields(cls)]
    assert set(table) == set(fields), (f"{title}: undocumented {sorted(set(fields) - set(table))}, "
                                       f"not fields {sorted(set(table) - set(fields))}")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        written = _documented_default(table[f.name][1])
        assert _plain(written) == _plain(default), (
            f"{title}.{f.name}: documented {written!r}, the code's default is {default!r}")


def test_teacher_table_lists_arch_fields_and_train() -> None:
    table = _table("`teacher`")
    expected = {f"arch.{f.name}" for f in dataclasses.fields(ArchConfig)} | {"train"}
    assert set(table) == expected


def test_overrides_table_lists_exactly_the_override_keys_with_real_flags() -> None:
    table = _table("Command-line overrides")
    assert set(table) == set(OVERRIDE_KEYS)
    launch = next(a for a in build_parser()._actions if isinstance(a.choices, dict)).choices["launch"]
    flags = {flag for action in launch._actions for flag in action.option_strings}
    for key, row in table.items():
        for flag in re.findall(r"`(--[a-z-]+)`", row[1]):
            assert flag in flags, f"{key}: automl launch has no flag {flag}"
