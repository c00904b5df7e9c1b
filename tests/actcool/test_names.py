"""The names docs/algorithm.md's "Words" settled: states and arguments saved or written with the
former names (the controller's ``ramp_*`` for the segment and ``warmup_*`` for the opening,
``sigma_*``/``refit_sigma`` for the law's shape) still load and work."""

import io
import warnings

import pytest
import torch

from actcool import ActCoolLR, ConstantCurve, PowerCurve, TemperatureController
from actcool.controller import LEGACY_NAMES

from .conftest import BNDropNet
from .test_scheduler import _run

#: ActCoolLR's own state keys before the shape of the law was called its shape.
OLD_SCHEDULER_KEYS = {
    "refit_shape": "refit_sigma",
    "shape_scans": "sigma_scans",
    "shape_fitted": "sigma_fitted",
}


def _with_old_names(checkpoint: bytes) -> bytes:
    """``checkpoint`` as a version before the renames would have saved it."""
    state = torch.load(io.BytesIO(checkpoint), weights_only=False)
    sched = state["scheduler"]
    state["scheduler"] = {OLD_SCHEDULER_KEYS.get(k, k): v for k, v in sched.items()}
    new_to_old = {new: old for old, new in LEGACY_NAMES.items()}
    controller = sched["controller"]
    state["scheduler"]["controller"] = {new_to_old.get(k, k): v for k, v in controller.items()}
    assert {"sigma_fitted", "sigma_scans"} <= set(state["scheduler"])
    assert {"ramp_start", "ramp_to", "warmup_steps"} <= set(state["scheduler"]["controller"])
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


@pytest.mark.parametrize("save_at", [1, 7])
def test_a_checkpoint_with_the_former_key_names_resumes_the_identical_sequence(
    save_at, image_batches
):
    steps = 20
    full, _ = _run(steps, image_batches)
    _, ckpt = _run(save_at, image_batches, save_at=save_at)
    tail, _ = _run(steps, image_batches, checkpoint=_with_old_names(ckpt))
    assert tail == full[save_at:]


def test_a_controller_state_with_the_former_names_gives_the_same_rates():
    def fresh():
        return TemperatureController(
            lr_initial=0.4, total_steps=40, measure_every=4, k=1.0, opening_steps=3
        )

    c = fresh()
    for t in (0, 4, 8):
        c.observe(t, c.lr_at(t), 1.0 + t / 8, 1000, ConstantCurve(1.0))
    state = c.state_dict()
    assert {"segment_start", "segment_from", "segment_to", "opening_steps"} <= set(state)
    new_to_old = {new: old for old, new in LEGACY_NAMES.items()}
    old = fresh()
    old.load_state_dict({new_to_old.get(k, k): v for k, v in state.items()})
    new = fresh()
    new.load_state_dict(state)
    rates = [c.lr_at(t) for t in range(8, 14)]
    assert [old.lr_at(t) for t in range(8, 14)] == rates == [new.lr_at(t) for t in range(8, 14)]
    assert len(set(rates)) > 1  # inside a segment, not a held rate


def test_the_controllers_former_names_still_work_with_a_future_warning():
    with pytest.warns(FutureWarning, match="'warmup_steps' is now 'opening_steps'"):
        c = TemperatureController(
            lr_initial=0.4, total_steps=40, k=1.0, warmup_steps=10, warmup_floor=0.1
        )
    assert (c.opening_steps, c.opening_floor) == (10, 0.1)
    assert c.lr_at(0) == pytest.approx(0.04)
    c.observe(0, 0.04, 1.0, 1000, ConstantCurve(1.0))
    with pytest.warns(FutureWarning, match="'ramp_to' is now 'segment_to'"):
        assert c.ramp_to == c.segment_to
    with pytest.warns(FutureWarning, match="'ramp_from' is now 'segment_from'"):
        c.ramp_from = 0.05
    assert c.segment_from == 0.05
    with pytest.raises(TypeError, match="not both"):
        TemperatureController(lr_initial=0.4, total_steps=40, warmup_steps=1, opening_steps=1)
    assert "ramp_to" not in c.state_dict()


def test_refit_sigma_is_refit_shape_with_a_future_warning():
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.warns(FutureWarning, match="refit_shape"):
        old = ActCoolLR(opt, model, PowerCurve(1.0), total_steps=10, refit_sigma=True)
    assert old.refit_shape is True and old.state_dict()["refit_shape"] is True
    with pytest.warns(FutureWarning, match="refit_shape"):
        assert old.refit_sigma is True
    old.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = ActCoolLR(opt, model, PowerCurve(1.0), total_steps=10, refit_shape=True)
    assert new.refit_shape is True and "refit_sigma" not in new.state_dict()
    new.close()
