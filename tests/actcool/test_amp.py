"""ActCoolLR in a mixed-precision loop: ``torch.autocast`` (bfloat16 on the CPU) and a
``torch.amp.GradScaler`` that skips steps with non-finite gradients.

What a skipped step does (ActCoolLR's docstring): ``scaler.step(optimizer)`` did not call
``optimizer.step()``, so the parameters did not move. The schedule still advances by one step,
like every torch scheduler (``last_epoch`` counts ``scheduler.step()`` calls); a measurement,
or LR range scan, due on that step is made on the next step on which the optimizer steps.
"""

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import StepLR

from actcool import ActCoolLR, PowerCurve
from actcool.curves import PAPER_T_START

from .conftest import BNDropNet

STEPS = 15
SKIPPED = (0, 3)  # an inf gradient: the scaler skips these optimizer steps


def _run(batches, steps=STEPS, save_at=None, checkpoint=None, scheduler="actcool"):
    torch.manual_seed(7)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu")
    if scheduler == "actcool":
        sched = ActCoolLR(
            opt, model, PowerCurve(PAPER_T_START), total_steps=STEPS, measure_every=3, find_lr=False
        )
    else:
        sched = StepLR(opt, 5)
    optimizer_steps = []
    opt.register_step_post_hook(lambda *_: optimizer_steps.append(sched.last_epoch))
    start = 0
    if checkpoint is not None:
        state = torch.load(io.BytesIO(checkpoint), weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
    lrs, measured, saved = [], [], None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(start, steps):
            x, y = batches[t % len(batches)]
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            if t in SKIPPED:
                model.head.weight.grad[0, 0] = float("inf")
            scaler.step(opt)
            scaler.update()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
            m = getattr(sched, "last_measurement", None)
            if m is not None and m.step == t:
                measured.append((t, m.scan is not None, m.mean_temperature))
            if t + 1 == save_at:
                buf = io.BytesIO()
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "scaler": scaler.state_dict(),
                        "rng": torch.get_rng_state(),
                        "step": t + 1,
                    },
                    buf,
                )
                saved = buf.getvalue()
    order = [str(w.message) for w in caught if "lr_scheduler.step()" in str(w.message)]
    return {
        "lrs": lrs,
        "measured": measured,
        "saved": saved,
        "sched": sched,
        "optimizer_steps": optimizer_steps,
        "warnings": order,
    }


def test_a_skipped_step_is_not_measured_and_its_measurement_moves(image_batches):
    run = _run(image_batches)
    sched = run["sched"]
    # the scaler really skipped steps 0 and 3, and nothing else
    assert run["optimizer_steps"] == [t for t in range(STEPS) if t not in SKIPPED]
    # the schedule advanced once per scheduler.step(), in step with the loop
    assert sched.last_epoch == sched.monitor.step_count == STEPS
    # step 0's measurement and scan (which fits k) happen at step 1, step 3's at step 4;
    # the regular ones (6, 9, 12) stay where they are
    assert [(t, scan) for t, scan, _ in run["measured"]] == [
        (1, True),
        (4, False),
        (6, False),
        (9, False),
        (12, False),
    ]
    assert all(temp > 0 for _, _, temp in run["measured"][:4])  # (lr_min by step 12)
    assert sched.k is not None
    # λ_0 until the first measurement (step 1), then the rate follows the temperature
    assert run["lrs"][0] == 0.05 and len(set(run["lrs"])) > 5
    # a skipped first step gives torch's usual warning, exactly as for a torch scheduler
    assert run["warnings"] == _run(image_batches, scheduler="step")["warnings"]
    assert len(run["warnings"]) == 1
    sched.close()


@pytest.mark.parametrize("save_at", [1, 4, 5])
def test_resume_after_a_skipped_step_continues_the_identical_sequence(save_at, image_batches):
    full = _run(image_batches)
    head = _run(image_batches, steps=save_at, save_at=save_at)
    assert head["lrs"] == full["lrs"][:save_at]
    tail = _run(image_batches, checkpoint=head["saved"])
    assert tail["lrs"] == full["lrs"][save_at:]  # exactly
    assert tail["measured"] == [m for m in full["measured"] if m[0] >= save_at]
    for run in (full, head, tail):
        run["sched"].close()


def _scan_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 64, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


@pytest.mark.parametrize("autocast_over_the_scan", [False, True])
def test_an_lr_range_scan_under_bf16_autocast_sees_every_rate(autocast_over_the_scan):
    """The scan's passes move the weights in place between them; under autocast each pass must
    cast them afresh (a cached bf16 copy of the weights made every rate measure the first
    one's change). Against the same scan in float32: the same temperatures up to rounding.
    (``scan_in_float32=False``: by default the scan would not run under autocast at all.)"""
    from actcool import TemperatureMonitor

    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    lrs = [1e-2, 1e-1, 1.0]
    scans = {}
    for precision in ("fp32", "bf16"):
        net = _scan_net()
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        monitor = TemperatureMonitor(
            net, measure_every=1, scan_every=1, optimizer=opt, scan_lrs=lrs, scan_in_float32=False
        )
        bf16 = precision == "bf16"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and autocast_over_the_scan):
            m = monitor.step(x)
        monitor.close()
        scans[precision] = torch.tensor(m.scan.temperatures)  # (sites, rates)
    fp32, bf16 = scans["fp32"], scans["bf16"]
    assert (bf16.diff(dim=1) > 0).all()  # hotter at every higher rate
    assert torch.allclose(bf16, fp32, rtol=0.1, atol=0.05)


def _scan_step(autocast: bool, grads=None, scan_in_float32=True):
    """One SGD step of ``_scan_net`` (its forward under bf16 autocast or not), measured with a
    3-rate scan. ``grads`` replaces the backward's gradients, so two runs take the same step."""
    from actcool import TemperatureMonitor

    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 1, 8, 8, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    net = _scan_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    monitor = TemperatureMonitor(
        net,
        measure_every=1,
        scan_every=1,
        optimizer=opt,
        scan_lrs=[1e-3, 1e-1, 10.0],
        compare_with=["sample"],
        scan_in_float32=scan_in_float32,
    )
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    if grads is not None:
        for p, g in zip(net.parameters(), grads, strict=True):
            p.grad.copy_(g)
    taken = [p.grad.clone() for p in net.parameters()]
    before = [p.detach().clone() for p in net.parameters()]
    opt.step()
    after = [p.detach().clone() for p in net.parameters()]
    m = monitor.step()
    monitor.close()
    # the scan leaves the step's parameters, as always
    assert all(torch.equal(p, a) for p, a in zip(net.parameters(), after, strict=True))
    assert not all(torch.equal(b, a) for b, a in zip(before, after, strict=True))
    return m, taken


def test_a_scan_under_bf16_autocast_runs_in_float32_and_reads_what_float32_reads():
    """A step that scans, trained under bf16 autocast: its measurement and scan run in float32
    against patterns at θ_t recorded again in float32, so they count exactly what a float32
    loop taking the same step counts. Scanned under autocast instead, they count otherwise."""
    bf16, grads = _scan_step(autocast=True)
    fp32, _ = _scan_step(autocast=False, grads=grads)
    under_autocast, _ = _scan_step(autocast=True, scan_in_float32=False)

    def counts(m):
        return (m.counts["bits"], m.temperatures_at("sample"), m.scan.counts["bits"])

    for a, b in zip(counts(bf16), counts(fp32), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(bf16.scan.temperatures).min() >= 0
    assert not np.array_equal(
        np.asarray(under_autocast.scan.temperatures), np.asarray(fp32.scan.temperatures)
    )
