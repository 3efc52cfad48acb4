"""The 32x32 workload's goal, checked by hand: hand-picked candidates against the study's teacher.

    .venv/bin/python benchmarks/digits32_goal.py [--cache runs/digits32_goal] [--only w50_e4_qat_kd]

The teacher is the one of ``studies/digits32_mobilenet.yaml`` (trained once, cached under
``--cache``; a study's ``<run_dir>/teachers`` works too). Each candidate is evaluated by
``automl.evaluate_candidate`` with the study's per-trial budget; then the teacher and every
artifact are timed together, interleaved in this process (``measure_interleaved``, FINAL
settings, one thread, batch 1), so each speed-up is a ratio measured as a ratio. The goal:
at most 1 pt below the teacher's test accuracy, >= 5x faster and >= 10x smaller.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from automl import CandidateConfig, evaluate_candidate, load_or_train_teacher
from automl.candidate.config import with_teacher_arch
from automl.measure.latency import FINAL, measure_interleaved
from automl.study.config import load_study

STUDY = Path(__file__).resolve().parents[1] / "studies" / "digits32_mobilenet.yaml"
KD = {"enabled": True, "alpha": 0.5, "temperature": 4.0}
W8A8_QAT = {"weight_bits": 8, "activation_bits": 8, "mode": "qat", "qat_epochs": 2}


def _arch(width: float, expansion: int) -> dict:
    return {"family": "mobilenet_v2", "choices": {"width_mult": width, "depths": [1] * 7, "expansion": expansion}}


FROM_TEACHER = {"arch": {"init": "teacher"}, "train": {"epochs": 0}}  # the teacher's weights, pruned
CHANNELS = {"granularity": "channel", "finetune_epochs": 2, "round_to": 8}
CANDIDATES = {  # all inside search_spaces/mobilenet32_joint.yaml
    "w50_e4_ptq": {"arch": _arch(0.5, 4), "quant": {**W8A8_QAT, "mode": "ptq"}},
    "w50_e4_qat_kd": {"arch": _arch(0.5, 4), "quant": W8A8_QAT, "distill": KD},
    "w50_e6_p30_qat_kd": {"arch": _arch(0.5, 6), "quant": W8A8_QAT, "distill": KD,
                          "pruning": {"ratio": 0.3, "granularity": "channel", "finetune_epochs": 2}},
    "w25_e6_qat_kd": {"arch": _arch(0.25, 6), "quant": W8A8_QAT, "distill": KD},
    "teacher_p50_qat_kd": {**FROM_TEACHER, "quant": W8A8_QAT, "distill": KD, "pruning": {"ratio": 0.5, **CHANNELS}},
    "teacher_p75_qat_kd": {**FROM_TEACHER, "quant": W8A8_QAT, "distill": KD, "pruning": {"ratio": 0.75, **CHANNELS}},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="runs/digits32_goal", help="folder for the teacher cache and artifacts")
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    args = ap.parse_args()
    torch.set_num_threads(1)
    study = load_study(STUDY)
    dataset = study.dataset
    t0 = time.perf_counter()
    teacher = load_or_train_teacher(study.teacher, dataset, Path(args.cache) / "teachers")
    print(f"teacher ready in {time.perf_counter() - t0:.0f} s (0 when cached)", flush=True)
    rows = []
    for name in args.only:
        picked = {**study.base_candidate(), **CANDIDATES[name]}
        picked["train"] = {**study.base_candidate()["train"], **CANDIDATES[name].get("train", {})}
        cfg = CandidateConfig.from_dict(with_teacher_arch(picked, teacher.config.to_dict()["arch"]))
        t0 = time.perf_counter()
        r = evaluate_candidate(cfg, dataset, workdir=Path(args.cache) / name, teacher=teacher)
        rows.append((name, r))
        print(f"{name}: evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
    paths = [teacher.result.artifact_path, *(r.artifact_path for _, r in rows)]
    times = measure_interleaved(paths, (1, 32, 32), FINAL)
    t = teacher.result
    print("\n| model | test acc | Δ test (pt) | bytes | smaller × | ms (batch 1) | faster × (p25–p75) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| teacher | {t.test_accuracy:.4f} | | {t.size_bytes:,} | 1 | {times[0].best_ms:.3f} | 1 |")
    for (name, r), lat in zip(rows, times[1:]):
        goal = (r.test_accuracy >= t.test_accuracy - 0.01 and 1 / lat.ratio >= 5 and t.size_bytes / r.size_bytes >= 10)
        print(f"| {name}{' (goal)' if goal else ''} | {r.test_accuracy:.4f} | {100 * (r.test_accuracy - t.test_accuracy):+.2f} "
              f"| {r.size_bytes:,} | {t.size_bytes / r.size_bytes:.1f} | {lat.best_ms:.3f} "
              f"| {1 / lat.ratio:.2f} ({1 / lat.ratio_p75:.2f}–{1 / lat.ratio_p25:.2f}) |")
    print(json.dumps({"teacher_key": teacher.key, "runtime": times[0].runtime}))


if __name__ == "__main__":
    main()
