"""What decoding sub-8-bit weights costs per inference: Cast+Mul (folded by ORT at load, what
the artifact uses) against DequantizeLinear (the textbook QDQ form, which ORT never folds),
and the shared-weight decode (Cast+Gather into a codebook, folded at load) against the dense model.

For each digits CNN (the default teacher's architecture and a small student): the dense fp32
artifact; for each width (4, 2), the artifact exported once (INT4/INT2 + Cast + Mul) and a copy
with every Cast+Mul pair rewritten to one per-channel DequantizeLinear; for k = 16 and 4 shared
values per layer, the shared artifact (INT4/INT2 indices + Cast + Gather). All are timed
interleaved with the fp32 teacher (batch 1, 1 thread; ``automl.measure.latency.measure_interleaved``):
only the ratios, measured side by side, count.

    PYTHONPATH=$PWD python benchmarks/weight_decode_latency.py --window 1.0
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from automl.config.compression import QuantConfig, ShareConfig
from automl.export import export_artifact
from automl.measure.latency import LatencySettings, measure_interleaved
from automl.models.registry import create_model
from automl.quantization import quantize_weights_
from automl.sharing import finalize_sharing, share_weights

ARCHS = {"teacher [32, 64]": [32, 64], "student [16, 32]": [16, 32]}
SHAPE = (1, 8, 8)


def to_dequantize_linear(src: Path, dst: Path) -> None:
    """Rewrite each ``Mul(Cast(q), scale)`` weight decode as ``DequantizeLinear(q, scale, axis)``."""
    model = onnx.load(str(src))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    casts = {n.output[0]: n for n in g.node if n.op_type == "Cast" and n.input[0] in inits}
    drop, nodes = set(), []
    for n in g.node:
        cast = casts.get(n.input[0]) if n.op_type == "Mul" else None
        if cast is None:
            nodes.append(n)
            continue
        scale = numpy_helper.to_array(inits[n.input[1]])
        axis = int(np.argmax(scale.shape))
        inits[n.input[1]].CopyFrom(numpy_helper.from_array(scale.reshape(-1), n.input[1]))
        nodes.append(helper.make_node("DequantizeLinear", [cast.input[0], n.input[1]], list(n.output), axis=axis))
        drop.add(id(cast))
    del g.node[:]
    g.node.extend(x for x in nodes if id(x) not in drop)
    onnx.save(model, str(dst))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=float, default=1.0, help="timed seconds per model")
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(64, *SHAPE)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        paths, labels = [], []
        for name, widths in ARCHS.items():
            model = create_model("cnn", {"stages": 2, "widths": widths}, num_classes=10, input_shape=SHAPE).eval()
            paths.append(export_artifact(model, QuantConfig(), x, d / f"{widths}_fp32.onnx", {}).path)
            labels.append(f"{name}, fp32")
            for bits in (4, 2):
                m = copy.deepcopy(model)
                quantize_weights_(m, bits)
                folded = export_artifact(m, QuantConfig(weight_bits=bits), x, d / f"{widths}_{bits}.onnx", {}).path
                dq = d / f"{widths}_{bits}_dq.onnx"
                to_dequantize_linear(folded, dq)
                paths += [folded, dq]
                labels += [f"{name}, int{bits}, Cast+Mul", f"{name}, int{bits}, DequantizeLinear"]
            for k in (16, 4):
                m = copy.deepcopy(model)
                share_weights(m, ShareConfig(clusters=k))
                finalize_sharing(m)
                paths.append(export_artifact(m, QuantConfig(), x, d / f"{widths}_k{k}.onnx", {}).path)
                labels.append(f"{name}, {k} shared values, Cast+Gather")
        results = measure_interleaved(paths, SHAPE, LatencySettings(warmup_s=0.2, window_s=args.window))
        print("| model, decode | bytes | µs / call | ratio to fp32 teacher |\n|---|---|---|---|")
        for label, path, r in zip(labels, paths, results):
            print(f"| {label} | {Path(path).stat().st_size:,} | {r.latency_ms * 1000:.1f} | {r.ratio:.2f} |")


if __name__ == "__main__":
    main()
