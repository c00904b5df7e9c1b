"""Datasets by name for ActCool, held in memory, with a seeded, resumable batch iterator.

Attributes are loaded on first use (PEP 562), so ``trainer.data.names`` imports without torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .names import DATASET_NAMES

if TYPE_CHECKING:
    from .batching import epoch_generator
    from .bundle import DatasetBundle, Split
    from .registry import load_dataset

__all__ = ["DATASET_NAMES", "DatasetBundle", "Split", "epoch_generator", "load_dataset"]

_LAZY = {
    "epoch_generator": ".batching",
    "DatasetBundle": ".bundle",
    "Split": ".bundle",
    "load_dataset": ".registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
