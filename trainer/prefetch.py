"""Prefetch batches on background threads (``num_workers``), e.g. while decoding image files."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["prefetch"]

_DONE = object()
_POLL_SECONDS = 0.1  # how often a producer waiting on a full queue checks for a gone consumer


def prefetch(items: Iterable[T], workers: int) -> Iterator[T]:
    """Yield ``items`` in order, produced up to ``2 * workers`` ahead on a background thread.

    With ``workers == 0`` the items are produced inline. An exception in the producer is
    re-raised in the consumer. When the consumer stops early (``break``, an exception, or
    the generator is closed or collected), the producer thread ends after at most the item
    it is producing: it never waits forever on a full queue.
    """
    if workers <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def put(item: object) -> bool:
        """Queue ``item``; False when the consumer has gone before there was room."""
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, if it is still there
            put(exc)

    thread = threading.Thread(target=produce, daemon=True, name="prefetch")
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
