"""The calibrated default target (docs/algorithm.md §5): closed forms and the exact sequence."""

import io
import statistics

import pytest
import torch

from actcool import ActCoolLR, Calibration, Granularity, PowerCurve
from actcool.calibration import AUTO, cooldown_after, ramp_start_temperature, warmup_lr
from actcool.curves import PAPER_T_START

from .conftest import BNDropNet, train_step


def test_parse_and_fixed_start_scale_with_the_pattern_length():
    assert Calibration.parse("fixed") == Calibration("fixed")
    # the defaults are ActCoolLR's: "auto", the ramp
    assert Calibration() == Calibration.parse("auto") == Calibration.parse(AUTO)
    assert Calibration.parse("fixed:2.5").start_bits == 2.5
    assert Calibration.parse("ramp:0.3") == Calibration("ramp", fraction=0.3)
    assert str(Calibration.parse("ramp")) == "ramp:0.25"
    assert Calibration.parse(Calibration("ramp").to_dict()) == Calibration("ramp")
    cal = Calibration("fixed")
    assert cal.fixed_start(Granularity("unit", 64)) == 2.0
    assert cal.fixed_start(Granularity("unit", 16)) == 0.5
    assert cal.fixed_target(Granularity()) == PowerCurve(2.0, 1.0)
    with pytest.raises(ValueError, match="defined for the unit granularity, not 'sample'"):
        cal.fixed_start(Granularity("sample"))
    assert Calibration.parse("auto") == Calibration("ramp") == Calibration.parse(AUTO)
    with pytest.raises(ValueError, match="auto takes no number"):
        Calibration.parse("auto:0.3")
    with pytest.raises(ValueError, match="unknown calibration 'warm'"):
        Calibration.parse("warm")
    with pytest.raises(ValueError, match="fraction must lie in"):
        Calibration.parse("ramp:1.5")
    # a second number is the cool-down's gamma; strings round-trip
    assert Calibration.parse("ramp:0.25:2") == Calibration("ramp", fraction=0.25, gamma=2.0)
    assert Calibration.parse("fixed:2:4").fixed_target(Granularity()) == PowerCurve(2.0, 4.0)
    for text in ("ramp:0.25", "ramp:0.3:0.5", "fixed:2", "fixed:1.5:2"):
        assert str(Calibration.parse(text)) == text
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        Calibration.parse("ramp:0.25:0")
    with pytest.raises(ValueError, match="at most two numbers"):
        Calibration.parse("ramp:0.25:2:3")
    with pytest.raises(ValueError, match="must be numbers"):
        Calibration.parse("ramp:0.25:hot")


def test_warmup_and_start_temperature_closed_forms():
    assert [warmup_lr(t, 4, 0.1, 0.04) for t in range(6)] == pytest.approx(
        [0.004, 0.004 + 0.096 / 4, 0.004 + 0.096 / 2, 0.004 + 0.096 * 3 / 4, 0.1, 0.1]
    )
    lrs = [0.01, 0.02, 0.03, 0.04, 0.05]
    temps = [0.9, 0.6, 0.66, 1.0, 1.05]  # T/λ = 90, 30, 22, 25, 21
    # median of the second half (the last 3 measurements): 22
    assert ramp_start_temperature(lrs, temps, 0.05) == pytest.approx(0.05 * 22)
    assert ramp_start_temperature([0.0, float("nan")], [1.0, 1.0], 0.05) is None
    c = cooldown_after(1.5, 0.25)
    assert [c(f) for f in (0.0, 0.25, 0.625, 1.0)] == pytest.approx([1.5, 1.5, 0.75, 0.0])
    # γ = 2: 1.5·(1 − x²) with x = (f − 0.25)/0.75
    c = cooldown_after(1.5, 0.25, 2.0)
    assert [c(f) for f in (0.1, 0.4, 0.625, 1.0)] == pytest.approx(
        [1.5, 1.5 * (1 - 0.2**2), 1.5 * (1 - 0.5**2), 0.0]
    )


def test_no_target_ramps_by_default_and_fixed_starts_at_two_bits():
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    default = ActCoolLR(opt, model, total_steps=100, k=1.0)
    assert default.calibration == Calibration("ramp") and default.target is None
    assert default.controller.opening_steps == 25 and default.calibrated_start is None
    default.close()
    sched = ActCoolLR(opt, model, total_steps=100, k=1.0, calibration="fixed")
    assert sched.target == PowerCurve(2.0, 1.0)
    assert sched.calibrated_start == 2.0 and str(sched.calibration) == "fixed:2"
    # total_steps is required and keyword-only
    with pytest.raises(TypeError, match="required keyword-only argument: 'total_steps'"):
        ActCoolLR(opt, model)
    with pytest.raises(TypeError, match="positional argument"):
        ActCoolLR(opt, model, None, 100)
    with pytest.raises(ValueError, match="total_steps must be a positive integer"):
        ActCoolLR(opt, model, total_steps=0)
    hooks = sum(len(m._forward_hooks) for m in model.modules())
    with pytest.raises(ValueError, match="calibration='ramp' or an explicit target"):
        ActCoolLR(opt, model, total_steps=10, granularity="sample", calibration="fixed")
    assert sum(len(m._forward_hooks) for m in model.modules()) == hooks  # the refusal left none
    # the default ramps at every granularity
    auto = ActCoolLR(opt, model, total_steps=10, granularity="sample", k=1.0)
    assert auto.calibration == Calibration("ramp") and auto.target is None
    user = ActCoolLR(opt, model, PowerCurve(PAPER_T_START), total_steps=10, k=1.0)
    assert user.calibration is None and user.calibrated_start is None


def _ramp_run(batches, steps, save_at=None, checkpoint=None, calibration="ramp:0.3"):
    torch.manual_seed(3)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.08, momentum=0.9)
    sched = ActCoolLR(
        opt, model, total_steps=40, measure_every=2, k=1.0, calibration=calibration, find_lr=False
    )
    start = 0
    if checkpoint is not None:
        state = torch.load(io.BytesIO(checkpoint), weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        start = state["step"]
    lrs, temps, saved = [], [], None
    for t in range(start, steps):
        lrs.append(opt.param_groups[0]["lr"])
        x, y = batches[t % len(batches)]
        train_step(model, opt, x, y, sched)
        if t % 2 == 0:
            temps.append(sched.last_measurement.mean_temperature)
        if t + 1 == save_at:
            buf = io.BytesIO()
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "step": t + 1,
                },
                buf,
            )
            saved = buf.getvalue()
    return sched, lrs, temps, saved


def test_ramp_calibration_warms_up_then_cools_from_the_measured_start(image_batches):
    sched, lrs, temps, _ = _ramp_run(image_batches, 40)
    ramp = 12  # 0.3 × 40
    assert lrs[:ramp] == pytest.approx([warmup_lr(t, ramp, 0.08, 0.04) for t in range(ramp)])
    # T_start = λ_peak × median(T̄/λ) over the second half of the warm-up's 6 measurements
    ratios = [temps[i] / lrs[2 * i] for i in range(6)][3:]
    assert sched.calibrated_start == pytest.approx(0.08 * statistics.median(ratios))
    assert sched.target(0.3) == pytest.approx(sched.calibrated_start)
    assert sched.target(1.0) == 0.0
    assert len(set(lrs[ramp:])) > 5  # the controller took over


def test_ramp_calibration_with_gamma_cools_along_that_power_curve(image_batches):
    linear, lrs, _, _ = _ramp_run(image_batches, 14)
    hot, hot_lrs, _, _ = _ramp_run(image_batches, 14, calibration="ramp:0.3:2")
    assert hot_lrs[:13] == lrs[:13]  # same warm-up, same measurements, same start
    t0 = hot.calibrated_start
    assert t0 == linear.calibrated_start
    assert hot.target == PowerCurve(t0, 2.0, hold=0.3)
    assert hot.target(0.65) == pytest.approx(t0 * (1 - 0.5**2))
    assert linear.target(0.65) == pytest.approx(t0 * 0.5)


@pytest.mark.parametrize("save_at", [5, 12, 13, 20])
def test_ramp_calibration_resumes_the_identical_sequence(save_at, image_batches):
    _, full, _, _ = _ramp_run(image_batches, 30)
    _, _, _, ckpt = _ramp_run(image_batches, save_at, save_at=save_at)
    _, tail, _, _ = _ramp_run(image_batches, 30, checkpoint=ckpt)
    assert tail == full[save_at:]
