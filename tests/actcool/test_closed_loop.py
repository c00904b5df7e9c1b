"""Closed loop on a small real task (docs/algorithm.md §4; paper §4): scikit-learn digits, a
ConvNet with BN.

ActCoolLR (default granularity unit:64, Weibull law with smoothing) follows a linear cool-down
from 2 bits; the measured temperature must track the target, and the model must train about as
well as a 1-cycle run with the same budget. Single measurements on this tiny model scatter by
about a factor 2, so tracking is judged on a 5-measurement moving average, relative to the target.
"""

import numpy as np
import pytest
import torch
from torch import nn

from actcool import ActCoolLR, PowerCurve, TemperatureMonitor

EPOCHS, BATCH = 12, 64
TARGET = PowerCurve(2.0, 1.0)


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = (x - 0.3) / 0.4
    y = torch.tensor(d.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    test, train = perm[:360], perm[360:]
    return x[train], y[train], x[test], y[test]


class SmallConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def train(schedule: str, seed: int = 0):
    xtr, ytr, xte, yte = digits()
    torch.manual_seed(seed)
    model = SmallConvNet()
    steps_per_epoch = len(ytr) // BATCH
    total = EPOCHS * steps_per_epoch
    opt = torch.optim.SGD(
        model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True
    )
    if schedule == "actcool":
        # a ceiling above 1-cycle's peak, so that the test is about tracking, not the ceiling
        sched = ActCoolLR(opt, model, TARGET, total_steps=total, measure_every=5, lr_max=1.0)
        monitor = sched.monitor
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=total)
        monitor = TemperatureMonitor(model, measure_every=5)
    g = torch.Generator().manual_seed(seed)
    errors, step = [], 0
    for _ in range(EPOCHS):
        perm = torch.randperm(len(ytr), generator=g)
        model.train()
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            x, y = xtr[idx], ytr[idx]
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if schedule == "actcool":
                sched.step(x)
                m = sched.last_measurement if step % 5 == 0 else None
            else:
                m = monitor.step(x)
                sched.step()
            if m is not None:
                errors.append((step / total, m.mean_temperature, TARGET(step / total)))
            step += 1
    model.eval()
    with torch.no_grad():
        test_error = (model(xte).argmax(1) != yte).float().mean().item() * 100
    return test_error, np.array(errors)


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_actcool_tracks_a_linear_cooldown_and_trains_like_one_cycle():
    act_err, act_trace = train("actcool")
    one_err, one_trace = train("onecycle")
    late = act_trace[act_trace[:, 0] >= 0.1]
    smoothed = np.convolve(act_trace[:, 1], np.ones(5) / 5, mode="same")
    mid = (act_trace[:, 0] >= 0.1) & (act_trace[:, 0] <= 0.9)
    target = act_trace[mid, 2]
    tracking = float(np.mean(np.abs(smoothed[mid] - target)) / np.mean(target))
    raw = float(np.mean(np.abs(act_trace[mid, 1] - target)) / np.mean(target))
    # the measured temperature falls with the target: first vs last fifth of training
    first = late[late[:, 0] < 0.3, 1].mean()
    last = late[late[:, 0] > 0.8, 1].mean()
    report = (
        f"ActCoolLR test error {act_err:.2f}% vs 1-cycle {one_err:.2f}%; "
        f"mean |T - C| / mean C over 10-90%: {tracking:.3f} (5-measurement average), "
        f"{raw:.3f} (single measurements); T first third {first:.2f}, last fifth {last:.2f} bit"
    )
    assert tracking < 0.35, report
    assert raw < 0.8, report
    assert first > 2 * last, report
    assert act_err <= one_err + 2.0, report
    assert act_err < 6.0, report
