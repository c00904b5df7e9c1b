"""What survives the end of a trainer process: SIGTERM, normal exit, and kill -9."""

from __future__ import annotations

import signal
import time

import numpy as np
import pytest

from storage import install_signal_flush

from .processes import spawn_child, wait_for_line

HANG_GUARD_S = 60.0  # only guards against a hang; the events normally come in a second


@pytest.mark.parametrize("how", ["with", "atexit"])
def test_sigterm_saves_every_logged_row(store, how):
    run_id = store.create_run({}, name=f"sigterm-{how}")
    child = spawn_child("sigterm", store.home, run_id, 3000, how)
    wait_for_line(child, "ready")
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 128 + signal.SIGTERM, child.stderr.read()
    assert store.steps(run_id)["step"].tolist() == list(range(3000))
    names, steps, temps = store.site_matrix(run_id)
    assert len(names) == 8 and steps.tolist() == list(range(3000))
    assert temps[0] == pytest.approx(np.arange(3000) / 1e4)


def test_normal_exit_without_close_saves_every_logged_row(store):
    run_id = store.create_run({}, name="exit")
    child = spawn_child("exit", store.home, run_id, 2500)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert store.steps(run_id)["step"].tolist() == list(range(2500))
    assert store.site_matrix(run_id)[2].shape == (8, 2500)


@pytest.mark.parametrize("after", ["a pause", "a flush"])
def test_kill_9_loses_no_saved_row_and_leaves_a_readable_store(store, after):
    run_id = store.create_run({}, name="killed")
    child = spawn_child("stream", store.home, run_id)
    store.update_run(run_id, pid=child.pid)  # as a trainer launched by a worker would
    wait_for_line(child, "ready")
    if after == "a flush":  # kill once rows are saved (flushes of ~50k rows every 0.5 s)
        deadline = time.monotonic() + HANG_GUARD_S
        while store.steps(run_id).empty:
            assert time.monotonic() < deadline, "the child saved no rows before the kill"
            time.sleep(0.05)
    else:
        time.sleep(0.7)  # the kill often lands mid-write
    saved = len(store.steps(run_id))
    child.kill()
    child.wait(timeout=30)

    steps = store.steps(run_id)
    assert steps["step"].tolist() == list(range(len(steps)))  # whole flushes only
    assert len(steps) >= saved  # what was saved before the kill is still there
    names, site_steps, temps = store.site_matrix(run_id)
    assert site_steps.tolist() == list(range(len(site_steps)))
    assert abs(len(site_steps) - len(steps)) <= 1  # a step and its sites may straddle a flush
    assert not np.isnan(temps).any() and len(names) in (0, 56)
    # The store as a whole stays usable: the catalog reads, and the dead run is lost.
    assert store.get_run(run_id)["status"] == "lost"
    assert len(store.list_runs()) == 1


def test_install_signal_flush_keeps_a_custom_handler_unless_forced():
    def custom(signum, frame):
        pass

    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, custom)
        assert install_signal_flush() is False
        assert signal.getsignal(signal.SIGTERM) is custom
        assert install_signal_flush(force=True) is True
        assert signal.getsignal(signal.SIGTERM) is not custom
        with pytest.raises(SystemExit) as exit_info:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        assert exit_info.value.code == 143
    finally:
        signal.signal(signal.SIGTERM, previous)
