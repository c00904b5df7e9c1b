"""The CLI and the run lifecycle across processes: errors, stop, kill -9, resume, worker, torchrun."""

import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from storage import Store

from .conftest import REPO, cli, popen


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--model", "resnet-33"], "unknown model 'resnet-33'; choose one of: convnet4"),
        (["run", "--schedule", "warp"], "argument --schedule: invalid choice: 'warp'"),
        (["run", "--target", "mine"], "unknown curve 'mine'"),
        (["run", "--batch-size", "4096"], "batch_size 4096 is larger than the training set"),
        (["worker", "--parallel", "0"], "argument --parallel: must be >= 1, got 0"),
        (["run", "--epochs", "x"], "argument --epochs: invalid int value: 'x'"),
        (["run", "--lr", "-1"], "lr must be a finite number > 0"),
        (
            ["run", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent/x", "--no-download"],
            "Fashion-MNIST not found under /nonexistent/x/FashionMNIST/raw",
        ),
        (["run", "--config", "/nonexistent.json"], "cannot read --config /nonexistent.json"),
        (["resume", "abcdef12"], "abcdef12"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (
            ["run", "--granularity", "pixel"],
            "bad granularity 'pixel'; choose one of: sample, position, unit, unit:L",
        ),
        (
            ["run", "--compare-granularities", "sample,unit:0"],
            "bad compare_granularities entry 'unit:0'",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message, tmp_path, capsys, monkeypatch):
    from trainer.cli import main

    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path))
    try:  # in-process: any exception other than a user error fails the test
        code = main(args)
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert message in lines[0]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("timm:convnext_atto", "timm:convnext_atto cannot take 8×8 images"),
        (
            "timm:convnext_ato",
            "timm has no model 'convnext_ato'; close matches: timm:convnext_atto",
        ),
    ],
)
def test_a_timm_model_the_run_cannot_use_is_one_line(model, message, tmp_path, capsys, monkeypatch):
    pytest.importorskip("timm", reason="the timm extra is not installed")
    args = ["run", "--model", model]
    test_bad_arguments_exit_2_with_one_line(args, message, tmp_path, capsys, monkeypatch)


def test_a_user_error_is_one_line_from_a_real_process(tmp_path):
    r = cli(
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "/nonexistent/x",
        "--no-download",
        home=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "python -m trainer: error: Fashion-MNIST not found under /nonexistent/x/FashionMNIST/raw; "
        "point data_dir at a folder that holds FashionMNIST/raw or set download=True (needs internet)"
    ]


def test_a_model_family_brings_its_optimizer_and_the_optimizer_its_rate_and_decay(tmp_path):
    from trainer.cli import _config_from_args, build_parser

    def config(*args):
        c = _config_from_args(build_parser().parse_args(["run", *args]))
        return c.optimizer, c.lr, c.weight_decay

    assert config() == ("sgd", 0.05, 5e-4)  # convnet4: the CNN recipe
    assert config("--model", "vit-tiny") == ("adamw", 1e-3, 0.05)
    assert config("--model", "timm:convnext_atto") == ("adamw", 1e-3, 0.05)
    assert config("--model", "timm:resnet18") == ("sgd", 0.05, 5e-4)
    assert config("--model", "vit-tiny", "--lr", "3e-4") == ("adamw", 3e-4, 0.05)
    assert config("--model", "vit-tiny", "--optimizer", "sgd") == ("sgd", 0.05, 5e-4)
    assert config("--optimizer", "adamw") == ("adamw", 1e-3, 0.05)
    hand_written = tmp_path / "c.json"
    hand_written.write_text('{"model": "vit-tiny", "optimizer": "sgd", "lr": 0.1}')
    assert config("--config", str(hand_written)) == ("sgd", 0.1, 5e-4)
    hand_written.write_text('{"model": "vit-tiny", "weight_decay": 0.1}')
    assert config("--config", str(hand_written)) == ("adamw", 1e-3, 0.1)


def test_granularity_flags_and_config_files(tmp_path, capsys):
    from trainer.cli import _config_from_args, build_parser

    def config(*args):
        return _config_from_args(build_parser().parse_args(["run", *args]))

    assert config().granularity == "unit:64" and config().compare_granularities == ()
    c = config("--granularity", "unit:16", "--compare-granularities", "sample,position")
    assert (c.granularity, c.compare_granularities) == ("unit:16", ("sample", "position"))
    assert config("--granularity", "unit").granularity == "unit:64"
    hand_written = tmp_path / "c.json"
    hand_written.write_text('{"epochs": 3}')  # a new config: today's default granularity
    assert config("--config", str(hand_written)).granularity == "unit:64"
    assert config("--config", str(hand_written), "--granularity", "sample").granularity == "sample"
    hand_written.write_text('{"epochs": 3, "granularity": "position"}')
    assert config("--config", str(hand_written)).granularity == "position"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    assert "--granularity" in help_text and "--compare-granularities" in help_text
    assert "sample, position, unit, unit:L" in " ".join(help_text.split())


def test_help_says_what_every_option_means_and_lists_its_choices(capsys):
    import dataclasses

    from trainer.cli import build_parser
    from trainer.config import GRANULARITIES, SCHEDULES, RunConfig
    from trainer.models.names import MODEL_NAMES

    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(default: actcool; choices: {', '.join(SCHEDULES)})" in help_text
    models = f"the network to train: {', '.join(MODEL_NAMES)}, or timm:<name> for any timm"
    assert models in help_text and "(default: convnet4)" in help_text
    assert "what one activation pattern is: " + ", ".join(GRANULARITIES) in help_text
    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    options = {a.dest: a for a in run._actions}
    for f in dataclasses.fields(RunConfig):
        action = options[f.name]
        assert not action.help.startswith("(default"), f"--{f.name} says only its default"
        assert action.help.startswith(f.metadata["help"]) and "(default: " in action.help
        assert action.choices == f.metadata.get("choices"), f.name  # argparse checks them too


def _python(code: str, *args: str, home) -> subprocess.CompletedProcess:
    """Run ``code`` (which ends by calling the CLI with ``args``) in a fresh interpreter."""
    env = {**os.environ, "ACTCOOL_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
    )


_CLI_WITH_FAILING = """
import sys
import {module} as target
def failing(*args, **kwargs):
    raise {error}
target.{attribute} = failing
from trainer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "error",
    ['RuntimeError("CUDA out of memory")', 'KeyError("internal key")', 'ValueError("a bug")'],
)
def test_bugs_and_environment_failures_keep_their_traceback(error, tmp_path):
    code = _CLI_WITH_FAILING.format(
        module="trainer.run", attribute="_Trainer.__init__", error=error
    )
    r = _python(code, "run", "--epochs", "1", "--quiet", home=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "Traceback (most recent call last)" in r.stderr and ", in failing" in r.stderr
    assert error.split("(")[0] in r.stderr.strip().splitlines()[-1]


def test_a_locked_store_is_one_line(tmp_path):
    error = "LockTimeout(\"database file 'catalog.duckdb' stayed locked by another process\")"
    code = _CLI_WITH_FAILING.format(
        module="storage", attribute="Store.list_runs", error=error
    ).replace("import sys", "import sys\nfrom storage import LockTimeout")
    Store(tmp_path).created_at()  # a store to list (list looks only where there is one)
    r = _python(code, "list", home=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "python -m trainer: error: database file 'catalog.duckdb' stayed locked by another process"
    ]


@pytest.mark.e2e
def test_run_digits_actcool_and_list_export(tmp_path):
    r = cli(
        "run",
        "--model",
        "convnet4",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--schedule",
        "actcool",
        home=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "finished 20 steps" in r.stderr and "test error" in r.stderr
    store = Store(tmp_path)
    (run_id,) = store.list_runs()["id"].tolist()
    listing = cli("list", home=tmp_path)
    assert run_id in listing.stdout and "finished" in listing.stdout and "20/20" in listing.stdout
    out = tmp_path / "export"
    r = cli("export", run_id, "--format", "csv", "--out", str(out), home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "steps.csv").read_text().count("\n") == 21
    assert (
        cli(
            "export", run_id, "--format", "parquet", "--out", str(tmp_path / "pq"), home=tmp_path
        ).returncode
        == 0
    )


def test_stop_command_records_the_request(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run({"model": "convnet4"}, name="x")
    r = cli("stop", run_id, home=tmp_path)
    assert r.returncode == 0 and f"asked run {run_id} to stop" in r.stdout
    assert store.stop_requested(run_id)
    queued = store.create_run({"model": "convnet4"}, name="q", status="queued")
    assert f"stopped queued run {queued}" in cli("stop", queued, home=tmp_path).stdout
    assert store.get_run(queued)["status"] == "stopped"  # kept, to resume or delete


@pytest.mark.e2e
def test_dry_run_uses_synthetic_data(tmp_path):
    r = cli("run", "--dry-run", "--model", "resnet20", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run finished (5 steps on synthetic data); nothing was recorded" in r.stdout
    assert Store(tmp_path).list_runs().empty  # a check of the set-up leaves no run behind


def _wait_for_steps(store, run_id=None, at_least=1, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = store.list_runs()
        if len(runs):
            rid = run_id or runs["id"].iloc[0]
            if len(store.steps(rid)) >= at_least:
                return rid
        time.sleep(0.2)
    raise AssertionError("the run recorded no steps in time")


LONG_RUN = ["run", "--epochs", "30", "--batch-size", "16", "--measure-every", "5", "--quiet"]


@pytest.mark.e2e
def test_stop_request_is_honoured(tmp_path):
    store = Store(tmp_path)
    proc = popen(*LONG_RUN, home=tmp_path)
    try:
        run_id = _wait_for_steps(store, at_least=5)
        store.request_stop(run_id)  # what `python -m trainer stop` and the dashboard do
        proc.wait(timeout=120)  # only guards against a hang: the run stops at its next step
    finally:
        proc.kill()
    assert proc.returncode == 0, proc.stdout.read()
    run = store.get_run(run_id)
    assert run["status"] == "stopped"
    assert run["summary"]["steps"] < run["summary"]["total_steps"]  # it stopped, not finished


@pytest.mark.e2e
def test_sigterm_stops_gracefully(tmp_path):
    store = Store(tmp_path)
    proc = popen(*LONG_RUN, home=tmp_path)
    try:
        run_id = _wait_for_steps(store, at_least=5)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    run = store.get_run(run_id)
    assert run["status"] == "stopped"
    steps = store.steps(run_id)
    assert steps["step"].tolist() == list(range(run["summary"]["steps"]))  # everything flushed


@pytest.mark.e2e
def test_killed_run_shows_as_lost_and_resume_finishes_it(tmp_path):
    store = Store(tmp_path)
    # long enough that the kill lands mid-run however fast the machine is (960 steps)
    proc = popen("run", "--epochs", "12", "--batch-size", "16", "--quiet", home=tmp_path)
    try:
        run_id = _wait_for_steps(
            store, at_least=100
        )  # past the first epoch's checkpoint (80 steps)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert store.get_run(run_id)["status"] == "lost"
    r = cli("resume", run_id, "--quiet", home=tmp_path, timeout=900)  # a guard against a hang
    assert r.returncode == 0, r.stderr
    run = store.get_run(run_id)
    assert run["status"] == "finished"
    total = run["summary"]["total_steps"]
    assert store.steps(run_id)["step"].tolist() == list(range(total))  # no gaps, no duplicates
    assert cli("resume", run_id, home=tmp_path).returncode == 2  # a finished run does not resume


@pytest.mark.e2e
def test_worker_trains_queued_runs(tmp_path):
    store = Store(tmp_path)
    for schedule in ("actcool", "onecycle"):
        r = cli("run", "--queue", "--schedule", schedule, "--epochs", "1", home=tmp_path)
        assert r.returncode == 0 and "queued run" in r.stdout, r.stderr
    assert set(store.list_runs()["status"]) == {"queued"}
    r = cli("worker", "--parallel", "2", "--idle-exit", "2", home=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    runs = store.list_runs()
    assert set(runs["status"]) == {"finished"}, runs[["id", "status", "error"]]
    assert sorted(r["schedule"] for r in runs["summary"]) == ["actcool", "onecycle"]


@pytest.mark.e2e
def test_torchrun_two_cpu_ranks(tmp_path):
    with socket.socket() as sock:  # torchrun hangs with --master_port=0: give it a free port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ACTCOOL_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            f"--master_port={port}",
            "-m",
            "trainer",
            "run",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--quiet",
            "--granularity",
            "sample",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    store = Store(tmp_path)
    runs = store.list_runs()
    assert len(runs) == 1  # only rank 0 records
    run = runs.iloc[0]
    assert run["status"] == "finished" and run["summary"]["world_size"] == 2
    assert len(store.steps(run["id"])) == run["summary"]["total_steps"]
    site_rows = pd.read_csv(
        store.export(run["id"], format="csv", out=tmp_path / "x") / "site_temperatures.csv"
    )
    # changed counts are summed over ranks: each measurement covers the global batch of 64
    assert set(site_rows["batch_size"]) == set(site_rows["total"]) == {64}
    assert site_rows["temperature"].max() <= 7.0 + 1e-9  # log2(2 * 64), the cap of 'sample'
    assert (site_rows["flipped_bits"] <= site_rows["total_bits"]).all()


def test_warmup_prints_the_start_temperature_the_run_will_find(tmp_path, capsys, monkeypatch):
    from trainer.cli import main
    from trainer.config import RunConfig, new_run_defaults
    from trainer.warmup import train_warmup

    monkeypatch.setenv("ACTCOOL_HOME", str(tmp_path))
    assert main(["warmup", "--epochs", "5", "--quiet"]) == 0
    out = capsys.readouterr().out
    expected = train_warmup(RunConfig(**{**new_run_defaults(), "epochs": 5}))
    assert f"T_start = {expected.t_start:.4g} bits (unit:64)" in out
    assert "12 of 50 steps (24%), rate 0.002 -> 0.05" in out
    assert (
        f"at the warm-up's end (step 20): Weibull lambda0 {expected.scan.fits.weibull_mean.lambda0:.4g}"
        in out
    )
    assert len([line for line in out.splitlines() if line.startswith("  lr ")]) == 2
    assert not (tmp_path / "catalog.duckdb").exists()  # nothing recorded
    # a run without a warm-up: one line saying why
    assert main(["warmup", "--calibration", "fixed"]) == 2
    assert "only a ramp calibration has a warm-up" in capsys.readouterr().err
