"""The training loop shared by every phase: initial training, pruning recovery and QAT.

Deterministic under the config's seed (data order comes from a seeded generator), with
the distillation loss when a teacher is given, and a clear error when the loss diverges.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import nn

from automl.candidate.distillation import distillation_loss
from automl.candidate.hooks import TrialHooks
from automl.config import DistillConfig, TrainConfig


def mixed_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA device, nothing on the CPU (fp32 there, always).

    The artifact is exported from the fp32 weights and its accuracy measured in ONNX Runtime,
    so a candidate trained under bf16 is judged on the same fp32 footing as one trained on the CPU.
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class DivergedError(RuntimeError):
    """Training produced a non-finite loss; the candidate is recorded as failed."""


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.cat([model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def train_epochs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int,
                 train: TrainConfig, lr: float, phase: str,
                 distill: DistillConfig | None = None, teacher: nn.Module | None = None,
                 val: tuple[torch.Tensor, torch.Tensor] | None = None,
                 hooks: TrialHooks | None = None, seed_offset: int = 0) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``epochs`` epochs; return one row of metrics per epoch.

    Args:
        model: the network (any registered parametrizations/hooks are trained through).
        x, y: training inputs and labels.
        epochs: number of passes over ``x``.
        train: batch size, weight decay and seed come from here.
        lr: Adam learning rate for this phase.
        phase: label recorded with each epoch ("train", "prune_finetune", "qat").
        distill: distillation settings; a teacher is run only when ``distill.needs_teacher``.
        teacher: the teacher network (eval mode, frozen) when distilling.
        val: optional validation split, evaluated after each epoch for the curves.
        hooks: progress reporting and compute gating.
        seed_offset: distinguishes the data order of successive phases.
    """
    hooks = hooks or TrialHooks()
    use_teacher = distill is not None and distill.needs_teacher
    if use_teacher and teacher is None:
        raise ValueError("distillation with alpha < 1 needs a teacher")
    alpha = distill.alpha if use_teacher else 1.0
    temperature = distill.temperature if use_teacher else 1.0
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device  # the caller places the model (and teacher) on its device
    opt = torch.optim.Adam(params, lr=lr, weight_decay=train.weight_decay)
    gen = torch.Generator().manual_seed(train.seed * 1000 + seed_offset)
    steps = epochs * math.ceil(len(x) / train.batch_size)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
             if train.schedule == "cosine" else None)
    history = []
    for epoch in range(epochs):
        with hooks.compute():
            model.train()
            total, seen = 0.0, 0
            for idx in torch.randperm(len(x), generator=gen).split(train.batch_size):
                xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
                t_logits = None
                with mixed_precision(device):
                    if use_teacher:
                        with torch.no_grad():
                            t_logits = teacher(xb)
                    loss = distillation_loss(model(xb), yb, t_logits, alpha, temperature)
                if not math.isfinite(loss.item()):
                    raise DivergedError(f"training diverged: {phase} loss is {loss.item()} in epoch {epoch + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                total += loss.item() * len(idx)
                seen += len(idx)
            row: dict[str, Any] = {"phase": phase, "epoch": epoch + 1, "loss": total / max(seen, 1)}
            if val is not None:
                row["val_accuracy"] = accuracy(model, *val)
        history.append(row)
        hooks.on_epoch(phase, epoch + 1, {k: v for k, v in row.items() if k not in ("phase", "epoch")})
    model.eval()
    return history
