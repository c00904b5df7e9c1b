"""Background prefetching: order, errors, and no producer thread left behind by a consumer
that stops early."""

from __future__ import annotations

import itertools
import threading

import pytest

from trainer.prefetch import prefetch

HANG_GUARD_S = 60.0  # only guards against a hang; the events below normally come at once


def _new_thread(before: set[threading.Thread]) -> threading.Thread:
    (thread,) = [t for t in threading.enumerate() if t not in before and t.name == "prefetch"]
    return thread


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_items_in_order_and_errors_reach_the_consumer(workers):
    assert list(prefetch(range(20), workers)) == list(range(20))

    def failing():
        yield 1
        raise OSError("corrupt image file")

    with pytest.raises(OSError, match="corrupt image file"):
        list(prefetch(failing(), workers))


@pytest.mark.parametrize("ending", ["endless", "done", "error"])
def test_a_consumer_that_stops_early_leaves_no_producer_thread(ending):
    """The producer is blocked on a full queue (with the next item, the end marker or its
    exception) when the consumer goes; it must notice and end."""
    asked_past_last = threading.Event()

    def items():
        if ending == "endless":
            yield from itertools.count()
        yield from range(3)  # one taken by the consumer, two fill the queue of size 2
        asked_past_last.set()
        if ending == "error":
            raise OSError("after the consumer left")

    before = set(threading.enumerate())
    consumer = prefetch(items(), workers=1)
    assert next(consumer) == 0
    producer = _new_thread(before)
    if ending != "endless":
        assert asked_past_last.wait(HANG_GUARD_S), "the producer never reached the end of its items"
    consumer.close()  # what a `break` out of the training loop does once the generator is dropped
    producer.join(HANG_GUARD_S)
    assert not producer.is_alive(), f"the producer thread ({ending}) outlived its consumer"
