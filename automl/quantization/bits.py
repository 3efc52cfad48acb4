"""Which weight width each quantizable layer gets (``QuantConfig.layer_bits`` / ``edge_bits``).

The quantizable layers are a model's Conv/Linear modules in module order (``model.modules()``).
``layer_bits`` with k entries splits them into k contiguous groups of near-equal size, the
larger groups last: one entry per layer when k equals the layer count, and for the ``cnn``
family (``stages * blocks_per_stage`` convolutions, then the classifier) k = ``stages`` gives
exactly one entry per stage, the classifier joining the last. ``edge_bits`` then sets the
first and the last layer. PTQ, QAT and the export all read widths from here, so the three
agree by construction.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from automl.config.compression import QuantConfig
from automl.config.errors import ConfigError

QUANT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)
SHARED = 0  # the width of a layer whose weights are shared values (automl.sharing): not quantized
SHARED_ATTR = "automl_shared_values"  # set on a layer by automl.sharing: its k shared values


def quantized_layers(model: nn.Module) -> list[nn.Module]:
    """The Conv/Linear modules whose weights are quantized, in module order."""
    return [m for m in model.modules() if isinstance(m, QUANT_LAYERS)]


def group_sizes(n_layers: int, n_groups: int) -> list[int]:
    """Sizes of ``n_groups`` contiguous groups covering ``n_layers``, larger groups last."""
    base, extra = divmod(n_layers, n_groups)
    return [base] * (n_groups - extra) + [base + 1] * extra


def is_shared(layer: nn.Module) -> bool:
    """Whether weight sharing fixed ``layer``'s weights to its shared values."""
    return getattr(layer, SHARED_ATTR, 0) > 0


def per_layer_settings(model: nn.Module, every: int, groups: tuple[int, ...] | None, edges: int | None,
                       field: str) -> dict[nn.Module, int]:
    """Each quantizable layer of ``model`` -> its setting, in module order: ``every`` for all,
    or ``groups`` over contiguous groups of layers (:func:`group_sizes`), then ``edges`` for the
    first and the last layer. The one grouping rule of per-layer widths and shared values.

    Raises ``ConfigError(field)`` when ``groups`` has more entries than the model has layers.
    """
    layers = quantized_layers(model)
    n = len(layers)
    values = [every] * n
    if groups is not None:
        k = len(groups)
        if k > n:
            raise ConfigError(field, f"has {k} entries but the model has only {n} quantizable (Conv/Linear) layers")
        values = [v for v, size in zip(groups, group_sizes(n, k)) for _ in range(size)]
    if edges is not None and n:
        values[0] = values[-1] = edges
    return dict(zip(layers, values))


def layer_bit_widths(model: nn.Module, quant: QuantConfig) -> dict[nn.Module, int]:
    """Each quantizable layer of ``model`` -> its weight width (2/4/8/16/32), in module order;
    :data:`SHARED` (0) for a layer whose weights are shared values (they stay as they are).

    Raises ``ConfigError("quant.layer_bits")`` when ``layer_bits`` has more entries than the
    model has quantizable layers.
    """
    widths = per_layer_settings(model, quant.weight_bits, quant.layer_bits, quant.edge_bits, "quant.layer_bits")
    return {layer: SHARED if is_shared(layer) else b for layer, b in widths.items()}


def execution_order(model: nn.Module, example: Tensor) -> list[nn.Module]:
    """The quantizable layers in the order one forward pass of ``example`` calls them (the
    order their nodes have in a traced ONNX graph); each layer once, at its first call."""
    order: list[nn.Module] = []
    seen: set[int] = set()

    def hook(layer: nn.Module, _args) -> None:
        if id(layer) not in seen:
            seen.add(id(layer))
            order.append(layer)

    handles = [m.register_forward_pre_hook(hook) for m in quantized_layers(model)]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(example[:1])
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return order
