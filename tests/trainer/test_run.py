"""The training loop end to end, in-process: records, schedules, resume, divergence."""

import dataclasses
import functools
import math

import numpy as np
import pytest

import trainer.build
from actcool import Granularity
from trainer.checkpoint import checkpoint_path
from trainer.config import RunConfig
from trainer.errors import ConfigError
from trainer.run import train_run

from .conftest import SHARED_DATA


def test_digits_actcool_run_records_everything(store):
    cfg = RunConfig(epochs=2)  # the embedded default: convnet4 on digits under ActCoolLR
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    run = store.get_run(result.run_id)
    assert run["status"] == "finished"
    summary = run["summary"]
    total = summary["total_steps"]
    assert total == 2 * summary["steps_per_epoch"] == result.steps == 20
    steps = store.steps(result.run_id)
    assert steps["step"].tolist() == list(range(total))
    assert np.isfinite(steps["lr"]).all() and np.isfinite(steps["loss"]).all()
    measured = steps.dropna(subset=["mean_temperature"])
    assert measured["step"].tolist() == [0, 10]
    # the default target (calibration auto = ramp): the rate warms up linearly from 4% of the
    # optimizer's over the first 25% of steps, T_start = λ_peak·T̄/λ of the warm-up's (only)
    # measurement, then the target cools linearly from there to 0; all recorded
    assert summary["calibration"] == "ramp:0.25"
    warm = total // 4
    expected = [cfg.lr * (0.04 + 0.96 * s / warm) for s in range(warm)] + [cfg.lr]
    assert steps["lr"].iloc[: warm + 1].tolist() == pytest.approx(expected)
    lr0, t0 = steps.loc[0, ["lr", "mean_temperature"]]
    assert summary["t_start"] == pytest.approx(cfg.lr * t0 / lr0)
    assert summary["response"] == "weibull" and summary["k"] > 0
    target = steps["target_temperature"]
    assert target.iloc[:10].isna().all()  # unknown until the warm-up's end is measured (step 10)
    cooled = [summary["t_start"] * (1 - (s / total - 0.25) / 0.75) for s in range(10, total)]
    assert target.iloc[10:].tolist() == pytest.approx(cooled)
    assert steps["lr"].max() <= cfg.lr * (1 + 1e-12)  # the optimizer's rate is the ceiling
    names, msteps, matrix = store.site_matrix(result.run_id)
    assert len(names) == 3 and list(msteps) == [0, 10]
    np.testing.assert_allclose(matrix.mean(axis=0), measured["mean_temperature"], rtol=1e-9)
    scans = store.scans(result.run_id)
    assert sorted(scans["step"].unique()) == [0, 10]  # at the start and once per epoch
    assert len(scans[scans["site"] == "mean"]) == 2 * 25
    fits = store.fits(result.run_id)
    assert set(fits["site"]) == set(names) | {"mean"}
    evals = store.evaluations(result.run_id)
    assert summary["granularity"] == run["config"]["granularity"] == "unit:64"
    _check_recorded_counts(store, result.run_id, Granularity.parse("unit:64"), names)
    assert evals["val_error"].notna().sum() == 2
    test_error = evals["test_error"].dropna().tolist()
    assert test_error == [pytest.approx(summary["test_error"])] and 0 <= test_error[0] < 60
    assert checkpoint_path(store.home, result.run_id).exists()


def _ints(column):
    return column.to_numpy("int64")


def _check_recorded_counts(store, run_id, granularity, names):
    """The stored counts give back the stored temperatures; scans and both fits are complete."""
    counts = store.site_counts(run_id)
    assert counts["total"].notna().all() and counts["flipped_bits"].notna().all()
    assert (counts["flipped_bits"] <= counts["total_bits"]).all()
    np.testing.assert_allclose(
        granularity.temperatures(_ints(counts["changed"]), _ints(counts["total"])),
        counts["temperature"],
        rtol=1e-12,
    )
    if granularity.kind == "unit":  # the unit granularity counts flipped bits
        assert counts["changed"].tolist() == counts["flipped_bits"].tolist()
        assert counts["total"].tolist() == counts["total_bits"].tolist()
    scans = store.scans(run_id)
    per_site = scans[scans["site"] != "mean"]
    assert per_site[["changed", "total", "flipped_bits", "total_bits"]].notna().all().all()
    assert scans.loc[scans["site"] == "mean", ["changed", "total"]].isna().all().all()
    np.testing.assert_allclose(
        granularity.temperatures(_ints(per_site["changed"]), _ints(per_site["total"])),
        per_site["temperature"],
        rtol=1e-12,
    )
    fits = store.fits(run_id)
    per_scan = fits.groupby(["step", "model"])["site"].apply(sorted)
    assert set(per_scan.index.get_level_values("model")) == {"gaussian", "weibull"}
    assert all(sites == sorted([*names, "mean"]) for sites in per_scan)
    fitted = fits["rmse"].notna()
    assert fits.loc[~fitted, "reason"].notna().all() and fits.loc[fitted, "reason"].isna().all()
    gaussian = fits[fits["model"] == "gaussian"]
    assert gaussian[["lambda0", "k"]].isna().all().all()
    assert (gaussian["mu"].notna() == gaussian["rmse"].notna()).all()
    weibull = fits[fits["model"] == "weibull"]
    assert weibull[["mu", "sigma"]].isna().all().all()
    assert (weibull["lambda0"].notna() == weibull["rmse"].notna()).all()
    return counts


def test_sample_granularity_with_positions_compared_records_every_counter(store):
    cfg = RunConfig(
        dataset="synthetic:1x8x8",
        schedule="constant",
        epochs=1,
        batch_size=50,
        max_steps=5,
        measure_every=4,
        granularity="sample",
        compare_granularities=("position",),
    )
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished", result.message
    assert store.get_run(result.run_id)["summary"]["granularity"] == "sample"
    names = store.site_matrix(result.run_id)[0]
    counts = _check_recorded_counts(store, result.run_id, Granularity.parse("sample"), names)
    assert counts["step"].unique().tolist() == [0, 4]
    assert counts["changed"].tolist() == counts["changed_samples"].tolist()
    assert (counts["total"] == 50).all() and (counts["batch_size"] == 50).all()
    assert counts["temperature"].max() <= np.log2(100) + 1e-9  # the cap of 'sample'
    assert counts["changed_positions"].notna().all()
    assert (counts["total_positions"] % 50 == 0).all()  # B·H·W positions (B for (B, F) sites)
    assert (counts["total_positions"] > 50).any()  # the conv sites have more than one
    assert (counts["changed_positions"] <= counts["total_positions"]).all()


def _lrs(store, run_id):
    return store.steps(run_id)["lr"].tolist()


@pytest.mark.parametrize("schedule", ["constant", "step", "onecycle", "cosine", "actcool"])
def test_every_schedule_runs_under_the_monitor(schedule, store):
    cfg = RunConfig(
        dataset="synthetic:1x8x8",
        schedule=schedule,
        epochs=2,
        batch_size=50,
        lr=0.1,
        measure_every=4,
        step_milestones=(0.5,),
        warmup_fraction=0.1,
    )
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished", result.message
    lrs = np.array(_lrs(store, result.run_id))
    n = len(lrs)
    assert n == 36
    if schedule == "constant":
        assert (lrs == 0.1).all()
    elif schedule == "step":
        assert (lrs[:18] == 0.1).all() and lrs[18:] == pytest.approx(0.01)
    elif schedule == "onecycle":
        peak = int(np.argmax(lrs))
        assert lrs.max() == pytest.approx(0.1, rel=1e-3) and 0.2 * n < peak < 0.4 * n
        assert lrs[-1] < 1e-4
    elif schedule == "cosine":
        assert lrs[0] < lrs[3] == pytest.approx(0.1)  # warm-up over 10%
        assert np.all(np.diff(lrs[4:]) <= 0) and lrs[-1] < 0.001
    else:
        assert len(set(lrs.tolist())) > 5
    steps = store.steps(result.run_id).dropna(subset=["mean_temperature"])
    # every 4th step, plus the LR range scan at the start of epoch 2 (step 18)
    assert steps["step"].tolist() == [0, 4, 8, 12, 16, 18, 20, 24, 28, 32]
    assert (steps["mean_temperature"] >= 0).all()


def stop_at(steps: int):
    """A ``should_stop`` that stops a run once ``steps`` steps are trained; it records the
    step counts it is asked with."""

    def should_stop(done: int) -> bool:
        should_stop.asked.append(done)
        return done == steps

    should_stop.asked = []
    return should_stop


@pytest.mark.parametrize("schedule", ["actcool", "onecycle"])
def test_stop_and_resume_continue_the_identical_sequence(schedule, store):
    cfg = RunConfig(schedule=schedule, epochs=3, batch_size=64, measure_every=3, lr=0.05)
    full = train_run(cfg, store, progress=False)
    should_stop = stop_at(27)  # mid-epoch, between measurements
    stopped = train_run(cfg, store, progress=False, should_stop=should_stop)
    assert stopped.status == "stopped" and stopped.steps == 27
    assert should_stop.asked == list(range(1, 28))  # after every step
    assert store.get_run(stopped.run_id)["status"] == "stopped"
    resumed = train_run(cfg, store, run_id=stopped.run_id, resume=True, progress=False)
    assert resumed.status == "finished"
    assert _lrs(store, stopped.run_id) == _lrs(store, full.run_id)  # exactly
    a, b = store.steps(full.run_id), store.steps(stopped.run_id)
    assert b["step"].tolist() == list(range(len(a)))
    assert b["loss"].tolist() == a["loss"].tolist()
    assert resumed.test_error == full.test_error


def test_a_resumed_run_shows_the_calibration_it_restored_while_it_trains(store):
    """The summary a resumed run writes when it starts carries the restored scheduler's
    calibration (T_start, the fitted law), not a fresh scheduler's "pending"."""
    cfg = RunConfig(schedule="actcool", epochs=3, batch_size=64, measure_every=3, lr=0.05)
    stopped = train_run(cfg, store, progress=False, should_stop=stop_at(40))
    before = store.get_run(stopped.run_id)["summary"]
    assert before["t_start"] is not None and before["t_start"] > 0  # calibrated before the stop
    seen = []

    def look(done: int) -> bool:  # the summary while the resumed run trains
        seen.append(store.get_run(stopped.run_id)["summary"])
        return False

    train_run(cfg, store, run_id=stopped.run_id, resume=True, progress=False, should_stop=look)
    assert seen[0]["t_start"] == before["t_start"]
    assert seen[0]["k"] == before["k"] and seen[0]["calibration"] == before["calibration"]


def test_non_finite_loss_is_reported_as_diverged(store):
    cfg = RunConfig(schedule="constant", lr=1e4, epochs=2, momentum=0.0)
    result = train_run(cfg, store, progress=False)
    assert result.status == "diverged"
    run = store.get_run(result.run_id)
    assert run["status"] == "diverged"
    assert f"at step {result.steps}" in run["error"] and "learning rate 1e+04" in run["error"]


def test_a_crash_is_recorded_as_failed(store, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("trainer.run.evaluate", boom)
    result = train_run(RunConfig(epochs=1), store, progress=False)
    assert result.status == "failed"
    run = store.get_run(result.run_id)
    assert run["status"] == "failed" and run["error"] == "RuntimeError: disk on fire"
    assert "Traceback" in run["traceback"] and "boom" in run["traceback"]


@pytest.mark.data
@pytest.mark.e2e
def test_fashion_mnist_from_shared_data_trains_convnet4(store):
    if not (SHARED_DATA / "FashionMNIST").exists():
        pytest.skip(f"{SHARED_DATA} not found")
    cfg = RunConfig(
        dataset="fashion-mnist", data_dir=str(SHARED_DATA), max_steps=40, download=False
    )
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    summary = store.get_run(result.run_id)["summary"]
    assert summary["steps_per_epoch"] == 54000 // 128
    assert result.test_error < 40, f"test error after 40 steps: {result.test_error:.1f}%"


@pytest.mark.data
@pytest.mark.slow  # decodes 60k JPEGs and evaluates 15k images with ResNet-20 (~80 s)
def test_cifar10_jpeg_folder_trains_resnet20(store):
    if not (SHARED_DATA / "cifar10-jpeg").exists():
        pytest.skip(f"{SHARED_DATA} not found")
    cfg = RunConfig(
        model="resnet20",
        dataset=f"imagefolder:{SHARED_DATA / 'cifar10-jpeg'}",
        max_steps=3,
        batch_size=64,
        scan_every=0,
        download=False,
    )
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished"
    assert math.isfinite(store.steps(result.run_id)["loss"].iloc[-1])


def test_schedulefree_warms_up_and_evaluation_at_averaged_weights_leaves_training_untouched(store):
    pytest.importorskip(
        "schedulefree", reason="schedule-free baseline needs: pip install schedulefree"
    )
    cfg = RunConfig(
        schedule="schedulefree", epochs=2, warmup_fraction=0.2, measure_every=5, scan_every=0
    )
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished" and result.test_error < 60
    steps = store.steps(result.run_id)
    lrs = steps["lr"].to_numpy()
    # the optimizer's own warm-up over 20% of the 20 steps, then its constant rate
    assert lrs[:6] == pytest.approx([0.0125, 0.025, 0.0375, 0.05, 0.05, 0.05])
    assert steps["mean_temperature"].notna().sum() == 4
    # evaluation at the averaged weights leaves training untouched: same run, same losses
    again = train_run(cfg.replace(name="again"), store, progress=False)
    np.testing.assert_array_equal(store.steps(again.run_id)["loss"], steps["loss"])


def test_the_vision_transformer_trains_under_actcool_with_adamw(store):
    """vit-tiny (GELU sites, no ReLU) on digits with AdamW: ActCoolLR measures its four GELU
    sites, finds its peak with Adam's factors and finishes with a finite test error."""
    cfg = RunConfig(model="vit-tiny", optimizer="adamw", lr=1e-3, epochs=1, measure_every=3)
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished" and np.isfinite(result.test_error)
    summary = store.get_run(result.run_id)["summary"]
    assert summary["found_lr"] > 0 and summary["rate_scale"] > 0
    names, _, values = store.site_matrix(result.run_id)
    assert names == [f"blocks.{i}.act" for i in range(4)] and np.isfinite(values).all()
    measured = store.steps(result.run_id).dropna(subset=["mean_temperature"])
    assert len(measured) >= 4 and (measured["mean_temperature"] > 0).any()


def test_a_timm_model_trains_in_the_trainer(store):
    """``timm:resnet10t`` on digits (1 channel, 8 px, 10 classes set from the dataset): the
    trainer builds it, ActCoolLR measures its activation modules, and the run finishes. timm
    zeroes the last BatchNorm of each block, so step 0's gradient reaches few parameters; under
    SGD the finder would scan again until λ0 stops falling, but one epoch of digits warms up
    in fewer steps than one measurement, so the typed rate stays the peak (§4.8)."""
    pytest.importorskip("timm", reason="the timm extra is not installed")
    cfg = RunConfig(model="timm:resnet10t", epochs=1, measure_every=3)
    result = train_run(cfg, store, progress=False)
    assert result.status == "finished" and np.isfinite(result.test_error)
    run = store.get_run(result.run_id)
    assert "found_lr" not in run["summary"] and run["config"]["optimizer"] == "sgd"
    assert max(_lrs(store, result.run_id)) == pytest.approx(cfg.lr)
    names, _, values = store.site_matrix(result.run_id)
    assert "act1" in names and np.isfinite(values).all()


def test_a_timm_model_too_deep_for_the_images_is_refused_by_name(store):
    pytest.importorskip("timm", reason="the timm extra is not installed")
    cfg = RunConfig(model="timm:convnext_atto", epochs=1)
    with pytest.raises(ValueError, match=r"timm:convnext_atto cannot take 8×8 images.*larger"):
        train_run(cfg, store, progress=False)
    assert store.list_runs().empty  # refused before a run was recorded


def test_a_branch_search_moves_the_peak_mid_warm_up_and_resumes_identically(store, monkeypatch):
    """``branch_search``: the rates are the plain run's up to the search (the first measurement
    past half of the warm-up), differ after it, and a run stopped after it resumes exactly."""
    # branches of 8 steps measured on 2 batches (not 60 and 16): the same search, a tenth of it
    small = functools.partial(trainer.build.BranchFinder, steps=8, eval_batches=2)
    monkeypatch.setattr(trainer.build, "BranchFinder", small)
    plain = RunConfig(schedule="actcool", epochs=3, batch_size=64, measure_every=3, lr=0.05)
    cfg = dataclasses.replace(plain, branch_search=True)
    without = _lrs(store, train_run(plain, store, progress=False).run_id)
    full = train_run(cfg, store, progress=False)
    with_search = _lrs(store, full.run_id)
    opening = round(0.25 * len(with_search))
    search = next(t for t in range(0, opening, 3) if t >= opening / 2)
    assert with_search[: search + 1] == without[: search + 1]
    assert with_search[search + 1 : opening] != without[search + 1 : opening]
    stopped = train_run(cfg, store, progress=False, should_stop=stop_at(search + 5))
    resumed = train_run(cfg, store, run_id=stopped.run_id, resume=True, progress=False)
    assert resumed.status == "finished"
    assert _lrs(store, stopped.run_id) == with_search
    with pytest.raises(ConfigError, match="branch_search runs in the warm-up"):
        RunConfig(schedule="onecycle", branch_search=True)
    # --branch-warmup lowest: from step 1 (after the step-0 scan) until the search, the
    # plain run's warm-up scaled to end at the lowest candidate, 1/8 of the scan's peak
    low = train_run(dataclasses.replace(cfg, branch_warmup="lowest"), store, progress=False).run_id
    low_lrs = _lrs(store, low)
    assert low_lrs[0] == without[0]
    assert low_lrs[1 : search + 1] == pytest.approx([v / 8 for v in without[1 : search + 1]])
    with pytest.raises(ConfigError, match="set branch_search as well"):
        RunConfig(schedule="actcool", branch_warmup="lowest")
    with pytest.raises(ConfigError, match="unknown branch_warmup 'low'; choose one of"):
        RunConfig(schedule="actcool", branch_search=True, branch_warmup="low")
    with pytest.raises(ConfigError, match="branch_draws 2 is how many draws .* set branch_search"):
        RunConfig(schedule="actcool", branch_draws=2)
    with pytest.raises(ConfigError, match="branch_draws must be >= 1, got 0"):
        RunConfig(schedule="actcool", branch_search=True, branch_draws=0)


def test_branch_draws_reach_the_branch_finder(store, monkeypatch):
    made, real = [], trainer.build.BranchFinder

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(trainer.build, "BranchFinder", spy)
    cfg = RunConfig(schedule="actcool", epochs=1, branch_search=True, branch_draws=3, max_steps=2)
    assert train_run(cfg, store, progress=False).status == "finished"
    (finder,) = made
    assert finder.draws == 3 and not finder.warmup_to_lowest
