"""How a run's steps compute (trainer/compute.py): bf16 autocast with the measurement under the
same autocast, channels-last batches and model, and a compiled model on the steps that do not
measure (issue "A GPU trainer", item 3). On the CPU: autocast to bf16 runs here, and
``torch.compile`` is traced by its eager backend (no compiler), which computes exactly what the
model does, so a compiled run must record exactly the rows of an eager one."""

from __future__ import annotations

import dataclasses
import functools

import pandas as pd
import pytest
import torch
from torch import nn

import trainer.compute as compute
from actcool import TemperatureMonitor
from trainer.compute import Precision, run_precision, to_memory_format
from trainer.config import RunConfig
from trainer.errors import ConfigError
from trainer.run import train_run
from trainer.steps import training_steps

CFG = RunConfig(epochs=1, batch_size=64, measure_every=5, max_steps=12)


def _rows(store, config: RunConfig) -> pd.DataFrame:
    result = train_run(config, store, progress=False)
    assert result.status == "finished", result
    return store.steps(result.run_id)[["step", "lr", "loss", "mean_temperature"]]


def test_precision_of_a_config():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert run_precision(CFG, cpu) == Precision("cpu", None)
    assert run_precision(dataclasses.replace(CFG, precision="bf16"), cpu) == Precision(
        "cpu", torch.bfloat16
    )
    assert run_precision(dataclasses.replace(CFG, amp=True), cpu) == Precision("cpu", None)
    amp = run_precision(dataclasses.replace(CFG, amp=True), cuda)
    assert amp == Precision("cuda", torch.float16) and amp.scaled
    assert not Precision("cpu", torch.bfloat16).scaled
    with pytest.raises(ConfigError, match="amp .* and precision 'bf16'"):
        RunConfig(amp=True, precision="bf16")


def test_a_step_at_rate_zero_measures_zero_bits_under_bf16():
    """The measurement replays the step's bf16 autocast, so it compares bf16 patterns with
    bf16 patterns: at rate 0 nothing changed, so exactly 0 bits. Compared in float32, the same
    patterns differ by rounding alone (checked on the pre-activations)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256))
    net.extend([nn.GELU(), nn.Linear(256, 10)])
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    monitor = TemperatureMonitor(net, measure_every=1)
    x, y = torch.randn(128, 1, 8, 8), torch.randint(0, 10, (128,))
    bf16 = Precision("cpu", torch.bfloat16)
    (trained,) = training_steps(net, opt, [(x, y)], lambda x, loss: monitor.step(x), precision=bf16)
    monitor.close()
    assert trained.measurement is not None
    assert list(trained.measurement.changed) == [0, 0]
    with bf16.autocast():
        low = net[:4](x)
    assert low.dtype == torch.bfloat16 and not torch.equal(low.float(), net[:4](x))


def test_a_bf16_run_trains_and_measures(store, one_thread):
    rows = _rows(store, dataclasses.replace(CFG, precision="bf16"))
    assert len(rows) == 12 and rows["loss"].notna().all()
    measured = rows.dropna(subset=["mean_temperature"])
    assert measured["step"].tolist() == [0, 5, 10]
    assert (measured["mean_temperature"] > 0).all()


def test_channels_last_batches_and_model(store, one_thread):
    x = torch.randn(2, 3, 4, 4)
    assert to_memory_format(x, True).is_contiguous(memory_format=torch.channels_last)
    assert to_memory_format(x, False) is x
    flat = torch.randn(2, 5)
    assert to_memory_format(flat, True) is flat
    plain = _rows(store, CFG)
    last = _rows(store, dataclasses.replace(CFG, channels_last=True))
    # the same arithmetic in another memory layout: equal up to the order of float sums
    pd.testing.assert_frame_equal(plain, last, rtol=1e-4)


def test_a_compiled_run_records_the_rows_of_an_eager_one(store, monkeypatch, one_thread):
    calls: list[int] = []
    compile_eagerly = functools.partial(torch.compile, backend="eager")

    def counted(model):
        compiled = compile_eagerly(model)

        def call(*args, **kwargs):
            calls.append(1)
            return compiled(*args, **kwargs)

        return call

    monkeypatch.setattr(compute.torch, "compile", counted)
    eager = _rows(store, CFG)
    compiled = _rows(store, dataclasses.replace(CFG, compile=True))
    pd.testing.assert_frame_equal(eager, compiled)
    assert len(calls) == 12 - 3  # every step but the measuring ones (0, 5, 10)


def test_a_model_that_does_not_compile_says_how_to_go_on(monkeypatch):
    def broken(model):
        def call(*args, **kwargs):
            raise RuntimeError("no C++ compiler")

        return call

    monkeypatch.setattr(compute.torch, "compile", broken)
    model = compute.CompiledModel(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match=r"could not compile Linear .*--no-compile"):
        model(torch.zeros(1, 2))
