"""Datasets by name for ActCool, held in memory, with a seeded, resumable batch iterator."""

from .batching import epoch_generator
from .bundle import DatasetBundle, Split
from .registry import DATASET_NAMES, load_dataset

__all__ = ["DATASET_NAMES", "DatasetBundle", "Split", "epoch_generator", "load_dataset"]
