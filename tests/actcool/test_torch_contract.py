"""ActCoolLR keeps torch's ``LRScheduler`` contract and uses only public torch API.

The declared range ``torch>=2.14,<2.15`` (pyproject.toml) is the one the tests run on: torch
2.14.1 on the development machines and in CI. Older torch releases are not declared, because no
test runs on them; they are likely to work, by construction: :func:`test_no_private_torch_attribute_is_read` fails if the package reads any
private attribute of torch (``torch._foreach_*``, ``LRScheduler._is_initial``, which torch 2.4
lacks, ...) beyond the two keys every torch scheduler's ``state_dict`` has had since torch 1.4;
every public call the package makes exists in torch 2.4 (``register_forward_pre_hook(...,
with_kwargs=True)`` and the optimizer's step pre/post hooks since 2.0,
``torch.get_autocast_dtype(device)`` since 2.4). The behaviour tests below compare ActCoolLR
with a torch scheduler on the installed torch, so they follow whatever that version does.
"""

import ast
import io
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, StepLR

import actcool
from actcool import ActCoolLR, PowerCurve
from actcool.calibration import START_FACTOR
from actcool.curves import PAPER_T_START

from .conftest import BNDropNet

PACKAGE = Path(actcool.__file__).parent

#: Private torch names ActCoolLR may read as attributes: none. (Torch's own scheduler keys, such
#: as ``_step_count``, travel through the public ``LRScheduler.state_dict()``/``load_state_dict``.)
ALLOWED: set[str] = set()
#: Private torch names that differ between versions; never to be read.
FORBIDDEN = {
    "_is_initial",
    "_opt_called",
    "_wrapped_by_lr_sched",
    "_with_counter",
    "_get_lr_called_within_step",
    "_initial_step",
    "_update_lr",
}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_no_private_torch_attribute_is_read():
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step_lr = StepLR(opt, 3)
    torch_private = FORBIDDEN.copy()
    for obj in (
        LRScheduler,
        step_lr,
        torch.optim.Optimizer,
        opt,
        nn.Module,
        model,
        torch.amp.GradScaler,
    ):
        torch_private |= {n for n in dir(obj) if n.startswith("_") and not n.endswith("__")}
    used, module_private = set(), []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                if not node.attr.endswith("__"):
                    used.add(node.attr)
                name = _dotted(node)
                if name.startswith("torch.") and any(
                    p.startswith("_") for p in name.split(".")[1:]
                ):
                    module_private.append(f"{path.name}: {name}")
    assert module_private == []  # e.g. torch._foreach_add_
    assert used & torch_private <= ALLOWED


def _first_steps(make, order):
    """Two training steps, the first in ``order``; the stepping-order warnings torch gives."""
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    sched = make(opt, model)
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if order == "optimizer replaced":
            opt.step = type(opt).step.__get__(opt)  # loses torch's wrapper
        for t in range(2):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            if t == 0 and order == "scheduler first":
                sched.step()
                opt.step()
            else:
                opt.step()
                sched.step()
    return [str(w.message) for w in caught if "step()" in str(w.message)]


@pytest.mark.parametrize("order", ["optimizer first", "scheduler first", "optimizer replaced"])
def test_stepping_order_warnings_are_torchs(order):
    ours = _first_steps(
        lambda o, m: ActCoolLR(o, m, PowerCurve(PAPER_T_START), total_steps=10, measure_every=1),
        order,
    )
    theirs = _first_steps(lambda o, m: StepLR(o, 5), order)
    assert ours == theirs
    assert len(ours) == (0 if order == "optimizer first" else 1)


def test_constructor_get_last_lr_and_state_dict_follow_lrscheduler():
    model = BNDropNet()
    opt = torch.optim.SGD(
        [
            {"params": model.conv.parameters(), "lr": 0.1},
            {"params": model.head.parameters(), "lr": 0.02},
        ],
        momentum=0.9,
    )
    sched = ActCoolLR(opt, model, PowerCurve(PAPER_T_START), total_steps=10, k=1.0)
    assert isinstance(sched, LRScheduler)
    assert sched.last_epoch == 0 and sched.base_lrs == [0.1, 0.02]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02]
    # like LinearLR's start_factor: the first step is cold, every group by the same factor
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert sched.get_last_lr() == pytest.approx([0.1 * START_FACTOR, 0.02 * START_FACTOR])
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)  # plain data: loads without unpickling code
    other = ActCoolLR(opt, BNDropNet(), PowerCurve(PAPER_T_START), total_steps=10, k=1.0)
    other.load_state_dict(state)
    mine, theirs = sched.state_dict(), other.state_dict()
    # the guard's copy of the state the run started with (tensors, through the warm-up)
    start, loaded = mine.pop("guard_rollback")["start"], theirs.pop("guard_rollback")["start"]
    assert theirs == mine
    assert loaded["optimizer"] == start["optimizer"]
    assert loaded["model"].keys() == start["model"].keys()
    assert all(torch.equal(loaded["model"][k], v) for k, v in start["model"].items())
    assert other.get_last_lr() == sched.get_last_lr()
    with pytest.raises(KeyError, match="not an ActCoolLR state dict"):
        other.load_state_dict({"last_epoch": 3})
    sched.close()
    other.close()


def _rates(make_wrapper, batches, steps=12):
    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    act = ActCoolLR(opt, model, PowerCurve(1.0), total_steps=steps, measure_every=2, k=1.0)
    outer = make_wrapper(opt, act)
    rates = []
    for i in range(steps):
        x, y = batches[i % len(batches)]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        outer.step()
    act.close()
    return rates, act


def test_inside_chained_scheduler_the_rates_are_actcools_own(image_batches):
    alone, _ = _rates(lambda opt, act: act, image_batches)
    chained, act = _rates(
        lambda opt, act: torch.optim.lr_scheduler.ChainedScheduler([act]), image_batches
    )
    assert chained == alone and act.last_measurement is not None


def test_after_a_warm_up_inside_sequential_lr_actcool_sets_the_rate(image_batches):
    """SequentialLR([LinearLR, ActCoolLR]): a warm-up, then ActCoolLR from its own step 0, with
    the optimizer's rate (not the warm-up's scaled one) as its peak and ceiling."""

    torch.manual_seed(0)
    model = BNDropNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=4)
    # built after the warm-up, which has halved the rate: ActCoolLR reads "initial_lr"
    act = ActCoolLR(opt, model, PowerCurve(1.0), total_steps=8, measure_every=2, k=1.0)
    assert act.controller.lr_initial == act.lr_ceiling == 0.1
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, act], milestones=[4])
    rates, set_by_act = [], []
    for i in range(10):
        x, y = image_batches[i % len(image_batches)]
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
        set_by_act.append(act.get_last_lr()[0])
    act.close()
    assert rates[:4] == pytest.approx([0.05, 0.0625, 0.075, 0.0875])  # LinearLR's warm-up
    # then ActCoolLR's own schedule from its step 0 (a cold first step, then its law)
    assert rates[4] == pytest.approx(0.1 * START_FACTOR)
    assert act.last_epoch == 6 and act.last_measurement is not None
    assert rates[5:] == set_by_act[4:-1]  # every later rate is the one ActCoolLR set
    assert len(set(rates[5:])) > 1  # and it steers: the rate moves with its measurements
