"""Each compression technique alone and combined, on digits, measured side by side in one run.

    .venv/bin/python benchmarks/compression_table.py [--epochs 10] [--out benchmarks/compression_table.md]

Every row is a candidate evaluated by ``automl.evaluate_candidate``: accuracy (validation)
and test accuracy of the exported ONNX artifact, its size on disk, and its batch-1 latency in
ONNX Runtime on one thread: every artifact and the teacher re-timed together at the end,
interleaved in this process (``measure_interleaved``), so each ``latency ×`` is a ratio
measured as a ratio.
"""

from __future__ import annotations

import argparse
import atexit
import platform
import shutil
import tempfile
import time
from pathlib import Path

import onnxruntime
import torch
from report import (
    emit,  # benchmarks/report.py (this folder is on sys.path when run as a script)
)

from automl import (
    CandidateConfig,
    DatasetConfig,
    evaluate_candidate,
    load_dataset,
    load_or_train_teacher,
)
from automl.measure.latency import FINAL, measure_interleaved

TEACHER = {"family": "cnn", "choices": {"stages": 2, "widths": [32, 64], "kernel_size": 3, "blocks_per_stage": 1}}
STUDENT = {"family": "cnn", "choices": {"stages": 2, "widths": [8, 16], "kernel_size": 3, "blocks_per_stage": 1}}

ROWS = {  # label -> candidate overrides on top of the teacher architecture
    "channel 50%": {"pruning": {"ratio": 0.5, "granularity": "channel"}},
    "unstructured 80%": {"pruning": {"ratio": 0.8, "granularity": "unstructured"}},
    "int8 (PTQ, W8A8)": {"quant": {"weight_bits": 8, "activation_bits": 8, "mode": "ptq"}},
    "int8 weights (W8A32)": {"quant": {"weight_bits": 8, "activation_bits": 32, "mode": "ptq"}},
    "fp16 weights": {"quant": {"weight_bits": 16}},
    "4-bit QAT": {"quant": {"weight_bits": 4, "activation_bits": 32, "mode": "qat"}},
    "2-bit QAT": {"quant": {"weight_bits": 2, "activation_bits": 32, "mode": "qat"}},
    "distilled small student": {"arch": STUDENT, "distill": {"enabled": True, "alpha": 0.3, "temperature": 4.0}},
    "small student, no KD": {"arch": STUDENT},
    "all together (KD + channel 50% + W8A8 QAT)": {
        "distill": {"enabled": True, "alpha": 0.3, "temperature": 4.0},
        "pruning": {"ratio": 0.5, "granularity": "channel"},
        "quant": {"weight_bits": 8, "activation_bits": 8, "mode": "qat"}},
    "small student, all together": {"arch": STUDENT, "distill": {"enabled": True, "alpha": 0.3, "temperature": 4.0},
                                    "pruning": {"ratio": 0.5, "granularity": "channel"},
                                    "quant": {"weight_bits": 8, "activation_bits": 8, "mode": "qat"}},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = DatasetConfig(name="digits")
    train = {"epochs": args.epochs, "batch_size": 64, "lr": 3e-3, "seed": 0}
    work = Path(tempfile.mkdtemp(prefix="compression_table-"))
    atexit.register(shutil.rmtree, work, True)  # teachers, artifacts: nothing is kept
    t0 = time.perf_counter()
    teacher = load_or_train_teacher(CandidateConfig.from_dict({"arch": TEACHER, "train": train}), data, work / "t")
    rows = [("teacher (fp32)", teacher.result, time.perf_counter() - t0)]
    for label, over in ROWS.items():
        cfg = CandidateConfig.from_dict({"arch": TEACHER, "train": train, **over})
        start = time.perf_counter()
        res = evaluate_candidate(cfg, data, workdir=work / label.replace(" ", "_"), teacher=teacher)
        rows.append((label, res, time.perf_counter() - start))
    t = teacher.result
    timed = measure_interleaved([r.artifact_path for _, r, _ in rows], load_dataset(data).input_shape, FINAL)
    lines = [f"digits, {args.epochs} epochs, ONNX Runtime {onnxruntime.__version__} CPU, 1 thread, batch 1, "
             f"all {len(rows)} artifacts timed interleaved ({timed[0].rounds} rounds of ~{FINAL.block_s * 1e3:.0f} ms "
             f"blocks each); {platform.processor() or platform.machine()}, torch {torch.__version__}",
             "",
             "| candidate | val acc | test acc | size (B) | size × | latency (µs) | latency × | params≠0 | MACs | "
             "kernels | wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (label, r, wall), lat in zip(rows, timed):
        lines.append(f"| {label} | {r.accuracy:.4f} | {r.test_accuracy:.4f} | {r.size_bytes:,} | "
                     f"{r.size_bytes / t.size_bytes:.3f} | {lat.best_ms * 1000:.1f} | "
                     f"{lat.ratio:.2f} | {r.params_nonzero:,} | {r.macs:,} | {r.kernels} | "
                     f"{wall:.1f} |")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
