"""Weight sharing against uniform low-bit weights: same network, same fine-tuning budget, side by side.

    .venv/bin/python benchmarks/weight_sharing.py [--epochs 15] [--finetune 2] [--seeds 0,1,2] [--out F]

For each seed, one network (the default study's teacher architecture, ``cnn`` [32, 64] on
digits) is trained ``--epochs`` (the seed fixes its initialisation and data order, so every row
of a seed compresses the very same trained weights), then compressed each way below with
``--finetune`` epochs of training after compression: quantization-aware training for the
uniform widths (per-channel symmetric grid, 4 bits = 15 levels, 2 bits = 3 levels), training
of the shared values for weight sharing (k-means, then the summed gradients of each value's
members, as Deep Compression does). Every layer, the first and the classifier included, is
compressed the same way. Accuracy and bytes are those of the exported ONNX artifact.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from report import emit  # benchmarks/report.py (this folder is on sys.path when run as a script)

from automl import CandidateConfig, DatasetConfig, evaluate_candidate

ARCH = {"family": "cnn", "choices": {"stages": 2, "widths": [32, 64], "kernel_size": 3, "blocks_per_stage": 1}}


def rows(finetune: int) -> dict[str, dict]:
    return {
        "fp32 (no compression)": {},
        "uniform 4-bit weights, QAT": {"quant": {"weight_bits": 4, "mode": "qat", "qat_epochs": finetune}},
        "weight sharing k = 16 (4-bit indices)": {"share": {"clusters": 16, "finetune_epochs": finetune}},
        "uniform 2-bit weights, QAT": {"quant": {"weight_bits": 2, "mode": "qat", "qat_epochs": finetune}},
        "weight sharing k = 4 (2-bit indices)": {"share": {"clusters": 4, "finetune_epochs": finetune}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--finetune", type=int, default=2, help="epochs after compression, the same for every row")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    data = DatasetConfig(name="digits", seed=0, val_fraction=0.15, test_fraction=0.2)
    work = Path(tempfile.mkdtemp(prefix="weight_sharing-"))
    atexit.register(shutil.rmtree, work, True)
    results: dict[str, list] = {label: [] for label in rows(args.finetune)}
    t0 = time.perf_counter()
    for seed in seeds:
        train = {"epochs": args.epochs, "batch_size": 64, "lr": 0.01, "seed": seed}
        for label, over in rows(args.finetune).items():
            cfg = CandidateConfig.from_dict({"arch": ARCH, "train": train, **over})
            results[label].append(evaluate_candidate(cfg, data, workdir=work / f"{seed}-{len(results[label])}-{label[:8]}"))
    lines = [f"digits, cnn [32, 64], {args.epochs} training epochs + {args.finetune} after compression, "
             f"seeds {args.seeds} (mean ± sd over seeds; bytes of the exported file), {time.perf_counter() - t0:.0f} s",
             "",
             "| compression | val acc | test acc | size (B) | size × fp32 | weights stored as |",
             "|---|---|---|---|---|---|"]
    fp32 = statistics.mean(r.size_bytes for r in results["fp32 (no compression)"])
    for label, res in results.items():
        size = statistics.mean(r.size_bytes for r in res)
        lines.append(f"| {label} | {_spread([r.accuracy for r in res])} | {_spread([r.test_accuracy for r in res])} | "
                     f"{size:,.0f} | {size / fp32:.3f} | {', '.join(f'{k} x{v}' for k, v in res[0].encodings.items())} |")
    emit(lines, args.out)


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


if __name__ == "__main__":
    main()
