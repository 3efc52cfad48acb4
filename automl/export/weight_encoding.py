"""Graph rewrites that store each weight initializer in its smallest honest form.

The weights are found per compute node (Conv/Gemm/MatMul, or their QDQ
``DequantizeLinear`` input) in graph order -- the order a traced model calls its
layers, so entry i of a per-layer width list is the i-th layer called. Each weight ``W`` is
replaced by a smaller initializer (or a few) plus, where needed, decode nodes whose output
is named ``W``, so the consumers are untouched.

Encodings (the labels counted in ``ArtifactInfo.encodings``):
  * ``float32`` / ``int8`` / ``uint8``: dense, as is.
  * ``float16``: float16 initializer + ``Cast(to=float)`` (folded by ORT at load).
  * ``int4`` / ``int2`` / ``int8``, float model: the per-channel symmetric integers as
    ONNX's own ``INT4`` / ``INT2`` / ``INT8`` tensor (two / four / one per byte on disk),
    ``Cast(to=float) -> Mul(scale)`` with float32 per-output-channel scales. ORT folds both
    at load, so the fp32 kernels run on constant weights. (``DequantizeLinear`` would be the
    textbook form, but ORT never constant-folds it -- by design, to keep QDQ groups fusable --
    so it runs on every inference and the Conv loses its pre-packed weights: measured
    side by side on digits CNNs that made a call 1.7-4x slower; see benchmarks/RESULTS.md.)
  * ``int4`` / ``int2``, QDQ model (8-bit activations): the weight is re-quantized onto the
    grid (exact when it already lies on it), stored as INT4 / INT2 and ``Cast`` to the int8
    tensor the weight's DequantizeLinear consumes. ORT folds the Cast at load, so it still
    fuses ``QLinearConv`` / ``QGemm``. (INT4 straight into the DequantizeLinear is not
    fused by ORT 1.32, and INT2 there makes its fusion fail.)
  * ``shared`` (weight sharing, :mod:`automl.sharing`): signed 2/4/8-bit codes (INT2 / INT4 /
    INT8, dense or sparse) and a float32 codebook, ``Cast(int32) -> Gather(codebook)`` (negative
    codes index from the codebook's end), times the per-channel factor the export folded in
    (BatchNorm) when it is not 1. With 8-bit activations the codebook is per channel on the
    int8 grid of the weight's DequantizeLinear (``GatherElements`` on a [C, K] int8 table), so
    the scales and the fused int8 kernels are unchanged. All folded at load.
  * ``sparse``: the most frequent value (0 for pruned weights) is implicit: a 1-bit mask
    (packed 8 per byte; ONNX has no 1-bit type) plus the other values (prefixed by the
    implicit value, so index 0 decodes it), decoded with ``BitShift -> Cast(int32) -> CumSum
    -> Mul(mask) -> Gather`` (folded at load). The values are float32 / float16 / int8 /
    INT4 / INT2 (Cast to int8 before the Gather). Used only when the serialized encoding is
    smaller than the dense one; an integer weight then goes on decoded as int8.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper, version_converter

from automl.quantization.weights import quantize_per_channel
from automl.sharing.codes import SharedCodes

WEIGHT_INPUT = {"Conv": 1, "Gemm": 1, "MatMul": 1}
SUB_BYTE = {4: ml_dtypes.int4, 2: ml_dtypes.int2}  # stored packed by numpy_helper.from_array
MIN_OPSET = {4: 21, 2: 25}  # first opsets whose Cast/DequantizeLinear take INT4 / INT2
MIN_IR = {4: 10, 2: 11}  # first IR versions with the INT4 / INT2 tensor types


@dataclass(frozen=True)
class WeightRef:
    """One layer's weight in an ONNX graph."""

    name: str  # the weight initializer
    axis: int  # its output-channel axis
    scale: str = ""  # the DequantizeLinear scale initializer (QDQ weights), else ""


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

    def init(self, arr: np.ndarray, bits: int | None = None) -> str:
        """An initializer; ``bits`` 2/4 stores integers as ONNX INT2/INT4 (packed on disk)."""
        nm = self.name("p")
        if bits in SUB_BYTE:
            arr = arr.astype(SUB_BYTE[bits])
        self.inits.append(numpy_helper.from_array(arr, nm))
        return nm

    def int8(self, name: str, bits: int | None) -> str:
        """``name`` as an int8 tensor: a Cast for INT4/INT2 (folded at load), else as is."""
        return self.node("Cast", [name], to=TensorProto.INT8) if bits in SUB_BYTE else name


# ----------------------------------------------------------------------------- 1-bit mask
def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean mask packed LSB-first, 8 per byte -> uint8 [m, 1] (ONNX has no 1-bit type)."""
    return np.packbits(mask.reshape(-1).astype(bool), bitorder="little").reshape(-1, 1)


def _unpack_mask(b: _Builder, packed_name: str, n: int, padded: int) -> str:
    """The mask packed by :func:`pack_mask` as a uint8 vector of 0/1 of length ``n``."""
    left = b.const(np.array([[7 - i for i in range(8)]], np.uint8))
    right = b.const(np.array([7], np.uint8))
    x = b.node("BitShift", [packed_name, left], direction="LEFT")
    x = b.node("BitShift", [x, right], direction="RIGHT")
    x = b.node("Reshape", [x, b.const(np.array([-1], np.int64))])
    if padded != n:
        x = b.node("Slice", [x, b.const(np.array([0], np.int64)), b.const(np.array([n], np.int64))])
    return x


# ----------------------------------------------------------------------------- dense / sparse
def _sparse_tensor(b: _Builder, w: np.ndarray, implicit, bits: int | None) -> str:
    """``w`` (any shape) as mask + non-implicit values; decodes to ``w`` (int8 for integers)."""
    values = w.reshape(-1)
    mask = values != implicit
    ext = np.concatenate([np.array([implicit], values.dtype), values[mask]])
    vals = b.int8(b.init(ext, bits), bits)
    packed_mask = pack_mask(mask)
    m = _unpack_mask(b, b.init(packed_mask), values.size, packed_mask.size * 8)
    m = b.node("Cast", [m], to=TensorProto.INT32)
    idx = b.node("CumSum", [m, b.const(np.array(0, np.int32))])
    idx = b.node("Mul", [idx, m])
    flat = b.node("Gather", [vals, idx], axis=0)
    return b.node("Reshape", [flat, b.const(np.array(w.shape, np.int64))])


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


def _tensor(graph: onnx.GraphProto, w: np.ndarray, bits: int | None, allow_sparse: bool,
            int8_out: bool = False) -> tuple[_Builder, str, bool]:
    """The smaller of dense and sparse storage of ``w`` (integers at ``bits`` when 2/4);
    returns (builder, decoded tensor name, sparse?). A dense INT4/INT2 tensor is decoded as
    such unless ``int8_out`` (then Cast to int8, as the sparse decode always is)."""
    dense = _Builder(graph)
    out = dense.init(w, bits)
    if int8_out:
        out = dense.int8(out, bits)
    if not allow_sparse:
        return dense, out, False
    implicit, count = _most_common(w.reshape(-1))
    per_value = (bits / 8) if bits in SUB_BYTE else w.dtype.itemsize
    # a cheap lower bound first: the mask alone costs n/8 bytes
    if implicit is None or (w.size - count) * per_value + w.size / 8 >= w.size * per_value:
        return dense, out, False
    sparse = _Builder(graph)
    sout = _sparse_tensor(sparse, w, implicit, bits)
    if _size(sparse) < _size(dense):
        return sparse, sout, True
    return dense, out, False


def _into(b: _Builder, tensor: str, out: str) -> None:
    """Name the decoded ``tensor`` (the last node's output) ``out``."""
    assert b.nodes and b.nodes[-1].output[0] == tensor
    b.nodes[-1].output[0] = out


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

    def replace(self, name: str, w: np.ndarray, bits: int | None, label: str, finish=None,
                allow_sparse: bool = True, int8_out: bool = False) -> None:
        """Store ``w`` (dense or sparse, see :func:`_tensor`) in place of initializer ``name``;
        ``finish(builder, tensor, out_name)`` adds the nodes that decode it into ``name``.
        ``finish=None``: a dense ``w`` leaves the original initializer untouched (a sparse one
        is decoded straight into ``name``)."""
        b, out, sparse = _tensor(self.graph, w, bits, allow_sparse, int8_out)
        self.encodings["sparse" if sparse else label] += 1
        if sparse and label == "shared":
            self.encodings[label] += 1  # sparse codes of shared values: both
        if finish is None and not sparse:
            return
        (finish or _into)(b, out, name)
        self._add(b)
        self.removed.add(name)

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
def weight_refs(proto: onnx.ModelProto) -> list[WeightRef]:
    """The layer weights of ``proto`` in graph order: float32 initializers of Conv/Gemm/MatMul,
    and int8/uint8 initializers behind a Conv/Gemm/MatMul's DequantizeLinear (QDQ). Rank >= 2
    only (no biases)."""
    inits = {i.name: i for i in proto.graph.initializer}
    dq = {n.output[0]: n for n in proto.graph.node if n.op_type == "DequantizeLinear"}
    out: list[WeightRef] = []
    seen: set[str] = set()
    for node in proto.graph.node:
        idx = WEIGHT_INPUT.get(node.op_type)
        if idx is None or len(node.input) <= idx:
            continue
        src, scale, axis = node.input[idx], "", _out_axis(node, inits)
        if src in dq and dq[src].input[0] in inits:
            d = dq[src]
            src, scale = d.input[0], d.input[1]
            axis = next((a.i for a in d.attribute if a.name == "axis"), 1)
        init = inits.get(src)
        if init is None or len(init.dims) < 2 or src in seen:
            continue
        if init.data_type not in (TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8):
            continue
        seen.add(src)
        out.append(WeightRef(src, axis, scale))
    return out


def _out_axis(node: onnx.NodeProto, inits: dict) -> int:
    if node.op_type == "Gemm":
        return 0 if next((a.i for a in node.attribute if a.name == "transB"), 0) else 1
    if node.op_type == "MatMul":
        w = inits.get(node.input[1])
        return len(w.dims) - 1 if w is not None else 1
    return 0


def _to_front(a: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(a, axis, 0)


def np_quantize(w: np.ndarray, bits: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric quantization along ``axis``: the one rule,
    :func:`automl.quantization.weights.quantize_per_channel`, applied to a NumPy initializer."""
    front = np.ascontiguousarray(_to_front(w.astype(np.float32), axis))
    q, scale = quantize_per_channel(torch.from_numpy(front), bits)
    return np.moveaxis(q.numpy(), 0, axis), scale.numpy()


def _scale_shape(ndim: int, axis: int, c: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = c
    return tuple(shape)


Width = int | SharedCodes  # a layer's weight width, or its shared values


def _per_layer(refs: list[WeightRef], bits: int | list[Width]) -> list[Width]:
    if isinstance(bits, int):
        return [bits] * len(refs)
    if len(bits) != len(refs):
        raise ValueError(f"{len(bits)} layer widths for {len(refs)} weights in the ONNX graph")
    return list(bits)


def ensure_opset(proto: onnx.ModelProto, bits: list[Width]) -> onnx.ModelProto:
    """``proto`` converted to the first opset (and IR version) that has INT4/INT2, when
    ``bits`` (or the index widths of shared layers) has them."""
    bits = [b.index_bits if isinstance(b, SharedCodes) else b for b in bits]
    need = max((MIN_OPSET[b] for b in bits if b in MIN_OPSET), default=0)
    have = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if need > have:
        proto = version_converter.convert_version(proto, need)
    proto.ir_version = max([proto.ir_version] + [MIN_IR[b] for b in bits if b in MIN_IR])
    return proto


def encode_float_weights(proto: onnx.ModelProto, bits: int | list[Width], allow_sparse: bool = True) -> Counter:
    """Rewrite the float32 layer weights of ``proto`` (in place) for ``bits`` (one width, or one
    per layer in graph order) in {32, 16, 8, 4, 2}, or a layer's :class:`SharedCodes`; returns
    the count of weights per encoding. Call :func:`ensure_opset` first when there are 4/2-bit
    layers (or shared layers)."""
    ed = GraphEditor(proto)
    refs = weight_refs(proto)
    for ref, wb in zip(refs, _per_layer(refs, bits)):
        w = ed.array(ref.name)
        if isinstance(wb, SharedCodes):
            _shared_float(ed, ref, w, wb, allow_sparse)
        elif wb == 32:
            ed.replace(ref.name, w, None, "float32", allow_sparse=allow_sparse)
        elif wb == 16:
            ed.replace(ref.name, w.astype(np.float16), None, "float16", allow_sparse=allow_sparse,
                       finish=lambda b, v, out: b.node("Cast", [v], out, to=TensorProto.FLOAT))
        elif wb in (2, 4, 8):
            q, scale = np_quantize(w, wb, ref.axis)

            def scaled(b, v, out, sc=scale.reshape(_scale_shape(w.ndim, ref.axis, w.shape[ref.axis]))):
                b.node("Mul", [b.node("Cast", [v], to=TensorProto.FLOAT), b.init(sc)], out)
            ed.replace(ref.name, q, wb, f"int{wb}", scaled, allow_sparse)
        else:
            raise ValueError(f"float weight encoding for {wb} bits is not defined")
    ed.commit()
    return ed.encodings


def encode_int8_weights(proto: onnx.ModelProto, bits: int | list[Width], allow_sparse: bool = True) -> Counter:
    """Rewrite the int8 weights of a QDQ model in place.

    Per layer (``bits``: one width, or one per layer in graph order): 8 -> dense int8, or
    sparse when smaller; 2/4 -> re-quantized onto that grid (exact when the
    weight already lies on it) with the DequantizeLinear scale (and the int32 bias's scale)
    updated, stored as INT4/INT2 and Cast to int8 (folded at load: int8 kernels still run).
    Call :func:`ensure_opset` first when there are 4/2-bit layers.
    """
    ed = GraphEditor(proto)
    biases = _qdq_biases(proto)
    refs = weight_refs(proto)
    for ref, wb in zip(refs, _per_layer(refs, bits)):
        q8 = ed.array(ref.name)
        if q8.dtype.kind == "f":  # a layer the quantizer left in float: keep it so
            if isinstance(wb, SharedCodes):
                _shared_float(ed, ref, q8, wb, allow_sparse)
            else:
                ed.replace(ref.name, q8, None, "float32", allow_sparse=allow_sparse)
            continue
        if isinstance(wb, SharedCodes):
            _shared_int8(ed, ref, q8, wb, allow_sparse)
            continue
        if wb == 8:
            ed.replace(ref.name, q8, None, str(q8.dtype), allow_sparse=allow_sparse)
            continue
        if wb not in (2, 4) or not ref.scale or q8.dtype != np.int8:
            raise ValueError(f"{wb}-bit re-quantization needs a symmetric int8 QDQ weight ({ref.name})")
        s8 = ed.array(ref.scale).astype(np.float32)
        w = q8.astype(np.float32) * (s8.reshape(_scale_shape(q8.ndim, ref.axis, q8.shape[ref.axis]))
                                     if s8.ndim else s8)
        if s8.ndim == 0:  # per-tensor DQ: keep one scale
            q, scale = np_quantize(w.reshape(1, -1), wb, 0)
            q, scale = q.reshape(q8.shape), scale.reshape(())
        else:
            q, scale = np_quantize(w, wb, ref.axis)
        ed.set_array(ref.scale, scale)
        bias = biases.get(ref.name)
        if bias is not None and s8.ndim == 1:
            # QLinearConv/QGemm assume bias_scale == x_scale * w_scale: keep that invariant
            bq_name, bs_name = bias
            ratio = (scale / np.where(s8 > 0, s8, 1)).astype(np.float32)
            bs = ed.array(bs_name).astype(np.float32) * ratio
            bq = np.round(ed.array(bq_name).astype(np.float64) / ratio).astype(np.int32)
            ed.set_array(bs_name, bs.astype(np.float32))
            ed.set_array(bq_name, bq)
        ed.replace(ref.name, q, wb, f"int{wb}", _into, allow_sparse, int8_out=True)
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


# ----------------------------------------------------------------------------- shared weights
SHARED_TOLERANCE = 1e-5  # relative error allowed between the graph's weight and its shared decode


def _codes_like(sc: SharedCodes, shape: tuple[int, ...]) -> np.ndarray:
    """The layer's codes in the layout of the graph's weight (Gemm/MatMul may hold it transposed)."""
    if sc.codes.shape == shape:
        return sc.codes
    if sc.codes.ndim == 2 and sc.codes.T.shape == shape:
        return np.ascontiguousarray(sc.codes.T)
    raise ValueError(f"shared codes of shape {sc.codes.shape} do not fit a weight of shape {shape}")


def _shared_float(ed: GraphEditor, ref: WeightRef, w: np.ndarray, sc: SharedCodes, allow_sparse: bool) -> None:
    """``w`` = codebook[codes] x a per-channel factor (the BatchNorm folded in at export)."""
    codes = _codes_like(sc, w.shape)
    base = np.moveaxis(sc.codebook[codes.astype(np.int64) % len(sc.codebook)], ref.axis, 0)
    front = np.moveaxis(w.astype(np.float32), ref.axis, 0)
    c = front.shape[0]
    num = (front * base).reshape(c, -1).sum(axis=1)
    den = (base * base).reshape(c, -1).sum(axis=1)
    factor = np.where(den > 0, num / np.where(den > 0, den, 1), 1.0).astype(np.float32)
    decoded = base * factor.reshape((c,) + (1,) * (front.ndim - 1))
    if np.abs(decoded - front).max() > SHARED_TOLERANCE * max(float(np.abs(front).max()), 1e-12):
        raise ValueError(f"weight {ref.name} is not its shared values times a per-channel factor")
    scaled = not np.allclose(factor, 1.0, rtol=0, atol=1e-7)

    def finish(b: _Builder, v: str, out: str) -> None:
        g = b.node("Gather", [b.init(sc.codebook), b.node("Cast", [v], to=TensorProto.INT32)],
                   None if scaled else out, axis=0)
        if scaled:
            b.node("Mul", [g, b.init(factor.reshape(_scale_shape(w.ndim, ref.axis, c)))], out)
    ed.replace(ref.name, codes, sc.index_bits, "shared", finish, allow_sparse)


def _shared_int8(ed: GraphEditor, ref: WeightRef, q8: np.ndarray, sc: SharedCodes, allow_sparse: bool) -> None:
    """The int8 weight of a QDQ layer as codes into a per-channel [C, K] int8 table (each
    channel's shared values on its own DequantizeLinear grid), via GatherElements."""
    codes = np.moveaxis(_codes_like(sc, q8.shape), ref.axis, 0)
    front = np.moveaxis(q8, ref.axis, 0)
    c, size = front.shape[0], len(sc.codebook)
    flat_codes = codes.reshape(c, -1)
    positions = flat_codes.astype(np.int64) % size
    flat_q = front.reshape(c, -1)
    table = np.zeros((c, size), np.int8)
    for p in np.unique(positions):  # the value each channel's weights of code p quantized to
        hit = positions == p
        for ch in np.flatnonzero(hit.any(axis=1)):
            vals, counts = np.unique(flat_q[ch][hit[ch]], return_counts=True)
            table[ch, p] = vals[np.argmax(counts)]

    def finish(b: _Builder, v: str, out: str) -> None:
        idx = b.node("Cast", [v], to=TensorProto.INT32)
        g = b.node("GatherElements", [b.init(table), idx], axis=1)
        if ref.axis == 0:
            b.node("Reshape", [g, b.const(np.array(q8.shape, np.int64))], out)
            return
        g = b.node("Reshape", [g, b.const(np.array(front.shape, np.int64))])
        perm = list(range(1, q8.ndim))
        perm.insert(ref.axis, 0)
        b.node("Transpose", [g], out, perm=perm)
    ed.replace(ref.name, flat_codes, sc.index_bits, "shared", finish, allow_sparse)
