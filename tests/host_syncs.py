"""Count the reads of tensor values into Python (host synchronisations on a GPU) that
ActCool's own code makes, on any device: a CPU test proves a CUDA loop does not stall.

:func:`host_reads` patches ``Tensor.item``, ``.cpu()``, ``.tolist()``, ``.numpy()``, ``numpy.asarray(tensor)`` and
``bool``/``float``/``int`` of a tensor, and records each call whose caller is this project's
code (``actcool``, ``trainer``, ``storage``), with the file and line. Calls from inside torch
(e.g. Adam reading its CPU step counter) are torch's business and not counted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

_ROOT = Path(__file__).resolve().parents[1]
_OURS = tuple(str(_ROOT / pkg) for pkg in ("actcool", "trainer", "storage"))
_READS = (
    "item",
    "cpu",
    "tolist",
    "numpy",
    "__array__",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
)


class HostReads:
    """The reads seen so far: ``(what, "file:line")`` pairs, and a switch to count or not."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.counting = True

    def where(self) -> list[str]:
        return [f"{what} at {at}" for what, at in self.calls]


@contextmanager
def host_reads() -> Iterator[HostReads]:
    """Patch the reads for the duration of the block; see the module docstring."""
    reads = HostReads()
    originals = {name: getattr(torch.Tensor, name) for name in _READS}

    def patched(name: str, original):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if reads.counting and caller.startswith(_OURS):
                line = sys._getframe(1).f_lineno
                reads.calls.append((name, f"{Path(caller).relative_to(_ROOT)}:{line}"))
            return original(self, *args, **kwargs)

        return read

    for name, original in originals.items():
        setattr(torch.Tensor, name, patched(name, original))
    try:
        yield reads
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
