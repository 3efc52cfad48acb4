"""Warm start: a new study's sampler starts from the finished trials of earlier studies.

``warm_start: [NAME, ...]`` (or ``automl launch --warm-start NAME``) adds, once, every finished
candidate of each source study to the new one as a *prior*: an Optuna COMPLETE trial with

- the parameters the new space samples, each with the new space's distribution, where that
  distribution holds the value (the others are dropped and counted; a trial left with none is
  skipped);
- the values the source measured for the new study's objectives (a trial missing one, e.g. a
  target the source did not measure, is skipped) and its constraint values under the new
  study's constraints, so TPE and NSGA-II read it as they read their own trials;
- the user attribute ``warm_start_from: {study, trial}`` and no result.

A prior is evidence for the sampler and nothing else: it is not a point of this study, never on
its front, not counted in its budget, has no MLflow run and answers no repeat (results measured
on other data or under another teacher are not this study's). The source's front points are
enqueued, so they are proposed first, and trained and measured by this study like any candidate.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from automl.candidate.result import metric_values
from automl.config import ConfigError
from automl.study.accuracy_predictor import PROBED
from automl.study.attrs import (
    PRIOR_ATTR,
    RESULT_ATTR,
    WARM_START_ATTR,
    measurements,
    prior_of,
    reused_from,
)
from automl.study.config import StudyConfig
from automl.study.front import study_points
from automl.study.record import RECORD_FILE, StudyRecord
from automl.study.sampler import constraint_values
from automl.study.storage import load_study


@dataclass(frozen=True)
class WarmStart:
    """What one source study gave the new one."""

    source: str
    added: int  # priors added
    dropped_params: int  # parameter values outside the new space, dropped from the priors
    skipped: int  # finished trials not added: nothing in the new space, or an objective not measured
    proposed: int  # its front points, enqueued to be proposed first
    same_data: bool  # the same dataset and teacher as the new study (else: priors measured elsewhere)

    def line(self) -> str:
        """The one-line note the launch prints."""
        where = "" if self.same_data else " (measured on other data or under another teacher: priors only)"
        return (f"warm start from '{self.source}': {self.added} finished trial(s) added as priors{where}, "
                f"{self.dropped_params} parameter value(s) outside this space dropped, {self.skipped} trial(s) "
                f"skipped, {self.proposed} of its front point(s) proposed first")


def source_folder(entry: str, run_dir: str | Path) -> Path:
    """The run folder of source ``entry``: a folder holding ``study.json``, else the study of that
    name beside this study's run folder (``runs/<name>`` by default)."""
    given = Path(entry).expanduser()
    for folder in (given, Path(run_dir).parent / entry):
        if (folder / RECORD_FILE).exists():
            return folder
    raise ConfigError("warm_start", f"no study '{entry}' to warm-start from: neither {given / RECORD_FILE} nor "
                      f"{Path(run_dir).parent / entry / RECORD_FILE} exists (launch it first, or give its run folder)")


def warm_start(study: optuna.Study, cfg: StudyConfig, teacher_artifact: str | None = None) -> list[WarmStart]:
    """Add the priors of every source in ``cfg.warm_start`` not added before; one summary each.
    ``teacher_artifact``: this study's teacher file (a source with a byte-identical teacher and the
    same dataset measured under the same conditions)."""
    done = dict(study.user_attrs.get(WARM_START_ATTR, {}))
    out = []
    for entry in cfg.warm_start:
        if entry in done:
            continue
        folder = source_folder(entry, cfg.run_dir)
        record = StudyRecord.from_dict(json.loads((folder / RECORD_FILE).read_text()))
        if Path(record.run_dir).resolve() == Path(cfg.run_dir).resolve():
            raise ConfigError("warm_start", f"'{entry}' is this study itself (a relaunch resumes it)")
        same = record.dataset == cfg.dataset and _same_file(record.teacher.artifact_path, teacher_artifact)
        summary = add_priors(study, cfg, load_study(record.name, record.storage), record, entry, same)
        done[entry] = asdict(summary)
        study.set_user_attr(WARM_START_ATTR, done)
        out.append(summary)
    return out


def add_priors(study: optuna.Study, cfg: StudyConfig, source: optuna.Study, record: StudyRecord,
               entry: str, same_data: bool = False) -> WarmStart:
    """Copy ``source``'s finished candidates into ``study`` as priors; enqueue its front points."""
    lookup = space_lookup(cfg)
    finished = source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    measured = [(t, metric_values(measurements(t))) for t in finished  # what the source itself measured, once
                if RESULT_ATTR in t.user_attrs and reused_from(t) is None and prior_of(t) is None]
    priors, dropped, skipped = prior_trials(measured, [o.name for o in cfg.objectives], cfg.constraints, lookup,
                                            record.name)
    study.add_trials(priors)
    front = [p.params for p in study_points(source, record.objectives) if p.on_front]
    propose_first(study, front, lookup)
    return WarmStart(entry, len(priors), dropped, skipped, len(front), same_data)


def prior_trials(measured: Iterable[tuple[FrozenTrial, Mapping[str, float]]], objectives: Sequence[str],
                 constraints: Sequence[Any], lookup: Callable[[str], BaseDistribution | None], source: str
                 ) -> tuple[list[FrozenTrial], int, int]:
    """(priors, parameter values dropped, trials skipped) for finished trials of study ``source``
    and what each measured (``metric -> value``), in a study of ``objectives`` and ``constraints``
    whose space is ``lookup``."""
    priors, dropped, skipped = [], 0, 0
    for t, metrics in measured:
        params, distributions = in_space(t.params, lookup)
        dropped += len(t.params) - len(params)
        values = [metrics.get(name) for name in objectives]
        if not params or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            skipped += 1
            continue
        priors.append(optuna.trial.create_trial(
            params=params, distributions=distributions, values=[float(v) for v in values],
            user_attrs={PRIOR_ATTR: {"study": source, "trial": t.number,  # measured: the accuracy predictor's
                                     "measured": {m: metrics[m] for m in ("accuracy", *PROBED) if m in metrics}}},
            constraints={str(c): v for c, v in zip(constraints, constraint_values(constraints, metrics))}))
    return priors, dropped, skipped


def propose_first(study: optuna.Study, front: Iterable[dict[str, Any]],
                  lookup: Callable[[str], BaseDistribution | None]) -> None:
    """Enqueue each front point's parameters (those the space holds) to be asked next."""
    for params in front:
        study.enqueue_trial(in_space(params, lookup)[0])  # not skip_if_exists: its prior has these params


def space_lookup(cfg: StudyConfig, probes: int = 64) -> Callable[[str], BaseDistribution | None]:
    """Parameter name -> its distribution in the study's space (``None``: not sampled there). A YAML
    space answers by name; a function space is run ``probes`` times with random values and what it
    suggested is collected."""
    if cfg.space.function is None:
        return cfg.space.distribution_of
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: dict[str, BaseDistribution] = {}
    for _ in range(probes):
        trial = probe.ask()
        cfg.space.suggest(trial)
        seen.update(trial.distributions)
        probe.tell(trial, state=TrialState.FAIL)
    return seen.get


def in_space(params: dict[str, Any], lookup: Callable[[str], BaseDistribution | None]
             ) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """The values of ``params`` the space can sample, with the space's distributions."""
    kept, dists = {}, {}
    for name, value in params.items():
        dist = lookup(name)
        if dist is not None and _holds(dist, value):
            kept[name], dists[name] = value, dist
    return kept, dists


def _holds(dist: BaseDistribution, value: Any) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b or not Path(a).exists() or not Path(b).exists():
        return False
    return Path(a).read_bytes() == Path(b).read_bytes()
