"""PyTorch -> float32 ONNX (BatchNorm folded into the convolutions, dynamic batch axis).

The TorchScript exporter (``dynamo=False``) is used: in torch 2.14 it still works, takes
~10-40 ms for a small CNN (the dynamo exporter takes seconds) and folds eval-mode BatchNorm
into the preceding Conv's weight and bias (``do_constant_folding``). The dynamo exporter is
the fallback when the TorchScript one fails.
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
import torch
from torch import Tensor, nn

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_fp32(model: nn.Module, example: Tensor) -> onnx.ModelProto:
    """Export ``model`` (eval mode, on CPU, float32) to a lean ONNX ModelProto.

    ``example`` is one input batch (any batch size; the batch axis is dynamic). The model is
    deep-copied, so the caller's module (its mode, device, hooks) is untouched.
    """
    m = copy.deepcopy(model).to("cpu").float().eval()
    example = example[:1].detach().to("cpu").float()
    try:
        proto = _export_torchscript(m, example)
    except Exception as exc:  # pragma: no cover - depends on the model
        warnings.warn(f"TorchScript ONNX export failed ({exc!r}); using the dynamo exporter")
        proto = _export_dynamo(m, example)
    return tidy(proto)


def _export_torchscript(m: nn.Module, example: Tensor) -> onnx.ModelProto:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m, (example,), buf, dynamo=False, opset_version=OPSET, do_constant_folding=True,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
            training=torch.onnx.TrainingMode.EVAL,
        )
    return onnx.load_from_string(buf.getvalue())


def _export_dynamo(m: nn.Module, example: Tensor) -> onnx.ModelProto:  # pragma: no cover
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            m, (example,), dynamo=True, opset_version=18, verbose=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("N")},), optimize=True,
        )
    return prog.model_proto


def constants_to_initializers(g: onnx.GraphProto) -> None:
    """Turn ``Constant`` nodes, and ``Identity`` nodes of an initializer, into initializers.

    The TorchScript exporter can emit a folded Conv+BatchNorm bias as a Constant node, and
    shares equal folded tensors through Identity nodes; ORT's quantizer only treats
    initializers as weights/biases (else that Conv is left unquantized and unfused)."""
    keep = []
    inits = {i.name: i for i in g.initializer}
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits and len(node.output) == 1:
            # the exporter de-duplicates equal constants (e.g. zero biases) through Identity;
            # each consumer gets its own copy so it is quantized with its own scales
            copy_ = onnx.TensorProto()
            copy_.CopyFrom(inits[node.input[0]])
            copy_.name = node.output[0]
            g.initializer.append(copy_)
            continue
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and len(node.attribute) == 1:
            attr = node.attribute[0]
            arr = None
            if attr.name == "value":
                arr = numpy_helper.to_array(attr.t)
            elif attr.name in ("value_float", "value_floats"):
                arr = np.array(attr.f if attr.name == "value_float" else list(attr.floats), np.float32)
            elif attr.name in ("value_int", "value_ints"):
                arr = np.array(attr.i if attr.name == "value_int" else list(attr.ints), np.int64)
            if arr is not None:
                g.initializer.append(numpy_helper.from_array(arr, node.output[0]))
                continue
        keep.append(node)
    if len(keep) != len(g.node):
        del g.node[:]
        g.node.extend(keep)


def tidy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Strip doc strings, drop value_info and attributes that only restate the ONNX default,
    and give every node output and initializer a short name (a tiny model's file is
    otherwise a noticeable fraction names and strings)."""
    g = proto.graph
    constants_to_initializers(g)
    proto.doc_string = ""
    proto.producer_name = ""
    proto.producer_version = ""
    g.doc_string = ""
    g.name = "g"  # the checker requires a name
    del g.value_info[:]
    drop_default_attributes(proto)
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    rename: dict[str, str] = {}
    for init in g.initializer:
        init.doc_string = ""
        if init.name not in keep:
            rename[init.name] = short_name(len(rename))
    for node in g.node:
        node.doc_string = ""
        node.name = ""
        for out in node.output:
            if out and out not in keep and out not in rename:
                rename[out] = short_name(len(rename))
    for init in g.initializer:
        init.name = rename.get(init.name, init.name)
    for node in g.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    return proto


_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def short_name(k: int) -> str:
    """The k-th shortest name: a..z, A..Z, 0..9, then two characters, ..."""
    out = _NAME_CHARS[k % len(_NAME_CHARS)]
    k //= len(_NAME_CHARS)
    while k:
        k -= 1
        out = _NAME_CHARS[k % len(_NAME_CHARS)] + out
        k //= len(_NAME_CHARS)
    return out


# Attributes whose absence means the same by the ONNX spec but that the schema gives no
# default for (Conv: "If not present, ... defaults to 1 / 0 / inferred from W").
_IMPLICIT = {
    ("Conv", "ConvInteger"): {"dilations": 1, "strides": 1, "pads": 0, "kernel_shape": None},
    ("MaxPool", "AveragePool", "LpPool"): {"dilations": 1, "strides": 1, "pads": 0},
}


def drop_default_attributes(proto: onnx.ModelProto) -> None:
    """Remove default-domain node attributes equal to their ONNX default (Conv's and the
    pools' unit strides and dilations, zero pads, Conv's kernel shape, which is W's; Gemm's alpha/beta 1,
    Flatten's axis 1, ...): the graph means exactly the same, in fewer bytes."""
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if version is None:
        return
    for node in proto.graph.node:
        if node.domain not in ("", "ai.onnx"):
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, version)
        except Exception:  # pragma: no cover - an op unknown to this onnx
            continue
        implicit = next((v for ops, v in _IMPLICIT.items() if node.op_type in ops), {})
        keep = []
        for attr in node.attribute:
            spec = schema.attributes.get(attr.name)
            default = spec.default_value if spec is not None else None
            if default is not None and default.type and _same_value(attr, default):
                continue
            if attr.name in implicit and (implicit[attr.name] is None
                                          or all(v == implicit[attr.name] for v in attr.ints)):
                continue
            keep.append(attr)
        if len(keep) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(keep)


def _same_value(attr: onnx.AttributeProto, default: onnx.AttributeProto) -> bool:
    if attr.type != default.type:
        return False
    return onnx.helper.get_attribute_value(attr) == onnx.helper.get_attribute_value(default)
