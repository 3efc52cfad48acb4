"""The code behind each target's ``runtime``: run an artifact, time one call, say which kernels ran.

A runtime provides four things (:class:`Runtime`): ``label`` (name, version, device and settings,
recorded with every figure), ``timed_call`` (a zero-argument function that runs one batch-1
inference on a fixed input: what :mod:`automl.measure.latency` times), ``predict`` (logits of a
batch, for accuracy) and ``kernels`` (a one-line account of what the runtime executes, read
from the runtime itself). To add a runtime (ExecuTorch with XNNPACK, LiteRT, ...), subclass
:class:`Runtime`, add it to :data:`RUNTIME_CODE` and its name to ``targets.RUNTIMES``.

Each runtime is called the cheapest way it offers from Python (measured, 2-core x86_64, an 8x8
digits MLP, batch 1, 1 thread):

* ONNX Runtime: ``session.run(None, feed)`` with the feed built once (as before targets).
* OpenVINO: one ``InferRequest`` per compiled model, the input bound once with
  ``set_input_tensor`` (a numpy-backed ``ov.Tensor``), then ``request.infer()`` with no
  arguments: no per-call dict, conversion or output copy. The model is reshaped to batch 1
  before compiling (a static shape; a dynamic batch costs the CPU plugin per call).

A model a runtime cannot load or run raises :class:`TargetUnavailable` with the runtime's error
in one line: the candidate is recorded as not runnable on that target, never as a fast or slow number.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from automl.measure.session import open_session
from automl.measure.targets import Target

_NOISE = re.compile(r"(Exception from \S+:\d+: |Check '[^']*' failed at \S+:\d+: )")
OPENVINO_COMPUTE = ("Convolution", "GroupConvolution", "FullyConnected", "MatMul", "Deconvolution", "Gemm",
                    "Subgraph")  # Subgraph: layers the CPU plugin fused into one JIT kernel (its snippets)


class TargetUnavailable(RuntimeError):
    """A target cannot run this artifact here (missing runtime, device or operator); one line."""

    def __init__(self, target: str, why: str) -> None:
        line = _NOISE.sub("", " ".join(str(why).split()))  # OpenVINO's source locations, not its reason
        super().__init__(f"{target}: {line[:300]}")
        self.target = target


class Runtime:
    """What a target's runtime must provide (see module doc)."""

    def __init__(self, target: Target, threads: int) -> None:
        self.target, self.threads = target, threads
        self._loaded: dict[tuple[str, Any], Any] = {}  # what predict and kernels opened, per (file, kind)

    def _once(self, path: str | Path, kind: Any, load: Callable[[], Any]) -> Any:
        """``load()`` once per file and kind for this runtime object (one candidate's validation,
        test and kernels share it; timing opens its own instances, see ``measure_interleaved``)."""
        key = (str(path), kind)
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def label(self) -> str:
        raise NotImplementedError

    def timed_call(self, path: str | Path, input_shape: Sequence[int]) -> Callable[[], Any]:
        raise NotImplementedError

    def predict(self, path: str | Path, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        raise NotImplementedError

    def kernels(self, path: str | Path) -> str | None:
        """What the runtime executes (``None``: the export's own account, read from ONNX Runtime's CPU graph)."""
        return None

    def _fail(self, err: BaseException) -> TargetUnavailable:
        return TargetUnavailable(self.target.name, f"{type(err).__name__}: {err}")


class OnnxRuntime(Runtime):
    def _session(self, path: str | Path):
        import onnxruntime as ort

        provider = self.target.ort_provider
        if provider not in ort.get_available_providers():
            raise TargetUnavailable(self.target.name, f"this onnxruntime {ort.__version__} has no {provider} "
                                                      f"(it offers {', '.join(ort.get_available_providers())})")
        try:
            session = open_session(path, threads=self.threads, providers=_fallbacks(provider),
                                   options=self.target.options)
        except Exception as err:  # noqa: BLE001 - the runtime's own error, in one line
            raise self._fail(err) from None
        if session.get_providers()[0] != provider:  # ORT falls back silently: not this target's figure
            raise TargetUnavailable(self.target.name, f"{provider} did not load (ORT fell back to "
                                                      f"{session.get_providers()[0]})")
        return session

    def label(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__} {self.target.ort_provider}"

    def timed_call(self, path, input_shape):
        session = self._session(path)
        meta = session.get_inputs()[0]
        feed = {meta.name: fixed_input(input_shape, len(meta.shape))}
        return functools.partial(session.run, None, feed)

    def predict(self, path, x, batch_size=256):
        session = self._once(path, "session", lambda: self._session(path))
        name = session.get_inputs()[0].name
        try:
            outs = [session.run(None, {name: np.ascontiguousarray(x[i:i + batch_size])})[0]
                    for i in range(0, len(x), batch_size)]
        except Exception as err:  # noqa: BLE001
            raise self._fail(err) from None
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


class OpenVino(Runtime):
    def _compiled(self, path: str | Path, batch: int | None):
        try:
            import openvino as ov
        except ImportError as err:
            raise TargetUnavailable(self.target.name, f"openvino is not installed ({err})") from None
        config = {"INFERENCE_NUM_THREADS": str(self.threads), "PERFORMANCE_HINT": "LATENCY",
                  "NUM_STREAMS": "1", **self.target.options}
        if self.target.precision is not None:
            config["INFERENCE_PRECISION_HINT"] = self.target.precision
        try:
            core = _openvino_core()
            model = core.read_model(str(path))
            if batch is not None:
                shape = list(model.input(0).get_partial_shape())
                shape[0] = batch
                model.reshape({model.input(0): ov.PartialShape(shape)})
            return core.compile_model(model, "GPU" if self.target.device == "gpu" else "CPU", config)
        except Exception as err:  # noqa: BLE001 - the runtime's own error, in one line
            raise self._fail(err) from None

    def label(self) -> str:
        import openvino as ov

        precision = self.target.precision or "default precision"
        return f"openvino {ov.get_version().split('-')[0]} {self.target.device.upper()} {precision}"

    def timed_call(self, path, input_shape):
        import openvino as ov

        compiled = self._compiled(path, 1)
        request = compiled.create_infer_request()
        x = fixed_input(input_shape, len(compiled.input(0).get_partial_shape()))
        request.set_input_tensor(ov.Tensor(x, shared_memory=True))
        try:
            request.infer()  # a model OpenVINO compiles but cannot run fails here, not while timed
        except Exception as err:  # noqa: BLE001
            raise self._fail(err) from None
        return lambda _keep=x: request.infer()  # the tensor shares x's memory: keep x alive with the call

    def predict(self, path, x, batch_size=256):
        compiled = self._once(path, None, lambda: self._compiled(path, None))
        try:
            outs = [compiled(np.ascontiguousarray(x[i:i + batch_size]))[0] for i in range(0, len(x), batch_size)]
        except Exception as err:  # noqa: BLE001
            raise self._fail(err) from None
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)

    def kernels(self, path):
        """The CPU plugin's executed graph: its compute layers with the precision each runs in,
        e.g. ``Convolution x2 (u8), FullyConnected x1 (bf16)``."""
        runtime_model = self._once(path, 1, lambda: self._compiled(path, 1)).get_runtime_model()
        counts: Counter[tuple[str, str]] = Counter()
        for op in runtime_model.get_ordered_ops():
            info = op.get_rt_info()
            layer = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
            if layer in OPENVINO_COMPUTE:
                precision = info["runtimePrecision"].astype(str).lower() if "runtimePrecision" in info else "?"
                counts[(layer, precision)] += 1
        return ", ".join(f"{layer} x{n} ({precision})" for (layer, precision), n in sorted(counts.items())) or "none"


RUNTIME_CODE: dict[str, type[Runtime]] = {"onnxruntime": OnnxRuntime, "openvino": OpenVino}


def runtime_for(target: Target, threads: int) -> Runtime:
    """The runtime that runs ``target`` with ``threads`` intra-op threads (see :meth:`Target.resolved_threads`)."""
    return RUNTIME_CODE[target.runtime](target, target.resolved_threads(threads))


def target_accuracy(runtime: Runtime, path: str | Path, x: Any, y: Any) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of the artifact at ``path`` run by ``runtime``."""
    xs = x.detach().cpu().float().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)
    ys = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
    if len(xs) == 0:
        raise ValueError("accuracy needs at least one sample")
    return float((runtime.predict(path, xs).argmax(axis=1) == ys.reshape(-1)).mean())


def fixed_input(input_shape: Sequence[int], rank: int) -> np.ndarray:
    """The fixed random batch-1 input every timing runs on: ``input_shape`` is one sample's shape,
    or a full shape with a batch dimension (when it has the model's ``rank``; the batch is forced to 1)."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == rank:
        shape = shape[1:]
    return np.random.default_rng(0).standard_normal((1,) + shape, dtype=np.float32)


def _fallbacks(provider: str) -> list[str]:
    return {"TensorrtExecutionProvider": [provider, "CUDAExecutionProvider", "CPUExecutionProvider"],
            "CUDAExecutionProvider": [provider, "CPUExecutionProvider"]}.get(provider, [provider])


@functools.lru_cache(maxsize=1)
def _openvino_core():
    import openvino as ov

    return ov.Core()
