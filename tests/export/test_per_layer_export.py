"""Per-layer widths in the artifact: ONNX INT8/INT4/INT2 initializers, exact integers, the
right width on the right layer, folded decoding, and the QDQ (int8 kernel) path."""

from __future__ import annotations

import copy
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact, open_session, optimized_graph
from automl.export.artifact import runtime_dequantize_ops, unfolded_decode_ops
from automl.quantization import (
    layer_bit_widths,
    quantize_per_channel,
    quantize_weights_,
)
from automl.quantization.bits import execution_order

DTYPE_BITS = {TensorProto.INT8: 8, TensorProto.INT4: 4, TensorProto.INT2: 2}


class Backwards(nn.Module):
    """No BatchNorm (exported weights == torch weights); layers defined in a different order
    than the forward calls them, so a module-order/graph-order mix-up would show."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(48, 10)
        self.conv2 = nn.Conv2d(24, 48, 3, padding=1)
        self.conv1 = nn.Conv2d(3, 24, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(1)
    return torch.randn(32, 3, 6, 6)


def _model():
    torch.manual_seed(0)
    return Backwards().eval()


def _stored_weights(path) -> list[onnx.TensorProto]:
    """Integer weight initializers (rank >= 2), in the graph order of the layers they feed."""
    proto = onnx.load(str(path))
    stored = [i for i in proto.graph.initializer if i.data_type in DTYPE_BITS and len(i.dims) >= 2]
    return sorted(stored, key=lambda i: _first_compute_use(proto, i.name))


def _first_compute_use(proto, name):
    """Index of the compute node (Conv/Gemm/MatMul) fed, through decode nodes, by ``name``."""
    frontier = {name}
    for k, node in enumerate(proto.graph.node):
        if frontier & set(node.input):
            if node.op_type in ("Conv", "Gemm", "MatMul"):
                return k
            frontier |= set(node.output)
    return math.inf


def _export(model, quant, data, path):
    model = copy.deepcopy(model)
    quantize_weights_(model, quant)
    return model, export_artifact(model, quant, data, path, {})


def test_mixed_widths_store_exact_integers_on_the_right_layers(data, tmp_path):
    quant = QuantConfig(weight_bits=8, layer_bits=(2, 4, 8), edge_bits=None)
    base = _model()
    model, info = _export(base, quant, data, tmp_path / "m.onnx")
    order = execution_order(model, data)
    widths = layer_bit_widths(model, quant)
    # module order is fc, conv2, conv1 -> groups give fc 2 bits, conv2 4, conv1 8
    assert [widths[m] for m in order] == [8, 4, 2]
    proto = onnx.load(str(info.path))
    onnx.checker.check_model(proto, full_check=True)
    assert next(o.version for o in proto.opset_import if o.domain == "") == 25  # INT2 needs opset 25
    assert proto.ir_version >= 11  # ... and IR 11
    assert info.encodings == {"int2": 1, "int4": 1, "int8": 1}
    stored = _stored_weights(info.path)
    assert [DTYPE_BITS[i.data_type] for i in stored] == [8, 4, 2]
    for init, layer in zip(stored, order):
        bits = widths[layer]
        w = layer.weight.detach()
        q_torch, _ = quantize_per_channel(w, bits)
        q_onnx = numpy_helper.to_array(init).astype(np.int8)
        if layer is model.fc:  # Gemm(transB=1) keeps torch's (out, in) layout
            assert q_onnx.shape == tuple(w.shape)
        assert np.array_equal(q_onnx, q_torch.numpy())  # the integers, exactly
        assert len(init.raw_data) == math.ceil(w.numel() * bits / 8)  # n, n/2, n/4 bytes on disk
    with torch.no_grad():
        ref = model(data).numpy()
    out = open_session(info.path).run(None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    opt = optimized_graph(info.path)
    ops = {n.op_type for n in opt.graph.node}
    assert unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0
    assert not ops & {"Cast", "Mul", "DequantizeLinear"}  # decoded once, at load
    assert "decoded from int8/int4/int2" in info.kernels


def test_int4_weight_takes_half_the_bytes_of_int8(data, tmp_path):
    base = _model()
    a = _export(base, QuantConfig(weight_bits=8, layer_bits=(8,), edge_bits=4), data, tmp_path / "a.onnx")[1]
    b = _export(base, QuantConfig(weight_bits=8, layer_bits=(8,), edge_bits=2), data, tmp_path / "b.onnx")[1]
    n_conv2 = 48 * 24 * 9
    assert next(o.version for o in onnx.load(str(a.path)).opset_import if o.domain == "") == 21
    sa, sb = _stored_weights(a.path), _stored_weights(b.path)
    assert [len(i.raw_data) for i in sa][1] == n_conv2 == [len(i.raw_data) for i in sb][1]  # the 8-bit middle
    assert len(sa[0].raw_data) == math.ceil(3 * 24 * 9 / 2) and len(sb[0].raw_data) == math.ceil(3 * 24 * 9 / 4)
    four = _export(base, QuantConfig(weight_bits=4), data, tmp_path / "c.onnx")[1]
    # module order fc, conv2, conv1: fc stays at 4 bits, both convs at 8
    eight = _export(base, QuantConfig(weight_bits=8, layer_bits=(4, 8, 8)), data, tmp_path / "d.onnx")[1]
    gain = eight.size_bytes - four.size_bytes  # the file grows by the convs' extra 4 bits, no more
    assert abs(gain - (3 * 24 * 9 + n_conv2) / 2) < 64


def test_sparse_on_top_of_int4_when_smaller(data, tmp_path):
    base = _model()
    with torch.no_grad():
        w = base.conv2.weight
        w[w.abs() < w.abs().flatten().kthvalue(int(0.9 * w.numel())).values] = 0
    quant = QuantConfig(weight_bits=8, layer_bits=(4,), edge_bits=8)
    model, info = _export(base, quant, data, tmp_path / "s.onnx")
    assert info.encodings == {"int8": 2, "sparse": 1}
    with torch.no_grad():
        ref = model(data).numpy()
    out = open_session(info.path).run(None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    opt = optimized_graph(info.path)
    assert unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0


def test_qdq_mixed_widths_keep_int8_kernels(data, tmp_path):
    quant = QuantConfig(weight_bits=8, activation_bits=8, layer_bits=(2, 4), edge_bits=8)
    base = _model()
    model, info = _export(base, quant, data, tmp_path / "q.onnx")
    widths = layer_bit_widths(model, quant)
    assert [widths[m] for m in execution_order(model, data)] == [8, 4, 8]
    onnx.checker.check_model(onnx.load(str(info.path)), full_check=True)
    assert info.encodings == {"int4": 1, "int8": 2}
    assert [DTYPE_BITS[i.data_type] for i in _stored_weights(info.path)] == [8, 4, 8]
    opt = optimized_graph(info.path)
    ops = {n.op_type for n in opt.graph.node}
    assert "QLinearConv" in ops and not ops & {"Conv", "FusedConv", "Cast"}
    assert info.int8_kernels and "cast from int4" in info.kernels
    assert unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0
    with torch.no_grad():
        ref = model(data).numpy()
    # what the file means by the ONNX definition (graph unoptimized: DequantizeLinear in float);
    # the fused u8s8 kernels can saturate on CPUs without VNNI (AVX2: ~10 % here), which is the
    # runtime's arithmetic, measured as such in every accuracy, not the encoding's
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    out = ort.InferenceSession(str(info.path), so, providers=["CPUExecutionProvider"]).run(
        None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()  # 8-bit activations


def test_qat_fake_quant_output_is_what_the_artifact_computes(data, tmp_path):
    from automl.quantization import finalize_qat, prepare_qat

    quant = QuantConfig(weight_bits=8, layer_bits=(2, 4, 8), mode="qat")
    model = _model()
    prepare_qat(model, quant)
    model.eval()
    with torch.no_grad():
        fake = model(data).numpy()  # the forward QAT trains: fake-quantized per layer
    finalize_qat(model)
    info = export_artifact(model, quant, data, tmp_path / "qat.onnx", {})
    assert info.encodings == {"int2": 1, "int4": 1, "int8": 1}
    out = open_session(info.path).run(None, {"input": data.numpy()})[0]
    assert np.abs(out - fake).max() <= 1e-5 * np.abs(fake).max()
