"""Saving buffered metrics when the process ends: atexit, SIGTERM, and fork safety.

Open :class:`~storage.writer.RunWriter` objects register here. At interpreter exit every
registered writer is closed (flushed). Python's default SIGTERM ends the process without
unwinding ``with`` blocks or running ``atexit``, so :func:`install_signal_flush` turns
SIGTERM into ``SystemExit(143)`` in the main thread; then both run. After ``fork`` the
child forgets the parent's writers, so it can never save the parent's rows a second time.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger(__name__)


class _Closable(Protocol):
    run_id: str

    def close(self) -> None: ...


_open_writers: set[_Closable] = set()
_main_critical = 0  # > 0 while the main thread is inside a flush
_exit_pending = False


def register(writer: _Closable) -> None:
    """Close ``writer`` at interpreter exit unless it was closed before."""
    _open_writers.add(writer)


def unregister(writer: _Closable) -> None:
    _open_writers.discard(writer)


def install_signal_flush(force: bool = False) -> bool:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread, so writers flush on exit.

    With this handler a SIGTERM unwinds ``with store.writer(...)`` blocks and runs
    ``atexit``, so every logged row is saved before the process ends. A SIGTERM that
    arrives while the main thread is inside a flush is deferred until the flush has
    committed, so no batch is ever half-recorded. Called automatically by the first
    :class:`~storage.writer.RunWriter` made in the main thread; an existing non-default
    handler (say, the trainer's own graceful stop, which should then close its writers)
    is kept unless ``force``. Returns whether the handler is installed. Must be called
    from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_signal_flush() must be called from the main thread")
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return True
    if current not in (signal.SIG_DFL, None) and not force:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    return True


def _on_sigterm(signum: int, frame: object) -> None:
    global _exit_pending
    if _main_critical:
        _exit_pending = True
        return
    raise SystemExit(128 + signum)


@contextmanager
def deferring_sigterm() -> Iterator[None]:
    """Hold back the SIGTERM exit while the main thread runs the block (a flush)."""
    global _main_critical, _exit_pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _main_critical += 1
    try:
        yield
    finally:
        _main_critical -= 1
        if not _main_critical and _exit_pending:
            _exit_pending = False
            raise SystemExit(128 + signal.SIGTERM)


def _close_all() -> None:
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception as exc:
            log.error("could not save the last rows of run %s at exit: %s", writer.run_id, exc)


def _forget_after_fork() -> None:
    _open_writers.clear()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_after_fork)
