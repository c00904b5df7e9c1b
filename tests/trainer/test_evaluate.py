"""Evaluation at a schedule-free optimizer's averaged weights (trainer/evaluate.py)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from trainer.data import load_dataset
from trainer.evaluate import BN_BATCHES, averaged_weights

pytestmark = pytest.mark.usefixtures("one_thread")


class _Averaging(torch.optim.SGD):
    """An optimizer with a schedule-free optimizer's ``eval()``/``train()``: its averaged
    weights are its weights plus one (a stand-in for ``schedulefree``'s interpolation)."""

    def eval(self) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(1.0)

    def train(self) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.sub_(1.0)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())


def test_batchnorm_statistics_are_the_average_at_the_averaged_weights_and_put_back(tmp_path):
    bundle = load_dataset("synthetic:1x8x8", tmp_path, seed=0)
    model = _model()
    optimizer = _Averaging(model.parameters(), lr=0.1)
    bn = model[1]
    bn.running_mean.fill_(5.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = bundle.batches(
        "train", 8, shuffle=True, generator=torch.Generator().manual_seed(0), drop_last=True
    )
    # the same 50 batches by hand: the mean over them of each batch's channel means, at the
    # weights plus one
    with torch.no_grad():
        conv = nn.Conv2d(1, 4, 3)
        conv.load_state_dict({k: v + 1 for k, v in model[0].state_dict().items()})
        means = [conv(x).mean(dim=(0, 2, 3)) for x, _ in itertools.islice(batches, BN_BATCHES)]
    rng = torch.get_rng_state()
    with averaged_weights(model, optimizer, bundle, batch_size=8):
        torch.rand(1)  # e.g. dropout during evaluation
        torch.testing.assert_close(bn.running_mean, torch.stack(means).mean(0))
        assert int(bn.num_batches_tracked) == min(BN_BATCHES, len(means))
        assert bn.momentum == 0.1  # update_bn put the momentum back
        torch.testing.assert_close(model[0].weight, before["0.weight"] + 1)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=1e-6)
    assert torch.equal(torch.get_rng_state(), rng)


def test_another_optimizer_evaluates_its_weights_as_they_are(tmp_path):
    bundle = load_dataset("synthetic:1x8x8", tmp_path, seed=0)
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with averaged_weights(model, torch.optim.SGD(model.parameters(), lr=0.1), bundle, 8):
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k])
