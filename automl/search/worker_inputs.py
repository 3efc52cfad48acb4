"""What every worker needs, shipped from the driver through Ray (no shared disk assumed).

The driver loads the dataset's splits and the teacher once; both go into the
:class:`~automl.search.trainable.WorkerContext`, which ``tune.with_parameters`` puts in Ray's
object store once for all workers. A worker on any node therefore needs neither the dataset
folder (MNIST/CIFAR files, a user function's sources of data) nor the driver's teacher cache.
The teacher travels as its config, its state dict (``torch.save`` bytes, loaded back with
``weights_only=True``) and its measurements.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.candidate.teacher import Teacher
    from automl.data import DatasetSplits


@dataclass(frozen=True, eq=False)  # hashed by identity: one unpacked copy per worker process
class ShippedTeacher:
    config: dict[str, Any]  # the teacher's CandidateConfig as a dict
    state_dict: bytes  # torch.save(model.state_dict())
    result: dict[str, Any]  # its CandidateResult as a dict
    key: str

    @classmethod
    def pack(cls, teacher: "Teacher") -> "ShippedTeacher":
        import torch

        buffer = io.BytesIO()
        torch.save(teacher.model.state_dict(), buffer)
        return cls(teacher.config.to_dict(), buffer.getvalue(), teacher.result.to_dict(), teacher.key)

    def unpack(self, splits: "DatasetSplits") -> "Teacher":
        """The teacher, rebuilt in this process (eval mode, fp32)."""
        import torch

        from automl.candidate.config import CandidateConfig
        from automl.candidate.result import CandidateResult
        from automl.candidate.teacher import Teacher
        from automl.models.registry import create_model

        config = CandidateConfig.from_dict(self.config, "teacher")
        model = create_model(config.arch.family, config.arch.choices, num_classes=splits.num_classes,
                             input_shape=splits.input_shape)
        model.load_state_dict(torch.load(io.BytesIO(self.state_dict), weights_only=True))
        return Teacher(config, model.eval(), CandidateResult.from_dict(self.result), self.key)
