"""A process that used the store can still fork: the child neither reuses nor destroys the
parent's DuckDB instance (Ray starts its servers with a preexec_fn, which runs the
interpreter's at-fork hooks in the child)."""

from __future__ import annotations

import os
import subprocess
import sys

from storage import Store


def test_a_subprocess_with_preexec_fn_starts_after_the_store_was_used(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run({}, name="before the fork")
    proc = subprocess.Popen(
        [sys.executable, "-c", "print('child ran')"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: None,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == "child ran\n"  # it crashed (-11) before exec
    assert store.get_run(run_id)["name"] == "before the fork"  # the parent's store still works


def test_a_forked_child_uses_a_store_of_its_own(tmp_path):
    store = Store(tmp_path)
    run_id = store.create_run({}, name="parent")
    pid = os.fork()
    if pid == 0:  # the child: a fresh DuckDB instance, the same files
        try:
            code = 0 if Store(tmp_path).get_run(run_id)["name"] == "parent" else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
