"""Global unstructured magnitude pruning whose zeros survive fine-tuning.

The smallest-magnitude ``ratio`` of all Conv1d/Conv2d/Linear weights (the classifier included) is
zeroed with :func:`torch.nn.utils.prune.global_unstructured`, then made permanent with
:func:`torch.nn.utils.prune.remove` so the weights are plain parameters again. A gradient
hook on each pruned parameter multiplies its gradient by the mask, so later training
(Adam, or fake-quant parametrizations registered on the same parameter) leaves pruned
weights at exactly zero. Optimizer state accumulated *before* pruning, or decoupled
weight decay on non-zero state, can still move them: :meth:`UnstructuredMasks.reapply`
forces the zeros again.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize, prune

from automl.config import fields as F
from automl.config.errors import ConfigError

PRUNED_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)
_HOOK_ATTR = "_automl_prune_hook"  # set on a parameter once its gradient is masked; deepcopy drops it


@dataclass
class UnstructuredMasks:
    """Which weights survived: ``masks[name]`` is True where ``name`` (e.g. ``"features.0.weight"``) is kept."""

    masks: dict[str, torch.Tensor]

    def sparsity(self) -> float:
        """The fraction of masked weights that are pruned, over all masked tensors."""
        total = sum(m.numel() for m in self.masks.values())
        kept = sum(int(m.sum()) for m in self.masks.values())
        return 1.0 - kept / total if total else 0.0

    def reapply(self, model: nn.Module) -> None:
        """Zero the pruned weights of ``model`` again and mask their gradients.

        ``model`` may be the pruned model or a copy of it (``copy.deepcopy`` drops gradient
        hooks; this re-registers them). A weight under a parametrization (e.g. QAT
        fake-quant) is masked in its ``original`` tensor.
        """
        for name, mask in self.masks.items():
            param = _weight(model.get_submodule(name.rpartition(".")[0]))
            with torch.no_grad():
                param.mul_(mask.to(param.device, param.dtype))
            _mask_gradient(param, mask)


def prune_unstructured(model: nn.Module, ratio: float) -> UnstructuredMasks:
    """Zero the ``ratio`` smallest-magnitude Conv1d/Conv2d/Linear weights of ``model`` globally, in place.

    Args:
        model: The network; every Conv1d, Conv2d and Linear weight (classifier included) competes
            in one global L1 ranking.
        ratio: Fraction of those weights to prune, in ``[0, 1)``.

    Returns:
        The masks; the weights stay zero under gradient-based fine-tuning.

    Raises:
        ConfigError: ``ratio`` outside ``[0, 1)``.
    """
    ratio = F.number("ratio", ratio, 0.0, 1.0)
    if ratio >= 1.0:
        raise ConfigError("ratio", f"{ratio!r} is out of range (allowed: [0.0, 1.0))")
    named = [(name, module) for name, module in model.named_modules()
             if isinstance(module, PRUNED_LAYERS)]
    prune.global_unstructured([(module, "weight") for _, module in named],
                              pruning_method=prune.L1Unstructured, amount=ratio)
    masks = {}
    for name, module in named:
        masks[f"{name}.weight"] = module.weight_mask.bool()
        prune.remove(module, "weight")
    result = UnstructuredMasks(masks)
    result.reapply(model)
    return result


def _weight(module: nn.Module) -> torch.Tensor:
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def _mask_gradient(param: torch.Tensor, mask: torch.Tensor) -> None:
    if getattr(param, _HOOK_ATTR, False):
        return
    mask = mask.to(param.device)
    param.register_hook(lambda grad: grad * mask)
    setattr(param, _HOOK_ATTR, True)
