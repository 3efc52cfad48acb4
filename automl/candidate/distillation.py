"""Knowledge-distillation loss (Hinton et al., 2015).

``loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``
where ``x_T = softmax(logits / T)``. The T^2 factor keeps the soft-target gradients on the
same scale as the hard-label ones when T changes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(student_logits: torch.Tensor, labels: torch.Tensor,
                      teacher_logits: torch.Tensor | None, alpha: float,
                      temperature: float) -> torch.Tensor:
    """Blend of hard-label cross-entropy and the temperature-scaled KL to the teacher.

    Args:
        student_logits: ``[N, C]`` raw scores of the student.
        labels: ``[N]`` class indices.
        teacher_logits: ``[N, C]`` raw scores of the teacher; ignored (may be None) when
            ``alpha == 1``.
        alpha: weight of the hard-label term, in [0, 1].
        temperature: softmax temperature T > 0.

    Example:
        >>> s = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[0.0, 2.0]])
        >>> float(distillation_loss(s, torch.tensor([0]), t, alpha=1.0, temperature=2.0))  # doctest: +ELLIPSIS
        0.126...
    """
    hard = F.cross_entropy(student_logits, labels)
    if alpha >= 1.0:
        return hard
    if teacher_logits is None:
        raise ValueError("distillation with alpha < 1 needs teacher logits")
    t = temperature
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=1),
                    F.log_softmax(teacher_logits / t, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * hard + (1.0 - alpha) * (t * t) * soft
