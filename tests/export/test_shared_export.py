"""Shared weights in the artifact: codes at ceil(log2 k) bits + a codebook, decoded by a graph
ONNX Runtime folds at load, computing exactly what the model computes (BatchNorm folded in)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto
from torch import nn

from automl.config.compression import QuantConfig, ShareConfig
from automl.export import export_artifact, open_session, optimized_graph
from automl.export.artifact import runtime_dequantize_ops, unfolded_decode_ops
from automl.sharing import finalize_sharing, share_weights

CODE_BITS = {TensorProto.INT2: 2, TensorProto.INT4: 4, TensorProto.INT8: 8}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)  # folded into conv1 at export: a per-channel factor
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean((2, 3)))


@pytest.fixture(scope="module")
def data():
    torch.manual_seed(1)
    return torch.randn(64, 3, 6, 6)


def _shared(share: ShareConfig, data, prune: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    model = Net()
    model.train()
    model(data)  # BatchNorm statistics that are not 1
    model.eval()
    if prune:
        with torch.no_grad():
            w = model.conv2.weight
            w[w.abs() < w.abs().flatten().kthvalue(int(prune * w.numel())).values] = 0
    share_weights(model, share)
    finalize_sharing(model)
    return model


def _codes(path) -> list[int]:
    proto = onnx.load(str(path))
    return sorted(CODE_BITS[i.data_type] for i in proto.graph.initializer
                  if i.data_type in CODE_BITS and len(i.dims) >= 2)


@pytest.mark.parametrize("k, bits", [(4, 2), (16, 4), (64, 8)])
def test_float_model_stores_codes_at_log2_k_bits_and_computes_the_model(k, bits, data, tmp_path):
    model = _shared(ShareConfig(clusters=k), data)
    info = export_artifact(model, QuantConfig(), data[:8], tmp_path / "m.onnx", {})
    onnx.checker.check_model(onnx.load(str(info.path)), full_check=True)
    assert info.encodings == {"shared": 3}
    assert _codes(info.path) == [bits] * 3
    with torch.no_grad():
        ref = model(data).numpy()
    out = open_session(info.path).run(None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    opt = optimized_graph(info.path)
    assert unfolded_decode_ops(opt) == []  # Cast and Gather folded: the fp32 kernels see constants
    assert {n.op_type for n in opt.graph.node} & {"Gather", "Cast"} == set()
    assert "shared weights decoded" in info.kernels


def test_sharing_at_k4_is_about_half_the_bytes_of_int4(data, tmp_path):
    shared = export_artifact(_shared(ShareConfig(clusters=4), data), QuantConfig(), data[:8],
                             tmp_path / "s.onnx", {})
    torch.manual_seed(0)
    int4 = export_artifact(Net().eval(), QuantConfig(weight_bits=4), data[:8], tmp_path / "q.onnx", {})
    payload = 16 * 3 * 9 + 16 * 16 * 9 + 160  # weights
    assert int4.size_bytes - shared.size_bytes >= 0.8 * payload / 4  # 2 bits fewer per weight


def test_pruned_shared_weights_go_sparse_when_smaller(data, tmp_path):
    model = _shared(ShareConfig(clusters=16), data, prune=0.9)
    info = export_artifact(model, QuantConfig(), data[:8], tmp_path / "p.onnx", {})
    assert info.encodings == {"shared": 3, "sparse": 1}
    with torch.no_grad():
        ref = model(data).numpy()
    out = open_session(info.path).run(None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert unfolded_decode_ops(optimized_graph(info.path)) == []


def test_int8_activations_keep_fused_int8_kernels_on_each_channels_grid(data, tmp_path):
    model = _shared(ShareConfig(layer_clusters=(16, 4), edge_clusters=0), data)
    quant = QuantConfig(weight_bits=8, activation_bits=8)
    info = export_artifact(model, quant, data, tmp_path / "q.onnx", {})
    onnx.checker.check_model(onnx.load(str(info.path)), full_check=True)
    assert info.encodings == {"int8": 2, "shared": 1}
    opt = optimized_graph(info.path)
    ops = {n.op_type for n in opt.graph.node}
    assert "QLinearConv" in ops and not ops & {"Conv", "FusedConv", "GatherElements", "Cast"}
    assert info.int8_kernels and unfolded_decode_ops(opt) == [] and runtime_dequantize_ops(opt) == 0
    # the shared layer (conv2, k = 4): each output channel's int8 values, one row of a [16, 4] table
    proto = onnx.load(str(info.path))
    tables = [list(i.dims) for i in proto.graph.initializer if i.data_type == TensorProto.INT8]
    assert [16, 4] in tables and _codes(info.path).count(2) == 1  # its codes: INT2
    plain = ort.InferenceSession(str(info.path), _unoptimized(), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = model(data).numpy()
    out = plain.run(None, {"input": data.numpy()})[0]
    assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()  # 8-bit activations


def _unoptimized() -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return so
