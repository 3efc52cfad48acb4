"""One deployable artifact per candidate: a single ONNX file (no pickle), plus its facts.

``export_artifact`` turns an (already pruned / quantized-in-torch) model into the file whose
bytes are the candidate's size and which ORT runs for its accuracy and latency:

===============  ===============  ================================================  =======================
weight widths    activation_bits  stored weights                                    kernels that run
===============  ===============  ================================================  =======================
32               32               float32 (sparse if smaller)                       fp32
16               32               float16 + Cast                                    fp32 (Cast folded at load)
shared (k)       32 / 8           2/4/8-bit codes + a codebook per layer (Gather)   as the layer's others
                                  (automl.sharing; on the int8 grid with 8-bit      (Gather folded at load)
                                  activations)
2/4/8            32               ONNX INT2/INT4/INT8 + per-channel float32 scales  fp32 (Cast and Mul
                                  (Cast to float, Mul by the scale)                 folded at load)
2/4/8            8                int8 QDQ (quantize_static, calibrated); the 2/4-  QLinearConv/QGemm
                                  bit layers stored as INT4/INT2 + Cast to int8     (Cast folded at load)
===============  ===============  ================================================  =======================

(8-bit weights with float activations used to be ORT's ``quantize_dynamic`` model: same size,
but its ConvInteger ran 3-5x slower than fp32 on the digits CNNs, measured side by side.)
"Weight widths" are per layer (``QuantConfig.weight_bits``, ``layer_bits``, ``edge_bits``;
see :mod:`automl.quantization.bits`). Sparse (bitmask + non-zero values) is applied on top of
any of these per weight, only when it is smaller. ``kernels`` is read from ORT's own
optimized graph, not assumed. Opset: 17, or 21 (INT4) / 25 (INT2) when the file has them.
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

from automl.config.compression import QuantConfig
from automl.export.int8 import quantize_static_qdq
from automl.export.onnx_export import export_fp32, tidy
from automl.measure.session import open_session, session_options
from automl.export.weight_encoding import Width, encode_float_weights, encode_int8_weights, ensure_opset
from automl.quantization.bits import SHARED, execution_order, layer_bit_widths
from automl.sharing.codes import shared_codes

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
    encodings: dict[str, int]  # weight initializers per encoding, e.g. {"int4": 3, "sparse": 1}


def build_model(model: nn.Module, quant: QuantConfig, calib_x: Tensor) -> tuple[onnx.ModelProto, dict[str, int]]:
    """The artifact's ModelProto (without metadata) and its encoding counts."""
    proto = export_fp32(model, calib_x)
    bits = graph_order_bits(model, quant, calib_x)
    if quant.activation_bits == 8:
        proto = ensure_opset(quantize_static_qdq(proto, calib_x), _widths(bits))
        enc = encode_int8_weights(proto, bits)
    else:
        proto = ensure_opset(proto, _widths(bits))
        enc = encode_float_weights(proto, bits)
    return tidy(proto), dict(sorted(Counter(enc).items()))


def graph_order_bits(model: nn.Module, quant: QuantConfig, example: Tensor) -> Width | list[Width]:
    """One width for every layer, or (per-layer widths that differ, or shared layers: their
    :class:`SharedCodes`) one per layer in the order the exported graph has them: the order
    one forward pass calls them."""
    widths = layer_bit_widths(model, quant)
    if len(set(widths.values())) <= 1 and SHARED not in widths.values():
        return next(iter(widths.values()), quant.weight_bits)
    return [shared_codes(m) if widths[m] == SHARED else widths[m] for m in execution_order(model, example)]


def _widths(bits: Width | list[Width]) -> list[Width]:
    return [bits] if isinstance(bits, int) else bits


def optimized_graph(model: onnx.ModelProto | str | Path) -> onnx.ModelProto:
    """ORT's own optimized graph (CPU, ORT_ENABLE_ALL), as ``open_session`` would run it."""
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    with tempfile.TemporaryDirectory(prefix="automl-opt-") as tmp:
        so = session_options(1)
        so.optimized_model_filepath = os.path.join(tmp, "opt.onnx")
        ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        return onnx.load(so.optimized_model_filepath)


def _op_name(n: onnx.NodeProto) -> str:
    return n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}:{n.op_type}"


def optimized_ops(model: onnx.ModelProto | str | Path) -> Counter:
    """Op types (``domain:Op`` outside the default domain) that ORT runs for ``model``."""
    return Counter(_op_name(n) for n in optimized_graph(model).graph.node)


def unfolded_decode_ops(opt: onnx.ModelProto) -> list[str]:
    """Weight-decode ops that should have been folded at load but survived optimisation:
    any BitShift/CumSum, or a Cast / Gather / GatherElements whose data input is an initializer."""
    inits = {i.name for i in opt.graph.initializer}
    left = []
    for n in opt.graph.node:
        if n.op_type in ("BitShift", "CumSum") or (
                n.op_type in ("Cast", "Gather", "GatherElements") and n.input and n.input[0] in inits):
            left.append(n.op_type)
    return sorted(left)


def runtime_dequantize_ops(opt: onnx.ModelProto) -> int:
    """DequantizeLinear nodes on initializers in ORT's optimized graph: weights dequantized on
    every inference (ORT never constant-folds DequantizeLinear)."""
    inits = {i.name for i in opt.graph.initializer}
    return sum(1 for n in opt.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits)


def describe_kernels(opt: onnx.ModelProto, encodings: dict[str, int]) -> tuple[str, bool]:
    """A one-line account of the kernels ORT runs (from its optimized graph ``opt``) and of
    how the stored weights reach them."""
    ops = Counter(_op_name(n) for n in opt.graph.node)

    def base(op: str) -> str:
        return op.rsplit(":", 1)[-1]

    int8 = Counter({k: v for k, v in ops.items() if base(k) in INT8_OPS})
    fp = Counter({k: v for k, v in ops.items() if base(k) in FLOAT_OPS})
    left = sorted(set(unfolded_decode_ops(opt)))
    dq = runtime_dequantize_ops(opt)
    sub = "/".join(k for k in ("int4", "int2") if encodings.get(k))

    def fmt(c: Counter) -> str:
        return ", ".join(f"{base(k)} x{v}" for k, v in sorted(c.items()))

    if int8 and not fp:
        text = f"int8 ({fmt(int8)})"
    elif int8:
        text = f"mixed: int8 ({fmt(int8)}) + fp32 ({fmt(fp)})"
    else:
        text = "fp32"
    if dq:
        stored = "/".join(k for k in ("int8", "int4", "int2") if encodings.get(k)) or "integers"
        text += (f" on weights dequantized from {stored} on every inference "
                 f"(DequantizeLinear x{dq}; no sub-8-bit CPU kernel)")
    elif sub and int8:
        text += f" on int8 weights cast from {sub} at load (no sub-8-bit CPU kernel)"
    elif any(encodings.get(k) for k in ("int8", "int4", "int2")) and not int8:
        stored = "/".join(k for k in ("int8", "int4", "int2") if encodings.get(k))
        text += f" on weights decoded from {stored} x per-channel scales at load (no sub-8-bit CPU kernel)"
    if encodings.get("shared"):
        text += f"; {encodings['shared']} layer(s) of shared weights decoded from indices + codebook at load"
    if encodings.get("float16"):
        text += "; float16 weights cast to fp32 at load (no fp16 CPU kernel used)"
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
    kernels, int8 = describe_kernels(optimized_graph(proto), encodings)
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


def read_metadata(path) -> dict:
    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    return {}
