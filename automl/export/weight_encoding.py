"""Graph rewrites that shrink weight initializers on disk.

Every encoding replaces a weight initializer ``W`` by a smaller initializer (or a few) plus a
small decode subgraph whose output is named ``W``, so the consumers are untouched. All decode
inputs are initializers, so ONNX Runtime's constant folding evaluates the subgraph once at
session creation (checked in the tests: no BitShift/CumSum/Gather survives optimisation).

Encodings (``ENCODINGS``):
  * ``float32`` / ``int8``: dense, as is.
  * ``float16``: float16 initializer + ``Cast(to=float)``.
  * ``packed4`` / ``packed2``: per-channel symmetric integers q in [-qmax, qmax] stored as
    unsigned codes ``q + qmax``, two (4-bit) or four (2-bit) per uint8 byte; decoded with
    ``BitShift(LEFT) -> BitShift(RIGHT) -> Reshape`` then either ``Cast(float) -> Sub(qmax) ->
    Mul(scale)`` (float weight) or ``Cast(int32) -> Sub(qmax) -> Cast(int8)`` (the int8 weight
    of a QDQ model, whose DequantizeLinear then applies the scale).
    (DequantizeLinear is not used to decode float weights: ORT's constant folding skips
    DequantizeLinear by design, so it would run on every inference.)
  * ``sparse``: the most frequent value (0 for pruned weights) is implicit: a 1-bit mask
    (packed 8 per byte) plus the other values (prefixed by the implicit value, so index 0
    decodes it), decoded with ``unpack -> Cast(int32) -> CumSum -> Mul(mask) -> Gather``. The
    value vector is itself float32 / float16 / int8 / packed codes. Used only when the
    serialized encoding is smaller than the dense one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT_WEIGHT_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1}


@dataclass
class _Builder:
    """Collects decode nodes/initializers; shared small constants are created once."""

    graph: onnx.GraphProto
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    _consts: dict = field(default_factory=dict)
    _n: int = 0
    local: set = field(default_factory=set)

    def name(self, prefix: str = "e") -> str:
        self._n += 1
        nm = f"{prefix}{self._n}"
        self.local.add(nm)
        return nm

    def const(self, arr: np.ndarray) -> str:
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            nm = self.name("k")
            self._consts[key] = nm
            self.inits.append(numpy_helper.from_array(arr, nm))
        return self._consts[key]

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        out = output or self.name()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def init(self, arr: np.ndarray) -> str:
        nm = self.name("p")
        self.inits.append(numpy_helper.from_array(arr, nm))
        return nm


# ----------------------------------------------------------------------------- bit packing
def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned ``values`` (< 2**bits) LSB-first, 8 // bits per byte -> uint8 [m, 1]."""
    per = 8 // bits
    v = values.astype(np.uint8).reshape(-1)
    pad = (-v.size) % per
    if pad:
        v = np.concatenate([v, np.zeros(pad, np.uint8)])
    v = v.reshape(-1, per)
    out = np.zeros(v.shape[0], np.uint8)
    for i in range(per):
        out |= (v[:, i] << (bits * i)).astype(np.uint8)
    return out.reshape(-1, 1)


def _unpack(b: _Builder, packed_name: str, bits: int, n: int, padded: int) -> str:
    per = 8 // bits
    left = b.const(np.array([[8 - bits * (i + 1) for i in range(per)]], np.uint8))
    right = b.const(np.array([8 - bits], np.uint8))
    x = b.node("BitShift", [packed_name, left], direction="LEFT")
    x = b.node("BitShift", [x, right], direction="RIGHT")
    x = b.node("Reshape", [x, b.const(np.array([-1], np.int64))])
    if padded != n:
        x = b.node("Slice", [x, b.const(np.array([0], np.int64)), b.const(np.array([n], np.int64))])
    return x


# ----------------------------------------------------------------------------- vectors
def _dense_vector(b: _Builder, values: np.ndarray, pack: int | None) -> str:
    """1-D tensor ``values`` (uint8 codes when ``pack``), as an initializer or packed + unpack."""
    if pack is None:
        return b.init(values)
    packed = pack_bits(values, pack)
    return _unpack(b, b.init(packed), pack, values.size, packed.size * (8 // pack))


def _sparse_vector(b: _Builder, values: np.ndarray, implicit, pack: int | None) -> str:
    mask = values != implicit
    ext = np.concatenate([np.array([implicit], values.dtype), values[mask]])
    vals = _dense_vector(b, ext, pack)
    packed_mask = pack_bits(mask.astype(np.uint8), 1)
    m = _unpack(b, b.init(packed_mask), 1, values.size, packed_mask.size * 8)
    m = b.node("Cast", [m], to=TensorProto.INT32)
    idx = b.node("CumSum", [m, b.const(np.array(0, np.int32))])
    idx = b.node("Mul", [idx, m])
    return b.node("Gather", [vals, idx], axis=0)


def _most_common(values: np.ndarray):
    if values.size == 0:
        return None, 0
    if values.dtype.kind == "f":
        zeros = int(np.count_nonzero(values == 0))
        if zeros * 2 >= values.size:
            return values.dtype.type(0), zeros
    uniq, counts = np.unique(values, return_counts=True)
    k = int(np.argmax(counts))
    return uniq[k], int(counts[k])


def _size(b: _Builder) -> int:
    return sum(n.ByteSize() for n in b.nodes) + sum(i.ByteSize() for i in b.inits)


def _vector(graph: onnx.GraphProto, values: np.ndarray, pack: int | None,
            allow_sparse: bool) -> tuple[_Builder, str, bool]:
    """Best of dense / sparse encodings of a 1-D vector; returns (builder, out name, sparse?)."""
    dense = _Builder(graph)
    out = _dense_vector(dense, values, pack)
    if not allow_sparse:
        return dense, out, False
    implicit, count = _most_common(values)
    # a cheap lower bound first: the mask alone costs n/8 bytes
    per_value = (pack / 8) if pack else values.dtype.itemsize
    if implicit is None or (values.size - count) * per_value + values.size / 8 >= values.size * per_value:
        return dense, out, False
    sparse = _Builder(graph)
    sout = _sparse_vector(sparse, values, implicit, pack)
    if _size(sparse) < _size(dense):
        return sparse, sout, True
    return dense, out, False


# ----------------------------------------------------------------------------- graph edits
class GraphEditor:
    """Replaces initializers by decode subgraphs; prepends the decode nodes (topological order)."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        self.proto = proto
        self.graph = proto.graph
        self.inits = {i.name: i for i in self.graph.initializer}
        self.new_nodes: list = []
        self.new_inits: list = []
        self.removed: set[str] = set()
        self.encodings: Counter = Counter()
        self._n = 0
        self._consts: dict = {}

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.inits[name])

    def set_array(self, name: str, arr: np.ndarray) -> None:
        self.inits[name].CopyFrom(numpy_helper.from_array(arr, name))

    def replace(self, name: str, values: np.ndarray, pack: int | None, allow_sparse: bool,
                finish, label: str) -> None:
        """Encode ``values`` (the flattened stored vector) and decode it back into tensor
        ``name`` via ``finish(builder, vector_name, out_name)``."""
        b, vec, sparse = _vector(self.graph, values, pack, allow_sparse)
        finish(b, vec, name)
        self._add(b)
        self.removed.add(name)
        self.encodings["sparse" if sparse else label] += 1

    def _add(self, b: _Builder) -> None:
        self._n += 1
        pre = f"d{self._n}_"
        ren: dict[str, str] = {}
        for init in b.inits:
            if init.name.startswith("k"):
                key = (init.data_type, tuple(init.dims), init.raw_data)
                if key not in self._consts:
                    self._consts[key] = f"k{len(self._consts)}"
                    c = onnx.TensorProto()
                    c.CopyFrom(init)
                    c.name = self._consts[key]
                    self.new_inits.append(c)
                ren[init.name] = self._consts[key]
            else:
                ren[init.name] = pre + init.name
                init.name = ren[init.name]
                self.new_inits.append(init)
        for node in b.nodes:
            node.input[:] = [ren.get(i, pre + i if i in b.local else i) for i in node.input]
            node.output[:] = [ren.get(o, pre + o if o in b.local else o) for o in node.output]
            self.new_nodes.append(node)

    def commit(self) -> onnx.ModelProto:
        g = self.graph
        keep = [i for i in g.initializer if i.name not in self.removed]
        del g.initializer[:]
        g.initializer.extend(keep + self.new_inits)
        inputs = [i for i in g.input if i.name not in self.removed]
        del g.input[:]
        g.input.extend(inputs)
        nodes = list(self.new_nodes) + list(g.node)
        del g.node[:]
        g.node.extend(nodes)
        return self.proto


# ----------------------------------------------------------------------------- weights
def float_weight_names(proto: onnx.ModelProto) -> dict[str, int]:
    """Float32 weight initializers of Conv/Gemm/MatMul -> their output-channel axis."""
    inits = {i.name: i for i in proto.graph.initializer}
    out: dict[str, int] = {}
    for node in proto.graph.node:
        idx = FLOAT_WEIGHT_OPS.get(node.op_type)
        if idx is None or len(node.input) <= idx or node.input[idx] not in inits:
            continue
        init = inits[node.input[idx]]
        if init.data_type != TensorProto.FLOAT or len(init.dims) < 2:
            continue
        if node.op_type == "Conv":
            axis = 0
        elif node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        else:
            axis = len(init.dims) - 1
        out.setdefault(init.name, axis)
    return out


def int8_weight_names(proto: onnx.ModelProto) -> dict[str, tuple[str, int]]:
    """int8/uint8 weight initializers (rank >= 2) consumed by DequantizeLinear or integer ops
    -> (scale initializer name or "", axis)."""
    inits = {i.name: i for i in proto.graph.initializer}
    out: dict[str, tuple[str, int]] = {}
    for node in proto.graph.node:
        if node.op_type == "DequantizeLinear":
            cand = [(node.input[0], node.input[1],
                     next((a.i for a in node.attribute if a.name == "axis"), 1))]
        elif node.op_type in ("ConvInteger", "MatMulInteger"):
            cand = [(node.input[1], "", 0)]
        else:
            continue
        for name, scale, axis in cand:
            init = inits.get(name)
            if init is None or init.data_type not in (TensorProto.INT8, TensorProto.UINT8) or len(init.dims) < 2:
                continue
            out.setdefault(name, (scale, axis))
    return out


def _to_front(a: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(a, axis, 0)


def np_quantize(w: np.ndarray, bits: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric quantization along ``axis`` (same rule as
    :func:`automl.quantization.weights.quantize_per_channel`)."""
    qmax = 2 ** (bits - 1) - 1
    wf = _to_front(w.astype(np.float32), axis)
    amax = np.abs(wf.reshape(wf.shape[0], -1)).max(axis=1)
    scale = np.where(amax > 0, amax / np.float32(qmax), np.float32(1.0)).astype(np.float32)
    bshape = (-1,) + (1,) * (wf.ndim - 1)
    q = np.clip(np.round(wf / scale.reshape(bshape)), -qmax, qmax).astype(np.int8)
    return np.moveaxis(q, 0, axis), scale


def _scale_shape(ndim: int, axis: int, c: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = c
    return tuple(shape)


def encode_float_weights(proto: onnx.ModelProto, bits: int, allow_sparse: bool = True) -> Counter:
    """Rewrite the float32 Conv/Gemm/MatMul weights of ``proto`` (in place) for ``bits`` in
    {32, 16, 4, 2}; returns the count of weights per encoding."""
    ed = GraphEditor(proto)
    for name, axis in float_weight_names(proto).items():
        w = ed.array(name)
        shape = np.array(w.shape, np.int64)
        if bits == 32:
            dense_or_sparse(ed, name, w, "float32", allow_sparse, lambda b, v, out, s=shape: b.node(
                "Reshape", [v, b.const(s)], out))
        elif bits == 16:
            def fin(b, v, out, s=shape):
                v = b.node("Cast", [v], to=TensorProto.FLOAT)
                b.node("Reshape", [v, b.const(s)], out)
            dense_or_sparse(ed, name, w.astype(np.float16), "float16", allow_sparse, fin, force=True)
        elif bits in (2, 4):
            q, scale = np_quantize(w, bits, axis)
            qmax = 2 ** (bits - 1) - 1
            codes = (q.astype(np.int16) + qmax).astype(np.uint8).reshape(-1)

            def fin(b, v, out, s=shape, sc=scale.reshape(_scale_shape(w.ndim, axis, w.shape[axis])), qm=qmax):
                v = b.node("Reshape", [v, b.const(s)])
                v = b.node("Cast", [v], to=TensorProto.FLOAT)
                v = b.node("Sub", [v, b.const(np.array(qm, np.float32))])
                b.node("Mul", [v, b.init(sc)], out)
            ed.replace(name, codes, bits, allow_sparse, fin, f"packed{bits}")
        else:
            raise ValueError(f"float weight encoding for {bits} bits is not defined")
    ed.commit()
    return ed.encodings


def dense_or_sparse(ed: GraphEditor, name: str, w: np.ndarray, label: str, allow_sparse: bool,
                    finish, force: bool = False) -> None:
    """Keep ``w`` dense (untouched initializer) unless sparse is smaller; ``force`` always
    rewrites (e.g. the float16 cast)."""
    flat = w.reshape(-1)
    b, vec, sparse = _vector(ed.graph, flat, None, allow_sparse)
    if not sparse and not force:
        ed.encodings[label] += 1
        return
    finish(b, vec, name)
    ed._add(b)
    ed.removed.add(name)
    ed.encodings["sparse" if sparse else label] += 1


def encode_int8_weights(proto: onnx.ModelProto, bits: int, allow_sparse: bool = True) -> Counter:
    """Rewrite the int8 weights of a quantized (QDQ or integer-op) model in place.

    ``bits == 8``: dense int8, or sparse when smaller. ``bits in (2, 4)`` (QDQ only): the
    weights are re-quantized onto the ``bits`` grid (exact when they already lie on it) and
    the DequantizeLinear scale replaced, then stored packed (optionally sparse); the decode
    subgraph yields the int8 tensor the DequantizeLinear consumes, so int8 kernels still run.
    """
    ed = GraphEditor(proto)
    biases = _qdq_biases(proto)
    for name, (scale_name, axis) in int8_weight_names(proto).items():
        q8 = ed.array(name)
        shape = np.array(q8.shape, np.int64)
        if bits == 8:
            label = "int8" if q8.dtype == np.int8 else "uint8"
            dense_or_sparse(ed, name, q8, label, allow_sparse, lambda b, v, out, s=shape: b.node(
                "Reshape", [v, b.const(s)], out))
            continue
        if not scale_name or q8.dtype != np.int8:
            raise ValueError(f"{bits}-bit re-quantization needs a symmetric int8 QDQ weight ({name})")
        s8 = ed.array(scale_name).astype(np.float32)
        w = q8.astype(np.float32) * (s8.reshape(_scale_shape(q8.ndim, axis, q8.shape[axis])) if s8.ndim else s8)
        q, scale = np_quantize(w, bits, axis)
        if s8.ndim == 0:  # per-tensor DQ: keep one scale
            q, scale = np_quantize(w.reshape(1, -1), bits, 0)
            q, scale = q.reshape(q8.shape), scale.reshape(())
        ed.set_array(scale_name, scale)
        bias = biases.get(name)
        if bias is not None and s8.ndim == 1:
            # QLinearConv/QGemm assume bias_scale == x_scale * w_scale: keep that invariant
            bq_name, bs_name = bias
            ratio = (scale / np.where(s8 > 0, s8, 1)).astype(np.float32)
            bs = ed.array(bs_name).astype(np.float32) * ratio
            bq = np.round(ed.array(bq_name).astype(np.float64) / ratio).astype(np.int32)
            ed.set_array(bs_name, bs.astype(np.float32))
            ed.set_array(bq_name, bq)
        qmax = 2 ** (bits - 1) - 1
        codes = (q.astype(np.int16) + qmax).astype(np.uint8).reshape(-1)

        def fin(b, v, out, s=shape, qm=qmax):
            v = b.node("Cast", [v], to=TensorProto.INT32)
            v = b.node("Sub", [v, b.const(np.array(qm, np.int32))])
            v = b.node("Cast", [v], to=TensorProto.INT8)
            b.node("Reshape", [v, b.const(s)], out)
        ed.replace(name, codes, bits, allow_sparse, fin, f"packed{bits}")
    ed.commit()
    return ed.encodings


def _qdq_biases(proto: onnx.ModelProto) -> dict[str, tuple[str, str]]:
    """int8 weight initializer -> (int32 bias initializer, bias scale initializer) of the
    same Conv/Gemm in a QDQ model."""
    inits = {i.name for i in proto.graph.initializer}
    dq = {n.output[0]: n for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    out: dict[str, tuple[str, str]] = {}
    for node in proto.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 3:
            continue
        wdq, bdq = dq.get(node.input[1]), dq.get(node.input[2])
        if wdq is None or bdq is None or bdq.input[0] not in inits or bdq.input[1] not in inits:
            continue
        out[wdq.input[0]] = (bdq.input[0], bdq.input[1])
    return out
