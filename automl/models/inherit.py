"""Start a candidate from the trained teacher's weights (``arch.init: teacher``).

Training a small network from random weights is what makes a candidate expensive; starting
from the teacher and then removing its least important channels (channel pruning, with
distillation during recovery) is the classic prune-a-trained-model pipeline, and on the
32x32 workload it reaches the teacher's accuracy in a few recovery epochs (benchmarks/RESULTS.md).

The candidate's architecture is built as usual and takes the teacher's state dict, layer for
layer: its family and every parameter's shape must be the teacher's. Choices that change no
shape (a MobileNetV2's strides) may differ: the weights are the same, the compute is not.
"""

from __future__ import annotations

from torch import nn

from automl.config.errors import ConfigError


def inherit_weights(model: nn.Module, teacher: nn.Module) -> nn.Module:
    """Copy ``teacher``'s parameters and buffers into ``model`` (in place) and return it.

    Raises:
        ConfigError (field ``arch.init``): the two networks do not have the same layers and shapes.
    """
    mine, theirs = model.state_dict(), teacher.state_dict()
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    if missing or extra:
        which = f"the candidate has {missing[0]!r}, the teacher not" if missing else \
            f"the teacher has {extra[0]!r}, the candidate not"
        raise ConfigError("arch.init", f"'teacher' needs the teacher's layers, but {which} "
                                       f"({len(missing)} missing, {len(extra)} extra); sample only choices "
                                       "that keep the teacher's architecture")
    for name, tensor in mine.items():
        if tensor.shape != theirs[name].shape:
            raise ConfigError("arch.init", f"'teacher' needs the teacher's shapes, but {name} is "
                                           f"{list(tensor.shape)} in the candidate and {list(theirs[name].shape)} "
                                           "in the teacher; sample only choices that keep every shape (e.g. strides)")
    model.load_state_dict(theirs)
    return model
