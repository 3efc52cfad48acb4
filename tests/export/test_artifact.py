"""The ONNX artifact: real bytes, real kernels, ORT output == torch output per encoding."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact, open_session, optimized_graph, read_metadata
from automl.export.artifact import runtime_dequantize_ops, unfolded_decode_ops
from automl.export.weight_encoding import pack_mask
from automl.quantization import quantize_weights_

INT8_OPS = {"QLinearConv", "QLinearMatMul", "QGemm", "ConvInteger", "MatMulInteger",
            "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


class Net(nn.Module):
    """Conv-BN-ReLU x2 + pool + Linear, ~100k parameters so weights dominate the file."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 160, 3, padding=1), nn.BatchNorm2d(160), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(160 * 4, 10)

    def forward(self, x):
        return self.fc(self.features(x))


@pytest.fixture(scope="module")
def base():
    torch.manual_seed(0)
    model = Net()
    for m in model.modules():  # non-trivial BN statistics, so folding matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(1)
    return torch.randn(64, 3, 12, 12)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("artifacts")


def _prune(model, ratio=0.9):
    model = copy.deepcopy(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                k = int(w.numel() * ratio)
                thr = w.abs().flatten().kthvalue(k).values
                w[w.abs() <= thr] = 0
    return model


_CACHE: dict = {}


def _export(base, data, out_dir, wb, ab=32, sparse=False):
    key = (wb, ab, sparse)
    if key not in _CACHE:
        model = _prune(base) if sparse else copy.deepcopy(base)
        quantize_weights_(model, wb)
        info = export_artifact(model, QuantConfig(weight_bits=wb, activation_bits=ab), data,
                               out_dir / f"w{wb}a{ab}{'s' if sparse else ''}.onnx", {"wb": wb, "ab": ab})
        _CACHE[key] = (model, info)
    return _CACHE[key]


def _run(info, x):
    return open_session(info.path).run(None, {"input": x.numpy()})[0]


def _ops(info):
    opt = optimized_graph(info.path)
    return {n.op_type for n in opt.graph.node}, opt


def test_mask_pack_roundtrip():
    v = np.random.default_rng(0).integers(0, 2, size=37).astype(bool)  # odd length: padding
    packed = pack_mask(v)
    assert packed.dtype == np.uint8 and packed.shape == (5, 1)
    assert np.array_equal(unpack_bits_np(packed, 1, 37), v)


def test_sizes_are_file_bytes_and_shrink(base, data, out_dir):
    fp32 = _export(base, data, out_dir, 32)[1]
    assert fp32.size_bytes == fp32.path.stat().st_size
    assert fp32.size_bytes > 4 * 100_000  # weights dominate
    assert fp32.encodings == {"float32": 3} and not fp32.int8_kernels and fp32.kernels == "fp32"
    fp16 = _export(base, data, out_dir, 16)[1]
    q8 = _export(base, data, out_dir, 8, 8)[1]
    q4 = _export(base, data, out_dir, 4)[1]
    q2 = _export(base, data, out_dir, 2)[1]
    assert fp16.size_bytes <= fp32.size_bytes / 1.9
    assert q8.size_bytes <= fp32.size_bytes / 3.5
    assert q4.size_bytes <= fp32.size_bytes / 6
    assert q2.size_bytes <= q4.size_bytes * 0.6
    assert q4.encodings == {"int4": 3} and q2.encodings == {"int2": 3}
    assert "decoded from int4" in q4.kernels and not q4.int8_kernels


@pytest.mark.parametrize("bits, dtype", [(4, onnx.TensorProto.INT4), (2, onnx.TensorProto.INT2)])
def test_sub_byte_weights_are_onnx_int_types_packed_on_disk(base, data, out_dir, bits, dtype):
    info = _export(base, data, out_dir, bits)[1]
    model = onnx.load(str(info.path))
    onnx.checker.check_model(model, full_check=True)
    n_conv2 = 160 * 64 * 9
    stored = [i for i in model.graph.initializer if i.data_type == dtype]
    assert len(stored) == 3
    assert any(len(i.raw_data) == n_conv2 * bits // 8 for i in stored)  # n/2 (n/4) bytes
    assert not any(i.data_type == onnx.TensorProto.FLOAT and len(i.raw_data) >= n_conv2
                   for i in model.graph.initializer)


@pytest.mark.parametrize("wb,tol", [(32, 1e-5), (16, 2e-3), (4, 1e-5), (2, 1e-5)])
@pytest.mark.parametrize("sparse", [False, True])
def test_each_encoding_matches_torch(base, data, out_dir, wb, tol, sparse):
    model, info = _export(base, data, out_dir, wb, sparse=sparse)
    with torch.no_grad():
        ref = model(data).numpy()
    out = _run(info, data)
    assert np.abs(out - ref).max() <= tol * np.abs(ref).max()
    ops, opt = _ops(info)
    assert unfolded_decode_ops(opt) == []  # every decode subgraph was constant-folded
    assert runtime_dequantize_ops(opt) == 0 and not ops & {"Cast", "Mul", "DequantizeLinear"}
    assert not ops & INT8_OPS
    if sparse:
        assert info.encodings.get("sparse", 0) >= 2


def test_unstructured_90_percent_is_under_30_percent(base, data, out_dir):
    dense = _export(base, data, out_dir, 32)[1]
    sparse = _export(base, data, out_dir, 32, sparse=True)[1]
    assert sparse.size_bytes < 0.30 * dense.size_bytes
    assert sparse.encodings == {"sparse": 3}


def test_int8_static_runs_real_int8_kernels(base, data, out_dir):
    model, info = _export(base, data, out_dir, 8, 8)
    ops, opt = _ops(info)
    assert "QLinearConv" in ops and not {"Conv", "FusedConv"} & ops
    assert info.int8_kernels and info.kernels.startswith("int8 (") and "QLinearConv" in info.kernels
    assert unfolded_decode_ops(opt) == []
    fp = copy.deepcopy(base)
    with torch.no_grad():
        ref = fp(data).numpy()
    out = _run(info, data)
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.85


def test_int8_weights_with_float_activations_are_decoded_at_load(base, data, out_dir):
    model, info = _export(base, data, out_dir, 8, 32)
    assert info.encodings == {"int8": 3} and not info.int8_kernels
    assert "decoded from int8" in info.kernels
    ops, opt = _ops(info)
    assert not ops & INT8_OPS and not ops & {"Cast", "Mul", "DequantizeLinear"}
    assert unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0
    q8 = [i for i in onnx.load(str(info.path)).graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert sum(len(i.raw_data) for i in q8) == sum(m.weight.numel() for m in model.modules()
                                                   if isinstance(m, (nn.Conv2d, nn.Linear)))
    with torch.no_grad():
        ref = model(data).numpy()
    assert np.abs(_run(info, data) - ref).max() <= 1e-5 * np.abs(ref).max()  # exact: fp32 on the int8 grid


def test_sparse_int8_static_still_fuses(base, data, out_dir):
    dense = _export(base, data, out_dir, 8, 8)[1]
    model, info = _export(base, data, out_dir, 8, 8, sparse=True)
    assert info.encodings.get("sparse", 0) >= 2
    assert info.size_bytes < 0.5 * dense.size_bytes
    ops, opt = _ops(info)
    assert "QLinearConv" in ops and not {"Conv", "FusedConv"} & ops
    assert unfolded_decode_ops(opt) == []
    with torch.no_grad():
        ref = model(data).numpy()
    assert np.abs(_run(info, data) - ref).max() <= 0.05 * np.abs(ref).max()


def test_w4a8_packs_weights_and_runs_int8(base, data, out_dir):
    q8 = _export(base, data, out_dir, 8, 8)[1]
    model, info = _export(base, data, out_dir, 4, 8)
    assert info.encodings == {"int4": 3}
    assert info.size_bytes < 0.65 * q8.size_bytes
    ops, opt = _ops(info)
    assert "QLinearConv" in ops and info.int8_kernels and "cast from int4" in info.kernels
    assert unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0
    with torch.no_grad():
        ref = model(data).numpy()
    assert np.abs(_run(info, data) - ref).max() <= 0.05 * np.abs(ref).max()


def test_graph_keeps_no_default_attributes_or_long_names(base, data, out_dir):
    info = _export(base, data, out_dir, 32)[1]
    graph = onnx.load(str(info.path)).graph
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert convs and all([a.name for a in n.attribute] == ["pads"] for n in convs)  # padding=1 only
    assert not any(a.name in ("alpha", "beta") for n in graph.node if n.op_type == "Gemm" for a in n.attribute)
    names = [i.name for i in graph.initializer] + [o for n in graph.node for o in n.output if o != "logits"]
    assert all(len(nm) == 1 for nm in names) and len(set(names)) == len(names)


def test_metadata_roundtrip_and_determinism(base, data, tmp_path):
    meta = {"candidate": {"quant": {"weight_bits": 4}}, "input_shape": [3, 12, 12],
            "num_classes": 10, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}
    model = copy.deepcopy(base)
    quantize_weights_(model, 4)
    a = export_artifact(model, QuantConfig(weight_bits=4), data, tmp_path / "a.onnx", meta)
    b = export_artifact(model, QuantConfig(weight_bits=4), data, tmp_path / "b.onnx", meta)
    assert read_metadata(a.path) == meta
    assert hashlib.sha256(a.path.read_bytes()).digest() == hashlib.sha256(b.path.read_bytes()).digest()
    sess = open_session(a.path)
    assert sess.get_modelmeta().custom_metadata_map["automl"]
    assert sess.get_inputs()[0].shape[0] != 1  # dynamic batch axis
    assert _run(a, data[:3]).shape == (3, 10)


def unpack_bits_np(packed: np.ndarray, bits: int, n: int) -> np.ndarray:
    per = 8 // bits
    shifts = np.array([bits * i for i in range(per)], np.uint8)
    vals = (packed.reshape(-1, 1) >> shifts) & np.uint8(2**bits - 1)
    return vals.reshape(-1)[:n]
