"""Per-layer weight widths on the default study's setup: which hand-picked candidates get how
small within how much of the teacher's test accuracy.

Dataset, teacher and per-trial training budget are read from ``studies/digits_joint.yaml``;
every row is ``automl.evaluate_candidate`` (its ONNX artifact's bytes on disk and its test
accuracy in ONNX Runtime), the size ratio is to the teacher exported by the same code.

    PYTHONPATH=$PWD python benchmarks/per_layer_bits.py [--epochs N] [--rows K]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from automl import CandidateConfig, evaluate_candidate, load_or_train_teacher
from automl.study.config import load_study

REPO = Path(__file__).resolve().parents[1]
ARCH = {"family": "cnn", "choices": {"stages": 2, "widths": [16, 32], "kernel_size": 3}}
KD = {"enabled": True, "alpha": 0.3, "temperature": 4.0}
E8L4 = {"weight_bits": 8, "layer_bits": [4, 4], "edge_bits": 8, "mode": "qat"}

ROWS = {  # label -> candidate (the study's train budget is added)
    "[16,32] int4 everywhere, QAT, KD": {"arch": ARCH, "quant": {"weight_bits": 4, "mode": "qat"}, "distill": KD},
    "[16,32] int8 everywhere, QAT, KD": {"arch": ARCH, "quant": {"weight_bits": 8, "mode": "qat"}, "distill": KD},
    "[16,32] 8-4-8, QAT, KD": {"arch": ARCH, "quant": E8L4, "distill": KD},
    "[16,32] 8-4-8, QAT": {"arch": ARCH, "quant": E8L4},
    "[16,32] 8-4-8, PTQ, KD": {"arch": ARCH, "quant": {**E8L4, "mode": "ptq"}, "distill": KD},
    "[16,32] 8-4-8, W·A8 QAT, KD": {"arch": ARCH, "quant": {**E8L4, "activation_bits": 8}, "distill": KD},
    "[16,32] 8-4-8, unstructured 50%, QAT, KD": {
        "arch": ARCH, "pruning": {"ratio": 0.5, "granularity": "unstructured"}, "quant": E8L4, "distill": KD},
    "[16,32] 8-2-8, QAT, KD": {"arch": ARCH, "quant": {**E8L4, "layer_bits": [2, 2]}, "distill": KD},
    "[16,16] 8-4-8, QAT, KD": {"arch": {**ARCH, "choices": {**ARCH["choices"], "widths": [16, 16]}},
                               "quant": E8L4, "distill": KD},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=None,
                    help="override the study's epochs (teacher, rows and their QAT; 0 = untrained smoke run)")
    ap.add_argument("--rows", type=int, default=len(ROWS), help="evaluate only the first K rows")
    args = ap.parse_args()
    study = load_study(REPO / "studies" / "digits_joint.yaml")
    dataset = study.dataset
    teacher_cfg = study.teacher
    train = dict(study.base_candidate().get("train", {}))
    if args.epochs is not None:
        teacher_cfg = CandidateConfig.from_dict({**teacher_cfg.to_dict(),
                                                 "train": {**teacher_cfg.to_dict()["train"], "epochs": args.epochs}})
        train["epochs"] = args.epochs
    with tempfile.TemporaryDirectory(prefix="automl-bits-") as tmp:
        teacher = load_or_train_teacher(teacher_cfg, dataset, Path(tmp) / "teachers")
        t = teacher.result
        print(f"teacher: {t.size_bytes:,} bytes, test accuracy {t.test_accuracy:.4f}\n")
        print("| candidate | bytes | × smaller | test acc | Δ test (pt) | encodings | kernels | s |")
        print("|---|---|---|---|---|---|---|---|")
        for label, cand in list(ROWS.items())[:args.rows]:
            cand = copy.deepcopy(cand)
            if args.epochs is not None:
                cand["quant"]["qat_epochs"] = min(args.epochs, 2)
            cfg = CandidateConfig.from_dict({**cand, "train": train})
            start = time.perf_counter()
            r = evaluate_candidate(cfg, dataset, workdir=Path(tmp) / "c", teacher=teacher)
            print(f"| {label} | {r.size_bytes:,} | {t.size_bytes / r.size_bytes:.1f} | {r.test_accuracy:.4f} | "
                  f"{100 * (r.test_accuracy - t.test_accuracy):+.2f} | {r.encodings} | {r.kernels} | "
                  f"{time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
