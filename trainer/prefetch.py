"""Prefetch batches on background threads (``num_workers``), e.g. while decoding image files."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["prefetch"]

_DONE = object()


def prefetch(items: Iterable[T], workers: int) -> Iterator[T]:
    """Yield ``items`` in order, produced up to ``2 * workers`` ahead on a background thread.

    With ``workers == 0`` the items are produced inline. An exception in the producer is
    re-raised in the consumer.
    """
    if workers <= 0:
        yield from items
        return
    q: queue.Queue = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

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

