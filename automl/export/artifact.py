"""One deployable artifact per candidate: a single ONNX file (no pickle), plus its facts.

``export_artifact`` turns an (already pruned / quantized-in-torch) model into the file whose
bytes are the candidate's size and which ORT runs for its accuracy and latency:

============  ===============  ====================================================  ==================
weight_bits   activation_bits  stored weights                                        kernels that run
============  ===============  ====================================================  ==================
32            32               float32 (sparse if smaller)                           fp32
16            32               float16 + Cast                                        fp32 (decoded at load)
8             32               int8 (quantize_dynamic)                               ConvInteger/MatMulInteger
8             8                int8 QDQ (quantize_static, calibrated)                QLinearConv/QLinearMatMul
4 / 2         32               packed 4/2-bit codes + fp32 per-channel scales        fp32 (decoded at load)
4 / 2         8                packed codes decoded to the int8 weights of a QDQ     QLinearConv/... (int8)
============  ===============  ====================================================  ==================

Sparse (bitmask + non-zero values) is applied on top of any of these per weight, only when
it is smaller. ``kernels`` is read from ORT's own optimized graph, not assumed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnxruntime as ort
from torch import Tensor, nn

from automl.config.candidate import QuantConfig
from automl.export.int8 import quantize_dynamic_int8, quantize_static_qdq
from automl.export.onnx_export import export_fp32, tidy
from automl.export.weight_encoding import encode_float_weights, encode_int8_weights

METADATA_KEY = "automl"
INT8_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger",
            "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLSTM")
FLOAT_OPS = ("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul")


@dataclass(frozen=True)
class ArtifactInfo:
    path: Path
    size_bytes: int  # os.path.getsize of the file
    kernels: str  # what ORT actually runs, from its optimized graph
    int8_kernels: bool
    encodings: dict[str, int]  # weight initializers per encoding, e.g. {"packed4": 3, "sparse": 1}


def build_model(model: nn.Module, quant: QuantConfig, calib_x: Tensor) -> tuple[onnx.ModelProto, dict[str, int]]:
    """The artifact's ModelProto (without metadata) and its encoding counts."""
    proto = export_fp32(model, calib_x)
    wb, ab = quant.weight_bits, quant.activation_bits
    if ab == 8:
        proto = quantize_static_qdq(proto, calib_x)
        enc = encode_int8_weights(proto, wb)
    elif wb == 8:
        proto = quantize_dynamic_int8(proto)
        enc = encode_int8_weights(proto, 8)
    else:
        enc = encode_float_weights(proto, wb)
    return tidy(proto), dict(sorted(Counter(enc).items()))


def optimized_graph(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    """ORT's own optimized graph (CPU, ORT_ENABLE_ALL), as ``open_session`` would run it."""
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    with tempfile.TemporaryDirectory(prefix="automl-opt-") as tmp:
        so = _options(1)
        so.optimized_model_filepath = os.path.join(tmp, "opt.onnx")
        ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        return onnx.load(so.optimized_model_filepath)


def _op_name(n: onnx.NodeProto) -> str:
    return n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"


def optimized_ops(model: onnx.ModelProto | str | Path) -> Counter:
    """Op types (``domain:Op`` outside the default domain) that ORT runs for ``model``."""
    return Counter(_op_name(n) for n in optimized_graph(model).graph.node)


def unfolded_decode_ops(opt: onnx.ModelProto) -> list[str]:
    """Weight-decode ops that survived optimisation (would run on every inference): any
    BitShift/CumSum, or a DequantizeLinear / Cast whose data input is an initializer."""
    inits = {i.name for i in opt.graph.initializer}
    left = []
    for n in opt.graph.node:
        if n.op_type in ("BitShift", "CumSum") or (
                n.op_type in ("DequantizeLinear", "Cast", "Gather") and n.input and n.input[0] in inits):
            left.append(n.op_type)
    return sorted(left)


def describe_kernels(opt: onnx.ModelProto, quant: QuantConfig, encodings: dict[str, int]) -> tuple[str, bool]:
    """A one-line account of the kernels ORT runs (from its optimized graph ``opt``)."""
    ops = Counter(_op_name(n) for n in opt.graph.node)

    def base(op: str) -> str:
        return op.rsplit(":", 1)[-1]

    int8 = Counter({k: v for k, v in ops.items() if base(k) in INT8_OPS})
    fp = Counter({k: v for k, v in ops.items() if base(k) in FLOAT_OPS})
    left = sorted(set(unfolded_decode_ops(opt)))

    def fmt(c: Counter) -> str:
        return ", ".join(f"{base(k)} x{v}" for k, v in sorted(c.items()))

    if int8 and not fp:
        text = f"int8 ({fmt(int8)})"
    elif int8:
        text = f"mixed: int8 ({fmt(int8)}) + fp32 ({fmt(fp)})"
    else:
        text = "fp32"
    wb = quant.weight_bits
    if wb in (2, 4) and int8:
        text += f" on int8 weights decoded from packed {wb}-bit at load (no {wb}-bit CPU kernel)"
    elif wb in (2, 4):
        text += f" on weights decoded from packed {wb}-bit at load (no {wb}-bit CPU kernel)"
    elif wb == 16:
        text += " on weights decoded from float16 at load (no fp16 CPU kernel used)"
    if encodings.get("sparse"):
        text += "; sparse weights decoded to dense at load (dense kernels)"
    if left:
        text += f"; WARNING decode ops not folded: {', '.join(left)}"
    return text, bool(int8)


def export_artifact(model: nn.Module, quant: QuantConfig, calib_x: Tensor, path: Path,
                    metadata: dict) -> ArtifactInfo:
    """Export ``model`` to the single-file ONNX artifact at ``path`` (see module doc).

    ``calib_x``: training inputs (N, C, H, W) used for the example shape and, for 8-bit
    activations, MinMax calibration (all rows are used; pass ~256). ``metadata`` (JSON-able,
    keep it to what running the model needs: it counts in the artifact's bytes) is stored,
    compact, under ``metadata_props["automl"]``. Deterministic for the same inputs.
    """
    path = Path(path)
    proto, encodings = build_model(model, quant, calib_x)
    kernels, int8 = describe_kernels(optimized_graph(proto), quant, encodings)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, path)
    return ArtifactInfo(path=path, size_bytes=os.path.getsize(path), kernels=kernels,
                        int8_kernels=int8, encodings=encodings)


def _options(threads: int) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


def open_session(path, threads: int = 1) -> ort.InferenceSession:
    """ORT CPU session with fixed intra/inter-op threads and all graph optimizations."""
    return ort.InferenceSession(str(path), _options(threads), providers=["CPUExecutionProvider"])


def read_metadata(path) -> dict:
    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return {}
