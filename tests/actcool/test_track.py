"""actcool.track: a plain training loop recorded into the store and read back, step by step."""

from __future__ import annotations

import importlib.metadata
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import actcool
from actcool import ActCoolLR, PowerCurve
from storage import Store

REPO = Path(__file__).resolve().parents[2]
STEPS = 12


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3)
    )


def _batches(n: int = STEPS):
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        x = torch.randn(16, 12, generator=g)
        yield x, (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3


def _train_step(model, optimizer, x, y) -> torch.Tensor:
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def test_a_plain_loop_is_recorded_step_by_step(tmp_path, capsys):
    model = _net()
    optimizer = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.1},
            {"params": [*model[2].parameters(), *model[4].parameters()], "lr": 0.05},
        ],
        momentum=0.9,
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    seen = []
    with actcool.track(
        model, optimizer, scheduler=scheduler, name="plain", config={"batch": 16}, home=tmp_path
    ) as run:
        store = Store(tmp_path)
        assert store.get_run(run.id)["status"] == "running"  # there at once
        for x, y in _batches():
            lrs = [g["lr"] for g in optimizer.param_groups]  # what this step trains at
            loss = _train_step(model, optimizer, x, y)
            scheduler.step()
            run.step(loss=loss, grad_scale=2.5)
            seen.append((lrs, loss.item()))
        run.evaluate(val_error=3.2, val_loss=0.7, top5=99.0)
    assert f"recording run {run.id}" in capsys.readouterr().out
    record = store.get_run(run.id)
    assert record["status"] == "finished"
    assert record["name"] == "plain"
    config = record["config"]
    assert config["batch"] == 16
    assert config["model_class"] == "Sequential"
    assert config["parameters"] == sum(p.numel() for p in model.parameters())
    assert config["optimizer"] == "SGD" and config["optimizer_hparams"]["momentum"] == 0.9
    assert config["scheduler"] == "StepLR" and config["granularity"] == "unit:64"
    assert config["script"] and config["torch"] == importlib.metadata.version("torch")
    steps = store.steps(run.id)
    assert steps["step"].tolist() == list(range(STEPS))
    assert steps["lr"].tolist() == pytest.approx([lrs[0] for lrs, _ in seen])
    assert steps["loss"].tolist() == pytest.approx([loss for _, loss in seen])
    measured = steps.dropna(subset=["mean_temperature"])["step"].tolist()
    assert measured == [0, 10]  # measure_every=10
    metrics = store.metrics(run.id, phase="train")
    group1 = metrics[metrics["name"] == "lr/1"]
    assert group1["value"].tolist() == pytest.approx([lrs[1] for lrs, _ in seen])
    scale = metrics[metrics["name"] == "grad_scale"]
    assert scale["step"].tolist() == list(range(STEPS)) and set(scale["value"]) == {2.5}
    evals = store.evaluations(run.id)
    assert evals[["step", "val_error", "val_loss"]].values.tolist() == [[STEPS - 1, 3.2, 0.7]]
    named = store.metrics(run.id, phase="eval")
    assert named[["step", "name", "value"]].values.tolist() == [[STEPS - 1, "top5", 99.0]]
    names, _, values = store.site_matrix(run.id)
    assert len(names) == 2 and values.shape == (2, 2)


def test_an_actcool_run_records_its_schedulers_rates_and_measurements(tmp_path):
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = ActCoolLR(
        optimizer, model, PowerCurve(3.0), total_steps=STEPS, measure_every=3, scan_every=6
    )
    rates, measured = [], {}
    with scheduler, actcool.track(model, optimizer, scheduler=scheduler, home=tmp_path) as run:
        for x, y in _batches():
            rates.append(scheduler.get_last_lr()[0])  # the rate this step trains at
            loss = _train_step(model, optimizer, x, y)
            scheduler.step(loss=loss)
            run.step(loss=loss)
            if scheduler.last_measurement is not None:
                m = scheduler.last_measurement
                measured[m.step] = m.mean_temperature
    assert run.monitor is None  # measured once, by the scheduler
    store = Store(tmp_path)
    steps = store.steps(run.id)
    assert steps["lr"].tolist() == pytest.approx(rates)
    temps = steps.dropna(subset=["mean_temperature"])
    assert dict(zip(temps["step"], temps["mean_temperature"], strict=True)) == pytest.approx(
        measured
    )
    assert sorted(store.scans(run.id)["step"].unique()) == [0, 6]
    assert set(store.fits(run.id)["step"]) == {0, 6}
    config = store.get_run(run.id)["config"]
    assert config["scheduler"] == "ActCoolLR" and config["total_steps"] == STEPS


def test_an_exception_marks_the_run_failed_and_propagates(tmp_path):
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ZeroDivisionError):
        with actcool.track(model, optimizer, home=tmp_path) as run:
            for x, y in _batches(3):
                run.step(loss=_train_step(model, optimizer, x, y))
            raise ZeroDivisionError("division by zero")
    record = Store(tmp_path).get_run(run.id)
    assert record["status"] == "failed"
    assert record["error"] == "ZeroDivisionError: division by zero"
    assert len(Store(tmp_path).steps(run.id)) == 3  # flushed on the way out
    with pytest.raises(RuntimeError, match="has ended"):
        run.step(loss=1.0)


def test_bad_values_are_refused_and_record_nothing(tmp_path):
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with actcool.track(model, optimizer, home=tmp_path) as run:
        batches = _batches(3)
        x, y = next(batches)
        run.step(loss=_train_step(model, optimizer, x, y))
        with pytest.raises(TypeError, match="metric 'accuracy' must be a number, got 'high'"):
            run.step(loss=1.0, accuracy="high")
        with pytest.raises(TypeError, match="metric 'acc'.*shape \\(2,\\)"):
            run.evaluate(acc=torch.ones(2))
        x, y = next(batches)
        run.step(loss=_train_step(model, optimizer, x, y), acc=float("inf"))
        x, y = next(batches)
        _train_step(model, optimizer, x, y)
        run.step(loss=float("nan"))
    store = Store(tmp_path)
    steps = store.steps(run.id)
    assert steps["step"].tolist() == [0, 1, 2]  # the refused call took no step
    assert math.isnan(steps["loss"].iloc[2])
    assert store.metrics(run.id)["value"].isna().tolist() == [True]  # inf -> NaN
    record = store.get_run(run.id)
    assert record["status"] == "diverged"
    assert "loss became nan at step 2" in record["error"]


def test_an_unwritable_home_fails_at_track(tmp_path):
    (tmp_path / "file").write_text("")  # no folder can be made under a file, even by root
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(OSError, match="not writable.*pass home= a writable folder"):
        actcool.track(model, optimizer, home=tmp_path / "file" / "store")
    assert not optimizer._optimizer_step_pre_hooks  # nothing left behind


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_home_is_a_permission_error(tmp_path):
    home = tmp_path / "store"
    home.mkdir()
    home.chmod(0o500)
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            actcool.track(model, optimizer, home=home)
    finally:
        home.chmod(0o700)


def test_two_runs_at_once_get_two_ids(tmp_path):
    a, b = _net(), _net()
    opt_a = torch.optim.SGD(a.parameters(), lr=0.1)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-3)
    with (
        actcool.track(a, opt_a, home=tmp_path, name="a") as run_a,
        actcool.track(b, opt_b, home=tmp_path, name="b") as run_b,
    ):
        for x, y in _batches(4):
            run_a.step(loss=_train_step(a, opt_a, x, y))
            run_b.step(loss=_train_step(b, opt_b, x, y))
    assert run_a.id != run_b.id
    store = Store(tmp_path)
    assert store.steps(run_a.id)["lr"].tolist() == pytest.approx([0.1] * 4)
    assert store.steps(run_b.id)["lr"].tolist() == pytest.approx([1e-3] * 4)


def test_a_model_without_relu_is_recorded_without_temperatures(tmp_path, caplog):
    model = nn.Sequential(nn.Linear(12, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with actcool.track(model, optimizer, home=tmp_path) as run:
        for x, y in _batches(2):
            run.step(loss=_train_step(model, optimizer, x, y))
    assert "measures no temperature" in caplog.text
    assert len(Store(tmp_path).steps(run.id)) == 2


SCRIPT = """
import sys, time, torch
from torch import nn
import actcool

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
with actcool.track(model, optimizer, home=sys.argv[1], measure_every=1000) as run:
    step = 0
    while True:
        x = torch.randn(8, 4)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        run.step(loss=loss)
        step += 1
        if step == 3:
            print("STEPPED", run.id, flush=True)
        if run.stop_requested:
            print("STOPPING", step, flush=True)
            break
        time.sleep(0.02)
"""


def _spawn(tmp_path) -> tuple[subprocess.Popen, str]:
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "store")],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("STEPPED"):
            return proc, line.split()[1]
    proc.wait()
    raise AssertionError(f"the loop never stepped: {proc.stderr.read()}")


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_dashboards_stop_is_honoured_and_acknowledged(tmp_path):
    proc, run_id = _spawn(tmp_path)
    store = Store(tmp_path / "store")
    try:
        assert store.request_stop(run_id)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "STOPPING" in out
    record = store.get_run(run_id)
    assert record["status"] == "stopped"
    stopped_at = int(out.split("STOPPING")[1].split()[0])
    assert record["summary"]["stop_acknowledged_step"] == stopped_at - 1
    assert store.last_step(run_id) == stopped_at - 1  # every step flushed


def test_a_killed_script_reads_as_lost(tmp_path):
    proc, run_id = _spawn(tmp_path)
    store = Store(tmp_path / "store")
    _wait_for(lambda: (store.last_step(run_id) or 0) >= 2)  # rows readable from here
    assert store.get_run(run_id)["status"] == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert store.get_run(run_id)["status"] == "lost"


def test_sigterm_flushes_and_stops(tmp_path):
    proc, run_id = _spawn(tmp_path)
    store = Store(tmp_path / "store")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    record = store.get_run(run_id)
    assert record["status"] == "stopped" and record["error"] == "terminated"
    assert store.last_step(run_id) >= 2
    assert np.isfinite(store.steps(run_id)["loss"]).all()


def test_import_actcool_stays_free_of_the_store():
    code = "import sys, actcool; print(sorted({'duckdb', 'storage'} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_track_stays_the_function_once_its_module_is_imported():
    """The module is ``actcool.tracking``, not ``actcool.track``: importing a submodule sets
    the package attribute of its name, which would hide the lazily imported function."""
    import actcool.tracking

    assert actcool.track is actcool.tracking.track and callable(actcool.track)
