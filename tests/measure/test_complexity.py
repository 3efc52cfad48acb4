import torch
from torch import nn

from automl.measure.complexity import count_macs, count_params_nonzero


def _tiny():
    # conv 1->4, 3x3, padding 1 on 8x8: 8*8 positions * 4 out * 1*3*3 = 2304
    # depthwise 4->4, 3x3, stride 2, padding 1 -> 4x4: 4*4 * 4 * 1*3*3 = 576
    # linear 4*4*4=64 -> 10: 640
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False),
        nn.Flatten(), nn.Linear(64, 10),
    )


def test_macs_of_tiny_net_equal_hand_count():
    model = _tiny()
    model.train()
    assert count_macs(model, (1, 8, 8)) == 2304 + 576 + 640
    assert model.training  # mode restored
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_macs_of_a_1d_conv_net_and_an_mlp_equal_hand_count():
    # conv1d 2->4, k5, padding 2 on L=16: 16 * 4 * 2*5 = 640; stride 2 depthwise k3 -> L=8: 8 * 4 * 3 = 96
    # linear 4*8=32 -> 3: 96
    conv = nn.Sequential(nn.Conv1d(2, 4, 5, padding=2), nn.BatchNorm1d(4), nn.ReLU(),
                         nn.Conv1d(4, 4, 3, stride=2, padding=1, groups=4), nn.Flatten(), nn.Linear(32, 3))
    assert count_macs(conv, (2, 16)) == 640 + 96 + 96
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 2))
    assert count_macs(mlp, (12,)) == 12 * 7 + 7 * 2
    assert count_macs(mlp, (3, 4)) == 12 * 7 + 7 * 2


def test_macs_do_not_change_batchnorm_statistics():
    model = _tiny()
    count_macs(model, (1, 8, 8))
    assert torch.equal(model[1].running_mean, torch.zeros(4))


def test_nonzero_params_counts_only_nonzero_entries():
    model = nn.Linear(4, 3)  # 12 weights + 3 biases
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.weight[0].zero_()
        model.bias.fill_(2.0)
    assert count_params_nonzero(model) == 8 + 3
    shared = nn.Sequential(model, model)
    assert count_params_nonzero(shared) == 11
